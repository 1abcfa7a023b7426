"""The socket file: permissions, peer credentials, live vs stale, removal on stop."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import msgpack
import pytest

from flowdeck.engine import Engine
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ControlClient
from flowdeck.engine.control.schema import Hello
from flowdeck.engine.control.security import (
    ControlSocketError,
    bind_private,
    check_peer,
    ensure_private_dir,
    peer_uid,
    peer_uid_allowed,
)
from flowdeck.engine.errors import EngineAlreadyRunning
from tests.support.control import control_settings

IS_ROOT = os.geteuid() == 0


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def hello(path: Path) -> Hello:
    c = await ControlClient.connect(path)
    try:
        return await c.hello()
    finally:
        await c.close()


def exists(path: Path) -> bool:
    return path.exists()


def write(path: Path, text: str) -> None:
    path.write_text(text)


def read(path: Path) -> str:
    return path.read_text()


async def test_directory_0700_and_socket_0600(sock_dir: Path) -> None:
    path = sock_dir / "sub" / "deeper" / "engine.sock"
    async with Engine(control_settings(path)):
        assert mode(path.parent) == 0o700
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert mode(path) == 0o600
        assert os.lstat(path).st_uid == os.getuid()
        assert [p.name for p in path.parent.iterdir()] == ["engine.sock"]  # no temp left
    assert not exists(path)


def test_bind_private_ignores_a_permissive_umask(sock_dir: Path) -> None:
    old = os.umask(0)
    try:
        sock = bind_private(sock_dir / "s.sock")
    finally:
        os.umask(old)
    try:
        assert mode(sock_dir / "s.sock") == 0o600
        assert sorted(p.name for p in sock_dir.iterdir()) == ["s.sock"]
    finally:
        sock.close()
    with pytest.raises(FileExistsError):  # link never replaces an existing file
        bind_private(sock_dir / "s.sock")


def test_existing_directory_of_ours_is_repaired(sock_dir: Path) -> None:
    d = sock_dir / "loose"
    d.mkdir()
    os.chmod(d, 0o755)
    ensure_private_dir(d)
    assert mode(d) == 0o700


@pytest.mark.skipif(not IS_ROOT, reason="needs root to chown a directory to another uid")
def test_directory_of_another_user_is_refused(sock_dir: Path) -> None:
    d = sock_dir / "theirs"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    with pytest.raises(ControlSocketError, match="belongs to uid 65534"):
        ensure_private_dir(d)
    assert os.lstat(d).st_uid == 65534


def test_symlinked_directory_is_refused(sock_dir: Path) -> None:
    real = sock_dir / "real"
    real.mkdir(mode=0o700)
    (sock_dir / "link").symlink_to(real)
    with pytest.raises(ControlSocketError, match="not a real directory"):
        ensure_private_dir(sock_dir / "link")


def test_peer_uid_check_as_a_function() -> None:
    assert check_peer(1000, own_uid=1000)
    assert not check_peer(1001, own_uid=1000)
    assert check_peer(0, own_uid=1000)  # root can read our memory anyway
    assert check_peer(os.getuid())
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert peer_uid(a) == os.getuid()
        assert peer_uid_allowed(a)


@pytest.mark.skipif(
    not IS_ROOT or shutil.which("python3") is None or not hasattr(os, "setuid"),
    reason="needs root to run a peer as another uid",
)
async def test_peer_of_another_uid_is_refused(sock_dir: Path) -> None:
    path = sock_dir / "engine.sock"
    async with Engine(control_settings(path)) as eng:
        # Loosen the file system on purpose: only the SO_PEERCRED check stands in the way.
        os.chmod(sock_dir, 0o711)
        os.chmod(path, 0o666)
        request = msgpack.packb([0, 1, "hello", {}]).hex()
        code = (
            "import socket\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            f"s.connect({str(path)!r})\n"
            "s.settimeout(5)\n"
            "try:\n"
            f"    s.sendall(bytes.fromhex({request!r}))\n"
            "    print(len(s.recv(65536)))\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    print(0)\n"
        )
        proc = await _run_as_nobody(code)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "0"  # closed without a single byte
        assert eng.control.refused == 1
        assert (await hello(path))["name"] == "ctl-test"  # we still get in


async def _run_as_nobody(code: str) -> subprocess.CompletedProcess[str]:
    import asyncio

    python = shutil.which("python3", path="/usr/bin:/bin") or "python3"
    return await asyncio.to_thread(
        subprocess.run,
        [python, "-c", code],
        user=65534,
        group=65534,
        capture_output=True,
        text=True,
        timeout=20,
        cwd="/",
    )


async def test_live_socket_is_never_replaced(sock_path: Path) -> None:
    async with Engine(control_settings(sock_path)) as first:
        inode = os.stat(sock_path).st_ino
        second = Engine(control_settings(sock_path, name="second"))
        with pytest.raises(EngineAlreadyRunning, match="already listening"):
            await second.start()
        await second.close()
        assert os.stat(sock_path).st_ino == inode
        c = await ControlClient.connect(sock_path)
        assert (await c.hello())["name"] == "ctl-test"
        assert (await c.hello())["pid"] == first.pid
        await c.close()
    assert not exists(sock_path)


async def test_stale_socket_is_replaced(sock_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # the file stays, nobody listens: ECONNREFUSED
    os.chmod(sock_path, 0o644)  # (inode numbers get reused at once, so mark it by mode)
    async with Engine(control_settings(sock_path)):
        assert mode(sock_path) == 0o600
        assert (await hello(sock_path))["name"] == "ctl-test"
    assert not exists(sock_path)


async def test_a_file_that_is_not_a_socket_is_left_alone(sock_path: Path) -> None:
    write(sock_path, "precious")
    eng = Engine(control_settings(sock_path))
    with pytest.raises(ControlSocketError, match="not a socket"):
        await eng.start()
    await eng.close()
    assert read(sock_path) == "precious"


async def test_stop_does_not_remove_a_successors_socket(sock_path: Path) -> None:
    eng = Engine(control_settings(sock_path))
    await eng.start()
    os.unlink(sock_path)
    successor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    successor.bind(str(sock_path))
    try:
        await eng.close()
        assert exists(sock_path)  # not ours any more: left in place
    finally:
        successor.close()


async def test_default_path_from_environment(
    sock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDECK_SOCKET", str(sock_path))
    assert P.default_socket_path() == sock_path
    async with Engine(control_settings(sock_path, socket=None)) as eng:
        assert eng.control.path == sock_path
        c = await ControlClient.connect()  # default path
        assert (await c.snapshot())["engine"]["socket"] == str(sock_path)
        await c.close()


def test_default_path_fallbacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert P.default_socket_path() == tmp_path / "flowdeck" / "engine.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert P.default_socket_path() == Path(f"/tmp/flowdeck-{os.getuid()}/engine.sock")


async def test_long_socket_path_near_the_limit(sock_dir: Path) -> None:
    # sun_path holds 107 bytes; the temporary name must not be longer than the final one.
    room = 107 - len(str(sock_dir)) - 1 - len("/e.sock")
    path = sock_dir / ("d" * room) / "e.sock"
    assert len(str(path)) == 107
    async with Engine(control_settings(path)):
        assert mode(path) == 0o600
        assert (await hello(path))["name"] == "ctl-test"
    too_long = sock_dir / ("d" * room) / "ee.sock"
    eng = Engine(control_settings(too_long))
    with pytest.raises(ControlSocketError, match="cannot create"):
        await eng.start()
    await eng.close()
