"""The C helper for chat keys (engine/stores/_chat_pairs.c) against its Python twin.

keys.py takes ``pairs`` from C where the extension was built and ``_pairs_py`` otherwise,
so the two must agree on every input: same tuple (same str objects, same order) or both
None. CI sets FLOWDECK_REQUIRE_C=1, so a build that silently fell back to Python fails
there instead of skipping.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flowdeck.engine.stores import keys
from tests.support.c_helpers import c_helper


def _c_pairs() -> Any:
    return c_helper("_chat_pairs").pairs


class _Str(str):
    pass


class _Dict(dict):
    pass


class _List(list):
    pass


_text = st.sampled_from(["role", "content", "a", "", "é", "\U0001f600", "role\x00"])
_atom = _text | st.builds(_Str, _text) | st.integers(0, 2) | st.none()
_message = st.dictionaries(_text | st.integers(0, 1), _atom, max_size=3) | st.builds(
    _Dict, st.dictionaries(_text, _text, min_size=2, max_size=2)
)
_shaped = st.lists(st.dictionaries(_text, _text, min_size=2, max_size=2), max_size=6)


@settings(max_examples=500, deadline=None)
@given(st.lists(_message | _text, max_size=6) | _shaped | st.builds(_List, _shaped))
def test_c_and_python_agree(items: list[Any]) -> None:
    c = _c_pairs()(items)
    py = keys._pairs_py(items)
    assert c == py
    if py is not None:
        assert all(x is y for x, y in zip(c, py, strict=True))  # the caller's own strs


def test_the_shapes_the_python_twin_turns_down() -> None:
    pairs = _c_pairs()
    message = {"role": "user", "content": "hi"}
    for items in (
        _List([message]),  # a list subclass
        (message,),  # a tuple
        [message] * 257,  # over the bound
        [_Dict(message)],
        [{"role": _Str("user"), "content": "hi"}],
        [{_Str("role"): "user", "content": "hi"}],
        [{"role": "user"}],
        [{"role": "user", "content": "hi", "name": "x"}],
        [message, "hi"],
        "not a list",
        None,
    ):
        assert pairs(items) is None
        assert keys._pairs_py(items) is None
    assert pairs([message] * 256) == keys._pairs_py([message] * 256)
    assert pairs([]) == () == keys._pairs_py([])


def test_keys_use_the_c_helper_where_it_was_built() -> None:
    assert keys._pairs is _c_pairs()


def test_no_references_leak_on_either_path() -> None:
    pairs = _c_pairs()
    role, content = "role-" + "x" * 5, "content-" + "y" * 5  # not interned elsewhere
    good = [{role: content, content: role}] * 8
    bad = [*good, {role: 1, content: role}]  # turned down at the last item
    before = sys.getrefcount(role), sys.getrefcount(content)
    for _ in range(1000):
        assert pairs(good) is not None
        assert pairs(bad) is None
    gc.collect()
    assert (sys.getrefcount(role), sys.getrefcount(content)) == before


def test_keys_are_the_same_without_the_c_helper() -> None:
    """A process where the extension cannot be imported takes the Python twin and makes
    the same local keys and digests."""
    _c_pairs()
    script = (
        "import sys\n"
        "sys.modules['flowdeck.engine.stores._chat_pairs'] = None  # as if never built\n"
        "from flowdeck.engine.stores import keys\n"
        "assert keys._pairs is keys._pairs_py\n"
        "chat = {'messages': [{'role': 'user', 'content': 'hi'}, {'content': 'b', 'a': 'x'}],"
        " 't': 0.5}\n"
        "print(repr(keys.local_key(chat)), keys.digest_of_local(keys.local_key(chat)))\n"
    )
    chat = {"messages": [{"role": "user", "content": "hi"}, {"content": "b", "a": "x"}], "t": 0.5}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    key = keys.local_key(chat)
    assert " ".join(out[:-1]) == repr(key) and out[-1] == keys.digest_of_local(key)
