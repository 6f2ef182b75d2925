"""The console's live tables: ``sync_table`` keeps rows by key and column widths right, and measures
a column at most once per refresh however many of its cells change."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.widgets import DataTable
from textual.widgets import _data_table as data_table_module

from clank_lan.tui.rows import Row
from clank_lan.tui.widgets import sync_table

NAMES = ("name", "idle")


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield DataTable(id="t")


def rows(idle: dict[str, str]) -> list[Row]:
    return [Row(key=name, cells=(name, text)) for name, text in idle.items()]


def run(scenario) -> None:
    async def main() -> None:
        app = TableApp()
        async with app.run_test(size=(80, 30)) as pilot:
            table = app.query_one(DataTable)
            for name in NAMES:
                table.add_column(name, key=name)
            await scenario(table, pilot)

    asyncio.run(asyncio.wait_for(main(), 20))


def test_widths_follow_the_widest_cell_as_it_grows_and_shrinks():
    async def scenario(table: DataTable, pilot) -> None:
        async def widths() -> tuple[int, ...]:
            await pilot.pause()
            return tuple(c.content_width for c in table.columns.values())

        sync_table(table, rows({"amy": "1s", "ben": "2s"}), NAMES, NAMES)
        assert await widths() == (4, 4)  # the labels are the widest
        sync_table(table, rows({"amy": "1h 02m 33s", "ben": "3s"}), NAMES, NAMES)
        assert await widths() == (4, 10)
        sync_table(table, rows({"amy": "4s", "ben": "12m 01s"}), NAMES, NAMES)  # the widest narrowed
        assert await widths() == (4, 7)
        sync_table(table, rows({"amy": "5s", "ben": "1s"}), NAMES, NAMES)
        assert await widths() == (4, 4)
        sync_table(table, rows({"amy": "6s", "christopher": "0s"}), NAMES, NAMES)  # ben left
        assert [k.value for k in table.rows] == ["amy", "christopher"]
        assert await widths() == (11, 4)
        assert [str(c) for c in table.get_row("amy")] == ["amy", "6s"]
        assert [str(c) for c in table.get_row("christopher")] == ["christopher", "0s"]

    run(scenario)


def test_a_refresh_of_many_changed_cells_measures_each_column_at_most_once(monkeypatch):
    players = [f"p{i:03d}" for i in range(200)]
    measured = []
    real_measure = data_table_module.measure

    def counting_measure(*args, **kwargs):
        measured.append(1)
        return real_measure(*args, **kwargs)

    async def scenario(table: DataTable, pilot) -> None:
        widest = {name: ("10m 00s" if name == "p000" else f"{i % 50}s") for i, name in enumerate(players)}
        sync_table(table, rows(widest), NAMES, NAMES)
        await pilot.pause()
        assert table.columns["idle"].content_width == 7
        monkeypatch.setattr(data_table_module, "measure", counting_measure)
        # a second later: every idle time changed, the widest one went down to "1s"
        sync_table(table, rows({name: f"{i % 50 + 1}s" for i, name in enumerate(players)}), NAMES, NAMES)
        await pilot.pause()
        assert table.columns["idle"].content_width == 4  # "idle" is now the widest
        # one column measured once (200 cells and its label and the changed cell), never per cell:
        # Textual alone measures the column again for every cell narrower than it (40,000 here)
        assert len(measured) <= 2 * len(players) + 10
        assert str(table.get_cell("p007", "idle")) == "8s"

    run(scenario)
