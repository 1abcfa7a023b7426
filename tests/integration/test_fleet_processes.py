"""Several workers on one host, as real processes: all start, ls / ctl see them all."""

from __future__ import annotations

import json
import os
import signal

from tests.support.fleet import Workers
from tests.support.waiting import until


def _pids(workers: Workers) -> set[int]:
    return {row["pid"] for row in workers.ls()}


async def test_three_workers_start_and_are_listed_and_controlled(workers: Workers) -> None:
    procs = [workers.start() for _ in range(3)]
    want = {p.pid for p in procs}
    await until(lambda: {s.name for s in workers.sockets()} >= {f"demo.{p}.sock" for p in want}, 60)
    rows = workers.ls()
    assert {r["pid"] for r in rows} == want
    assert len({r["id"] for r in rows}) == 3 and all(
        r["host"] and r["name"] == "demo" for r in rows
    )

    r = workers.cli("ctl", "hello")
    assert r.returncode == 2 and r.stdout == ""
    assert "3 live engines" in r.stderr and all(str(p) in r.stderr for p in want)

    r = workers.cli("ctl", "--all", "cache.set_ttl", "name=llm", "ttl=77")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {o["pid"] for o in out} == want
    assert all(o["ok"] and o["result"]["ttl"] == 77 for o in out)
    for pid in want:
        r = workers.cli("ctl", "--engine", str(pid), "snapshot")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["caches"]["llm"]["ttl"] == 77

    r = workers.cli("ctl", "--engine", "demo", "hello")
    assert r.returncode == 2 and "matches 3 engines" in r.stderr

    victim = procs[0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    stale = workers.socket_of(victim)
    assert stale.exists()  # SIGKILL: nobody removed it
    assert _pids(workers) == want - {victim.pid}
    assert not stale.exists()  # the listing removed our dead pid's file

    fourth = workers.start()
    await until(lambda: workers.socket_of(fourth).exists(), 60)
    assert _pids(workers) == want - {victim.pid} | {fourth.pid}

    r = workers.cli("ctl", "--all", "cache.set_ttl", "name=nope", "ttl=5")
    assert r.returncode == 1 and "applied on 0 of 3" in r.stderr


async def test_serve_workers_stops_every_child_on_sigterm(workers: Workers) -> None:
    parent = workers.start("--workers", "3")
    await until(lambda: len(workers.sockets()) == 3, 60)
    children = {row["pid"] for row in workers.ls()}
    assert len(children) == 3 and parent.pid not in children
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(30) == 0
    assert workers.sockets() == []  # every child closed its engine
    for pid in children:
        await until(lambda pid=pid: not _alive(pid), 10)


async def test_serve_removes_its_socket_on_sighup(workers: Workers) -> None:
    proc = workers.start()
    await until(lambda: workers.socket_of(proc).exists(), 60)
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(30) == 0
    assert not workers.socket_of(proc).exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
