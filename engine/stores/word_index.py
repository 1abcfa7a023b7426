"""The keyword index behind Memory search: word -> keys, and a ranked lookup.

Why its own module: the ranking walk is the subtle part of Memory (which keys to look
at, in which order, when to hand over to a C set intersection) and it is pure logic,
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
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from flowdeck.engine.completion import Completion

_WORD = re.compile(r"\w+")
WALK_BUDGET = 256  # keys walked before looking for all-words matches by intersection
MAX_DEPTH = 4  # levels of nesting below the value that are indexed
MAX_SCALARS = 1_000  # strings / numbers indexed per value
SET_MIN = 64  # posting length from which WordIndex.sets holds its keys as a set too


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
        return list(dict.fromkeys(_WORD.findall(keywords.casefold())))
    words: dict[str, None] = {}
    for kw in keywords:
        if not isinstance(kw, str):
            raise TypeError(f"keywords must be strings, got {type(kw).__name__}")
        for w in _WORD.findall(kw.casefold()):
            words[w] = None
    return list(words)


class WordIndex:
    """An inverted index: ``postings[word]`` maps the keys with that word to their
    insertion sequence numbers, oldest first, so a walk newest first is ``reversed()``
    and orders keys across lists without looking anything up elsewhere (the value slot
    of a dict entry is there anyway: an int already held by the entry costs nothing).

    ``sets[word]`` is the same keys as a set, kept only while the posting holds at least
    ``SET_MIN // 2`` keys (made when it reaches ``SET_MIN``): the rare-words search
    intersects those. Intersecting two dicts in C touches every key object (its
    refcount, and its hash: a str-keyed dict does not store hashes), which are cold
    and scattered in memory; two sets are compared by the hash and identity stored in
    their tables, so only the keys in both are touched. It costs a set table beside
    each long posting (35-70 B per key in it: a set table grows fourfold), bounded like
    the postings (and never longer than them).
    """

    __slots__ = ("postings", "sets")

    def __init__(self) -> None:
        self.postings: dict[str, dict[str, int]] = {}
        self.sets: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.postings)

    def add(self, key: str, words: Iterable[str], seq: int) -> None:
        """Index ``key`` under ``words``; it becomes the newest key of each posting.

        ``seq`` is the key's insertion sequence number, larger than any indexed before
        (the key must not be indexed already: remove it first)."""
        postings = self.postings
        sets = self.sets
        for w in words:
            posting = postings.get(w)
            if posting is None:
                postings[w] = {key: seq}
            else:
                posting[key] = seq
                keys = sets.get(w)
                if keys is not None:
                    keys.add(key)
                elif len(posting) >= SET_MIN:
                    sets[w] = set(posting)

    def remove(self, key: str, words: Iterable[str]) -> None:
        postings = self.postings
        sets = self.sets
        for w in words:
            posting = postings.get(w)
            if posting is not None:
                posting.pop(key, None)
                keys = sets.get(w)
                if keys is not None:
                    if len(posting) < SET_MIN // 2:
                        del sets[w]
                    else:
                        keys.discard(key)
                if not posting:
                    del postings[w]

    def clear(self) -> None:
        self.postings.clear()
        self.sets.clear()

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
                sets = self.sets
                a, b = sets.get(present[0]), sets.get(present[1])
                if a is not None and b is not None:
                    common: Any = a & b  # see the class docstring
                else:
                    common = postings[0].keys() & postings[1].keys()
                for p in postings[2:]:
                    common = [x for x in common if x in p]
                level_hits = dict.fromkeys(common, k)
                seqs = postings[0]
                newest_first = [(seqs[x], x) for x in common]
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
    walking their lists to the end), so no membership tests are needed."""
    for posting in postings:
        got = 0
        for key, seq in reversed(posting.items()):
            if key in taken:
                continue
            level_hits[key] = 1
            newest_first.append((seq, key))
            got += 1
            if got == need:
                break
