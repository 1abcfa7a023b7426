"""``flowdeck ctl [--engine SEL | --all | --socket PATH] METHOD [key=value ...]``.

One engine: its result as JSON (exit 1 on an error response, 2 when none is there).
Several live engines and no selector: list them and exit 2 instead of guessing.
``--all``: one record per engine, exit 1 if any failed.
``audit [count=N] [method=M]``: the engine's newest audit records (from its snapshot).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from flowdeck.engine.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    engine_table,
    explicit_socket,
    fail,
    print_json,
    seconds,
)
from flowdeck.engine.control import discovery as D
from flowdeck.engine.durations import seconds_of

PROG = "flowdeck ctl"
AUDIT = "audit"
"""Not a wire method: the ``audit`` records of the engine's snapshot, newest last."""


def audit_params(params: dict[str, Any]) -> tuple[int, str | None]:
    """``count`` (1-1000, default 50) and an optional ``method``; ValueError names the bad one."""
    unknown = set(params) - {"count", "method"}
    if unknown:
        raise ValueError(f"audit takes count=N and method=M, not {', '.join(sorted(unknown))}")
    count = params.get("count", 50)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise ValueError(f"count must be a whole number from 1 to 1000, got {count!r}")
    method = params.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError(f"method must be a method name, got {method!r}")
    return count, method


def audit_of(snapshot: Any, count: int, method: str | None) -> list[Any]:
    records = snapshot.get("audit") if isinstance(snapshot, dict) else None
    out = [
        r
        for r in records or []
        if method is None or (isinstance(r, dict) and r.get("method") == method)
    ]
    return out[-count:]


NAME_KEYS = frozenset(("name", "route", "provider", "method", "client", "key"))
"""Parameters that name something: ``key=value`` keeps their text (a cache named 123)."""


DURATION_KEYS = frozenset(("ttl", "seconds"))
"""Parameters in seconds: ``key=value`` also takes ``5m`` / ``2h`` / ``1d``, as the panel."""


def parse_value(text: str) -> Any:
    """A ``key=value`` value: JSON when it parses (30, 1.5, null, true, [..]), else a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_seconds(text: str) -> Any:
    """A duration value: as :func:`parse_value` reads it, and text with a unit as its
    seconds (``5m``: 300.0); other text stays text (the engine names what is wrong)."""
    parsed = parse_value(text)
    if isinstance(parsed, str):
        try:
            return seconds_of(text.strip().lower())
        except ValueError:
            pass
    return parsed


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs as params, the httpie way with one convenience.

    ``key:=value`` is JSON, always (``route:=null``, ``weights:='{"a": 1}'``);
    ``key=value`` is the text itself for a parameter that names something
    (:data:`NAME_KEYS`: ``name=123`` is the cache named "123"), and JSON when it parses
    for any other (``ttl=600``). A key given twice is an error, not last-wins.
    """
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or key == ":":
            raise ValueError(f"expected key=value or key:=json, got {pair!r}")
        if key.endswith(":"):
            key = key[:-1]
            try:
                parsed: Any = json.loads(value)
            except ValueError:
                raise ValueError(f"{key}:= needs a JSON value, got {value!r}") from None
        elif key in NAME_KEYS:
            parsed = value
        elif key in DURATION_KEYS:
            parsed = parse_seconds(value)
        else:
            parsed = parse_value(value)
        if key in params:
            raise ValueError(f"{key} is given twice ({params[key]!r} and {parsed!r})")
        params[key] = parsed
    return params


async def call_one(path: Path, method: str, params: dict[str, Any], wait: float) -> dict[str, Any]:
    """``{"ok": True, "result": ...}`` or ``{"ok": False, "error": code, "message": ...}``."""
    from flowdeck.engine.control import protocol as P
    from flowdeck.engine.control.client import ConnectionLost, ControlClient, ControlError

    wanted: tuple[int, str | None] | None = None
    if method == AUDIT:
        try:
            wanted = audit_params(params)
        except ValueError as exc:
            return {"ok": False, "error": "bad_params", "message": str(exc)}
        method, params = P.SNAPSHOT, {}
    try:
        client = await ControlClient.connect(path, timeout=wait)
    except ConnectionLost as exc:
        return {"ok": False, "error": "unavailable", "message": str(exc)}
    try:
        if method != P.HELLO:
            await client.call(P.HELLO, {"client": "ctl"}, timeout=wait)  # named in the audit
        result = await client.call(method, params, timeout=wait)
    except ControlError as exc:
        return {"ok": False, "error": exc.code, "message": exc.message}
    except ConnectionLost as exc:
        return {"ok": False, "error": "unavailable", "message": str(exc)}
    except TimeoutError:
        return {"ok": False, "error": "timeout", "message": f"no answer within {wait} s"}
    finally:
        await client.close()
    if wanted is not None:
        result = audit_of(result, *wanted)
    return {"ok": True, "result": result}


def _report_one(reply: dict[str, Any]) -> int:
    if reply["ok"]:
        print_json(reply["result"])
        return EXIT_OK
    if reply["error"] == "unavailable":
        return fail(PROG, reply["message"])
    return fail(PROG, f"error {reply['error']}: {reply['message']}", EXIT_ERROR)


async def _ctl_all(
    engines: list[D.LiveEngine], method: str, params: dict[str, Any], wait: float
) -> int:
    if not engines:
        return fail(PROG, f"no live engine on this host (looked in {D.runtime_dir()})")
    replies = await asyncio.gather(*(call_one(e.socket, method, params, wait) for e in engines))
    out = [
        {"name": e.name, "pid": e.pid, "id": e.id, "host": e.host, **r}
        for e, r in zip(engines, replies, strict=True)
    ]
    print_json(out)
    failed = [f"pid {o['pid']}: {o['error']}" for o in out if not o["ok"]]
    if failed:
        print(
            f"{PROG}: applied on {len(out) - len(failed)} of {len(out)}; " + "; ".join(failed),
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_OK


async def _ctl(args: argparse.Namespace, params: dict[str, Any]) -> int:
    path = explicit_socket(args.socket)
    if path is not None and args.engine is None and not args.all:
        return _report_one(await call_one(path, args.method, params, args.timeout))
    try:
        engines = await D.discover()
    except D.DiscoveryError as exc:
        return fail(PROG, str(exc))
    if args.all:
        return await _ctl_all(engines, args.method, params, args.timeout)
    if args.engine is not None:
        try:
            chosen = D.select(engines, args.engine)
        except D.SelectorError as exc:
            return fail(PROG, str(exc))
        return _report_one(await call_one(chosen.socket, args.method, params, args.timeout))
    if not engines:
        return fail(PROG, f"no live engine on this host (looked in {D.runtime_dir()})")
    if len(engines) > 1:
        print(engine_table(engines), file=sys.stderr)
        return fail(
            PROG,
            f"{len(engines)} live engines; choose one with --engine NAME|PID|ID or use --all",
        )
    return _report_one(await call_one(engines[0].socket, args.method, params, args.timeout))


def ctl_main(argv: list[str]) -> int:
    from flowdeck.engine.control import methods as M

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Call one control method of a running engine and print the result as JSON.",
        epilog=f"methods: {', '.join(M.METHODS)}, audit. key:=value is JSON (route:=null);"
        " key=value is text for name, route, provider, method, client, key, seconds for"
        " ttl and seconds (ttl=30, ttl=5m), and JSON when it parses for the rest, else"
        " text. A key given twice is an error."
        " Every host of a fleet instead: flowdeck ctl --redis URL [--fleet NAME] [--engine"
        " SEL] METHOD ..., an acknowledged fleet command (--redis URL --help says more).",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--socket", default=None, help="exactly this control socket")
    where.add_argument(
        "--engine", metavar="SEL", default=None, help="the live engine with this name, pid or id"
    )
    where.add_argument("--all", action="store_true", help="every live engine of this host")
    parser.add_argument("--timeout", type=seconds, default=5.0, help="seconds to wait (default 5)")
    parser.add_argument("method", help="e.g. snapshot, cache.set_ttl, router.pin")
    # default=[]: else argparse names key=value as a required argument when METHOD is missing
    parser.add_argument("params", nargs="*", metavar="key=value", default=[])
    args = parser.parse_args(argv)
    try:
        params = parse_params(args.params)
    except ValueError as exc:
        parser.error(str(exc))
    return asyncio.run(_ctl(args, params))
