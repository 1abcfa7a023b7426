"""Socket naming and engine selection (pure logic of engine.control.discovery)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.engine.control import discovery as D
from flowdeck.engine.control.schema import Hello


def _eng(name: str, pid: int, ident: str) -> D.LiveEngine:
    hello: Hello = {"name": name, "pid": pid, "id": ident, "host": "h", "started_at": 0.0}
    return D.LiveEngine(Path(f"/r/{name}.{pid}.sock"), hello)


def test_socket_name_round_trips() -> None:
    assert D.socket_name("web", 4711) == "web.4711.sock"
    assert D.parse_socket_name("web.4711.sock") == ("web", 4711)
    assert D.socket_name("web", 4711, 2) == "web.4711.2.sock"
    assert D.parse_socket_name("web.4711.2.sock") == ("web", 4711)


def test_socket_name_is_a_safe_bounded_file_name() -> None:
    name = D.socket_name("../a b/é" + "x" * 200, 1)
    assert "/" not in name and " " not in name
    assert len(name) <= D.MAX_SLUG + len(".1.sock")
    assert D.parse_socket_name(name) is not None
    assert D.socket_name("///", 7) == "engine.7.sock"


@pytest.mark.parametrize("bad", ["engine.sock", ".abc", "web.sock", "web.12x.sock", "a.1.sock.x"])
def test_foreign_names_do_not_parse(bad: str) -> None:
    assert D.parse_socket_name(bad) is None


def test_runtime_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert D.runtime_dir() == tmp_path / "flowdeck"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert D.runtime_dir().name.startswith("flowdeck-")


def test_select_by_name_pid_or_id_prefix() -> None:
    engines = [_eng("web", 10, "aa11"), _eng("web", 11, "ab22"), _eng("jobs", 12, "cc33")]
    assert D.select(engines, "jobs").pid == 12
    assert D.select(engines, "11").pid == 11
    assert D.select(engines, "aa").pid == 10
    with pytest.raises(D.SelectorError, match=r"matches 2 engines: web pid 10.*web pid 11"):
        D.select(engines, "web")
    with pytest.raises(D.SelectorError, match="matches 2 engines"):
        D.select(engines, "a")
    with pytest.raises(D.SelectorError, match=r"no live engine matches 'zz'.*jobs pid 12"):
        D.select(engines, "zz")


def test_a_worker_that_keeps_dying_at_start_is_restarted_ever_more_slowly() -> None:
    from flowdeck.engine.cli.workers import MAX_BACKOFF, STEADY, restart_delay

    delays, previous = [], 0.0
    for _ in range(7):
        previous = restart_delay(0.5, previous)
        delays.append(previous)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, MAX_BACKOFF, MAX_BACKOFF]
    assert restart_delay(STEADY + 1, MAX_BACKOFF) == 0.0  # it had been serving: at once
