"""CacheRates: per cache the hit rate now and a sparkline of it over time."""

from __future__ import annotations

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.state_box import StateBox


def rate_level(rate: float | None) -> str:
    """How good a hit rate is, as a palette key: ``success`` when high, ``warning`` in
    the middle, ``error`` when low, ``muted`` when unknown."""
    if rate is None:
        return "muted"
    return "success" if rate >= 0.6 else "warning" if rate >= 0.3 else "error"


def rate_style(rate: float | None) -> str:
    """Colour of a hit rate (a theme variable): see ``rate_level``."""
    level = rate_level(rate)
    return "$text-muted" if level == "muted" else f"${level}"


class CacheRates(StateBox):
    """One line per cache: name, hit rate (last interval and lifetime), sparkline, size."""

    TITLE = "req/s and hit rate, last second"  # the Caches table: since start
    EMPTY = "no caches registered in this engine"

    def render_state(self, width: int) -> list[Content]:
        caches = self.state.group("caches")
        if not caches:
            return []
        name_w = min(16, max(6, *(fmt.cells(n) for n in caches)))
        spark_w = max(0, width - name_w - 8 - 12 - 1)
        rps = list(self.state.rps_history)
        lines = [
            Content.assemble(
                ("req/s".ljust(name_w), "$text-muted"),
                " ",
                (fmt.rate(self.state.rps).rjust(6), "bold $accent"),
                " ",
                (fmt.sparkline(rps, spark_w, 0.0, max(rps, default=1.0) or 1.0), "$accent"),
            )
        ]
        for name, c in sorted(caches.items()):
            st = c.get("stats") or {}
            hist = self.state.hit_rates(name)
            now = next((v for v in reversed(hist) if v is not None), None)
            life = st.get("hit_rate")
            shown = now if now is not None else life
            size = f"{fmt.num(st.get('size'))}/{fmt.num(c.get('max_size'))}"
            tail = f" {size:>11}"
            lines.append(
                Content.assemble(
                    (fmt.fit(name, name_w), "bold"),
                    " ",
                    (fmt.pct(shown).rjust(6), "bold " + rate_style(shown)),
                    " ",
                    (fmt.sparkline(hist, spark_w), rate_style(shown)),
                    (tail, "$text-muted"),
                )
            )
        return lines
