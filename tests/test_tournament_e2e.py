"""Acceptance: a four-console single-elimination tournament played through the real appliance.

Headless consoles log in (an outsider is refused at login), match players create and join linked
games (a bystander is refused), hosts report the end of each game, results are recorded (semi-final
1 from the end-game report's winner, semi-final 2 confirmed with the operator command because its
report names nobody, the final decoded from the players' ladder-stat updates), the bracket
completes, and the export and the engine's own web board (over HTTP, and in Chromium when
installed) show the champion. ``sync_now`` stands for the engine's once-a-second housekeeping tick.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import trio

from clank_lan.client.lobby import ClientError, LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.protocol import medius as m
from clank_lan.tournament.appliance import sync_now
from clank_lan.tournament.commands import tournament_command
from clank_lan.tournament.export import export_csv
from clank_lan.tournament.formats import Format
from clank_lan.tournament.roster import parse_csv
from clank_lan.tournament.service import WORLD_ACTIVE, TournamentService
from tests.conftest import ports_of, running_engine
from tests.test_board_browser import CHROMIUM, chromium
from tests.webclient import get

ROSTER = "name,seed\namy,1\nben,2\ncat,3\ndan,4\n"


async def wait_for(predicate, timeout: float = 5.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


async def play_match(
    engine,
    svc: TournamentService,
    host: LobbyClient,
    guest: LobbyClient,
    winner: str,
    *,
    stats: bool = False,
    report_winner: bool = True,
) -> None:
    """One game: create, join, start, (``stats``: both send their new ladder totals), end."""
    name = f"{host.username} v {guest.username}"
    game_id = await host.create_game(name, max_players=2)
    await host.join_game(game_id)
    await guest.join_game(game_id)
    sync_now(engine, svc)
    match_id = svc.linked_match(game_id)
    assert match_id is not None
    await host.world_report(game_id, name, status=WORLD_ACTIVE, player_count=2)
    if stats:  # Up Your Arsenal: the win counter is wide stat 2, the loss counter 3
        for client in (host, guest):
            values = [0] * 100
            values[2 if client.username == winner else 3] = 1
            await client.set_wide_stats(values)
    await host.mls.send(
        m.EndGameReport(
            session_key=host.session_key,
            world_id=game_id,
            winning_player=winner if report_winner else "",
            final_score=10,
        )
    )
    await wait_for(lambda: game_id not in engine.lobby.lobby.games)
    sync_now(engine, svc)
    if stats:  # decoded from the stats: nothing for the operator to do
        assert not svc.pending()
        assert svc.db.results_of(svc.need().id)[-1].source == "ladder stats"
    elif not report_winner:  # nobody named: the operator confirms the winner
        (r,) = svc.pending()
        out = tournament_command(svc, ["confirm", str(r.id), winner], "operator")
        assert out[0].startswith(f"result {r.id}: {winner} wins")
    assert not svc.pending()
    assert svc.bracket().matches[match_id].winner == winner


async def test_four_console_single_elimination(tmp_path: Path):
    prof = profile("uya")
    async with running_engine() as engine:
        svc = engine.tournament
        assert engine.lobby.deps.admission is svc and engine.services["web"].up
        svc.create("LAN Cup", parse_csv(ROSTER), Format.SINGLE, actor="operator")
        ports = ports_of(engine)
        board = engine.port("web")
        async with (
            LobbyClient.open("127.0.0.1", prof, ports) as amy,
            LobbyClient.open("127.0.0.1", prof, ports) as ben,
            LobbyClient.open("127.0.0.1", prof, ports) as cat,
            LobbyClient.open("127.0.0.1", prof, ports) as dan,
            LobbyClient.open("127.0.0.1", prof, ports) as zed,
        ):
            for client, name in ((amy, "amy"), (ben, "ben"), (cat, "cat"), (dan, "dan")):
                await client.login(name, f"pw-{name}")
            with pytest.raises(ClientError):
                await zed.login("zed", "pw-zed")
            assert [(r.what, r.account) for r in svc.refusals] == [("login", "zed")]

            # Semi-final 1 (seeds 1 v 4): ben tries to walk into it.
            game_id = await amy.create_game("semi one", max_players=4)
            await amy.join_game(game_id)
            with pytest.raises(ClientError):
                await ben.join_game(game_id)
            assert svc.refusals[-1].what == "join" and svc.refusals[-1].account == "ben"
            await dan.join_game(game_id)
            games = (await get(board, "/api/games")).json()
            assert [(g["id"], sorted(g["players"]), g["match"]) for g in games] == [
                (game_id, ["amy", "dan"], 1)
            ]
            live = (await get(board, "/api/tournament")).json()["matches"][0]
            assert live["status"] == "playing" and live["games"] == [game_id]
            await amy.world_report(game_id, "semi one", status=WORLD_ACTIVE, player_count=2)
            await amy.mls.send(
                m.EndGameReport(session_key=amy.session_key, world_id=game_id, winning_player="amy")
            )
            await wait_for(lambda: game_id not in engine.lobby.lobby.games)
            sync_now(engine, svc)
            assert not svc.pending()  # the end-game report named the winner
            assert svc.bracket().matches[1].winner == "amy"

            await play_match(engine, svc, ben, cat, "cat", report_winner=False)  # semi-final 2 (2 v 3)
            await play_match(engine, svc, cat, amy, "cat", stats=True, report_winner=False)  # the final

            assert svc.bracket().champion == "cat"
            rows = list(csv.DictReader(io.StringIO(export_csv(svc))))
            final = next(r for r in rows if r["kind"] == "match" and r["match"] == "3")
            assert (final["a"], final["b"], final["winner"]) == ("amy", "cat", "cat")

            api = (await get(board, "/api/tournament")).json()
            assert api["champion"] == "cat" and api["finished"]
            online = (await get(board, "/api/online")).json()
            assert sorted(online[0]["players"]) == ["amy", "ben", "cat", "dan"]
            page = await get(board, "/")
            assert 'id="champion">Champion: cat<' in page.text
            if CHROMIUM is not None:
                dom = await chromium(f"http://127.0.0.1:{board}/", tmp_path, "--dump-dom")
                assert 'id="champion">Champion: cat<' in dom
