"""The operator console against a real appliance on 127.0.0.1 (ephemeral ports), driven by Pilot.

Each test runs the app the way ``clank-lan serve`` does: Textual's asyncio loop hosts the engine
as a trio guest. These are plain (sync) tests that call ``asyncio.run`` themselves, because
pytest-trio would run an ``async def`` test under trio; the headless clients run inside the
app's trio guest through ``app.guest``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
import trio
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog, Static

from clank_lan.client.lobby import LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.tui.app import ClankApp
from clank_lan.tui.screens import BanScreen, ConfirmScreen, HelpScreen, KickScreen
from tests.conftest import ephemeral_config, ports_of

SIZE = (150, 45)


def serving(config=None, *, dns: bool = False):
    """What ``serve`` does, minus the terminal: a real engine on 127.0.0.1 (ports 0), and with
    ``dns`` the real redirector (offline, on an ephemeral port) beside it."""

    async def serve(*, task_status=trio.TASK_STATUS_IGNORED) -> int:
        from clank_lan.dns.server import serve_dns
        from clank_lan.dns.settings import DnsSettings
        from clank_lan.engine import Addresses, Engine

        engine = Engine(
            config or ephemeral_config(), Addresses(bind="127.0.0.1", advertised="127.0.0.1"), ephemeral=True
        )

        async def extra(engine: Engine, nursery: trio.Nursery) -> None:
            if dns:
                settings = DnsSettings(port=0, offline=True)
                port = await nursery.start(serve_dns, settings, "127.0.0.1", "127.0.0.1", engine.bus)
                engine.mark_external("dns", "UDP", port, True)

        async with trio.open_nursery() as nursery:
            await nursery.start(partial(engine.run, extra=extra))
            task_status.started(engine)
        return 0

    return serve


async def dns_query(port: int, name: str) -> str:
    """One real A query over UDP (a trio socket: the redirector runs on this same thread)."""
    import dnslib

    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with sock:
        await sock.sendto(dnslib.DNSRecord.question(name).pack(), ("127.0.0.1", port))
        with trio.fail_after(5):
            data, _ = await sock.recvfrom(4096)
    return str(dnslib.DNSRecord.parse(data).rr[0].rdata)


async def wait_until(pilot: Pilot, cond: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.05)


def run_console(
    scenario: Callable[[ClankApp, Pilot], Awaitable[None]],
    *,
    config=None,
    dns: bool = False,
    size: tuple[int, int] = SIZE,
) -> ClankApp:
    """Start the app on a fresh engine, wait for the servers, run ``scenario``, stop cleanly."""
    app = ClankApp(serving(config, dns=dns))

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await wait_until(pilot, lambda: app.engine is not None, "the servers to start")
            await pilot.pause(0.3)  # one refresh tick
            await scenario(app, pilot)
        assert app.guest.done.is_set(), "the trio guest must finish before the loop ends"

    asyncio.run(asyncio.wait_for(main(), 30))
    return app


class Player:
    """A headless UYA console logged in (inside the app's trio guest) until ``stop``."""

    def __init__(self, app: ClankApp, name: str) -> None:
        self.app, self.name = app, name
        self.client: LobbyClient | None = None
        self.stop_event: trio.Event | None = None
        self.done: asyncio.Future | None = None

    async def _session(self) -> None:
        self.stop_event = trio.Event()
        assert self.app.engine is not None
        async with LobbyClient.open("127.0.0.1", profile("uya"), ports_of(self.app.engine)) as c:
            await c.login(self.name, "pw")
            self.client = c
            await self.stop_event.wait()

    async def start(self, pilot: Pilot) -> Player:
        self.done = self.app.guest.run(self._session)
        await wait_until(pilot, lambda: self.client is not None or self.done.done(), f"{self.name} to log in")
        if self.done.done():
            self.done.result()  # raise what went wrong
        return self

    async def run(self, afn, *args):
        return await self.app.guest.run(afn, *args)

    async def stop(self) -> None:
        assert self.stop_event is not None and self.done is not None
        await self.app.guest.call(self.stop_event.set)
        await self.done


def table_rows(app: ClankApp, table_id: str) -> list[list[str]]:
    table = app.main.query_one(f"#{table_id}", DataTable)
    return [[str(c) for c in table.get_row(key)] for key in table.rows]


def log_text(app: ClankApp, log_id: str) -> str:
    return "\n".join(strip.text for strip in app.main.query_one(f"#{log_id}", RichLog).lines)


def test_services_panel_shows_the_bound_ports_the_down_reason_and_the_dns_line():
    import msgspec

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    config = ephemeral_config()
    config = msgspec.structs.replace(
        config, ports=msgspec.structs.replace(config.ports, mas=taken.getsockname()[1])
    )

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        engine = app.engine
        shown = {r[0]: r for r in table_rows(app, "services")}
        assert len(shown) == len(engine.services) >= 6
        for s in engine.services.values():
            row = shown[s.name.upper().replace("_", " ")]
            assert row[1:3] == [s.protocol, str(engine.port(s.name))]
            if s.name == "mas":
                assert row[3] == "DOWN" and row[4] == s.detail and str(taken.getsockname()[1]) in s.detail
            else:
                assert row[3] == "up" and engine.port(s.name) != 0
        assert app.sub_title == "Primary DNS: 127.0.0.1  ·  1 service DOWN"
        setup = str(app.query_one("#setup", Static).render())
        assert "Primary DNS: 127.0.0.1" in setup and "0 players" in setup and "1 service DOWN" in setup

    try:
        run_console(scenario, config=config)
    finally:
        taken.close()


def test_a_player_logging_in_appears_and_their_chat_is_shown():
    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        alice = await Player(app, "alice").start(pilot)
        rows = lambda: table_rows(app, "players-table")  # noqa: E731
        await wait_until(pilot, lambda: rows() and rows()[0][4] == "mls", "alice in the Players table")
        [row] = rows()
        assert row[0] == "alice" and row[2] == "127.0.0.1"
        assert row[1] == app.engine.lobby.lobby.by_name("alice").title_key
        assert row[3].startswith("channel ") and row[4] == "mls"
        assert "Players (1)" in str(app.query_one("#tabs").get_tab("players").label)
        channels = table_rows(app, "channels-table")
        assert any(r[4] == "alice" and r[3].startswith("1/") for r in channels)

        await alice.run(alice.client.chat, "gg everyone")
        await pilot.press("5")  # the Chat tab
        await wait_until(pilot, lambda: "alice: gg everyone" in log_text(app, "chat-log"), "the chat line")

        await pilot.press("6")  # Logs: the engine's log records arrive through the logging bridge
        await wait_until(pilot, lambda: "MLS listening on 127.0.0.1" in log_text(app, "log-log"), "log lines")
        assert "alice reached login" in log_text(app, "log-log")
        await alice.stop()

    run_console(scenario)


def test_kick_binding_asks_then_removes_the_player():
    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        bob = await Player(app, "bob").start(pilot)
        await wait_until(pilot, lambda: table_rows(app, "players-table"), "bob in the table")
        app.query_one("#players-table").focus()

        await pilot.press("k")
        assert isinstance(app.screen, KickScreen)
        await pilot.press("escape")  # cancelled: nothing happens
        await pilot.pause(0.1)
        assert app.engine.lobby.lobby.by_name("bob") is not None

        await pilot.press("k")
        assert isinstance(app.screen, KickScreen)
        await pilot.pause(0.6)  # refresh ticks while the dialog is open repaint the console below
        app.screen.query_one("#reason").value = "too loud"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not table_rows(app, "players-table"), "bob to leave the table")
        assert app.engine.lobby.lobby.by_name("bob") is None
        assert "kicked bob: too loud" in log_text(app, "output")
        mls = bob.client.mls
        await wait_until(pilot, lambda: "too loud" in mls.system_messages, "bob's console to see why")
        await bob.stop()

    run_console(scenario)


def test_ban_dialog_bans_the_account_and_kicks_it():
    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        carol = await Player(app, "carol").start(pilot)
        await wait_until(pilot, lambda: table_rows(app, "players-table"), "carol in the table")
        app.query_one("#players-table").focus()
        await pilot.press("b")
        assert isinstance(app.screen, BanScreen)
        app.screen.query_one("#reason").value = "cheating"
        await pilot.press("minus", "5", "enter", "enter")  # a negative time is refused
        assert isinstance(app.screen, BanScreen)
        assert "0 or more" in str(app.screen.query_one("#error").render())
        app.screen.query_one("#minutes").value = ""
        app.screen.query_one("#minutes").focus()
        await pilot.press("3", "0", "enter", "enter")
        await wait_until(pilot, lambda: not table_rows(app, "players-table"), "carol to be removed")
        assert "banned carol for 30 minutes: cheating" in log_text(app, "output")
        bans = app.engine.db.bans.listing()
        assert len(bans) == 1 and bans[0].reason == "cheating" and bans[0].expires is not None
        await carol.stop()

    run_console(scenario)


def test_end_game_on_the_selected_game():
    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        dave = await Player(app, "dave").start(pilot)
        game_id = await dave.run(dave.client.create_game, "[b]LAN[/b] final")  # shown as typed
        await pilot.press("3")  # Games
        await wait_until(pilot, lambda: table_rows(app, "games-table"), "the game in the table")
        [row] = table_rows(app, "games-table")
        assert row[:2] == [str(game_id), "[b]LAN[/b] final"] and row[5] == "dave"
        await pilot.press("e")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: not table_rows(app, "games-table"), "the game to close")
        assert game_id not in app.engine.lobby.lobby.games
        assert f"game {game_id} closed" in log_text(app, "output")
        await dave.stop()

    run_console(scenario)


def test_command_line_runs_the_registry():
    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("slash")
        assert app.focused is app.query_one("#command")
        await pilot.press(*"status", "enter")
        await wait_until(pilot, lambda: "clank-lan on 127.0.0.1" in log_text(app, "output"), "status output")
        out = log_text(app, "output")
        assert f"MLS      TCP {app.engine.port('mls')}" in out and "0 players online" in out
        await pilot.press(*"!frobnicate", "enter")  # the chat prefix is accepted; unknown is an error
        await wait_until(pilot, lambda: "unknown command 'frobnicate'" in log_text(app, "output"), "error")
        await pilot.press("up", "up", "enter")  # history: status again
        await wait_until(pilot, lambda: log_text(app, "output").count("> status") == 2, "status again")

    run_console(scenario)


def test_dns_queries_broadcast_help_and_palette():
    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        name = "ratchet3-prod1.pdonline.scea.com"  # what UYA's disc looks up
        assert await app.guest.run(dns_query, app.engine.port("dns"), name) == "127.0.0.1"
        await pilot.press("4")
        await wait_until(
            pilot, lambda: f"{name} -> 127.0.0.1  [uya-ntsc]" in log_text(app, "dns-log"), "the query"
        )
        assert "DNS" in [r[0] for r in table_rows(app, "services")]

        await pilot.press("ctrl+b")
        app.screen.query_one("#message").value = "doors close at 10"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "sent to 0 consoles" in log_text(app, "output"), "the broadcast")

        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")

        await pilot.press("ctrl+p")
        await pilot.press(*"chann")
        await wait_until(
            pilot,
            lambda: "channels" in str(app.screen.query("CommandList").first().get_option_at_index(0).prompt),
            "the palette's hit",
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: "> channels" in log_text(app, "output"), "the palette's command")

    run_console(scenario, dns=True)


def test_quit_asks_then_stops_the_servers():
    engine_seen = []

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        engine_seen.append(app.engine)
        # a short terminal gives the top panels' room to the tables (the header keeps the DNS line)
        assert app.has_class("-compact") and not app.query_one("#top").display
        assert app.query_one("#players-table").size.height >= 10
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("k", "f1", "q")  # the console's keys are off while a dialog is open
        assert isinstance(app.screen, ConfirmScreen) and len(app.screen_stack) == 2
        await pilot.press("n")
        await pilot.pause(0.1)
        assert app.guest.running
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await asyncio.wait_for(app.guest.done.wait(), 10)

    app = run_console(scenario, size=(80, 24))
    assert engine_seen[0].stopping and app.return_code == 0 and app.trio_error is None


def test_screenshot_renders_the_console(tmp_path: Path):
    shots: list[str] = []

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        erin = await Player(app, "erin").start(pilot)
        await wait_until(pilot, lambda: table_rows(app, "players-table"), "erin in the table")
        await pilot.press("slash", *"players", "enter")
        await wait_until(pilot, lambda: "> players" in log_text(app, "output"), "the command output")
        await pilot.pause(0.3)
        shots.append(app.save_screenshot("clank-lan-tui.svg", str(tmp_path)))
        await erin.stop()

    run_console(scenario)
    svg = Path(shots[0]).read_text(encoding="utf-8").replace("&#160;", " ")
    for text in ("Primary DNS: 127.0.0.1", "Players (1)", "erin", "Services", "MUIS", "Command output"):
        assert text in svg, text


@pytest.fixture(autouse=True)
def _no_cursor_blink(monkeypatch):
    """A blinking cursor only adds repaints (and makes screenshots differ)."""
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
