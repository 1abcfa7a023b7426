"""``ls --redis URL`` and ``ctl --redis URL``: the fleet of every host on one Redis.

- ``ls --redis URL [--fleet NAME] [--json]`` lists engines with a live heartbeat
  (name, host, pid, id, uptime, req/s, hit rate, age; ``stale`` when late).
- ``ctl --redis URL [--fleet NAME] [--engine SEL] [--timeout S] METHOD key=value ...``
  sends an acknowledged fleet command (flush, set_ttl, set_max_size, pin, set_model,
  memory.clear) and prints every engine's answer; exit 0 only if every engine applied
  it. ``SEL`` is an id prefix, a pid, a host or a name (an ambiguous one is an error).
  Also ``override.drop key=cache:llm:ttl``, ``overrides`` and ``audit [count=N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from redis.exceptions import RedisError

from flowdeck.engine.cli.common import EXIT_ERROR, EXIT_OK, EXIT_UNAVAILABLE
from flowdeck.engine.errors import BadParams
from flowdeck.engine.fleet.audit import read_stream
from flowdeck.engine.fleet.reader import FleetEngine, FleetReader
from flowdeck.engine.fleet.scope import DEFAULT_FLEET
from flowdeck.engine.fleet.sender import DEFAULT_WAIT, FleetSender
from flowdeck.engine.fleet.writes import FLEET_METHODS


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", required=True, metavar="URL", help="the fleet's Redis")
    parser.add_argument("--fleet", default=DEFAULT_FLEET, help="fleet name (default flowdeck)")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=repr))


def format_rows(engines: list[FleetEngine]) -> str:
    cols = ("NAME", "HOST", "PID", "ID", "UPTIME", "REQ/S", "HIT")
    lines = ["{:<16} {:<20} {:>7} {:<16} {:>8} {:>8} {:>5}  AGE".format(*cols)]
    for e in engines:
        r = e.row()
        age = f"{r['age']:.1f}s" + (" stale" if r["stale"] else "")
        lines.append(
            f"{r['name'][:16]:<16} {r['host'][:20]:<20} {r['pid']:>7} {r['id']:<16} "
            f"{r['uptime']:>7.0f}s {r['req_s']:>8.1f} {r['hit_rate']:>5.0%}  {age}"
        )
    return "\n".join(lines)


async def _ls(args: argparse.Namespace) -> int:
    reader = FleetReader.from_url(args.redis, args.fleet)
    try:
        engines = await reader.read()
    except (RedisError, OSError) as exc:
        print(f"flowdeck ls: cannot read the fleet from Redis: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        await reader.close()
    if args.json:
        _print_json([e.row() for e in engines])
    else:
        print(format_rows(engines))
    return EXIT_OK


def ls_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="flowdeck ls --redis", description=__doc__)
    _common(parser)
    parser.add_argument("--json", action="store_true", help="one JSON list")
    return asyncio.run(_ls(parser.parse_args(argv)))


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
        _print_json(await read_stream(sender.client, sender.scope, count))
        return EXIT_OK
    if method == "overrides":
        _print_json(await sender.overrides())
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
    _print_json(out)
    print(f"flowdeck ctl: {report.summary()}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_ERROR


def ctl_main(argv: list[str], parse_params: Any) -> int:
    parser = argparse.ArgumentParser(prog="flowdeck ctl --redis", description=__doc__)
    _common(parser)
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
