"""``serve --workers N``: N engine processes under one parent, like a process manager.

The parent only supervises: it starts N ``flowdeck serve`` children (same arguments),
replaces one that dies (at once if it had run a while, else after a doubling backoff,
as gunicorn and systemd's ``Restart=`` do; ``--no-restart`` leaves it dead), forwards
SIGINT/SIGTERM/SIGHUP to them, SIGKILLs any that has not stopped after ``grace``
seconds, and exits when all are gone. Each child asks the kernel for SIGTERM
if the parent dies (PR_SET_PDEATHSIG), so even a SIGKILLed parent leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

PR_SET_PDEATHSIG = 1
GRACE = 10.0
"""Seconds the children get to close their engines before they are killed."""
STEADY = 10.0
"""A worker that ran this long before it died is replaced at once (no backoff)."""
MAX_BACKOFF = 30.0
"""The longest wait before a worker that keeps dying at start is tried again."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def failed(code: int) -> bool:
    """An exit that counts against the supervisor's own exit code (not a clean stop)."""
    return code not in (0, -signal.SIGTERM, 130)


def restart_delay(uptime: float, previous: float) -> float:
    """Seconds before a worker that died after ``uptime`` s is started again: at once if
    it had been running a while, else doubling from 1 s up to ``MAX_BACKOFF`` (a worker
    that crashes at start must not spin the host)."""
    if uptime >= STEADY:
        return 0.0
    return min(MAX_BACKOFF, max(1.0, previous * 2))


def run_workers(n: int, argv: list[str], grace: float = GRACE, restart: bool = True) -> int:
    cmd = [sys.executable, "-m", "flowdeck.engine", "serve", *argv]
    children: dict[int, tuple[subprocess.Popen[bytes], float]] = {}  # pid: (proc, started)
    due: list[float] = []  # monotonic times at which a replacement starts
    backoff = 0.0
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping and signum == signal.SIGINT:
            return  # a second Ctrl-C: the first one already asked
        stopping = True
        due.clear()
        for proc, _ in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        signal.setitimer(signal.ITIMER_REAL, grace)

    def kill_rest(_signum: int, _frame: FrameType | None) -> None:
        for proc, _ in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)

    def spawn() -> subprocess.Popen[bytes]:
        # Own process group: a terminal's Ctrl-C reaches the parent, which stops them;
        # preexec_fn because prctl must run in the child.
        proc = subprocess.Popen(cmd, preexec_fn=_die_with_parent, process_group=0)
        children[proc.pid] = (proc, time.monotonic())
        return proc

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    signal.signal(signal.SIGALRM, kill_rest)
    try:
        for _ in range(n):
            spawn()
    except BaseException:
        forward(signal.SIGTERM, None)
        raise
    pids = " ".join(str(p) for p in children)
    again = "restarted if they die" if restart else "not restarted"
    print(
        f"flowdeck serve: {n} workers, pids {pids} ({again}); Ctrl-C stops them all",
        file=sys.stderr,
    )
    worst = 0
    while children or due:
        if due and not stopping and time.monotonic() >= due[0]:
            due.pop(0)
            proc = spawn()
            print(f"flowdeck serve: started worker pid {proc.pid}", file=sys.stderr)
            continue
        try:
            # Blocking unless a replacement is waiting for its time (then 0.1 s steps).
            pid, status = os.waitpid(-1, os.WNOHANG if due else 0)
        except ChildProcessError:
            if not due:
                break
            pid = 0
        if pid == 0:
            time.sleep(0.1)
            continue
        if pid not in children:
            continue
        proc, started = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        if stopping:
            if failed(code):
                worst = max(worst, 1)
            continue
        if restart:
            backoff = restart_delay(time.monotonic() - started, backoff)
            due.append(time.monotonic() + backoff)
            due.sort()
            when = "now" if not backoff else f"in {backoff:g} s"
            print(f"flowdeck serve: worker pid {pid} {ended(code)}; restarting {when}",
                  file=sys.stderr)  # fmt: skip
        else:
            print(f"flowdeck serve: worker pid {pid} {ended(code)}", file=sys.stderr)
            if failed(code):
                worst = max(worst, 1)
    signal.setitimer(signal.ITIMER_REAL, 0)
    return worst


def ended(code: int) -> str:
    """How a worker ended, for the log: "exited (status 3)", "was killed by SIGKILL"
    (a negative exit code is the signal's number, which read as a cryptic "(-9)")."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited (status {code})"
