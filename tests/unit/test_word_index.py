"""Memory search's intersection of sorted sequence arrays: the C helper
(engine/stores/_seq_merge.c) against its Python twin, and its refusals.

CI sets FLOWDECK_REQUIRE_C=1, so a build that silently fell back to Python fails here.
"""

from __future__ import annotations

import random
import subprocess
import sys
from array import array
from collections.abc import Callable
from typing import Any

import pytest

from flowdeck.engine.stores import word_index
from tests.support.c_helpers import c_helper


def _c_common() -> Callable[[list[Any]], list[int]]:
    common: Callable[[list[Any]], list[int]] = c_helper("_seq_merge").common
    return common


def _sorted_sample(rng: random.Random, n: int, top: int) -> array[int]:
    return array("q", sorted(rng.sample(range(-top, top), n)))


def test_c_and_python_agree_on_random_arrays() -> None:
    common = _c_common()
    rng = random.Random(13)
    for _ in range(500):
        k = rng.randint(1, 5)
        top = rng.choice([5, 50, 5_000, 2**40])
        arrays = [_sorted_sample(rng, rng.randint(0, min(2 * top, 300)), top) for _ in range(k)]
        got = common(arrays)
        assert got == word_index._common_py(arrays), arrays
        assert got == sorted(set.intersection(*(set(a) for a in arrays)))


def test_edges_one_array_empty_arrays_and_very_unequal_lengths() -> None:
    common = _c_common()
    long = array("q", range(0, 1_000_000, 3))
    assert common([long]) == list(long)
    assert common([array("q"), long]) == [] and common([long, array("q")]) == []
    assert common([array("q", [-(2**63), 2**63 - 1]), array("q", [2**63 - 1])]) == [2**63 - 1]
    assert common([array("q", [999_999, 1_000_002]), long]) == [999_999]  # the last one
    short = array("q", [0, 3, 4, 999_999, 2_999_997])
    assert common([long, short, long]) == [0, 3, 999_999]


def test_removed_numbers_are_compacted_away_once_they_are_half() -> None:
    index = word_index.WordIndex()
    for i in range(200):
        index.add(f"k{i}", ["w"], i)
    for i in range(150):
        index.remove(f"k{i}", ["w"], i)
        numbers, dead = index.seqs["w"], index.dead["w"]
        assert dead * 2 <= len(numbers) and dead == len(numbers) - len(index.postings["w"])
    assert len(index.seqs["w"]) < 100  # rebuilt at least once on the way down
    assert [n for n in index.seqs["w"] if n in index.key_of] == list(range(150, 200))
    assert index.rank(["w"], 3) == [("k199", 1), ("k198", 1), ("k197", 1)]


@pytest.mark.parametrize(
    "arrays",
    [
        (array("q", [1]),),  # a tuple, not a list
        [],
        [array("q", [1])] * 65,
        [array("i", [1, 2])],  # 4-byte items
        [array("d", [1.0])],  # 8 bytes, but floats
        [b"12345678"],
        [[1, 2]],
        [array("q", [1]), None],
    ],
)
def test_anything_but_a_list_of_int64_arrays_is_refused(arrays: Any) -> None:
    common = _c_common()
    with pytest.raises(TypeError):
        common(arrays)


def test_search_is_the_same_without_the_c_helper() -> None:
    """A process where the extension cannot be imported takes the Python twin."""
    _c_common()
    script = (
        "import sys\n"
        "sys.modules['flowdeck.engine.stores._seq_merge'] = None  # as if never built\n"
        "from flowdeck.engine.stores import word_index as w\n"
        "assert w._common is w._common_py\n"
        "index = w.WordIndex()\n"
        "for i in range(300):\n"
        "    index.add(f'k{i}', ['a'] if i % 2 else ['a', 'b'] if i % 3 else ['b'], i)\n"
        "for i in range(0, 300, 7):\n"
        "    index.remove(f'k{i}', ['a', 'b'], i)\n"
        "print(index.rank(['a', 'b'], 5, 1))\n"
    )
    index = word_index.WordIndex()
    for i in range(300):
        index.add(f"k{i}", ["a"] if i % 2 else ["a", "b"] if i % 3 else ["b"], i)
    for i in range(0, 300, 7):
        index.remove(f"k{i}", ["a", "b"], i)
    assert "a" in index.seqs and "b" in index.seqs
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    assert out == repr(index.rank(["a", "b"], 5, 1))
