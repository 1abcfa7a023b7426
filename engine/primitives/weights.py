"""Weighted splits for a Router: route weights as a table of buckets.

Why a table: a pick is one index into a list of :data:`BUCKETS` route names, by a
random number or by a stable hash of the request key, so a weighted (and sticky)
decision costs about what a plain selector does and allocates nothing but, for a
string key, the UTF-8 bytes its hash reads. Buckets are handed out in route order, so
changing 90/10 to 80/20 moves only the keys of the buckets that changed hands (10 %),
not a random half.

The key hash is CRC-32 of the key's UTF-8 text (``str(key)`` for other types): the same
key lands in the same bucket in every engine of a fleet and after a restart, which
Python's ``hash()`` (salted per process) would not give.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

from flowdeck.engine.errors import BadParams

BUCKETS = 10_000
"""Resolution of a split: 0.01 %."""
MAX_WEIGHT = 1_000_000
"""Largest weight (primitives do not import the wire contract: a unit test pins this
equal to ``control.schema.MAX_WEIGHT``)."""

_crc32 = zlib.crc32


def check_weights(router: str | None, routes: Mapping[str, Any], weights: Any) -> dict[str, float]:
    """``weights`` as ``{route: float}`` for every route (unlisted routes: 0), or
    BadParams naming what is wrong (unknown route, negative, not finite, all zero)."""
    if not isinstance(weights, Mapping) or not weights:
        raise BadParams(f"router {router!r}: weights must be a map of route -> number")
    out = dict.fromkeys(routes, 0.0)
    for route, w in weights.items():
        if route not in routes:
            raise BadParams(
                f"router {router!r}: weights name {route!r}, which is not a route"
                f" (routes: {list(routes)})"
            )
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise BadParams(f"router {router!r}: weight of {route!r} must be a number, got {w!r}")
        if not 0 <= w <= MAX_WEIGHT:
            raise BadParams(
                f"router {router!r}: weight of {route!r} must be from 0 to {MAX_WEIGHT:g},"
                f" got {w!r}"
            )
        out[route] = float(w)
    if sum(out.values()) <= 0:
        raise BadParams(f"router {router!r}: at least one weight must be above 0")
    return out


def bucket_table(weights: Mapping[str, float]) -> list[str]:
    """:data:`BUCKETS` route names, each route holding its share of the buckets
    (largest remainders, so the shares add up exactly; a weight above 0 gets at
    least one bucket)."""
    total = sum(weights.values())
    live = [(r, w) for r, w in weights.items() if w > 0]
    exact = {r: w / total * BUCKETS for r, w in live}
    counts = {r: max(1, math.floor(x)) for r, x in exact.items()}
    left = BUCKETS - sum(counts.values())
    by_remainder = sorted(
        live, key=lambda rw: exact[rw[0]] - math.floor(exact[rw[0]]), reverse=True
    )
    i = 0
    while left > 0:
        counts[by_remainder[i % len(by_remainder)][0]] += 1
        left -= 1
        i += 1
    while left < 0:  # many tiny weights each took a bucket: give back from the largest
        big = max(counts, key=lambda r: counts[r])
        counts[big] -= 1
        left += 1
    table: list[str] = []
    for r, _ in live:
        table.extend([r] * counts[r])
    return table


def bucket_of(key: Any) -> int:
    """The stable bucket of a request key (the same in every process)."""
    text = key if type(key) is str else str(key)
    return _crc32(text.encode()) % BUCKETS


def shares(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights as target shares (0..1)."""
    total = sum(weights.values())
    return {r: (w / total if total else 0.0) for r, w in weights.items()}
