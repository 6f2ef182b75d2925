"""The console's own widgets and table helpers: the command line and key-stable table updates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Input

from clank_lan.commands import commands
from clank_lan.tui.rows import Row


class CommandLine(Input):
    """The command input, with a history on Up/Down."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("escape", "leave", "Leave", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        names = sorted({c.name for c in commands()})
        super().__init__(suggester=SuggestFromList(names, case_sensitive=False), **kw)
        self.history: list[str] = []
        self._pos = 0

    def remember(self, line: str) -> None:
        if not self.history or self.history[-1] != line:
            self.history.append(line)
        self._pos = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + step))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_leave(self) -> None:
        self.app.action_focus_tab()  # type: ignore[attr-defined]


def style_service(cells: tuple[str, ...]) -> tuple[str | Text, ...]:
    """The services table's state in colour, and a down reason in red."""
    state = cells[3]
    return (
        *cells[:3],
        Text(state, style="bold green" if state == "up" else "bold red"),
        Text(cells[4], style="red") if cells[4] else "",
    )


def sync_table(
    table: DataTable,
    wanted: list[Row],
    style: Callable[[tuple[str, ...]], tuple[str | Text, ...]] | None = None,
) -> None:
    """Make ``table`` show ``wanted`` by key: remove, update changed cells, add; the cursor stays."""
    keys = {r.key for r in wanted}
    for row_key in list(table.rows):
        if row_key.value not in keys:
            table.remove_row(row_key)
    columns = list(table.columns)
    for r in wanted:
        styled = style(r.cells) if style is not None else r.cells
        # Text, never markup: names and game titles come from the consoles
        cells = tuple(c if isinstance(c, Text) else Text(c) for c in styled)
        if r.key in table.rows:
            current = table.get_row(r.key)
            for col, old, new in zip(columns, current, cells):
                if old != new:
                    table.update_cell(r.key, col, new, update_width=True)
        else:
            table.add_row(*cells, key=r.key)
