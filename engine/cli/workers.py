"""``serve --workers N``: N engine processes under one parent, like a process manager.

The parent only supervises: it starts N ``flowdeck serve`` children (same arguments),
forwards SIGINT/SIGTERM/SIGHUP to them, SIGKILLs any that has not stopped after
``grace`` seconds, and exits when all are gone. Each child asks the kernel for SIGTERM
if the parent dies (PR_SET_PDEATHSIG), so even a SIGKILLed parent leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from types import FrameType

PR_SET_PDEATHSIG = 1
GRACE = 10.0
"""Seconds the children get to close their engines before they are killed."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run_workers(n: int, argv: list[str], grace: float = GRACE) -> int:
    cmd = [sys.executable, "-m", "flowdeck.engine", "serve", *argv]
    children: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping and signum == signal.SIGINT:
            return  # a second Ctrl-C: the first one already asked
        stopping = True
        for proc in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        signal.setitimer(signal.ITIMER_REAL, grace)

    def kill_rest(_signum: int, _frame: FrameType | None) -> None:
        for proc in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    signal.signal(signal.SIGALRM, kill_rest)
    try:
        for _ in range(n):
            # Own process group: a terminal's Ctrl-C reaches the parent, which stops them;
            # preexec_fn because prctl must run in the child.
            proc = subprocess.Popen(cmd, preexec_fn=_die_with_parent, process_group=0)
            children[proc.pid] = proc
    except BaseException:
        forward(signal.SIGTERM, None)
        raise
    pids = " ".join(str(p) for p in children)
    print(f"flowdeck serve: {n} workers, pids {pids}; Ctrl-C stops them all", file=sys.stderr)
    worst = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        proc = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        if not stopping:
            print(f"flowdeck serve: worker pid {pid} exited ({code})", file=sys.stderr)
        if code not in (0, -signal.SIGTERM, 130):
            worst = max(worst, 1)
    signal.setitimer(signal.ITIMER_REAL, 0)
    return worst
