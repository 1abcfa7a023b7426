"""``flowdeck ls --redis URL [--fleet NAME] [--json]``: every engine with a live heartbeat.

Kept apart from the fleet's ``ctl`` so that listing imports neither redis-py nor asyncio
(together ~120 ms of a ~200 ms command): a ``redis://`` or ``unix://`` URL is read with
the small blocking client of :mod:`~flowdeck.engine.fleet.resp` (ZREVRANGE + MGET);
other URLs (``rediss://``) go through redis-py as the panel does.
"""

from __future__ import annotations

import argparse
import sys

from flowdeck.engine.cli.common import EXIT_OK, EXIT_UNAVAILABLE, print_json
from flowdeck.engine.fleet.reader import FleetEngine, FleetReader
from flowdeck.engine.fleet.scope import DEFAULT_FLEET, Scope

TIMEOUT = 1.0  # seconds to connect and for each reply


def add_fleet_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", required=True, metavar="URL", help="the fleet's Redis")
    parser.add_argument("--fleet", default=DEFAULT_FLEET, help="fleet name (default flowdeck)")


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


def read_fleet(url: str, fleet: str) -> list[FleetEngine]:
    """One read of the fleet (raises OSError, ValueError or a Redis error)."""
    from flowdeck.engine.fleet import resp

    scope = Scope.of(fleet, url)
    if resp.supports(url):
        with resp.RespClient.connect(url, TIMEOUT) as client:
            return FleetReader(None, scope.fleet, db=scope.db).read_with(client.call)
    import asyncio

    from redis.exceptions import RedisError

    async def read() -> list[FleetEngine]:
        reader = FleetReader.from_url(url, fleet, timeout=TIMEOUT)
        try:
            return await reader.read()
        except RedisError as exc:
            raise ConnectionError(str(exc)) from exc
        finally:
            await reader.close()

    return asyncio.run(read())


def ls_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="flowdeck ls",
        description="List every engine of the fleet, on every host, from the heartbeats in"
        " its Redis: name, host, pid, id, uptime, req/s, hit rate and the heartbeat's age"
        " ('stale' once it is late).",
    )
    add_fleet_args(parser)
    parser.add_argument("--json", action="store_true", help="one JSON list")
    args = parser.parse_args(argv)
    from flowdeck.engine.fleet.resp import RespError

    try:
        engines = read_fleet(args.redis, args.fleet)
    except ValueError as exc:  # a bad fleet name or database in the URL
        print(f"flowdeck ls: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (OSError, RespError) as exc:
        print(f"flowdeck ls: cannot read the fleet from Redis: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.json:
        print_json([e.row() for e in engines])
    else:
        print(format_rows(engines))
    return EXIT_OK
