"""Control socket security: a private directory, a socket that is 0600 from birth,
peer credentials (SO_PEERCRED), and a probe that tells a live engine from a stale file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import socket
import stat
import struct
from pathlib import Path

from flowdeck.engine.errors import FlowdeckError

_CRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}

LISTEN_BACKLOG = 1024
"""Pending connections the kernel queues (Redis and nginx use 511; the kernel caps it at
``net.core.somaxconn``). 128 turned a burst of 500 connects into EAGAIN."""


class ControlSocketError(FlowdeckError):
    """The control socket cannot be created safely (ownership, permissions, path)."""


def check_peer(uid: int, *, own_uid: int | None = None) -> bool:
    """Whether a peer with ``uid`` may use the socket: the engine's own uid, or root."""
    own = os.getuid() if own_uid is None else own_uid
    return uid == own or uid == 0


def peer_cred(sock: socket.socket) -> tuple[int, int] | None:
    """The peer's ``(pid, uid)`` from ``SO_PEERCRED`` (None where the platform lacks it)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, opt, _CRED.size)
    pid, uid, _gid = _CRED.unpack(raw)
    return pid, uid


def peer_uid(sock: socket.socket) -> int | None:
    """The peer's uid from ``SO_PEERCRED`` (None where the platform lacks it)."""
    cred = peer_cred(sock)
    return None if cred is None else cred[1]


def peer_uid_allowed(sock: socket.socket) -> bool:
    """SO_PEERCRED check of a connected Unix socket."""
    uid = peer_uid(sock)
    return uid is not None and check_peer(uid)


def not_ours(directory: Path, st: os.stat_result) -> str | None:
    """Why ``directory`` (lstat ``st``) is not a directory this process owns, or None."""
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        return f"socket directory {str(directory)!r} is not a real directory"
    if st.st_uid != os.getuid():
        return (
            f"socket directory {str(directory)!r} belongs to uid {st.st_uid}, not to this"
            f" process (uid {os.getuid()})"
        )
    return None


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` 0700, or check an existing one is ours and repair its mode."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)  # the umask can only remove bits
        except FileExistsError:
            pass
        st = os.lstat(directory)
    problem = not_ours(directory, st)
    if problem:
        raise ControlSocketError(f"{problem}; choose a socket path in a directory you own")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(directory, 0o700)


async def probe(path: Path, wait: float = 1.0) -> bool:
    """True when something accepts connections on ``path``; False for no file or stale."""
    try:
        _r, w = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), wait)
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    except TimeoutError:
        return True  # listening but its backlog is full: certainly alive
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise ControlSocketError(f"cannot probe control socket {str(path)!r}: {exc}") from exc
    w.close()
    with contextlib.suppress(Exception):
        await w.wait_closed()
    return True


def bind_private(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` that has mode 0600 from the moment it exists.

    It is bound under a temporary name inside the (0700) directory, chmod'ed, then
    hard-linked to ``path`` (``link`` never replaces an existing file) and the
    temporary name removed. No process-wide umask change, no chmod window at ``path``.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # The temporary name is no longer than the final one (sun_path holds 107 bytes).
        width = max(1, min(6, len(path.name) - 1))
        for _ in range(16):
            tmp = path.with_name("." + secrets.token_hex(3)[:width])
            try:
                sock.bind(str(tmp))
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        else:
            raise ControlSocketError(f"no free temporary name next to {str(path)!r}")
        try:
            os.chmod(tmp, 0o600)
            os.link(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
