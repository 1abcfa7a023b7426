"""A text box of set height with more lines than room says how many it leaves out (the
Overview's routing split at 80x24 dropped a route without a word)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.content import Content

from flowdeck.panel.state import PanelState
from flowdeck.panel.themes import BORDER_VARIABLE
from flowdeck.panel.widgets.state_box import StateBox


class Lines(StateBox):
    count = 6

    def render_state(self, width: int) -> list[Content]:
        return [Content(f"line {i}") for i in range(self.count)]


class BoxApp(App[None]):
    CSS = "#fixed { height: 6; } #auto { height: auto; }"  # 6 = 4 lines + the border

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {BORDER_VARIABLE: "#808080"}  # the panel's own variable, as FlowdeckApp sets it

    def compose(self) -> ComposeResult:
        yield Lines(PanelState(socket="/nowhere"), id="fixed")
        yield Lines(PanelState(socket="/nowhere"), id="auto")


def text(box: StateBox) -> list[str]:
    return str(box.render()).split("\n")


async def test_a_box_of_set_height_counts_the_lines_it_cannot_show() -> None:
    app = BoxApp()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        fixed, auto = app.query_one("#fixed", Lines), app.query_one("#auto", Lines)
        assert text(fixed) == [
            "line 0", "line 1", "line 2", "+3 more lines: a taller terminal shows them"
        ]  # fmt: skip
        assert fixed.lines_wanted == 6
        assert text(auto) == [f"line {i}" for i in range(6)]  # auto height: it grows instead
        fixed.count = 4
        fixed.update_from_state(force=True)
        assert text(fixed) == [f"line {i}" for i in range(4)]  # all fit: nothing said
