"""LiveTable repaints exactly the cells that changed: what is on screen is always current,
for rows in view and for rows scrolled to later (the widget keeps DataTable's render
caches for unchanged cells, so this is checked on the rendered lines, not on the data)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.pilot import Pilot

from flowdeck.panel.widgets.live_table import Cell, Column, LiveTable

COLUMNS = [Column("name", "Name"), Column("hits", "Hits", right=True)]


def rows(count: int, hits: dict[str, int] | None = None) -> dict[str, dict[str, Cell]]:
    hits = hits or {}
    out = {}
    for i in range(count):
        key = f"c{i:03d}"
        n = hits.get(key, i)
        out[key] = {"name": Cell(key), "hits": Cell(str(n), n, right=True)}
    return out


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS, id="t")


@contextlib.asynccontextmanager
async def live_table(width: int, height: int) -> AsyncIterator[tuple[LiveTable, Pilot[None]]]:
    """A LiveTable alone in an app of ``width`` x ``height`` cells, and its pilot."""
    app = TableApp()
    async with app.run_test(size=(width, height)) as pilot:
        yield app.query_one("#t", LiveTable), pilot


def shown(table: LiveTable) -> list[str]:
    """The table's rendered lines as text (what the terminal gets)."""
    return [table.render_line(y).text for y in range(table.size.height)]


def line_of(table: LiveTable, key: str) -> str:
    return next(line for line in shown(table) if line.strip().startswith(key))


async def test_changed_cells_are_repainted_and_the_others_kept() -> None:
    async with live_table(40, 12) as (table, pilot):
        table.set_sort("name")
        table.sync(rows(5))
        await pilot.pause()
        assert line_of(table, "c002").split()[-1] == "2"
        table.sync(rows(5, {"c002": 77}))
        await pilot.pause()
        assert line_of(table, "c002").split()[-1] == "77"
        assert line_of(table, "c001").split()[-1] == "1"
        assert line_of(table, "c003").split()[-1] == "3"


async def test_a_row_changed_off_screen_shows_its_new_value_when_scrolled_to() -> None:
    async with live_table(40, 8) as (table, pilot):
        table.set_sort("name")
        table.sync(rows(50))
        await pilot.pause()
        assert not any(line.strip().startswith("c040") for line in shown(table))
        table.sync(rows(50, {"c040": 999, "c001": 555}))
        await pilot.pause()
        assert line_of(table, "c001").split()[-1] == "555"
        table.move_cursor(row=40, animate=False)
        await pilot.pause()
        assert line_of(table, "c040").split()[-1] == "999"


async def test_a_wider_value_grows_the_column() -> None:
    async with live_table(60, 8) as (table, pilot):
        table.sync(rows(3))
        await pilot.pause()
        big: dict[str, Any] = {"c000": 123_456_789_012}
        table.sync(rows(3, big))
        await pilot.pause()
        assert "123456789012" in line_of(table, "c000")


def end_cell(line: str, text: str) -> int:
    """The terminal cell just after ``text`` in ``line`` (wide characters count two)."""
    from rich.cells import cell_len

    return cell_len(line[: line.index(text) + len(text)])


async def test_wide_characters_keep_columns_aligned_and_long_names_end_in_an_ellipsis() -> None:
    names = {"a": "ascii", "b": "漢字キャッシュ", "c": "cache 🚀🚀", "d": "x" * 80}
    async with live_table(60, 10) as (table, pilot):
        table.set_sort("hits")
        table.sync(
            {
                k: {"name": Cell(v), "hits": Cell(f"{i}0{i}", i, right=True)}
                for i, (k, v) in enumerate(names.items())
            }
        )
        await pilot.pause()
        lines = {k: line_of(table, names[k][:3]) for k in names}
        ends = {end_cell(lines[k], f"{i}0{i}") for i, k in enumerate(names)}
        assert len(ends) == 1, lines  # the Hits column lines up on every row
        assert "漢字キャッシュ" in lines["b"] and "🚀🚀" in lines["c"]
        long = lines["d"]
        assert "x" * 80 not in long and "…" in long and "303" in long  # Hits still shown
        table.filter_text = "x" * 40  # the filter matches the whole name, not the cut one
        table.sync({"d": {"name": Cell(names["d"]), "hits": Cell("303", 3, right=True)}})
        assert table.row_count == 1


async def test_a_value_that_gets_wider_in_cells_grows_the_column() -> None:
    async with live_table(60, 8) as (table, pilot):
        table.sync(rows(3))
        await pilot.pause()
        renamed = rows(3)
        renamed["c001"]["name"] = Cell("漢字漢")  # 3 characters, 6 cells
        table.sync(renamed)
        await pilot.pause()
        assert "漢字漢" in "".join(shown(table))


async def test_the_sort_arrow_shows_on_an_auto_width_column_wider_than_its_cells() -> None:
    async with live_table(60, 8) as (table, pilot):
        table.sync({"k": {"name": Cell("n"), "hits": Cell("1", 1, right=True)}})
        await pilot.pause()
        for col in ("hits", "name"):
            table.set_sort(col, reverse=True)
            await pilot.pause()
            assert "▼" in shown(table)[0], shown(table)[0]


async def test_rows_updated_off_screen_show_their_latest_values_when_scrolled_into_view() -> None:
    """Rows off screen are written only once they are scrolled to: several syncs while a
    row is off screen, then a scroll (no sync after it) must show its latest value."""
    async with live_table(40, 10) as (table, pilot):
        table.set_sort("name")
        table.sync(rows(200))
        await pilot.pause()
        assert not any(line.strip().startswith("c150") for line in shown(table))
        for n in (1000, 1001, 1002):  # only the last one may show
            table.sync(rows(200, {"c150": n, "c151": n + 10, "c002": n + 20}))
            await pilot.pause()
        assert line_of(table, "c002").split()[-1] == "1022"  # on screen: at once
        table.scroll_to(y=148, animate=False)
        await pilot.pause()
        assert line_of(table, "c150").split()[-1] == "1002"
        assert line_of(table, "c151").split()[-1] == "1012"
        table.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert line_of(table, "c002").split()[-1] == "1022"


async def test_a_row_off_screen_sorts_by_its_latest_value() -> None:
    async with live_table(40, 10) as (table, pilot):
        table.set_sort("hits", reverse=True)  # the most hits first
        table.sync(rows(200))
        table.move_cursor(row=0, animate=False)  # the cursor followed c000 to the bottom
        await pilot.pause()
        assert shown(table)[1].split() == ["c199", "199"], shown(table)
        table.sync(rows(200, {"c010": 5000}))  # from the bottom, off screen, to the top
        await pilot.pause()
        first = shown(table)[1].split()
        assert first == ["c010", "5000"], shown(table)
        table.filter_text = "c15"  # filtering still applies to deferred rows
        table.sync(rows(200, {"c150": 7000}))
        await pilot.pause()
        assert shown(table)[1].split() == ["c150", "7000"]
        assert table.row_count == 10  # c150..c159


def test_fast_cell_render_gives_the_segments_rich_gives() -> None:
    """``fast_lines`` stands in for DataTable's Rich render of a cell: same segments."""
    from rich.console import Console
    from rich.padding import Padding
    from rich.style import Style
    from textual.renderables.styled import Styled

    from flowdeck.panel.widgets.table_render import fast_lines

    console = Console(width=80)
    pres = [
        Style.null(),
        Style(color="red", bgcolor="black") + Style.from_meta({"row": 1, "column": 2}),
        Style(bold=True, italic=True),
    ]
    posts = [Style.null(), Style(color="blue"), Style(bgcolor="#102030")]
    cells = [
        Cell("12", 12, right=True),
        Cell("abc", style="bold"),
        Cell("abc", style="bold #ff0000"),
        Cell("", style="italic"),
        Cell("", right=True),
        Cell("1.2k/64", 5, style="dim", right=True),
        Cell("exactly8", right=True),
        Cell("170µs", 0.00017, right=True),
        Cell("\u2013", style="dim"),  # fmt.num(None)
        Cell("ünïcode"),
    ]
    checked = 0
    for cell in cells:
        for width in (8, 10, 14):
            for padding in (0, 1, 2):
                for pre in pres:
                    for post in posts:
                        fast = fast_lines(cell, width, padding, pre, post, console)
                        if fast is None:
                            continue
                        opts = console.options.update_dimensions(width, 1).update(no_wrap=True)
                        styled = Styled(Padding(cell, (0, padding)), pre_style=pre, post_style=post)
                        assert fast == console.render_lines(styled, opts), (cell, width, padding)
                        checked += 1
    assert checked > 300
    odd = [Cell("x" * 20), Cell("漢字"), Cell("e\u0301"), Cell(" pad"), Cell("tab\there")]
    for cell in odd:  # these go Rich's way
        assert fast_lines(cell, 10, 1, pres[1], Style.null(), console) is None


async def test_sorting_by_another_column_uses_the_latest_values_of_rows_off_screen() -> None:
    async with live_table(40, 10) as (table, pilot):
        table.set_sort("name")
        table.sync(rows(200))
        await pilot.pause()
        table.sync(rows(200, {"c150": 9000}))  # off screen: deferred
        await pilot.pause()
        table.set_sort("hits", reverse=True)  # no sync after it
        table.move_cursor(row=0, animate=False)
        await pilot.pause()
        assert shown(table)[1].split() == ["c150", "9000"], shown(table)


async def test_the_sort_arrow_takes_room_and_gives_it_back() -> None:
    async with live_table(40, 12) as (table, pilot):
        table.sync({"a": {"name": Cell("x"), "hits": Cell("1", 1, right=True)}})
        await pilot.pause()

        def widths() -> list[int]:
            return [table.columns[c.key].content_width for c in table.spec]  # type: ignore[index]

        table.set_sort(None)
        plain = widths()
        for _ in range(3):  # a few cycles of s: no column keeps growing
            for col in ("name", "hits", None):
                table.set_sort(col)
        assert widths() == plain
        table.set_sort("hits")
        assert widths()[1] == len("Hits ▲") and widths()[0] == plain[0]


async def test_equal_values_sort_by_the_first_column_either_way() -> None:
    """Ties read A to Z whether the sort is ascending or descending, whatever order the
    rows came in (QA: two L1 caches swapped places on a re-sort)."""
    async with live_table(40, 12) as (table, pilot):
        table.set_sort("name")
        tied = {"c003": 5, "c001": 5, "c004": 9, "c000": 1, "c002": 5}
        data = {k: {"name": Cell(k), "hits": Cell(str(n), n, right=True)} for k, n in tied.items()}
        table.sync(data)
        await pilot.pause()

        def order() -> list[str]:
            keys = (table.coordinate_to_cell_key(Coordinate(i, 0)) for i in range(table.row_count))
            return [str(k.row_key.value) for k in keys]

        table.set_sort("hits")
        assert order() == ["c000", "c001", "c002", "c003", "c004"]
        table.set_sort("hits", reverse=True)
        assert order() == ["c004", "c001", "c002", "c003", "c000"]
        table.set_sort("name", reverse=True)
        assert order() == ["c004", "c003", "c002", "c001", "c000"]


async def test_line_render_gives_the_strips_datatable_gives() -> None:
    """The per-pass line and row render stands in for DataTable's own: for every line,
    with the cursor, the mouse hover and zebra stripes on rows of its own, and the table
    wider and narrower than its columns, the same segments and styles."""
    from textual.widgets import DataTable

    for width in (60, 14):
        async with live_table(width, 12) as (table, pilot):
            table.set_sort("name")
            table.sync(rows(8))
            await pilot.pause()
            table.move_cursor(row=2, animate=False)
            table._show_hover_cursor = True
            table.hover_coordinate = Coordinate(4, 1)
            await pilot.pause()
            style = table.rich_style
            lines = range(table.header_height + 8)
            table._clear_caches()
            table._pass = {}
            ours = [list(table._render_line(y, 0, width, style)) for y in lines]
            table._pass = None
            table._clear_caches()
            theirs = [list(DataTable._render_line(table, y, 0, width, style)) for y in lines]
            assert ours == theirs
            assert any(seg.style and seg.style.bgcolor for line in ours for seg in line)


async def test_s_cycles_through_the_columns_and_back_to_the_first() -> None:
    columns = [Column("name", "Name"), Column("left", "Left"), Column("hits", "Hits", right=True)]

    class Three(App[None]):
        def compose(self) -> ComposeResult:
            yield LiveTable(columns, id="t")

    app = Three()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(LiveTable)
        table.set_sort("name")
        # "left" is left-aligned text that sorts by a number (a cooldown): biggest first
        table.sync({k: {"name": Cell(k), "left": Cell(f"{n}s drained", n),
                        "hits": Cell(str(n), n, right=True)}
                    for k, n in (("a", 1), ("b", 30), ("c", 5))})  # fmt: skip
        table.focus()
        seen = []
        for _ in range(4):
            await pilot.press("s")
            seen.append((table.sort_column, table.sort_reverse))
        assert seen == [("left", True), ("hits", True), ("name", False), ("left", True)]
        assert line_of(table, "b") == shown(table)[1]  # 30 s first


async def test_the_kept_cell_renders_leave_with_their_rows() -> None:
    """Rows come and go (audit records, providers): what is kept per cell stays bounded
    by the rows shown, not by every row ever shown."""
    async with live_table(40, 30) as (table, pilot):
        table.set_sort("name")
        for start in range(0, 200, 20):  # ten waves of twenty new rows each
            table.sync({f"w{start + i:03d}": rows(1)["c000"] for i in range(20)})
            await pilot.pause()
            shown(table)
        assert 0 < len(table._drawn) <= 20 * len(COLUMNS)


def test_a_column_of_numbers_and_text_sorts_numbers_by_value_then_text() -> None:
    """The Fleet totals' "size / split" holds sizes and routers' splits: numbers sort by
    value (3461 after 960), text after them, and nothing compares an int with a str."""
    cells = [Cell("3461", 3461), Cell("fast 74% +2 more"), Cell("960", 960), Cell("521", 521),
             Cell("-", float("nan")), Cell("balanced 50%")]  # fmt: skip
    ordered = [c.text for c in sorted(cells, key=Cell.sort_key)]
    assert ordered == ["521", "960", "3461", "balanced 50%", "fast 74% +2 more", "-"]
