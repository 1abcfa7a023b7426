"""The Audit view under Pilot against a real engine: a flush from the panel and a TTL
from ``ctl`` (a separate process) both appear with who, scope and before → after."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

from flowdeck.panel.views.audit import AuditView
from flowdeck.panel.widgets.live_table import LiveTable
from tests.support.control import ctl
from tests.support.panel import Rig, make_app, notes, show_table
from tests.support.waiting import until


def _texts(table: LiveTable, col: str) -> list[str]:
    return [table.get_cell(str(r.key.value), col).text for r in table.ordered_rows]


async def test_audit_view_shows_panel_and_ctl_writes_and_filters(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.state.connected, 30)
        await show_table(pilot, "2", "cache-table", 2, select="llm")
        await pilot.press("f")
        await until(lambda: app.screen.is_modal, 10)
        await pilot.press("y")
        await until(lambda: any("Flushed" in n for n in notes(app)), 10)

        code, _, err = await ctl(rig.sock, "cache.set_ttl", "name=llm", "ttl=42")
        assert code == 0, err
        await pilot.press("7")
        table = app.query_one("#audit-table", LiveTable)
        await until(lambda: sorted(_texts(table, "method")) == ["cache.flush", "cache.set_ttl"], 30)
        assert _texts(table, "method")[0] == "cache.set_ttl"  # newest first
        assert table.cursor_coordinate.row == 0  # and the cursor starts on it
        assert all(t == "socket" for t in _texts(table, "scope"))
        who = _texts(table, "actor")
        assert who[0].endswith(" ctl") and who[1].endswith(" panel"), who
        assert _texts(table, "change")[0] == "10m00s → 42s"
        assert _texts(table, "result") == ["applied", "applied"]
        view = app.query_one(AuditView)
        assert view.fetches >= 1

        # the filter narrows the rows to the words typed
        await pilot.press("slash", *"ttl")
        await until(lambda: table.row_count == 1, 10)
        assert _texts(table, "method") == ["cache.set_ttl"]

        # ctl audit: the same records from the command line
        code, out, err = await ctl(rig.sock, "audit", "method=cache.set_ttl")
        assert code == 0, err
        records = json.loads(out)
        assert [(x["method"], x["before"], x["after"]) for x in records] == [
            ("cache.set_ttl", 600, 42)
        ]
        code, _, err = await ctl(rig.sock, "audit", "count=0")
        assert code == 1 and "count must be" in err, (code, err)
        await pilot.press("escape", "q")


async def test_audit_view_fits_80_columns_without_scrolling_sideways(
    rig: Rig, tmp_path: Path
) -> None:
    code, _, err = await ctl(
        rig.sock,
        "router.set_weights",
        "name=tiers",
        'weights:={"fast": 90, "balanced": 8, "quality": 2}',
    )
    assert code == 0, err
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: app.state.connected, 30)
        await pilot.press("7")
        table = app.query_one("#audit-table", LiveTable)
        await until(lambda: _texts(table, "method") == ["router.set_weights"], 30)
        shown = [c.key for c in table.spec]
        assert {"time", "method", "target", "change", "result"} <= set(shown), shown
        await until(lambda: table.virtual_size.width <= table.size.width)
        assert table.max_scroll_x == 0
        clipped = _texts(table, "change")[0]
        assert clipped.startswith("- → fast 90") and clipped.endswith("…"), clipped
        table.focus()
        await pilot.press("enter")  # the whole change, which the column cut
        whole = "router.set_weights tiers: - → fast 90, balanced 8, quality 2 (applied)"
        await until(lambda: any(whole in n for n in notes(app)), 30)
        # and who, when and through what, which 80 columns leave out
        note = next(n for n in notes(app) if whole in n)
        assert note.endswith(" · socket") and "@" in note and " ctl · " in note, note
        assert _texts(table, "result") == ["applied"]
        await pilot.resize_terminal(140, 30)
        await until(lambda: "actor" in [c.key for c in table.spec])
        await until(lambda: len(_texts(table, "change")[0]) > len(clipped))
        assert _texts(table, "change")[0].startswith(clipped[:-1])
        # With the room, the whole change shows: no cap of its own under the column's.
        await until(lambda: _texts(table, "change")[0] == "- → fast 90, balanced 8, quality 2")


async def test_a_write_shows_when_the_view_is_opened_after_its_event_left_the_log(
    rig: Rig, tmp_path: Path
) -> None:
    """The Audit view opened minutes after a write: its ``audit`` event has long rolled
    out of the panel's event log (here: a log of 50), the record still shows."""
    app = make_app(rig.sock, tmp_path)
    app.state.events = deque(maxlen=50)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.state.connected, 30)
        code, _, err = await ctl(rig.sock, "cache.set_ttl", "name=llm", "ttl=42")
        assert code == 0, err
        await until(lambda: app.state.audit_seq > 0, 30)
        written = app.state.audit_seq
        seen = app.state.events_total
        await rig.chat(60)  # pushes the audit event out of the 50-event log
        await until(lambda: app.state.events_total > seen + 50, 30)
        assert all(ev[0] != written for ev in app.state.events)
        await pilot.press("7")
        table = app.query_one("#audit-table", LiveTable)
        await until(lambda: _texts(table, "method") == ["cache.set_ttl"], 30)
        assert _texts(table, "change") == ["10m00s → 42s"]
