"""The keyword index behind Memory search: word -> keys, and a ranked lookup.

Why its own module: the ranking walk is the subtle part of Memory (which keys to look
at, in which order, when to hand over to an intersection in C) and it is pure logic,
testable without a Memory, Redis or an event loop.

What is searchable (:func:`words_of`): the case-folded ``\\w+`` runs ("words") of
every string and every number (``int``/``float``, not ``bool``: ``12345`` is the word
"12345", ``3.5`` the words "3" and "5") found in the value, in a dict's values (not its
keys), in list/tuple/set items and in a Completion's text, down to ``MAX_DEPTH`` levels
of nesting and at most ``MAX_SCALARS`` strings/numbers per value (a huge value is
indexed by its first ones, so an add never costs more than that). Matching is by whole
word: "ord" does not find "order" (prefix matching would need a sorted index walked per
query, and a query for a short prefix would match most entries).
"""

from __future__ import annotations

import heapq
import re
from array import array
from collections.abc import Iterable, Iterator
from itertools import islice
from operator import itemgetter
from typing import Any

from flowdeck.engine.completion import Completion

_WORD = re.compile(r"\w+")
WALK_BUDGET = 256  # keys walked before looking for all-words matches by intersection
MAX_DEPTH = 4  # levels of nesting below the value that are indexed
MAX_SCALARS = 1_000  # strings / numbers indexed per value
_SEQ = itemgetter(1)  # the sequence number of a posting item (key, seq)
SET_MIN = 64  # posting length from which WordIndex.seqs holds its numbers as an array too


def words_of(value: Any) -> frozenset[str]:
    """The searchable words of a value (see the module docstring)."""
    if type(value) is str:  # the common case, without the walk
        return frozenset(_WORD.findall(value.casefold()))
    words: set[str] = set()
    budget = MAX_SCALARS
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and budget > 0:
        v, depth = stack.pop()
        if isinstance(v, str):
            text = v
        elif isinstance(v, int | float) and not isinstance(v, bool):
            text = str(v)
        elif isinstance(v, Completion):
            text = v.text
        elif depth < MAX_DEPTH and isinstance(v, dict | list | tuple | set | frozenset):
            items = v.values() if isinstance(v, dict) else v
            # reversed onto the stack so the first items are indexed first
            stack.extend((item, depth + 1) for item in reversed(list(items)[:budget]))
            continue
        else:
            continue
        budget -= 1
        words.update(_WORD.findall(text.casefold()))
    return frozenset(words)


def query_words(keywords: str | Iterable[str]) -> list[str]:
    """The distinct words of a query, in order (a string is split into words)."""
    if isinstance(keywords, str):
        text = keywords
    else:
        many = list(keywords)
        for kw in many:
            if not isinstance(kw, str):
                raise TypeError(f"keywords must be strings, got {type(kw).__name__}")
        text = " ".join(many)  # one regex pass: a space never joins two words
    return list(dict.fromkeys(_WORD.findall(text.casefold())))


class WordIndex:
    """An inverted index: ``postings[word]`` maps the keys with that word to their
    insertion sequence numbers, oldest first, so a walk newest first is ``reversed()``
    and orders keys across lists without looking anything up elsewhere (the value slot
    of a dict entry is there anyway: an int already held by the entry costs nothing).

    ``seqs[word]`` is the same posting as a sorted ``array('q')`` of sequence numbers,
    kept only while the posting holds at least ``SET_MIN // 2`` keys (made when it
    reaches ``SET_MIN``): the rare-words search intersects those (``_seq_merge.c``),
    and ``key_of`` maps a sequence number back to its key. Intersecting Python sets or
    dicts touches a hash table per word that is cold and scattered in memory (a cache
    miss per probe); an array is 8 bytes a key, contiguous, read in order (a set table
    was 35-70 B a key). A removed key's number stays in the arrays until they are
    compacted (``dead[word]`` counts them; when they are more than half, the array is
    rebuilt from the posting), so a removal costs no search and no copy, and a number
    the intersection returns is used only if ``key_of`` still holds it (numbers are
    never reused).
    """

    __slots__ = ("dead", "key_of", "postings", "seqs")

    def __init__(self) -> None:
        self.postings: dict[str, dict[str, int]] = {}
        self.seqs: dict[str, array[int]] = {}
        self.dead: dict[str, int] = {}
        self.key_of: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.postings)

    def add(self, key: str, words: Iterable[str], seq: int) -> None:
        """Index ``key`` under ``words``; it becomes the newest key of each posting.

        ``seq`` is the key's insertion sequence number, larger than any indexed before
        (the key must not be indexed already: remove it first)."""
        postings = self.postings
        seqs = self.seqs
        self.key_of[seq] = key
        for w in words:
            posting = postings.get(w)
            if posting is None:
                postings[w] = {key: seq}
            else:
                posting[key] = seq
                numbers = seqs.get(w)
                if numbers is not None:
                    numbers.append(seq)
                elif len(posting) >= SET_MIN:
                    seqs[w] = array("q", posting.values())
                    self.dead[w] = 0

    def remove(self, key: str, words: Iterable[str], seq: int) -> None:
        """Unindex ``key``, indexed under ``words`` with ``seq``."""
        postings = self.postings
        seqs = self.seqs
        dead = self.dead
        self.key_of.pop(seq, None)
        for w in words:
            posting = postings.get(w)
            if posting is not None:
                posting.pop(key, None)
                numbers = seqs.get(w)
                if numbers is not None:
                    if len(posting) < SET_MIN // 2:
                        del seqs[w], dead[w]
                    elif (d := dead[w] + 1) * 2 > len(numbers):
                        seqs[w] = array("q", posting.values())
                        dead[w] = 0
                    else:
                        dead[w] = d
                if not posting:
                    del postings[w]

    def clear(self) -> None:
        self.postings.clear()
        self.seqs.clear()
        self.dead.clear()
        self.key_of.clear()

    def rank(self, words: list[str], limit: int, total: int = 0) -> list[tuple[str, int]]:
        """The best ``limit`` keys as ``(key, score)``, level by level.

        ``score`` is how many of ``words`` a key holds; ties go to the larger sequence
        number (newest first).

        A key holding ``c`` of the ``k`` words is in at least one of the ``k - c + 1``
        shortest posting lists. So for c = k, k-1, ..., 1 each of those lists is walked
        newest first until it has yielded the number of keys still needed; a new key's
        score is counted by membership tests. The newest of the keys found across those
        lists are the next results. Keys scoring more than ``c`` were all found at
        earlier levels (a level that comes up short has walked its lists to the end).
        Common words therefore cost little: a walk ends after ``limit`` hits. When keys
        holding every word are rare, the top level gives up walking after
        ``WALK_BUDGET`` keys and intersects the lists in C instead; with ``total`` (how
        many keys the index holds) it skips the walk when the lists' lengths say that
        fewer than ``limit`` keys can be expected to hold every word (independent words:
        ``len(shortest) * product(len(other) / total)``), which is the common case for
        rare words.
        """
        index = self.postings
        present = [w for w in words if w in index]
        if not present:
            return []
        present.sort(key=lambda w: len(index[w]))
        postings = [index[w] for w in present]
        k = len(postings)
        scores: dict[str, int] = {}
        found: list[tuple[str, int]] = []
        taken: set[str] = set()
        top = WALK_BUDGET
        if k > 1 and total > 0:
            expected = float(len(postings[0]))
            for p in postings[1:]:
                expected *= len(p) / total
            if expected < limit:
                top = 0  # the walk would most likely run to the end: intersect now
        for level in range(k, 0, -1):
            need = limit - len(found)
            level_hits: dict[str, int] = {}  # key -> score
            newest_first: list[tuple[int, str]] = []  # (seq, key) of level_hits
            budget = top if level == k > 1 else None
            if not _walk(postings, level, need, taken, scores, level_hits, newest_first, budget):
                # Keys holding every word are rare here: intersect the lists in C rather
                # than walk the whole of the shortest one in Python.
                newest_first = self._common(present, postings)
                level_hits = {key: k for _, key in newest_first}
            # seqs are unique: (seq, key) pairs never compare their keys
            if len(newest_first) > need:
                newest = heapq.nlargest(need, newest_first)
            else:
                newest = sorted(newest_first, reverse=True)
            for _, key in newest:
                taken.add(key)
                found.append((key, level_hits[key]))
            if len(found) == limit:
                break
        return found

    def _common(self, present: list[str], postings: list[dict[str, int]]) -> list[tuple[int, str]]:
        """``(seq, key)`` of the keys holding every word of ``present`` (their postings,
        shortest first): sorted arrays merged in C where the words have them (see the
        class docstring), else the shortest posting's keys tested against the others."""
        seqs = self.seqs
        arrays: list[array[int]] = []
        for w in present:
            numbers = seqs.get(w)
            if numbers is None:
                break
            arrays.append(numbers)
        else:
            key_of = self.key_of
            found = [(n, key_of.get(n)) for n in _common(arrays)]
            return [(n, key) for n, key in found if key is not None]
        common: Iterable[str] = postings[0].keys() & postings[1].keys()
        for p in postings[2:]:
            common = [key for key in common if key in p]
        first = postings[0]
        return [(first[key], key) for key in common]


def _walk(
    postings: list[dict[str, int]],
    level: int,
    need: int,
    taken: set[str],
    scores: dict[str, int],
    level_hits: dict[str, int],
    newest_first: list[tuple[int, str]],
    budget: int | None = None,
) -> bool:
    """Walk the lists that can hold keys scoring ``level``, newest first, until each
    has yielded ``need`` of them; collect those keys in ``level_hits`` (and their
    ``(seq, key)`` in ``newest_first``).

    With a ``budget`` (keys looked at per list), returns False if it ran out first.
    """
    if level == 1 and budget is None:
        _walk_any(postings, need, taken, level_hits, newest_first)
        return True
    for posting in postings[: len(postings) - level + 1]:
        got = 0
        items: Iterator[tuple[str, int]] = reversed(posting.items())
        if budget is not None and len(posting) > budget:
            items = islice(items, budget)
            complete = False
        else:
            complete = True
        for key, seq in items:
            if key in taken:
                continue
            if key in level_hits:
                got += 1
            else:
                score = scores.get(key)
                if score is None:
                    score = 0
                    for p in postings:
                        if key in p:
                            score += 1
                    scores[key] = score
                if score < level:
                    continue
                level_hits[key] = score
                newest_first.append((seq, key))
                got += 1
            if got == need:
                complete = True
                break
        if not complete:
            return False
    return True


def _walk_any(
    postings: list[dict[str, int]],
    need: int,
    taken: set[str],
    level_hits: dict[str, int],
    newest_first: list[tuple[int, str]],
) -> None:
    """The last level: every key not taken yet holds exactly one of the words (keys
    holding more were all found at the levels before, which came up short only after
    walking their lists to the end), so no membership tests are needed, and the lists
    are merged newest first until ``need`` keys came out: each key looked at is cold in
    memory (a cache miss), so taking ``need`` from each list and keeping the newest
    would look at up to ``len(postings)`` times as many."""
    if len(postings) == 1:
        merged: Iterable[tuple[str, int]] = reversed(postings[0].items())
    elif len(postings) == 2:
        merged = _newest_of_two(postings[0], postings[1])
    else:
        merged = heapq.merge(*(reversed(p.items()) for p in postings), key=_SEQ, reverse=True)
    got = 0
    for key, seq in merged:
        if taken and key in taken:
            continue
        level_hits[key] = 1
        newest_first.append((seq, key))
        got += 1
        if got == need:
            break


def _newest_of_two(a: dict[str, int], b: dict[str, int]) -> Iterator[tuple[str, int]]:
    """The items of two postings, newest first: ``heapq.merge`` for two lists, without
    its per-call setup (which costs more than the few items a search takes)."""
    ia, ib = reversed(a.items()), reversed(b.items())
    x, y = next(ia, None), next(ib, None)
    while x is not None and y is not None:
        if x[1] > y[1]:
            yield x
            x = next(ia, None)
        else:
            yield y
            y = next(ib, None)
    if x is not None:
        yield x
        yield from ia
    elif y is not None:
        yield y
        yield from ib


def _common_py(arrays: list[array[int]]) -> list[int]:
    """The numbers found in every one of ``arrays``, ascending: ``_seq_merge.c`` in
    Python, used where the C helper was not built."""
    common = set(arrays[0])
    for a in arrays[1:]:
        common.intersection_update(a)
    return sorted(common)


try:  # the same function in C (_seq_merge.c); optional at install
    from ._seq_merge import common as _common
except ImportError:  # pragma: no cover - where there was no compiler
    _common = _common_py
