"""The operator console driven by Pilot, on a fake engine (tests/tui_fake.py) with a fixed clock.

The first tests are the regressions of issue 12: the ban dialog that killed the appliance, and
typed text that kicked or banned the wrong player. Each test runs the app on its line to the
engine as ``serve`` does (a ``ConsoleHost`` on a loopback port), only the engine is a stand-in
(run as a trio guest of the test's loop: ``tests/tui_fake.Harness``).
"""

from __future__ import annotations

import logging

import pytest
import trio
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, RichLog, Static, TabbedContent

from clank_lan.commands import run_command
from clank_lan.events import ChatLine
from clank_lan.tui import app as tui_app
from clank_lan.tui.app import ClankApp
from clank_lan.tui.screens import BanScreen, BroadcastScreen, ConfirmScreen, HelpScreen, KickScreen
from clank_lan.tui.view import STORM_EVENTS
from clank_lan.tui.widgets import PaneLog
from clank_lan.tui.wire import Run
from tests.tui_fake import (
    FakeEngine,
    make_app,
    painted,
    run_app,
    screen_text,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("fixed_terminal")


def rows_of(app: ClankApp, table_id: str) -> list[list[str]]:
    table = app.main.query_one(f"#{table_id}", DataTable)
    return [[str(c) for c in table.get_row(key)] for key in table.rows]


def output_text(app: ClankApp, log_id: str = "output") -> str:
    return "\n".join(strip.text for strip in app.main.query_one(f"#{log_id}", RichLog).lines)


def online(engine: FakeEngine) -> set[str]:
    return {s.account_name for s in engine.lobby.lobby.sessions.values() if s.logged_in}


async def type_command(app: ClankApp, pilot: Pilot, line: str) -> None:
    """Put a whole command in the command line and press Enter (typing it key by key is slow)."""
    app.main.query_one("#command", Input).value = line
    app.main.query_one("#command", Input).focus()
    await pilot.press("enter")


async def select_player(app: ClankApp, pilot: Pilot, name: str) -> None:
    table = app.main.query_one("#players-table", DataTable)
    table.focus()
    names = [r[0] for r in rows_of(app, "players-table")]
    table.move_cursor(row=names.index(name))
    await pilot.pause()
    assert app.selected_player() == name


# --- regressions: the ban dialog crash and the wrong target -----------------------------------


def test_ban_dialog_enter_through_the_fields_bans_once_and_the_console_keeps_running():
    """Issue 12.1: b, minutes, Tab/Enter to the reason, type it, Enter: banned, then the app died
    with ScreenStackError (the Enter handler ran twice) and every console was dropped."""
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await select_player(app, pilot, "ben")
        await pilot.press("f3")
        assert isinstance(app.screen, BanScreen)
        assert "Ban ben" in str(app.screen.query_one("#confirm", Button).label)
        await pilot.press("3", "0", "enter")  # Enter in minutes: on to the reason, no ban yet
        assert app.screen.focused.id == "reason" and not engine.db.bans.listing()[1:]
        await pilot.press(*"cheating", "enter")  # Enter in the reason: on to the "Ban ben" button
        assert isinstance(app.screen, BanScreen) and app.screen.focused.id == "confirm"
        assert online(engine) == {"amy", "ben", "dan"}
        await pilot.press("enter")  # the confirmation acts, once
        await wait_until(pilot, lambda: "ben" not in online(engine), "ben to be banned")
        await pilot.press("enter", "enter")  # stray Enters after the dialog closed change nothing
        await pilot.pause(0.1)
        assert app.screen is app.main and app.is_running and app.ui_error is None
        assert online(engine) == {"amy", "dan"}  # the bystanders were not dropped
        assert not engine.shutdown_called
        [ban] = [b for b in engine.db.bans.listing() if b.reason == "cheating"]
        assert ban.expires == engine.now + 30 * 60
        assert "banned ben for 30 minutes: cheating" in output_text(app)

    run_app(app, scenario)


def test_typed_commands_act_on_the_named_player_never_the_selected_row():
    """Issue 12.2: with amy selected, typing "kick ben" kicked amy, "ban dan" banned ben."""
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await select_player(app, pilot, "amy")
        await pilot.press(*"kick ben", "enter")  # k is not a hotkey: the letters start a command
        assert app.screen is app.main
        await wait_until(pilot, lambda: "ben" not in online(engine), "ben kicked")
        assert online(engine) == {"amy", "dan"}
        await select_player(app, pilot, "amy")
        await pilot.press(*"ban dan 5", "enter")  # digits in the command line pick no tab either
        await wait_until(pilot, lambda: "dan" not in online(engine), "dan banned")
        assert app.main.query_one("#tabs").active == "players"
        assert online(engine) == {"amy"}
        banned = {engine.db.accounts.get(int(b.target)).name for b in engine.db.bans.listing()}
        assert banned == {"pest", "dan"}
        await select_player(app, pilot, "amy")
        await pilot.press(*"end everything quietly", "enter")  # e and q are no hotkeys either
        await wait_until(pilot, lambda: "unknown command 'end'" in output_text(app), "the error")
        assert app.is_running and online(engine) == {"amy"} and len(engine.lobby.lobby.games) == 1

    run_app(app, scenario)


def test_enter_in_the_ban_minutes_field_never_bans_and_the_reason_is_not_typed_into_the_console():
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await select_player(app, pilot, "dan")
        await pilot.press("f3", "enter")
        assert isinstance(app.screen, BanScreen) and app.screen.focused.id == "reason"
        await pilot.press(*"keeps camping", "escape")  # cancelled: nothing happened
        await pilot.pause(0.1)
        assert app.screen is app.main and online(engine) == {"amy", "ben", "dan"}
        assert len(engine.db.bans.listing()) == 1 and not output_text(app)

    run_app(app, scenario)


def test_every_destructive_dialog_names_its_target():
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await select_player(app, pilot, "ben")
        await pilot.press("f2")
        assert isinstance(app.screen, KickScreen)
        assert "Kick ben" in str(app.screen.query_one("#confirm", Button).label)
        await pilot.press(*"too loud", "enter")
        assert isinstance(app.screen, KickScreen)  # Enter in the reason does not kick
        await pilot.press("enter")
        await wait_until(pilot, lambda: "ben" not in online(engine), "ben kicked")
        ben_conn = next(iter(engine.lobby.broadcasts), None)
        assert ben_conn is None and "kicked ben: too loud" in output_text(app)

        await pilot.press("3", "f4")
        assert isinstance(app.screen, ConfirmScreen)
        await painted(pilot, app, "End game 1 'LAN final'?")
        assert "End game 1" in str(app.screen.query_one("#confirm", Button).label)
        await pilot.press("n")
        await pilot.pause()
        assert len(engine.lobby.lobby.games) == 1

        await pilot.press("f5")
        assert isinstance(app.screen, BroadcastScreen)
        await pilot.press("enter")  # an empty message is not sent
        assert isinstance(app.screen, BroadcastScreen)
        await pilot.press(*"doors close at 10", "enter", "enter")
        await wait_until(pilot, lambda: engine.lobby.broadcasts, "the broadcast")
        assert engine.lobby.broadcasts == ["doors close at 10"]

    run_app(app, scenario)


# --- a failing screen never takes the servers down ----------------------------------------------


def test_an_error_in_the_screen_is_logged_and_the_servers_keep_running(caplog):
    app, engine = make_app()

    def broken() -> None:
        raise RuntimeError("a bug in a dialog")

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        app.action_help = broken  # type: ignore[method-assign]
        with caplog.at_level(logging.CRITICAL, logger="clank_lan.tui"):
            await pilot.press("f1")
            await wait_until(pilot, lambda: app.ui_error is not None, "the error")
        assert isinstance(app.ui_error, RuntimeError)
        assert app.harness.guest.running and not engine.shutdown_called  # the engine serves on

    with pytest.raises(RuntimeError, match="a bug in a dialog"):  # Pilot re-raises it at the end
        run_app(app, scenario)
    [record] = [r for r in caplog.records if r.name == "clank_lan.tui"]
    assert "keep running" in record.getMessage() and record.exc_info[1] is app.ui_error
    assert not engine.shutdown_called


def test_an_error_showing_the_engines_answer_is_a_screen_failure_too(caplog, monkeypatch):
    """The polls run in tasks of the screen's own, outside Textual's handlers: their bugs follow
    the same rule (logged with the traceback, the screen closes, the servers serve on)."""
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        def broken(view) -> None:
            raise KeyError("a bug showing a view")

        monkeypatch.setattr(app, "apply", broken)
        with caplog.at_level(logging.CRITICAL, logger="clank_lan.tui"):
            await wait_until(pilot, lambda: app.ui_error is not None, "the error")
        assert isinstance(app.ui_error, KeyError)
        assert app.harness.guest.running and not engine.shutdown_called

    with pytest.raises(KeyError, match="a bug showing a view"):  # Pilot re-raises it at the end
        run_app(app, scenario)
    assert any(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in caplog.records)
    assert not engine.shutdown_called


def test_keys_after_enter_do_not_wait_for_the_engines_answer_and_answers_keep_their_order(monkeypatch):
    """A command's answer comes from the engine, which may be busy (a login storm): meanwhile the
    console goes on taking keys, and two lines typed one after the other answer in that order."""
    app, _engine = make_app()
    host = app.harness.host
    held: list[trio.Event] = []
    real_handle = host.handle

    async def slow_handle(msg):
        if isinstance(msg, Run) and msg.line == "status":  # the engine is busy with this one
            held.append(trio.Event())
            await held[-1].wait()
        return await real_handle(msg)

    monkeypatch.setattr(host, "handle", slow_handle)

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await type_command(app, pilot, "status")
        await type_command(app, pilot, "players")
        await wait_until(pilot, lambda: held, "the engine to hold the first line")
        await pilot.press("escape", "2")  # a tab switch while the engine has not answered
        assert app.main.query_one("#tabs", TabbedContent).active == "channels"
        assert "> status" in output_text(app) and "MUIS" not in output_text(app)
        await app.harness.guest.call(held[0].set)
        await wait_until(pilot, lambda: "amy" in output_text(app), "both answers")
        out = output_text(app)
        assert out.index("> status") < out.index("> players") < out.index("MUIS") < out.index("amy")

    run_app(app, scenario)


# --- where things are, bans and the audit trail --------------------------------------------------


def test_paths_are_on_the_console_in_help_and_in_status():
    app, _engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        text = screen_text(app)
        for path in ("/srv/clank/clank-lan.toml", "/srv/clank/data", "/srv/clank/data/logs/clank-lan.log"):
            assert path in text
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await painted(pilot, app, "Where things are", "/srv/clank/clank-lan.toml")
        await pilot.press("escape")
        await type_command(app, pilot, "status")
        await wait_until(pilot, lambda: "log:" in output_text(app), "status")
        assert "config:  /srv/clank/clank-lan.toml" in output_text(app)

    run_app(app, scenario)


def test_bans_view_and_audit_trail_record_who_did_what_from_where():
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("5")
        [pest] = rows_of(app, "bans-table")
        assert pest[1] == "pest (uya)" and pest[3] == "forever" and pest[4] == "spamming chat"
        assert pest[5:7] == ["tui", "operator console (TUI)"]
        await type_command(app, pilot, "ban amy 60 rage quitting")
        await wait_until(pilot, lambda: len(rows_of(app, "bans-table")) == 2, "amy's ban in the view")
        await type_command(app, pilot, "endgame 1")
        await wait_until(pilot, lambda: not engine.lobby.lobby.games, "the game closed")
        await type_command(app, pilot, "accounts")
        await wait_until(pilot, lambda: "amy  (BANNED)" in output_text(app), "accounts")
        assert "ben  (BANNED)" not in output_text(app)

        def trail_text() -> str:
            return str(app.main.query_one("#audit-log", Static).render())

        await wait_until(pilot, lambda: "endgame game 1" in trail_text(), "the audit trail")
        trail = trail_text()
        assert "tui (operator console (TUI))  ban amy: 60 minutes: rage quitting" in trail
        assert "endgame game 1: 'LAN final'" in trail

        await pilot.press("5")  # lift pest's ban from the Bans view: the dialog names pest
        app.main.query_one("#bans-table", DataTable).move_cursor(row=0)
        await pilot.press("f7")
        assert isinstance(app.screen, ConfirmScreen)
        await painted(pilot, app, "Lift ban 1 on pest (uya)?")
        assert "Unban pest (uya)" in str(app.screen.query_one("#confirm", Button).label)
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(rows_of(app, "bans-table")) == 1, "pest's ban lifted")
        assert rows_of(app, "bans-table")[0][1] == "amy (uya)"

    run_app(app, scenario)
    actions = [(e.action, e.actor, e.origin, e.target) for e in engine.db.audit.recent()]
    assert actions[1:] == [
        ("ban", "tui", "operator console (TUI)", "amy"),
        ("endgame", "tui", "operator console (TUI)", "game 1"),
        ("unban", "tui", "operator console (TUI)", "pest (uya)"),
    ]
    # lobby chat (and so `client admin`) and the stdin console are recorded with their origin
    run_command(engine, "kick dan spam", actor="opal", origin="lobby chat from 192.168.1.40")
    run_command(engine, "broadcast hello", actor="console")
    assert [(e.actor, e.origin, e.action) for e in engine.db.audit.recent(2)] == [
        ("opal", "lobby chat from 192.168.1.40", "kick"),
        ("console", "stdin console", "broadcast"),
    ]


# --- output, games, consoles -------------------------------------------------------------------


def test_command_output_scrolls_from_the_keyboard_and_keeps_a_history():
    app, _engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await type_command(app, pilot, "help")
        await wait_until(pilot, lambda: "consoles [IP]" in output_text(app), "help")
        output = app.main.query_one("#output", RichLog)
        # it follows the end (scrolled there after the lines are laid out: wait for it)
        await wait_until(pilot, lambda: 0 < output.max_scroll_y == output.scroll_y, "the end in view")
        await pilot.press("pageup")  # from the command line
        await pilot.pause()
        assert output.scroll_y < output.max_scroll_y
        await pilot.press("f6")  # full screen, and focused so arrows scroll it
        await pilot.pause()
        assert app.main.maximized is output and app.focused is output
        assert output.size.height > 30
        await pilot.press("f6")
        await pilot.pause()
        assert app.main.maximized is None
        await type_command(app, pilot, "bans")
        await pilot.press("up", "up", "enter")  # history: help again
        await wait_until(pilot, lambda: output_text(app).count("> help") == 2, "help again")

    run_app(app, scenario)


@pytest.fixture
def layouts(monkeypatch) -> list[str]:
    """Every layout of a screen from now on (each lays out and draws the whole screen again)."""
    seen: list[str] = []
    reflow = Screen._refresh_layout

    def counted(screen: Screen, *args, **kwargs):
        seen.append(type(screen).__name__)
        return reflow(screen, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counted)
    return seen


def test_typing_repaints_the_command_line_only_and_a_long_line_scrolls_along(layouts):
    app, _engine = make_app()
    start = "say " + "abcdefghij" * 8  # wider than the command line at 80 columns

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        command = app.main.query_one("#command", Input)
        command.focus()
        command.value = start
        await pilot.pause()
        layouts.clear()
        await pilot.press(*"XYZ")
        await pilot.pause()
        assert command.value == start + "XYZ"
        assert layouts == []  # no key laid the screen out again (each one did: 15 ms at 120x40)
        shown = screen_text(app)
        assert "abcdefghijXYZ" in shown and "say abc" not in shown  # the end of the line is in view
        await pilot.press("home")
        await pilot.pause()
        shown = screen_text(app)
        assert "say abcdefghij" in shown and "XYZ" not in shown

    run_app(app, scenario, size=(80, 24))


def test_a_line_in_a_log_repaints_the_log_only_and_it_keeps_scrolling_to_the_newest(layouts):
    app, _engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        output = app.main.query_one("#output", RichLog)
        for n in range(30):  # the pane shows about 8 lines: its scrollbar appears once
            app.output(f"answer line {n:02d}")
        await pilot.pause()
        await pilot.pause()
        assert output.show_vertical_scrollbar and output.max_scroll_y > 0
        assert output.scroll_y == output.max_scroll_y and "answer line 29" in screen_text(app)
        layouts.clear()
        for n in range(30, 40):
            app.output(f"answer line {n:02d}")
            await pilot.pause()
        await pilot.pause()
        assert layouts == []  # each line laid the whole screen out again (16 ms at 160x48)
        assert output.virtual_size.height == 40 and output.scroll_y == output.max_scroll_y
        shown = screen_text(app)
        assert "answer line 39" in shown and "answer line 29" not in shown
        assert output.vertical_scrollbar.window_virtual_size == 40  # the thumb knows the new length

    run_app(app, scenario)


def test_a_focus_move_repaints_the_widgets_it_changes_not_the_whole_screen(monkeypatch):
    app, _engine = make_app()
    repainted: list[str] = []
    refresh = Widget.refresh

    def counted(widget: Widget, *regions, **kwargs):
        repainted.append(widget.id or type(widget).__name__)
        return refresh(widget, *regions, **kwargs)

    monkeypatch.setattr(Widget, "refresh", counted)  # the screen's own too

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        table = app.main.query_one("#players-table", DataTable)
        table.focus()
        await pilot.pause()
        repainted.clear()
        await pilot.press("/")
        await pilot.pause()
        assert app.focused is app.main.query_one("#command", Input)
        assert "command" in repainted and "players-table" in repainted  # both restyled
        assert app.main.id not in repainted  # Textual's own screen drew everything again

    run_app(app, scenario)


def test_games_show_players_with_dme_index_host_title_status():
    app, _engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("3")
        [row] = rows_of(app, "games-table")
        assert row == ["1", "LAN final", "uya-ntsc", "active", "2/8", "amy", "5 min"]
        await painted(pilot, app, "host amy", "playing for 4 min", "#0  amy", "#1  ben")

    run_app(app, scenario)


def test_consoles_that_never_got_in_show_where_they_stopped_and_what_to_do():
    app, _engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("4")
        [row] = rows_of(app, "consoles-table")
        assert row[0] == "192.168.1.30" and row[3] == "MAS session" and row[4] == "stuck"
        assert row[5:] == ["09:00:05", "09:00:06"]  # clock times, not offsets
        text = await painted(pilot, app, "reached: DNS 09:00:05 > MAS session 09:00:06", "did not log in")
        assert "+-" not in text

    run_app(app, scenario)


# --- 80x24, palette, channel limits ------------------------------------------------------------


def test_80x24_keeps_services_warnings_and_the_down_reason_in_view():
    app, engine = make_app()
    engine.addresses.advertised = "127.0.0.1"

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        text = screen_text(app)
        assert "DNS DOWN: port 53 on 192.168.1.50 is taken by systemd-resolved" in text
        assert "reachable from this machine only" in text
        assert "up: MUIS MAS MLS" in text
        assert rows_of(app, "players-table")[0] == ["amy", "game 1 LAN final", "192.168.1.21"]
        assert app.main.query_one("#players-table").size.height >= 4

    run_app(app, scenario, size=(80, 24))


def test_panels_are_repainted_only_when_what_they_show_changed(monkeypatch):
    """A panel update lays the whole screen out again: four times a second for nothing, it doubled
    the console's CPU with 200 consoles connected. The console also animates nothing by default
    (each tab switch was some 18 repaints of the whole screen)."""
    app, engine = make_app()
    assert app.animation_level == "none"
    updated: list[str] = []
    update = Static.update

    def counting(self: Static, *args, **kw) -> None:
        updated.append(self.id or "")
        update(self, *args, **kw)

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        monkeypatch.setattr(Static, "update", counting)
        await app.poll_once(full=True)
        await app.poll_once(full=True)
        assert updated == []
        engine.services["nat"].up = False
        await app.poll_once(full=True)
        assert set(updated) >= {"services"} and "game-detail" not in updated
        await pilot.pause()
        assert "NAT" in screen_text(app).split("DOWN", 1)[1]

    run_app(app, scenario)


def test_palette_lists_our_commands_and_no_textual_system_entries():
    app, _engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        options = app.screen.query_one("CommandList")
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        text = "\n".join(prompts)
        assert "ban NAME [MINUTES] [REASON...]" in text and "bans [all]" in text and "consoles [IP]" in text
        assert "Kick player (F2)" in text and "Quit (F10)" in text
        names = {p.splitlines()[0] for p in prompts}
        assert not names & {"Theme", "Screenshot", "Maximize", "Keys", "Change theme", "Save screenshot"}

    run_app(app, scenario)


def test_only_the_table_in_sight_follows_every_refresh_the_others_when_opened_or_read():
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        tabs = app.main.query_one("#tabs", TabbedContent)
        await pilot.press("2")  # Channels
        await pilot.pause()
        engine.player("zed", "10.0.0.50")
        await app.poll_once(full=True)
        assert str(tabs.get_tab("players").label) == "Players (4)"  # the count follows at once
        assert "zed" not in {r[0] for r in rows_of(app, "players-table")}  # out of sight: not yet
        await pilot.press("1")
        await pilot.pause()
        assert "zed" in {r[0] for r in rows_of(app, "players-table")}

        await pilot.press("2")
        await pilot.pause()
        engine.player("yan", "10.0.0.51")
        await app.poll_once(full=True)
        assert "yan" not in {r[0] for r in rows_of(app, "players-table")}
        app.selected_player()  # what F2 and the commands act on is read from the latest rows
        assert "yan" in {r[0] for r in rows_of(app, "players-table")}

    run_app(app, scenario)


def test_a_channel_over_its_limit_says_so_and_dropped_sessions_do_not_count():
    engine = FakeEngine()
    for i in range(3):
        engine.player(f"p{i}", f"10.0.0.{i + 1}")
    channel = engine.lobby.lobby.channels[1]
    channel.max_players = 2
    gone = engine.player("gone", "10.0.0.9")
    gone.connections.clear()  # dropped, not yet cleaned up
    app, _ = make_app(engine)

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("2")  # a table out of sight is brought up to date when its tab opens
        await pilot.pause()
        [row] = rows_of(app, "channels-table")
        assert row[3] == "3/2 OVER LIMIT" and "gone" not in row[4]
        table = app.main.query_one("#channels-table", DataTable)
        cells = table.get_row("1")
        assert str(cells[3].style) == "bold red" and not str(cells[1].style)  # only the figure

    run_app(app, scenario)


def test_quit_asks_naming_who_is_dropped_then_says_goodbye_to_every_console():
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, ConfirmScreen)  # at the key: the count is the latest poll's
        await painted(pilot, app, "3 players online")
        await pilot.press("f2", "f1", "ctrl+c")  # the console's keys are off; no second dialog
        assert isinstance(app.screen, ConfirmScreen) and len(app.screen_stack) == 2
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is app.main and app.harness.guest.running and not engine.shutdown_called
        await pilot.press("f10", "enter")
        await wait_until(pilot, lambda: app.harness.guest.done.is_set(), "the servers to stop")

    run_app(app, scenario)
    assert engine.shutdown_called and app.return_code == 0 and app.ui_error is None
    conns = [c for s in engine.lobby.lobby.sessions.values() for c in s.connections]
    assert conns and all(c.dropped == "server shutting down" for c in conns)


def test_a_hidden_pane_keeps_its_lines_and_draws_them_when_shown(monkeypatch):
    """Chat lines for the Chat pane while another tab is open are kept, not drawn (a drawn line
    would lay the whole screen out again); opening the tab draws them in order, and then lines go
    straight in. The pane keeps no more than its own limit."""
    monkeypatch.setattr(tui_app, "PANE_LINES", 5)
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        chat = app.main.query_one("#chat-log", PaneLog)
        drawn: list[object] = []
        real_write = chat.write
        monkeypatch.setattr(chat, "write", lambda r, **kw: (drawn.append(r), real_write(r, **kw))[1])

        async def say(*texts: str) -> None:
            for text in texts:
                app.harness.host.events.put(
                    ChatLine(ts=engine.now, group="g", channel="c", sender="amy", text=text)
                )
            await app.poll_once()

        await say(*(f"early {n}" for n in range(8)))
        await pilot.pause()
        assert drawn == [] and chat.held == 5 and chat.lines == []
        await pilot.press("7")
        await painted(pilot, app, "early 7")
        assert [str(r).split("  ", 1)[1] for r in drawn] == [f"[c] amy: early {n}" for n in range(3, 8)]
        assert chat.held == 0
        await say("now")
        assert str(drawn[-1]).endswith("[c] amy: now") and chat.held == 0
        await pilot.press("1")
        await pilot.pause()
        await say("later")
        assert str(drawn[-1]).endswith("[c] amy: now") and chat.held == 1

    run_app(app, scenario)


def test_a_storm_of_events_refreshes_the_tables_once_a_second_a_trickle_every_tick(monkeypatch):
    """200 consoles logging in and chatting publish hundreds of events a second: the tables then
    follow once a second (``FULL_REFRESH``), not at every poll, so the engine builds no rows for
    nothing and the screen is laid out less; a trickle still shows at the next poll, an operator's
    action at once. (The console's own timer is paused: each tick here is one awaited poll, and
    time passes by moving the last full poll back.)"""
    app, engine = make_app()

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        app.ticker.pause()
        ticks = [0]
        refreshed: list[int] = []
        real = app.refresh_tables
        monkeypatch.setattr(app, "refresh_tables", lambda: (refreshed.append(ticks[0]), real()))

        async def tick(events: int) -> None:
            ticks[0] += 1
            app._last_full -= tui_app.REFRESH_INTERVAL
            for n in range(events):
                line = ChatLine(ts=engine.now, group="g", channel="c", sender="amy", text=f"{n}")
                app.harness.host.events.put(line)
            await app.poll_once()

        await tick(0)
        refreshed.clear()
        per_second = round(tui_app.FULL_REFRESH / tui_app.REFRESH_INTERVAL)
        for _ in range(2 * per_second):  # two seconds of a storm
            await tick(STORM_EVENTS)
        assert len(refreshed) == 2 and refreshed[1] - refreshed[0] == per_second
        before = len(refreshed)
        await tick(STORM_EVENTS - 1)  # a trickle: at once
        await tick(1)
        assert len(refreshed) == before + 2
        await tick(STORM_EVENTS)
        assert len(refreshed) == before + 2  # the storm again
        await select_player(app, pilot, "ben")  # the operator acts: a poll for everything at once
        await tick(STORM_EVENTS)
        assert len(refreshed) == before + 3
        await pilot.press("7")  # the lines themselves went to the Chat pane at every poll
        await pilot.pause()
        assert output_text(app, "chat-log").count("[c] amy: ") == (2 * per_second + 3) * STORM_EVENTS

    run_app(app, scenario)
