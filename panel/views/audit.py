"""Audit: every write to the engine (socket or fleet), newest first, filterable.

The records come with the snapshot (the engine's newest 200); each write also emits an
``audit`` event, which carries only method, scope and result. So when the view is
shown and an audit event newer than its records has arrived, it asks the engine for a
fresh snapshot once (writes are an operator's, so this is rare) and shows the full
record: time, who (user@host, client, pid), scope, method, target, before → after,
result and detail. The filter matches any of those words.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Input, Static

from flowdeck.engine.control import protocol as P
from flowdeck.panel import fmt
from flowdeck.panel.keys import footer_bindings
from flowdeck.panel.state import PanelState
from flowdeck.panel.views.base import TableView
from flowdeck.panel.widgets.column_fit import clip_column, fit_columns
from flowdeck.panel.widgets.live_table import Cell, Column, LiveTable

COLUMNS = [
    Column("time", "Time"),
    Column("actor", "Who"),
    Column("scope", "Scope"),
    Column("method", "Method"),
    Column("target", "Target"),
    # Not capped like the name columns: it gets the room the others leave (FITTED).
    Column("change", "Before → after", max_width=1 << 12),
    Column("result", "Result"),
]
FITTED = "change"
"""The column that gets the room the others leave (a long change is clipped to it)."""
ALWAYS = ("time", "method", "target", "result")
OPTIONAL = ("actor", "scope")
"""Shown by priority while the change keeps CHANGE_ROOM cells (80 columns drop them)."""
CHANGE_ROOM = 18
RESULT_STYLE = {
    P.APPLIED: "success",
    P.UNCHANGED: "muted",
    "read_only": "warning",
    "not_found": "warning",
}
VALUE_CHARS = 120  # a bound on one before / after value; the column clips it to its room


def short(value: Any) -> str:
    """A before / after value as a cell: numbers plainly, None as -, others cut."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"  # a cooldown read mid-second: 60, not 59.9998
    if isinstance(value, dict):
        if set(value) <= {"l1", "l2"}:  # a flush's counts
            return "/".join(str(value.get(k, 0)) for k in ("l1", "l2"))
        text = ", ".join(f"{k} {_field(k, v)}" for k, v in value.items())
    elif isinstance(value, list):  # a provider order: not "→", which means before → after
        text = "[" + ", ".join(short(v) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _field(key: str, value: Any) -> str:
    """One field of a before / after record: a cooldown as the Providers view counts it
    down ("4m48s", not "287.5"), anything else as :func:`short` shows it."""
    if key == "cooldown" and isinstance(value, int | float) and not isinstance(value, bool):
        return fmt.countdown(value) if value > 0 else "0"
    return short(value)


def _sizes(value: Any) -> dict[str, int] | None:
    """A flush's before / after as {cache: entries}, or None when it is not that."""
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())
    ):
        return {str(k): int(v) for k, v in value.items()}
    return None


def change_text(rec: dict[str, Any]) -> str:
    """ "600 → 30"; a flush: "99 → 0" (entries of the cache), "3 caches 120 → 0" (every
    cache), or "7 → 0 (7 L1, 0 L2)" (the entries it dropped)."""
    before, after = rec.get("before"), rec.get("after")
    sizes, left = _sizes(before), _sizes(after)
    if rec.get("method") == P.CACHE_FLUSH and sizes is not None and left is not None:
        n = f"{len(sizes)} caches " if len(sizes) > 1 else ""
        return f"{n}{sum(sizes.values())} → {sum(left.values())}"
    if rec.get("method") == P.CACHE_FLUSH and isinstance(after, dict) and "l1" in after:
        l2 = after.get("l2")
        dropped = f"{after.get('l1')} L1" + ("" if l2 is None else f", {l2} L2")
        return f"{short(before)} → 0 ({dropped})"
    if rec.get("method") == P.CACHE_SET_TTL and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in (before, after)
    ):  # as the Caches view shows TTLs, not raw seconds
        return f"{fmt.ttl(before)} → {fmt.ttl(after)}"
    return f"{short(before)} → {short(after)}"


def _total(snap: Any) -> int | None:
    """Writes since the engine started, as a snapshot's ``fleet.audit.total`` says."""
    fleet = snap.get("fleet") if isinstance(snap, dict) else None
    audit = fleet.get("audit") if isinstance(fleet, dict) else None
    total = audit.get("total") if isinstance(audit, dict) else None
    return total if isinstance(total, int) else None


def who(actor: Any) -> str:
    if not isinstance(actor, dict):
        return "?"
    user = actor.get("user")
    if not user:
        user = "?" if actor.get("uid") is None else f"uid {actor['uid']}"
    client = actor.get("client") or "?"
    return f"{user}@{actor.get('host') or '?'} {client}"


def audit_rows(records: list[dict[str, Any]], pal: dict[str, str]) -> dict[str, dict[str, Cell]]:
    """Table cells per record, keyed so that the same record keeps its row."""
    rows: dict[str, dict[str, Cell]] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            continue
        t = rec.get("time")
        stamp = float(t) if isinstance(t, int | float) else 0.0
        raw = rec.get("params")
        params: dict[str, Any] = raw if isinstance(raw, dict) else {}
        target = str(params.get("name", ""))
        if params.get("route") is not None and rec.get("method") == P.ROUTER_SET_MODEL:
            target += f"/{params['route']}"
        result = str(rec.get("result") or "?")
        detail = rec.get("detail")
        shown = result + (f" ({detail})" if detail and result not in P.WRITE_DONE else "")
        key = f"{stamp:.6f}:{i}" if rec.get("command") is None else f"{rec['command']}:{i}"
        rows[key] = {
            "time": Cell(time.strftime("%H:%M:%S", time.localtime(stamp)), stamp),
            "actor": Cell(who(rec.get("actor"))),
            "scope": Cell(str(rec.get("scope") or "?")),
            "method": Cell(str(rec.get("method") or "?"), style="bold"),
            "target": Cell(target),
            "change": Cell(change_text(rec)),
            "result": Cell(shown, style=pal.get(RESULT_STYLE.get(result, "error"), "")),
        }
    return rows


class AuditView(TableView):
    """The engine's audit records (newest first), refetched when a new write is seen."""

    BINDINGS: ClassVar[list[BindingType]] = footer_bindings("filter")

    group = "audit"
    filter_id = "audit-filter"
    sort_column = "time"
    sort_reverse = True  # newest first

    DEFAULT_CSS = """
    AuditView #audit-note { height: 1; color: $text-muted; }
    """

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(state, id=id)
        self.records: list[dict[str, Any]] | None = None  # from the last fetch
        self.known_seq = -1  # audit events up to this seq are in the records
        self.fetched_seq = -1
        self.fetching = False
        self.fetches = 0
        self.fetched_total: int | None = None  # writes since start, as of the last fetch
        self.engine_key: tuple[Any, ...] | None = None
        self.full: dict[str, str] = {}  # row key: its whole before → after, before clipping

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: method, name, user, scope, result (/)",
            id="audit-filter",
            compact=True,
            classes="filter",
        )
        yield LiveTable(COLUMNS, id="audit-table")
        yield Static("", id="audit-note")

    def current(self) -> list[dict[str, Any]]:
        """The fetched records while they are newer than the snapshot of this engine."""
        snap = self.state.snapshot or {}
        if self.engine_key != self.state.engine_key:  # another engine: start over
            self.engine_key, self.records, self.known_seq = self.state.engine_key, None, -1
            self.fetched_total = None
        if self.records is not None and self.fetched_seq >= int(snap.get("seq") or 0):
            return self.records
        recs = snap.get("audit")
        return recs if isinstance(recs, list) else []

    def rows(self, colors: dict[str, str]) -> dict[str, dict[str, Cell]]:
        self._maybe_fetch()
        rows = audit_rows(self.current(), colors)
        # Enter's toast: the whole change, and who, when and through what, which the
        # columns may have cut or (at 80 columns) left out.
        self.full = {
            k: f"{c['method'].text} {c['target'].text}: {c['change'].text} ({c['result'].text})"
            f"\n{c['time'].text} · {c['actor'].text} · {c['scope'].text}"
            for k, c in rows.items()
        }
        table = self.table
        if table is not None:
            width = table.size.width or self.app.size.width
            table.set_columns(
                fit_columns(COLUMNS, ALWAYS, OPTIONAL, FITTED, rows, width, CHANGE_ROOM)
            )
            clip_column(rows, FITTED, table.fit(FITTED, width - 1, rows, least=CHANGE_ROOM))
        return rows

    def on_resize(self) -> None:
        self.refresh_view(force=True)

    def on_data_table_row_selected(self, event: LiveTable.RowSelected) -> None:
        """Enter on a record: the whole change, which the column may have cut."""
        event.stop()
        text = self.full.get(str(event.row_key.value))
        if text is not None:
            self.app.notify(text, title="Audit record", timeout=20)

    def paint(self, force: bool) -> None:
        super().paint(force)
        recs = self.current()
        n = len(recs)
        kept = self.fetched_total if recs is self.records else _total(self.state.snapshot)
        if kept and kept > n:
            note = f" the newest {n} of {kept} writes since start"
        elif kept:
            note = f" {kept} write{'s' if kept != 1 else ''} since start"
        else:
            note = f" {n} record{'s' if n != 1 else ''}"
        self.query_one("#audit-note", Static).update(note + " · / filters · Enter: whole record")

    def _maybe_fetch(self) -> None:
        """A new ``audit`` event since the records: one snapshot call for the records."""
        if self.fetching or not self.state.connected:
            return
        self.current()  # forget another engine's records
        snap_seq = int((self.state.snapshot or {}).get("seq") or 0)
        self.known_seq = max(self.known_seq, snap_seq)
        newest = self.state.audit_seq  # the event itself may have left the log long ago
        if newest <= self.known_seq:
            return
        self.fetching = True
        self.run_worker(self._fetch(newest), group="audit-fetch", exit_on_error=False)

    async def _fetch(self, newest: int) -> None:
        try:
            snap = await self.app.feed.call(P.SNAPSHOT, {})  # type: ignore[attr-defined]  # FlowdeckApp (importing it here is a cycle)
            recs = snap.get("audit") if isinstance(snap, dict) else None
            if isinstance(recs, list):
                self.records = recs
                self.fetched_total = _total(snap)
                self.fetched_seq = int(snap.get("seq") or 0)
                self.known_seq = max(newest, self.fetched_seq)
                self.fetches += 1
        except Exception as exc:  # the next audit event tries again; say why once
            self.app.notify(f"{type(exc).__name__}: {exc}"[:200], title="Audit", severity="warning")
        finally:
            self.fetching = False
        self.refresh_view(force=True)
