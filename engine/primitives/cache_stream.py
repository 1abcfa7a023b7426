"""Streaming through a Cache: record a miss while it streams, share it, replay hits.

- A hit (L1, else L2) replays the stored answer: the recorded deltas (or the whole
  text, for an entry stored by ``run``), instantly or paced (``replay="paced"`` keeps
  the recorded gaps, capped; ``replay_tps=N`` a fixed rate).
- A miss opens the inner stream once and records it; identical streams arriving
  meanwhile join the recording: the deltas so far, then the live ones, in order.
  Whoever needs the next delta pulls it (no pump task: one consumer costs no hop);
  with several consumers the pull runs in a task, so one consumer's cancellation never
  breaks the others' upstream. The last consumer leaving closes the upstream.
- Only a clean, complete stream is stored (with its deltas and their offsets, so L2
  replays them on another engine); an aborted or failed one is not.
- A stream arriving while ``run`` fills the same key waits for that fill and replays it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from flowdeck.engine.completion import Completion
from flowdeck.engine.context import Context
from flowdeck.engine.errors import ProviderError
from flowdeck.engine.stores.cache_l1 import CostlyEntry
from flowdeck.engine.stores.keys import SHORT_KEY, digest_of_local, short_key
from flowdeck.engine.stream import Observed, Replay, Upstream, as_completion, open_upstream
from flowdeck.engine.telemetry.events import EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

if TYPE_CHECKING:
    from flowdeck.engine.primitives.cache import Cache

_perf = time.perf_counter
REPLAY_MODES = (None, "instant", "paced")


def check_replay(replay: Any, replay_tps: Any) -> tuple[str | None, float | None]:
    if replay not in REPLAY_MODES:
        raise ValueError(f"replay: must be 'instant' or 'paced', got {replay!r}")
    if replay_tps is not None and (
        isinstance(replay_tps, bool) or not isinstance(replay_tps, int | float) or replay_tps <= 0
    ):
        raise ValueError(f"replay_tps: must be a positive number, got {replay_tps!r}")
    return replay, replay_tps


def ttft_window(cache: Cache, source: str) -> LatencyWindow:
    windows = cache.ttft_by_source
    win = windows.get(source)
    if win is None:
        win = windows[source] = LatencyWindow(512)
    return win


def _timed(replay: Replay, cache: Cache) -> Observed:
    """A replay that records its time to first delta under its source."""
    return Observed(replay, ttft_window(cache, replay.source).record)


async def open_cache_stream(cache: Cache, data: Any, ctx: Context) -> Upstream:
    replay, tps = cache.replay, cache.replay_tps
    if isinstance(data, dict) and ("replay" in data or "replay_tps" in data):
        # Per request: chosen by the caller, never part of the key or the provider call.
        replay, tps = check_replay(data.get("replay", replay), data.get("replay_tps", tps))
        data = {k: v for k, v in data.items() if k not in ("replay", "replay_tps")}
    key = cache._key(data)
    entry = cache._get(key)
    if entry is not None:  # counted as Cache.execute counts an L1 hit
        cache.hits_l1 += 1
        cache.time_saved += entry.latency
        if type(entry) is CostlyEntry:
            cache.cost_saved += entry.cost
        cache._bus.emit3_deferred(EventKind.CACHE_HIT, cache.name, "l1", short_key, key)
        return _timed(Replay(as_completion(entry.value), "l1", replay, tps), cache)
    rec = cache.recordings.get(key)
    hexkey = digest_of_local(key)
    short = hexkey[:SHORT_KEY]
    if rec is not None:
        cache.coalesced += 1
        cache._bus.emit3(EventKind.CACHE_MISS, cache.name, short, True)
        return rec.join("coalesced")
    flight = cache._inflight.get(key)
    if flight is not None:  # a run() is filling this key: wait for it, then replay
        cache.coalesced += 1
        cache._bus.emit3(EventKind.CACHE_MISS, cache.name, short, True)
        result = await flight.join()
        return _timed(Replay(as_completion(result), "coalesced", replay, tps), cache)
    gen = cache._gen
    link = cache._link()
    if link is not None:
        found = await cache._l2_get(link, hexkey)
        if found is not None:
            result, age, latency, cost = found
            if gen == cache._gen:
                cache._put(key, result, latency, cost, cache._clock() - age)
            cache.hits_l2 += 1
            cache.time_saved += latency
            cache.cost_saved += cost
            cache._bus.emit3(EventKind.CACHE_HIT, cache.name, "l2", short)
            return _timed(Replay(as_completion(result), "l2", replay, tps), cache)
        rec = cache.recordings.get(key)  # another stream started during the L2 read
        if rec is not None:
            cache.coalesced += 1
            return rec.join("coalesced")
    cache.misses += 1
    cache._bus.emit3(EventKind.CACHE_MISS, cache.name, short, False)
    rec = Recording(cache, key, hexkey, gen)  # the opener is its first user from now
    cache.recordings[key] = rec
    t0 = _perf()  # the miss's TTFT counts the wait for the upstream's headers
    try:
        rec.upstream = await open_upstream(cache.inner, data, ctx)
    except BaseException as exc:
        # Streams that joined meanwhile get the error; a cancelled opener is not theirs
        # to be cancelled by.
        aborted = ProviderError(f"cache {cache.name!r}: stream aborted before it opened")
        rec.fail(exc if isinstance(exc, Exception) else aborted)
        raise
    finally:
        rec.opened()
    return Consumer(rec, "provider", t0)


class Recording:
    """One upstream stream being recorded, read by one or more consumers."""

    def __init__(self, cache: Cache, key: Hashable, hexkey: str, gen: int) -> None:
        self.cache = cache
        self.key = key
        self.hexkey = hexkey
        self.gen = gen
        self.upstream: Upstream | None = None
        self.deltas: list[str] = []
        self.offsets: list[float] = []
        self.done = False
        self.error: BaseException | None = None
        self.completion: Completion | None = None
        # The opener counts from the start: a stream that joins while the upstream is
        # still opening and leaves again must not close the recording under it.
        self.users = 1
        self._open: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending: asyncio.Future[Any] | None = None  # a pull running in a task
        self._pulling = False  # a consumer is pulling directly
        self._waiter: asyncio.Future[Any] | None = None  # joiners waiting on that pull
        self._t0 = _perf()

    def join(self, source: str, t0: float | None = None) -> Consumer:
        self.users += 1
        return Consumer(self, source, t0)

    def opened(self) -> None:
        """The opener is done opening (the upstream is set, or the recording failed)."""
        if not self._open.done():
            self._open.set_result(None)

    async def advance(self) -> None:
        """Wait until one more delta is recorded (or the stream ends), pulling it if
        nobody else is."""
        if self.upstream is None:  # joined while the opener waits for the headers
            await asyncio.shield(self._open)
            return
        pending = self._pending
        if pending is not None:
            await asyncio.shield(pending)
            return
        if self._pulling:  # the sole reader pulls directly: wait for its delta
            waiter = self._waiter
            if waiter is None:
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(waiter)
            return
        if self.users > 1:
            task = asyncio.ensure_future(self._pull())
            self._pending = task
            await asyncio.shield(task)
            return
        self._pulling = True  # one reader: no task, no future per delta
        await self._pull()

    async def _pull(self) -> None:
        up = self.upstream
        assert up is not None
        try:
            delta = await up.__anext__()
        except StopAsyncIteration:
            self._complete(up.completion)
        except asyncio.CancelledError:
            self.fail(ProviderError(f"cache {self.cache.name!r}: stream aborted"))
            raise
        except Exception as exc:
            self.fail(exc)
        else:
            if not self.deltas:
                self._t0 = _perf()
            self.deltas.append(delta)
            self.offsets.append(_perf() - self._t0)
        finally:
            self._pending = None
            self._pulling = False
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                if not waiter.done():
                    waiter.set_result(None)

    def fail(self, exc: BaseException) -> None:
        self.done = True
        self.error = exc
        self._forget()

    def _forget(self) -> None:
        recs = self.cache.recordings
        if recs.get(self.key) is self:
            del recs[self.key]

    def _complete(self, result: Completion | None) -> None:
        self.done = True
        self._forget()
        cache = self.cache
        result = result if result is not None else as_completion("".join(self.deltas))
        stored = dataclasses.replace(
            result,
            extra={**result.extra, "deltas": list(self.deltas), "offsets": list(self.offsets)},
            ttft=None,
            source="provider",
        )
        self.completion = stored
        if self.gen != cache._gen:
            return  # flushed while streaming: not stored
        short = self.hexkey[:SHORT_KEY]
        latency = _perf() - self._t0
        cache._put(self.key, stored, latency, stored.cost)
        cache.sets += 1
        link = cache._link()
        if link is None:
            cache._bus.emit3(EventKind.CACHE_SET, cache.name, short, "l1")
            return

        async def write() -> None:
            ok = await cache._l2_set(link, self.hexkey, stored, latency, stored.cost)
            cache._bus.emit3(EventKind.CACHE_SET, cache.name, short, "l1+l2" if ok else "l1")

        cache._spawn(write())

    async def leave(self) -> None:
        self.users -= 1
        if self.users > 0 or self.done:
            return
        # The last consumer left before the end: close the upstream, store nothing.
        self.done = True
        self.error = ProviderError(f"cache {self.cache.name!r}: stream closed")
        self._forget()
        pending = self._pending
        if pending is not None and not pending.done():
            pending.cancel()
        if self.upstream is not None:
            await self.upstream.aclose()


class Consumer:
    """One reader of a Recording: every delta from the first, then the live ones."""

    def __init__(self, rec: Recording, source: str, t0: float | None = None) -> None:
        self._rec = rec
        self._i = 0
        self._t0 = _perf() if t0 is None else t0
        self._left = False
        self.source = source
        self.completion: Completion | None = None

    def __aiter__(self) -> Consumer:
        return self

    async def __anext__(self) -> str:
        rec = self._rec
        i = self._i
        while i >= len(rec.deltas):
            if rec.done:
                if rec.error is not None:
                    raise rec.error
                if rec.completion is not None:
                    self.completion = dataclasses.replace(rec.completion, source=self.source)
                await self._leave()
                raise StopAsyncIteration
            if self._left:
                raise StopAsyncIteration
            await rec.advance()
        self._i = i + 1
        if i == 0:
            ttft_window(rec.cache, self.source).record(_perf() - self._t0)
        return rec.deltas[i]

    async def _leave(self) -> None:
        if not self._left:
            self._left = True
            await self._rec.leave()

    async def aclose(self) -> None:
        await self._leave()
