"""Durations as operators type them: ``90``, ``1.5``, ``5m``, ``2h``, ``1d`` (seconds).

One reading for the panel's TTL and drain dialogs and ``flowdeck ctl ttl=5m``, so a
duration the one accepts the other does too. Bounds are the caller's (schema).
"""

from __future__ import annotations

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds_of(raw: str) -> float:
    """``raw`` (stripped, lower case) as seconds: a number, or one with a unit of
    ``UNITS`` (``5m``: 300). Raises a bare ValueError; the callers word the message."""
    number, scale = raw, 1.0
    if raw and raw[-1] in UNITS:
        number, scale = raw[:-1].strip(), UNITS[raw[-1]]
    return float(number) * scale
