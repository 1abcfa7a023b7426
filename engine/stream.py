"""Streaming: ``Engine.stream(flow, data)`` hands text deltas to the caller as they arrive.

A primitive that can stream has ``open_stream(data, ctx)`` returning an *upstream*: an
async iterator of ``str`` deltas with ``aclose()``, a ``source`` and, after the last
delta, a ``completion``. Providers, tiers, Router and Cache have one; a Sequence runs
its steps and streams its last one; any other primitive runs whole and its text is one
delta. Streaming through Parallel is refused (several answers cannot share one stream).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from flowdeck.engine.completion import Completion
from flowdeck.engine.context import Context
from flowdeck.engine.primitives.base import Primitive, Sequence
from flowdeck.engine.telemetry.events import EventKind

if TYPE_CHECKING:
    from flowdeck.engine.engine import Engine

_perf = time.perf_counter

REPLAY_GAP_CAP = 0.25
"""Longest pause (seconds) a paced replay keeps between two recorded deltas."""


class Upstream(Protocol):
    source: str
    completion: Completion | None

    def __aiter__(self) -> Upstream: ...
    async def __anext__(self) -> str: ...
    async def aclose(self) -> None: ...


async def open_upstream(prim: Primitive, data: Any, ctx: Context) -> Upstream:
    """The upstream of ``prim`` for ``data``: its own stream, or its whole result as one."""
    opener = getattr(prim, "open_stream", None)
    if opener is not None:
        up: Upstream = await opener(data, ctx)
        return up
    if isinstance(prim, Sequence) and prim.steps:
        for step in prim.steps[:-1]:
            data = await step.execute(data, ctx)
        return await open_upstream(prim.steps[-1], data, ctx)
    if prim.kind == "parallel":
        raise TypeError(
            f"cannot stream through Parallel {prim.name!r}: it returns several answers;"
            " use eng.run, or stream each branch"
        )
    return Replay(as_completion(await prim.execute(data, ctx)), "provider")


def as_completion(result: Any) -> Completion:
    """A flow's result as a Completion (a plain string becomes one with no provider)."""
    if isinstance(result, Completion):
        return result
    if isinstance(result, str):
        return Completion(text=result, model="", provider="")
    raise TypeError(f"cannot stream a {type(result).__name__} result: need a Completion or str")


class Replay:
    """A finished answer as deltas: the recorded ones (``extra["deltas"]``) or the whole
    text; instantly, paced by the recorded gaps (capped), or at ``tps`` deltas a second."""

    def __init__(
        self, result: Completion, source: str, pace: str | None = None, tps: float | None = None
    ) -> None:
        self.source = source
        self._result = result
        deltas = result.extra.get("deltas")
        self._deltas: list[str] = deltas if isinstance(deltas, list) else [result.text]
        offsets = result.extra.get("offsets")
        self._offsets = offsets if pace == "paced" and isinstance(offsets, list) else None
        self._gap = 1.0 / tps if tps else 0.0
        self._i = 0
        self.completion: Completion | None = None

    def __aiter__(self) -> Replay:
        return self

    async def __anext__(self) -> str:
        i = self._i
        if i >= len(self._deltas):
            if self.completion is None:
                self.completion = dataclasses.replace(self._result, source=self.source)
            raise StopAsyncIteration
        self._i = i + 1
        if i:
            offsets = self._offsets
            if offsets is not None and i < len(offsets):
                await asyncio.sleep(min(REPLAY_GAP_CAP, max(0.0, offsets[i] - offsets[i - 1])))
            elif self._gap:
                await asyncio.sleep(self._gap)
        return self._deltas[i]

    async def aclose(self) -> None:
        self._i = len(self._deltas)


class Observed:
    """An upstream with callbacks on its first delta and its end (Router statistics,
    the TTFT of a cache replay)."""

    def __init__(
        self,
        inner: Upstream,
        on_first: Callable[[float], None],
        on_end: Callable[[Completion | None, BaseException | None, float], None] | None = None,
        t0: float | None = None,
    ) -> None:
        self._inner = inner
        self._on_first: Callable[[float], None] | None = on_first
        self._on_end: Callable[[Completion | None, BaseException | None, float], None] | None = (
            on_end
        )
        # From the request, not from the open upstream: opening waits for the headers,
        # which many providers send only with the first token.
        self._t0 = _perf() if t0 is None else t0
        self.source = inner.source
        self.completion: Completion | None = None

    def __aiter__(self) -> Observed:
        return self

    async def __anext__(self) -> str:
        try:
            delta = await self._inner.__anext__()
        except StopAsyncIteration:
            self.completion = self._inner.completion
            self.source = self._inner.source
            self._end(self.completion, None)
            raise
        except BaseException as exc:
            self._end(None, exc)
            raise
        first = self._on_first
        if first is not None:
            self._on_first = None
            first(_perf() - self._t0)
        return delta

    def _end(self, result: Completion | None, exc: BaseException | None) -> None:
        end, self._on_end = self._on_end, None
        if end is not None:
            end(result, exc, _perf() - self._t0)

    async def aclose(self) -> None:
        self._end(None, None)
        await self._inner.aclose()


class Stream:
    """What ``eng.stream(flow, data)`` returns: ``async for delta in stream`` (or
    ``async with``); ``stream.completion`` after the last delta, with ``ttft`` (seconds
    from the call to the first delta) and ``source`` (provider / l1 / l2 / coalesced).

    Leaving early (break, ``aclose()``, cancellation) closes the upstream request
    unless another consumer of the same cache entry still reads it.
    """

    def __init__(self, engine: Engine, flow: Primitive, data: Any, ctx: Context) -> None:
        self._engine = engine
        self._flow = flow
        self._data = data
        self._ctx = ctx
        self._up: Upstream | None = None
        self._t0 = _perf()
        self._closed = False
        self.deltas = 0
        self.ttft: float | None = None
        self.completion: Completion | None = None

    @property
    def source(self) -> str | None:
        return self._up.source if self._up is not None else None

    async def __aenter__(self) -> Stream:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Stream:
        return self

    async def _open(self) -> Upstream:
        up = self._up
        if up is None:
            eng = self._engine
            eng.started += 1
            try:
                up = self._up = await open_upstream(self._flow, self._data, self._ctx)
            except BaseException as exc:
                eng.run_failed(self._flow, exc)
                eng.unrecorded += 1
                self._closed = True
                raise
        return up

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        up = self._up if self._up is not None else await self._open()
        try:
            delta = await up.__anext__()
        except StopAsyncIteration:
            result = up.completion
            if result is not None:
                result = dataclasses.replace(result, ttft=self.ttft, source=up.source)
            self.completion = result
            self._end("ok", result)
            raise
        except BaseException as exc:
            self._end("error", None, exc)
            await up.aclose()
            raise
        self.deltas += 1
        if self.ttft is None:
            self.ttft = ttft = _perf() - self._t0
            self._engine.bus.emit2(EventKind.STREAM_FIRST, up.source, ttft)
        return delta

    def _end(
        self, status: str, result: Completion | None, exc: BaseException | None = None
    ) -> None:
        if self._closed:
            return
        self._closed = True
        eng = self._engine
        total = _perf() - self._t0
        eng.run_latency.record(total)
        if exc is not None:
            eng.run_failed(self._flow, exc)
        up = self._up
        eng.bus.emit7(
            EventKind.STREAM_END,
            up.source if up is not None else None,
            result.provider if result is not None else None,
            self.deltas,
            result.tokens_out if result is not None else 0,
            status,
            self.ttft,
            total,
        )

    async def aclose(self) -> None:
        """Stop reading: the upstream is closed (unless shared); nothing is cached."""
        up = self._up
        if up is None:
            self._closed = True
            return
        self._end("closed", None)
        await up.aclose()
