"""ExitGuard: the panel process ends when it is told to, or when its terminal goes away.

Textual writes to the terminal through a writer thread with a bounded queue. When the
terminal disappears (a tmux server killed, an ssh session dropped without SIGHUP) that
thread dies on EIO, the queue fills, and the app's own shutdown blocks for ever on the
next write: ``q`` cannot be pressed and a SIGTERM handler that only asks the app to
exit never gets anywhere. So the guard:

- on SIGTERM / SIGHUP asks the app to exit like ``q`` (the embedded demo engine is
  closed and its private directory removed), and ends the process itself if that has
  not happened within ``grace`` seconds or if a second signal comes;
- watches the terminal for a hang-up in a thread blocked in ``poll`` (no wake-ups while
  the terminal is fine) and then ends the process at once, since there is nothing left
  to restore on a terminal that is gone.

Ending the process "itself" means removing the demo directory (the only thing the
panel leaves behind; the engines it watches just see a closed connection) and
``os._exit``.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

GRACE_S = 5.0
"""How long a signalled panel may take to exit cleanly before it is ended."""


class ExitGuard:
    """Signal handlers and a terminal hang-up watcher for one running app."""

    def __init__(
        self,
        app: Any,
        leftovers: Callable[[], Path | None],
        *,
        grace: float = GRACE_S,
    ) -> None:
        self.app = app
        self.leftovers = leftovers  # the demo directory to remove, if any
        self.grace = grace
        self._asked = False
        self._timer: threading.Timer | None = None

    def install(self) -> None:
        """Install the handlers (main thread only) and start the hang-up watcher."""
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        fd = terminal_fd()
        if fd is not None:
            threading.Thread(
                target=self._watch_terminal, args=(fd,), name="flowdeck-hangup", daemon=True
            ).start()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._asked:  # a second signal: the clean exit is stuck or too slow
            self.end_now(128 + signum)
        self._asked = True
        self._timer = threading.Timer(self.grace, self.end_now, args=(128 + signum,))
        self._timer.daemon = True
        self._timer.start()
        self.app.call_later(self.app.exit)

    def disarm(self) -> None:
        """The app has exited cleanly: the rest of the shutdown is not cut short."""
        if self._timer is not None:
            self._timer.cancel()

    def _watch_terminal(self, fd: int) -> None:
        poller = select.poll()
        poller.register(fd, 0)  # POLLHUP / POLLERR / POLLNVAL are always reported
        try:
            while True:
                if poller.poll():
                    break
        except OSError:
            pass
        self.end_now(128 + signal.SIGHUP)

    def end_now(self, code: int) -> None:
        """Remove what the panel would leave behind and end the process (any thread)."""
        leftover = self.leftovers()
        if leftover is not None:
            shutil.rmtree(leftover, ignore_errors=True)
        os._exit(code)


def terminal_fd() -> int | None:
    """The descriptor Textual draws on, if it is a terminal (nothing to watch otherwise)."""
    stream = sys.__stderr__
    if stream is None:
        return None
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return None
    return fd if os.isatty(fd) else None
