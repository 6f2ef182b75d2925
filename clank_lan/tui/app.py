"""The operator console: a Textual app with the appliance running inside it as a trio guest.

What the organiser sees: the address to type on every console, each service's state, where the
config, data and log are, and tabs for players, channels, games, consoles that never got in, bans,
DNS queries, lobby chat, logs and the tournament, all live; a command line that runs the one command registry.

Never the wrong target: letters typed anywhere on the console go to the command line (a command
names its target), so no letter is a hotkey; the actions on the selected row sit on function
keys and every one asks first, naming the player or game in the question and on the button.

How it stays out of the engine's way: the engine never imports this module. The app starts
``serve`` (the same coroutine ``--headless`` runs under ``trio.run``) as a trio guest, reads
the engine's state directly (one thread, so nothing moves while a handler runs), and sends every
action into trio through ``TrioGuest`` (``call`` for the registry's synchronous commands,
``run`` for ``engine.shutdown``). Bus events and log records land in bounded inboxes that a
timer drains a few times a second, so a flood of DNS queries costs one repaint, not thousands.

A bug in the screen must not end a tournament: an exception in a handler is logged with its
traceback, the screen closes, and the servers keep running headless (see ``run_tui``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import ExitStack, suppress
from dataclasses import astuple
from functools import partial
from typing import TYPE_CHECKING, ClassVar

import outcome
import trio
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
from clank_lan.commands import Paths, audit_line, ban_target_text, commands, paths_of, run_command
from clank_lan.events import ChatLine, DnsQuery, Event, PlayerStage
from clank_lan.net.setup import primary_dns_line, setup_text
from clank_lan.tui import rows
from clank_lan.tui import tournament as cup
from clank_lan.tui.bridge import GuestNotRunning, TrioGuest
from clank_lan.tui.feed import EVENT_CAPACITY, LOG_CAPACITY, Inbox, LogRecordView, logs_to_tui, pump_events
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
from clank_lan.tui.widgets import CommandLine, ConsoleScreen, FixedLog, PaneLog, StableFooter, sync_table

if TYPE_CHECKING:
    from clank_lan.engine import Engine

#: ``serve(task_status=...)``: starts the appliance, ``task_status.started(engine)``, returns an exit code.
ServeFactory = Callable[..., Awaitable[int | None]]
_NOTHING = object()  # no panel shows this
#: Textual's own setting; when the operator sets it, it wins over the console's default (none).
ANIMATIONS_ENV = "TEXTUAL_ANIMATIONS"

log = logging.getLogger("clank_lan.tui")

ACTOR = "tui"
REFRESH_INTERVAL = 0.25  # drain the inboxes and repaint what changed, at most 4 times a second
#: The tab each live table is on.
PANE_TABLES = {
    "players": "players-table",
    "channels": "channels-table",
    "games": "games-table",
    "consoles": "consoles-table",
    "bans": "bans-table",
}
FULL_REFRESH = 1.0  # re-read the tables at least this often (not every change publishes an event)
#: Events and log lines in one refresh interval that make it a storm (80 a second: 200 consoles
#: logging in and chatting). In a storm the tables follow once a second, not four times: each
#: refresh lays the screen out anew, and that work shares the one thread with the consoles.
STORM_EVENTS = 20
PANE_LINES = 2000  # lines kept in each live pane
OUTPUT_LINES = 2000
AUDIT_LINES = 8  # the newest operator actions, shown under the bans
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
        serve: ServeFactory,
        *,
        paths: Paths | None = None,
        capture_logs: bool = True,
        show_clock: bool = True,
    ) -> None:
        super().__init__()
        if ANIMATIONS_ENV not in os.environ:
            # The console shares a core with the servers: a tab's sliding underline alone is some 18
            # repaints of the whole screen, and doubled the console's CPU while 200 consoles chatted.
            self.animation_level = "none"
        self.serve = serve
        self.paths = paths
        self.capture_logs = capture_logs
        self.show_clock = show_clock
        self.guest = TrioGuest()
        self.engine: Engine | None = None
        self.events: Inbox[Event] = Inbox(EVENT_CAPACITY)
        self.logs: Inbox[LogRecordView] = Inbox(LOG_CAPACITY)
        self.serve_result: int | None = None
        self.trio_error: BaseException | None = None
        #: An exception in the screen's own code; the servers outlive it (``run_tui``).
        self.ui_error: BaseException | None = None
        self.stopping = False
        self.narrow = False
        self._dirty = True
        self._last_full = 0.0
        self._labels: dict[str, str] = {}
        self._rows: dict[str, list[rows.Row]] = {}  # each table's rows as of the last refresh
        self._stale: set[str] = set()  # tables not showing those yet (see _sync)
        self._shown: dict[str, object] = {}  # what each panel shows (see _show)
        self._audit_shown = 0
        self._cup_shown: object = None
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
                yield DataTable(id="players-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Channels", id="channels"):
                yield DataTable(id="channels-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Games", id="games"), Vertical():
                yield DataTable(id="games-table", cursor_type="row", zebra_stripes=True)
                yield Static(Text("no game selected", style="dim"), id="game-detail", classes="pane-detail")
            with TabPane("Consoles", id="consoles"), Vertical():
                yield DataTable(id="consoles-table", cursor_type="row", zebra_stripes=True)
                yield Static(Text(""), id="console-detail", classes="pane-detail")
            with TabPane("Bans", id="bans"), Vertical():
                yield DataTable(id="bans-table", cursor_type="row", zebra_stripes=True)
                none_yet = Text("no operator actions yet", style="dim")
                yield Static(none_yet, id="audit-log", classes="pane-detail")
            with TabPane("DNS", id="dns"):
                yield PaneLog(id="dns-log", max_lines=PANE_LINES)
            with TabPane("Chat", id="chat"):
                yield PaneLog(id="chat-log", max_lines=PANE_LINES, wrap=True)
            with TabPane("Logs", id="logs"):
                yield PaneLog(id="log-log", max_lines=PANE_LINES, wrap=True)
            with TabPane("Tournament", id="tournament"), Vertical():
                yield DataTable(id="pending-table", cursor_type="row", zebra_stripes=True)
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
        if self.capture_logs:
            self._cleanup.enter_context(logs_to_tui(self.logs))
        self.guest.add_done_callback(self._trio_finished)
        self.guest.start(self._trio_main)
        self.set_interval(REFRESH_INTERVAL, self._tick)

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
        # Leaving without the quit dialog (a test ending): stop the servers politely and keep
        # the asyncio loop alive until trio has finished. After a screen error they keep running.
        try:
            if self.ui_error is None:
                if self.guest.running:
                    await self._stop_servers()
                with suppress(TimeoutError):
                    await self.guest.wait_done(SHUTDOWN_WAIT)
        finally:
            self._cleanup.close()

    def _handle_exception(self, error: Exception) -> None:
        """A bug in the screen's code: keep its traceback in the log file; the servers keep going."""
        if self.ui_error is None:
            self.ui_error = error
            log.critical("the operator console failed; the servers keep running", exc_info=error)
        super()._handle_exception(error)

    # the trio side ---------------------------------------------------------------------------
    async def _trio_main(self, nursery: trio.Nursery) -> int | None:
        async def serve(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
            self.serve_result = await self.serve(task_status=task_status)

        async with trio.open_nursery() as servers:
            engine = await servers.start(serve)
            nursery.start_soon(pump_events, engine.bus.subscribe(EVENT_CAPACITY), self.events)
            self._attach(engine)
        return self.serve_result

    def _trio_finished(self, result: outcome.Outcome) -> None:
        if isinstance(result, outcome.Error):
            self.trio_error = result.error
            code = 1
        else:
            code = result.value if isinstance(result.value, int) else 0
        if self.is_running:
            self.exit(code, return_code=code)

    async def _stop_servers(self) -> None:
        """Goodbye to every console (engine.shutdown, in trio), then cancel the trio root."""
        self.stopping = True
        if self.engine is not None and self.guest.running:
            with suppress(GuestNotRunning, TimeoutError):
                await asyncio.wait_for(self.guest.run(self.engine.shutdown), SHUTDOWN_WAIT)
        self.guest.cancel()

    def _attach(self, engine: Engine) -> None:
        """The servers are up (called in the trio run; the next tick paints them)."""
        self.engine = engine
        if self.paths is None:
            self.paths = paths_of(engine)
        self._dirty = True

    # periodic refresh ------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.engine is None or not self.is_running:
            return
        events = self.events.drain()
        records = self.logs.drain()
        for ev in events:
            stage = self._show_event(ev)
            if stage is not None:
                records.append(stage)
        records.sort(key=lambda r: r.ts)  # stable: one source's order is kept
        for rec in records:
            self._write_log(rec)
        now = time.monotonic()
        storm = len(events) + len(records) >= STORM_EVENTS
        changed = bool(events or records) and not storm
        if changed or self._dirty or now - self._last_full >= FULL_REFRESH:
            self.refresh_tables()
            self._dirty = False
            self._last_full = now

    def refresh_tables(self) -> None:
        engine = self.engine
        if engine is None:
            return
        now = engine.wall_clock()
        lobby = engine.lobby.lobby
        self._rows = {
            "players-table": rows.player_rows(lobby),
            "channels-table": rows.channel_rows(lobby),
            "games-table": rows.game_rows(lobby, now),
            "consoles-table": rows.console_rows(engine.consoles.snapshot(now)),
            "bans-table": rows.ban_rows(engine),
        }
        self._stale.update(self._rows)
        active = PANE_TABLES.get(self.main.query_one("#tabs", TabbedContent).active)
        if active is not None:
            self._sync(active)
        for pane, table_id in PANE_TABLES.items():
            self._set_label(pane, self._tab_label(pane.title(), len(self._rows[table_id])))
        services = tuple(astuple(s) for s in engine.services.values())
        self._show("#services", services, lambda: rows.services_table(engine.services))
        self._show("#strip", strip := self._strip(engine), lambda: strip)
        self._show("#setup", setup := self._setup_panel(engine), lambda: setup)
        self._refresh_details(now)
        self._refresh_audit()
        self._refresh_tournament(engine)
        if not self.stopping:
            down = sum(1 for s in engine.services.values() if not s.up)
            warn = f"  ·  {down} service{'' if down == 1 else 's'} DOWN" if down else ""
            self.sub_title = primary_dns_line(engine.addresses.advertised) + warn

    def _refresh_details(self, now: float) -> None:
        """The detail under the Games or the Consoles table, whichever is in sight."""
        engine = self.engine
        assert engine is not None
        active = self.main.query_one("#tabs", TabbedContent).active
        if active == "games":
            game = self.selected_game()
            if game is None:
                text = Text("no game selected", style="dim")
            else:
                world = engine.dme.world_info(game.dme_world_id) if game.dme_world_id is not None else None
                text = rows.game_detail(game, world, now)
            self._show("#game-detail", text, lambda: text)
        elif active == "consoles":
            key = self._selected_key("consoles-table")
            status = engine.consoles.status(key, now) if key is not None else None
            if status is None:
                console = Text("\n".join(rows.NO_CONSOLES), style="dim")
            else:
                console = rows.console_detail(status, now)
            self._show("#console-detail", console, lambda: console)

    def _show(self, static_id: str, key: object, build: Callable[[], RenderableType]) -> None:
        """Update a panel only when what it shows changed: every update of a ``Static`` costs a
        new layout of the whole screen (tens of ms at 120x40), four times a second otherwise."""
        if self._shown.get(static_id, _NOTHING) != key:
            self._shown[static_id] = key
            self.main.query_one(static_id, Static).update(build())

    def _refresh_audit(self) -> None:
        """The newest operator actions under the bans (``audit`` shows more, ``export`` all)."""
        assert self.engine is not None
        entries = self.engine.db.audit.recent(AUDIT_LINES)
        newest = entries[-1].id if entries else 0
        if newest != self._audit_shown:
            newest_first = "\n".join(audit_line(e) for e in reversed(entries))  # a short pane shows the top
            self.main.query_one("#audit-log", Static).update(Text(newest_first))
            self._audit_shown = newest

    def _refresh_tournament(self, engine: Engine) -> None:
        """The Tournament tab: the confirm table always, the bracket view only when it changed."""
        svc = engine.tournament
        pending = cup.pending_rows(svc)
        table = self.main.query_one("#pending-table", DataTable)
        columns = TABLES["pending-table"]
        sync_table(table, pending, columns.full, columns.shown(self.narrow))
        table.display = bool(pending)
        self._set_label(
            "tournament", self._tab_label("Tournament", len(pending)) if pending else "Tournament"
        )
        lobby = engine.lobby.lobby
        key = (cup.view_key(svc, lobby), self.narrow)
        if key != self._cup_shown:
            self._cup_shown = key
            view = cup.tournament_view(svc, lobby, wide=not self.narrow)
            self.main.query_one("#tournament-view", Static).update(view)

    def _sync(self, table_id: str) -> None:
        """Show a table's latest rows, if it does not yet. Only the table in sight is kept up to
        date on every refresh; the others when their tab is opened or their selection is read
        (in a login storm with 200 consoles the hidden Players and Consoles tables were updated
        four times a second for nobody to see, on the thread that also serves the consoles)."""
        if table_id in self._stale:
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

    def _setup_panel(self, engine: Engine) -> Text:
        address = engine.addresses.advertised
        text = Text()
        text.append(f" {primary_dns_line(address)} ", style="bold reverse")
        text.append("\nEnter it as the DNS of each PS2 / PCSX2.\nF1: full setup, keys and commands.\n\n")
        text.append(rows.summary(engine), style="bold")
        text.append("\n")
        text.append(self._warnings(engine))
        if self.paths is not None:
            text.append(rows.paths_text(self.paths))
        return text

    def _warnings(self, engine: Engine) -> Text:
        text = Text()
        address = engine.addresses.advertised
        if address.startswith("127."):
            text.append(
                f"{address} is reachable from this machine only: start with --address <LAN address>.\n",
                style="yellow",
            )
        dropped = self.events.dropped + self.logs.dropped + engine.bus.dropped
        if dropped:
            text.append(f"{dropped} events not shown (the screen fell behind)\n", style="dim")
        return text

    def _strip(self, engine: Engine) -> Text:
        """The short terminal's top line: services (down ones in full), warnings, the log file."""
        text = rows.services_strip(engine.services)
        warnings = self._warnings(engine)
        if warnings:
            warnings.rstrip()
            text.append("\n")
            text.append(warnings)
        if self.paths is not None and self.paths.log is not None:
            text.append(f"  ·  log: {self.paths.log}", style="dim")
        return text

    def _show_event(self, ev: Event) -> LogRecordView | None:
        """Show a bus event in its pane; a connection-doctor stage is returned for the log pane.
        (The tables follow at this tick, or in a storm at the next full refresh: ``_tick``.)"""
        if isinstance(ev, DnsQuery):
            failed = ev.answer in ("NXDOMAIN", "REFUSED", "SERVFAIL")
            style = "red" if failed else ("green" if ev.title else "")
            self.main.query_one("#dns-log", PaneLog).post(partial(Text, rows.dns_text(ev), style=style))
        elif isinstance(ev, ChatLine):
            self.main.query_one("#chat-log", PaneLog).post(partial(Text, rows.chat_text(ev)))
        elif isinstance(ev, PlayerStage):
            return LogRecordView(ev.ts, "info", "stage", rows.stage_text(ev))
        # ServiceState and LogLine: the same news also arrives as a log record (the engine and
        # the DNS server log what they publish), so the logging bridge shows it once.
        return None

    def _write_log(self, rec: LogRecordView) -> None:
        self.main.query_one("#log-log", PaneLog).post(partial(log_grid, rec), expand=True)

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
        """Run one command line through the registry (in trio) and show its answer."""
        line = line.strip()
        if line.startswith("!"):  # the in-game chat prefix works here too
            line = line[1:].lstrip()
        if not line:
            return []
        if line.lower() in ("quit", "exit"):
            await self.action_quit()
            return []
        self.output(f"> {line}", "bold")
        if self.engine is None:
            out = ["the servers are still starting"]
        else:
            try:
                out = await self.guest.call(run_command, self.engine, line, ACTOR)
            except GuestNotRunning:
                out = ["the servers have stopped"]
            except Exception as exc:  # a command bug must not take the console down
                log.exception("command %r failed", line)
                out = [f"error: {type(exc).__name__}: {exc}"]
        for text in out:
            self.output(text, "red" if text.startswith(("error:", "unknown command")) else "")
        self._dirty = True
        self._tick()
        return out

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "command":
            return
        event.stop()
        line = event.value.strip()
        event.input.value = ""
        if line:
            self.main.query_one("#command", CommandLine).remember(line)
            await self.run_line(line)

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

    def selected_player(self):
        """The Session selected in the Players table (None when nobody is online)."""
        key = self._selected_key("players-table")
        if key is None or self.engine is None:
            return None
        s = self.engine.lobby.lobby.sessions.get(key)
        return s if s is not None and s.logged_in else None

    def selected_game(self):
        key = self._selected_key("games-table")
        if key is None or self.engine is None:
            return None
        return self.engine.lobby.lobby.games.get(int(key))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._dirty = True  # the detail under Games / Consoles follows the selection

    # actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The console's own keys do nothing while a dialog is open (quit still works)."""
        return action not in MAIN_SCREEN_ACTIONS or self.screen is getattr(self, "main", None)

    def action_show_tab(self, tab: str) -> None:
        self.main.query_one("#tabs", TabbedContent).active = tab
        self.action_focus_tab()

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
        if self.engine is not None:
            self._refresh_details(self.engine.wall_clock())
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
        address = self.engine.addresses.advertised if self.engine else "<this machine's address>"
        rules = self.engine.port_rules() if self.engine else []
        cmds = [(c.usage, c.help) for c in commands()]
        paths = self.paths.lines() if self.paths is not None else []
        self.push_screen(HelpScreen(KEYS_HELP, cmds, setup_text(address, rules), paths))

    def action_kick(self) -> None:
        s = self.selected_player()
        if s is None or self.engine is None:
            self.notify("Select a player in the Players tab first.", severity="warning")
            return
        name = s.account_name

        async def answer(reason: str | None) -> None:
            if reason is not None:
                await self.run_line(
                    shlex.join(["kick", name, *(reason or "kicked by the organiser").split()])
                )

        detail = f"{s.title_key} at {s.ip}, {rows.where(s, self.engine.lobby.lobby)}"
        self.push_screen(KickScreen(name, detail), answer)

    def action_ban(self) -> None:
        s = self.selected_player()
        if s is None:
            self.notify("Select a player in the Players tab first.", severity="warning")
            return
        name = s.account_name

        async def answer(req: BanRequest | None) -> None:
            if req is not None:
                words = ["ban", name, f"{req.minutes:g}", *(req.reason or "banned by the organiser").split()]
                await self.run_line(shlex.join(words))

        detail = f"{s.title_key} at {s.ip}; the account cannot log in until the ban ends."
        self.push_screen(BanScreen(name, detail), answer)

    def action_end_game(self) -> None:
        g = self.selected_game()
        if g is None:
            self.notify("Select a game in the Games tab first.", severity="warning")
            return
        game_id = g.id

        async def answer(yes: bool | None) -> None:
            if yes:
                await self.run_line(f"endgame {game_id}")

        detail = f"{len(g.players)} players go back to the lobby."
        question = f"End game {g.id} {g.name!r}?"
        self.push_screen(ConfirmScreen(question, detail, f"End game {g.id}"), answer)

    def action_unban(self) -> None:
        key = self._selected_key("bans-table")
        ban = self.engine.db.bans.get(int(key)) if key is not None and self.engine is not None else None
        if ban is None or self.engine is None:
            self.notify("Select a ban in the Bans tab first.", severity="warning")
            return
        ban_id, who = ban.id, ban_target_text(self.engine, ban.kind, ban.target)

        async def answer(yes: bool | None) -> None:
            if yes:
                await self.run_line(f"unban #{ban_id}")

        detail = f"Banned because: {ban.reason}" if ban.reason else ""
        self.push_screen(ConfirmScreen(f"Lift ban {ban_id} on {who}?", detail, f"Unban {who}"), answer)

    def action_confirm_result(self) -> None:
        """F8: the winner of the selected pending result, asked in a dialog naming both sides."""
        key = self._selected_key("pending-table")
        found = None
        if key is not None and self.engine is not None:
            found = next((p for p in self.engine.tournament.to_confirm() if str(p[0].id) == key), None)
        if found is None:
            self.notify("Select a result in Tournament, Results to confirm, first.", severity="warning")
            return
        result, side_a, side_b = found
        game = self.engine.lobby.lobby.games.get(result.game_id) if self.engine is not None else None
        game_text = f"game {result.game_id}" if result.game_id else "a game entered by hand"
        if game is not None:
            game_text += f" {game.name!r}"
        if result.players:
            game_text += f", played by {', '.join(result.players)}"

        async def answer(choice: ResultChoice | None) -> None:
            if choice is not None:
                await self.run_line(
                    shlex.join(["tournament", "confirm", str(choice.result_id), choice.winner])
                )

        dialog = ConfirmResultScreen(result.id, f"#{result.match_id}", game_text, side_a, side_b)
        self.push_screen(dialog, answer)

    def action_broadcast(self) -> None:
        if self.engine is None:
            return
        consoles = sum(1 for s in self.engine.lobby.lobby.sessions.values() if s.online)

        async def answer(text: str | None) -> None:
            if text:
                await self.run_line(shlex.join(["broadcast", *text.split()]))

        self.push_screen(BroadcastScreen(consoles), answer)

    async def action_quit(self) -> None:
        if self.stopping or getattr(self.screen, "quit_dialog", False):
            return
        if self.engine is None or not self.guest.running:
            await self._quit_now()
            return
        online = sum(1 for s in self.engine.lobby.lobby.sessions.values() if s.logged_in)

        async def answer(yes: bool | None) -> None:
            if yes:
                await self._quit_now()

        detail = f"{online} player{'' if online == 1 else 's'} online will be disconnected."
        dialog = ConfirmScreen("Stop the servers and quit?", detail, "Stop and quit")
        dialog.quit_dialog = True  # a second ctrl+c does not stack another one
        self.push_screen(dialog, answer)

    async def _quit_now(self) -> None:
        self.sub_title = "stopping..."
        self.notify("Telling every console goodbye...", title="Stopping")
        await self._stop_servers()
        if not self.guest.running and self.guest.outcome is None:
            self.exit(0)  # trio never started; nothing to wait for
