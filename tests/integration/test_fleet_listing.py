"""``ls --redis`` without redis-py: the small RESP client against a real redis-server
(password, ACL user, database, Unix socket), bounded against a server that is not Redis,
and the same engines as the redis-py reader the panel uses."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from flowdeck.engine.fleet.listing import read_fleet
from flowdeck.engine.fleet.reader import FleetReader
from flowdeck.engine.fleet.resp import MAX_BULK, RespClient, RespError
from tests.support import ROOT
from tests.support.redis_fleet import fleet_engine, heartbeat_of, unique_fleet
from tests.support.redis_server import RedisServer, redis_binary
from tests.support.waiting import until


def test_commands_replies_and_errors(redis_server: RedisServer) -> None:
    with RespClient.connect(f"redis://127.0.0.1:{redis_server.port}/5") as c:
        key = f"resp-{unique_fleet()}"
        assert c.call("SET", key, b"\x00bytes\r\n") == "OK"
        assert c.call("MGET", key, key + "-none") == [b"\x00bytes\r\n", None]
        assert c.call("ZADD", key + "-z", "1", "a", "2", "b") == 2
        assert c.call("ZREVRANGE", key + "-z", "0", "-1") == [b"b", b"a"]
        with pytest.raises(RespError, match="unknown command"):
            c.call("NOSUCHCOMMAND")
        assert b" db=5 " in c.call("CLIENT", "INFO")  # SELECT from the URL
        assert c.call("DEL", key, key + "-z") == 2


@pytest.fixture
def private_redis(sock_dir: Path) -> Iterator[RedisServer]:
    """A redis-server with a password, an ACL user and a Unix socket of its own."""
    path = sock_dir / "redis.sock"
    server = RedisServer(
        redis_binary(),
        ["--unixsocket", str(path), "--unixsocketperm", "700", "--requirepass", "s3cret-pw"],
    )
    server.start()
    with RespClient.connect(f"redis://:s3cret-pw@127.0.0.1:{server.port}/0") as c:
        c.call("ACL", "SETUSER", "lister", "on", ">lister-pw", "~*", "+@read", "+select")
    yield server
    server.stop()


def test_auth_acl_user_and_unix_socket(private_redis: RedisServer, sock_dir: Path) -> None:
    port = private_redis.port
    with (
        RespClient.connect(f"redis://127.0.0.1:{port}/0") as anon,
        pytest.raises(RespError, match=r"NOAUTH|Authentication required"),
    ):
        anon.call("GET", "x")
    with pytest.raises(RespError, match=r"WRONGPASS|invalid"):
        RespClient.connect(f"redis://:wrong@127.0.0.1:{port}/0")
    with RespClient.connect(f"redis://lister:lister-pw@127.0.0.1:{port}/2") as c:
        assert c.call("GET", "x") is None
        with pytest.raises(RespError, match="NOPERM"):
            c.call("SET", "x", "1")  # the ACL says read only
    unix = f"unix://{sock_dir / 'redis.sock'}?db=1&password=s3cret-pw"
    with RespClient.connect(unix) as c:
        assert b" db=1 " in c.call("CLIENT", "INFO")


class NotRedis:
    """A TCP server that answers any command with ``reply`` (not Redis, or hostile)."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(self.reply)
            conn.recv(1024)  # hold the connection until the client gives up

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (b"$%d\r\n" % (MAX_BULK + 1), "over the limit"),
        (b"*%d\r\n" % 10_000_000, "over the limit"),
        (b"*1\r\n" * 10 + b":1\r\n", "nested too deep"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not a Redis reply"),
        (b"$abc\r\n", "not a Redis reply"),
        (b"x" * 70_000, "over 64 KiB"),
    ],
)
def test_a_server_that_is_not_redis_gets_a_clear_bounded_error(reply: bytes, problem: str) -> None:
    server = NotRedis(reply)
    try:
        with (
            RespClient.connect(f"redis://127.0.0.1:{server.port}/0") as c,
            pytest.raises(RespError, match=problem),
        ):
            c.call("ZREVRANGE", "flowdeck:engines", "0", "9")
    finally:
        server.close()


async def test_the_listing_matches_the_panels_reader(redis_server: RedisServer) -> None:
    fleet = unique_fleet()
    url = f"redis://127.0.0.1:{redis_server.port}/4"
    async with fleet_engine(url, fleet, host="h1") as a, fleet_engine(url, fleet, host="h2") as b:
        reader = FleetReader(Redis.from_url(url), fleet, db=4)
        try:
            await until(lambda: heartbeat_of(a).sent >= 1 and heartbeat_of(b).sent >= 1)
            panel_view = {e.id: (e.host, e.name, e.pid) for e in await reader.read()}
        finally:
            await reader.close()
        listed = {e.id: (e.host, e.name, e.pid) for e in read_fleet(url, fleet)}
        assert listed == panel_view and set(listed) == {a.id, b.id}


def test_ls_redis_imports_neither_redis_py_nor_asyncio(redis_server: RedisServer) -> None:
    script = (
        "import sys\n"
        "from flowdeck.engine.cli import main\n"
        f"code = main(['ls', '--redis', 'redis://127.0.0.1:{redis_server.port}/0', '--json'])\n"
        "print(sorted(m for m in ('redis', 'asyncio') if m in sys.modules), code)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, cwd=str(ROOT)
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("[] 0"), out.stdout


def test_ls_redis_says_what_is_wrong(redis_server: RedisServer) -> None:
    def ls(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowdeck.engine", "ls", "--redis", url],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=str(ROOT),
        )

    dead = ls("redis://:hunter2-secret@127.0.0.1:1/0")
    assert dead.returncode == 2 and "cannot read the fleet from Redis" in dead.stderr
    assert "hunter2" not in dead.stderr
    bad_db = ls(f"redis://127.0.0.1:{redis_server.port}/x")
    assert bad_db.returncode == 2 and "database must be a number" in bad_db.stderr
