"""The operator console: a Textual app with the appliance running inside it as a trio guest.

What the organiser sees: the address to type on every console, each service's state, and tabs
for players, channels, games, DNS queries, lobby chat and logs, all live; a command line that
runs the one command registry; keys for kick, ban, broadcast, end game, help and quit.

How it stays out of the engine's way: the engine never imports this module. The app starts
``serve`` (the same coroutine ``--headless`` runs under ``trio.run``) as a trio guest, reads
the engine's state directly (one thread, so nothing moves while a handler runs), and sends every
action into trio through ``TrioGuest`` (``call`` for the registry's synchronous commands,
``run`` for ``engine.shutdown``). Bus events and log records land in bounded inboxes that a
timer drains a few times a second, so a flood of DNS queries costs one repaint, not thousands.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import ExitStack, suppress
from typing import TYPE_CHECKING, ClassVar

import outcome
import trio
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, RichLog, Static, TabbedContent, TabPane

from clank_lan import __version__
from clank_lan.commands import commands, run_command
from clank_lan.events import DnsQuery, Event
from clank_lan.net.setup import primary_dns_line, setup_text
from clank_lan.servers.lobby.service import ChatLine, PlayerStage
from clank_lan.tui import rows
from clank_lan.tui.bridge import GuestNotRunning, TrioGuest
from clank_lan.tui.feed import EVENT_CAPACITY, LOG_CAPACITY, Inbox, LogRecordView, logs_to_tui, pump_events
from clank_lan.tui.palette import RegistryCommands
from clank_lan.tui.screens import (
    BanRequest,
    BanScreen,
    BroadcastScreen,
    ConfirmScreen,
    HelpScreen,
    KickScreen,
)
from clank_lan.tui.widgets import CommandLine, style_service, sync_table

if TYPE_CHECKING:
    from clank_lan.engine import Engine

#: ``serve(task_status=...)``: starts the appliance, ``task_status.started(engine)``, returns an exit code.
ServeFactory = Callable[..., Awaitable[int | None]]

ACTOR = "tui"
REFRESH_INTERVAL = 0.25  # drain the inboxes and repaint what changed, at most 4 times a second
FULL_REFRESH = 1.0  # re-read the tables at least this often (not every change publishes an event)
PANE_LINES = 2000  # lines kept in each live pane
OUTPUT_LINES = 500
SHUTDOWN_WAIT = 5.0  # engine.shutdown takes its grace period (2 s); never wait forever

LEVEL_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red", "critical": "bold red"}

APP_CSS = """
#top { height: auto; }
#setup {
    width: 48;
    height: auto;
    border: round $primary;
    border-title-color: $primary;
    padding: 0 1;
}
#services {
    width: 1fr;
    height: auto;
    max-height: 12;
    border: round $primary;
    border-title-color: $primary;
}
#tabs { height: 1fr; }
#tabs DataTable, #tabs RichLog { height: 1fr; }
#output {
    height: 7;
    border: round $panel;
    border-title-color: $text-muted;
    padding: 0 1;
}
/* short terminals: the tables matter most; the header still shows the DNS line */
.-compact #top { display: none; }
.-compact #output { height: 5; }
"""
COMPACT_HEIGHT = 34  # rows below which the top panels give their room to the tables

KEYS_HELP = [
    ("k", "kick the player selected in Players (asks first)"),
    ("b", "ban the player selected in Players (asks how long and why)"),
    ("e", "end the game selected in Games (asks first)"),
    ("ctrl+b", "broadcast a message to every console"),
    ("/ or :", "go to the command line; Enter runs, Up/Down recall"),
    ("escape", "leave the command line"),
    ("1 ... 6", "Players, Channels, Games, DNS, Chat, Logs"),
    ("ctrl+p", "command palette: every command"),
    ("f1", "this help"),
    ("q, ctrl+c", "stop the servers and quit (asks first)"),
]

TABS = ("players", "channels", "games", "dns", "chat", "logs")
MAIN_SCREEN_ACTIONS = {"kick", "ban", "end_game", "broadcast", "help", "focus_command", "show_tab"}


class ClankApp(App[int]):
    """The clank-lan operator console."""

    TITLE = f"clank-lan {__version__}"
    main: Screen  # the console screen, set on mount
    CSS = APP_CSS
    COMMANDS: ClassVar = App.COMMANDS | {RegistryCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False, id="quit-ctrl-c"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("f1", "help", "Help", id="help"),
        Binding("k", "kick", "Kick", id="kick"),
        Binding("b", "ban", "Ban", id="ban"),
        Binding("e", "end_game", "End game", id="end-game"),
        Binding("ctrl+b", "broadcast", "Broadcast", priority=True, id="broadcast"),
        Binding("slash,colon", "focus_command", "Command", id="command"),
        *(Binding(str(i + 1), f"show_tab('{t}')", t.title(), show=False) for i, t in enumerate(TABS)),
    ]

    def __init__(self, serve: ServeFactory, *, capture_logs: bool = True) -> None:
        super().__init__()
        self.serve = serve
        self.capture_logs = capture_logs
        self.guest = TrioGuest()
        self.engine: Engine | None = None
        self.events: Inbox[Event] = Inbox(EVENT_CAPACITY)
        self.logs: Inbox[LogRecordView] = Inbox(LOG_CAPACITY)
        self.serve_result: int | None = None
        self.trio_error: BaseException | None = None
        self.stopping = False
        self._dirty = True
        self._last_full = 0.0
        self._labels: dict[str, str] = {}
        self._cleanup = ExitStack()

    # layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Horizontal(id="top"):
            yield Static(Text("starting the servers..."), id="setup")
            yield DataTable(id="services", cursor_type="none", show_cursor=False)
        with TabbedContent(id="tabs", initial="players"):
            with TabPane("Players", id="players"):
                yield DataTable(id="players-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Channels", id="channels"):
                yield DataTable(id="channels-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Games", id="games"):
                yield DataTable(id="games-table", cursor_type="row", zebra_stripes=True)
            with TabPane("DNS", id="dns"):
                yield RichLog(id="dns-log", max_lines=PANE_LINES)
            with TabPane("Chat", id="chat"):
                yield RichLog(id="chat-log", max_lines=PANE_LINES, wrap=True)
            with TabPane("Logs", id="logs"):
                yield RichLog(id="log-log", max_lines=PANE_LINES, wrap=True)
        yield RichLog(id="output", max_lines=OUTPUT_LINES, wrap=True)
        yield CommandLine(
            placeholder="command: help, status, kick NAME, broadcast TEXT ... (Enter runs)", id="command"
        )
        yield Footer()

    def on_mount(self) -> None:
        self.main = self.screen  # the console screen; App.query_one would search a dialog on top
        for table_id, columns in (
            ("services", rows.SERVICE_COLUMNS),
            ("players-table", rows.PLAYER_COLUMNS),
            ("channels-table", rows.CHANNEL_COLUMNS),
            ("games-table", rows.GAME_COLUMNS),
        ):
            table = self.query_one(f"#{table_id}", DataTable)
            for name in columns:
                table.add_column(name, key=name)
        services = self.query_one("#services", DataTable)
        services.can_focus = False
        services.border_title = "Services"
        self.query_one("#setup", Static).border_title = "Connect consoles"
        output = self.query_one("#output", RichLog)
        output.border_title = "Command output"
        output.can_focus = False
        self.query_one("#players-table", DataTable).focus()
        if self.capture_logs:
            self._cleanup.enter_context(logs_to_tui(self.logs))
        self.guest.add_done_callback(self._trio_finished)
        self.guest.start(self._trio_main)
        self.set_interval(REFRESH_INTERVAL, self._tick)

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.height < COMPACT_HEIGHT, "-compact")

    async def on_unmount(self) -> None:
        # Leaving without the quit dialog (an error, a test ending): stop the servers politely,
        # and keep the asyncio loop alive until trio has finished.
        try:
            if self.guest.running:
                await self._stop_servers()
            with suppress(TimeoutError):
                await self.guest.wait_done(SHUTDOWN_WAIT)
        finally:
            self._cleanup.close()

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
        if events or records or self._dirty or now - self._last_full >= FULL_REFRESH:
            self.refresh_tables()
            self._dirty = False
            self._last_full = now

    def refresh_tables(self) -> None:
        engine = self.engine
        if engine is None:
            return
        lobby = engine.lobby.lobby
        players = rows.player_rows(lobby)
        channels = rows.channel_rows(lobby)
        games = rows.game_rows(lobby)
        sync_table(self.main.query_one("#players-table", DataTable), players)
        sync_table(self.main.query_one("#channels-table", DataTable), channels)
        sync_table(self.main.query_one("#games-table", DataTable), games)
        sync_table(
            self.main.query_one("#services", DataTable), rows.service_rows(engine.services), style_service
        )
        if not self.stopping:
            down = sum(1 for s in engine.services.values() if not s.up)
            warn = f"  ·  {down} service{'' if down == 1 else 's'} DOWN" if down else ""
            self.sub_title = primary_dns_line(engine.addresses.advertised) + warn
        self._set_label("players", f"Players ({len(players)})")
        self._set_label("channels", f"Channels ({len(channels)})")
        self._set_label("games", f"Games ({len(games)})")
        self.main.query_one("#setup", Static).update(self._setup_panel(engine))

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
        if address.startswith("127."):
            text.append(
                f"\n{address} is reachable from this machine only: start with --address <LAN address>.",
                style="yellow",
            )
        dropped = self.events.dropped + self.logs.dropped + engine.bus.dropped
        if dropped:
            text.append(f"\n{dropped} events not shown (the screen fell behind)", style="dim")
        return text

    def _show_event(self, ev: Event) -> LogRecordView | None:
        """Show a bus event in its pane; a connection-doctor stage is returned for the log pane."""
        self._dirty = True
        if isinstance(ev, DnsQuery):
            failed = ev.answer in ("NXDOMAIN", "REFUSED", "SERVFAIL")
            style = "red" if failed else ("green" if ev.title else "")
            self.main.query_one("#dns-log", RichLog).write(Text(rows.dns_text(ev), style=style))
        elif isinstance(ev, ChatLine):
            self.main.query_one("#chat-log", RichLog).write(Text(rows.chat_text(ev)))
        elif isinstance(ev, PlayerStage):
            return LogRecordView(ev.ts, "info", "stage", rows.stage_text(ev))
        # ServiceState and LogLine: the same news also arrives as a log record (the engine and
        # the DNS server log what they publish), so the logging bridge shows it once.
        return None

    def _write_log(self, rec: LogRecordView) -> None:
        # a grid keeps wrapped messages indented under their own column
        style = LEVEL_STYLES.get(rec.level, "")
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(width=8, style="dim", no_wrap=True)
        grid.add_column(width=4, style=style, no_wrap=True)
        grid.add_column(width=7, style="cyan", no_wrap=True, overflow="ellipsis")
        grid.add_column(ratio=1, overflow="fold", style=style if rec.level != "info" else "")
        # Text, never markup: a player's name or chat line may contain "[...]"
        grid.add_row(Text(rows.clock(rec.ts)), Text(rec.level.upper()[:4]), Text(rec.source), Text(rec.text))
        self.main.query_one("#log-log", RichLog).write(grid, expand=True)

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
                logging.getLogger("clank_lan.tui").exception("command %r failed", line)
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
        yield from super().get_system_commands(screen)
        yield SystemCommand("Kick player", "Disconnect the player selected in Players", self.action_kick)
        yield SystemCommand("Ban player", "Ban the player selected in Players", self.action_ban)
        yield SystemCommand("End game", "Close the game selected in Games", self.action_end_game)
        yield SystemCommand("Broadcast", "Send a message to every console", self.action_broadcast)
        yield SystemCommand("Help", "Keys, commands and the console setup", self.action_help)

    # selection -------------------------------------------------------------------------------
    def _selected_key(self, table_id: str) -> str | None:
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
        for widget in pane.query("DataTable, RichLog"):
            widget.focus()
            break

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if not isinstance(self.focused, Input):
            self.action_focus_tab()

    def action_focus_command(self) -> None:
        self.main.query_one("#command", CommandLine).focus()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        address = self.engine.addresses.advertised if self.engine else "<this machine's address>"
        rules = self.engine.port_rules() if self.engine else []
        cmds = [(c.usage, c.help) for c in commands()]
        self.push_screen(HelpScreen(KEYS_HELP, cmds, setup_text(address, rules)))

    def action_kick(self) -> None:
        s = self.selected_player()
        if s is None:
            self.notify("Select a player in the Players tab first.", severity="warning")
            return
        name = s.account_name

        async def answer(reason: str | None) -> None:
            if reason is not None:
                await self.run_line(
                    shlex.join(["kick", name, *(reason or "kicked by the organiser").split()])
                )

        self.push_screen(
            KickScreen(name, f"{s.title_key} at {s.ip}, {rows.where(s, self.engine.lobby.lobby)}"), answer
        )

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
        self.push_screen(ConfirmScreen(f"End game {g.id} {g.name!r}?", detail, "End game"), answer)

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
        dialog = ConfirmScreen("Stop the servers and quit?", detail, "Quit")
        dialog.quit_dialog = True  # a second q / ctrl+c does not stack another one
        self.push_screen(dialog, answer)

    async def _quit_now(self) -> None:
        self.sub_title = "stopping..."
        self.notify("Telling every console goodbye...", title="Stopping")
        await self._stop_servers()
        if not self.guest.running and self.guest.outcome is None:
            self.exit(0)  # trio never started; nothing to wait for
