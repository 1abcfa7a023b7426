"""Several workers on one host, as real processes: all start, ls / ctl see them all."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Callable

import pytest

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

    # The panel stops at a selector that picks nothing, as ctl does (it used to open the
    # embedded demo, simulated data, beside three live engines).
    r = workers.cli("--engine", "nosuch", module="flowdeck.panel")
    assert r.returncode == 2 and "--engine: no live engine matches 'nosuch'" in r.stderr
    assert all(str(p) in r.stderr for p in want)

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
        await until(_gone(pid), 10)


async def test_serve_workers_replaces_a_worker_that_dies(workers: Workers) -> None:
    parent = workers.start("--workers", "2")
    await until(lambda: len(workers.sockets()) == 2, 60)
    first = {row["pid"] for row in workers.ls()}
    victim = min(first)
    os.kill(victim, signal.SIGKILL)  # a crash: no clean exit

    def replaced() -> bool:
        live = {row["pid"] for row in workers.ls()}  # ls also removes the dead one's socket
        return len(live) == 2 and victim not in live

    await until(replaced, 60)
    now = {row["pid"] for row in workers.ls()}
    assert now - first  # a new worker serves
    assert parent.poll() is None
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(30) == 0  # a replaced crash does not fail the shutdown
    assert parent.stderr is not None
    err = parent.stderr.read()
    assert f"worker pid {victim} was killed by SIGKILL; restarting" in err, err
    assert workers.sockets() == []


async def test_serve_workers_no_restart_leaves_a_dead_worker_dead(workers: Workers) -> None:
    parent = workers.start("--workers", "2", "--no-restart")
    await until(lambda: len(workers.sockets()) == 2, 60)
    pids = sorted(row["pid"] for row in workers.ls())
    os.kill(pids[0], signal.SIGTERM)
    await until(lambda: _socket_pids(workers) == {pids[1]}, 60)
    os.kill(pids[1], signal.SIGKILL)
    assert parent.wait(30) == 1  # every worker gone: the parent ends, the crash counted
    assert parent.stderr is not None and "restarting" not in parent.stderr.read()


def _socket_pids(workers: Workers) -> set[int]:
    return {int(p.name.split(".")[-2]) for p in workers.sockets()}


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


def _gone(pid: int) -> Callable[[], bool]:
    return lambda: not _alive(pid)


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())
    except OSError:
        return None


def _runs_by_pid(text: str | None) -> dict[int, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text or ""):
        for s in fam.samples:
            if s.name == "flowdeck_runs_total":
                out[int(s.labels["pid"])] = s.value
    return out


async def test_workers_share_one_metrics_port(workers: Workers) -> None:
    pytest.importorskip("prometheus_client")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    procs = [workers.start("--metrics-port", str(port)) for _ in range(3)]
    want = {p.pid for p in procs}
    await until(lambda: len(workers.sockets()) == 3, 60)
    assert all(p.poll() is None for p in procs)  # all started, none crashed on the port
    await until(lambda: set(_runs_by_pid(_scrape(port))) == want, 30)
    text = _scrape(port)
    assert text is not None and text.count("flowdeck_engine_info{") == 3
    server = next(p for p in procs if _serves(p.pid, port))
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    rest = want - {server.pid}
    t0 = time.monotonic()
    await until(lambda: set(_runs_by_pid(_scrape(port))) == rest, 30)
    took = time.monotonic() - t0
    assert took < 5.0, f"no engine took the port over within 5 s ({took:.1f} s)"


def _serves(pid: int, port: int) -> bool:
    """Whether ``pid`` holds the listening socket of ``port`` (from /proc)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            if os.readlink(f"{fd_dir}/{fd}").removeprefix("socket:[").rstrip("]") in inodes:
                return True
    return False
