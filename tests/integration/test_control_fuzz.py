"""Fuzzing the control socket: whatever one client sends, the engine keeps serving the others.

The engine runs on its own event loop in a thread; hypothesis drives plain blocking
sockets against it, and after every example a long-lived well-behaved client must still
get an answer.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowdeck.engine import Engine
from flowdeck.engine.control import methods
from flowdeck.engine.control import protocol as P
from tests.support.control import build_flows, control_settings


class ThreadedEngine:
    """A real engine serving its socket from an event loop in another thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.eng: Engine | None = None
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start()
            self.error = exc
            self.ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        eng = Engine(control_settings(self.path))
        self.flows = build_flows(eng)
        async with eng:
            self.eng = eng
            self.ready.set()
            await self._stop.wait()

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(20), "engine did not start"
        if self.error is not None:
            raise self.error

    def run(self, coro: Any) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(20)


class Rpc:
    """A blocking msgpack-RPC client that stays connected across examples."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(path))
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.msgid = 0

    def call(self, method: str, params: Any = None) -> Any:
        self.msgid += 1
        self.sock.sendall(msgpack.packb([0, self.msgid, method, params or {}]))
        while True:
            for msg in self.unpacker:
                if msg[0] == 1 and msg[1] == self.msgid:
                    assert msg[2] is None, msg[2]
                    return msg[3]
            data = self.sock.recv(1 << 16)
            assert data, "the well-behaved client was disconnected"
            self.unpacker.feed(data)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ThreadedEngine, Rpc]]:
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="fd-", dir="/tmp"))
    te = ThreadedEngine(d / "engine.sock")
    te.start()
    rpc = Rpc(te.path)
    yield te, rpc
    rpc.close()
    te.stop()
    shutil.rmtree(d, ignore_errors=True)


def send_and_collect(path: Path, payload: bytes) -> list[Any]:
    """Send ``payload`` as a misbehaving client; return what came back before EOF."""
    out: list[Any] = []
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            while True:
                data = s.recv(1 << 16)
                if not data:
                    break
                unpacker.feed(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
    out.extend(unpacker)
    return out


def check_answers(messages: list[Any]) -> None:
    """Everything the engine sent is a well-formed response with a stable error code,
    or a notification (a batch that subscribed may see a stats push before EOF)."""
    for msg in messages:
        if isinstance(msg, list) and len(msg) == 3 and msg[0] == P.NOTIFY:
            assert msg[1] in P.NOTIFICATIONS, msg
            continue
        assert isinstance(msg, list) and len(msg) == 4 and msg[0] == P.RESPONSE, msg
        error = msg[2]
        if error is not None:
            assert set(error) == {"code", "message"}
            assert error["code"] in P.ERROR_CODES


# ---- strategies ---------------------------------------------------------------------------
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=30,
)
PARAM_KEYS = ["name", "ttl", "max_size", "route", "provider", "keywords", "limit", "events"]
PARAM_KEYS += ["stats", "kinds", "since", "client", "protocol", "x"]
param_keys = st.sampled_from(PARAM_KEYS)
names = st.sampled_from(["llm", "tiers", "plain", "fan", "mem", "*", "p1", "fast", "a", ""])
params = st.one_of(
    st.dictionaries(param_keys, st.one_of(values, names), max_size=5),
    values,
)
method_names = st.one_of(st.sampled_from(methods.METHODS), st.text(max_size=20), values)
requests = st.builds(
    lambda t, i, m, p: [t, i, m, p],
    st.one_of(st.just(0), st.integers(-2, 3)),
    st.one_of(st.integers(0, (1 << 32) - 1), values),
    method_names,
    params,
)
messages = st.one_of(requests, values, st.lists(values, max_size=5))


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


# ---- tests --------------------------------------------------------------------------------
FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(payload=st.binary(max_size=2048))
def test_random_bytes(served: tuple[ThreadedEngine, Rpc], payload: bytes) -> None:
    te, rpc = served
    check_answers(send_and_collect(te.path, payload))
    assert rpc.call("hello")["name"] == "ctl-test"


@FUZZ
@given(batch=st.lists(messages, min_size=1, max_size=8))
def test_wrong_types_and_shapes(served: tuple[ThreadedEngine, Rpc], batch: list[Any]) -> None:
    te, rpc = served
    check_answers(send_and_collect(te.path, b"".join(_pack(m) for m in batch)))
    assert rpc.call("hello")["name"] == "ctl-test"


@FUZZ
@given(req=requests, cut=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_frames(served: tuple[ThreadedEngine, Rpc], req: list[Any], cut: float) -> None:
    te, rpc = served
    data = _pack(req)
    check_answers(send_and_collect(te.path, data[: int(len(data) * cut)]))
    assert rpc.call("hello")["name"] == "ctl-test"


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(["deep_array", "deep_map", "big_str", "big_bin", "big_array", "big_map"]),
    size=st.integers(2, 5),
)
def test_huge_and_deeply_nested(served: tuple[ThreadedEngine, Rpc], kind: str, size: int) -> None:
    te, rpc = served
    n = 10**size
    if kind == "deep_array":
        payload = b"\x94\x00\x01\xa5hello" + b"\x91" * n + b"\xc0"
    elif kind == "deep_map":
        payload = b"\x94\x00\x01\xa5hello" + b"\x81\xa1k" * n + b"\xc0"
    elif kind == "big_str":
        payload = _pack([0, 1, "hello", {"client": "x" * (300 * n)}])
    elif kind == "big_bin":
        payload = _pack([0, 1, "hello", {"client": b"x" * (n * 3)}])
    elif kind == "big_array":
        payload = _pack([0, 1, "memory.search", {"name": "mem", "keywords": ["k"] * n}])
    else:
        payload = _pack([0, 1, "hello", {f"k{i}": i for i in range(n)}])
    answers = send_and_collect(te.path, payload)
    check_answers(answers)
    for msg in answers:
        assert msg[2] is not None  # never a success for these
    assert rpc.call("hello")["name"] == "ctl-test"


def test_frame_limit_closes_only_that_connection(served: tuple[ThreadedEngine, Rpc]) -> None:
    te, rpc = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(te.path))
        # A str header announcing 4 MiB, then data: the buffer limit trips at 1 MiB.
        try:
            s.sendall(b"\xdb" + (4 << 20).to_bytes(4, "big") + b"x" * (2 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            assert s.recv(1 << 16) == b""
        except ConnectionResetError:
            pass
    assert rpc.call("hello")["name"] == "ctl-test"


def test_engine_workload_and_clients_survive_the_fuzzing(
    served: tuple[ThreadedEngine, Rpc],
) -> None:
    te, rpc = served

    async def work() -> int:
        assert te.eng is not None
        for i in range(50):
            await te.eng.run(te.flows["plain"], i)
        return te.eng.runs

    assert te.run(work()) >= 50
    snap = rpc.call("snapshot")
    assert snap["routers"]["plain"]["stats"]["total"] >= 50
    assert te.eng is not None and te.eng.control.serving
