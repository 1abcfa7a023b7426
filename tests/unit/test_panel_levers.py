"""The pure parts of the Providers view and the traffic levers: what the dialogs accept
(named errors), the cooldown countdown between stats, and fitting the routers table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from flowdeck.engine.control import params as V
from flowdeck.engine.control.protocol import ControlError
from flowdeck.engine.control.schema import MAX_COOLDOWN, MAX_WEIGHT
from flowdeck.panel.fleet.provider_levers import provider_choices
from flowdeck.panel.state import PanelState
from flowdeck.panel.validate import parse_duration, parse_weights
from flowdeck.panel.views.routers import provider_list
from flowdeck.panel.widgets.route_split import trouble_text

ROUTES = ["fast", "slow"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "enter route=weight pairs, e.g. fast=90 slow=10"),
        ("fast=90 nope=10", "no route 'nope'; this router has fast, slow"),
        ("fast 90", "'fast' is not route=weight"),
        ("fast=ninety", "the weight of 'fast' is not a number: 'ninety'"),
        ("fast=-1", "the weight of 'fast' must be 0 to"),
        (f"fast={MAX_WEIGHT + 1}", "must be 0 to"),
        ("fast=nan", "must be 0 to"),
        ("fast=1 fast=2", "route 'fast' is given twice"),
        ("fast=0 slow=0", "at least one weight must be above 0"),
    ],
)
def test_weights_are_refused_naming_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_weights(text, ROUTES)
    assert problem in str(info.value)


def test_weights_accepted_are_what_the_engine_accepts() -> None:
    assert parse_weights("fast=90, slow=10", ROUTES) == {"fast": 90.0, "slow": 10.0}
    assert parse_weights("slow=1", ROUTES) == {"slow": 1.0}  # fast left out: weight 0
    assert parse_weights(" none ", ROUTES) is None  # back to the configured weights
    exists = lambda kind, name: True  # noqa: E731
    for w in ({"fast": 90.0, "slow": 10.0}, None):
        cleaned = V.router_weights(
            V.Params("router.set_weights", {"name": "r", "weights": w}), exists
        )
        assert cleaned["weights"] == w


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("5m", 300.0), ("1.5h", 5400.0), ("2d", 172800.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "enter a duration"), ("soon", "not a duration"), ("0s", "more than 0"),
     ("8d", "at most 7 days"), ("inf", "not finite")],
)  # fmt: skip
def test_durations_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert problem in str(info.value)
    assert MAX_COOLDOWN == 7 * 86400


def test_the_end_cooldown_picker_offers_only_providers_cooling_down() -> None:
    def engine(**states: str) -> SimpleNamespace:
        return SimpleNamespace(stats={"providers": {p: {"state": s} for p, s in states.items()}})

    fleet = [engine(a="ok", b="cooling down"), engine(a="ok", b="ok", c="cooling down")]
    assert provider_choices(fleet) == [
        ("b", "b — cooling down on 1 of 2"),
        ("c", "c — cooling down on 1 of 1"),
        ("a", "a"),
    ]
    assert [n for n, _ in provider_choices(fleet, cooling_only=True)] == ["b", "c"]
    assert provider_choices([engine(a="ok")], cooling_only=True) == []


def test_engine_refuses_what_the_panel_refuses() -> None:
    exists = lambda kind, name: True  # noqa: E731
    with pytest.raises(ControlError):
        V.provider_cooldown(V.Params("provider.cooldown", {"name": "p", "seconds": 0}), exists)


def test_a_cooldown_counts_down_between_stats() -> None:
    now = [1000.0]
    st = PanelState(clock=lambda: now[0])
    health = {"name": "p", "state": "cooling down", "cooldown_remaining": 30.0}
    st.apply("snapshot", {"seq": 1, "providers": {"p": health}})
    assert st.cooldown_left("p") == 30.0
    now[0] += 12.5  # no stats meanwhile: the view still counts down
    assert st.cooldown_left("p") == 17.5
    st.apply("stats", {"seq": 2, "providers": {"p": {**health, "cooldown_remaining": 10.0}}})
    assert st.cooldown_left("p") == 10.0  # the engine's word wins when it comes
    now[0] += 60
    assert st.cooldown_left("p") == 0.0
    # events apply at once: a drain, then an operator's resume
    st.apply("events", [[3, 1.0, "provider.cooldown", "p", 300.0, "operator"]])
    assert st.cooldown_left("p") == 300.0
    assert st.group("providers")["p"]["cooldown_reason"] == "operator"
    st.apply("events", [[4, 1.0, "provider.resume", "p", 299.0, "operator"]])
    assert st.cooldown_left("p") == 0.0 and st.group("providers")["p"]["state"] == "ok"


def test_weights_event_updates_targets() -> None:
    st = PanelState()
    st.apply("snapshot", {"seq": 1, "routers": {"r": {"name": "r", "weights": None}}})
    st.apply("events", [[2, 1.0, "router.weights", "r", {"a": 3.0, "b": 1.0}]])
    assert st.group("routers")["r"]["targets"] == {"a": 0.75, "b": 0.25}


def test_provider_lists_fit_by_whole_names() -> None:
    names = ["sim-max", "sim-max-b", "sim-mid"]
    assert provider_list(names, 40) == "sim-max → sim-max-b → sim-mid"
    assert provider_list(names, 24) == "sim-max → sim-max-b +1"
    assert provider_list(names, 12) == "sim-max +2"
    assert provider_list(names, 6) == "sim-m…"


def test_router_trouble_says_only_what_happened() -> None:
    assert trouble_text({"unknown": 0, "fallbacks": {"cooldown": 0}}) == ""
    text = trouble_text(
        {"unknown": 2, "fallbacks": {"cooldown": 12, "budget": 1}, "last_resort": 1}
    )
    assert text == "unknown 2 · fell back: cooldown 12, budget 1 · last resort 1"


@pytest.mark.parametrize(
    ("seconds", "typed"),
    [(600, "10m"), (7200, "2h"), (86400, "1d"), (90, "90"), (1.5, "1.5"), (3600.5, "3600.5")],
)
def test_a_prefilled_ttl_reads_as_typed_and_parses_back(seconds: float, typed: str) -> None:
    from flowdeck.panel import fmt
    from flowdeck.panel.validate import parse_ttl

    assert fmt.as_typed(seconds) == typed
    assert parse_ttl(typed) == seconds


def test_a_flush_that_could_not_reach_redis_says_its_l2_entries_stay() -> None:
    """With Redis down the engine flushes L1 and reports no L2 count: for a cache with
    an L2 that is not "334 entries" (read as all of them) but what stayed (QA)."""
    from flowdeck.panel.actions import describe_flush

    down = {"flushed": {"llm": {"name": "llm", "l1": 334, "l2": None}}}
    up = {"flushed": {"llm": {"name": "llm", "l1": 3, "l2": 5}}}
    assert describe_flush(down, {"llm"}) == (  # type: ignore[arg-type]
        "Flushed llm: 334 in L1; Redis not reached, its L2 entries stay"
    )
    assert describe_flush(down) == "Flushed llm: 334 entries"  # type: ignore[arg-type]  # no L2
    assert describe_flush(up, {"llm"}) == "Flushed llm: 3 in L1 + 5 in L2"  # type: ignore[arg-type]
