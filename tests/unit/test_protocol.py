"""Protocol module: constants, params validation, event helpers, outgoing-value safety."""

from __future__ import annotations

import math
from pathlib import Path

import msgpack
import pytest

from flowdeck.engine import Engine
from flowdeck.engine.completion import Completion
from flowdeck.engine.control import methods, schema
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ControlClient
from flowdeck.engine.telemetry.events import EventKind
from tests.support import ROOT
from tests.support.control import control_settings

NAMES = {("caches", "llm"), ("routers", "r"), ("memories", "m"), ("providers", "p1")}


def exists(kind: str, name: str) -> bool:
    return (kind, name) in NAMES


def check(method: str, params: dict) -> dict:
    return methods.validate(method, params, exists)


def code_of(method: str, params: dict) -> str:
    with pytest.raises(P.ControlError) as info:
        check(method, params)
    return info.value.code


def test_constants() -> None:
    assert (P.REQUEST, P.RESPONSE, P.NOTIFY) == (0, 1, 2)
    assert len(set(methods.METHODS)) == len(methods.METHODS) >= 15  # unique names (others may add)
    assert {P.ROUTER_SET_WEIGHTS, P.ROUTER_RESTORE, P.PROVIDER_COOLDOWN} <= methods.WRITE_METHODS
    assert set(methods.METHODS) > methods.WRITE_METHODS
    assert set(P.ERROR_CODES) >= {
        "unknown_method", "bad_params", "not_found", "read_only", "bad_request",
        "too_many_requests", "internal",
    }  # fmt: skip


def test_event_kinds_are_declared_once_and_the_docs_table_is_derived() -> None:
    assert set(P.EVENT_FIELDS) == set(EventKind.ALL) == set(schema.EVENT_SPECS)
    assert EventKind.PARALLEL_RUN == "parallel.run"
    assert schema.EVENT_FIELDS["cache.hit"] == ("name", "layer", "key")
    doc = (ROOT / "docs" / "protocol.md").read_text()
    assert schema.events_table_md() in doc, "docs/protocol.md: paste schema.events_table_md()"


def test_events_decode_by_name() -> None:
    ev = schema.decode([9, 1.0, "parallel.run", "fan", 3, 0.5, "ok", 2])
    assert (ev.name, ev.run_id, ev.wall_s, ev.status, ev.branch_count) == ("fan", 3, 0.5, "ok", 2)
    assert schema.decode([9, 1.0, "parallel.run", "fan"]) is None  # wrong arity
    assert schema.decode([9, 1.0, "future.kind", "x"]) is None
    assert schema.field_index("provider.call", "cost") == 8


def test_event_dict() -> None:
    ev = [5, 1.5, "route", "tiers", "fast", "select", 0.01]
    assert P.event_dict(ev) == {
        "seq": 5, "ts": 1.5, "kind": "route", "name": "tiers", "route": "fast",
        "reason": "select", "latency_s": 0.01,
    }  # fmt: skip
    assert P.event_dict((1, 0.0, "future.kind", "x"))["f0"] == "x"


def test_parse_request() -> None:
    assert P.parse_request([0, 7, "hello", {}]) == (7, "hello", {})
    assert P.parse_request([0, 7, "hello"])[1] is P.MALFORMED
    for bad in ([], [1, 2, 3, 4], [0], [0, -1, "x", {}], [0, 1 << 32, "x", {}], "x", None,
                [0, "7", "x", {}], [0, True, "x", {}], [False, 1, "x", {}]):  # fmt: skip
        with pytest.raises(ValueError):
            P.parse_request(bad)


def test_check_method() -> None:
    assert methods.check_method("snapshot", None) == (methods.TABLE["snapshot"], {})
    assert methods.check_method("snapshot", []) == (methods.TABLE["snapshot"], {})
    cases: list[tuple[object, object, str]] = [
        (P.MALFORMED, None, P.BAD_REQUEST),
        (5, {}, P.BAD_REQUEST),
        ("nope", {}, P.UNKNOWN_METHOD),
        ("hello", [1], P.BAD_PARAMS),
        ("hello", "x", P.BAD_PARAMS),
    ]
    for method, params, code in cases:
        with pytest.raises(P.ControlError) as info:
            methods.check_method(method, params)
        assert info.value.code == code


def test_ttl_and_size_ranges() -> None:
    assert check("cache.set_ttl", {"name": "llm", "ttl": 1})["ttl"] == 1
    assert check("cache.set_ttl", {"name": "llm", "ttl": 0.001})["ttl"] == 0.001
    assert check("cache.set_ttl", {"name": "llm", "ttl": schema.MAX_TTL})["ttl"] == schema.MAX_TTL
    for ttl in (0, -1, math.inf, -math.inf, math.nan, True, False, "1", None, schema.MAX_TTL + 1):
        assert code_of("cache.set_ttl", {"name": "llm", "ttl": ttl}) == P.BAD_PARAMS
    assert check("cache.set_max_size", {"name": "llm", "max_size": 1})["max_size"] == 1
    for size in (0, -1, 2.0, True, "3", None, schema.MAX_SIZE + 1):
        assert code_of("cache.set_max_size", {"name": "llm", "max_size": size}) == P.BAD_PARAMS


def test_names_must_exist() -> None:
    assert code_of("cache.flush", {"name": "zz"}) == P.NOT_FOUND
    assert check("cache.flush", {"name": "*"}) == {"name": "*"}
    assert code_of("router.pin", {"name": "zz", "route": None}) == P.NOT_FOUND
    params = {"name": "r", "route": "a", "provider": "zz"}
    assert code_of("router.set_model", params) == P.NOT_FOUND
    assert code_of("memory.clear", {"name": "zz"}) == P.NOT_FOUND
    assert code_of("cache.flush", {"name": ""}) == P.BAD_PARAMS
    assert code_of("cache.flush", {"name": "x" * 300}) == P.BAD_PARAMS


def test_router_and_memory_params() -> None:
    assert check("router.pin", {"name": "r", "route": None}) == {"name": "r", "route": None}
    assert check("router.pin", {"name": "r", "route": "a"})["route"] == "a"
    assert code_of("router.pin", {"name": "r", "route": 1}) == P.BAD_PARAMS
    out = check("memory.search", {"name": "m", "keywords": "a  b"})
    assert out == {"name": "m", "keywords": ["a", "b"], "limit": schema.SEARCH_LIMIT_DEFAULT}
    assert check("memory.search", {"name": "m", "keywords": ["x"], "limit": 1000})["limit"] == 1000
    for limit in (0, 1001, 1.0, True, "5"):
        params = {"name": "m", "keywords": "x", "limit": limit}
        assert code_of("memory.search", params) == P.BAD_PARAMS


def test_subscribe_params() -> None:
    out = check("subscribe", {})
    assert out == {"events": True, "stats": True, "kinds": None, "since": None}
    out = check("subscribe", {"kinds": ["route"], "since": 3, "stats": False})
    assert out["kinds"] == frozenset({"route"}) and out["since"] == 3
    for params in ({"kinds": "route"}, {"kinds": ["nope"]}, {"since": -1}, {"stats": 1}):
        assert code_of("subscribe", params) == P.BAD_PARAMS


def test_outgoing_values_are_always_packable() -> None:
    class Odd:
        def __repr__(self) -> str:
            return "<odd>"

    value = {
        "big": 1 << 70,
        "set": {3, 1},
        "completion": Completion("t", "m", "p"),
        "exc": ValueError("boom"),
        "path": Path("/x"),
        "odd": Odd(),
        1: "int key",
    }
    fast = msgpack.unpackb(msgpack.packb(value, default=P.to_wire), strict_map_key=False)
    assert fast["big"] == str(1 << 70) and fast["exc"] == "ValueError: boom"
    clean = msgpack.unpackb(msgpack.packb(P.sanitize(value)), strict_map_key=False)
    assert clean["big"] == str(1 << 70)
    assert clean["set"] == [1, 3]
    assert clean["completion"]["text"] == "t"
    assert clean["exc"] == "ValueError: boom"
    assert clean["path"] == "/x" and clean["odd"] == "<odd>" and clean["1"] == "int key"


async def test_odd_event_fields_still_reach_subscribers(sock_path: Path) -> None:
    async with Engine(control_settings(sock_path)) as eng:
        c = await ControlClient.connect(sock_path)
        try:
            await c.subscribe(stats=False)
            eng.bus.emit2(EventKind.PROVIDER_ERROR, "p1", RuntimeError("x"))
            eng.bus.emit2(EventKind.REDIS, "down", 1 << 80)
            got = []
            async for method, params in c.notifications():
                if method == P.EVENTS:
                    got.extend(params["events"])
                    if len(got) >= 2:
                        break
            assert got[0][3:] == ["p1", "RuntimeError: x"]
            assert got[1][3:] == ["down", str(1 << 80)]
        finally:
            await c.close()


def test_the_method_table_drives_lists_and_docs() -> None:
    assert tuple(methods.TABLE) == methods.METHODS
    assert {n for n, m in methods.TABLE.items() if m.write} == methods.WRITE_METHODS
    doc = (ROOT / "docs" / "protocol.md").read_text()
    assert methods.methods_table_md() in doc, "docs/protocol.md: paste methods_table_md()"
    for name in methods.METHODS:
        assert f"`{name}`" in doc.split("## Methods", 1)[1].split("## Notifications", 1)[0]


def test_the_weight_limit_is_one_number_on_both_sides() -> None:
    """Primitives do not import the wire contract, so the Router keeps its own copy."""
    from flowdeck.engine.primitives.weights import MAX_WEIGHT

    assert MAX_WEIGHT == schema.MAX_WEIGHT
