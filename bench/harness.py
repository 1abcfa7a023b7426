"""Timing helpers and the result table.

Every number is a median of several repeats of a tight loop, and every benchmark
reports a baseline measured in the same process moments before, so ratios survive
a noisy machine even when absolute numbers do not.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

_perf = time.perf_counter


@dataclass
class Row:
    """One line of the results table."""

    what: str
    value: str
    baseline: str = ""
    ratio: str = ""
    note: str = ""


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    text: str = ""

    def add(self, *args: str, **kw: str) -> None:
        self.rows.append(Row(*args, **kw))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off for a timed loop (a collection would land in one sample)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def per_op_sync(fn: Callable[[], object], n: int, repeat: int) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` loops of ``n`` calls."""
    samples = []
    with gc_paused():
        for _ in range(repeat):
            t0 = _perf()
            for _ in range(n):
                fn()
            samples.append((_perf() - t0) / n)
    return statistics.median(samples)


async def per_op_async(fn: Callable[[], Awaitable[object]], n: int, repeat: int) -> float:
    """Median seconds per awaited call of ``fn`` over ``repeat`` loops of ``n`` calls."""
    samples = []
    with gc_paused():
        for _ in range(repeat):
            t0 = _perf()
            for _ in range(n):
                await fn()
            samples.append((_perf() - t0) / n)
    return statistics.median(samples)


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(value: float, base: float) -> str:
    if base <= 0:
        return "-"
    return f"{value / base:.2f}x"


def quantile(samples: list[float], q: float) -> float:
    data = sorted(samples)
    return data[min(len(data) - 1, max(0, int(q * len(data) + 0.5) - 1))]


def render(sections: list[Section], header: str) -> str:
    """The results as Markdown: one table per section."""
    out = [header, ""]
    for sec in sections:
        out.append(f"## {sec.title}")
        out.append("")
        if sec.text:
            out.append(sec.text)
            out.append("")
        if sec.rows:
            out.append("| what | measured | baseline | ratio | note |")
            out.append("|---|---|---|---|---|")
            for r in sec.rows:
                out.append(f"| {r.what} | {r.value} | {r.baseline} | {r.ratio} | {r.note} |")
            out.append("")
    return "\n".join(out)
