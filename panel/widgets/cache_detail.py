"""CacheDetail: everything about the selected cache, with its hit-rate history."""

from __future__ import annotations

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.cache_rates import rate_style
from flowdeck.panel.widgets.state_box import SelectedBox, flow


class CacheDetail(SelectedBox):
    """The cache whose row is selected in the Caches table (``name``)."""

    TITLE = "Selected cache"
    EMPTY = "no caches registered in this engine"
    GROUP = "caches"
    DEFAULT_CSS = """
    CacheDetail { height: auto; max-height: 12; }
    """

    def render_state(self, width: int) -> list[Content]:
        got = self.selected()
        if got is None:
            return []
        name, c = got
        self.border_title = f"Cache {name}"
        st = c.get("stats") or {}
        hist = self.state.hit_rates(name)
        now = next((v for v in reversed(hist) if v is not None), None)
        size, max_size = int(st.get("size") or 0), c.get("max_size")
        fill = size / max_size if max_size else None
        ev = st.get("evictions") or {}
        label = "hit rate / s "
        spark_w = max(8, width - len(label) - 8)
        lines = [
            Content.assemble(
                (label, "$text-muted"),
                (fmt.sparkline(hist, spark_w), rate_style(now)),
                (f" {fmt.pct(now).rjust(6)}", "bold " + rate_style(now)),
            ),
            Content.assemble(
                ("size      ", "$text-muted"),
                (fmt.bar(fill, max(8, min(40, width - 40))), "$primary"),
                f" {fmt.num(size)} of {fmt.num(max_size)} ({fmt.pct(fill, 0)})",
            ),
        ]
        layers = "L1 + L2 (Redis)" if c.get("l2") else "L1 only"
        pieces = [
            Content.assemble(("hits ", "$text-muted"), fmt.num(st.get("hits"))),
            Content.assemble(("L1 ", "$text-muted"), fmt.num(st.get("hits_l1"))),
            Content.assemble(("L2 ", "$text-muted"), fmt.num(st.get("hits_l2"))),
            Content.assemble(("misses ", "$text-muted"), fmt.num(st.get("misses"))),
            Content.assemble(("coalesced ", "$text-muted"), fmt.num(st.get("coalesced"))),
            Content.assemble(("sets ", "$text-muted"), fmt.num(st.get("sets"))),
            Content.assemble(("lifetime ", "$text-muted"), fmt.pct(st.get("hit_rate"))),
            Content.assemble(
                ("evicted ", "$text-muted"),
                f"lru {fmt.num(ev.get('lru'))} · ttl {fmt.num(ev.get('ttl'))} · "
                f"resize {fmt.num(ev.get('resize'))}",
            ),
            Content.assemble(("TTL ", "$text-muted"), fmt.ttl(c.get("ttl"))),
            Content.assemble(("layers ", "$text-muted"), layers),
            Content.styled(
                f"L2 errors {fmt.num(st.get('l2_errors'))}",
                "$error" if st.get("l2_errors") else "$text-muted",
            ),
            Content.assemble(
                ("saved ", "$text-muted"),
                (
                    f"{fmt.secs(st.get('time_saved'))}, {fmt.money(st.get('cost_saved'))}",
                    "$success",
                ),
            ),
        ]
        ttft = st.get("ttft")
        if isinstance(ttft, dict):
            # Streamed requests: time to first delta by where it came from (hit vs miss).
            for source, q in sorted(ttft.items()):
                if isinstance(q, dict) and q.get("p50") is not None:
                    pieces.append(
                        Content.assemble(
                            (f"ttft {source} ", "$text-muted"),
                            f"{fmt.secs(q.get('p50'))}/{fmt.secs(q.get('p95'))}",
                        )
                    )
        return lines + flow(pieces, width)
