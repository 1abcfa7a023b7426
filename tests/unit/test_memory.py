"""Memory without Redis: storage, eviction, index-served keyword search, recall step."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from flowdeck.engine import Completion, Engine, EngineSettings, Memory, Step
from flowdeck.engine.stores.keys import digest
from flowdeck.engine.stores.word_index import WordIndex
from flowdeck.engine.telemetry.events import EventBus, EventKind


def memory(**kw: Any) -> tuple[Memory, EventBus]:
    kw.setdefault("name", "mem")
    mem = Memory(**kw)
    bus = EventBus(4096)
    mem._bus = bus
    return mem, bus


async def test_add_get_size_and_replace() -> None:
    mem, bus = memory()
    await mem.add("a", "first value")
    await mem.add("b", {"text": "second"})
    assert mem.get("a") == "first value"
    assert mem.get("b") == {"text": "second"}
    assert mem.get("zz") is None
    assert mem.size == 2
    await mem.add("a", "replaced")
    assert mem.size == 2
    assert mem.get("a") == "replaced"
    assert mem.search("first") == []  # the old words left the index
    assert [h["key"] for h in mem.search("replaced")] == ["a"]
    adds = [e[3:] for e in bus.recent(bus.seq) if e[2] == EventKind.MEMORY_ADD]
    assert adds == [("mem", "a"), ("mem", "b"), ("mem", "a")]


async def test_search_is_case_insensitive_over_strings_and_dict_fields() -> None:
    mem, _ = memory()
    await mem.add("s", "The Quick brown FOX")
    await mem.add("d", {"title": "fox hunting", "body": "in the Forest", "n": 3, "x": ["fox"]})
    await mem.add("c", Completion(text="A FOX answered", model="m", provider="p"))
    await mem.add("n", 12345)
    assert {h["key"] for h in mem.search("fox")} == {"s", "d", "c"}
    assert [h["key"] for h in mem.search("FOREST")] == ["d"]
    assert [h["key"] for h in mem.search(["quick"])] == ["s"]
    assert [h["key"] for h in mem.search("12345")] == ["n"]
    assert mem.search("") == []
    assert mem.search("unknownword") == []


async def test_ranking_is_matched_keywords_then_recency() -> None:
    mem, _ = memory()
    await mem.add("k1", "alpha beta gamma")  # 3 matches, oldest
    await mem.add("k2", "alpha")  # 1 match
    await mem.add("k3", "alpha beta")  # 2 matches
    await mem.add("k4", "beta")  # 1 match, newest of the ones-matches
    await mem.add("k5", "delta")  # no match
    hits = mem.search("Alpha BETA gamma", limit=10)
    assert [(h["key"], h["score"]) for h in hits] == [("k1", 3), ("k3", 2), ("k4", 1), ("k2", 1)]
    assert [h["value"] for h in hits][:1] == ["alpha beta gamma"]
    assert [h["key"] for h in mem.search("alpha beta gamma", limit=2)] == ["k1", "k3"]
    assert [h["key"] for h in mem.search("alpha", limit=2)] == ["k3", "k2"]
    # Re-adding refreshes recency.
    await mem.add("k2", "alpha")
    assert [h["key"] for h in mem.search("alpha", limit=1)] == ["k2"]


async def test_duplicate_keywords_count_once() -> None:
    mem, _ = memory()
    await mem.add("a", "cat")
    await mem.add("b", "cat dog")
    hits = mem.search("cat cat cat")
    assert [(h["key"], h["score"]) for h in hits] == [("b", 1), ("a", 1)]


async def test_eviction_removes_the_oldest_and_its_postings() -> None:
    mem, _ = memory(max_size=3)
    for i in range(5):
        await mem.add(f"k{i}", f"word{i} common")
    assert mem.size == 3
    assert mem.get("k0") is None and mem.get("k1") is None
    assert mem.search("word0") == []
    assert "word0" not in mem._index.postings and "word1" not in mem._index.postings
    assert [h["key"] for h in mem.search("common")] == ["k4", "k3", "k2"]
    assert len(mem._index.postings["common"]) == 3


class CountingEntries(OrderedDict):
    """Entries that count how they are read: a scan would show up as iteration."""

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.lookups = 0
        self.iterations = 0

    def __getitem__(self, key: Any) -> Any:
        self.lookups += 1
        return super().__getitem__(key)

    def __iter__(self) -> Any:
        self.iterations += 1
        return super().__iter__()

    def values(self) -> Any:
        self.iterations += 1
        return super().values()

    def items(self) -> Any:
        self.iterations += 1
        return super().items()


async def test_search_touches_posting_lists_not_all_entries() -> None:
    mem, _ = memory(max_size=30_000)
    for i in range(20_000):
        await mem.add(f"k{i}", f"filler text number{i} common")
    await mem.add("z1", "zebra crossing")
    await mem.add("z2", "a zebra and a common lion")
    counting = CountingEntries(mem._entries)
    mem._entries = counting
    hits = mem.search("zebra lion", limit=5)
    assert [h["key"] for h in hits] == ["z2", "z1"]
    assert counting.iterations == 0
    assert counting.lookups <= 10  # only the candidates from the two posting lists

    # A word in every entry plus a rare one: the long posting list is probed, not scanned.
    counting.lookups = 0
    hits = mem.search("common zebra", limit=3)
    assert [h["key"] for h in hits] == ["z2", "z1", "k19999"]
    assert counting.iterations == 0
    assert counting.lookups <= 20


async def test_search_validates_its_arguments() -> None:
    mem, _ = memory()
    with pytest.raises(ValueError, match="limit"):
        mem.search("x", limit=0)
    with pytest.raises(TypeError, match="strings"):
        mem.search([1, 2])  # type: ignore[list-item]  # a wrong type, refused on purpose
    with pytest.raises(TypeError, match="strings"):
        await mem.add(3, "x")  # type: ignore[arg-type]  # a wrong type, refused on purpose


async def test_clear_empties_entries_and_index() -> None:
    mem, bus = memory()
    for i in range(4):
        await mem.add(f"k{i}", "some words")
    assert await mem.clear() == 4
    assert mem.size == 0 and mem.search("words") == [] and len(mem._index) == 0
    assert [e[3:] for e in bus.recent(bus.seq) if e[2] == EventKind.MEMORY_CLEAR] == [("mem", 4)]


async def test_stats_and_describe_match_the_contract() -> None:
    mem, bus = memory(max_size=50, namespace="ns")
    await mem.add("a", "hello world")
    mem.search("hello")
    mem.search("nothing")
    d = mem.describe()
    assert d["name"] == "mem" and d["kind"] == "memory" and d["namespace"] == "ns"
    assert d["max_size"] == 50 and d["l2"] is False
    st = d["stats"]
    assert {"size", "adds", "searches", "search_p50", "pending_l2", "l2_errors"} <= set(st)
    assert (st["size"], st["adds"], st["searches"], st["pending_l2"]) == (1, 1, 2, 0)
    assert st["search_p50"] is not None and st["search_p50"] >= 0
    searches = [e[3:6] for e in bus.recent(bus.seq) if e[2] == EventKind.MEMORY_SEARCH]
    assert searches == [("mem", 1, 1), ("mem", 1, 0)]


@pytest.mark.parametrize(
    "kw",
    [{"name": ""}, {"name": "m", "max_size": 0}, {"name": "m", "namespace": ""}],
)
def test_bad_arguments_are_rejected(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Memory(**kw)


async def test_execute_recalls_related_prompts_then_records_this_one() -> None:
    async with Engine(EngineSettings.load(control=False)) as eng:
        mem = Memory(name="conv", recall=2)
        seen: list[Any] = []

        def note(d: Any) -> Any:
            seen.append(d)
            return d

        flow = mem >> Step(note)
        out = await eng.run(flow, {"prompt": "How do caches work?", "user": "ann"})
        assert out == {"prompt": "How do caches work?", "user": "ann", "memory": []}
        out = await eng.run(flow, {"prompt": "Do CACHES expire?", "user": "ann"})
        assert out["memory"] == ["How do caches work?"]
        assert mem.get(digest("Do CACHES expire?")) == "Do CACHES expire?"
        await eng.run(flow, "unrelated words")  # a bare string is a prompt too
        out = await eng.run(flow, {"prompt": "caches expire work"})
        assert out["memory"] == ["Do CACHES expire?", "How do caches work?"]
        assert await eng.run(mem, {"no": "prompt"}) == {"no": "prompt"}
        assert eng.memories["conv"] is mem
        assert eng.snapshot()["memories"]["conv"]["stats"]["size"] == 4


@pytest.mark.parametrize("seed", range(6))
async def test_search_ranks_exactly_like_a_full_scan(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index walk must return what scoring every entry would (on random data)."""
    import random

    from flowdeck.engine.stores import word_index

    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(40)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    mem, _ = memory(max_size=700)
    if seed % 2:  # also exercise the intersection path on short lists
        monkeypatch.setattr(word_index, "WALK_BUDGET", 4)
    for _ in range(1000):
        key = f"k{rng.randrange(900)}"  # re-adds refresh recency; eviction kicks in
        await mem.add(key, " ".join(rng.choices(vocab, weights, k=rng.randint(1, 6))))
    for _ in range(150):
        query = rng.sample(vocab, rng.randint(1, 5))
        limit = rng.choice([1, 3, 10, 50])
        scored = []
        for key, (seq, _, words, _) in mem._entries.items():  # ties: newest added first
            score = len(set(query) & words)
            if score:
                scored.append((-score, -seq, key))
        scored.sort()
        expected = [(key, -neg) for neg, _, key in scored[:limit]]
        got = [(h["key"], h["score"]) for h in mem.search(" ".join(query), limit)]
        assert got == expected, (query, limit)


async def test_get_and_search_hits_refresh_recency_for_eviction() -> None:
    mem, _ = memory(max_size=3)
    await mem.add("old", "recalled turn")
    await mem.add("mid", "untouched")
    await mem.add("new", "another")
    assert mem.get("old") == "recalled turn"  # used: now the most recent
    await mem.add("x", "fourth")
    assert mem.get("mid") is None and mem.get("old") is not None
    assert [h["key"] for h in mem.search("another")] == ["new"]  # a search hit is use too
    await mem.add("y", "fifth")
    assert set(mem._entries) == {"old", "new", "y"}


async def test_numbers_and_nested_strings_are_searchable_to_a_bounded_depth() -> None:
    from flowdeck.engine.stores import word_index

    mem, _ = memory()
    await mem.add("order", {"order_id": 884213, "customer": {"name": "Ada Lovelace"}})
    await mem.add("turns", {"messages": [{"role": "user", "content": "refund my parcel"}]})
    await mem.add("price", {"total": 3.5, "paid": True})
    assert [h["key"] for h in mem.search("884213")] == ["order"]
    assert [h["key"] for h in mem.search("lovelace")] == ["order"]
    assert [h["key"] for h in mem.search("parcel")] == ["turns"]
    assert [h["key"] for h in mem.search("3.5")] == ["price"]
    assert mem.search("true") == []  # bools are not numbers here
    assert mem.search("order_id") == []  # dict keys are not indexed
    assert mem.search("lovel") == []  # whole words only, no prefix matching
    deep: object = "buried"
    for _ in range(word_index.MAX_DEPTH + 1):
        deep = [deep]
    await mem.add("deep", deep)
    assert mem.search("buried") == []
    many = {f"k{i}": f"w{i}" for i in range(word_index.MAX_SCALARS + 10)}
    assert len(word_index.words_of(many)) == word_index.MAX_SCALARS


def _live(index: WordIndex, w: str) -> list[int]:
    """The numbers of ``index.seqs[w]`` whose keys are still indexed."""
    return [n for n in index.seqs[w] if n in index.key_of]


def _check_index(mem: Memory) -> None:
    """The index mirrors the entries: each key under its words with its seq, and a
    sorted array beside exactly the postings long enough for one (see WordIndex), its
    removed numbers counted and never more than half of it."""
    from flowdeck.engine.stores.word_index import SET_MIN

    index = mem._index
    expected: dict[str, dict[str, int]] = {}
    for key, (seq, _, words, _) in mem._entries.items():
        for w in words:
            expected.setdefault(w, {})[key] = seq
    assert index.postings == expected
    assert index.key_of == {seq: key for key, (seq, *_) in mem._entries.items()}
    for w, posting in index.postings.items():
        assert list(posting.values()) == sorted(posting.values())  # oldest first
        numbers = index.seqs.get(w)
        if len(posting) < SET_MIN // 2:
            assert numbers is None
        elif len(posting) >= SET_MIN:
            assert numbers is not None
        if numbers is not None:  # between half and full: kept or not, by the way there
            assert _live(index, w) == list(posting.values())
            assert list(numbers) == sorted(set(numbers))
            assert index.dead[w] == len(numbers) - len(posting) <= len(numbers) // 2
    assert set(index.seqs) <= set(index.postings) and set(index.dead) == set(index.seqs)


async def test_posting_arrays_follow_adds_replacements_evictions_and_clear() -> None:
    from flowdeck.engine.stores.word_index import SET_MIN

    mem, _ = memory(max_size=3 * SET_MIN)
    for i in range(SET_MIN - 1):
        await mem.add(f"k{i}", f"common w{i % 3}")
    assert "common" not in mem._index.seqs  # not yet
    await mem.add("edge", "common")
    assert list(mem._index.seqs["common"]) == list(mem._index.postings["common"].values())
    _check_index(mem)
    for i in range(4 * SET_MIN):  # replacements and evictions; "common" shrinks
        await mem.add(f"k{i % (2 * SET_MIN)}", f"rare{i % 5} w{i % 3}")
        _check_index(mem)
    assert "common" not in mem._index.seqs
    assert sum(len(a) for a in mem._index.seqs.values()) <= 2 * 3 * 3 * SET_MIN
    mem.clear_local()
    assert mem._index.postings == {} and mem._index.seqs == {} and mem._index.key_of == {}


@pytest.mark.parametrize("set_min", [2, 64, 10**9])
async def test_rare_words_rank_the_same_with_or_without_posting_arrays(
    set_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rare words go straight to the intersection; arrays or dicts, the same answer."""
    import random

    from flowdeck.engine.stores import word_index

    monkeypatch.setattr(word_index, "SET_MIN", set_min)
    rng = random.Random(set_min)
    vocab = [f"w{i}" for i in range(60)]
    mem, _ = memory(max_size=1500)
    for _ in range(2000):
        await mem.add(f"k{rng.randrange(1800)}", " ".join(rng.sample(vocab, 4)))
    _check_index(mem)
    for _ in range(100):
        query = rng.sample(vocab, rng.randint(2, 4))
        limit = rng.choice([1, 5, 10, 40])
        scored = sorted(
            (-len(set(query).intersection(words)), -seq, key)
            for key, (seq, _, words, _) in mem._entries.items()
            if set(query).intersection(words)
        )
        expected = [(key, -neg) for neg, _, key in scored[:limit]]
        got = [(h["key"], h["score"]) for h in mem.search(query, limit)]
        assert got == expected, (query, limit)


def test_a_posting_array_is_kept_between_half_and_full_length() -> None:
    from flowdeck.engine.stores.word_index import SET_MIN, WordIndex

    index = WordIndex()
    seq = 0
    seqs: dict[str, int] = {}

    def add(key: str) -> None:
        nonlocal seq
        seq += 1
        seqs[key] = seq
        index.add(key, ["w", key], seq)

    def remove(key: str) -> None:
        index.remove(key, ["w", key], seqs.pop(key))

    for i in range(SET_MIN):
        add(f"k{i}")
    assert _live(index, "w") == list(index.postings["w"].values())
    for i in range(SET_MIN - SET_MIN // 2):  # down to exactly SET_MIN // 2: still kept
        remove(f"k{i}")
    assert len(index.postings["w"]) == SET_MIN // 2
    assert _live(index, "w") == list(index.postings["w"].values())
    assert len(index.seqs["w"]) <= 2 * len(index.postings["w"])  # compacted on the way
    for i in range(5):  # growing again below SET_MIN: the array follows
        add(f"new{i}")
    assert _live(index, "w") == list(index.postings["w"].values())
    for key in list(index.postings["w"])[: len(index.postings["w"]) - SET_MIN // 2 + 1]:
        remove(key)
    assert "w" not in index.seqs and "w" not in index.dead  # under half: dropped
    while len(index.postings["w"]) < SET_MIN - 1:
        add(f"again{seq}")
    assert "w" not in index.seqs
    add("last")
    assert list(index.seqs["w"]) == list(index.postings["w"].values())
    index.clear()
    assert index.postings == {} and index.seqs == {} and index.key_of == {}
