"""The Fleet view's texts fit the terminal: a router split and the key hint are cut
between items (never mid-word, never by a sideways-scrolling column) at 80 columns."""

from __future__ import annotations

from flowdeck.panel.fleet.screen import hint_text, split_text

SPLIT = {"fast": 0.74, "balanced": 0.18, "quality": 0.08}


def test_split_names_the_busiest_routes_and_counts_the_rest() -> None:
    assert split_text(SPLIT) == "fast 74% balanced 18% quality 8%"
    assert split_text({"fast": 1.0, "balanced": 0.0, "quality": 0.0}) == "fast 100% +2 idle"
    assert split_text({}) == "-"


def test_split_drops_routes_that_do_not_fit_and_says_how_many() -> None:
    assert split_text(SPLIT, 30) == "fast 74% balanced 18% +1 more"
    assert split_text(SPLIT, 21) == "fast 74% +2 more"
    assert split_text(SPLIT, 5) == "fast 74% +2 more"  # one route at least, however narrow
    assert split_text({"fast": 0.9, "slow": 0.1, "idle": 0.0}, 20) == "fast 90% +2 more"


def test_hint_wraps_between_items() -> None:
    items = ["f flush", "t/m TTL/size", "r/a pin/auto", "R re-map", "w weights", "o restore"]
    items += ["c clear memory", "u/d end cooldown/drain a provider"]
    for width in (60, 80, 120):
        lines = hint_text(width).split("\n")
        assert all(len(line) < width for line in lines), (width, lines)
        for item in items:  # each key and its word on one line
            assert any(item in line for line in lines), (width, item, lines)
    assert len(hint_text(120).split("\n")) == 3
    assert len(hint_text(80).split("\n")) == 3  # what 80x24 has room for


def test_with_no_engine_the_hint_says_what_the_empty_view_means() -> None:
    for width in (60, 80, 120):
        text = hint_text(width, engines=0)
        assert "No engine is running" in text and "q quits" in text, text
        assert "comes back" not in text and "f flush" not in text, text  # nothing to act on
        assert all(len(line) < width for line in text.split("\n"))
    assert "0 comes back to this list" in hint_text(80)


def test_a_routers_total_says_what_its_engines_are_pinned_to() -> None:
    """After a fleet-wide pin the split is still the lifetime one: the row says the pin,
    and which engines differ (one restarted since, back on auto)."""
    from types import SimpleNamespace

    from flowdeck.panel.fleet.feed import totals_of
    from flowdeck.panel.fleet.screen import pin_text

    def member(pinned: str | None) -> SimpleNamespace:
        routes = {"fast": {"count": 7}, "quality": {"count": 3}}
        return SimpleNamespace(stats={"routers": {"tiers": {"pinned": pinned, "routes": routes}}})

    def row(*pins: str | None) -> str:
        t = totals_of([member(p) for p in pins])["routers"]["tiers"]  # type: ignore[misc]  # only .stats is read
        return pin_text(t["pins"], t["engines"])

    assert row(None, None) == ""
    assert row("fast", "fast", "fast") == "pinned fast · "
    assert row("fast", "fast", None) == "pinned fast on 2 of 3 · "
    assert row("fast", "quality", None) == "pinned fast on 1 of 3, quality on 1 of 3 · "


def test_a_healthy_beat_read_a_rescan_late_is_not_called_late() -> None:
    """A 1 s beat is read once a second and aged when painted: up to ~2 s old while all is
    well (QA: "1s late" half the time)."""
    import dataclasses

    from flowdeck.panel.fleet.redis_feed import RemoteMember
    from tests.support.frozen_fleet import NOW, frozen_fleet

    engine = next(iter(frozen_fleet().members.values())).engine
    member = RemoteMember(dataclasses.replace(engine, interval=1.0, seen=NOW, stale=False))
    assert [member.level(NOW + age) for age in (0.5, 1.9, 2.8, 3.6)] == [
        "ok", "ok", "late", "stale"
    ]  # fmt: skip
