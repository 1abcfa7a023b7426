"""EventTail on its own: keys that leave the end act at once, even in the moment after a
burst of rows and before the frame that shows the scrollbar."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.app import App, ComposeResult

from flowdeck.panel.widgets.event_tail import EventTail
from tests.support.waiting import until


def plain(row: list[Any]) -> list[tuple[str, Style | None]]:
    return [(f"event {row[0]}", None)]


class TailApp(App[None]):
    def compose(self) -> ComposeResult:
        yield EventTail(plain, id="tail")


def rows(count: int) -> list[list[Any]]:
    return [[seq, 0.0, "cache.hit"] for seq in range(count)]


async def test_home_right_after_a_burst_goes_to_the_top_and_stops_following() -> None:
    app = TailApp()
    async with app.run_test(size=(40, 10)) as pilot:
        tail = app.query_one(EventTail)
        tail.set_rows(rows(3))  # fits: no scrollbar yet
        await pilot.pause()
        tail.set_rows(rows(200))  # a burst: followed to the end at once
        assert tail.scroll_y == tail.max_scroll_y > 0
        tail.action_scroll_home()  # before any frame showed the new scrollbar
        assert tail.scroll_y == 0 and not tail.following
        await pilot.pause()
        tail.set_rows(rows(240))
        await pilot.pause()
        assert tail.scroll_y == 0 and not tail.following


async def test_page_up_right_after_a_burst_scrolls_up_and_stops_following() -> None:
    app = TailApp()
    async with app.run_test(size=(40, 10)) as pilot:
        tail = app.query_one(EventTail)
        tail.set_rows(rows(3))
        await pilot.pause()
        tail.set_rows(rows(200))
        end = tail.max_scroll_y
        tail.action_page_up()
        assert not tail.following
        await until(lambda: 0 < tail.scroll_y < end)
        tail.set_rows(rows(240))  # not pulled back to the end
        await pilot.pause()
        assert tail.scroll_y < end and not tail.following


async def test_a_line_longer_than_the_view_ends_in_an_ellipsis() -> None:
    def long_line(row: list[Any]) -> list[tuple[str, Style | None]]:
        return [(f"event {row[0]} cost $0.000042 and more fields after it", None)]

    class LongApp(App[None]):
        def compose(self) -> ComposeResult:
            yield EventTail(long_line, id="tail")

    app = LongApp()
    async with app.run_test(size=(30, 6)) as pilot:
        tail = app.query_one(EventTail)
        tail.set_rows(rows(3))
        await pilot.pause()
        line = tail.render_line(0).text
        assert line.endswith("…") and len(line) == tail.scrollable_content_region.width, line
    fits = TailApp()  # a line that fits ends as it is
    async with fits.run_test(size=(40, 6)) as pilot:
        tail = fits.query_one(EventTail)
        tail.set_rows(rows(3))
        await pilot.pause()
        assert tail.render_line(0).text.rstrip() == "event 0"
