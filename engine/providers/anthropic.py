"""Anthropic Messages API: ``POST {base_url}/v1/messages``.

Differences from the OpenAI shape that matter here: the key goes in ``x-api-key``
with an ``anthropic-version`` header; system messages are a top-level ``system``
field, not a role; ``max_tokens`` is required; the reply's text is a list of content
blocks; streaming is a typed event stream (message_start, content_block_delta,
message_delta, message_stop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from flowdeck.engine.completion import Completion
from flowdeck.engine.providers.client import RetryableError
from flowdeck.engine.providers.http import HttpProviderClient
from flowdeck.engine.providers.request import Request
from flowdeck.engine.providers.streaming import StreamAcc
from flowdeck.engine.providers.wire import error_message, type_name

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class AnthropicClient(HttpProviderClient):
    """A provider speaking the Anthropic Messages format."""

    kind = "anthropic"
    default_base_url = "https://api.anthropic.com"
    path = "/v1/messages"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
        key = self._api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    def body(self, req: Request) -> dict[str, Any]:
        system = [m["content"] for m in req["messages"] if m["role"] == "system"]
        turns = [
            {"role": m["role"], "content": m["content"]}
            for m in req["messages"]
            if m["role"] != "system"
        ]
        if not turns:
            raise self.fail("request has only system messages; Anthropic needs a user turn")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": turns,
            "max_tokens": req["max_tokens"] or DEFAULT_MAX_TOKENS,
        }
        if system:
            body["system"] = "\n\n".join(system)
        if req["temperature"] is not None:
            # Anthropic's scale is 0..1; the engine's (OpenAI's) is 0..2.
            body["temperature"] = min(float(req["temperature"]), 1.0)
        if req["stream"]:
            body["stream"] = True
        return body

    def parse(self, data: Any, req: Request) -> Completion:
        if not isinstance(data, dict):
            raise self.fail(f"malformed response: expected a JSON object, got {type_name(data)}")
        if data.get("type") == "error" or ("error" in data and "content" not in data):
            raise self.fail(f"error reply: {error_message(data.get('error'))}")
        content = data.get("content")
        if not isinstance(content, list):
            raise self.fail("malformed response: no 'content' list")
        parts = []
        for block in content:
            if not isinstance(block, dict):
                raise self.fail("malformed response: a content block is not an object")
            if block.get("type") == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    raise self.fail("malformed response: a text block has no 'text'")
                parts.append(text)
        usage = data.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        return self.completion(
            "".join(parts),
            req,
            model=data.get("model"),
            tokens_in=usage.get("input_tokens"),
            tokens_out=usage.get("output_tokens"),
            extra={"stop_reason": data.get("stop_reason")},
        )

    async def deltas(self, resp: aiohttp.ClientResponse, acc: StreamAcc) -> AsyncIterator[str]:
        stop_reason: Any = None
        stopped = False
        async for event, data in self.iter_sse(resp):
            msg = self.decode_json_line(data, f"stream event {event!r}")
            if not isinstance(msg, dict):
                raise self.fail(f"malformed stream event: expected an object, got {type_name(msg)}")
            kind = msg.get("type", event)
            if kind == "content_block_delta":
                delta = msg.get("delta")
                if not isinstance(delta, dict):
                    raise self.fail("malformed stream: content_block_delta without 'delta'")
                text = delta.get("text")
                is_text = delta.get("type", "text_delta") == "text_delta"
                if is_text and isinstance(text, str) and text:
                    yield text
            elif kind == "message_start":
                message = msg.get("message")
                if not isinstance(message, dict):
                    raise self.fail("malformed stream: message_start without 'message'")
                acc.model = message.get("model")
                usage = message.get("usage")
                if isinstance(usage, dict):
                    acc.tokens_in = usage.get("input_tokens")
                    acc.tokens_out = usage.get("output_tokens", acc.tokens_out)
            elif kind == "message_delta":
                usage = msg.get("usage")
                if isinstance(usage, dict):
                    if "output_tokens" in usage:
                        acc.tokens_out = usage["output_tokens"]
                    # Cumulative, as the SDKs define it: gateways send 0 in message_start
                    # and the real input count here.
                    n = usage.get("input_tokens")
                    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                        acc.tokens_in = n
                delta = msg.get("delta")
                if isinstance(delta, dict):
                    stop_reason = delta.get("stop_reason") or stop_reason
            elif kind == "message_stop":
                stopped = True
                break
            elif kind == "error":
                err = msg.get("error")
                if isinstance(err, dict) and err.get("type") == "overloaded_error":
                    raise RetryableError("overloaded", f"stream error: {error_message(err)}")
                raise self.fail(f"stream error: {error_message(err)}")
            # ping, content_block_start/stop and future event types carry no text
        acc.extra["stop_reason"] = stop_reason
        if not stopped:
            raise RetryableError("stream", "stream ended before message_stop")
