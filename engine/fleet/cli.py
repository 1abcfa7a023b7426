"""``ctl --redis URL``: acknowledged commands to the fleet of every host on one Redis
(``ls --redis`` lives in :mod:`~flowdeck.engine.fleet.listing`, without redis-py).

- ``ctl --redis URL [--fleet NAME] [--engine SEL] [--timeout S] METHOD key=value ...``
  sends an acknowledged fleet command (flush, set_ttl, set_max_size, pin, set_model,
  memory.clear) and prints every engine's answer; exit 0 only if every engine applied
  it (or found it so already: ``unchanged``). ``SEL`` is an id prefix, a pid, a host
  or a name (an ambiguous one is an error).
  Also ``override.drop key=cache:llm:ttl``, ``overrides`` and ``audit [count=N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from redis.exceptions import RedisError

from flowdeck.engine.cli.common import EXIT_ERROR, EXIT_OK, EXIT_UNAVAILABLE, print_json
from flowdeck.engine.errors import BadParams
from flowdeck.engine.fleet.audit import read_stream
from flowdeck.engine.fleet.listing import add_fleet_args
from flowdeck.engine.fleet.reader import FleetEngine
from flowdeck.engine.fleet.sender import DEFAULT_WAIT, FleetSender
from flowdeck.engine.fleet.writes import FLEET_METHODS


def select(engines: list[FleetEngine], sel: str) -> list[FleetEngine]:
    """Engines matching ``sel``: id prefix, pid, host or name; raises on none / ambiguity."""
    found = [
        e
        for e in engines
        if e.id.startswith(sel) or str(e.pid) == sel or e.host == sel or e.name == sel
    ]
    if not found:
        raise BadParams(f"no engine in the fleet matches {sel!r}")
    if len(found) > 1 and not all(e.host == sel or e.name == sel for e in found):
        names = ", ".join(f"{e.label} ({e.id[:8]})" for e in found)
        raise BadParams(f"{sel!r} is ambiguous: {names}")
    return found


async def _ctl(args: argparse.Namespace, params: dict[str, Any]) -> int:
    sender = FleetSender.from_url(args.redis, args.fleet, wait=args.timeout)
    try:
        return await _ctl_with(sender, args, params)
    except BadParams as exc:
        print(f"flowdeck ctl: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (RedisError, OSError) as exc:
        print(f"flowdeck ctl: Redis: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        await sender.close()


async def _ctl_with(sender: FleetSender, args: argparse.Namespace, params: dict[str, Any]) -> int:
    method = args.method
    if method == "audit":
        count = params.get("count", 100)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise BadParams(f"count must be a positive integer, got {count!r}")
        print_json(await read_stream(sender.client, sender.scope, count))
        return EXIT_OK
    if method == "overrides":
        print_json(await sender.overrides())
        return EXIT_OK
    targets = None
    if args.engine:
        targets = [e.id for e in select(await sender.reader.read(), args.engine)]
    t0 = time.perf_counter()
    if method == "override.drop":
        report = await sender.drop_override(params.get("key", ""), wait=args.timeout)
    elif method in FLEET_METHODS:
        report = await sender.send(method, params, targets=targets, wait=args.timeout)
    else:
        known = ", ".join((*FLEET_METHODS, "override.drop", "overrides", "audit"))
        raise BadParams(f"not a fleet method: {method!r} (fleet methods: {known})")
    out = report.to_json()
    out["elapsed"] = round(time.perf_counter() - t0, 4)
    print_json(out)
    print(f"flowdeck ctl: {report.summary()}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_ERROR


def ctl_main(argv: list[str], parse_params: Any) -> int:
    from flowdeck.engine.fleet.writes import FLEET_METHODS

    parser = argparse.ArgumentParser(
        prog="flowdeck ctl",
        description="Send an acknowledged command through the fleet's Redis to every engine"
        " of the fleet on every host (--engine SEL: an id prefix, pid, host or name) and"
        " print each engine's answer; exit 0 only if every engine applied it or had it so"
        " already (unchanged).",
        epilog=f"methods: {', '.join(FLEET_METHODS)}; override.drop key=cache:llm:ttl,"
        " overrides (the fleet-wide overrides in Redis), audit [count=N].",
    )
    add_fleet_args(parser)
    parser.add_argument(
        "--engine", default=None, metavar="SEL", help="id prefix, pid, host or name"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT,
        help=f"seconds to wait for answers (default {DEFAULT_WAIT})",
    )
    parser.add_argument("method")
    parser.add_argument("params", nargs="*", metavar="key=value", default=[])
    args = parser.parse_args(argv)
    if not 0 < args.timeout <= 60:
        parser.error(f"--timeout must be in (0, 60] seconds, got {args.timeout}")
    try:
        params = parse_params(args.params)
    except ValueError as exc:
        parser.error(str(exc))
    return asyncio.run(_ctl(args, params))
