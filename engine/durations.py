"""Durations as operators type them: ``90``, ``1.5``, ``5m``, ``2h``, ``1d`` (seconds).

One reading for the panel's TTL and drain dialogs and ``flowdeck ctl ttl=5m``, so a
duration the one accepts the other does too. Bounds are the caller's (schema).
"""

from __future__ import annotations

import re

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([dhms])")


def seconds_of(raw: str) -> float:
    """``raw`` (stripped, lower case) as seconds: a number, one with a unit of ``UNITS``
    (``5m``: 300, ``1e3s``), or units in a row as the panel shows them (``1m30s``,
    ``1d03h46m40s``). Raises a bare ValueError; the callers word the message."""
    parts = _PART.findall(raw)
    if len(parts) > 1 and "".join(n + u for n, u in parts) == raw:
        return sum(float(n) * UNITS[u] for n, u in parts)
    number, scale = raw, 1.0
    if raw and raw[-1] in UNITS:
        number, scale = raw[:-1].strip(), UNITS[raw[-1]]
    return float(number) * scale
