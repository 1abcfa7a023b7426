"""ProviderDetail: everything about the selected provider, the last error in full."""

from __future__ import annotations

from typing import Any

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.state_box import SelectedBox, flow

ERROR_LINES = 2
"""Lines of the last error shown here (the table has one, clipped)."""


def budget_facts(b: dict[str, Any]) -> list[Content]:
    """A budget's state after what is left, most telling first: exhausted (red), requests
    sent elsewhere, reset, burn rate, spent."""
    facts: list[Content] = []
    if b.get("exhausted"):
        facts.append(Content.styled("exhausted", "bold $error"))
    skipped = int(b.get("skipped") or 0)
    if skipped:
        facts.append(Content.styled(f"sent elsewhere {fmt.num(skipped)}", "$warning"))
    return [
        *facts,
        Content(f"resets in {fmt.uptime(b.get('resets_in'))}"),
        Content(f"burn {fmt.money(b.get('burn_per_hour'))}/h"),
        Content(f"spent {fmt.money(b.get('spent'))}"),
    ]


def budget_pieces(b: dict[str, Any]) -> list[Content]:
    """One budget as pieces to flow (wrapped between pieces on a narrow terminal, never cut)."""
    head = Content.assemble(
        (f"{b.get('scope', 'provider')} budget ", "$text-muted"), (fmt.budget(b), "bold"), " left"
    )
    return [head, *budget_facts(b)]


class ProviderDetail(SelectedBox):
    """The provider whose row is selected in the Providers table (``name``)."""

    TITLE = "Selected provider"
    EMPTY = "no providers configured"
    GROUP = "providers"
    DEFAULT_CSS = """
    ProviderDetail { height: auto; max-height: 10; }
    """

    def render_state(self, width: int) -> list[Content]:
        got = self.selected()
        if got is None:
            return []
        name, p = got
        self.border_title = f"Provider {name} ({p.get('kind', '?')}, {p.get('model', '?')})"
        st = str(p.get("state") or "ok")
        left = self.state.cooldown_left(name)
        style = (
            "bold $error" if st == "cooling down" else ("$warning" if st != "ok" else "$success")
        )
        head = [Content.styled(st, style)]
        if left > 0:
            why = fmt.REASON.get(str(p.get("cooldown_reason")), str(p.get("cooldown_reason") or ""))
            head.append(Content.styled(f"{fmt.countdown(left)} left ({why})", style))
        fails = int(p.get("consecutive_failures") or 0)
        head.append(
            Content.styled(
                f"{fails} failure{'s' if fails != 1 else ''} in a row",
                "$warning" if fails else "$text-muted",
            )
        )
        n = int(p.get("cooldowns") or 0)
        head.append(Content.styled(f"{n} cooldown{'s' if n != 1 else ''} so far", "$text-muted"))
        head.append(Content.styled(f"sent elsewhere {fmt.num(p.get('skipped'))}", "$text-muted"))
        lines = flow(head, width, gap=" · ")
        error = fmt.one_line(p.get("last_error"))
        if error:
            label = "last error "
            room = max(10, width - len(label))
            chunks = [error[i : i + room] for i in range(0, len(error), room)][:ERROR_LINES]
            if len(error) > room * ERROR_LINES:
                chunks[-1] = fmt.clip(chunks[-1] + "…", room)
            for i, chunk in enumerate(chunks):
                lines.append(
                    Content.assemble(
                        (label if i == 0 else " " * len(label), "$text-muted"),
                        (chunk, "$error" if st != "ok" else "$text-muted"),
                    )
                )
        pieces = [
            Content.assemble((k + " ", "$text-muted"), v)
            for k, v in (
                ("calls", fmt.num(p.get("calls"))),
                ("errors", fmt.num(p.get("errors"))),
                ("retries", fmt.num(p.get("retries"))),
                ("in flight", fmt.num(p.get("in_flight"))),
                ("p50/p95", f"{fmt.secs(p.get('p50'))}/{fmt.secs(p.get('p95'))}"),
                ("ttft", f"{fmt.secs(p.get('ttft_p50'))}/{fmt.secs(p.get('ttft_p95'))}"),
                ("cost", fmt.money(p.get("cost"))),
            )
        ]
        lines += flow(pieces, width)
        budget = p.get("budget")
        if budget:
            lines += flow(budget_pieces(budget), width, gap=" · ", indent="  ")
        return lines
