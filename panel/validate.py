"""Validation of operator input (modal fields): pure functions raising ValueError.

The bounds are the engine's own (``schema``), so what the panel accepts the engine accepts.
"""

from __future__ import annotations

import math

from flowdeck.engine.control.schema import MAX_SIZE, MAX_TTL, MIN_TTL

ECHO = 24  # characters of the operator's input repeated in a message


def _echo(raw: str) -> str:
    """The input as quoted in a message, cut so the reason after it stays visible."""
    return repr(raw if len(raw) <= ECHO else raw[: ECHO - 1] + "…")


def parse_ttl(text: str) -> float:
    """A TTL in seconds: a finite number > 0 (``120``, ``1.5``). Raises ValueError."""
    raw = text.strip()
    if not raw:
        raise ValueError("enter a TTL in seconds, e.g. 120 or 1.5")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{_echo(raw)} is not a number; enter seconds, e.g. 120 or 1.5") from None
    if math.isnan(value):
        raise ValueError("'nan' is not a number; enter seconds, e.g. 120")
    if math.isinf(value):
        raise ValueError(f"{_echo(raw)} is not finite; enter a number of seconds")
    if value <= 0:
        raise ValueError(f"the TTL must be greater than 0 (got {_echo(raw)})")
    if value < MIN_TTL:
        raise ValueError(f"the TTL must be at least {MIN_TTL:g} s (got {_echo(raw)})")
    if value > MAX_TTL:
        raise ValueError(f"the TTL must be at most {MAX_TTL} s (got {_echo(raw)})")
    return value


def parse_size(text: str) -> int:
    """A max size: a whole number > 0 (``10000``, ``1_000``). Raises ValueError."""
    raw = text.strip()
    if not raw:
        raise ValueError("enter a number of entries, e.g. 10000")
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        try:
            f = float(raw)
        except ValueError:
            raise ValueError(
                f"{_echo(raw)} is not a number; enter a whole number, e.g. 10000"
            ) from None
        if math.isnan(f) or math.isinf(f):
            raise ValueError(
                f"{_echo(raw)} is not finite; enter a whole number, e.g. 10000"
            ) from None
        raise ValueError(f"the size must be a whole number (got {_echo(raw)})") from None
    if value <= 0:
        raise ValueError(f"the size must be greater than 0 (got {_echo(raw)})")
    if value > MAX_SIZE:
        raise ValueError(f"the size must be at most {MAX_SIZE:_} (got {_echo(raw)})")
    return value
