"""Command line: ``flowdeck {serve,ctl,demo} ...``.

- ``serve [--config FILE] [--socket PATH] [--demo] [--read-only]`` runs a headless
  engine with its control socket until SIGINT / SIGTERM.
- ``ctl [--socket PATH] METHOD [key=value ...]`` calls one control method and prints
  the result as JSON (exit 1 on an error response, 2 when no engine is listening).
- ``demo ...`` runs the demo workload headless (see ``engine.demo``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_UNAVAILABLE = 0, 1, 2


# ---- ctl --------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """A ``key=value`` value: JSON when it parses (30, 1.5, null, true, [..]), else a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        params[key] = parse_value(value)
    return params


async def _ctl(path: str | None, method: str, params: dict[str, Any], wait: float) -> int:
    from flowdeck.engine.control.client import ConnectionLost, ControlClient, ControlError

    try:
        client = await ControlClient.connect(path, timeout=wait)
    except ConnectionLost as exc:
        print(f"flowdeck ctl: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        result = await client.call(method, params, timeout=wait)
    except ControlError as exc:
        print(f"flowdeck ctl: error {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except ConnectionLost as exc:
        print(f"flowdeck ctl: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except TimeoutError:
        print(f"flowdeck ctl: no answer within {wait} s", file=sys.stderr)
        return EXIT_ERROR
    finally:
        await client.close()
    print(json.dumps(result, indent=2, sort_keys=True, default=_json_default))
    return EXIT_OK


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.hex()
    return repr(obj)


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def ctl_main(argv: list[str]) -> int:
    from flowdeck.engine.control import protocol as P

    parser = argparse.ArgumentParser(
        prog="flowdeck ctl",
        description="Call one control method of a running engine and print the result as JSON.",
        epilog=f"methods: {', '.join(P.METHODS)}. Values are JSON when they parse"
        ' (ttl=30, route=null, keywords=\'["a","b"]\'), else strings.',
    )
    parser.add_argument("--socket", default=None, help="control socket (default: standard path)")
    parser.add_argument("--timeout", type=_seconds, default=5.0, help="seconds to wait (default 5)")
    parser.add_argument("method", help="e.g. snapshot, cache.set_ttl, router.pin")
    # default=[]: else argparse names key=value as a required argument when METHOD is missing
    parser.add_argument("params", nargs="*", metavar="key=value", default=[])
    args = parser.parse_args(argv)
    try:
        params = parse_params(args.params)
    except ValueError as exc:
        parser.error(str(exc))
    return asyncio.run(_ctl(args.socket, args.method, params, args.timeout))


# ---- serve ------------------------------------------------------------------------------
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
    for sig in (signal.SIGINT, signal.SIGTERM):
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
        print(f"flowdeck engine {eng.name!r} serving on {where}{demo}{mode}", file=sys.stderr)
        if args.demo:
            from flowdeck.engine.demo import run_demo

            await run_demo(eng, stop=stop, concurrency=args.concurrency)
        else:
            await stop.wait()
    finally:
        await eng.close()
    return EXIT_OK


def serve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="flowdeck serve",
        description="Run a headless engine with its control socket until SIGINT/SIGTERM.",
    )
    parser.add_argument("--config", default=None, help="TOML settings file")
    parser.add_argument("--socket", default=None, help="control socket path")
    parser.add_argument("--demo", action="store_true", help="run the demo workload")
    parser.add_argument("--read-only", action="store_true", help="refuse every write method")
    parser.add_argument("--metrics-port", type=int, default=None, help="serve /metrics")
    parser.add_argument(
        "--latency-scale", type=float, default=1.0, help="demo: multiply simulated latencies"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="demo: concurrent clients")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error(f"--concurrency must be >= 1, got {args.concurrency}")
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 130


# ---- entry ------------------------------------------------------------------------------
USAGE = """usage: flowdeck {serve,ctl,demo} ...

  serve [--config FILE] [--socket PATH] [--demo] [--read-only]   run a headless engine
  ctl [--socket PATH] METHOD [key=value ...]                     call one control method
  demo [--duration S] ...                                        run the demo workload
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return EXIT_OK if args else EXIT_UNAVAILABLE
    cmd, rest = args[0], args[1:]
    if cmd == "ctl":
        return ctl_main(rest)
    if cmd == "serve":
        return serve_main(rest)
    if cmd == "demo":
        try:
            from flowdeck.engine.demo import main as demo
        except ImportError as exc:
            print(f"flowdeck demo: the demo is not available ({exc})", file=sys.stderr)
            return EXIT_UNAVAILABLE
        return int(demo(rest) or 0)
    print(f"flowdeck: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr, end="")
    return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
