"""RedisLink against a real redis-server: breaker opens on failures, probe closes it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from flowdeck.engine.redact import mask_url
from flowdeck.engine.stores.redis_link import RedisLink, RedisUnavailable, glob_escape
from flowdeck.engine.telemetry.events import EventBus, EventKind
from tests.support.redis_server import RedisServer, free_port, redis_binary
from tests.support.waiting import until


def redis_events(bus: EventBus) -> list[tuple[Any, ...]]:
    return [e[3:] for e in bus.recent(bus.seq) if e[2] == EventKind.REDIS]


async def test_run_calls_redis_and_reports_up(redis_server: RedisServer) -> None:
    bus = EventBus(1024)
    link = RedisLink(redis_server.url, bus)
    await link.start()
    try:
        assert link.up
        await link.run(lambda c: c.set("flowdeck:test:link", b"v"))
        assert await link.run(lambda c: c.get("flowdeck:test:link")) == b"v"
        assert link.describe() == {
            "url": redis_server.url,
            "up": True,
            "errors": 0,
            "reconnects": 0,
        }
        assert redis_events(bus) == [("up", None)]
    finally:
        await link.close()


async def test_breaker_opens_fails_fast_and_closes_when_redis_returns(
    redis_proc: RedisServer,
) -> None:
    bus = EventBus(1024)
    link = RedisLink(redis_proc.url, bus, threshold=3)
    ups: list[str] = []
    link.on_up(lambda: ups.append("sync"))

    async def async_listener() -> None:
        ups.append("async")

    link.on_up(async_listener)
    await link.start()
    try:
        assert link.up
        redis_proc.kill()
        for _ in range(3):
            with pytest.raises(RedisUnavailable):
                await link.run(lambda c: c.ping())
        assert not link.up
        assert link.errors == 3
        assert redis_events(bus)[-1][0] == "down"

        # Open: fails at once, and the function is never called (no network at all).
        touched = 0

        async def fn(client: Any) -> Any:
            nonlocal touched
            touched += 1
            return await client.ping()

        t0 = time.perf_counter()
        for _ in range(100):
            with pytest.raises(RedisUnavailable, match="down"):
                await link.run(fn)
        assert touched == 0
        assert time.perf_counter() - t0 < 0.5
        assert link.errors == 3  # fail-fast refusals are not new errors

        redis_proc.restart()
        await until(lambda: link.up)
        assert link.reconnects == 1
        assert await link.run(fn) is True
        assert touched == 1
        assert redis_events(bus)[-1] == ("up", None)
        await until(lambda: len(ups) == 2)
        assert sorted(ups) == ["async", "sync"]
    finally:
        await link.close()


async def test_start_without_redis_does_not_raise_and_recovers(tmp_path: Any) -> None:
    server = RedisServer(redis_binary())  # not started yet
    bus = EventBus(1024)
    link = RedisLink(server.url, bus, probe_max=0.2)
    await link.start()
    try:
        assert not link.up
        assert redis_events(bus)[0][0] == "down"
        with pytest.raises(RedisUnavailable):
            await link.run(lambda c: c.ping())
        server.start()
        await until(lambda: link.up)
        assert link.reconnects == 1
        assert await link.run(lambda c: c.ping()) is True
    finally:
        await link.close()
        server.stop()


async def test_command_errors_are_counted_but_do_not_open_the_breaker(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url, EventBus(1024), threshold=2)
    await link.start()
    try:
        await link.run(lambda c: c.set("flowdeck:test:str", b"x"))
        for _ in range(5):
            with pytest.raises(RedisUnavailable, match="WRONGTYPE"):
                await link.run(lambda c: c.hget("flowdeck:test:str", "f"))
        assert link.errors == 5
        assert link.up
    finally:
        await link.close()


async def test_close_stops_the_probe() -> None:
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", EventBus(1024))
    await link.start()
    assert not link.up
    probe = link._probe_task
    assert probe is not None and not probe.done()
    await link.close()
    assert probe.done()


def test_describe_never_shows_the_password() -> None:
    url = "redis://app:s3cr3t@127.0.0.1:6379/2"
    link = RedisLink(url, EventBus(1024))
    shown = link.describe()["url"]
    assert "s3cr3t" not in shown
    assert shown == "redis://app:***@127.0.0.1:6379/2"  # engine.redact.mask_url, as everywhere
    assert mask_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert mask_url("unix:///tmp/r.sock?db=1&password=pw") == "unix:///tmp/r.sock?db=1&password=***"
    assert "pw" not in repr(link.describe())


def test_glob_escape_matches_only_the_literal_name() -> None:
    assert glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"


async def test_control_messages_reach_other_links_and_survive_a_restart(
    redis_proc: RedisServer,
) -> None:
    a = RedisLink(redis_proc.url, EventBus(1024))
    b = RedisLink(redis_proc.url, EventBus(1024))
    got_a: list[dict[str, Any]] = []
    got_b: list[dict[str, Any]] = []
    a.on_control(got_a.append)
    b.on_control(got_b.append)
    await a.start()
    await b.start()
    try:
        await asyncio.wait_for(b.subscribed.wait(), 10)
        assert await a.publish({"op": "cache.flush", "name": "x"}) >= 1
        await until(lambda: len(got_b) == 1)
        assert got_b[0]["op"] == "cache.flush" and got_b[0]["origin"] == a.instance
        assert got_a == []  # a link ignores its own messages

        redis_proc.restart()  # b's listener must notice and subscribe again
        deadline = time.monotonic() + 10
        receivers = 0
        while receivers < 2 and time.monotonic() < deadline:
            try:  # a fresh server has no subscribers until both listeners are back
                receivers = await a.publish({"op": "cache.set_ttl", "name": "x", "ttl": 5})
            except RedisUnavailable:
                pass
            if receivers < 2:
                await asyncio.sleep(0.02)
        assert receivers == 2
        await until(lambda: any(m["op"] == "cache.set_ttl" for m in got_b))
        assert got_b[-1]["ttl"] == 5
        assert got_a == []
    finally:
        await a.close()
        await b.close()
