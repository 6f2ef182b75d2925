"""The Tournament tab of the operator console, driven by Pilot on the fake engine (tests/tui_fake.py).

The fake engine runs the real tournament service on the in-memory database: a 4-player single
elimination where amy vs ben are playing (their lobby game is linked) and dan vs eve's game ended
without a readable winner. Confirming it goes F8, dialog, Enter, Enter, through the command registry.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, OptionList, RichLog

from clank_lan.db import Database
from clank_lan.tournament.export import tournament_data
from clank_lan.tournament.formats import Format
from clank_lan.tournament.model import ResultStatus
from clank_lan.tournament.roster import Roster, RosterEntry
from clank_lan.tournament.service import TournamentService
from clank_lan.tui import tournament as cup
from clank_lan.tui.app import ClankApp
from clank_lan.tui.screens import ConfirmResultScreen, ResultChoice
from tests.tui_fake import (
    T0,
    FakeEngine,
    make_app,
    painted,
    run_app,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("fixed_terminal")


def pending_table(app: ClankApp) -> list[list[str]]:
    table = app.main.query_one("#pending-table", DataTable)
    return [[str(c) for c in table.get_row(key)] for key in table.rows]


def output_text(app: ClankApp) -> str:
    return "\n".join(strip.text for strip in app.main.query_one("#output", RichLog).lines)


def match(engine: FakeEngine, match_id: int):
    bracket = engine.tournament.bracket()
    assert bracket is not None
    return bracket.matches[match_id]


def test_tab_shows_the_bracket_next_matches_linked_game_and_results_to_confirm():
    app, engine = make_app()
    seen: dict[str, object] = {}

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("9")
        await pilot.pause()
        seen["active"] = app.main.query_one("#tabs").active
        seen["focused"] = app.focused.id if app.focused else None
        seen["rows"] = pending_table(app)
        app.main.query_one("#tournament-scroll").scroll_home(animate=False)
        await pilot.pause()
        seen["screen"] = await painted(pilot, app, "LAN Cup  single elimination", "#1 R1: amy vs ben")
        seen["label"] = str(app.main.query_one("#tabs").get_tab("tournament").label)

    run_app(app, scenario)
    assert seen["active"] == "tournament"
    assert seen["focused"] == "pending-table"  # F8 acts on it at once
    assert seen["rows"] == [["1", "#2", "7", "dan", "eve", "dan, eve", "09:01:05"]]
    assert seen["label"] == "Tournament (1)"
    screen = str(seen["screen"])
    assert "LAN Cup  single elimination, best of 1, 4 competitors" in screen
    lines = screen.splitlines()
    # round 1 in the first column, the final (still unknown sides) in the second
    assert any(line.split()[:4] == ["R1", "Final", "Next", "matches"] for line in lines)
    assert any(line.split()[:4] == ["#1", "amy", "#3", "?"] for line in lines)
    assert "#1 R1: amy vs ben  playing" in screen
    assert "#2 R1: dan vs eve" in screen
    view = cup.tournament_view(
        tournament_data(engine.tournament), cup.live_games(engine.tournament, engine.lobby.lobby), wide=False
    )
    text = render_plain(view)
    assert "game 1 LAN final: amy, ben  -> match #1 amy vs ben" in text
    assert "#2 dan" in text and "eve" in text


def render_plain(renderable, width: int = 100) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_f8_dialog_names_the_result_and_confirms_it_through_the_registry():
    app, engine = make_app()
    seen: dict[str, object] = {}

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("9", "f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmResultScreen), "the confirm dialog")
        dialog = app.screen
        seen["text"] = await painted(pilot, app, "Who won result 1: dan vs eve?")
        await pilot.press("enter")  # no side picked yet: Enter stays on the choice
        await pilot.pause()
        seen["after_first_enter"] = (app.screen is dialog, isinstance(app.focused, OptionList))
        await pilot.press("down")  # dan
        await pilot.pause()
        seen["button"] = str(dialog.query_one("#confirm", Button).label)
        await pilot.press("enter")  # to the button, which names the result and the winner
        await pilot.pause()
        seen["on_button"] = (app.screen is dialog, getattr(app.focused, "id", None))
        seen["still_pending"] = [r.id for r in engine.tournament.pending()]
        await pilot.press("enter", "enter")  # only the button acts, once; the second Enter is harmless
        await wait_until(pilot, lambda: app.screen is app.main, "the dialog to close")
        await wait_until(pilot, lambda: not engine.tournament.pending(), "the result to be counted")
        await app.poll_once(full=True)  # the engine's rows as of now (the last poll may predate it)
        await pilot.pause()
        seen["rows"] = pending_table(app)
        seen["label"] = str(app.main.query_one("#tabs").get_tab("tournament").label)
        seen["output"] = output_text(app)

    run_app(app, scenario)
    text = str(seen["text"])
    assert "Who won result 1: dan vs eve?" in text
    assert "Match #2; game 7, played by dan, eve." in text
    assert seen["after_first_enter"] == (True, True)
    assert seen["button"] == "Confirm: dan won result 1"
    assert seen["on_button"] == (True, "confirm")
    assert seen["still_pending"] == [1]
    r = engine.tournament.db.results[1]
    assert (r.status, r.winner, r.source) == (ResultStatus.COUNTED, "dan", "operator")
    assert match(engine, 2).winner == "dan"
    assert match(engine, 3).b == "dan"  # the bracket advanced: dan waits in the final
    assert seen["rows"] == [] and seen["label"] == "Tournament"
    assert "> tournament confirm 1 dan" in str(seen["output"])
    # the audit trail names the command registry's caller: the TUI, from the operator console
    entry = engine.tournament.db.audit[-1]
    assert (entry.action, entry.actor) == ("confirm", "tui (operator console (TUI))")
    assert "result 1: match #2 game won by dan" in entry.detail


def test_typing_letters_never_confirms_a_result():
    app, engine = make_app()
    seen: dict[str, object] = {}

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("9", *"ydan")  # letters on the tab go to the command line
        await pilot.pause()
        seen["tabs"] = (await painted(pilot, app, "Tournament 1")).splitlines()[6]
        command = app.main.query_one("#command", Input)
        seen["command"] = command.value
        command.value = ""
        await pilot.press("escape", "f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmResultScreen), "the confirm dialog")
        await pilot.press(*"dany n")  # no letter is a key in the dialog
        await pilot.pause()
        seen["dialog"] = isinstance(app.screen, ConfirmResultScreen)
        seen["picked"] = app.screen.query_one("#winner", OptionList).highlighted
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, "the dialog to close")

    run_app(app, scenario, size=(80, 24))
    # every tab stays in sight on a small terminal, the new one included
    tabs = " ".join(str(seen["tabs"]).split())
    assert tabs == "Players 3 Channels 1 Games 1 Consoles 1 Bans 1 DNS Chat Logs Tournament 1"
    assert seen["command"] == "ydan"
    assert seen["dialog"] is True and seen["picked"] is None
    assert [r.id for r in engine.tournament.pending()] == [1]
    assert [e.action for e in engine.tournament.db.audit] == ["create"]


def test_without_a_tournament_the_tab_says_how_to_start_one():
    engine = FakeEngine()
    engine.player("amy", "192.168.1.21")
    app, _ = make_app(engine)
    seen: dict[str, object] = {}

    async def scenario(app: ClankApp, pilot: Pilot) -> None:
        await pilot.press("9")
        await pilot.pause()
        seen["screen"] = await painted(pilot, app, "No tournament is running.")
        seen["table_shown"] = app.main.query_one("#pending-table").display
        await pilot.press("f8")
        await pilot.pause()
        seen["dialog"] = isinstance(app.screen, ConfirmResultScreen)

    run_app(app, scenario)
    assert "No tournament is running." in str(seen["screen"])
    assert "tournament new FILE single|double|rr [--best-of N]" in str(seen["screen"])
    assert seen["table_shown"] is False
    assert seen["dialog"] is False


def _service(fmt: Format, names: tuple[str, ...]) -> TournamentService:
    db = Database.open(None, ephemeral=True, clock=lambda: T0)
    svc = TournamentService(db.tournaments, clock=lambda: T0)
    svc.create("Cup", Roster(tuple(RosterEntry(n) for n in names)), fmt)
    return svc


def test_double_elimination_shows_each_bracket_and_round_robin_its_standings():
    double = _service(Format.DOUBLE, ("amy", "ben", "dan", "eve"))
    text = render_plain(cup.tournament_view(tournament_data(double), [], wide=False))
    assert "Losers bracket" in text and "Grand final" in text
    rr = _service(Format.ROUND_ROBIN, ("amy", "ben", "dan"))
    bracket = rr.bracket()
    assert bracket is not None
    first = bracket.ready()[0]
    rr.record(first.id, first.b or "")
    text = render_plain(cup.tournament_view(tournament_data(rr), [], wide=True))
    assert "Standings" in text
    rows = [line.split() for line in text.splitlines()]
    assert any(row[-6:] == ["1", first.b, "1", "1", "0", "+1"] for row in rows), text


class _DialogHost(App[None]):
    """Just the result dialog, with the answer it gives."""

    def __init__(self, dialog: ConfirmResultScreen) -> None:
        super().__init__()
        self.dialog = dialog
        self.answers: list[ResultChoice | None] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.answers.append)


def test_result_dialog_shows_names_as_typed_and_answers_once():
    """Roster names may hold brackets: they are shown as written, never read as markup."""
    sides = ("[b]amy[/b]", "[/x]ben")
    app = _DialogHost(ConfirmResultScreen(4, "#2", "game 9", *sides))
    seen: dict[str, object] = {}

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            await pilot.press("down", "down", "enter")
            await pilot.pause()
            seen["button"] = str(app.dialog.query_one("#confirm", Button).label)
            seen["text"] = await painted(pilot, app, "Who won result 4:")
            await pilot.press("enter", "enter")
            await pilot.pause()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert "Who won result 4: [b]amy[/b] vs [/x]ben?" in str(seen["text"])
    assert seen["button"] == "Confirm: [/x]ben won result 4"
    assert app.answers == [ResultChoice(4, "[/x]ben")]
