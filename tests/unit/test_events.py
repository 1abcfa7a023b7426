"""The event ring: sequence numbers, wrap-around, drop accounting."""

from __future__ import annotations

from flowdeck.engine.telemetry.events import EventBus, EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow


def test_capacity_rounds_to_power_of_two() -> None:
    assert EventBus(1000).capacity == 1024
    assert EventBus(1024).capacity == 1024


def test_events_are_positional_with_seq_ts_kind() -> None:
    bus = EventBus(16)
    bus.emit3(EventKind.CACHE_HIT, "llm", "l1", "ab12")
    bus.emit1(EventKind.REDIS, "up")
    events, dropped, cursor = bus.read_since(0)
    assert dropped == 0 and cursor == 2
    assert events[0][0] == 1 and events[0][2:] == ("cache.hit", "llm", "l1", "ab12")
    assert events[1][0] == 2 and events[1][2:] == ("redis", "up")
    assert events[0][1] <= events[1][1]


def test_read_since_pages_and_wraps() -> None:
    bus = EventBus(16)
    for i in range(40):
        bus.emit1("x", i)
    events, dropped, cursor = bus.read_since(30)
    assert [e[3] for e in events] == list(range(30, 40))
    assert dropped == 0 and cursor == 40
    # A reader at 10 lost everything older than the ring holds.
    events, dropped, cursor = bus.read_since(10, limit=5)
    assert dropped == 40 - 16 - 10
    assert [e[0] for e in events] == [25, 26, 27, 28, 29]
    assert cursor == 29
    rest, dropped2, cursor2 = bus.read_since(cursor)
    assert dropped2 == 0 and [e[0] for e in rest] == list(range(30, 41))
    assert cursor2 == 40
    assert bus.read_since(40) == ([], 0, 40)


def test_recent_returns_tail() -> None:
    bus = EventBus(8)
    for i in range(20):
        bus.emit2("k", i, None)
    assert [e[3] for e in bus.recent(3)] == [17, 18, 19]


def test_latency_window_quantiles_over_recent_samples() -> None:
    w = LatencyWindow(100)
    assert w.quantile(0.5) is None and w.mean is None
    for i in range(1, 101):
        w.record(float(i))
    assert w.quantiles(0.5, 0.95, 1.0) == [50.0, 95.0, 100.0]
    for _ in range(100):
        w.record(1000.0)
    assert w.quantile(0.5) == 1000.0
    assert w.count == 200


def test_deferred_field_is_derived_on_first_read_only() -> None:
    calls: list[str] = []

    def derive(raw: str) -> str:
        calls.append(raw)
        return raw.upper()

    bus = EventBus(16)
    bus.emit3_deferred(EventKind.CACHE_HIT, "llm", "l1", derive, "ab12")
    bus.emit1(EventKind.REDIS, "up")
    assert calls == []  # nobody read it yet: nothing derived
    events, _, _ = bus.read_since(0)
    assert events[0][2:] == ("cache.hit", "llm", "l1", "AB12")
    assert len(events[0]) == 6  # the same shape as emit3
    assert bus.recent(2) == events  # a second reader sees the same event
    assert calls == ["ab12"]  # derived once, in place


def test_deferred_events_overwritten_unread_are_never_derived() -> None:
    calls: list[int] = []

    def derive(raw: int) -> int:
        calls.append(raw)
        return -raw

    bus = EventBus(4)
    for i in range(10):
        bus.emit3_deferred("x", "a", "b", derive, i)
    events, dropped, _ = bus.read_since(0)
    assert dropped == 6
    assert [e[5] for e in events] == [-6, -7, -8, -9]
    assert calls == [6, 7, 8, 9]
