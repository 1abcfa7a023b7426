"""Cheap running statistics: recording is a list store, quantiles are computed on read."""

from __future__ import annotations

import math


class LatencyWindow:
    """The last ``size`` samples plus lifetime count and sum.

    ``size`` is rounded up to a power of two so recording is one masked store and two
    additions. Quantiles come from the window (recent behaviour is what an operator
    tunes against) and are computed only when read.
    """

    __slots__ = ("_buf", "_mask", "count", "total")

    def __init__(self, size: int = 1024) -> None:
        n = 1
        while n < max(size, 1):
            n <<= 1
        self._buf: list[float] = [0.0] * n
        self._mask = n - 1
        self.count = 0
        self.total = 0.0

    def record(self, value: float) -> None:
        i = self.count
        self._buf[i & self._mask] = value
        self.count = i + 1
        self.total += value

    def _window(self) -> list[float]:
        n = self.count
        return sorted(self._buf if n > self._mask else self._buf[:n])

    def quantile(self, q: float) -> float | None:
        return self.quantiles(q)[0]

    def quantiles(self, *qs: float) -> list[float | None]:
        if not self.count:
            return [None for _ in qs]
        data = self._window()
        n = len(data)
        return [data[min(n - 1, max(0, math.ceil(q * n) - 1))] for q in qs]

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def summary(self) -> dict[str, float | int | None]:
        p50, p95, p99 = self.quantiles(0.5, 0.95, 0.99)
        return {"count": self.count, "mean": self.mean, "p50": p50, "p95": p95, "p99": p99}
