"""Unit tests of the panel's pure parts: the state model, formatting, input validation,
theme parsing. No Textual app and no engine: plain dicts shaped like docs/internals.md.

Long on purpose: the state model is pure, and these are its cases.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine.control.methods import validate
from flowdeck.engine.control.schema import MAX_SIZE, MAX_TTL, MIN_TTL
from flowdeck.panel import fmt
from flowdeck.panel.state import CONNECTED, CONNECTING, DISCONNECTED, PanelState
from flowdeck.panel.themes import ThemeError, builtin_theme_files, load_themes, parse_theme
from flowdeck.panel.validate import parse_duration, parse_size, parse_ttl


def cache_stats(hits: int, misses: int, size: int = 5) -> dict[str, Any]:
    total = hits + misses
    return {
        "hits": hits,
        "hits_l1": hits,
        "hits_l2": 0,
        "misses": misses,
        "coalesced": 0,
        "sets": misses,
        "evictions": {"lru": 1, "ttl": 2, "resize": 0},
        "size": size,
        "hit_rate": hits / total if total else 0.0,
        "l2_up": False,
        "l2_errors": 0,
        "time_saved": 1.5,
        "cost_saved": 0.25,
    }


def router_stats(counts: dict[str, int]) -> dict[str, Any]:
    total = sum(counts.values())
    return {
        "total": total,
        "unknown": 0,
        "routes": {
            r: {
                "count": c,
                "share": c / total if total else 0.0,
                "errors": 0,
                "cost": 0.1,
                "p50": 0.1,
                "p95": 0.2,
                "p99": 0.3,
            }
            for r, c in counts.items()
        },
    }


def snapshot(t: float = 1000.0, seq: int = 10) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": t,
        "engine": {
            "name": "eng",
            "pid": 42,
            "uptime": 5.0,
            "socket": "/x.sock",
            "redis": {"url": "redis://h", "up": True},
            "read_only": False,
        },
        "workload": {"runs": 100, "errors": 0, "in_flight": 1, "p50": 0.01, "p95": 0.1},
        "caches": {
            "llm": {
                "name": "llm",
                "kind": "cache",
                "ttl": 60.0,
                "max_size": 100,
                "l2": False,
                "stats": cache_stats(10, 10),
            }
        },
        "routers": {
            "tiers": {
                "name": "tiers",
                "kind": "router",
                "routes": ["fast", "slow"],
                "default": "fast",
                "pin": None,
                "providers": {"fast": ["a"], "slow": ["b", "a"]},
                "stats": router_stats({"fast": 5, "slow": 5}),
            }
        },
        "parallels": {
            "fan": {
                "name": "fan",
                "kind": "parallel",
                "branches": ["x", "y"],
                "limit": None,
                "fail": "fast",
                "stats": {
                    "runs": 1,
                    "errors": 0,
                    "cancelled": 0,
                    "wall": {"p50": 0.2},
                    "speedup": 1.5,
                },
                "timelines": [
                    {
                        "run_id": 1,
                        "started": t,
                        "wall": 0.2,
                        "status": "ok",
                        "speedup": 1.5,
                        "branches": [
                            {"name": "x", "start": 0.0, "end": 0.2, "status": "ok"},
                            {"name": "y", "start": 0.0, "end": 0.1, "status": "ok"},
                        ],
                    }
                ],
            }
        },
        "memories": {
            "notes": {
                "name": "notes",
                "kind": "memory",
                "namespace": "n",
                "max_size": 10,
                "l2": False,
                "stats": {
                    "size": 3,
                    "adds": 3,
                    "searches": 0,
                    "search_p50": None,
                    "pending_l2": 0,
                    "l2_errors": 0,
                },
            }
        },
        "providers": {
            "a": {
                "name": "a",
                "kind": "simulated",
                "model": "m",
                "calls": 4,
                "errors": 0,
                "p50": 0.1,
                "p95": 0.2,
                "cost": 0.5,
            },
            "b": {
                "name": "b",
                "kind": "simulated",
                "model": "m",
                "calls": 1,
                "errors": 1,
                "p50": 0.3,
                "p95": 0.4,
                "cost": 0.25,
            },
        },
        "tiers": {"fast": ["a"], "slow": ["b", "a"]},
    }


def stats_at(
    t: float, *, hits: int, misses: int, runs: int, seq: int, routes: dict[str, int]
) -> dict[str, Any]:
    snap = snapshot(t, seq)
    return {
        "seq": seq,
        "time": t,
        "uptime": 5.0 + t - 1000.0,
        "redis": {"up": True},
        "workload": {**snap["workload"], "runs": runs},
        "caches": {"llm": cache_stats(hits, misses)},
        "routers": {"tiers": router_stats(routes)},
        "parallels": {"fan": snap["parallels"]["fan"]["stats"]},
        "memories": {"notes": snap["memories"]["notes"]["stats"]},
        "providers": snap["providers"],
    }


# ---- state model ---------------------------------------------------------------------
def test_snapshot_then_stats_merge_and_rates() -> None:
    st = PanelState(interval=1.0)
    assert st.conn == CONNECTING and not st.has_data
    st.apply("snapshot", snapshot())
    assert st.conn == CONNECTED and st.ever_connected
    assert st.group("caches")["llm"]["stats"]["hits"] == 10
    v = st.version
    # 2 s later: 30 more hits, 10 more misses, 200 more runs, 400 more events
    st.apply(
        "stats",
        stats_at(1002.0, hits=40, misses=20, runs=300, seq=410, routes={"fast": 5, "slow": 25}),
    )
    assert st.version > v
    assert st.group("caches")["llm"]["stats"]["hits"] == 40
    assert st.rps == pytest.approx(100.0)
    assert st.eps == pytest.approx(200.0)
    assert st.hit_rates("llm")[-1] == pytest.approx(0.75)
    split = st.recent_split("tiers")
    assert split == {"fast": 0.0, "slow": 1.0}
    assert st.engine["uptime"] == pytest.approx(7.0)
    # A sample closer than `interval` to the last one updates values but not history.
    st.apply(
        "stats",
        stats_at(1002.5, hits=41, misses=20, runs=301, seq=411, routes={"fast": 5, "slow": 26}),
    )
    assert len(st.hit_rates("llm")) == 1
    assert st.group("caches")["llm"]["stats"]["hits"] == 41


def test_stats_before_snapshot_are_ignored() -> None:
    st = PanelState()
    st.apply("stats", stats_at(1.0, hits=1, misses=1, runs=1, seq=1, routes={}))
    assert not st.has_data


def test_counter_reset_draws_a_gap_not_a_negative_rate() -> None:
    st = PanelState(interval=0.5)
    st.apply("snapshot", snapshot())
    st.apply("stats", stats_at(1001.0, hits=50, misses=50, runs=10, seq=20, routes={"fast": 1}))
    st.apply("stats", stats_at(1002.0, hits=1, misses=1, runs=11, seq=21, routes={"fast": 1}))
    assert st.hit_rates("llm")[-1] is None


def test_events_are_bounded_and_config_events_apply_at_once() -> None:
    st = PanelState(event_capacity=100)
    st.apply("snapshot", snapshot())
    batch = [[i, 1.0, "cache.hit", "llm", "l1", "k"] for i in range(11, 311)]
    st.apply("events", batch)
    assert len(st.events) == 100 and st.events_total == 300 and st.seq == 310
    st.apply(
        "events",
        [
            [311, 2.0, "cache.config", "llm", 2.5, 7],
            [312, 2.0, "router.config", "tiers", "slow", None, None],
            [313, 2.0, "router.config", "tiers", "slow", "fast", ["b", "a"]],
            [314, 2.0, "cache.flush", "llm", 5, 0],
            [315, 2.0, "memory.clear", "notes", 3],
            [316, 2.0, "redis", "down", "boom"],
        ],
    )
    llm = st.group("caches")["llm"]
    assert llm["ttl"] == 2.5 and llm["max_size"] == 7 and llm["stats"]["size"] == 0
    tiers = st.group("routers")["tiers"]
    assert tiers["pin"] == "slow" and tiers["providers"]["fast"] == ["b", "a"]
    assert st.group("memories")["notes"]["stats"]["size"] == 0
    assert st.engine["redis"]["up"] is False
    # an event of a known kind with a wrong arity stays in the log and changes nothing
    st.apply("events", [[317, 3.0, "cache.config", "llm", 9.0]])
    assert st.seq == 317 and st.group("caches")["llm"]["ttl"] == 2.5


def test_write_replies_apply_at_once() -> None:
    st = PanelState()
    st.apply("snapshot", snapshot())
    v = st.version
    described = {**snapshot()["caches"]["llm"], "ttl": 5.0, "max_size": 9}
    st.apply_reply("cache.set_ttl", {**described, "result": {"expired": 0}})
    llm = st.group("caches")["llm"]
    assert llm["ttl"] == 5.0 and llm["max_size"] == 9 and "result" not in llm
    assert st.version > v
    tiers = {**snapshot()["routers"]["tiers"], "pin": "fast"}
    st.apply_reply("router.pin", tiers)
    assert st.group("routers")["tiers"]["pin"] == "fast"
    st.apply_reply("cache.flush", {"flushed": {"llm": {"name": "llm", "l1": 5, "l2": None}}})
    assert st.group("caches")["llm"]["stats"]["size"] == 0
    st.apply_reply("memory.clear", {"cleared": {"notes": 3}})
    assert st.group("memories")["notes"]["stats"]["size"] == 0


def test_parallel_runs_from_snapshot_and_events() -> None:
    st = PanelState(runs_per_parallel=3)
    st.apply("snapshot", snapshot())
    assert [r.run_id for r in st.recent_runs()] == [1]
    seq = 20
    for run_id in range(2, 7):
        evs = [
            [seq, 1.0, "parallel.branch", "fan", run_id, "x", 0.0, 0.3, "ok"],
            [
                seq + 1,
                1.0,
                "parallel.branch",
                "fan",
                run_id,
                "y",
                0.1,
                0.2,
                "error" if run_id == 6 else "cancelled",
            ],
            [seq + 2, 1.0, "parallel.run", "fan", run_id, 0.3, "error", 2],
        ]
        seq += 3
        st.apply("events", evs)
    runs = st.recent_runs(10)
    assert [r.run_id for r in runs] == [6, 5, 4]  # ring of 3, newest first
    assert runs[0].branches[1] == ("y", 0.1, 0.2, "error")
    assert runs[0].speedup == pytest.approx((0.3 + 0.1) / 0.3)
    assert runs[1].speedup is None  # a cancelled branch: no speedup from stopped work
    assert st.recent_runs(parallel="nope") == []


def test_connection_states_and_dropped() -> None:
    st = PanelState(socket="/s")
    st.apply("state", {"connected": False, "error": "no engine", "attempt": 3, "path": "/s"})
    assert st.conn == DISCONNECTED and "attempt 3" in st.conn_detail
    assert not st.ever_connected
    st.apply("state", {"connected": True, "error": None, "attempt": 0, "path": "/s"})
    assert st.connected
    st.apply("dropped", {"count": 7, "next": 10})
    assert st.dropped_total == 7
    st.apply("state", {"connected": False, "error": None, "attempt": 1, "path": "/s"})
    assert st.conn == DISCONNECTED


def test_read_only_from_flag_or_engine() -> None:
    st = PanelState()
    assert not st.read_only
    snap = snapshot()
    snap["engine"]["read_only"] = True
    st.apply("snapshot", snap)
    assert st.read_only
    assert PanelState(read_only=True).read_only


def test_resync_snapshot_replaces_state_and_counts() -> None:
    st = PanelState()
    st.apply("snapshot", snapshot())
    snap2 = snapshot(t=2000.0, seq=5)
    del snap2["memories"]["notes"]
    st.apply("snapshot", snap2)
    assert st.resyncs == 1 and st.group("memories") == {} and st.seq == 5


def test_export_is_json() -> None:
    st = PanelState(socket="/s")
    st.apply("snapshot", snapshot())
    data = json.loads(json.dumps(st.export()))
    assert data["snapshot"]["caches"]["llm"]["ttl"] == 60.0
    assert data["recent_runs"][0]["branches"][0]["name"] == "x"


def test_export_carries_the_newest_seq_everywhere() -> None:
    from flowdeck.panel.export import default_export_dir, export_payload

    st = PanelState(socket="/s")
    st.apply("snapshot", snapshot(seq=10))
    st.apply("events", [[57, 1.0, "cache.hit", "llm", "l1", "abc"]])
    data = json.loads(json.dumps(export_payload(st)))
    assert data["seq"] == data["snapshot"]["seq"] == 57
    assert st.snapshot["seq"] == 10  # the state itself is not changed by exporting
    assert default_export_dir() != Path.cwd()


# ---- formatting ----------------------------------------------------------------------
def test_formatting_helpers() -> None:
    assert fmt.num(None) == fmt.NONE
    assert fmt.num(999) == "999" and fmt.num(1234) == "1.2k" and fmt.num(2_500_000) == "2.5M"
    assert fmt.pct(0.734) == "73.4%" and fmt.pct(None) == fmt.NONE
    assert fmt.secs(0.0005) == "500µs" and fmt.secs(0.25) == "250ms" and fmt.secs(1.5) == "1.50s"
    assert fmt.secs(125) == "2m05s" and fmt.uptime(3 * 3600 + 60) == "3h01m"
    assert fmt.money(0) == "$0" and fmt.money(0.0042) == "$0.0042" and fmt.money(1.234) == "$1.23"
    assert fmt.rate(3.14) == "3.1" and fmt.rate(512.4) == "512" and fmt.rate(56_300) == "56.3k"
    assert fmt.ttl(None) == "none" and fmt.ttl(300) == "5m00s"
    assert fmt.bar(0.5, 4) == "██  " and fmt.bar(1.0, 3) == "███" and fmt.bar(None, 2) == "  "
    assert len(fmt.bar(0.33, 10)) == 10
    line = fmt.sparkline([0.0, None, 0.5, 1.0], 6)
    assert line == "  ▁ ▅█"
    assert fmt.sparkline([1.0] * 50, 5) == "█████"
    assert fmt.clip("abcdef", 4) == "abc…" and fmt.clip("ab", 4) == "ab"


# ---- input validation ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "not a duration"),
        ("-5", "greater than 0"),
        ("0", "greater than 0"),
        ("inf", "not finite"),
        ("-inf", "not finite"),
        ("nan", "not a number"),
        ("", "enter a TTL"),
        ("1e30", "at most"),
        ("1e-300", "at least"),
        (str(MAX_TTL + 1), "at most"),
    ],
)
def test_ttl_rejects_with_a_message(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_ttl(text)


def test_ttl_accepts_seconds_and_units_like_the_drain_dialog() -> None:
    assert parse_ttl("120") == 120.0
    assert parse_ttl(" 1.5 ") == 1.5
    assert math.isfinite(parse_ttl("1e3"))
    assert parse_ttl("5m") == 300.0 == parse_duration("5m")
    assert parse_ttl("1.5H") == 5400.0 and parse_ttl("2d") == 172800.0
    # as the panel shows a TTL, so what it shows can be typed back
    assert parse_ttl("1m30s") == 90.0 and parse_ttl("1d03h46m40s") == 100_000.0
    assert parse_ttl(fmt.ttl(100_000)) == 100_000.0 and parse_ttl(fmt.ttl(3605)) == 3605.0
    for text in ("5x", "m", "5 minutes", "1m30", "m30s"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_ttl(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "not a number"),
        ("-5", "greater than 0"),
        ("0", "greater than 0"),
        ("1.5", "whole number"),
        ("inf", "not finite"),
        ("nan", "not finite"),
        ("", "enter a number"),
        (str(1 << 40), "at most"),
        (str(MAX_SIZE + 1), "at most"),
    ],
)
def test_size_rejects_with_a_message(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_size(text)


def test_size_accepts_positive_integers() -> None:
    assert parse_size("10000") == 10000
    assert parse_size("1_000") == 1000


def test_what_the_panel_accepts_the_engine_accepts() -> None:
    """The modal bounds are the engine's params bounds (one definition in schema)."""
    for value in (parse_ttl(str(MIN_TTL)), parse_ttl(str(MAX_TTL))):
        assert validate("cache.set_ttl", {"name": "c", "ttl": value}, lambda k, n: True)
    size = parse_size(str(MAX_SIZE))
    assert validate("cache.set_max_size", {"name": "c", "max_size": size}, lambda k, n: True)


# ---- themes --------------------------------------------------------------------------
def test_builtin_themes_found_with_importlib_resources() -> None:
    names = {src for src, _ in builtin_theme_files()}
    assert {"themes/dark.toml", "themes/light.toml", "themes/high-contrast.toml"} <= names
    themes, problems = load_themes(user_dir=None)
    assert problems == []
    assert {"dark", "light", "high-contrast"} <= set(themes)
    assert themes["dark"].dark and not themes["light"].dark
    for theme in themes.values():
        assert theme.primary and theme.background and theme.error


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name = ", "not valid TOML"),
        ('dark = true\n[colors]\nprimary = "#fff"', "'name'"),
        ('name = "x"', "missing \\[colors\\]"),
        ('name = "x"\n[colors]\nsecondary = "#fff"', "primary is required"),
        ('name = "x"\n[colors]\nprimary = "not-a-colour"', "colors.primary"),
        ('name = "x"\n[colors]\nprimary = 3', "must be a string"),
        ('name = "x"\n[colors]\nprimary = "#fff"\nprimry = "#000"', "unknown colour"),
        ('name = "x"\ndark = "yes"\n[colors]\nprimary = "#fff"', "'dark'"),
        ('name = "a b"\n[colors]\nprimary = "#fff"', "spaces"),
        ('name = "x"\nfoo = 1\n[colors]\nprimary = "#fff"', "unknown key"),
        ('name = "x"\nprimary = "#fff"', "colours go in a \\[colors\\] table"),
    ],
)
def test_malformed_theme_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ThemeError, match=problem):
        parse_theme(text)


def test_user_themes_override_and_bad_files_are_reported(tmp_path: Any) -> None:
    (tmp_path / "mine.toml").write_text('name = "mine"\n[colors]\nprimary = "#123456"\n')
    (tmp_path / "dark.toml").write_text(
        'name = "dark"\ndark = true\n[colors]\nprimary = "#ff0000"\n'
    )
    (tmp_path / "broken.toml").write_text("name = [\n")
    (tmp_path / "ignored.txt").write_text("not a theme")
    themes, problems = load_themes(tmp_path)
    assert themes["mine"].primary == "#123456"
    assert themes["dark"].primary == "#ff0000"  # a user file may replace a built-in
    assert len(problems) == 1 and problems[0].source.endswith("broken.toml")
    assert "not valid TOML" in str(problems[0])


# ---- command line and packaging --------------------------------------------------------
def test_cli_validates_refresh_and_documents_every_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flowdeck.panel.__main__ import build_parser

    parser = build_parser()
    args = parser.parse_args(
        ["--socket", "/x.sock", "--theme", "light", "--read-only", "--refresh", "0.25"]
    )
    assert (args.socket, args.theme, args.read_only, args.refresh) == (
        "/x.sock",
        "light",
        True,
        0.25,
    )
    assert parser.parse_args([]).refresh == 0.5
    for bad in ("0", "-1", "abc", "nan", "inf", "11", "0.05"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--refresh", bad])
        assert "--refresh" in capsys.readouterr().err
    help_text = parser.format_help()
    for option in ("--socket", "--theme", "--read-only", "--refresh", "embedded demo"):
        assert option in help_text


def test_package_data_covers_theme_and_css_files() -> None:
    """Every .toml theme and .tcss file matches pyproject's package-data patterns, so an
    installed wheel has them (checked by building one in development: see the report)."""
    import fnmatch
    import tomllib

    from tests.support import ROOT as root

    cfg = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = cfg["package-data"]
    assert "flowdeck.themes" in cfg["packages"]
    assert (root / "themes" / "__init__.py").is_file()  # a package: importlib.resources
    for pkg, suffix in (("themes", ".toml"), ("panel", ".tcss")):
        files = [p.relative_to(root / pkg).as_posix() for p in (root / pkg).rglob(f"*{suffix}")]
        assert files, pkg
        for rel in files:
            patterns = data[f"flowdeck.{pkg}"]
            assert any(fnmatch.fnmatch(rel, pat) for pat in patterns), (pkg, rel)


def test_user_theme_dir_respects_xdg_config_home(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from flowdeck.panel.themes import user_theme_dir

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_theme_dir() == tmp_path / "flowdeck" / "themes"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_theme_dir() == Path(tmp_path / "home" / ".config" / "flowdeck" / "themes")
    (tmp_path / "flowdeck" / "themes").mkdir(parents=True)
    (tmp_path / "flowdeck" / "themes" / "mine.toml").write_text(
        'name = "mine"\n[colors]\nprimary = "#abcdef"\n'
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    themes, problems = load_themes()
    assert "mine" in themes and not problems


def test_event_lines_use_field_names_for_units_and_flags() -> None:
    from flowdeck.panel.views.events import event_parts

    class Clock:
        def event_time(self, ts: float) -> float:
            return ts

    def line(ev: list[Any]) -> str:
        return event_parts(ev, Clock())[2].strip()  # type: ignore[arg-type]  # a hand-made event list

    call = line([1, 0.0, "provider.call", "sim-mini", "mini-1", 0.124, 7, 78, 4.8e-05])
    assert call == "sim-mini mini-1 124ms in=7 out=78 $0.000048"
    assert line([2, 0.0, "cache.miss", "llm", "ab12", False]) == "llm ab12"
    assert line([3, 0.0, "cache.miss", "llm", "ab12", True]) == "llm ab12 coalesced"
    assert line([4, 0.0, "cache.evict", "llm", "lru", 3]) == "llm lru n=3"
    assert line([5, 0.0, "redis", "up", None]) == "up"


def test_parallel_summary_shows_the_cancelled_branches_the_gantt_shows() -> None:
    from flowdeck.panel.widgets.parallel_summary import ParallelSummary

    st = PanelState()
    snap = snapshot()
    stats = snap["parallels"]["fan"]["stats"]
    stats.update(cancelled=0, branches_cancelled=4, speedup=None)
    st.apply("snapshot", snap)
    text = " ".join(str(line) for line in ParallelSummary(st).render_state(200))
    assert "cancelled 0" in text and "branches cancelled 4" in text
    assert text.endswith("speedup " + fmt.NONE)
    stats["branches_cancelled"] = 0
    st.apply("snapshot", snap)
    assert "branches cancelled" not in " ".join(
        str(line) for line in ParallelSummary(st).render_state(200)
    )


def test_the_events_count_line_fits_one_line_and_says_whether_the_log_follows() -> None:
    from flowdeck.panel.views.events import count_line

    st = PanelState()
    st.events_total, st.eps = 11_000, 85.0
    wide = count_line(st, 76, [], True, 120)
    assert wide.endswith("p pauses, scroll up to stop following") and len(wide) <= 118
    assert count_line(st, 76, [], False, 120).endswith("stopped: End follows")
    narrow = count_line(st, 76, ["route", "quality"], True, 80)
    assert "filter: route quality" in narrow and "pauses" not in narrow and len(narrow) <= 78
