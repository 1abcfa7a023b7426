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
        ("messages", dict, ("content", "hi", "role", "user")),
        ("temperature", float, 0.2),
    )
    mixed = {"messages": [{"role": "user", "content": "hi"}, "x", {"a": "1", "b": "2", "c": "3"}]}
    assert local_key(mixed) == (
        (
            "messages",
            list,
            ((("content", "hi"), ("role", "user")), "x", (("a", "1"), ("b", "2"), ("c", "3"))),
        ),
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


def _old_digest(value: object) -> str:
    """The digest path every key leaving the process used before local keys: the
    canonical msgpack encoding, BLAKE2b, 16 bytes."""
    from hashlib import blake2b

    return blake2b(canonical(value), digest_size=16).hexdigest()


def _chat(*pairs: tuple[str, str]) -> dict[str, object]:
    return {"messages": [{"role": r, "content": c} for r, c in pairs], "temperature": 0.2}


def test_chat_messages_key_is_one_flat_tuple() -> None:
    """A list of 2-key str dicts is one flat tuple of strs, tagged ``dict``."""
    key = local_key(_chat(("system", "be brief"), ("user", "hi")))
    assert key == (
        (
            "messages",
            dict,
            ("content", "be brief", "role", "system", "content", "hi", "role", "user"),
        ),
        ("temperature", float, 0.2),
    )
    assert isinstance(hash(key), int)
    assert local_key({"messages": []}) == (("messages", dict, ()),)


def test_chat_messages_equal_inputs_equal_keys() -> None:
    a = _chat(("system", "be brief"), ("user", "hi"))
    b = {  # other objects, other insertion order of every dict
        "temperature": 0.2,
        "messages": [{"content": "be brief", "role": "system"}, {"content": "hi", "role": "user"}],
    }
    assert a == b and a["messages"] is not b["messages"]
    assert local_key(a) == local_key(b)
    assert hash(local_key(a)) == hash(local_key(b))


@pytest.mark.parametrize(
    "other",
    [
        _chat(("user", "be brief"), ("system", "hi")),  # roles swapped between messages
        _chat(("user", "hi"), ("system", "be brief")),  # message order
        _chat(("system", "be brief")),  # fewer messages
        _chat(("system", "be brief"), ("user", "hi"), ("user", "hi")),
        # the same strs in the other shapes a list can take
        {
            "messages": ["content", "be brief", "role", "system", "content", "hi", "role", "user"],
            "temperature": 0.2,
        },
        {
            "messages": [
                ("content", "be brief", "role", "system", "content", "hi", "role", "user")
            ],
            "temperature": 0.2,
        },
        {
            "messages": ("content", "be brief", "role", "system", "content", "hi", "role", "user"),
            "temperature": 0.2,
        },
        {
            "messages": [
                {"content": "be brief", "role": "system", "x": "y"},
                {"content": "hi", "role": "user"},
            ],
            "temperature": 0.2,
        },
        {
            "messages": [{"content": "be brief", "role": "system"}, {"content": "hi"}],
            "temperature": 0.2,
        },
        {"messages": [{"content": "be brief", "role": "system"}, "hi"], "temperature": 0.2},
        {
            "messages": [{"content": "be brief", "role": "system"}, {"content": "hi", "role": 1}],
            "temperature": 0.2,
        },
        {
            "messages": [{"content": "be brief", "role": "system"}, {"content": "hi", 1: "user"}],
            "temperature": 0.2,
        },
        {
            "messages": [
                {"content": "be brief", "role": "system"},
                {"content": "hi", "role": "user"},
            ],
            "temperature": "0.2",
        },
        {
            "messages": [
                {"content": "be brief", "role": "system"},
                {"content": "hi", "role": "user"},
            ]
        },
        {
            "msgs": [{"content": "be brief", "role": "system"}, {"content": "hi", "role": "user"}],
            "temperature": 0.2,
        },
        # a top-level sequence spelling out the key's own items
        (("messages", "dict", ("content", "be brief", "role", "system")), ("temperature", 0.2)),
        "messages",
    ],
)
def test_chat_messages_different_inputs_different_keys(other: object) -> None:
    base = _chat(("system", "be brief"), ("user", "hi"))
    assert base != other
    assert local_key(other) != local_key(base)
    assert _old_digest(other) != _old_digest(base)
    assert digest_of_local(local_key(other)) == _old_digest(other)


@pytest.mark.parametrize(
    "value",
    [
        _chat(),
        _chat(("user", "hi")),
        _chat(("system", "be brief"), ("user", "hi"), ("assistant", "ok"), ("user", "and?")),
        {"messages": [{"content": "b", "a": "x"}, {"z": "1", "a": "2"}]},  # keys in either order
        {"messages": [{"role": "user", "content": "hi"}], "stop": ["\n"], "n": 2, "x": None},
        {"messages": [{"role": "user", "content": "hi"}] * 256},  # the bound: still a tuple
        {"messages": [{"role": "user", "content": "hi"}] * 257},  # over it: the digest path
    ],
)
def test_chat_messages_digest_is_the_old_digest(value: object) -> None:
    key = local_key(value)
    assert digest_of_local(key) == _old_digest(value) == digest(value)
    assert local_key(value) == key


def test_chat_messages_over_the_bound_take_the_digest_path() -> None:
    assert isinstance(local_key({"messages": [{"role": "user", "content": "hi"}] * 256}), tuple)
    assert isinstance(local_key({"messages": [{"role": "user", "content": "hi"}] * 257}), bytes)


_word = st.sampled_from(["a", "b", "role", "content", ""])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(_word, _word, min_size=1, max_size=3), max_size=4),
    st.lists(st.dictionaries(_word, _word, min_size=1, max_size=3), max_size=4),
)
def test_message_lists_keys_equal_exactly_when_inputs_are(
    x: list[dict[str, str]], y: list[dict[str, str]]
) -> None:
    a, b = {"messages": x}, {"messages": y}
    assert (local_key(a) == local_key(b)) == (canonical(a) == canonical(b))
    assert digest_of_local(local_key(a)) == _old_digest(a)
