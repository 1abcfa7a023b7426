"""ProviderStats: latency (p50/p95), time to first delta, calls, errors and cost per provider."""

from __future__ import annotations

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.state_box import StateBox


class ProviderStats(StateBox):
    """One line per provider; cooling-down providers are flagged."""

    TITLE = "Providers"
    EMPTY = "no providers configured"

    def render_state(self, width: int) -> list[Content]:
        providers = self.state.group("providers")
        if not providers:
            return []
        nw = min(14, max(len(n) for n in providers))
        wide = width >= nw + 34
        calls_h = f" {'calls':>6}" if wide else ""
        streamed = any(p.get("ttft_p50") is not None for p in providers.values())
        ttft_h = f" {'ttft':>6}" if streamed else ""
        header = f"{'':<{nw}} {'p50':>6} {'p95':>6}{ttft_h}{calls_h} {'err':>4} {'cost':>7}"
        # Latency bars when there is room: solid to p50, shaded to p95, on one scale.
        bar_w = width - len(header) - 2
        top = max((float(p.get("p95") or 0.0) for p in providers.values()), default=0.0)
        if bar_w >= 8 and top > 0:
            header += "  " + "latency".ljust(bar_w)[:bar_w]
        else:
            bar_w = 0
        lines = [Content.styled(fmt.clip(header, width), "$text-muted")]
        for name, p in sorted(providers.items()):
            errors = int(p.get("errors") or 0)
            row = Content.assemble(
                (fmt.clip(name, nw).ljust(nw), "bold"),
                f" {fmt.secs(p.get('p50')):>6} {fmt.secs(p.get('p95')):>6}",
                f" {fmt.secs(p.get('ttft_p50')):>6}" if streamed else "",
                f" {fmt.num(p.get('calls')):>6}" if wide else "",
                (f" {fmt.num(errors):>4}", "$error" if errors else ""),
                (f" {fmt.money(p.get('cost')):>7}", "$warning"),
            )
            if p.get("cooldown_remaining"):
                row = row + Content.styled(
                    f" cooling {fmt.secs(p['cooldown_remaining'])}", "bold $error"
                )
            elif bar_w:
                p50 = round(float(p.get("p50") or 0.0) / top * bar_w)
                p95 = max(p50, round(float(p.get("p95") or 0.0) / top * bar_w))
                row = row + Content.assemble(
                    "  ", ("█" * p50, "$primary"), ("░" * (p95 - p50), "$primary")
                )
            lines.append(row)
        return lines
