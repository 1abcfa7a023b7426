"""The provider client base: request validation, retries, health accounting, events.

Every wire format (OpenAI, Anthropic, Ollama) and the offline simulator share this
class, so a tier can fall back across kinds and the panel sees one health shape. A
subclass implements :meth:`ProviderClient._attempt` (one try, no retries); the base
decides whether and when to retry, counts everything, and keeps API keys out of
messages, events and ``repr``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from flowdeck.engine.completion import Completion
from flowdeck.engine.errors import ProviderError
from flowdeck.engine.settings import ProviderSettings, mask_url
from flowdeck.engine.telemetry.events import EventBus, EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

log = logging.getLogger("flowdeck.engine.providers")

_perf = time.perf_counter
_monotonic = time.monotonic

Request = dict[str, Any]
"""A validated request: messages (list of role/content dicts), temperature, max_tokens, stream."""

_ERROR_BODY_CHARS = 300


# ---- request validation ----------------------------------------------------------------


def validate_request(request: Any) -> Request:
    """Check a caller's request and return it normalised to the messages form.

    Raises ValueError naming the bad field, so a malformed request fails before any
    provider is called (and never counts as a provider failure).
    """
    if not isinstance(request, dict):
        raise ValueError(f"request: expected a dict, got {type(request).__name__}")
    prompt = request.get("prompt")
    messages = request.get("messages")
    if prompt is not None and messages is not None:
        raise ValueError("request: give either 'prompt' or 'messages', not both")
    if prompt is not None:
        if not isinstance(prompt, str):
            raise ValueError(f"request.prompt: must be a string, got {type(prompt).__name__}")
        msgs = [{"role": "user", "content": prompt}]
    elif messages is not None:
        if not isinstance(messages, list) or not messages:
            raise ValueError("request.messages: must be a non-empty list")
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise ValueError(f"request.messages[{i}]: must be a dict with role and content")
            role, content = m.get("role"), m.get("content")
            if not isinstance(role, str) or not role:
                raise ValueError(f"request.messages[{i}].role: must be a non-empty string")
            if not isinstance(content, str):
                raise ValueError(f"request.messages[{i}].content: must be a string")
        msgs = messages
    else:
        raise ValueError("request: needs 'prompt' (str) or 'messages' (list)")

    temperature = request.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or not 0 <= temperature <= 2
    ):
        raise ValueError(f"request.temperature: must be a number in 0..2, got {temperature!r}")
    max_tokens = request.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ValueError(f"request.max_tokens: must be a positive integer, got {max_tokens!r}")
    stream = request.get("stream", False)
    if not isinstance(stream, bool):
        raise ValueError(f"request.stream: must be true or false, got {stream!r}")
    return {
        "messages": msgs,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stream": stream,
    }


def estimate_tokens(text: str) -> int:
    """Rough token count (~4 characters a token) for responses that report no usage."""
    return (len(text) + 3) // 4 if text else 0


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(m["content"]) + 1 for m in messages)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ref = datetime.now(UTC).timestamp() if now is None else now
        return max(0.0, when.timestamp() - ref)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class RetryableError(Exception):
    """One attempt failed in a way worth retrying (429, 5xx, timeout, connection)."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


# ---- the client base -------------------------------------------------------------------


class ProviderClient:
    """One configured model endpoint with retries, cooldown and health counters.

    ``complete(request)`` returns a :class:`Completion` or raises ProviderError once
    its retries are spent. After ``cooldown_after`` consecutive failed calls the
    client rests for ``cooldown`` seconds (``cooling_down()``); a tier skips it then.
    """

    kind = "base"

    def __init__(
        self,
        name: str,
        settings: ProviderSettings,
        session: aiohttp.ClientSession | None,
        bus: EventBus,
    ) -> None:
        self.name = name
        self.settings = settings
        self.model = settings.model
        self._session = session
        self._bus = bus
        # Jitter only; the simulator keeps its own seeded RNG for its behaviour.
        self._jitter = random.Random()
        self.calls = 0
        self.errors = 0
        self.retries = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = 0.0
        self.latency = LatencyWindow(1024)
        self.consecutive_failures = 0
        self.cooldown_until = 0.0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        url = getattr(self, "base_url", None)
        where = f" url={mask_url(url)}" if url else ""
        return f"<{type(self).__name__} {self.name!r} kind={self.kind} model={self.model!r}{where}>"

    # ---- secrets -------------------------------------------------------------------
    def _api_key(self) -> str | None:
        """Read at call time, never stored on the client (so it cannot leak via vars())."""
        return self.settings.secret()

    def scrub(self, text: str) -> str:
        """``text`` with the API key (if any) masked: error bodies sometimes echo it."""
        key = self._api_key()
        if key and len(key) >= 4 and key in text:
            text = text.replace(key, "***")
        return text

    # ---- cooldown --------------------------------------------------------------------
    def cooling_down(self) -> bool:
        return self.cooldown_until > _monotonic()

    def cooldown_remaining(self) -> float:
        return max(0.0, self.cooldown_until - _monotonic())

    # ---- the call --------------------------------------------------------------------
    async def complete(self, request: dict[str, Any]) -> Completion:
        """Validate ``request`` and call the provider (with retries)."""
        return await self.complete_validated(validate_request(request))

    async def complete_validated(self, req: Request) -> Completion:
        """Call with a request already passed through :func:`validate_request`."""
        self.calls += 1
        t0 = _perf()
        try:
            result = await self._with_retries(req)
        except ProviderError as exc:
            self._record_failure(str(exc))
            raise
        except Exception as exc:
            # A bug or an unforeseen reply shape must still look like a provider
            # failure to the tier (so it falls back), not escape as a random type.
            # The traceback is logged as frames only: the raw message might hold a secret.
            message = f"{self.name}: unexpected {type(exc).__name__}: {self.scrub(str(exc))}"
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.warning("%s\n%s", message, frames)
            self._record_failure(message)
            raise ProviderError(message, provider=self.name) from None
        latency = _perf() - t0
        result.latency = latency
        self.latency.record(latency)
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        self.cost += result.cost
        self.consecutive_failures = 0
        self._bus.emit6(
            EventKind.PROVIDER_CALL,
            self.name,
            result.model,
            latency,
            result.tokens_in,
            result.tokens_out,
            result.cost,
        )
        return result

    async def _with_retries(self, req: Request) -> Completion:
        s = self.settings
        attempt = 0
        while True:
            try:
                return await self._attempt(req)
            except RetryableError as exc:
                message = self.scrub(str(exc))
                if attempt >= s.max_retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    raise ProviderError(
                        f"{self.name}: {message}{tries}", provider=self.name, status=exc.status
                    ) from None
                if exc.retry_after is not None:
                    # Never sleep longer than backoff_max: a long Retry-After fails the
                    # call now so the tier can fall back instead of stalling the caller.
                    if exc.retry_after > s.backoff_max:
                        raise ProviderError(
                            f"{self.name}: {message}; Retry-After {exc.retry_after:g}s"
                            f" exceeds backoff_max {s.backoff_max:g}s",
                            provider=self.name,
                            status=exc.status,
                        ) from None
                    delay = exc.retry_after
                else:
                    delay = self._backoff(attempt)
                attempt += 1
                self.retries += 1
                self._bus.emit4(EventKind.PROVIDER_RETRY, self.name, attempt, exc.reason, delay)
                log.debug("%s: retry %d in %.3fs (%s)", self.name, attempt, delay, exc.reason)
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, min(max, base * 2**attempt))."""
        s = self.settings
        cap = min(s.backoff_max, s.backoff_base * (2.0**attempt))
        return self._jitter.uniform(0.0, cap) if cap > 0 else 0.0

    def _record_failure(self, message: str) -> None:
        message = self.scrub(message)
        self.errors += 1
        self.consecutive_failures += 1
        self.last_error = message
        self._bus.emit2(EventKind.PROVIDER_ERROR, self.name, message)
        s = self.settings
        # Past the threshold every failure outside a cooldown starts one, so a provider
        # that fails its first call after resting goes straight back to rest.
        if (
            self.consecutive_failures >= s.cooldown_after
            and s.cooldown > 0
            and not self.cooling_down()
        ):
            self.cooldown_until = _monotonic() + s.cooldown
            self._bus.emit2(EventKind.PROVIDER_COOLDOWN, self.name, s.cooldown)
            log.warning(
                "%s: %d consecutive failures, cooling down for %.1fs (last: %s)",
                self.name,
                self.consecutive_failures,
                s.cooldown,
                message,
            )

    async def _attempt(self, req: Request) -> Completion:
        """One try. Raise RetryableError to retry, ProviderError to give up."""
        raise NotImplementedError

    # ---- accounting helpers for subclasses -------------------------------------------
    def cost_of(self, tokens_in: int, tokens_out: int) -> float:
        s = self.settings
        return (tokens_in * s.price_in + tokens_out * s.price_out) / 1000.0

    def completion(
        self,
        text: str,
        req: Request,
        *,
        model: Any = None,
        tokens_in: Any = None,
        tokens_out: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """Assemble a Completion, estimating token counts the provider did not report."""
        t_in = tokens_in if _is_count(tokens_in) else prompt_tokens(req["messages"])
        t_out = tokens_out if _is_count(tokens_out) else estimate_tokens(text)
        return Completion(
            text=text,
            model=model if isinstance(model, str) and model else self.model,
            provider=self.name,
            tokens_in=t_in,
            tokens_out=t_out,
            cost=self.cost_of(t_in, t_out),
            extra=extra if extra is not None else {},
        )

    def fail(self, message: str, status: int | None = None) -> ProviderError:
        """A non-retryable error naming this provider, with secrets scrubbed."""
        return ProviderError(
            f"{self.name}: {self.scrub(message)}", provider=self.name, status=status
        )

    # ---- health ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        p50, p95 = self.latency.quantiles(0.5, 0.95)
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model,
            "calls": self.calls,
            "errors": self.errors,
            "retries": self.retries,
            "p50": p50,
            "p95": p95,
            "cost": self.cost,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "consecutive_failures": self.consecutive_failures,
            "cooldown_remaining": self.cooldown_remaining(),
            "last_error": self.last_error,
        }


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


# ---- HTTP machinery --------------------------------------------------------------------


class HttpProviderClient(ProviderClient):
    """Shared HTTP plumbing: one POST per attempt on the engine's session.

    Subclasses give the URL and body (headers too, unless JSON + Bearer suits), and
    parse the JSON reply or the stream.
    Status handling is common: 429 and 5xx retry (Retry-After honoured on 429/503),
    other 4xx fail at once; timeouts and dropped connections retry.
    """

    default_base_url = ""
    path = ""

    def __init__(
        self,
        name: str,
        settings: ProviderSettings,
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
                if req["stream"] and not _is_plain_json(resp.headers.get("Content-Type", "")):
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
            raise RetryableError("connection", f"connection failed: {_exc_text(exc)}") from None
        except aiohttp.ClientPayloadError as exc:
            raise RetryableError("connection", f"response cut short: {_exc_text(exc)}") from None
        except aiohttp.ClientError as exc:
            raise self.fail(f"HTTP client error: {_exc_text(exc)}") from None

    async def _status_error(self, resp: aiohttp.ClientResponse) -> Exception:
        status = resp.status
        if status in (401, 403):
            # The body may echo part of the key; say only what happened.
            return self.fail(f"HTTP {status}: authentication failed (check the API key)", status)
        try:
            raw = await resp.content.read(4096)
            detail = _error_detail(raw)
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
            raise self.fail(f"malformed {what}: not JSON: {_excerpt(raw)}") from None

    async def iter_lines(self, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """Lines of a streamed body without their line endings (bounded line length)."""
        try:
            async for line in resp.content:
                yield line.rstrip(b"\r\n")
        except ValueError as exc:  # a line longer than aiohttp's buffer limit
            raise self.fail(f"malformed stream: {exc}") from None

    def iter_sse(self, resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
        """Server-sent events as ``(event, data)``; data lines of one event joined."""
        return _sse(self.iter_lines(resp))


async def _sse(lines: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, str]]:
    event = ""
    data: list[str] = []
    async for raw in lines:
        line = raw.decode("utf-8", "replace")
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield event or "message", "\n".join(data)


def _is_plain_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _excerpt(raw: bytes | str, limit: int = 80) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _error_detail(raw: bytes) -> str:
    """The provider's error message from a JSON error body, else a short excerpt."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _excerpt(raw, _ERROR_BODY_CHARS) if raw.strip() else ""
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message")
            if isinstance(msg, str) and msg:
                return msg[:_ERROR_BODY_CHARS]
        elif isinstance(err, str) and err:
            return err[:_ERROR_BODY_CHARS]
    return _excerpt(raw, _ERROR_BODY_CHARS)


def type_name(v: Any) -> str:
    return type(v).__name__


def error_message(err: Any) -> str:
    """The message of an error object inside a JSON reply or stream event."""
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return err["message"][:_ERROR_BODY_CHARS]
    return str(err)[:_ERROR_BODY_CHARS]


def _exc_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
