"""HTTP plumbing shared by the OpenAI, Anthropic and Ollama clients: one POST per attempt.

Status handling is common: 429 and 5xx retry (Retry-After honoured on 429/503), other
4xx fail at once; timeouts and dropped connections retry. Subclasses give the URL and
body (headers too, unless JSON + Bearer suits) and parse the reply or the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from flowdeck.engine.completion import Completion
from flowdeck.engine.errors import ProviderError
from flowdeck.engine.providers.client import ProviderClient, RetryableError
from flowdeck.engine.providers.request import Request
from flowdeck.engine.providers.wire import (
    error_detail,
    exc_text,
    excerpt,
    is_plain_json,
    parse_retry_after,
    sse_events,
)
from flowdeck.engine.settings import HttpProviderSettings
from flowdeck.engine.telemetry.events import EventBus


class HttpProviderClient(ProviderClient):
    """Shared HTTP plumbing: one POST per attempt on the engine's session.

    Subclasses give the URL and body (headers too, unless JSON + Bearer suits), and
    parse the JSON reply or the stream.
    Status handling is common: 429 and 5xx retry (Retry-After honoured on 429/503),
    other 4xx fail at once; timeouts and dropped connections retry.
    """

    settings: HttpProviderSettings
    default_base_url = ""
    path = ""

    def __init__(
        self,
        name: str,
        settings: HttpProviderSettings,
        session: aiohttp.ClientSession | None,
        bus: EventBus,
    ) -> None:
        super().__init__(name, settings, session, bus)
        self.base_url = (settings.base_url or self.default_base_url).rstrip("/")
        self.url = self.base_url + self.path
        self._timeout = aiohttp.ClientTimeout(
            total=settings.timeout, connect=settings.connect_timeout
        )

    def headers(self) -> dict[str, str]:
        """JSON plus ``Authorization: Bearer`` when a key is set (OpenAI, Ollama)."""
        headers = {"Content-Type": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def body(self, req: Request) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, data: Any, req: Request) -> Completion:
        """Turn a plain JSON reply into a Completion (ProviderError if malformed)."""
        raise NotImplementedError

    async def parse_stream(self, resp: aiohttp.ClientResponse, req: Request) -> Completion:
        """Read a streamed reply to the end and assemble one Completion."""
        raise NotImplementedError

    async def _attempt(self, req: Request) -> Completion:
        session = self._session
        if session is None or session.closed:
            raise self.fail("no open HTTP session (is the engine started?)")
        try:
            async with session.post(
                self.url, json=self.body(req), headers=self.headers(), timeout=self._timeout
            ) as resp:
                if resp.status >= 400:
                    raise await self._status_error(resp)
                if req["stream"] and not is_plain_json(resp.headers.get("Content-Type", "")):
                    # (some compatible servers ignore "stream" and answer plain JSON)
                    return await self.parse_stream(resp, req)
                raw = await resp.read()
                return self.parse(self.decode_json(raw), req)
        except (RetryableError, ProviderError):
            raise
        except TimeoutError as exc:
            s = self.settings
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                msg = f"connect timed out (connect_timeout {s.connect_timeout:g}s)"
            else:
                msg = f"timed out (timeout {s.timeout:g}s)"
            raise RetryableError("timeout", msg) from None
        except aiohttp.ClientConnectionError as exc:
            raise RetryableError("connection", f"connection failed: {exc_text(exc)}") from None
        except aiohttp.ClientPayloadError as exc:
            raise RetryableError("connection", f"response cut short: {exc_text(exc)}") from None
        except aiohttp.ClientError as exc:
            raise self.fail(f"HTTP client error: {exc_text(exc)}") from None

    async def _status_error(self, resp: aiohttp.ClientResponse) -> Exception:
        status = resp.status
        if status in (401, 403):
            # The body may echo part of the key; say only what happened.
            return self.fail(f"HTTP {status}: authentication failed (check the API key)", status)
        try:
            raw = await resp.content.read(4096)
            detail = error_detail(raw)
        except (aiohttp.ClientError, TimeoutError):
            detail = ""
        message = f"HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429 or status >= 500:
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            return RetryableError(f"HTTP {status}", message, status=status, retry_after=retry_after)
        return self.fail(message, status)

    def decode_json(self, raw: bytes) -> Any:
        return self.decode_json_line(raw, "response")

    def decode_json_line(self, raw: bytes | str, what: str) -> Any:
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self.fail(f"malformed {what}: not JSON: {excerpt(raw)}") from None

    async def iter_lines(self, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """Lines of a streamed body without their line endings (bounded line length)."""
        try:
            async for line in resp.content:
                yield line.rstrip(b"\r\n")
        except ValueError as exc:  # a line longer than aiohttp's buffer limit
            raise self.fail(f"malformed stream: {exc}") from None

    def iter_sse(self, resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
        """Server-sent events as ``(event, data)``; data lines of one event joined."""
        return sse_events(self.iter_lines(resp))
