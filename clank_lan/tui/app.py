"""The operator console: a Textual app that shows and steers the appliance from a process of its own.

What the organiser sees: the address to type on every console, each service's state, where the
config, data and log are, and tabs for players, channels, games, consoles that never got in, bans,
DNS queries, lobby chat, logs and the tournament, all live; a command line that runs the one command registry.

Never the wrong target: letters typed anywhere on the console go to the command line (a command
names its target), so no letter is a hotkey; the actions on the selected row sit on function
keys and every one asks first, naming the player or game in the question and on the button.

How it stays out of the engine's way: the engine never imports this module, and the app runs in
another process (``clank-lan serve`` starts it; ``clank-lan attach`` attaches it to a headless
appliance). It knows the engine only through its line (``link.EngineLink``): a poll a few times a
second brings the tables, the panels and the lines logged since the last one (a flood of DNS
queries costs one repaint, not thousands); commands and the quit are requests on the same line,
and a dialog names what the rows it was opened on say. Drawing the screen never takes the servers' time.

A bug in the screen must not end a tournament: an exception in a handler is logged with its
traceback (to the engine's log file too), the screen closes with a non-zero status, and the
servers keep running headless (see ``tui.spawn``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import ExitStack, suppress
from functools import partial
from typing import ClassVar

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, RichLog, Static, TabbedContent, TabPane

from clank_lan import __version__
from clank_lan.commands import commands
from clank_lan.net.setup import primary_dns_line
from clank_lan.tui import rows
from clank_lan.tui import tournament as cup
from clank_lan.tui.feed import LogRecordView
from clank_lan.tui.link import EngineLink, LinkClosed, forward_records
from clank_lan.tui.palette import RegistryCommands
from clank_lan.tui.screens import (
    BanRequest,
    BanScreen,
    BroadcastScreen,
    ConfirmResultScreen,
    ConfirmScreen,
    HelpScreen,
    KickScreen,
    ResultChoice,
)
from clank_lan.tui.widgets import (
    CommandLine,
    ConsoleScreen,
    ConsoleTable,
    FixedLog,
    PaneLog,
    StableFooter,
    sync_table,
)
from clank_lan.tui.wire import Cup, Lines, Poll, Run, Stop, View

#: Attaches to the engine (``EngineLink.connect`` with the address it was given).
Connect = Callable[[], Awaitable[EngineLink]]
_NOTHING = object()  # no panel shows this
#: Textual's own setting; when the operator sets it, it wins over the console's default (none).
ANIMATIONS_ENV = "TEXTUAL_ANIMATIONS"

log = logging.getLogger("clank_lan.tui")

REFRESH_INTERVAL = 0.25  # poll the engine and repaint what changed, at most 4 times a second
#: The tab each live table is on.
PANE_TABLES = {
    "players": "players-table",
    "channels": "channels-table",
    "games": "games-table",
    "consoles": "consoles-table",
    "bans": "bans-table",
}
FULL_REFRESH = 1.0  # re-read the tables at least this often (not every change publishes an event)
PANE_LINES = 2000  # lines kept in each live pane
OUTPUT_LINES = 2000
SHUTDOWN_WAIT = 5.0  # engine.shutdown takes its grace period (2 s); never wait forever

LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red", "critical": "bold red"}


def log_grid(rec: LogRecordView) -> Table:
    """A log record as the Logs pane shows it: a grid keeps wrapped messages indented under their
    own column."""
    style = LEVEL_STYLES.get(rec.level, "")
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=8, style="dim", no_wrap=True)
    grid.add_column(width=4, style=style, no_wrap=True)
    grid.add_column(width=7, style="cyan", no_wrap=True, overflow="ellipsis")
    grid.add_column(ratio=1, overflow="fold", style=style if rec.level != "info" else "")
    # Text, never markup: a player's name or chat line may contain "[...]"
    grid.add_row(Text(rows.clock(rec.ts)), Text(rec.level.upper()[:4]), Text(rec.source), Text(rec.text))
    return grid


APP_CSS = """
#top { height: auto; }
#setup {
    width: 50;
    height: auto;
    border: round $primary;
    border-title-color: $primary;
    padding: 0 1;
}
#services {
    width: 1fr;
    height: auto;
    border: round $primary;
    border-title-color: $primary;
    padding: 0 1;
}
#strip { display: none; height: auto; max-height: 7; padding: 0 1; background: $boost; }
#tabs { height: 1fr; }
#tabs DataTable, #tabs RichLog { height: 1fr; }
.pane-detail { height: auto; max-height: 9; border-top: solid $panel; padding: 0 1; }
#tabs #pending-table { height: auto; max-height: 8; border: round $warning; border-title-color: $warning; }
#tournament-scroll { height: 1fr; padding: 0 1; }
#output {
    height: 10;
    border: round $panel;
    border-title-color: $text-muted;
    padding: 0 1;
}
#output:focus { border: round $primary; }
#output.-maximized { height: 1fr; }
/* short terminals: the tables matter most; one strip keeps services, warnings and the DNS line */
.-compact #top { display: none; }
.-compact #strip { display: block; }
.-compact #output { height: 4; }
.-compact .pane-detail { max-height: 5; }
.-narrow #tabs Tab { padding: 0 0 0 1; }
.-compact #tabs #pending-table { max-height: 5; }
"""
COMPACT_HEIGHT = 34  # rows below which the top panels give their room to the tables
NARROW_WIDTH = 100  # columns below which the tables show their most important columns only

KEYS_HELP = [
    ("typing", "any letter goes to the command line: type a command with its target, Enter runs it"),
    ("/ or :", "go to the command line; Up/Down recall earlier commands, Escape leaves it"),
    ("F2", "kick the player selected in Players (asks first, naming them)"),
    ("F3", "ban the player selected in Players (asks how long and why, naming them)"),
    ("F4", "end the game selected in Games (asks first, naming it)"),
    ("F5, ctrl+b", "broadcast a message to every console"),
    ("F6", "command output full screen (again to restore); PageUp/PageDown scroll it"),
    ("F7", "lift the ban selected in Bans (asks first, naming who)"),
    ("F8", "name the winner of the result selected in Tournament, Results to confirm (asks which side)"),
    (
        "1 ... 9",
        "Players, Channels, Games, Consoles, Bans, DNS, Chat, Logs, Tournament (outside the command line)",
    ),
    ("ctrl+p", "command palette: every command"),
    ("F1", "this help"),
    ("F10, ctrl+c", "stop the servers and quit (asks first)"),
]

TABS = ("players", "channels", "games", "consoles", "bans", "dns", "chat", "logs", "tournament")
TABLES = {
    "players-table": rows.PLAYER_COLUMNS,
    "channels-table": rows.CHANNEL_COLUMNS,
    "games-table": rows.GAME_COLUMNS,
    "consoles-table": rows.CONSOLE_COLUMNS,
    "bans-table": rows.BAN_COLUMNS,
    "pending-table": cup.PENDING_COLUMNS,
}
MAIN_SCREEN_ACTIONS = {
    "kick",
    "ban",
    "end_game",
    "broadcast",
    "help",
    "focus_command",
    "show_tab",
    "toggle_output",
    "unban",
    "confirm_result",
}


class ClankApp(App[int]):
    """The clank-lan operator console."""

    TITLE = f"clank-lan {__version__}"
    main: Screen  # the console screen, set on mount
    CSS = APP_CSS
    # the registry, and (get_system_commands) the console's own actions instead of Textual's
    COMMANDS: ClassVar = App.COMMANDS | {RegistryCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False, id="quit-ctrl-c"),
        Binding("f10", "quit", "Quit", id="quit"),
        Binding("f1", "help", "Help", id="help"),
        Binding("f2", "kick", "Kick", id="kick"),
        Binding("f3", "ban", "Ban", id="ban"),
        Binding("f4", "end_game", "End game", id="end-game"),
        Binding("f5", "broadcast", "Broadcast", id="broadcast"),
        Binding("ctrl+b", "broadcast", "Broadcast", priority=True, show=False, id="broadcast-ctrl-b"),
        Binding("f6", "toggle_output", "Output", show=False, id="output"),  # named on the panel
        Binding("f7", "unban", "Unban", id="unban"),
        Binding("f8", "confirm_result", "Confirm", show=False, id="confirm-result"),  # named on the tab
        Binding("slash,colon", "focus_command", "Command", show=False, id="command"),
        *(Binding(str(i + 1), f"show_tab('{t}')", t.title(), show=False) for i, t in enumerate(TABS)),
    ]

    def __init__(
        self,
        connect: Connect,
        *,
        forward_logs: bool = True,
        show_clock: bool = True,
    ) -> None:
        super().__init__()
        if ANIMATIONS_ENV not in os.environ:
            # A tab's sliding underline alone is some 18 repaints of the whole screen: on a 2-core
            # machine that also runs the servers (and often PCSX2) the console keeps still.
            self.animation_level = "none"
        self.connect = connect
        self.forward_logs = forward_logs
        self.show_clock = show_clock
        self.link: EngineLink | None = None
        self.view: View | None = None  # the engine's latest answer to a poll
        self.paths: list[tuple[str, str]] = []  # from the welcome
        self.log_file: str | None = None
        #: An exception in the screen's own code; the servers outlive it (``tui.spawn``).
        self.ui_error: BaseException | None = None
        #: Why the console could not attach or lost the engine (shown after the screen closes).
        self.link_error: str | None = None
        self.stopping = False
        self.narrow = False
        self._dirty = True
        self._last_full = 0.0
        self._poll_task: asyncio.Future | None = None
        self._labels: dict[str, str] = {}
        self._rows: dict[str, list[rows.Row]] = {}  # each table's rows as of the last full poll
        self._stale: set[str] = set()  # tables not showing those yet (see _sync)
        self._shown: dict[str, object] = {}  # what each panel shows (see _show)
        self._audit_shown = 0
        self._cup: Cup | None = None
        self._cup_shown: object = None
        self._tasks: set[asyncio.Future] = set()
        self._cleanup = ExitStack()

    # layout --------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return ConsoleScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Header(show_clock=self.show_clock)
        with Horizontal(id="top"):
            yield Static(Text("starting the servers..."), id="setup")
            yield Static(Text(""), id="services")
        yield Static(Text("starting the servers..."), id="strip")
        with TabbedContent(id="tabs", initial="players"):
            with TabPane("Players", id="players"):
                yield ConsoleTable(id="players-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Channels", id="channels"):
                yield ConsoleTable(id="channels-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Games", id="games"), Vertical():
                yield ConsoleTable(id="games-table", cursor_type="row", zebra_stripes=True)
                yield Static(Text("no game selected", style="dim"), id="game-detail", classes="pane-detail")
            with TabPane("Consoles", id="consoles"), Vertical():
                yield ConsoleTable(id="consoles-table", cursor_type="row", zebra_stripes=True)
                yield Static(Text(""), id="console-detail", classes="pane-detail")
            with TabPane("Bans", id="bans"), Vertical():
                yield ConsoleTable(id="bans-table", cursor_type="row", zebra_stripes=True)
                none_yet = Text("no operator actions yet", style="dim")
                yield Static(none_yet, id="audit-log", classes="pane-detail")
            with TabPane("DNS", id="dns"):
                yield PaneLog(id="dns-log", max_lines=PANE_LINES)
            with TabPane("Chat", id="chat"):
                yield PaneLog(id="chat-log", max_lines=PANE_LINES, wrap=True)
            with TabPane("Logs", id="logs"):
                yield PaneLog(id="log-log", max_lines=PANE_LINES, wrap=True)
            with TabPane("Tournament", id="tournament"), Vertical():
                yield ConsoleTable(id="pending-table", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="tournament-scroll"):
                    yield Static(Text("\n".join(cup.HOW_TO_START)), id="tournament-view")
        yield FixedLog(id="output", max_lines=OUTPUT_LINES, wrap=True)
        yield CommandLine(
            placeholder="type a command: help, status, kick NAME, bans ... (Enter runs)", id="command"
        )
        yield StableFooter(compact=True)

    def on_mount(self) -> None:
        self.main = self.screen  # the console screen; App.query_one would search a dialog on top
        self._build_columns()
        self.query_one("#services", Static).border_title = "Services"
        self.query_one("#setup", Static).border_title = "Connect consoles"
        self.query_one("#audit-log", Static).border_title = "Operator actions"
        pending = self.query_one("#pending-table", DataTable)
        pending.border_title = "Results to confirm (F8: pick the winner of the selected one)"
        pending.display = False
        output = self.query_one("#output", RichLog)
        output.border_title = "Command output (F6: full screen, PageUp/PageDown: scroll)"
        self.query_one("#players-table", DataTable).focus()
        self._spawn(self._attach())

    def _build_columns(self) -> None:
        for table_id, columns in TABLES.items():
            table = self.main.query_one(f"#{table_id}", DataTable)
            table.clear(columns=True)
            for name in columns.shown(self.narrow):
                table.add_column(name, key=name)

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.height < COMPACT_HEIGHT, "-compact")
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")
        narrow = event.size.width < NARROW_WIDTH
        if narrow != self.narrow and hasattr(self, "main"):
            self.narrow = narrow
            self._build_columns()
            self._stale.update(self._rows)
            self._dirty = True
        self.narrow = narrow

    async def on_unmount(self) -> None:
        try:
            if self.link is not None:
                await self.link.close()
        finally:
            self._cleanup.close()

    def _handle_exception(self, error: Exception) -> None:
        """A bug in the screen's code: keep its traceback in the log files; the servers keep going."""
        if self.ui_error is None:
            self.ui_error = error
            log.critical("the operator console failed; the servers keep running", exc_info=error)
        super()._handle_exception(error)

    # the engine's line -----------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[object]) -> asyncio.Future:
        """A task of the screen's own: its exception is a screen failure like a handler's."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and isinstance(task.exception(), Exception):
            self._handle_exception(task.exception())

    async def _attach(self) -> None:
        try:
            self.link = await self.connect()
        except LinkClosed as exc:
            self.link_error = str(exc)
            self.exit(2, return_code=2)
            return
        self.paths = self.link.welcome.paths
        self.log_file = self.link.welcome.log
        if self.forward_logs:
            self._cleanup.enter_context(forward_records(self.link))
        self._spawn(self._watch_link(self.link))
        self.ticker = self.set_interval(REFRESH_INTERVAL, self._tick)
        self._tick()

    async def _watch_link(self, link: EngineLink) -> None:
        """The engine went away: after the operator's quit that is the end; otherwise say why."""
        await link.closed.wait()
        if not self.stopping:
            self.link_error = f"the servers have stopped ({link.reason})"
        if self.is_running:
            self.exit(0, return_code=0)

    async def request(self, make: Callable[[int], object]) -> object | None:
        """One request on the line; None when the engine is gone (the watcher closes the screen)."""
        if self.link is None:
            return None
        try:
            return await self.link.request(make)
        except LinkClosed:
            return None

    # periodic refresh ------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.link is None or self._poll_task is not None or not self.is_running:
            return  # a poll still on its way is not doubled: a busy engine answers late, not twice
        self._poll_task = self._spawn(self._poll())

    async def poll_once(self, *, full: bool = False) -> None:
        """One poll now, after the one on its way (``full``: every table); shown when it returns."""
        if self._poll_task is not None:
            await asyncio.shield(self._poll_task)
        self._dirty = self._dirty or full
        self._tick()
        if self._poll_task is not None:
            await asyncio.shield(self._poll_task)

    async def _poll(self) -> None:
        try:
            now = time.monotonic()
            full = self._dirty or now - self._last_full >= FULL_REFRESH
            active = self.main.query_one("#tabs", TabbedContent).active
            poll = partial(
                Poll,
                tab=active,
                game=self._selected_key("games-table") if active == "games" else None,
                console=self._selected_key("consoles-table") if active == "consoles" else None,
                cup_key=self._cup.key if self._cup is not None else "",
                full=full,
            )
            reply = await self.request(poll)
            if isinstance(reply, Lines):  # the engine's view failed: its log has the traceback
                log.warning("the engine could not answer the console's poll: %s", " ".join(reply.lines))
            if not isinstance(reply, View) or not self.is_running:
                return
            if full:
                self._dirty = False
            if reply.tables:  # fresh tables (a full poll's, or a trickle's): the next full one waits
                self._last_full = now
            self.apply(reply)
        finally:
            self._poll_task = None

    def apply(self, view: View) -> None:
        """Show one poll's answer: the panes' new lines, then the tables and panels that changed."""
        self.view = view
        for line in view.lines:
            pane = self.main.query_one(f"#{line.pane}-log", PaneLog)
            pane.post(partial(Text, line.text, style=line.style))
        for rec in view.records:
            self.main.query_one("#log-log", PaneLog).post(partial(log_grid, rec), expand=True)
        if view.cup is not None:
            self._cup = view.cup
        if view.tables:
            self._rows = dict(view.tables)
            self._stale.update(self._rows)
            self.refresh_tables()
        self.refresh_panels()

    def refresh_tables(self) -> None:
        active = PANE_TABLES.get(self.main.query_one("#tabs", TabbedContent).active)
        if active is not None:
            self._sync(active)
        for pane, table_id in PANE_TABLES.items():
            self._set_label(pane, self._tab_label(pane.title(), len(self._rows.get(table_id, []))))
        self._refresh_pending()

    def refresh_panels(self) -> None:
        view = self.view
        if view is None:
            return
        services = tuple(view.services)
        self._show("#services", services, lambda: rows.services_table(view.services))
        self._show("#strip", strip := self._strip(view), lambda: strip)
        self._show("#setup", setup := self._setup_panel(view), lambda: setup)
        self._refresh_details(view)
        self._refresh_audit(view)
        self._refresh_tournament()
        if not self.stopping:
            down = sum(1 for s in view.services if not s.up)
            warn = f"  ·  {down} service{'' if down == 1 else 's'} DOWN" if down else ""
            self.sub_title = primary_dns_line(view.address) + warn

    def _refresh_details(self, view: View) -> None:
        """The detail under the Games or the Consoles table, whichever is in sight."""
        active = self.main.query_one("#tabs", TabbedContent).active
        if active == "games":
            game = Text("no game selected", style="dim") if view.detail is None else view.detail.text()
            self._show("#game-detail", view.detail, lambda: game)
        elif active == "consoles":
            if view.detail is None:
                console = Text("\n".join(rows.NO_CONSOLES), style="dim")
            else:
                console = view.detail.text()
            self._show("#console-detail", view.detail, lambda: console)

    def _show(self, static_id: str, key: object, build: Callable[[], RenderableType]) -> None:
        """Update a panel only when what it shows changed: every update of a ``Static`` costs a
        new layout of the whole screen (tens of ms at 120x40), four times a second otherwise."""
        if self._shown.get(static_id, _NOTHING) != key:
            self._shown[static_id] = key
            self.main.query_one(static_id, Static).update(build())

    def _refresh_audit(self, view: View) -> None:
        """The newest operator actions under the bans (``audit`` shows more, ``export`` all)."""
        if view.audit_newest != self._audit_shown:
            self.main.query_one("#audit-log", Static).update(Text("\n".join(view.audit)))
            self._audit_shown = view.audit_newest

    def _refresh_pending(self) -> None:
        """The Tournament tab's confirm table, shown only while results wait for the operator."""
        pending = self._rows.get("pending-table", [])
        table = self.main.query_one("#pending-table", DataTable)
        columns = TABLES["pending-table"]
        sync_table(table, pending, columns.full, columns.shown(self.narrow))
        table.display = bool(pending)
        self._set_label(
            "tournament", self._tab_label("Tournament", len(pending)) if pending else "Tournament"
        )

    def _refresh_tournament(self) -> None:
        """The bracket view, drawn again only when the engine sent a new one or the width changed."""
        if self._cup is None:
            return
        key = (self._cup.key, self.narrow)
        if key != self._cup_shown:
            self._cup_shown = key
            view = cup.tournament_view(self._cup.data, self._cup.live, wide=not self.narrow)
            self.main.query_one("#tournament-view", Static).update(view)

    def _sync(self, table_id: str) -> None:
        """Show a table's latest rows, if it does not yet. Only the table in sight is kept up to
        date on every refresh; the others when their tab is opened or their selection is read
        (in a login storm with 200 consoles the hidden Players and Consoles tables were updated
        four times a second for nobody to see)."""
        if table_id in self._stale and table_id in self._rows:
            self._stale.discard(table_id)
            columns = TABLES[table_id]
            table = self.main.query_one(f"#{table_id}", DataTable)
            sync_table(table, self._rows[table_id], columns.full, columns.shown(self.narrow))

    def _tab_label(self, name: str, count: int) -> str:
        """``Players (3)``; ``Players 3`` on a narrow terminal, so that every tab stays in sight."""
        return f"{name} {count}" if self.narrow else f"{name} ({count})"

    def _set_label(self, pane: str, label: str) -> None:
        if self._labels.get(pane) != label:
            self._labels[pane] = label
            self.main.query_one("#tabs", TabbedContent).get_tab(pane).label = label

    def _setup_panel(self, view: View) -> Text:
        text = Text()
        text.append(f" {primary_dns_line(view.address)} ", style="bold reverse")
        text.append("\nEnter it as the DNS of each PS2 / PCSX2.\nF1: full setup, keys and commands.\n\n")
        text.append(view.summary, style="bold")
        text.append("\n")
        text.append(self._warnings(view))
        text.append(rows.paths_text(self.paths))
        return text

    def _warnings(self, view: View) -> Text:
        text = Text()
        if view.address.startswith("127."):
            text.append(
                f"{view.address} is reachable from this machine only: start with --address <LAN address>.\n",
                style="yellow",
            )
        if view.dropped:
            text.append(f"{view.dropped} events not shown (the screen fell behind)\n", style="dim")
        return text

    def _strip(self, view: View) -> Text:
        """The short terminal's top line: services (down ones in full), warnings, the log file."""
        text = rows.services_strip(view.services)
        warnings = self._warnings(view)
        if warnings:
            warnings.rstrip()
            text.append("\n")
            text.append(warnings)
        if self.log_file is not None:
            text.append(f"  ·  log: {self.log_file}", style="dim")
        return text

    # typing goes to the command line ---------------------------------------------------------
    def on_key(self, event: events.Key) -> None:
        """A printable key that nothing on the console took starts a command (digits pick tabs)."""
        if getattr(self, "main", None) is not self.screen or isinstance(self.focused, Input):
            return
        char = event.character
        if not event.is_printable or char is None or char.isdigit() or char in "/:":
            return
        event.stop()
        event.prevent_default()
        cmd = self.main.query_one("#command", CommandLine)
        cmd.focus()
        cmd.insert_text_at_cursor(char)

    # commands --------------------------------------------------------------------------------
    def output(self, line: str, style: str = "") -> None:
        self.main.query_one("#output", RichLog).write(Text(line, style=style))

    async def run_line(self, line: str) -> list[str]:
        """Run one command line through the registry (in the engine) and show its answer."""
        line = line.strip()
        if line.startswith("!"):  # the in-game chat prefix works here too
            line = line[1:].lstrip()
        if not line:
            return []
        if line.lower() in ("quit", "exit"):
            await self.action_quit()
            return []
        self.output(f"> {line}", "bold")
        if self.link is None:
            out = ["the servers are still starting"]
        else:
            reply = await self.request(lambda i: Run(i, line))
            out = reply.lines if isinstance(reply, Lines) else ["the servers have stopped"]
        for text in out:
            self.output(text, "red" if text.startswith(("error:", "unknown command")) else "")
        self._dirty = True
        self._tick()
        return out

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """The line runs in a task of its own: the keys after Enter are not held up while the
        engine answers (the answers still come in the order the lines were sent)."""
        if event.input.id != "command":
            return
        event.stop()
        line = event.value.strip()
        event.input.value = ""
        if line:
            self.main.query_one("#command", CommandLine).remember(line)
            self._spawn(self.run_line(line))

    def palette_command(self, name: str, needs_arguments: bool) -> None:
        """A registry command chosen in the palette: run it, or let the operator finish it."""
        if needs_arguments:
            cmd = self.main.query_one("#command", CommandLine)
            cmd.value = f"{name} "
            cmd.cursor_position = len(cmd.value)
            cmd.focus()
        else:
            self.call_later(self.run_line, name)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The console's own actions (Textual's themes and screenshots are left out)."""
        yield SystemCommand("Kick player (F2)", "Disconnect the player selected in Players", self.action_kick)
        yield SystemCommand("Ban player (F3)", "Ban the player selected in Players", self.action_ban)
        yield SystemCommand("End game (F4)", "Close the game selected in Games", self.action_end_game)
        yield SystemCommand("Broadcast (F5)", "Send a message to every console", self.action_broadcast)
        yield SystemCommand("Unban (F7)", "Lift the ban selected in Bans", self.action_unban)
        yield SystemCommand(
            "Confirm result (F8)",
            "Name the winner of the result selected in Tournament",
            self.action_confirm_result,
        )
        yield SystemCommand("Help (F1)", "Keys, commands, paths and the console setup", self.action_help)
        yield SystemCommand("Quit (F10)", "Stop the servers and quit", self.action_quit)

    # selection -------------------------------------------------------------------------------
    def _selected_key(self, table_id: str) -> str | None:
        self._sync(table_id)
        table = self.main.query_one(f"#{table_id}", DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0))
        return row_key.value

    def _selected_row(self, table_id: str) -> rows.Row | None:
        """The selected row as of the latest poll: what a dialog names (and its command acts on
        the name or id, never on whichever row is selected when it runs)."""
        key = self._selected_key(table_id)
        return next((r for r in self._rows.get(table_id, []) if r.key == key), None)

    def selected_player(self) -> str | None:
        """The name of the player selected in the Players table (None when nobody is online)."""
        row = self._selected_row("players-table")
        return row.cells[0] if row is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._dirty = True  # the detail under Games / Consoles follows the selection
        self._tick()

    # actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The console's own keys do nothing while a dialog is open (quit still works)."""
        return action not in MAIN_SCREEN_ACTIONS or self.screen is getattr(self, "main", None)

    def action_show_tab(self, tab: str) -> None:
        self.main.query_one("#tabs", TabbedContent).active = tab  # the focus follows (tab activated)

    def action_focus_tab(self) -> None:
        active = self.main.query_one("#tabs", TabbedContent).active
        pane = self.main.query_one(f"#{active}", TabPane)
        for widget in pane.query("DataTable, RichLog, VerticalScroll"):
            if widget.display:
                widget.focus()
                break

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        table_id = PANE_TABLES.get(event.pane.id or "")
        if table_id is not None:
            self._sync(table_id)
        if event.pane.id in ("games", "consoles"):
            self._dirty = True  # its detail comes with the next poll, asked for now
            self._tick()
        if not isinstance(self.focused, Input):
            self.action_focus_tab()

    def action_focus_command(self) -> None:
        self.main.query_one("#command", CommandLine).focus()

    def action_toggle_output(self) -> None:
        if self.main.maximized is not None:
            self.main.minimize()
        else:
            output = self.main.query_one("#output", RichLog)
            self.main.maximize(output, container=False)
            output.focus()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        cmds = [(c.usage, c.help) for c in commands()]
        setup = self.link.welcome.setup if self.link is not None else "the servers are still starting"
        self.push_screen(HelpScreen(KEYS_HELP, cmds, setup, self.paths))

    def action_kick(self) -> None:
        row = self._selected_row("players-table")
        if row is None:
            self.notify("Select a player in the Players tab first.", severity="warning")
            return
        name, title, ip, where = row.cells[:4]

        async def answer(reason: str | None) -> None:
            if reason is not None:
                await self.run_line(
                    shlex.join(["kick", name, *(reason or "kicked by the organiser").split()])
                )

        self.push_screen(KickScreen(name, f"{title} at {ip}, {where}"), answer)

    def action_ban(self) -> None:
        row = self._selected_row("players-table")
        if row is None:
            self.notify("Select a player in the Players tab first.", severity="warning")
            return
        name, title, ip = row.cells[:3]

        async def answer(req: BanRequest | None) -> None:
            if req is not None:
                words = ["ban", name, f"{req.minutes:g}", *(req.reason or "banned by the organiser").split()]
                await self.run_line(shlex.join(words))

        detail = f"{title} at {ip}; the account cannot log in until the ban ends."
        self.push_screen(BanScreen(name, detail), answer)

    def action_end_game(self) -> None:
        row = self._selected_row("games-table")
        if row is None:
            self.notify("Select a game in the Games tab first.", severity="warning")
            return
        game_id, name, players = row.key, row.cells[1], rows.count_of(row.cells[4])

        async def answer(yes: bool | None) -> None:
            if yes:
                await self.run_line(f"endgame {game_id}")

        detail = f"{players} players go back to the lobby."
        question = f"End game {game_id} {name!r}?"
        self.push_screen(ConfirmScreen(question, detail, f"End game {game_id}"), answer)

    def action_unban(self) -> None:
        row = self._selected_row("bans-table")
        if row is None:
            self.notify("Select a ban in the Bans tab first.", severity="warning")
            return
        ban_id, who, reason = row.key, row.cells[1], row.cells[4]

        async def answer(yes: bool | None) -> None:
            if yes:
                await self.run_line(f"unban #{ban_id}")

        detail = f"Banned because: {reason}" if reason else ""
        self.push_screen(ConfirmScreen(f"Lift ban {ban_id} on {who}?", detail, f"Unban {who}"), answer)

    def action_confirm_result(self) -> None:
        """F8: the winner of the selected pending result, asked in a dialog naming both sides."""
        row = self._selected_row("pending-table")
        if row is None:
            self.notify("Select a result in Tournament, Results to confirm, first.", severity="warning")
            return
        result_id, match, game_id, side_a, side_b, players = row.cells[:6]
        game_text = f"game {game_id}" if game_id != "-" else "a game entered by hand"
        game = next((g for g in self._rows.get("games-table", []) if g.key == game_id), None)
        if game is not None:
            game_text += f" {game.cells[1]!r}"
        if players != "-":
            game_text += f", played by {players}"

        async def answer(choice: ResultChoice | None) -> None:
            if choice is not None:
                await self.run_line(
                    shlex.join(["tournament", "confirm", str(choice.result_id), choice.winner])
                )

        dialog = ConfirmResultScreen(int(result_id), match, game_text, side_a, side_b)
        self.push_screen(dialog, answer)

    def action_broadcast(self) -> None:
        if self.view is None:
            return

        async def answer(text: str | None) -> None:
            if text:
                await self.run_line(shlex.join(["broadcast", *text.split()]))

        self.push_screen(BroadcastScreen(self.view.online), answer)

    async def action_quit(self) -> None:
        if self.stopping or getattr(self.screen, "quit_dialog", False):
            return
        if self.view is None or self.link is None or self.link.closed.is_set():
            self.exit(0, return_code=0)  # not attached (yet), or the engine is gone: nothing to stop
            return
        online = self.view.logged_in

        async def answer(yes: bool | None) -> None:
            if yes:
                await self._quit_now()

        detail = f"{online} player{'' if online == 1 else 's'} online will be disconnected."
        dialog = ConfirmScreen("Stop the servers and quit?", detail, "Stop and quit")
        dialog.quit_dialog = True  # a second ctrl+c does not stack another one
        self.push_screen(dialog, answer)

    async def _quit_now(self) -> None:
        """Goodbye to every console (the engine's shutdown takes its grace period), then leave."""
        self.stopping = True
        self.sub_title = "stopping..."
        self.notify("Telling every console goodbye...", title="Stopping")
        with suppress(TimeoutError):
            await asyncio.wait_for(self.request(Stop), SHUTDOWN_WAIT)
        self.exit(0, return_code=0)
