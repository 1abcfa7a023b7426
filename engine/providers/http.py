"""HTTP plumbing shared by the OpenAI, Anthropic and Ollama clients: one POST per attempt.

Status handling is common: 429 and 5xx retry (Retry-After honoured on 429/503), other
4xx fail at once; timeouts and dropped connections retry. Subclasses give the URL and
body (headers too, unless JSON + Bearer suits) and parse the reply or the stream.

A reply is read bounded by ``max_response_bytes`` (a whole body, or the sum of a
stream's lines): over it the connection is closed and the call fails without a retry
(a runaway reply would fail the same way again), before it can cost memory or Redis.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.http_exceptions import LineTooLong

from flowdeck.engine.completion import Completion
from flowdeck.engine.errors import ProviderError
from flowdeck.engine.providers.client import ProviderClient, RetryableError
from flowdeck.engine.providers.request import Request
from flowdeck.engine.providers.streaming import StreamAcc
from flowdeck.engine.providers.wire import (
    error_detail,
    exc_text,
    excerpt,
    is_stream,
    retry_after_of,
    sse_events,
)
from flowdeck.engine.settings import HttpProviderSettings
from flowdeck.engine.telemetry.events import EventBus

READ_CHUNK = 64 * 1024
RETRY_STATUSES = frozenset((408, 409, 429))
"""Besides 5xx: request timeout, conflict (lock contention), rate limit, as the SDKs retry."""


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

    def deltas(self, resp: aiohttp.ClientResponse, acc: StreamAcc) -> AsyncIterator[str]:
        """The text deltas of a streamed reply as they arrive; model and usage go into
        ``acc``. Raises at the end if the stream stopped before its terminator."""
        raise NotImplementedError

    async def parse_stream(self, resp: aiohttp.ClientResponse, req: Request) -> Completion:
        """Read a streamed reply to the end and assemble one Completion."""
        acc = StreamAcc()
        parts = [d async for d in self.deltas(resp, acc)]
        return self._assembled("".join(parts), req, acc)

    def _assembled(self, text: str, req: Request, acc: StreamAcc) -> Completion:
        return self.completion(
            text,
            req,
            model=acc.model,
            tokens_in=acc.tokens_in,
            tokens_out=acc.tokens_out,
            extra=acc.extra,
        )

    async def _post(self, req: Request) -> aiohttp.ClientResponse:
        session = self._session
        if session is None or session.closed:
            raise self.fail("no open HTTP session (is the engine started?)")
        try:
            resp = await session.post(
                self.url, json=self.body(req), headers=self.headers(), timeout=self._timeout
            )
        except Exception as exc:
            raise self._mapped(exc) from None
        if resp.status >= 400:
            try:
                raise await self._status_error(resp)
            finally:
                resp.release()
        return resp

    async def _attempt(self, req: Request) -> Completion:
        resp = await self._post(req)
        try:
            if req["stream"] and is_stream(resp.headers.get("Content-Type", "")):
                # (some compatible servers ignore "stream" and answer plain JSON)
                return await self.parse_stream(resp, req)
            raw = await self.read_body(resp)
            return self.parse(self.decode_json(raw), req)
        except Exception as exc:
            raise self._mapped(exc) from None
        finally:
            resp.release()

    async def _open_attempt(
        self, req: Request
    ) -> tuple[AsyncIterator[str], StreamAcc, Callable[[], Awaitable[None]] | None]:
        req = {**req, "stream": True}
        resp = await self._post(req)

        async def close() -> None:
            # Early exit: drop the connection so the server stops generating.
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

        acc = StreamAcc()
        if not is_stream(resp.headers.get("Content-Type", "")):
            # A server that ignores "stream": its whole answer is one delta.
            try:
                whole = self.parse(self.decode_json(await self.read_body(resp)), req)
            except Exception as exc:
                resp.release()
                raise self._mapped(exc) from None
            resp.release()
            acc.model, acc.tokens_in, acc.tokens_out = (
                whole.model,
                whole.tokens_in,
                whole.tokens_out,
            )
            acc.extra = {**whole.extra, "streamed": False}
            return _one(whole.text), acc, None
        return self._mapping(self.deltas(resp, acc)), acc, close

    async def _mapping(self, deltas: AsyncIterator[str]) -> AsyncIterator[str]:
        try:
            async for d in deltas:
                yield d
        except Exception as exc:
            raise self._mapped(exc) from None

    def _mapped(self, exc: Exception) -> Exception:
        """An aiohttp / timeout exception as a RetryableError or ProviderError."""
        if isinstance(exc, RetryableError | ProviderError):
            return exc
        if isinstance(exc, TimeoutError):
            s = self.settings
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                msg = f"connect timed out (connect_timeout {s.connect_timeout:g}s)"
            else:
                msg = f"timed out (timeout {s.timeout:g}s)"
            return RetryableError("timeout", msg)
        if isinstance(exc, aiohttp.ClientConnectionError):
            return RetryableError("connection", f"connection failed: {exc_text(exc)}")
        if isinstance(exc, aiohttp.ClientPayloadError):
            return RetryableError("connection", f"response cut short: {exc_text(exc)}")
        if isinstance(exc, aiohttp.ClientError):
            return self.fail(f"HTTP client error: {exc_text(exc)}")
        return exc

    async def _status_error(self, resp: aiohttp.ClientResponse) -> Exception:
        status = resp.status
        if status in (401, 403):
            # The body may echo part of the key; say only what happened.
            return self.fail(f"HTTP {status}: authentication failed (check the API key)", status)
        try:
            raw = await resp.content.read(4096)
            # Scrub before error_detail cuts the text: a cut could split the key.
            detail = error_detail(self.scrub(raw.decode("utf-8", "replace")).encode())
        except (aiohttp.ClientError, TimeoutError):
            detail = ""
        message = f"HTTP {status}" + (f": {detail}" if detail else "")
        if status == 404 and self.base_url.endswith("/v1") and self.path.startswith("/v1/"):
            message += f" (base_url ends in /v1 and the path adds {self.path}: drop the /v1)"
        if status in RETRY_STATUSES or status >= 500:
            return RetryableError(
                f"HTTP {status}", message, status=status, retry_after=retry_after_of(resp.headers)
            )
        return self.fail(message, status)

    async def read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        """The whole body, at most ``max_response_bytes`` (else closed and failed)."""
        limit = self.settings.max_response_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise self._too_large(resp, declared)
        parts: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise self._too_large(resp, size)
            parts.append(chunk)
        return b"".join(parts)

    def _too_large(self, resp: aiohttp.ClientResponse, size: int) -> ProviderError:
        """Close the connection (the server stops sending) and say which limit it hit."""
        resp.close()
        limit = self.settings.max_response_bytes
        return self.fail(
            f"reply too large: {size} bytes so far, over max_response_bytes {limit}"
            " (connection closed, not retried)"
        )

    def decode_json(self, raw: bytes) -> Any:
        return self.decode_json_line(raw, "response")

    def decode_json_line(self, raw: bytes | str, what: str) -> Any:
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self.fail(f"malformed {what}: not JSON: {excerpt(raw)}") from None

    async def iter_lines(self, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """Lines of a streamed body without their line endings (bounded line length, and
        bounded in sum by ``max_response_bytes``)."""
        limit = self.settings.max_response_bytes
        size = 0
        try:
            async for line in resp.content:
                size += len(line)
                if size > limit:
                    raise self._too_large(resp, size)
                yield line.rstrip(b"\r\n")
        except (ValueError, LineTooLong) as exc:  # a line longer than aiohttp's buffer
            raise self.fail(
                f"malformed stream: a line is longer than the read buffer ({type(exc).__name__})"
            ) from None

    def iter_sse(self, resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
        """Server-sent events as ``(event, data)``; data lines of one event joined."""
        return sse_events(self.iter_lines(resp))


async def _one(text: str) -> AsyncIterator[str]:
    yield text
