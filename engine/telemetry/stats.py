"""Cheap running statistics: recording is a list store, quantiles are computed on read."""

from __future__ import annotations

import math


class LatencyWindow:
    """The last ``size`` samples plus lifetime count and sum.

    Quantiles come from the window (recent behaviour is what an operator tunes against).
    """

    __slots__ = ("_buf", "_i", "_size", "count", "total")

    def __init__(self, size: int = 1024) -> None:
        self._buf: list[float] = []
        self._size = size
        self._i = 0
        self.count = 0
        self.total = 0.0

    def record(self, value: float) -> None:
        self.count += 1
        self.total += value
        buf = self._buf
        if len(buf) < self._size:
            buf.append(value)
        else:
            buf[self._i] = value
            self._i = (self._i + 1) % self._size

    def quantile(self, q: float) -> float | None:
        if not self._buf:
            return None
        data = sorted(self._buf)
        idx = min(len(data) - 1, max(0, math.ceil(q * len(data)) - 1))
        return data[idx]

    def quantiles(self, *qs: float) -> list[float | None]:
        if not self._buf:
            return [None for _ in qs]
        data = sorted(self._buf)
        n = len(data)
        return [data[min(n - 1, max(0, math.ceil(q * n) - 1))] for q in qs]

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def summary(self) -> dict[str, float | int | None]:
        p50, p95, p99 = self.quantiles(0.5, 0.95, 0.99)
        return {"count": self.count, "mean": self.mean, "p50": p50, "p95": p95, "p99": p99}

    def reset(self) -> None:
        self._buf.clear()
        self._i = 0
        self.count = 0
        self.total = 0.0
