"""Reading provider replies: SSE / NDJSON lines, Retry-After, error bodies, excerpts.

Pure helpers shared by the HTTP clients; none of them knows a provider or a session.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

ERROR_BODY_CHARS = 300


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


async def sse_events(lines: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, str]]:
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


def retry_after_of(headers: Any) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (as the official SDKs read it), else
    ``Retry-After`` or a gateway's ``llm_provider-retry-after``."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    for name in ("Retry-After", "llm_provider-retry-after"):
        seconds = parse_retry_after(headers.get(name))
        if seconds is not None:
            return seconds
    return None


STREAM_MEDIA = frozenset(("text/event-stream", "application/x-ndjson", "application/jsonl"))


def is_stream(content_type: str) -> bool:
    """True for a streamed body (SSE or NDJSON). Anything else, e.g. JSON sent as
    ``text/plain`` by a server that ignored ``stream``, is read as one whole answer."""
    return content_type.split(";", 1)[0].strip().lower() in STREAM_MEDIA


def excerpt(raw: bytes | str, limit: int = 80) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def error_detail(raw: bytes) -> str:
    """The provider's error message from a JSON error body, else a short excerpt."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return excerpt(raw, ERROR_BODY_CHARS) if raw.strip() else ""
    if isinstance(data, dict):
        detail = data.get("detail")  # FastAPI-style bodies
        if "error" not in data and isinstance(detail, str | list | dict) and detail:
            text = detail if isinstance(detail, str) else json.dumps(detail)
            return text[:ERROR_BODY_CHARS]
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message")
            if isinstance(msg, str) and msg:
                return msg[:ERROR_BODY_CHARS]
        elif isinstance(err, str) and err:
            return err[:ERROR_BODY_CHARS]
    return excerpt(raw, ERROR_BODY_CHARS)


def type_name(v: Any) -> str:
    return type(v).__name__


def error_message(err: Any) -> str:
    """The message of an error object inside a JSON reply or stream event."""
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return err["message"][:ERROR_BODY_CHARS]
    return str(err)[:ERROR_BODY_CHARS]


def exc_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
