"""How ``flowdeck ctl`` reads ``key=value`` (issue 12 item 15): names stay text, ``:=``
is JSON, a key given twice is an error. Real engine on a real socket, ctl in its own
process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowdeck.engine import Cache, Engine, Router, Step
from flowdeck.engine.cli.ctl import parse_params
from tests.support.control import control_settings, ctl


def test_names_stay_text_and_colon_equals_is_json() -> None:
    assert parse_params(["name=123", "ttl=30"]) == {"name": "123", "ttl": 30}
    assert parse_params(["route=null"]) == {"route": "null"}
    assert parse_params(["route:=null", "name:=7"]) == {"route": None, "name": 7}
    assert parse_params(['weights:={"a": 1}']) == {"weights": {"a": 1}}
    assert parse_params(['keywords=["a"]', "q=a=b"]) == {"keywords": ["a"], "q": "a=b"}
    assert parse_params(["method=cache.flush", "count=5"]) == {"method": "cache.flush", "count": 5}


def test_durations_take_the_panels_units() -> None:
    """ttl=5m as the panel's TTL box takes it (it was sent as the text '5m' and refused)."""
    assert parse_params(["ttl=5m", "seconds=1.5h"]) == {"ttl": 300.0, "seconds": 5400.0}
    assert parse_params(["ttl=90"]) == {"ttl": 90}
    assert parse_params(["ttl=soon"]) == {"ttl": "soon"}  # the engine names what is wrong


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["name=a", "name=b"], "name is given twice"),
        (["ttl=1", "ttl:=2"], "ttl is given twice"),
        (["ttl:=soon"], "ttl:= needs a JSON value"),
        ([":=1"], "expected key=value"),
        (["novalue"], "expected key=value"),
    ],
)
def test_bad_pairs_are_errors(pairs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_params(pairs)


async def test_a_cache_named_123_is_reachable_and_duplicates_exit_2(sock_path: Path) -> None:
    async with Engine(control_settings(sock_path)) as eng:
        eng.add(Cache(Step(str), name="123", ttl=60, max_size=10))
        eng.add(Router({"a": Step(str), "b": Step(str)}, select=lambda d: "a", name="r"))
        code, out, err = await ctl(sock_path, "cache.set_ttl", "name=123", "ttl=42")
        assert code == 0, err
        assert json.loads(out)["ttl"] == 42 and eng.caches["123"].ttl == 42

        code, out, err = await ctl(sock_path, "router.pin", "name=r", "route=a")
        assert code == 0 and json.loads(out)["pin"] == "a"
        code, out, err = await ctl(sock_path, "router.pin", "name=r", "route:=null")
        assert code == 0 and json.loads(out)["pin"] is None

        code, _, err = await ctl(sock_path, "cache.set_ttl", "name=123", "ttl=5", "ttl=6")
        assert code == 2 and "ttl is given twice (5 and 6)" in err
        assert eng.caches["123"].ttl == 42  # nothing was sent
