"""The engines of this host: socket naming in the runtime directory, and discovery.

Without an explicit ``socket`` setting, every engine binds ``<name>.<pid>.sock`` in the
runtime directory (``$XDG_RUNTIME_DIR/flowdeck/``, else ``/tmp/flowdeck-<uid>/``), so N
workers with identical settings all start. The directory is the host's registry:
:func:`discover` probes every socket in it at once (``hello`` with a short timeout),
skips stale files, and removes a stale file that is ours and whose pid is dead. It
never follows a symlink and refuses a directory that is not ours. The panel and the CLI
both use it, so "which engines run here" has one answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowdeck.engine.control.schema import Hello
from flowdeck.engine.control.security import not_ours
from flowdeck.engine.errors import FlowdeckError

SUFFIX = ".sock"
LEGACY_NAME = "engine.sock"
"""The single default path of earlier versions; still probed, never created by default."""
MAX_SLUG = 40
"""Characters of the engine name kept in a socket name (sun_path holds 107 bytes)."""
PROBE_TIMEOUT = 0.5
"""Seconds one socket may take to answer ``hello`` before it counts as not live."""
MAX_ENTRIES = 1024
"""Directory entries looked at per listing (a runtime dir is not a place for thousands)."""

_SLUG_BAD = re.compile(r"[^A-Za-z0-9_-]+")
_NAME_RE = re.compile(
    r"^(?P<slug>[A-Za-z0-9_-]+)\.(?P<pid>[0-9]{1,10})(?:\.(?P<n>[0-9]{1,4}))?\.sock$"
)


class DiscoveryError(FlowdeckError):
    """The runtime directory cannot be listed safely (not ours, not a directory)."""


class SelectorError(FlowdeckError):
    """``--engine SEL`` matched no live engine, or several."""


# ---- naming ------------------------------------------------------------------------------
def runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/flowdeck``, else ``/tmp/flowdeck-<uid>``: the host's registry."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "flowdeck"
    return Path(f"/tmp/flowdeck-{os.getuid()}")


def slug(name: str) -> str:
    """``name`` made safe for a file name: runs of other characters become ``_``."""
    return (_SLUG_BAD.sub("_", name).strip("_") or "engine")[:MAX_SLUG]


def socket_name(name: str, pid: int, n: int = 0) -> str:
    """``<slug>.<pid>.sock``; ``n`` > 0 for a second engine with that name in one process."""
    extra = f".{n}" if n else ""
    return f"{slug(name)}.{pid}{extra}{SUFFIX}"


def auto_socket_path(name: str, pid: int, n: int = 0, directory: Path | None = None) -> Path:
    return (directory or runtime_dir()) / socket_name(name, pid, n)


def parse_socket_name(filename: str) -> tuple[str, int] | None:
    """``(slug, pid)`` of a name :func:`socket_name` made, else None."""
    m = _NAME_RE.match(filename)
    if m is None:
        return None
    return m["slug"], int(m["pid"])


def socket_setting(settings: Any) -> str:
    """How the user set an explicit socket, in their own words (for "path taken" errors).

    ``--socket`` is said by the CLI itself (it knows); here: the environment variable
    when it holds this very path, else the ``socket`` setting (code or flowdeck.toml).
    """
    env = os.environ.get("FLOWDECK_SOCKET")
    if env and (settings.socket is None or Path(env) == settings.socket):
        return "FLOWDECK_SOCKET"
    return "the socket setting (EngineSettings(socket=...) / flowdeck.toml)"


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (ours or not: EPERM means it exists)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- discovery ---------------------------------------------------------------------------
@dataclass
class LiveEngine:
    """One engine that answered ``hello`` on its socket."""

    socket: Path
    hello: Hello = field(repr=False)

    @property
    def id(self) -> str:
        return str(self.hello.get("id") or "")

    @property
    def name(self) -> str:
        return str(self.hello.get("name") or "")

    @property
    def pid(self) -> int:
        pid = self.hello.get("pid")
        return pid if isinstance(pid, int) else 0

    @property
    def host(self) -> str:
        return str(self.hello.get("host") or "")

    @property
    def started_at(self) -> float:
        t = self.hello.get("started_at")
        return float(t) if isinstance(t, int | float) else 0.0

    def uptime(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.started_at)

    def label(self) -> str:
        """``name pid 4711`` — how messages name one engine of several."""
        return f"{self.name} pid {self.pid}"

    def row(self) -> dict[str, Any]:
        """The ``ls --json`` record."""
        return {
            "name": self.name,
            "host": self.host,
            "pid": self.pid,
            "id": self.id,
            "socket": str(self.socket),
            "started_at": self.started_at,
            "uptime": round(self.uptime(), 3),
            "version": self.hello.get("version"),
            "read_only": bool(self.hello.get("read_only")),
        }


def _owned_dir(directory: Path) -> bool:
    """False when it does not exist; raises DiscoveryError when it is not ours."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return False
    problem = not_ours(directory, st)
    if problem:
        raise DiscoveryError(f"{problem}; not listing it")
    return True


def candidates(directory: Path) -> list[Path]:
    """Socket files in ``directory`` (lstat: symlinks and other files are skipped)."""
    found = []
    with os.scandir(directory) as it:
        for i, entry in enumerate(it):
            if i >= MAX_ENTRIES:
                break
            if entry.name.startswith(".") or not entry.name.endswith(SUFFIX):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISSOCK(st.st_mode):
                found.append(Path(entry.path))
    return sorted(found)


async def probe_hello(path: Path, wait: float = PROBE_TIMEOUT) -> Hello | None:
    """The engine's ``hello`` on ``path``; None when nothing answers in time."""
    from flowdeck.engine.control.client import ControlClient

    try:
        async with asyncio.timeout(wait):
            client = await ControlClient.connect(path, wait)
            try:
                hello = await client.hello("discovery")
            finally:
                await client.close()
    except (OSError, TimeoutError, FlowdeckError):
        return None
    except Exception:  # a non-engine speaking something else: not an engine
        return None
    return hello if isinstance(hello, dict) else None


async def stats_frames(
    path: Path, count: int, wait: float, span: float | None = None
) -> list[dict[str, Any]]:
    """The first ``count`` ``stats`` notifications of the engine on ``path`` (a
    stats-only subscription: no events); fewer when it does not send them in time, or
    once ``span`` seconds of the engine's clock lie between the first and the last."""
    from flowdeck.engine.control.client import ControlClient

    frames: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):
        async with asyncio.timeout(wait):
            client = await ControlClient.connect(path, wait)
            try:
                await client.subscribe(events=False, stats=True)
                async for method, params in client.notifications():
                    if method == "stats" and isinstance(params, dict):
                        frames.append(params)
                        if len(frames) >= count or (span is not None and _span(frames) >= span):
                            break
            finally:
                await client.close()
    return frames


def _span(frames: list[dict[str, Any]]) -> float:
    t0, t1 = frames[0].get("time"), frames[-1].get("time")
    if isinstance(t0, int | float) and isinstance(t1, int | float):
        return float(t1) - float(t0)
    return 0.0


def remove_if_stale(path: Path) -> bool:
    """Unlink ``path`` when it is ours, named by :func:`socket_name`, and its pid is dead."""
    parsed = parse_socket_name(path.name)
    if parsed is None or pid_alive(parsed[1]):
        return False
    try:
        st = os.lstat(path)
        if st.st_uid != os.getuid() or not stat.S_ISSOCK(st.st_mode):
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


async def discover(
    directory: Path | None = None,
    *,
    wait: float = PROBE_TIMEOUT,
    clean: bool = True,
) -> list[LiveEngine]:
    """The live engines whose sockets are in ``directory`` (default: the runtime dir).

    Every socket is probed at once; the listing takes about the slowest answer, bounded
    by ``wait`` seconds. With ``clean``, stale files of dead pids (ours) are removed.
    """
    directory = runtime_dir() if directory is None else directory
    if not _owned_dir(directory):
        return []
    paths = candidates(directory)
    hellos = await asyncio.gather(*(probe_hello(p, wait) for p in paths))
    live = []
    for path, hello in zip(paths, hellos, strict=True):
        if hello is not None:
            live.append(LiveEngine(path, hello))
        elif clean:
            with contextlib.suppress(OSError):
                remove_if_stale(path)
    live.sort(key=lambda e: (e.name, e.pid, str(e.socket)))
    return live


def select(engines: list[LiveEngine], selector: str) -> LiveEngine:
    """The one engine ``selector`` names: exact name, pid, or a prefix of its id.

    No match or several matches raise SelectorError naming what is there.
    """
    sel = selector.strip()
    if not sel:
        raise SelectorError("empty --engine selector")
    matches = [e for e in engines if e.name == sel]
    if not matches and sel.isdigit():
        matches = [e for e in engines if e.pid == int(sel)]
    if not matches:
        matches = [e for e in engines if e.id.startswith(sel.lower())]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        there = ", ".join(e.label() for e in engines) or "none"
        raise SelectorError(f"no live engine matches {sel!r} (live: {there})")
    names = ", ".join(f"{e.label()} id {e.id[:8]}" for e in matches)
    raise SelectorError(f"{sel!r} matches {len(matches)} engines: {names}; use a pid or an id")
