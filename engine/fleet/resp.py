"""A small blocking Redis client for ``ls --redis``: one connection, RESP2, two reads.

Why not redis-py: importing it costs ~90 ms here, which alone would put ``flowdeck ls
--redis`` over its 100 ms budget; listing a fleet needs only ZREVRANGE and MGET. This
client speaks just enough RESP2 for that: AUTH (password or ACL user), SELECT, commands
with bulk-string arguments and replies of integers, strings, errors and arrays. Every
reply is bounded (bulk size, array length, nesting) so a wrong server or port cannot
make it allocate without limit. ``rediss://`` and anything else it does not know go to
the redis-py path instead (see :func:`supports`).
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flowdeck.engine.fleet.scope import redis_db

MAX_BULK = 4 << 20  # bytes of one string reply (a heartbeat is at most 1 MiB)
MAX_ITEMS = 100_000  # elements of one array reply
MAX_DEPTH = 4


class RespError(Exception):
    """The server answered with an error, or something that is not RESP2."""


def supports(url: str) -> bool:
    """True for the URLs this client handles: ``redis://`` and ``unix://``."""
    return urlsplit(url).scheme in ("redis", "unix")


class RespClient:
    """One blocking connection; ``call(*args)`` sends a command and returns its reply."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        # Received bytes and how far they are read: replies are sliced out by position,
        # so a large MGET costs one copy per value, not one of the whole rest per value.
        self._buf = bytearray()
        self._pos = 0

    @classmethod
    def connect(cls, url: str, timeout: float = 1.0) -> RespClient:
        """Connect, authenticate and select the URL's database (``OSError`` if it
        cannot connect, :class:`RespError` if the server refuses)."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(unquote(parts.path))
            except OSError:
                sock.close()
                raise
        elif parts.scheme == "redis":
            sock = socket.create_connection(
                (parts.hostname or "localhost", parts.port or 6379), timeout
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            raise ValueError(f"RespClient: unsupported URL scheme {parts.scheme!r}")
        client = cls(sock)
        try:
            password = (
                unquote(parts.password) if parts.password else query.get("password", [None])[0]
            )
            user = unquote(parts.username) if parts.username else None
            if password:
                client.call("AUTH", *([user] if user else []), password)
            db = redis_db(url)
            if db:
                client.call("SELECT", str(db))
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RespClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, *args: str | bytes) -> Any:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self._sock.sendall(b"".join(out))
        reply = self._reply(0)
        if isinstance(reply, RespError):
            raise reply
        return reply

    # ---- reading ---------------------------------------------------------------------
    def _fill(self) -> None:
        if self._pos:  # drop what was read before growing the buffer
            del self._buf[: self._pos]
            self._pos = 0
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            raise RespError("Redis closed the connection")
        self._buf += chunk

    def _line(self) -> bytes:
        while (end := self._buf.find(b"\r\n", self._pos)) < 0:
            if len(self._buf) - self._pos > 64 * 1024:
                raise RespError("not a Redis reply (a line over 64 KiB)")
            self._fill()
        line = bytes(self._buf[self._pos : end])
        self._pos = end + 2
        return line

    def _count(self, text: bytes, limit: int) -> int:
        try:
            n = int(text)
        except ValueError:
            raise RespError(f"not a Redis reply (length {text[:20]!r})") from None
        if n > limit:
            raise RespError(f"a Redis reply over the limit ({n} > {limit})")
        return n

    def _reply(self, depth: int) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return self._count(rest, 1 << 63)
        if kind == b"$":
            n = self._count(rest, MAX_BULK)
            if n < 0:
                return None
            while len(self._buf) - self._pos < n + 2:
                self._fill()
            data = bytes(self._buf[self._pos : self._pos + n])
            self._pos += n + 2
            return data
        if kind == b"*":
            n = self._count(rest, MAX_ITEMS)
            if n < 0:
                return None
            if depth >= MAX_DEPTH:
                raise RespError("a Redis reply nested too deep")
            return [self._reply(depth + 1) for _ in range(n)]
        raise RespError(f"not a Redis reply (starts {line[:20]!r})")
