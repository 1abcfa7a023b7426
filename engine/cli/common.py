"""What the commands share: exit codes, argparse types, JSON output, finding engines."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # discovery pulls in asyncio: `ls --redis` does without it
    from flowdeck.engine.control import discovery as D

EXIT_OK, EXIT_ERROR, EXIT_UNAVAILABLE = 0, 1, 2


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def json_default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.hex()
    return repr(obj)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=json_default))


def explicit_socket(given: str | None) -> Path | None:
    """``--socket``, else ``$FLOWDECK_SOCKET``: one path, no discovery."""
    if given:
        return Path(given)
    env = os.environ.get("FLOWDECK_SOCKET")
    return Path(env) if env else None


def fail(prog: str, message: str, code: int = EXIT_UNAVAILABLE) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return code


def format_uptime(s: float) -> str:
    s = int(s)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def engine_table(engines: list[D.LiveEngine], rates: dict[str, float] | None = None) -> str:
    """The human ``ls`` table (also what ``ctl`` prints when it will not guess)."""
    now = time.time()
    rows = [("NAME", "HOST", "PID", "ID", "UPTIME", "REQ/S", "SOCKET")]
    for e in engines:
        rate = (rates or {}).get(e.id)
        rows.append(
            (
                e.name,
                e.host,
                str(e.pid),
                e.id[:8],
                format_uptime(e.uptime(now)),
                "-" if rate is None else f"{rate:.1f}",
                str(e.socket),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
