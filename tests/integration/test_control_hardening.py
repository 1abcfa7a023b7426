"""Issue 12 regressions on the control socket: bounded messages, wrong types answered
``bad_params``, rate-limited error logs, a listen backlog that takes a burst of connects,
and a clear client error when the engine's queue is full."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import msgpack
import pytest

from flowdeck.engine import Cache, Engine, Step
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ConnectionLost, ControlClient
from flowdeck.engine.control.security import LISTEN_BACKLOG
from tests.support.control import RawConn, build_flows, control_settings


async def test_a_message_of_many_small_items_is_bounded(sock_path: Path) -> None:
    """Nested arrays, each within the per-array limit, add up past MAX_FRAME (16 MB in
    all): that connection is closed early; another client is served as before."""
    async with Engine(control_settings(sock_path)) as eng:
        build_flows(eng)
        raw = await RawConn.open(sock_path)
        inner = msgpack.packb([0] * 4000)
        head = b"\x94" + msgpack.packb(0) + msgpack.packb(1) + msgpack.packb("hello")
        sent = 0
        try:
            await raw.send_bytes(head + b"\xdc" + (4000).to_bytes(2, "big"))
            for _ in range(4000):  # [0, 1, "hello", [[0] * 4000] * 4000], never complete
                await raw.send_bytes(inner)
                sent += len(inner)
        except (ConnectionError, OSError):
            pass
        assert sent < 4 * P.MAX_FRAME  # 16 MB without the bound
        assert eng.control is not None and eng.control.disconnected == 1
        await raw.close()
        async with await ControlClient.connect(sock_path) as other:
            assert (await other.hello())["name"] == "ctl-test"


async def test_unhashable_kinds_and_long_string_keywords_are_bad_params(sock_path: Path) -> None:
    async with Engine(control_settings(sock_path)) as eng:
        build_flows(eng)
        raw = await RawConn.open(sock_path)
        await raw.send([0, 1, "subscribe", {"kinds": [["cache.hit"]]}])
        assert (await raw.response(1))[2]["code"] == P.BAD_PARAMS
        await raw.send([0, 2, "subscribe", {"kinds": [{"a": 1}]}])
        assert (await raw.response(2))[2]["code"] == P.BAD_PARAMS
        await raw.send([0, 3, "memory.search", {"name": "mem", "keywords": "x" * 300}])
        assert (await raw.response(3))[2]["code"] == P.BAD_PARAMS
        await raw.send([0, 4, "memory.search", {"name": "mem", "keywords": "short words"}])
        assert (await raw.response(4))[2] is None
        await raw.close()


async def test_repeated_failures_log_one_traceback_not_one_per_request(
    sock_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Cache):
        def flush(
            self, *, l2: bool = True, announce: bool = True
        ) -> Coroutine[Any, Any, dict[str, Any]]:
            raise RuntimeError("a bug in flush")  # at the call, not when awaited

    async with Engine(control_settings(sock_path)) as eng:
        eng.add(Broken(Step(lambda d: d), name="broken", ttl=5, max_size=5))
        caplog.set_level(logging.ERROR, logger="flowdeck.engine.control")
        async with await ControlClient.connect(sock_path) as client:
            for _ in range(200):
                with pytest.raises(P.ControlError) as info:
                    await client.call("cache.flush", {"name": "broken"})
                assert info.value.code == P.INTERNAL and "a bug in flush" in info.value.message
        logged = [r for r in caplog.records if "cache.flush" in r.getMessage()]
        assert len(logged) == 1 and logged[0].exc_info is not None


async def test_a_burst_of_connects_fits_the_listen_backlog(sock_path: Path) -> None:
    """500 connects before the engine accepts any (128 gave EAGAIN)."""
    assert LISTEN_BACKLOG >= 511
    async with Engine(control_settings(sock_path)) as eng:
        socks = []
        try:
            for _ in range(500):  # no await: the engine cannot accept in between
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setblocking(False)
                socks.append(s)
                s.connect(str(sock_path))  # raises BlockingIOError when the queue is full
        finally:
            for s in socks:
                s.close()
        assert eng.control is not None and eng.control.serving


async def test_a_full_queue_is_a_clear_client_error(tmp_path: Path) -> None:
    path = tmp_path / "full.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(0)  # never accepts
    fillers = []
    try:
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            fillers.append(s)
            try:
                s.connect(str(path))
            except BlockingIOError as exc:
                assert exc.errno == errno.EAGAIN
                break
        with pytest.raises(ConnectionLost) as info:
            await ControlClient.connect(path, timeout=0.3)
        text = str(info.value)
        assert "queue is full" in text and "Errno" not in text
    finally:
        for s in fillers:
            s.close()
        listener.close()
