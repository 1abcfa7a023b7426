"""StatusHeader: one line of connection status, plus a banner while disconnected."""

from __future__ import annotations

import time

from textual.content import Content
from textual.widget import Widget

from flowdeck.panel import fmt
from flowdeck.panel.state import CONNECTED, PanelState

NAME_CELLS = 32  # a longer engine name ends in "…" (the other segments stay on screen)


class StatusHeader(Widget):
    """Engine name, pid, uptime, socket, Redis, rates and the mode badges (one line)."""

    DEFAULT_CSS = """
    StatusHeader {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    StatusHeader.-down {
        background: $error;
        color: $text;
        text-style: bold;
    }
    """

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.paused = False
        self.paused_at: float | None = None  # wall time of the figures shown while paused
        self.refresh_rate = 0.5
        # (k, n): engine k of the n live ones of the fleet it was opened from; k None: it
        # left the fleet; None: not opened from a fleet.
        self.fleet_position: tuple[int | None, int] | None = None
        self._frozen: tuple[tuple[object, ...], Content] | None = None  # while paused

    def banner(self, width: int) -> str:
        """The line shown once the engine stopped answering: what happened, how old the
        figures are and the way out first; the socket (long) only if there is room."""
        st = self.state
        age = time.time() - st.last_data if st.last_data else 0
        pid = st.engine.get("pid", "?")
        gone = self.fleet_position is not None and self.fleet_position[0] is None
        parts = [f" ✖ ENGINE GONE · pid {pid}" if gone else " ✖ DISCONNECTED — retrying"]
        if not st.embedded:
            n = None if self.fleet_position is None else self.fleet_position[1]
            parts.append("0: fleet view" + (f" ({n} live)" if n is not None else ""))
        parts.append(f"showing data from {fmt.uptime(age)} ago")
        if st.conn_detail:
            parts.append(str(st.conn_detail))
        sep = " · "
        wanted = len(parts)
        while len(parts) > 1 and fmt.cells(sep.join(parts)) > width:
            parts.pop()
        text = sep.join(parts)
        room = width - fmt.cells(text) - len(sep)
        sock = str(st.socket)
        if room >= 16 and len(parts) == wanted:  # the path only after all of the above
            text += sep + fmt.path_tail(sock, room)
        return fmt.clip(text, width)

    def update_from_state(self) -> None:
        st = self.state
        self.set_class(st.ever_connected and st.conn != CONNECTED, "-down")
        self.refresh()

    def render(self) -> Content:
        """The line; while paused, the figures of the moment it paused (like the views),
        unless the connection changed or the width did."""
        key = (self.state.conn, self.size.width, self.fleet_position, self.paused_at)
        if self.paused and self._frozen is not None and self._frozen[0] == key:
            return self._frozen[1]
        content = self._render_now()
        self._frozen = (key, content) if self.paused else None
        return content

    def _render_now(self) -> Content:
        st = self.state
        eng = st.engine
        width = self.size.width or 120
        if st.conn != CONNECTED:
            if st.ever_connected:
                return Content(self.banner(width))
            verb = "starting embedded demo engine" if st.embedded else "connecting to"
            text = f" … {verb} {st.socket}"
            if st.conn_detail:
                text += f"  ·  {st.conn_detail}"
            return Content.assemble((fmt.clip(text, width), "$warning"))
        # Segments in priority order; low-priority ones are dropped on narrow terminals.
        badges: list[tuple[str, str]] = []
        if st.embedded:
            badges.append((" embedded demo engine ", "bold $background on $accent"))
        if st.read_only:
            badges.append((" READ-ONLY ", "bold $background on $warning"))
        if self.paused:
            at = time.strftime("%H:%M:%S", time.localtime(self.paused_at or time.time()))
            badges.append((f" PAUSED · data of {at} ", "bold $background on $secondary"))
        redis = eng.get("redis")
        if redis is None:
            redis_seg = ("redis: none", "$text-muted")
        elif redis.get("up"):
            redis_seg = ("redis: up", "$success")
        else:
            redis_seg = ("redis: DOWN", "bold $error")
        segs: list[tuple[int, tuple[str, str]]] = [
            (0, (f" ● {fmt.clip(str(eng.get('name', '?')), NAME_CELLS)}", "bold $success")),
            (1, (f"pid {eng.get('pid', '?')}", "")),
            (2, (f"up {fmt.uptime(eng.get('uptime'))}", "")),
            (3, redis_seg),
            (4, (f"{fmt.rate(st.rps)} req/s", "$accent")),
            (6, (f"{fmt.rate(st.eps)} ev/s", "$text-muted")),
            (7, (f"every {self.refresh_rate:g}s", "$text-muted")),
        ]
        if self.fleet_position is not None:  # one engine of a fleet, and the way back
            k, n = self.fleet_position
            where = f"engine {k} of {n}" if k is not None else f"{n} engines"
            segs.insert(2, (1, (f"{where} · 0: fleet view", "$accent")))
        budget = width - sum(fmt.cells(b[0]) + 1 for b in badges) - 1
        # The socket matters when attached to an engine of yours (not the embedded one);
        # it is shortened from the left before the low-priority segments are dropped.
        sock = None if st.embedded else str(st.socket)
        min_sock = 16

        def need(chosen: list[tuple[int, tuple[str, str]]], sock_len: int) -> int:
            return sum(fmt.cells(c[1][0]) + 3 for c in chosen) + (sock_len + 3 if sock else 0)

        chosen = sorted(segs)
        while chosen and need(chosen, min(min_sock, len(sock or ""))) > budget:
            if sock and chosen[-1][0] < 5:
                sock = None
                continue
            chosen.pop()
        if sock:
            sock = fmt.path_tail(sock, budget - need(chosen, 0))
        order = [c[1] for c in segs if c in chosen and c[0] <= 4]
        if sock:
            order.append((sock, "$text-muted"))
        order += [c[1] for c in segs if c in chosen and c[0] > 4]
        parts: list[tuple[str, str] | str] = []
        for i, seg in enumerate(order):
            if i:
                parts.append((" · ", "$text-muted"))
            parts.append(seg)
        left = Content.assemble(*parts)
        right = Content.assemble(*[p for b in badges for p in (" ", b)])
        gap = max(1, width - left.cell_length - right.cell_length)
        return Content.assemble(left, " " * gap, right)
