"""The fleet across hosts through a real redis-server: scope, heartbeats, acknowledged
commands, overrides that stick, audit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import signal
import subprocess
import sys

import redis.asyncio as aioredis

from flowdeck.engine import Cache, Engine, Step
from flowdeck.engine.fleet.audit import read_stream
from flowdeck.engine.fleet.reader import FleetReader
from flowdeck.engine.fleet.scope import Scope
from flowdeck.engine.fleet.sender import FleetSender
from tests.support import ROOT
from tests.support.redis_fleet import (
    fleet_engine,
    heartbeat_of,
    link_of,
    spawn_engine,
    unique_fleet,
)
from tests.support.redis_server import RedisServer
from tests.support.waiting import until


def db_url(server: RedisServer, db: int) -> str:
    return f"redis://127.0.0.1:{server.port}/{db}"


async def test_keys_and_channels_are_scoped_by_fleet_and_database(
    redis_server: RedisServer,
) -> None:
    fleet = unique_fleet()
    assert Scope.of(fleet, db_url(redis_server, 1)).control_channel == f"{fleet}:db1:control"
    async with (
        fleet_engine(db_url(redis_server, 0), fleet) as a,
        fleet_engine(db_url(redis_server, 1), fleet) as b,
        fleet_engine(db_url(redis_server, 0), fleet, read_only=True) as ro,
    ):
        await asyncio.wait_for(link_of(b).subscribed.wait(), 10)
        await asyncio.wait_for(link_of(ro).subscribed.wait(), 10)
        for eng in (a, b, ro):
            await eng.run(eng.caches["llm"], "x")
        await a.caches["llm"].wait_writes()
        raw = aioredis.Redis.from_url(db_url(redis_server, 0))
        try:
            assert [k async for k in raw.scan_iter(match=f"{fleet}:cache:llm:*")] != []
        finally:
            await raw.aclose()
        await a.caches["llm"].flush()  # announced on fleet:db0:control only
        await until(lambda: link_of(ro).refused == 1)
        assert b.caches["llm"].stats()["size"] == 1  # another database: untouched
        assert ro.caches["llm"].stats()["size"] == 1  # read-only: refused, counted


async def test_heartbeats_list_every_engine_with_identity_and_rates(
    redis_server: RedisServer,
) -> None:
    fleet = unique_fleet()
    url = db_url(redis_server, 0)
    async with (
        fleet_engine(url, fleet, host="host-a") as a,
        fleet_engine(url, fleet, host="host-b") as b,
    ):
        reader = FleetReader.from_url(url, fleet)
        try:
            await until(lambda: heartbeat_of(a).sent >= 2 and heartbeat_of(b).sent >= 2)
            engines = await reader.read()
            assert {(e.id, e.host) for e in engines} == {(a.id, "host-a"), (b.id, "host-b")}
            for _ in range(20):
                await a.run(a.caches["llm"], "same")
            sent = heartbeat_of(a).sent
            await until(lambda: heartbeat_of(a).sent >= sent + 2)
            rows = {e.id: e for e in await reader.read()}
            assert rows[a.id].stats["caches"]["llm"]["hits"] == 19
            assert all(v >= 0 for e in rows.values() for v in e.rates.values())
            assert not rows[a.id].stale
        finally:
            await reader.close()
    async with fleet_engine(url, fleet) as c:  # a and b left: only c is listed
        reader = FleetReader.from_url(url, fleet)
        try:
            await until(lambda: heartbeat_of(c).sent >= 1)
            assert [e.id for e in await reader.read()] == [c.id]
        finally:
            await reader.close()


async def test_a_fleet_command_reports_per_engine(redis_server: RedisServer) -> None:
    fleet = unique_fleet()
    url = db_url(redis_server, 0)
    async with (
        fleet_engine(url, fleet, host="h1") as a,
        fleet_engine(url, fleet, host="h2") as b,
        fleet_engine(url, fleet, host="h3", read_only=True) as ro,
        fleet_engine(db_url(redis_server, 1), fleet, host="h4") as other_db,
    ):
        sender = FleetSender.from_url(url, fleet)
        try:
            for e in (a, b, ro):
                await asyncio.wait_for(link_of(e).subscribed.wait(), 10)
            await until(lambda: all(heartbeat_of(e).sent for e in (a, b, ro, other_db)))
            report = await sender.send("cache.set_ttl", {"name": "llm", "ttl": 7})
            assert not report.ok
            assert sorted(report.applied) == sorted([a.id, b.id])
            assert report.answers[ro.id]["status"] == "read_only"
            assert report.summary().startswith("applied on 2 of 3")
            assert f"h3 pid {ro.pid}: read_only" in report.summary()
            assert a.caches["llm"].ttl == b.caches["llm"].ttl == 7
            assert ro.caches["llm"].ttl == 60 and other_db.caches["llm"].ttl == 60
            assert report.answers[a.id]["before"] == 60 and report.answers[a.id]["after"] == 7

            # The same value again: done everywhere it can be, audited as unchanged.
            again = await sender.send(
                "cache.set_ttl", {"name": "llm", "ttl": 7}, targets=[a.id, b.id]
            )
            assert again.ok and sorted(again.applied) == sorted([a.id, b.id])
            assert {x["status"] for x in again.answers.values()} == {"unchanged"}
            assert again.summary() == "applied on 2 of 2 (2 already so: unchanged)"
            assert a.fleet.audit.recent()[-1]["result"] == "unchanged"

            missing = await sender.send("cache.flush", {"name": "nope"}, sticky=False)
            assert {x["status"] for x in missing.answers.values()} == {"not_found", "read_only"}
        finally:
            await sender.close()


async def test_overrides_stick_for_new_engines_and_can_be_dropped(
    redis_server: RedisServer,
) -> None:
    fleet = unique_fleet()
    url = db_url(redis_server, 0)
    sender = FleetSender.from_url(url, fleet)
    try:
        async with fleet_engine(url, fleet) as a:
            await asyncio.wait_for(link_of(a).subscribed.wait(), 10)
            await until(lambda: heartbeat_of(a).sent >= 1)
            report = await sender.send("cache.set_ttl", {"name": "llm", "ttl": 9})
            assert report.ok, report.summary()
            assert a.caches["llm"].describe()["sources"]["ttl"] == "fleet"
            # A new engine whose config says 300: the fleet's 9 before its first request.
            async with fleet_engine(url, fleet, caches={"llm": {"ttl": 300}}) as b:
                assert b.caches["llm"].ttl == 9
                assert b.caches["llm"].describe()["sources"] == {
                    "ttl": "fleet",
                    "max_size": "config",
                }
                late = Cache(Step(lambda d: d), name="llm2", ttl=5, max_size=10)
                b.add(late)
                assert late.describe()["sources"]["ttl"] == "config"
                await until(lambda: heartbeat_of(b).sent >= 1)
                dropped = await sender.drop_override("cache:llm:ttl")
                assert dropped.ok, dropped.summary()
                assert a.caches["llm"].ttl == 60 and b.caches["llm"].ttl == 300
                assert b.caches["llm"].describe()["sources"]["ttl"] == "config"
            assert await sender.overrides() == {}
    finally:
        await sender.close()


async def test_every_write_is_audited_here_and_in_the_fleet_stream(
    redis_server: RedisServer,
) -> None:
    fleet = unique_fleet()
    url = db_url(redis_server, 0)
    sender = FleetSender.from_url(url, fleet)
    client = aioredis.Redis.from_url(url)
    try:
        async with fleet_engine(url, fleet) as a:
            await asyncio.wait_for(link_of(a).subscribed.wait(), 10)
            await until(lambda: heartbeat_of(a).sent >= 1)
            await sender.send("cache.set_max_size", {"name": "llm", "max_size": 50})
            rec = a.fleet.audit.records[-1]
            assert (rec["scope"], rec["method"], rec["before"], rec["after"]) == (
                "fleet",
                "cache.set_max_size",
                100,
                50,
            )
            assert rec["actor"]["pid"] == os.getpid()
            assert rec["actor"]["user"] == pwd.getpwuid(os.getuid()).pw_name  # who, by name
            assert a.snapshot()["audit"][-1]["method"] == "cache.set_max_size"
            where = Scope(fleet, 0)
            await until(lambda: a.fleet.audit.total == 1)
            records: list[dict] = []

            async def both_in_stream() -> bool:
                records[:] = await read_stream(client, where)
                return len(records) >= 2

            for _ in range(100):
                if await both_in_stream():
                    break
                await asyncio.sleep(0.02)
            assert {r["engine"]["id"] if r["engine"] else None for r in records} == {a.id, None}
            summary = next(r for r in records if r["engine"] is None)
            assert summary["results"] == {a.id: "applied"}
    finally:
        await sender.close()
        await client.aclose()


async def test_engines_in_processes_a_stopped_one_does_not_answer(
    redis_server: RedisServer,
) -> None:
    fleet = unique_fleet()
    url = db_url(redis_server, 2)
    procs = [spawn_engine(url, fleet, f"host-{i}") for i in range(4)]
    sender = FleetSender.from_url(url, fleet)
    try:
        ids = [p.stdout.readline().strip() for p in procs if p.stdout is not None]
        assert len(set(ids)) == 4

        async def listed() -> int:
            return len(await sender.reader.read())

        for _ in range(200):
            if await listed() == 4:
                break
            await asyncio.sleep(0.05)
        assert {e.host for e in await sender.reader.read()} == {f"host-{i}" for i in range(4)}
        report = await sender.send("cache.set_ttl", {"name": "llm", "ttl": 11})
        assert report.ok, report.summary()
        os.kill(procs[3].pid, signal.SIGSTOP)
        report = await sender.send("router.pin", {"name": "llm", "route": None}, wait=1.0)
        assert f"host-3 pid {procs[3].pid} did not answer" in report.summary()
        rows = {e.pid: e for e in await sender.reader.read()}
        assert rows[procs[3].pid].stale and not rows[procs[0].pid].stale
        report = await sender.send("cache.flush", {"name": "llm"}, wait=1.0)
        assert len(report.applied) == 3 and not report.ok  # a flush on 3 of 4 is not done
        assert [e.pid for e in report.missing] == [procs[3].pid]
    finally:
        await sender.close()
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)
            p.terminate()
            p.wait(10)


def flowdeck(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowdeck.engine", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=str(ROOT),
    )


async def test_ls_and_ctl_through_redis(redis_server: RedisServer) -> None:
    fleet = unique_fleet()
    url = db_url(redis_server, 3)
    procs = [spawn_engine(url, fleet, "web-1"), spawn_engine(url, fleet, "web-2", read_only=True)]
    try:
        ids = [p.stdout.readline().strip() for p in procs if p.stdout is not None]
        reader = FleetReader.from_url(url, fleet)
        try:
            for _ in range(200):
                if len(await reader.read()) == 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            await reader.close()
        ls = await asyncio.to_thread(flowdeck, "ls", "--redis", url, "--fleet", fleet, "--json")
        assert ls.returncode == 0, ls.stderr
        assert sorted(r["id"] for r in json.loads(ls.stdout)) == sorted(ids)
        ctl = await asyncio.to_thread(
            flowdeck, "ctl", "--redis", url, "--fleet", fleet, "cache.set_ttl", "name=llm", "ttl=5"
        )
        assert ctl.returncode == 1  # one engine is read-only: not applied everywhere
        assert "applied on 1 of 2" in ctl.stderr and "read_only" in ctl.stderr
        one = await asyncio.to_thread(
            flowdeck, "ctl", "--redis", url, "--fleet", fleet, "--engine", "web-1",
            "cache.set_max_size", "name=llm", "max_size=7",
        )  # fmt: skip
        assert one.returncode == 0, one.stderr
        assert json.loads(one.stdout)["engines"][0]["after"] == 7
        same = await asyncio.to_thread(
            flowdeck, "ctl", "--redis", url, "--fleet", fleet, "--engine", "web-1",
            "cache.set_max_size", "name=llm", "max_size=7",
        )  # fmt: skip
        assert same.returncode == 0, same.stderr  # nothing to change is not a failure
        assert json.loads(same.stdout)["engines"][0]["status"] == "unchanged"
        audit = await asyncio.to_thread(
            flowdeck, "ctl", "--redis", url, "--fleet", fleet, "audit", "count=50"
        )
        methods = [r["method"] for r in json.loads(audit.stdout)]
        assert methods.count("cache.set_ttl") == 3  # two engines + the sender's summary
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


async def test_redis_restart_under_load_heartbeats_resume_and_commands_reach_all(
    redis_proc: RedisServer,
) -> None:
    fleet = unique_fleet()
    url = redis_proc.url
    async with (
        fleet_engine(url, fleet, host="h1") as a,
        fleet_engine(url, fleet, host="h2") as b,
    ):
        stop = asyncio.Event()
        errors: list[BaseException] = []
        served = 0

        async def load(eng: Engine) -> None:
            nonlocal served
            i = 0
            while not stop.is_set():
                try:
                    await eng.run(eng.caches["llm"], i % 50)
                    served += 1
                except BaseException as exc:  # a caller error is what must not happen
                    errors.append(exc)
                i += 1
                await asyncio.sleep(0)

        tasks = [asyncio.ensure_future(load(e)) for e in (a, b)]
        try:
            await until(lambda: heartbeat_of(a).sent >= 2 and heartbeat_of(b).sent >= 2)
            redis_proc.kill()
            await until(lambda: not link_of(a).up and not link_of(b).up)
            skipped = heartbeat_of(a).skipped
            await until(lambda: heartbeat_of(a).skipped > skipped)  # paused, not failing
            redis_proc.start()  # same port, empty: heartbeats must come back by themselves
            await until(lambda: link_of(a).up and link_of(b).up, within=20)
            sent = (heartbeat_of(a).sent, heartbeat_of(b).sent)
            await until(lambda: heartbeat_of(a).sent > sent[0] and heartbeat_of(b).sent > sent[1])
            await asyncio.wait_for(link_of(a).subscribed.wait(), 10)
            await asyncio.wait_for(link_of(b).subscribed.wait(), 10)
            sender = FleetSender.from_url(url, fleet)
            try:
                report = await sender.send("cache.set_ttl", {"name": "llm", "ttl": 3})
            finally:
                await sender.close()
            assert report.ok, report.summary()
            assert len(report.expected) == 2
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        assert errors == [] and served > 0
