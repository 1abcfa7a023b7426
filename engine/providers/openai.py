"""OpenAI-compatible chat completions: ``POST {base_url}/v1/chat/completions``.

Works with OpenAI itself and the many servers that copy its wire format (vLLM,
llama.cpp, LM Studio, Ollama's compatibility layer...). Streaming uses server-sent
events: ``data: {chunk}`` lines ending with ``data: [DONE]``.
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


class OpenAIClient(HttpProviderClient):
    """A provider speaking the OpenAI chat completions format."""

    kind = "openai"
    default_base_url = "https://api.openai.com"
    path = "/v1/chat/completions"

    def body(self, req: Request) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": req["messages"]}
        if req["temperature"] is not None:
            body["temperature"] = req["temperature"]
        if req["max_tokens"] is not None:
            body["max_tokens"] = req["max_tokens"]
        if req["stream"]:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def parse(self, data: Any, req: Request) -> Completion:
        if not isinstance(data, dict):
            raise self.fail(f"malformed response: expected a JSON object, got {type_name(data)}")
        if "error" in data and "choices" not in data:
            raise self.fail(f"error reply: {error_message(data['error'])}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self.fail("malformed response: no 'choices'")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise self.fail("malformed response: 'choices[0].message' missing")
        content = message.get("content")
        if content is None:
            content = ""  # e.g. a refusal or tool call: no text
        if not isinstance(content, str):
            raise self.fail("malformed response: 'choices[0].message.content' is not text")
        usage = data.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        return self.completion(
            content,
            req,
            model=data.get("model"),
            tokens_in=usage.get("prompt_tokens"),
            tokens_out=usage.get("completion_tokens"),
            extra={"finish_reason": choices[0].get("finish_reason")},
        )

    async def deltas(self, resp: aiohttp.ClientResponse, acc: StreamAcc) -> AsyncIterator[str]:
        finish: Any = None
        done = False
        async for _event, data in self.iter_sse(resp):
            if data.strip() == "[DONE]":
                done = True
                break
            chunk = self.decode_json_line(data, "stream chunk")
            if not isinstance(chunk, dict):
                raise self.fail(
                    f"malformed stream chunk: expected an object, got {type_name(chunk)}"
                )
            if "error" in chunk:
                raise self.fail(f"stream error: {error_message(chunk['error'])}")
            acc.model = chunk.get("model") or acc.model
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                acc.tokens_in = usage.get("prompt_tokens")
                acc.tokens_out = usage.get("completion_tokens")
            choices = chunk.get("choices")
            if not isinstance(choices, list):
                raise self.fail("malformed stream chunk: no 'choices'")
            for choice in choices:
                if not isinstance(choice, dict):
                    raise self.fail("malformed stream chunk: a choice is not an object")
                delta = choice.get("delta") or {}
                text = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(text, str) and text:
                    yield text
                finish = choice.get("finish_reason") or finish
        acc.extra["finish_reason"] = finish
        if not done and finish is None:
            raise RetryableError("stream", "stream ended before [DONE]")
