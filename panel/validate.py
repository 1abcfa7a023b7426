"""Validation of operator input (modal fields): pure functions raising ValueError.

The bounds are the engine's own (``schema``), so what the panel accepts the engine accepts.
"""

from __future__ import annotations

import math
import re

from flowdeck.engine.control.schema import (
    MAX_COOLDOWN,
    MAX_NAME,
    MAX_ROUTES,
    MAX_SIZE,
    MAX_TTL,
    MAX_WEIGHT,
    MIN_TTL,
)
from flowdeck.engine.durations import seconds_of

ECHO = 24  # characters of the operator's input repeated in a message
GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+")


def _echo(raw: str) -> str:
    """The input as quoted in a message, cut so the reason after it stays visible."""
    return repr(raw if len(raw) <= ECHO else raw[: ECHO - 1] + "…")


def parse_ttl(text: str) -> float:
    """A TTL: seconds, or a number with s / m / h / d (``120``, ``1.5``, ``5m``, ``1h``),
    finite and > 0, as the drain dialog takes it. Raises ValueError."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("enter a TTL, e.g. 120, 1.5 or 5m")
    try:
        value = seconds_of(raw)
    except ValueError:
        raise ValueError(
            f"{_echo(raw)} is not a duration; enter e.g. 120, 1.5, 5m or 1h30m"
        ) from None
    if math.isnan(value):
        raise ValueError("'nan' is not a number; enter e.g. 120 or 5m")
    if math.isinf(value):
        raise ValueError(f"{_echo(raw)} is not finite; enter e.g. 120 or 5m")
    if value <= 0:
        raise ValueError(f"the TTL must be greater than 0 (got {_echo(raw)})")
    if value < MIN_TTL:
        raise ValueError(f"the TTL must be at least {MIN_TTL:g} s (got {_echo(raw)})")
    if value > MAX_TTL:
        raise ValueError(f"the TTL must be at most {MAX_TTL:,} s (got {_echo(raw)})")
    return value


def parse_size(text: str) -> int:
    """A max size: a whole number > 0 (``10000``, ``1_000``, ``10,000``, ``1e4``). Raises
    ValueError."""
    raw = text.strip()
    if not raw:
        raise ValueError("enter a number of entries, e.g. 10000")
    if GROUPED.fullmatch(raw):  # 1,000 as the panel writes it
        raw = raw.replace(",", "")
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
        if not f.is_integer():
            raise ValueError(f"the size must be a whole number (got {_echo(raw)})") from None
        value = int(f)  # 1e3, as a TTL box takes 1e5
    if value <= 0:
        raise ValueError(f"the size must be greater than 0 (got {_echo(raw)})")
    if value > MAX_SIZE:
        raise ValueError(f"the size must be at most {MAX_SIZE:,} (got {_echo(raw)})")
    return value


RESET_WORDS = frozenset({"none", "off", "reset", "configured"})
"""Typed in the weights dialog: back to the configured weights (or the selector)."""


def parse_duration(text: str) -> float:
    """A cooldown: seconds, or a number with s / m / h / d (``90``, ``5m``, ``1.5h``)."""
    raw = text.strip().lower()
    if not raw:
        raise ValueError("enter a duration, e.g. 300, 5m or 1h")
    try:
        value = seconds_of(raw)
    except ValueError:
        raise ValueError(f"{_echo(raw)} is not a duration; enter e.g. 300, 5m or 1h") from None
    if not math.isfinite(value):
        raise ValueError(f"{_echo(raw)} is not finite; enter e.g. 300, 5m or 1h")
    if value <= 0:
        raise ValueError(f"the duration must be more than 0 (got {_echo(raw)})")
    if value > MAX_COOLDOWN:
        raise ValueError(
            f"the duration must be at most {MAX_COOLDOWN // 86400} days (got {_echo(raw)})"
        )
    return value


def parse_weights(text: str, routes: list[str]) -> dict[str, float] | None:
    """Route weights typed as ``fast=90 slow=10`` (commas allowed) for a router with
    ``routes``; None for ``none`` (back to the configured weights). Routes left out weigh
    0 on the engine; every problem names the pair or route that is wrong."""
    raw = text.replace(",", " ").strip()
    if not raw:
        raise ValueError("enter route=weight pairs, e.g. " + weights_example(routes))
    if raw.lower() in RESET_WORDS:
        return None
    weights: dict[str, float] = {}
    for pair in raw.split():
        route, eq, number = pair.partition("=")
        route = route.strip()
        if not eq or not route:
            raise ValueError(f"{_echo(pair)} is not route=weight, e.g. " + weights_example(routes))
        if len(route) > MAX_NAME or route not in routes:
            raise ValueError(f"no route {_echo(route)}; this router has {', '.join(routes)}")
        if route in weights:
            raise ValueError(f"route {route!r} is given twice")
        try:
            w = float(number)
        except ValueError:
            raise ValueError(f"the weight of {route!r} is not a number: {_echo(number)}") from None
        if not math.isfinite(w) or not 0 <= w <= MAX_WEIGHT:
            raise ValueError(
                f"the weight of {route!r} must be 0 to {MAX_WEIGHT} (got {_echo(number)})"
            )
        weights[route] = w
    if len(weights) > MAX_ROUTES:
        raise ValueError(f"at most {MAX_ROUTES} routes")
    if not any(weights.values()):
        raise ValueError("at least one weight must be above 0 (0 drains a route)")
    return weights


def weights_example(routes: list[str]) -> str:
    """``fast=90 slow=10`` with the router's own first routes."""
    picked = (routes or ["a", "b"])[:2]
    return " ".join(f"{r}={w}" for r, w in zip(picked, (90, 10), strict=False))
