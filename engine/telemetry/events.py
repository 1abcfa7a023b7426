"""The event ring.

Emitting an event is the hot path of the whole engine, so it is one tuple and one list
store: no dict, no queue, no await. Events are positional tuples
``(seq, monotonic_ts, kind, *fields)``; each kind and its fields are declared once, in
``flowdeck.engine.control.schema`` (re-exported here as :class:`EventKind`). Readers (one
writer task per socket client) keep their own cursor and call :meth:`EventBus.read_since`;
a reader that fell further behind than the ring holds is told how many events it lost.

Deferred fields: :meth:`EventBus.emit3_deferred` stores a field as ``(derive, raw)``
and the ring computes ``derive(raw)`` only when the event is first read (by
:meth:`~EventBus.read_since`, so also :meth:`~EventBus.recent`), in place. Readers
always see the derived value, exactly as if it had been emitted; an event nobody reads
costs no derivation. The cache uses it for the short key of an L1 hit, a digest that
would otherwise cost more than the hit itself (or ~60 B stored per entry).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from flowdeck.engine.control.schema import EventKind

_monotonic = time.monotonic

Event = tuple[Any, ...]

__all__ = ["NULL_BUS", "Event", "EventBus", "EventKind", "NullBus"]


class EventBus:
    """A bounded ring of events with a global sequence number.

    ``capacity`` is rounded up to a power of two so the slot is ``seq & mask``.
    Producers never wait: the oldest events are overwritten.
    """

    __slots__ = ("_buf", "_deferred", "_mask", "capacity", "seq")

    def __init__(self, capacity: int = 1 << 17) -> None:
        size = 1
        while size < max(capacity, 2):
            size <<= 1
        self.capacity = size
        self._mask = size - 1
        self._buf: list[Event | None] = [None] * size
        self.seq = 0
        # Seqs of events with a deferred last field, oldest first. Bounded like the ring:
        # a seq pushed out of it belongs to an event the ring has overwritten too.
        self._deferred: deque[int] = deque(maxlen=size)

    # One method per arity: `*fields` would cost a second tuple per event.
    def emit1(self, kind: str, a: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a)

    def emit2(self, kind: str, a: Any, b: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b)

    def emit3(self, kind: str, a: Any, b: Any, c: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c)

    def emit4(self, kind: str, a: Any, b: Any, c: Any, d: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c, d)

    def emit5(self, kind: str, a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c, d, e)

    def emit6(self, kind: str, a: Any, b: Any, c: Any, d: Any, e: Any, f: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c, d, e, f)

    def emit7(self, kind: str, a: Any, b: Any, c: Any, d: Any, e: Any, f: Any, g: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c, d, e, f, g)

    def emit3_deferred(
        self, kind: str, a: Any, b: Any, derive: Callable[[Any], Any], raw: Any
    ) -> None:
        """``emit3(kind, a, b, derive(raw))``, with ``derive(raw)`` computed when the
        event is first read instead of now (see the module docstring). ``derive`` must
        not raise and must give the same value whenever it is called."""
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, derive, raw)
        self._deferred.append(seq)

    def _derive(self, end: int) -> None:
        """Replace every deferred event up to seq ``end`` by its derived form."""
        pending, buf, mask = self._deferred, self._buf, self._mask
        while pending and pending[0] <= end:
            seq = pending.popleft()
            e = buf[seq & mask]
            if e is not None and e[0] == seq:  # else overwritten: nothing to derive
                buf[seq & mask] = (*e[:-2], e[-2](e[-1]))

    @property
    def oldest(self) -> int:
        """Sequence number of the oldest event still in the ring (seq+1 if empty)."""
        return max(1, self.seq - self.capacity + 1)

    def read_since(self, cursor: int, limit: int = 1 << 30) -> tuple[list[Event], int, int]:
        """Events with seq > cursor, at most ``limit`` of them.

        Returns ``(events, dropped, new_cursor)``; ``dropped`` counts events the reader
        missed because the ring overwrote them.
        """
        seq = self.seq
        if cursor >= seq:
            return [], 0, cursor
        start = cursor + 1
        oldest = self.oldest
        dropped = 0
        if start < oldest:
            dropped = oldest - start
            start = oldest
        end = min(seq, start + limit - 1)
        pending = self._deferred
        if pending and pending[0] <= end:
            self._derive(end)
        mask = self._mask
        i, j = start & mask, end & mask
        buf = self._buf
        events = buf[i : j + 1] if i <= j else buf[i:] + buf[: j + 1]
        return events, dropped, end  # type: ignore[return-value]  # the ring holds event tuples; None only in unwritten slots

    def recent(self, count: int) -> list[Event]:
        """The last ``count`` events (for snapshots)."""
        events, _, _ = self.read_since(max(0, self.seq - count))
        return events


class NullBus(EventBus):
    """A bus for primitives used outside an engine: keeps a tiny ring, costs the same."""

    def __init__(self) -> None:
        super().__init__(capacity=64)


NULL_BUS = NullBus()
