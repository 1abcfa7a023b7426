"""Ollama's native chat API: ``POST {base_url}/api/chat``.

Ollama streams by default, so ``stream`` is always sent explicitly. A stream is
newline-delimited JSON: one object per chunk, the last with ``done: true`` and the
token counts (``prompt_eval_count``, ``eval_count``).
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
from flowdeck.engine.providers.wire import type_name


class OllamaClient(HttpProviderClient):
    """A provider speaking Ollama's /api/chat format (no key needed; Bearer if set, for a proxy)."""

    kind = "ollama"
    default_base_url = "http://127.0.0.1:11434"
    path = "/api/chat"

    def body(self, req: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": req["messages"],
            "stream": bool(req["stream"]),
        }
        options: dict[str, Any] = {}
        if req["temperature"] is not None:
            options["temperature"] = req["temperature"]
        if req["max_tokens"] is not None:
            options["num_predict"] = req["max_tokens"]
        if options:
            body["options"] = options
        return body

    def _check(self, data: Any, what: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(f"malformed {what}: expected a JSON object, got {type_name(data)}")
        if "error" in data:
            raise self.fail(f"error reply: {str(data['error'])[:300]}")
        return data

    def parse(self, data: Any, req: Request) -> Completion:
        data = self._check(data, "response")
        message = data.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise self.fail("malformed response: no 'message.content'")
        return self.completion(
            message["content"],
            req,
            model=data.get("model"),
            tokens_in=data.get("prompt_eval_count"),
            tokens_out=data.get("eval_count"),
            extra={"done_reason": data.get("done_reason")},
        )

    async def deltas(self, resp: aiohttp.ClientResponse, acc: StreamAcc) -> AsyncIterator[str]:
        done = False
        async for line in self.iter_lines(resp):
            if not line.strip():
                continue
            chunk = self._check(self.decode_json_line(line, "stream line"), "stream line")
            message = chunk.get("message")
            text = message.get("content") if isinstance(message, dict) else None
            if isinstance(text, str) and text:
                yield text
            if chunk.get("done") is True:
                acc.model = chunk.get("model")
                acc.tokens_in = chunk.get("prompt_eval_count")
                acc.tokens_out = chunk.get("eval_count")
                acc.extra["done_reason"] = chunk.get("done_reason")
                done = True
                break
        if not done:
            raise RetryableError("stream", "stream ended before done")
