"""``flowdeck serve``: a headless engine with its control socket until SIGINT/SIGTERM/SIGHUP.

``--workers N`` runs N such engines as child processes of this one (see
:mod:`engine.cli.workers`), each with its own socket, the way a process manager would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

from flowdeck.engine.cli.common import EXIT_ERROR, EXIT_OK, EXIT_UNAVAILABLE

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Each stops the engine cleanly, so its socket file is removed (a closed terminal too)."""


def missing_keys(settings: Any) -> list[str]:
    """One line per provider whose ``api_key_env`` names an unset variable: its calls
    would go out without a key and fail, so say it at start rather than at the first call."""
    from flowdeck.engine.settings import HttpProviderSettings

    lines = []
    for name, p in settings.providers.items():
        if not isinstance(p, HttpProviderSettings):
            continue  # the simulator has no key
        if p.api_key_env and p.api_key is None and not os.environ.get(p.api_key_env):
            lines.append(
                f"providers.{name}: ${p.api_key_env} is not set; its calls are sent without "
                "an API key"
            )
    return lines


async def _serve(args: argparse.Namespace) -> int:
    from flowdeck.engine.engine import Engine
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.settings import EngineSettings

    overrides: dict[str, Any] = {"control": True}
    if args.config:
        overrides["config"] = args.config
    if args.socket:
        overrides["socket"] = args.socket
    if args.read_only:
        overrides["read_only"] = True
    if args.metrics_port:
        overrides["metrics_port"] = args.metrics_port
    try:
        if args.demo:
            from flowdeck.engine.demo import demo_settings

            settings = demo_settings(args.latency_scale, **overrides)
        else:
            settings = EngineSettings.load(**overrides)
    except (FlowdeckError, ValueError) as exc:
        print(f"flowdeck serve: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    for line in missing_keys(settings):
        print(f"flowdeck serve: warning: {line}", file=sys.stderr)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    eng = Engine(settings)
    if args.socket:
        eng.socket_setting = "--socket"
    try:
        await eng.start()
    except (FlowdeckError, OSError) as exc:
        print(f"flowdeck serve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        where = eng.control.path if eng.control is not None else "(no socket)"
        mode = " (read-only)" if settings.read_only else ""
        demo = " with the demo workload" if args.demo else ""
        print(
            f"flowdeck engine {eng.name!r} pid {eng.pid} serving on {where}{demo}{mode}",
            file=sys.stderr,
        )
        if args.demo:
            from flowdeck.engine.demo import run_demo

            await run_demo(eng, stop=stop, concurrency=args.concurrency)
        else:
            await stop.wait()
    finally:
        await eng.close()
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowdeck serve",
        description="Run a headless engine with its control socket until SIGINT/SIGTERM/SIGHUP."
        " Without --socket it binds <name>.<pid>.sock in the runtime directory.",
    )
    parser.add_argument("--config", default=None, help="TOML settings file")
    parser.add_argument("--socket", default=None, help="exactly this control socket path")
    parser.add_argument("--demo", action="store_true", help="run the demo workload")
    parser.add_argument("--read-only", action="store_true", help="refuse every write method")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve /metrics")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run N engines as child processes (Ctrl-C / SIGTERM stops them all)",
    )
    parser.add_argument(
        "--no-restart",
        action="store_true",
        help="with --workers: leave a worker that dies dead (default: start a new one)",
    )
    parser.add_argument(
        "--latency-scale", type=float, default=1.0, help="demo: multiply simulated latencies"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="demo: concurrent clients")
    return parser


def serve_main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error(f"--concurrency must be >= 1, got {args.concurrency}")
    if not 1 <= args.workers <= 64:
        parser.error(f"--workers must be from 1 to 64, got {args.workers}")
    if args.workers > 1:
        if args.socket:
            parser.error("--workers needs one socket per worker: leave out --socket")
        from flowdeck.engine.cli.workers import run_workers

        return run_workers(args.workers, worker_argv(argv), restart=not args.no_restart)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 130


def worker_argv(argv: list[str]) -> list[str]:
    """``argv`` without ``--workers N`` / ``--workers=N`` / ``--no-restart``: what each
    child runs."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--workers":
            skip = True
        elif not a.startswith("--workers=") and a != "--no-restart":
            out.append(a)
    return out
