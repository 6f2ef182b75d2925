"""The console's own widgets and table helpers: the command line and key-stable table updates."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import Reactive
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, RichLog

from clank_lan.commands import commands
from clank_lan.tui.rows import Row

#: Commands remembered for Up/Down.
HISTORY_LIMIT = 200


class LineInput(Input):
    """A one-line input of fixed size whose key presses repaint only itself.

    Textual's input sets its virtual size (the width of its text) on every change, and the
    widget base declares that a layout property, so each key typed laid the whole screen out
    again: about 15 ms of CPU per key on the console's main screen at 120x40, all of it on the
    thread that also draws the live tables. A fixed-size input only needs a repaint; scrolling
    along a long line reads the virtual size directly.
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)


class CommandLine(LineInput):
    """The command input, with a history on Up/Down; PageUp/PageDown scroll the command output."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("pageup", "scroll_output(-1)", "Scroll up", show=False),
        Binding("pagedown", "scroll_output(1)", "Scroll down", show=False),
        Binding("escape", "leave", "Leave", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        names = sorted({c.name for c in commands()})
        # no select-all on focus: the key that moved focus here must not be overwritten by the next
        super().__init__(suggester=SuggestFromList(names, case_sensitive=False), select_on_focus=False, **kw)
        self.history: list[str] = []
        self._pos = 0

    def remember(self, line: str) -> None:
        if not self.history or self.history[-1] != line:
            self.history.append(line)
            del self.history[:-HISTORY_LIMIT]
        self._pos = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + step))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_scroll_output(self, pages: int) -> None:
        output = self.screen.query_one("#output", RichLog)
        if pages < 0:
            output.scroll_page_up(animate=False)
        else:
            output.scroll_page_down(animate=False)

    def action_leave(self) -> None:
        self.app.action_focus_tab()  # type: ignore[attr-defined]


class ConsoleScreen(Screen):
    """The console's main screen, whose focus moves repaint only what the move changes.

    Textual's screen holds the focused widget in a reactive that repaints the whole screen when it
    changes. The widgets that gain and lose focus restyle and repaint themselves anyway (``:focus``,
    ``:focus-within``), so that full repaint was a second drawing of everything at every tab switch
    (the console moves focus into the pane it opens). Without it a tab switch costs about 10 ms
    less CPU at 160x48 with 200 players (43-91 ms against 53-108 ms, medians per tab, two runs).
    """

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)


class StableFooter(Footer):
    """Textual's footer rebuilds all its keys whenever the bindings may have changed (every focus
    move, every refresh of the bindings), about 120 ms of CPU at 120x40: most of a key press. This
    one rebuilds only when the keys it shows, their labels or their enabled state really change."""

    _shown: tuple[tuple[str, str, bool], ...] | None = None

    def bindings_changed(self, screen: Screen) -> None:
        shown = tuple(
            (binding.key, binding.description, enabled)
            for _node, binding, enabled, _tooltip in screen.active_bindings.values()
            if binding.show
        )
        if self._bindings_ready and shown == self._shown:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = shown  # the footer recomposes now (see Footer.bindings_changed)
        super().bindings_changed(screen)


class FixedLog(RichLog):
    """A log of fixed height (the console's are all sized by their layout, never by their lines)
    whose new lines repaint only itself.

    A line written to a log grows its virtual size, which Textual's widget base declares a layout
    property: each refresh that followed a write laid the whole screen out again (every console
    tick with the Chat pane open while consoles chat, and every command's answer). A log whose
    height does not depend on its lines only needs its scrollbar updated and itself repainted. A
    scrollbar that appears or goes still lays the screen out (Textual's own reactive does that).
    """

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)  # what the layout did for it: the scrollbars and the scroll range


class PaneLog(FixedLog):
    """A live pane's log (DNS, Chat, Logs) that draws only while it is on screen.

    What comes while the pane is hidden is kept (no more lines than the pane keeps, each as a
    function that draws it) and drawn when the pane is shown again, in order: a hidden pane costs
    no drawing at all, four times a second while consoles chat.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: deque[tuple[Callable[[], RenderableType], bool]] = deque(maxlen=self.max_lines)

    def post(self, draw: Callable[[], RenderableType], expand: bool = False) -> None:
        """Write ``draw()`` now if the pane is on screen, else when it is shown."""
        if self._held or not self.is_on_screen:
            self._held.append((draw, expand))
        else:
            self.write(draw(), expand=expand)

    @property
    def held(self) -> int:
        return len(self._held)

    def on_show(self) -> None:
        held, self._held = self._held, deque(maxlen=self.max_lines)
        for draw, expand in held:
            self.write(draw(), expand=expand)


class ConsoleTable(DataTable):
    """A ``DataTable`` that draws its cells again once new rows have widened its columns.

    Textual measures new rows when the table is next idle and caches each drawn cell under a key
    without its width; a cell drawn before that measurement (a screen refresh came first, on a
    loaded machine) kept its cut-off drawing until the next change to the table: the first
    player's row showed "uya-n" and "19" under wide columns. (Private Textual attributes: the
    measurement's flag, and the counter its caches are keyed by.)
    """

    async def _on_idle(self, event: events.Idle) -> None:
        measured = self._require_update_dimensions
        await super()._on_idle(event)
        if measured:
            self._update_count += 1
            self.refresh()


def _cell_width(value: object) -> int:
    return value.cell_len if isinstance(value, Text) else cell_len(str(value))


def sync_table(
    table: DataTable,
    wanted: list[Row],
    names: tuple[str, ...],
    shown: tuple[str, ...],
) -> None:
    """Make ``table`` show ``wanted`` by key: remove, update changed cells, add; the cursor stays.

    Rows carry a cell for each of ``names``; the table has the columns ``shown`` (a narrow
    terminal drops the less important ones).

    Column widths: Textual measures an updated cell and, when it is narrower than its column,
    measures the whole column again, once per such cell: with 200 players whose idle times change
    every second that was 40,000 measurements a refresh, the console's biggest cost in a login
    storm. Here a cell asks for a width update only when it may widen its column, or (once per
    column and refresh) when it was the widest and narrowed, so a column is measured at most once.
    """
    picks = [names.index(n) for n in shown]
    keys = {r.key for r in wanted}
    for row_key in list(table.rows):
        if row_key.value not in keys:
            table.remove_row(row_key)
    columns = list(table.columns.items())
    remeasured: set[object] = set()
    for r in wanted:
        # Text, never markup: names and game titles come from the consoles
        cells = tuple(Text(r.cells[i], style="bold red" if i in r.alert else "") for i in picks)
        if r.key in table.rows:
            current = table.get_row(r.key)
            for (key, column), old, new in zip(columns, current, cells):
                if old == new:
                    continue
                widest = column.content_width
                widens = new.cell_len >= widest
                was_widest = not widens and key not in remeasured and _cell_width(old) >= widest
                if was_widest:
                    remeasured.add(key)
                table.update_cell(r.key, key, new, update_width=widens or was_widest)
        else:
            table.add_row(*cells, key=r.key)
