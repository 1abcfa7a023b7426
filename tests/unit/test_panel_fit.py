"""Boxes fit a small terminal by leaving whole columns and items out, never by cutting a
header or a value mid-word (80x24: the Providers and parallel-runs boxes are ~36 cells)."""

from __future__ import annotations

from typing import Any

import pytest
from rich.cells import cell_len

from flowdeck.panel.state import PanelState
from flowdeck.panel.widgets.gantt import Gantt
from flowdeck.panel.widgets.provider_stats import COLUMNS, DROP_FIRST, ProviderStats, fit_columns
from tests.support.frozen import frozen_state

HEADERS = {c.header for c in COLUMNS}


def streaming_state() -> PanelState:
    """The recorded state with every column in use (streamed calls, many calls)."""
    state = frozen_state()
    for p in state.group("providers").values():
        p["ttft_p50"], p["calls"] = 0.012, 123_456
    return state


@pytest.mark.parametrize("width", [24, 30, 36, 44, 60, 116])
def test_provider_columns_fit_whole_and_leave_in_order(width: int) -> None:
    lines = [str(line) for line in ProviderStats(streaming_state()).render_state(width)]
    assert all(cell_len(line) <= width for line in lines), (width, lines)
    words = lines[0].split()
    assert "…" not in lines[0], lines[0]
    shown = [w for w in words if w != "latency"]
    assert set(shown) <= HEADERS and shown[0] == "p50", shown  # whole headers; p50 stays
    gone = [c.key for c in COLUMNS if c.header not in shown]
    assert set(gone) == set(DROP_FIRST[: len(gone)]), gone  # the least important first
    assert all("…" not in line for line in lines[1:]), lines  # names fit (8 cells at least)


def test_every_column_shows_when_there_is_room() -> None:
    nw, cols = fit_columns(["sim-alpha"], 80, streamed=True)
    assert nw == 9 and [c.key for c in cols] == [c.key for c in COLUMNS]
    _, cols = fit_columns(["sim-alpha"], 80, streamed=False)
    assert "ttft" not in [c.key for c in cols]  # nothing streamed: no empty column


@pytest.mark.parametrize("width", [20, 30, 36, 60])
def test_a_parallel_run_header_keeps_whole_items(width: int) -> None:
    head = str(Gantt(frozen_state()).render_state(width)[0])
    assert cell_len(head) <= width and "…" not in head, head
    if width >= 30:
        assert "speedup" in head, head  # the figure the box is about goes last


def test_table_columns_add_optional_ones_by_priority_while_the_fitted_one_has_room() -> None:
    from flowdeck.panel.widgets.column_fit import clip_column, fit_columns
    from flowdeck.panel.widgets.live_table import Cell, Column

    order = [Column(k, k.title()) for k in ("a", "b", "c", "rest")]
    rows = {"r": {"a": Cell("x" * 10), "b": Cell("y" * 10), "c": Cell(""), "rest": Cell("z" * 40)}}

    def keys(width: int, **kw: Any) -> list[str]:
        cols = fit_columns(order, ["a"], ["c", "b"], "rest", rows, width, 10, **kw)
        return [c.key for c in cols]

    assert keys(200) == ["a", "b", "c", "rest"]
    assert keys(200, only_if_used=["c"]) == ["a", "b", "rest"]  # c has no text in any row
    assert keys(30) == ["a", "c", "rest"]  # c (label 1+2+2 cells) fits before b, b does not
    assert keys(10) == ["a", "rest"]
    clip_column(rows, "rest", 12)
    assert rows["r"]["rest"].text == "z" * 11 + "…"


def test_audit_change_of_a_flush_counts_entries() -> None:
    from flowdeck.panel.views.audit import change_text

    one = {"method": "cache.flush", "before": {"llm": 99}, "after": {"llm": 0}}
    every = {"method": "cache.flush", "before": {"a": 3, "b": 4}, "after": {"a": 0, "b": 0}}
    ttl = {"method": "cache.set_ttl", "before": 600, "after": 12.5}
    assert change_text(one) == "99 → 0"
    assert change_text(every) == "2 caches 7 → 0"
    assert change_text(ttl) == "10m00s → 12.5s"  # TTLs as the Caches view shows them
    resume = {
        "method": "provider.resume",
        "before": {"state": "cooling down", "cooldown": 287.5},
        "after": {"state": "ok", "cooldown": 0},
    }  # a cooldown as the Providers view counts it down, not raw seconds
    assert change_text(resume) == "state cooling down, cooldown 4m48s → state ok, cooldown 0"


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_the_gone_banner_keeps_the_way_out_and_adds_the_socket_only_after_the_rest(
    width: int,
) -> None:
    import time

    from flowdeck.panel.widgets.header import StatusHeader

    state = PanelState(socket="/run/user/1000/flowdeck/" + "very-long-service-name" * 2 + ".sock")
    state.snapshot["engine"] = {"pid": 4711}
    state.last_data = time.time() - 65  # "showing data from 1m05s ago"
    header = StatusHeader(state)
    header.fleet_position = (None, 2)
    text = header.banner(width)
    assert cell_len(text) <= width
    assert text.startswith(" ✖ ENGINE GONE · pid 4711 · 0: fleet view (2 live)")
    if "showing data from" not in text:  # left out for room: so is the longer path
        assert "flowdeck/" not in text and "…" not in text, text


@pytest.mark.parametrize("width", [36, 60, 116])
def test_a_cooling_provider_says_so_however_narrow_the_box(width: int) -> None:
    """At 80 columns the figures fill the box: the cooldown takes their place, it was
    cut off with them ("$0.4…")."""
    state = streaming_state()
    cooling = sorted(state.group("providers"))[0]
    state.group("providers")[cooling]["cooldown_remaining"] = 590.0
    lines = [str(line) for line in ProviderStats(state).render_state(width)]
    row = next(line for line in lines if line.startswith(cooling))
    assert "cooling 9m50s" in row and cell_len(row) <= width, row


def test_a_cut_path_keeps_whole_trailing_parts() -> None:
    """The header's socket is cut at a "/" (it was cut at another letter as the figures
    beside it grew and shrank, so the line jittered every second)."""
    from flowdeck.panel.fmt import path_tail

    path = "/tmp/qa/rt/flowdeck/demo.6488.sock"
    assert path_tail(path, 40) == path
    assert {path_tail(path, r) for r in range(16, 25)} == {"…/demo.6488.sock"}
    assert path_tail(path, 25) == "…/flowdeck/demo.6488.sock"
    assert path_tail(path, 10) == "…6488.sock"  # not even the file name fits: its end


def test_before_the_first_data_cost_and_savings_are_dashes_like_the_rest() -> None:
    from flowdeck.panel.fmt import NONE
    from flowdeck.panel.widgets.kpis import Kpis

    waiting = " ".join(str(line) for line in Kpis(PanelState()).render_state(120))
    assert f"cost {NONE}" in waiting and f"saved {NONE}" in waiting and "$0" not in waiting
    shown = " ".join(str(line) for line in Kpis(frozen_state()).render_state(120))
    assert "cost $" in shown and "saved $" in shown
