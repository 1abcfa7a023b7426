"""Regression tests of issue 12's panel items that are pure logic (formatting, input
validation, the model's reset on a new engine)."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.panel import fmt
from flowdeck.panel.state import PanelState
from flowdeck.panel.themes import ThemeError, border_color, load_themes, parse_theme
from flowdeck.panel.validate import parse_size, parse_ttl
from tests.support import ROOT


def test_counts_roll_over_to_the_next_unit_instead_of_1000k() -> None:
    assert fmt.num(999_999) == "1.0M"
    assert fmt.num(999_949) == "999.9k"
    assert fmt.num(999_999_999) == "1.0G"


def test_tiny_costs_are_decimals_not_scientific_notation() -> None:
    assert fmt.money(5.3e-05) == "$0.000053"
    assert fmt.money(4.8e-06) == "$0.0000048"
    assert "e" not in fmt.money(1.234e-09)


def test_ttls_read_as_settings_and_round_up_to_the_next_unit() -> None:
    assert fmt.ttl(30) == "30s" and fmt.ttl(60) == "1m00s" and fmt.ttl(1.5) == "1.5s"
    assert fmt.ttl(59.999) == "1m00s"
    assert fmt.secs(59.999) == "1m00s" and fmt.secs(0.9999) == "1.00s"
    assert fmt.ttl(0.001) == "1.0ms"


def test_a_ttl_is_shown_whole_not_cut_to_two_units() -> None:
    """1e5 s read "1d03h" in the table, the dialog and the audit: the set value, cut."""
    assert fmt.ttl(100_000) == "1d03h46m40s" and fmt.ttl(86_460) == "1d00h01m"
    assert fmt.ttl(3605) == "1h00m05s" and fmt.ttl(3600) == "1h00m" and fmt.ttl(86400) == "1d00h"


@pytest.mark.parametrize("text", ["1e-300", "0.0001", "0.0009"])
def test_a_ttl_below_one_millisecond_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"at least 0\.001"):
        parse_ttl(text)


def test_a_size_takes_a_whole_number_written_with_an_exponent() -> None:
    assert parse_size("1e3") == 1000 and parse_size("1.5e3") == 1500  # as the TTL box
    assert parse_size("1,000") == 1000 and parse_size("10,000,000") == 10_000_000  # as shown
    with pytest.raises(ValueError, match="not a number"):
        parse_size("1,00")
    with pytest.raises(ValueError, match="whole number"):
        parse_size("1.5")


@pytest.mark.parametrize("parse", [parse_ttl, parse_size])
def test_long_invalid_input_still_shows_the_reason(parse: Any) -> None:
    with pytest.raises(ValueError) as info:
        parse("x" * 500)
    message = str(info.value)
    assert len(message) < 80 and ("not a number" in message or "not a duration" in message)


def _snap(pid: int, started: float, run_ids: list[int], hits: int = 10) -> dict[str, Any]:
    return {
        "seq": 5,
        "time": started + 10,
        "engine": {"name": "e", "pid": pid, "started_at": started},
        "caches": {"llm": {"name": "llm", "stats": {"hits": hits, "misses": 0}}},
        "parallels": {
            "fan": {
                "timelines": [
                    {"run_id": r, "wall": 0.1, "status": "ok", "branches": []} for r in run_ids
                ]
            }
        },
        "workload": {"runs": 100},
    }


def test_a_new_engine_resets_runs_rates_and_marks_the_sparklines() -> None:
    st = PanelState()
    st.apply_snapshot(_snap(10, 1000.0, [7, 8, 9]))
    st.apply_stats(
        {"time": 1012.0, "caches": {"llm": {"hits": 20, "misses": 0}}, "workload": {"runs": 150}}
    )
    assert (st.rps or 0) > 0 and [r.run_id for r in st.recent_runs()] == [9, 8, 7]
    # the engine restarted: new pid / start time, run ids start over
    st.apply_snapshot(_snap(11, 2000.0, [1, 2], hits=1))
    assert [r.run_id for r in st.recent_runs()] == [2, 1]  # no old run on top, none skipped
    assert st.rps is None and st.restarts == 1  # no rate across the restart
    assert fmt.BREAK_MARK in fmt.sparkline(st.hit_rates("llm"), 10)
    assert fmt.BREAK_MARK in fmt.sparkline(list(st.rps_history), 10, 0.0, 100.0)


def test_a_resync_of_the_same_engine_keeps_its_history() -> None:
    st = PanelState()
    st.apply_snapshot(_snap(10, 1000.0, [7, 8]))
    st.apply_snapshot(_snap(10, 1000.0, [8, 9]))
    assert [r.run_id for r in st.recent_runs()] == [9, 8, 7] and st.restarts == 0


def test_the_engine_id_decides_when_present() -> None:
    st = PanelState()
    a, b = _snap(10, 1000.0, [5]), _snap(10, 1000.0, [1])
    a["engine"]["id"], b["engine"]["id"] = "aaaa", "bbbb"
    st.apply_snapshot(a)
    st.apply_snapshot(b)
    assert st.restarts == 1 and [r.run_id for r in st.recent_runs()] == [1]


# ---- themes: border contrast, file name vs name ----------------------------------------
def _luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    from textual.color import Color

    c = Color.parse(hex_colour)

    def channel(v: int) -> float:
        x = v / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("path", sorted((ROOT / "themes").glob("*.toml")), ids=lambda p: p.name)
def test_every_theme_draws_borders_at_least_3_to_1_against_its_background(path: Any) -> None:
    theme = parse_theme(path.read_text(encoding="utf-8"), path.name)
    background = theme.to_color_system().generate()["background"]
    assert contrast(border_color(theme), background) >= 3.0, path.name


def test_the_file_name_is_the_themes_name() -> None:
    text = '[colors]\nprimary = "#123456"\n'
    assert parse_theme(text, "mine.toml").name == "mine"  # no name key: the file's
    assert parse_theme('name = "mine"\n' + text, "mine.toml").name == "mine"
    with pytest.raises(ThemeError, match=r"'name' is 'other' but the file is 'mine.toml'"):
        parse_theme('name = "other"\n' + text, "mine.toml")


def test_a_theme_file_whose_name_disagrees_is_skipped_and_named(tmp_path: Any) -> None:
    (tmp_path / "mine.toml").write_text('name = "yours"\n[colors]\nprimary = "#123456"\n')
    themes, problems = load_themes(tmp_path)
    assert "mine" not in themes and "yours" not in themes
    assert problems[0].source.endswith("mine.toml") and "rename the file" in problems[0].message


@pytest.mark.parametrize("text", ["漢字キャッシュ", "cache 🚀🚀🚀", "ascii-name-long", "a漢b字c"])
@pytest.mark.parametrize("width", [1, 2, 5, 8, 30])
def test_clip_and_fit_count_terminal_cells_not_characters(text: str, width: int) -> None:
    from rich.cells import cell_len

    clipped = fmt.clip(text, width)
    assert cell_len(clipped) <= width
    assert clipped == text or clipped.endswith("…")
    assert cell_len(fmt.fit(text, width)) == width  # boxes line up whatever the name


def test_a_share_too_small_to_show_is_not_shown_as_none() -> None:
    """A weight of 1 beside 1,000 is 0.1%: '<1%' where the column has no decimals, so it
    does not read as drained (QA)."""
    assert fmt.pct(0.000999, 0) == "<1%" and fmt.pct(0.0004) == "<0.1%"
    assert fmt.pct(0.0, 0) == "0%" and fmt.pct(0.734) == "73.4%" and fmt.pct(0.02, 0) == "2%"
