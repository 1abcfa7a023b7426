"""Stable cache keys: order-insensitive, type-aware, the same in every process."""

from __future__ import annotations

import os
import subprocess
import sys
from enum import IntEnum, StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowdeck.engine.stores.keys import canonical, digest, digest_of_local, local_key
from tests.support import ROOT

SAMPLES = [
    "What is a primitive?",
    {"a": 1, "b": 2},
    {"prompt": "hi", "user": "ann"},
    {"prompt": "hi"},
    {"n": {"x": [1, 2.5, None, True], "y": {"z": b"\x00"}}, "m": (1, 2)},
    [1, "two", 3.0],
    2**70,
]
CHAT_SAMPLES = [
    {"messages": [{"role": "user", "content": "hi"}, {}], "model": "m", "t": 0.2},
    {"stop": ["\n", "END"], "prompt": "hi"},
]


def test_dict_key_order_does_not_matter() -> None:
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    nested_1 = {"outer": {"a": [1, {"p": 1, "q": 2}], "b": None}, "c": "x"}
    nested_2 = {"c": "x", "outer": {"b": None, "a": [1, {"q": 2, "p": 1}]}}
    assert digest(nested_1) == digest(nested_2)


def test_digest_is_32_hex_characters() -> None:
    d = digest("hello")
    assert len(d) == 32
    int(d, 16)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        (None, False),
        ("1", 1),
        ("a", b"a"),
        ({"a": 1}, {"a": "1"}),
        ({"a": 1}, {"a": True}),
        ([1, 2], [2, 1]),
        ({"a": [1]}, {"a": 1}),
        ("", None),
        ({}, []),
        ({"m": [{"a": "1"}]}, {"m": ["a"]}),
        ({"m": [{"a": "1"}]}, {"m": [{"a": "1"}, {}]}),
        ({"m": []}, {"m": ""}),
        ({"m": ["a", "b"]}, {"m": ["b", "a"]}),
        ({"m": [{"a": "1"}]}, {"m": [{"a": 1}]}),
    ],
)
def test_values_that_differ_get_different_keys(x: object, y: object) -> None:
    assert digest(x) != digest(y)
    assert local_key(x) != local_key(y)


def test_tuples_and_lists_are_the_same_sequence() -> None:
    assert digest((1, 2)) == digest([1, 2])


def test_sets_are_order_insensitive() -> None:
    assert digest({"tags": {"b", "a", "c"}}) == digest({"tags": {"c", "a", "b"}})
    assert digest({1, "a"}) == digest({"a", 1})
    assert digest({1, 2}) != digest([1, 2])


def test_mixed_type_dict_keys_are_canonical() -> None:
    assert digest({1: "a", "1": "b"}) == digest({"1": "b", 1: "a"})


def test_enum_and_subclasses_encode_as_their_value() -> None:
    class Tier(StrEnum):
        FAST = "fast"

    class Level(IntEnum):
        HIGH = 3

    assert digest({"tier": Tier.FAST}) == digest({"tier": "fast"})
    assert digest([Level.HIGH]) == digest([3])


def test_objects_without_a_canonical_form_are_rejected_clearly() -> None:
    class Thing:
        pass

    with pytest.raises(TypeError, match=r"cannot make a stable cache key from a .*Thing"):
        digest({"x": Thing()})
    with pytest.raises(TypeError, match="key="):
        local_key([object()])
    deep: list[object] = []
    cur = deep
    for _ in range(200):
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    with pytest.raises(TypeError, match="nested"):
        digest(deep)


@pytest.mark.parametrize("value", SAMPLES + CHAT_SAMPLES)
def test_local_key_maps_back_to_the_same_digest(value: object) -> None:
    assert digest_of_local(local_key(value)) == digest(value)


def test_common_inputs_use_cheap_local_keys() -> None:
    assert local_key("hi") == "hi"
    assert local_key({"prompt": "hi"}) == (("prompt", "hi"),)
    assert local_key({"b": "2", "a": "1"}) == (("a", "1"), ("b", "2"))
    assert local_key({"a": 1, "b": None}) == (("a", int, 1), ("b", type(None), None))
    assert isinstance(local_key({"a": [1]}), bytes)
    assert isinstance(local_key({1: "a"}), bytes)
    assert isinstance(local_key({}), bytes)
    chat = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    assert local_key(chat) == (
        ("messages", list, ((("content", "hi"), ("role", "user")),)),
        ("temperature", float, 0.2),
    )
    assert isinstance(local_key({"messages": [{"role": "user", "content": ["part"]}]}), bytes)


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(json_like)
def test_fast_paths_agree_with_the_canonical_encoding(value: object) -> None:
    from hashlib import blake2b

    expected = blake2b(canonical(value), digest_size=16).hexdigest()
    assert digest(value) == expected
    assert digest_of_local(local_key(value)) == expected


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_dict_order_never_matters(d: dict[str, object]) -> None:
    assert digest(dict(reversed(list(d.items())))) == digest(d)


def test_digests_are_the_same_in_another_process() -> None:
    """hash() is salted per process; the digest must not be."""
    script = (
        "import json, sys\n"
        "from flowdeck.engine.stores.keys import digest\n"
        "samples = [\n"
        "    'What is a primitive?', {'a': 1, 'b': 2}, {'prompt': 'hi', 'user': 'ann'},\n"
        "    {'prompt': 'hi'}, {'n': {'x': [1, 2.5, None, True], 'y': {'z': b'\\x00'}},\n"
        "    'm': (1, 2)}, [1, 'two', 3.0], 2**70,\n"
        "]\n"
        "print(json.dumps([digest(s) for s in samples]))\n"
    )
    mine = [digest(s) for s in SAMPLES]
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
            check=True,
        ).stdout
        import json

        assert json.loads(out) == mine
