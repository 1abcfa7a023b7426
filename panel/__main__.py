"""``panel``: the command line of the Flowdeck control panel."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from flowdeck.engine.control.protocol import default_socket_path
from flowdeck.panel.exit_guard import GRACE_S, ExitGuard


def refresh_seconds(text: str) -> float:
    """argparse type: a refresh interval from 0.1 to 10 seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= value <= 10.0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be from 0.1 to 10 seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="panel",
        description=(
            "Flowdeck control panel: attach to a running engine's control socket and watch"
            " and tune its caches, routers, parallel runs and memories live. With no engine"
            " on the default socket (and no --socket), it starts an embedded demo engine in"
            " the same process and says so on screen."
        ),
        epilog="Keys: press ? inside the panel for every key; ctrl+p opens the command palette.",
    )
    parser.add_argument(
        "--socket",
        metavar="PATH",
        default=None,
        help=f"control socket of the engine to attach to (default: {default_socket_path()},"
        " from $FLOWDECK_SOCKET or $XDG_RUNTIME_DIR). An explicit path never starts the"
        " embedded demo: the panel waits and retries until an engine listens there.",
    )
    parser.add_argument(
        "--engine",
        metavar="SEL",
        default=None,
        help="open this engine of the host directly: its name, pid or id prefix"
        " (without it: 1 live engine is opened, 2 or more show the Fleet view first)",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get("FLOWDECK_REDIS_URL") or None,
        help="the Fleet view of every engine on every host of that Redis (their heartbeats;"
        " actions are acknowledged fleet commands). Default: $FLOWDECK_REDIS_URL",
    )
    parser.add_argument(
        "--fleet",
        metavar="NAME",
        default=os.environ.get("FLOWDECK_FLEET") or "flowdeck",
        help="with --redis: the fleet name (default: $FLOWDECK_FLEET, else flowdeck)",
    )
    parser.add_argument(
        "--theme",
        metavar="NAME",
        default=None,
        help="colour theme: dark (default), light, high-contrast, any Textual theme, or a"
        " theme file of yours in ~/.config/flowdeck/themes/NAME.toml",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="watch only: flush, TTL, size, pin, re-map and clear are shown as unavailable"
        " and refused (also automatic when the engine itself is read-only)",
    )
    parser.add_argument(
        "--refresh",
        metavar="SECONDS",
        type=refresh_seconds,
        default=0.5,
        help="how often the screen repaints, 0.1 to 10 (default 0.5); data is applied as it"
        " arrives whatever this is. Change it live with + and -.",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="always start the embedded demo engine (ignore any engine on the socket)",
    )
    return parser


def exit_guard(app: Any, *, grace: float = GRACE_S) -> ExitGuard:
    """SIGTERM / SIGHUP end the app like ``q`` does, so the embedded demo engine is
    closed and its private socket directory removed (the default would kill at once);
    a stuck exit or a terminal that went away ends the process anyway."""

    def leftovers() -> Path | None:
        embedded = app.feed.embedded
        return None if embedded is None else embedded.directory

    guard = ExitGuard(app, leftovers, grace=grace)
    guard.install()
    return guard


def engine_problem(selector: str) -> str | None:
    """Why ``--engine SEL`` picks no live engine of this host (None: it picks one), so a
    mistyped name or pid stops here as it does for ``flowdeck ctl`` instead of opening
    the panel on something else."""
    import asyncio

    from flowdeck.engine.control import discovery as D

    try:
        D.select(asyncio.run(D.discover()), selector)
    except D.SelectorError as exc:
        return str(exc)
    except D.DiscoveryError:
        return None  # the panel says what it could not list, on screen
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``panel`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.redis:
        from flowdeck.panel.fleet.redis_feed import RedisFleetFeed

        problem = RedisFleetFeed.check(args.redis, args.fleet)
        if problem:
            parser.error(problem)
    if args.engine is not None and args.socket is None and not args.redis and not args.demo:
        problem = engine_problem(args.engine)
        if problem:
            parser.error(f"--engine: {problem}")
    from flowdeck.panel.app import FlowdeckApp

    app = FlowdeckApp(
        socket=args.socket,
        theme=args.theme,
        read_only=args.read_only,
        refresh=args.refresh,
        embed=True if args.demo else None,
        engine=args.engine,
        redis=args.redis,
        fleet=args.fleet,
    )
    guard = exit_guard(app)
    app.run()
    guard.disarm()
    return 0


if __name__ == "__main__":
    sys.exit(main())
