"""The Providers view (key 8) against a real engine on a real socket with real HTTP fake
providers: a provider that 500s shows its cooldown counting down with its reason; ending
the cooldown from the panel sends it traffic again; draining starts one; read-only refuses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Label

from flowdeck.engine import Engine, Router
from flowdeck.panel.modals.confirm import ConfirmModal
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.widgets.live_table import LiveTable
from flowdeck.panel.widgets.provider_detail import ProviderDetail
from flowdeck.panel.widgets.tier_budgets import TierBudgets
from tests.support.panel import (
    SIZE,
    Rig,
    attached,
    cell,
    make_app,
    modal_title,
    notes,
    show_table,
)
from tests.support.providers import FakeFleet, FakeProvider, Reply, Status
from tests.support.waiting import until

TABLE = "provider-table"


def column(app: Any, table_id: str, col: str) -> list[str]:
    """The texts of one column of a LiveTable, top row first."""
    table = app.query_one(f"#{table_id}", LiveTable)
    return [
        table.get_cell_at((r, table.get_column_index(col))).text for r in range(table.row_count)
    ]


class Tier:
    """An engine whose tier ``t`` is ``bad`` (500s, cools down after 2) then ``good``."""

    def __init__(self, eng: Engine, bad: FakeProvider, good: FakeProvider) -> None:
        self.eng, self.bad, self.good = eng, bad, good

    async def call(self, count: int = 1) -> list[str]:
        """``count`` calls of the tier; the providers that answered."""
        return [(await self.eng.run(self.eng.provider("t"), "hi")).provider for _ in range(count)]


async def selected(pilot: Any, name: str) -> None:
    """Attached, on the Providers view, with provider ``name`` the operator's target."""
    app = await attached(pilot)
    await show_table(pilot, "8", TABLE, 2, select=name)
    await until(lambda: app.operator.target("providers").name == name)


def provider(url: str, **kw: Any) -> dict[str, Any]:
    return {"kind": "openai", "base_url": url, "model": "m", "backoff_base": 0.0, **kw}


@pytest.fixture
async def tier(fakes: FakeFleet, sock_path: Path) -> AsyncIterator[Tier]:
    bad = await fakes.start("openai", default=Status(500, body={"error": {"message": "boom"}}))
    good = await fakes.start("openai", default=Reply("from good"))
    settings = {
        "bad": provider(bad.base_url, max_retries=0, cooldown_after=2, cooldown=600),
        "good": provider(good.base_url),
    }
    eng = Engine(
        socket=sock_path, stats_interval=0.2, providers=settings, tiers={"t": ["bad", "good"]}
    )
    await eng.start()
    t = Tier(eng, bad, good)
    assert await t.call(2) == ["good", "good"]  # bad failed twice: cooling down now
    yield t
    await eng.close()


async def test_a_500ing_provider_shows_its_cooldown_counting_down(
    tier: Tier, sock_path: Path, tmp_path: Path
) -> None:
    app = make_app(sock_path, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "8", TABLE, 2, select="bad")
        await until(lambda: cell(app, TABLE, "bad", "state") == "cooling down")
        shown = cell(app, TABLE, "bad", "cooldown")
        assert re.fullmatch(r"\d+m\d\ds failures", shown), shown
        assert "boom" in cell(app, TABLE, "bad", "error")
        assert cell(app, TABLE, "bad", "fails") == "2"
        assert cell(app, TABLE, "good", "state") == "ok"
        assert cell(app, TABLE, "good", "cooldown") == ""
        # the remaining time goes down while the view is up (live, not frozen at 10m00s)
        await until(lambda: cell(app, TABLE, "bad", "cooldown") != shown)
        left = app.state.cooldown_left("bad")
        assert 0 < left < 600
        detail = str(app.query_one(ProviderDetail).render())
        assert "left (failures)" in detail and "boom" in detail


async def test_ending_the_cooldown_from_the_panel_sends_traffic_again(
    tier: Tier, sock_path: Path, tmp_path: Path
) -> None:
    app = make_app(sock_path, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await selected(pilot, "bad")
        await pilot.press("u")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        assert "bad" in modal_title(app)
        await pilot.press("y")
        await until(lambda: not tier.eng.providers["bad"].cooling_down())
        await until(lambda: any("takes traffic again" in n for n in notes(app)))
        await until(lambda: cell(app, TABLE, "bad", "state") == "ok")
        tier.bad.default = Reply("bad is back")
        assert await tier.call() == ["bad"]
        assert tier.bad.count == 3
        # the Audit view shows the write, made by the panel
        await pilot.press("7")
        await until(lambda: "provider.resume" in column(app, "audit-table", "method"))
        row = column(app, "audit-table", "method").index("provider.resume")
        assert column(app, "audit-table", "actor")[row].endswith(" panel")
        assert column(app, "audit-table", "result")[row] == "applied"


async def test_draining_asks_a_duration_and_confirms(
    tier: Tier, sock_path: Path, tmp_path: Path
) -> None:
    app = make_app(sock_path, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await selected(pilot, "good")
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, NumberModal))
        box = app.screen.query_one(Input)
        box.value = "0s"
        await pilot.press("enter")  # refused in the dialog, which stays open
        await until(lambda: "more than 0" in str(app.screen.query_one("#error", Label).render()))
        box.value = "90s"
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        assert "1m30s" in modal_title(app)
        await pilot.press("y")
        good = tier.eng.providers["good"]
        await until(lambda: good.cooling_down() and good.cooldown_reason == "operator")
        await until(lambda: cell(app, TABLE, "good", "cooldown").endswith("drained"))


async def test_read_only_refuses_the_provider_levers(
    tier: Tier, sock_path: Path, tmp_path: Path
) -> None:
    app = make_app(sock_path, tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "8", TABLE, 2, select="bad")
        await pilot.press("u", "d")
        await until(lambda: sum("unavailable" in n for n in notes(app)) == 2)
        assert not isinstance(app.screen, (ConfirmModal, NumberModal))
        assert tier.eng.providers["bad"].cooling_down()


async def test_routers_view_restores_the_configured_order_and_sets_weights(
    rig: Rig, tmp_path: Path
) -> None:
    router = rig.flows.router
    router.set_model("fast", "sim-gamma")  # a re-map: sim-gamma first, then the configured
    configured = router.configured_providers("fast")
    assert configured is not None
    assert router.providers_of("fast") != configured
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        fast = "tiers\x1ffast"
        await show_table(pilot, "3", "route-table", 3, select=fast)
        await until(lambda: app.operator.target("routers").detail == "fast")
        await pilot.press("o")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        assert "'fast'" in modal_title(app)
        await pilot.press("y")
        await until(lambda: router.providers_of("fast") == configured)
        await until(lambda: cell(app, "route-table", fast, "providers") == " → ".join(configured))
        # a provider that rests (drained here) is marked where routes call it
        rig.eng.providers[configured[0]].start_cooldown(60, "operator")
        marked = f"{configured[0]} (cooling)"
        await until(lambda: cell(app, "route-table", fast, "providers").startswith(marked))
        rig.eng.providers[configured[0]].end_cooldown("operator")
        await until(lambda: cell(app, "route-table", fast, "providers") == " → ".join(configured))
        await pilot.press("o")  # again: in order already, so nothing is asked or sent
        await until(lambda: any("already calls its configured providers" in n for n in notes(app)))
        assert not app.screen.is_modal

        await pilot.press("w")
        await until(lambda: isinstance(app.screen, NumberModal))
        box = app.screen.query_one(Input)

        def error_shows(problem: str) -> Callable[[], bool]:
            return lambda: problem in str(app.screen.query_one("#error", Label).render())

        for typed, problem in (
            ("fast=90 nope=10", "no route 'nope'"),
            ("fast=ninety", "not a number"),
            ("fast=0", "at least one weight"),
        ):
            box.value = typed
            await pilot.press("enter")
            await until(error_shows(problem))
        box.value = "fast=90, balanced=10"
        await pilot.press("enter")
        await until(lambda: router.weights is not None)
        assert {k: v for k, v in (router.weights or {}).items() if v} == {
            "fast": 90,
            "balanced": 10,
        }
        await until(lambda: cell(app, "route-table", fast, "share").endswith("→ 90%"))
        # the split shown follows: traffic now lands on fast and balanced only
        before = dict(app.state.group("routers")["tiers"]["stats"]["routes"]["quality"])
        await rig.chat(40)
        quality_share = "tiers\x1fquality"
        # the 5 s window forgets the traffic sent before the weights
        await until(
            lambda: cell(app, "route-table", quality_share, "share").strip().startswith("0%→"), 20
        )
        quality = router.describe()["stats"]["routes"]["quality"]
        assert quality["count"] == before["count"]
        await pilot.press("7")
        await until(lambda: "router.set_weights" in column(app, "audit-table", "method"))
        await pilot.press("3")
        assert cell(app, "route-table", "tiers\x1fquality", "mode") == "drained"
        # A pin overrides the weights: the pinned row shows no weight target, and
        # unpinning says the weights drive the router again.
        router.pin("quality")
        await until(lambda: cell(app, "route-table", quality_share, "mode") == "● pinned")
        assert "→" not in cell(app, "route-table", quality_share, "share")
        app.set_focus(app.query_one("#route-table"))
        await pilot.press("a")
        await until(lambda: any("back to auto (its weights)" in n for n in notes(app)))
        await until(lambda: cell(app, "route-table", quality_share, "mode") == "drained")

        await pilot.press("w")
        await until(lambda: isinstance(app.screen, NumberModal))
        app.screen.query_one(Input).value = "none"
        await pilot.press("enter")
        await until(lambda: router.weights is None)
        await until(lambda: "→" not in cell(app, "route-table", fast, "share"))


async def test_a_spent_tier_budget_shows_in_providers_and_routers(
    fakes: FakeFleet, sock_path: Path, tmp_path: Path
) -> None:
    cheap = await fakes.start("openai", default=Reply("cheap", tokens_in=1000, tokens_out=0))
    smart = await fakes.start("openai", default=Reply("smart"))
    eng = Engine(
        socket=sock_path,
        stats_interval=0.2,
        providers={
            "cheap": provider(cheap.base_url, price_in=0.01),
            "smart": provider(smart.base_url),
        },
        tiers={"fast": ["cheap"], "best": ["smart"]},
        budgets={"fast": {"usd": 0.02, "period": "day"}, "best": {"usd": 50, "period": "hour"}},
    )
    await eng.start()
    try:
        router = eng.add(
            Router(
                {"fast": eng.provider("fast"), "best": eng.provider("best")},
                select=lambda d: "fast",
                name="tiers",
            )
        )
        texts = [(await eng.run(router, f"q{i}")).text for i in range(5)]
        assert texts == ["cheap", "cheap", "smart", "smart", "smart"]
        app = make_app(sock_path, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await attached(pilot)
            await show_table(pilot, "8", TABLE, 2)
            box = app.query_one(TierBudgets)

            def box_text() -> str:
                return str(box.render())

            await until(lambda: "exhausted" in box_text())
            assert box.display and box.has_class("-short") is False  # 40 rows: bordered
            assert "fast $0 of $0.02/day left" in box_text()
            assert "sent elsewhere 3" in box_text()
            assert "best $50.00 of $50.00/h left" in box_text()
            await show_table(pilot, "3", "route-table", 2)
            fast, best = "tiers\x1ffast", "tiers\x1fbest"
            await until(lambda: cell(app, "route-table", fast, "mode") == "over budget")
            assert cell(app, "route-table", fast, "budget") == "$0 of $0.02/day"
            assert cell(app, "route-table", best, "budget") == "$50.00 of $50/h"
            await pilot.resize_terminal(80, 24)
            await pilot.press("8")
            await until(lambda: box.has_class("-short") and "tier fast" in box_text())
    finally:
        await eng.close()


async def test_no_tier_budget_hides_the_box_and_the_column(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "8", TABLE, 7)
        box = app.query_one(TierBudgets)
        await until(lambda: not box.display)
        routes = await show_table(pilot, "3", "route-table", 3)
        assert "budget" not in [c.key for c in routes.spec]
