"""Control plane conformance: every method, every error code, subscriptions, read-only.

Long on purpose: the conformance list of the whole protocol, one engine fixture.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from flowdeck.engine import PROTOCOL_VERSION, Engine
from flowdeck.engine.control import methods
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import (
    ConnectionLost,
    ControlClient,
    ControlError,
    EngineNotRunning,
)
from flowdeck.engine.control.schema import SEARCH_LIMIT_DEFAULT
from flowdeck.engine.stores.keys import digest
from flowdeck.engine.telemetry.events import EventKind
from tests.support.control import RawConn, build_flows, burst, control_settings


@pytest.fixture
async def started(sock_path: Path) -> AsyncIterator[tuple[Engine, dict[str, Any]]]:
    """A running engine and the flows registered on it before it started."""
    e = Engine(control_settings(sock_path))
    flows = build_flows(e)
    async with e:
        yield e, flows


@pytest.fixture
def eng(started: tuple[Engine, dict[str, Any]]) -> Engine:
    return started[0]


@pytest.fixture
def flows(started: tuple[Engine, dict[str, Any]]) -> dict[str, Any]:
    return started[1]


@pytest.fixture
async def client(eng: Engine, sock_path: Path) -> AsyncIterator[ControlClient]:
    c = await ControlClient.connect(sock_path)
    yield c
    await c.close()


async def error_of(client: ControlClient, method: str, params: Any = None) -> ControlError:
    with pytest.raises(ControlError) as info:
        await client.call(method, params)
    return info.value


async def next_notification(client: ControlClient, method: str, wait: float = 5.0) -> Any:
    async def find() -> Any:
        async for m, params in client.notifications():
            if m == method:
                return params
        raise ConnectionLost("ended")

    return await asyncio.wait_for(find(), wait)


async def collect_events(client: ControlClient, until_seq: int, wait: float = 10.0) -> list:
    """Events from ``client`` until one with seq >= until_seq arrives."""
    out: list[Any] = []

    async def run() -> None:
        async for m, params in client.notifications():
            if m == P.EVENTS:
                out.extend(params["events"])
                if out and out[-1][0] >= until_seq:
                    return
            elif m == P.DROPPED:
                raise AssertionError(f"unexpected dropped: {params}")

    await asyncio.wait_for(run(), wait)
    return out


# ---- hello / snapshot ---------------------------------------------------------------------
async def test_hello_identity_and_methods(eng: Engine, client: ControlClient) -> None:
    h = await client.hello(client="pytest")
    assert h["name"] == "ctl-test"
    assert h["protocol"] == PROTOCOL_VERSION
    assert h["methods"] == list(methods.METHODS)
    assert set(h["write_methods"]) == set(methods.WRITE_METHODS)
    assert h["notifications"] == ["events", "stats", "dropped"]
    assert set(h["event_fields"]) == set(EventKind.ALL)
    assert h["pid"] == eng.pid and h["read_only"] is False
    assert h["limits"]["max_frame"] == P.MAX_FRAME


async def test_snapshot_shape_and_seq(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    await burst(eng, flows["plain"], 5)
    snap = await client.snapshot()
    assert snap["seq"] == eng.bus.seq >= 5
    assert snap["engine"]["socket"] == str(eng.control.path)
    assert snap["engine"]["read_only"] is False
    assert set(snap["caches"]) == {"llm"}
    assert set(snap["routers"]) == {"tiers", "plain"}
    assert set(snap["parallels"]) == {"fan"}
    assert set(snap["memories"]) == {"mem"}
    assert set(snap["providers"]) == {"p1", "p2"}
    assert snap["routers"]["plain"]["stats"]["total"] == 5
    assert snap["caches"]["llm"]["ttl"] == 60
    assert "api_key" not in repr(snap)


# ---- cache.* ------------------------------------------------------------------------------------
async def test_cache_flush_one_and_all(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    cache = flows["cache"]
    await eng.run(cache, {"prompt": "hi"})
    assert cache.stats()["size"] == 1
    res = await client.call("cache.flush", {"name": "llm"})
    assert set(res["flushed"]) == {"llm"} and res["flushed"]["llm"]["l1"] == 1
    assert cache.stats()["size"] == 0
    res = await client.call("cache.flush", {"name": "*"})
    assert set(res["flushed"]) == {"llm"}
    assert (await error_of(client, "cache.flush", {"name": "nope"})).code == P.NOT_FOUND
    assert (await error_of(client, "cache.flush", {"name": 5})).code == P.BAD_PARAMS
    assert (await error_of(client, "cache.flush", {})).code == P.BAD_PARAMS


async def test_cache_set_ttl(eng: Engine, client: ControlClient) -> None:
    res = await client.call("cache.set_ttl", {"name": "llm", "ttl": 5})
    assert res["name"] == "llm" and res["ttl"] == 5
    res = await client.call("cache.set_ttl", {"name": "llm", "ttl": 0.5})
    assert res["ttl"] == 0.5
    for bad in (0, -1, -0.5, math.inf, math.nan, True, "5", None, [5], 10**12):
        err = await error_of(client, "cache.set_ttl", {"name": "llm", "ttl": bad})
        assert err.code == P.BAD_PARAMS, bad
    assert (await error_of(client, "cache.set_ttl", {"name": "llm"})).code == P.BAD_PARAMS
    err = await error_of(client, "cache.set_ttl", {"name": "x", "ttl": 5})
    assert err.code == P.NOT_FOUND
    err = await error_of(client, "cache.set_ttl", {"name": "llm", "ttl": 5, "extra": 1})
    assert err.code == P.BAD_PARAMS and "extra" in err.message


async def test_cache_set_max_size(eng: Engine, client: ControlClient) -> None:
    res = await client.call("cache.set_max_size", {"name": "llm", "max_size": 7})
    assert res["max_size"] == 7
    for bad in (0, -3, 1.5, True, "10", None, 10**10):
        err = await error_of(client, "cache.set_max_size", {"name": "llm", "max_size": bad})
        assert err.code == P.BAD_PARAMS, bad
    err = await error_of(client, "cache.set_max_size", {"name": "zz", "max_size": 3})
    assert err.code == P.NOT_FOUND


# ---- router.* -----------------------------------------------------------------------------------
async def test_router_pin_and_unpin(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    res = await client.call("router.pin", {"name": "plain", "route": "b"})
    assert res["pin"] == "b"
    await burst(eng, flows["plain"], 3)
    assert eng.routers["plain"].stats()["routes"]["b"]["count"] == 3
    res = await client.call("router.pin", {"name": "plain", "route": None})
    assert res["pin"] is None
    err = await error_of(client, "router.pin", {"name": "plain", "route": "zz"})
    assert err.code == P.NOT_FOUND
    err = await error_of(client, "router.pin", {"name": "nope", "route": "a"})
    assert err.code == P.NOT_FOUND
    err = await error_of(client, "router.pin", {"name": "plain", "route": 3})
    assert err.code == P.BAD_PARAMS
    assert (await error_of(client, "router.pin", {"name": "plain"})).code == P.BAD_PARAMS


async def test_router_set_model(eng: Engine, flows: dict[str, Any], client: ControlClient) -> None:
    params = {"name": "tiers", "route": "fast", "provider": "p2"}
    res = await client.call("router.set_model", params)
    assert res["providers"]["fast"][0] == "p2"
    out = await eng.run(flows["tiers"], {"prompt": "x", "tier": "fast"})
    assert out.provider == "p2"
    cases = [
        ({"name": "tiers", "route": "fast", "provider": "nope"}, P.NOT_FOUND),
        ({"name": "tiers", "route": "zz", "provider": "p1"}, P.NOT_FOUND),
        ({"name": "nope", "route": "fast", "provider": "p1"}, P.NOT_FOUND),
        ({"name": "plain", "route": "a", "provider": "p1"}, P.BAD_PARAMS),  # not provider-backed
        ({"name": "tiers", "route": "fast"}, P.BAD_PARAMS),
        ({"name": "tiers", "route": "fast", "provider": ["p1"]}, P.BAD_PARAMS),
    ]
    for bad, code in cases:
        assert (await error_of(client, "router.set_model", bad)).code == code, bad


# ---- memory.* -----------------------------------------------------------------------------------
async def test_memory_search_and_clear(eng: Engine, client: ControlClient) -> None:
    mem = eng.memories["mem"]
    await mem.add("k1", "the quick brown fox")
    await mem.add("k2", "a lazy brown dog")
    res = await client.call("memory.search", {"name": "mem", "keywords": ["brown"], "limit": 5})
    assert {r["key"] for r in res["results"]} == {"k1", "k2"}
    res = await client.call("memory.search", {"name": "mem", "keywords": "quick fox"})
    assert [r["key"] for r in res["results"]] == ["k1"]
    assert res["keywords"] == ["quick", "fox"] and res["limit"] == SEARCH_LIMIT_DEFAULT
    res = await client.call("memory.search", {"name": "mem", "keywords": "brown", "limit": 1})
    assert len(res["results"]) == 1
    bad = [
        {"name": "mem", "keywords": "x", "limit": 0},
        {"name": "mem", "keywords": "x", "limit": 1001},
        {"name": "mem", "keywords": "x", "limit": True},
        {"name": "mem", "keywords": []},
        {"name": "mem", "keywords": "   "},
        {"name": "mem", "keywords": [1, 2]},
        {"name": "mem", "keywords": {"a": 1}},
        {"name": "mem", "keywords": ["w"] * 65},
        {"name": "mem"},
    ]
    for params in bad:
        assert (await error_of(client, "memory.search", params)).code == P.BAD_PARAMS, params
    err = await error_of(client, "memory.search", {"name": "zz", "keywords": "x"})
    assert err.code == P.NOT_FOUND
    res = await client.call("memory.clear", {"name": "mem"})
    assert res == {"cleared": {"mem": 2}}
    assert mem.size == 0
    assert (await client.call("memory.clear", {"name": "*"})) == {"cleared": {"mem": 0}}
    assert (await error_of(client, "memory.clear", {"name": "zz"})).code == P.NOT_FOUND


# ---- request-level errors ------------------------------------------------------------------
async def test_unknown_method_and_bad_params_shape(eng: Engine, client: ControlClient) -> None:
    assert (await error_of(client, "nope")).code == P.UNKNOWN_METHOD
    assert (await error_of(client, "x" * 5000)).code == P.UNKNOWN_METHOD
    raw = await RawConn.open(eng.control.path)
    try:
        await raw.send([0, 1, "snapshot", [1, 2]])
        assert (await raw.response(1))[2]["code"] == P.BAD_PARAMS
        await raw.send([0, 2, 42, {}])
        assert (await raw.response(2))[2]["code"] == P.BAD_REQUEST
        await raw.send([0, 3, "hello"])  # three elements
        assert (await raw.response(3))[2]["code"] == P.BAD_REQUEST
        await raw.send([0, 4, "hello", None])  # nil params = {}
        resp = await raw.response(4)
        assert resp[2] is None and resp[3]["name"] == "ctl-test"
        # Responses are [1, msgid, error, result] with error {"code", "message"}.
        await raw.send([0, 5, "nope", {}])
        resp = await raw.response(5)
        assert len(resp) == 4 and set(resp[2]) == {"code", "message"} and resp[3] is None
        # Something that cannot be answered (no msgid) closes that connection only.
        await raw.send(["not", "a", "request"])
        assert await raw.closed_by_server()
    finally:
        await raw.close()
    assert (await client.hello())["name"] == "ctl-test"


async def test_too_many_requests(eng: Engine, client: ControlClient) -> None:
    eng.control.max_pending = 1
    raw = await RawConn.open(eng.control.path)
    try:
        # Two requests in one write: the first (cache.flush is async) is still pending
        # when the second is read, so the second is refused.
        data = b"".join(msgpack.packb([0, i, "cache.flush", {"name": "llm"}]) for i in (1, 2))
        await raw.send_bytes(data)
        got: dict[int, Any] = {}
        while len(got) < 2:
            msg = await raw.recv()
            got[msg[1]] = msg
        assert got[1][2] is None and set(got[1][3]["flushed"]) == {"llm"}
        assert got[2][2]["code"] == P.TOO_MANY_REQUESTS
        await raw.send([0, 3, "hello", {}])  # nothing pending any more
        assert (await raw.response(3))[2] is None
    finally:
        await raw.close()


async def test_internal_error_is_an_answer(eng: Engine, client: ControlClient) -> None:
    cache = eng.caches["llm"]

    def boom(ttl: float, *, l2: bool = True, announce: bool = True) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    cache.set_ttl = boom  # type: ignore[method-assign]  # a fault injected on purpose
    err = await error_of(client, "cache.set_ttl", {"name": "llm", "ttl": 3})
    assert err.code == P.INTERNAL and "disk on fire" in err.message
    assert (await client.hello())["name"] == "ctl-test"


async def test_read_only_engine(sock_path: Path) -> None:
    e = Engine(control_settings(sock_path, read_only=True))
    build_flows(e)
    async with e:
        c = await ControlClient.connect(sock_path)
        try:
            calls = {
                "cache.flush": {"name": "llm"},
                "cache.set_ttl": {"name": "llm", "ttl": 5},
                "cache.set_max_size": {"name": "llm", "max_size": 5},
                "router.pin": {"name": "plain", "route": "a"},
                "router.set_model": {"name": "tiers", "route": "fast", "provider": "p2"},
                "router.restore": {"name": "tiers", "route": None},
                "router.set_weights": {"name": "plain", "weights": {"a": 1}},
                "provider.cooldown": {"name": "p1", "seconds": 5},
                "provider.resume": {"name": "p1"},
                "memory.clear": {"name": "mem"},
            }
            assert set(calls) == methods.WRITE_METHODS
            for method, params in calls.items():
                assert (await error_of(c, method, params)).code == P.READ_ONLY, method
            assert e.caches["llm"].ttl == 60 and e.routers["plain"].pinned is None
            assert e.routers["plain"].weights is None and not e.providers["p1"].cooling_down()
            assert (await c.hello())["read_only"] is True
            assert (await c.snapshot())["engine"]["read_only"] is True
            res = await c.call("memory.search", {"name": "mem", "keywords": "x"})
            assert res["results"] == []
        finally:
            await c.close()


# ---- subscriptions --------------------------------------------------------------------------
async def test_subscribe_events_follow_snapshot(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    plain = flows["plain"]
    await burst(eng, plain, 10)
    snap = await client.snapshot()
    await burst(eng, plain, 5)  # after the snapshot, before subscribing
    sub = await client.subscribe(stats=False)
    assert sub["seq"] == snap["seq"]
    await burst(eng, plain, 5)
    events = await collect_events(client, eng.bus.seq)
    seqs = [e[0] for e in events]
    assert seqs == list(range(snap["seq"] + 1, eng.bus.seq + 1))
    ev = events[0]
    assert ev[2] == EventKind.ROUTE and ev[3] == "plain" and len(ev) == 3 + 4
    assert isinstance(ev[1], float)


async def test_l1_hit_events_reach_subscribers_with_the_short_key(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    # The hit's short key is derived only when the event is read (EventBus.emit3_deferred):
    # on the wire it is the same 12 hex characters as the miss and set of that key.
    await client.subscribe(stats=False, kinds=[EventKind.CACHE_MISS, EventKind.CACHE_HIT])
    data = {"prompt": "wire", "tier": "fast"}
    await eng.run(flows["cache"], data)
    await eng.run(flows["cache"], data)
    events = await collect_events(client, eng.bus.seq)
    miss, hit = (e for e in events if e[3] == "llm")
    assert tuple(miss[2:]) == (EventKind.CACHE_MISS, "llm", digest(data)[:12], False)
    assert tuple(hit[2:]) == (EventKind.CACHE_HIT, "llm", "l1", digest(data)[:12])


async def test_subscribe_without_snapshot_starts_now(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    await burst(eng, flows["plain"], 10)
    sub = await client.subscribe(stats=False)
    assert sub["seq"] == eng.bus.seq == 10
    await burst(eng, flows["plain"], 2)
    events = await collect_events(client, 12)
    assert [e[0] for e in events] == [11, 12]


async def test_subscribe_kinds_filter_and_unsubscribe(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    await client.subscribe(stats=False, kinds=[EventKind.PARALLEL_RUN])
    await burst(eng, flows["plain"], 3)
    await eng.run(flows["fan"], 0)
    events = await collect_events(client, eng.bus.seq)
    assert [e[2] for e in events] == [EventKind.PARALLEL_RUN]
    assert events[0][3] == "fan" and events[0][6] == "ok"
    res = await client.unsubscribe()
    assert res == {"subscribed": False, "was_subscribed": True}
    err = await error_of(client, "subscribe", {"kinds": ["no.such.kind"]})
    assert err.code == P.BAD_PARAMS
    err = await error_of(client, "subscribe", {"events": "yes"})
    assert err.code == P.BAD_PARAMS


async def test_stats_notifications(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    await client.subscribe(events=False, stats=True)
    await burst(eng, flows["plain"], 4)
    while True:
        stats = await next_notification(client, P.STATS)
        if stats["routers"]["plain"]["total"] == 4:
            break
    assert set(stats) >= {"seq", "time", "workload", "caches", "routers", "providers"}
    assert stats["caches"]["llm"]["hits"] == 0


async def test_two_subscribers_see_the_same_sequence(
    eng: Engine, flows: dict[str, Any], sock_path: Path
) -> None:
    a = await ControlClient.connect(sock_path)
    b = await ControlClient.connect(sock_path)
    try:
        await a.subscribe(stats=False)
        await b.subscribe(stats=False)
        start = eng.bus.seq
        for _ in range(20):
            await burst(eng, flows["plain"], 50)
            await eng.run(flows["fan"], 1)
            await asyncio.sleep(0)
        end = eng.bus.seq
        ea, eb = await asyncio.gather(collect_events(a, end), collect_events(b, end))
        assert ea == eb
        assert [e[0] for e in ea] == list(range(start + 1, end + 1))
    finally:
        await a.close()
        await b.close()


async def test_lapped_client_is_told_and_resyncs(sock_path: Path) -> None:
    e = Engine(control_settings(sock_path, event_ring=1024))
    flows = build_flows(e)
    async with e:
        c = await ControlClient.connect(sock_path)
        try:
            await c.subscribe(stats=False)
            await burst(e, flows["plain"], 3000)  # 3000 events with no yield: laps the ring
            dropped = await next_notification(c, P.DROPPED)
            assert dropped["count"] >= 3000 - 1024
            nxt = dropped["next"]
            events = await collect_events(c, e.bus.seq)
            assert events[0][0] == nxt
            assert [x[0] for x in events] == list(range(nxt, e.bus.seq + 1))
            # The resync: a new snapshot, then deltas continue after its seq.
            snap = await c.snapshot()
            await burst(e, flows["plain"], 3)
            more = await collect_events(c, e.bus.seq)
            assert next(x[0] for x in more if x[0] > snap["seq"]) == snap["seq"] + 1
        finally:
            await c.close()


# ---- client behaviour -----------------------------------------------------------------------
async def test_concurrent_calls_are_multiplexed(eng: Engine, client: ControlClient) -> None:
    results = await asyncio.gather(
        *[client.call("cache.set_ttl", {"name": "llm", "ttl": i + 1}) for i in range(100)],
        *[client.hello() for _ in range(20)],
    )
    assert [r["ttl"] for r in results[:100]] == list(range(1, 101))
    assert all(r["name"] == "ctl-test" for r in results[100:])


async def test_client_errors(sock_path: Path) -> None:
    with pytest.raises(EngineNotRunning):
        await ControlClient.connect(sock_path, timeout=1.0)
    e = Engine(control_settings(sock_path))
    async with e:
        c = await ControlClient.connect(sock_path)
        assert c.connected
    # engine closed: the connection is gone
    with pytest.raises(ConnectionLost):
        await c.call("hello", timeout=2.0)
    assert not c.connected
    await c.close()


async def test_call_timeout_keeps_the_connection(sock_path: Path) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # a peer that listens and never answers
        writer.close()

    server = await asyncio.start_unix_server(silent, str(sock_path))
    async with server:
        c = await ControlClient.connect(sock_path)
        with pytest.raises(TimeoutError):
            await c.call("hello", timeout=0.05)
        assert c.connected and not c._pending
        await c.close()


async def test_failing_stats_do_not_cost_the_events(
    eng: Engine, flows: dict[str, Any], client: ControlClient
) -> None:
    real = eng.stats

    def broken() -> dict:
        raise RuntimeError("a primitive's stats() is broken")

    eng.stats = broken  # type: ignore[method-assign]  # a fault injected on purpose
    await client.subscribe(stats=True)
    await burst(eng, flows["plain"], 3)
    events = await collect_events(client, eng.bus.seq)
    assert len(events) == 3 and client.connected
    eng.stats = real  # type: ignore[method-assign]  # a fault injected on purpose
    stats = await next_notification(client, P.STATS)
    assert stats["routers"]["plain"]["total"] == 3
