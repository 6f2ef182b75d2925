"""The tournament service: roster files, the login/join gate, game links, result capture from
reports, operator confirmation and corrections with audit, persistence across a re-open, export."""

from __future__ import annotations

import csv
import io
import json
import random
import signal
import sqlite3
import subprocess
import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio

from clank_lan.db.database import Database
from clank_lan.db.store import Store
from clank_lan.db.tournament import TournamentDb
from clank_lan.tournament.appliance import SYNC_INTERVAL, follow_games
from clank_lan.tournament.commands import tournament_command
from clank_lan.tournament.export import export_csv, export_json, tournament_data
from clank_lan.tournament.formats import Format
from clank_lan.tournament.model import ResultStatus
from clank_lan.tournament.roster import RosterError, load_roster, parse_csv, parse_toml
from clank_lan.tournament.service import (
    MAX_PENDING_PER_MATCH,
    RECENT_GAMES,
    STATS_GRACE,
    WORLD_ACTIVE,
    WORLD_CLOSED,
    TournamentError,
    TournamentService,
)
from clank_lan.tournament.stats import WIDE_STATS, ladder_delta

ROSTER_CSV = "name,seed\namy,1\nben,2\ncat,3\ndan,4\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(store: Store | None = None, **kw) -> tuple[TournamentService, Clock]:
    clock = Clock()
    db = TournamentDb.open(store or Store.ephemeral())
    return TournamentService(db, clock=clock, **kw), clock


def started(store: Store | None = None, fmt: Format = Format.SINGLE, best_of: int = 1):
    svc, clock = service(store)
    svc.create("Cup", parse_csv(ROSTER_CSV), fmt, best_of=best_of, actor="op")
    return svc, clock


def game(game_id: int, host: str | None = None, players: tuple[str, ...] = (), status: int = 1, stats=b""):
    """A stand-in for the lobby's Game: what the service reads of one."""
    seats = {str(i): SimpleNamespace(session=SimpleNamespace(account_name=p)) for i, p in enumerate(players)}
    return SimpleNamespace(
        id=game_id,
        host=SimpleNamespace(account_name=host) if host else None,
        players=seats,
        status=status,
        stats=stats or bytes(256),
    )


def wide(**figures: int) -> list[int]:
    values = [0] * 100
    for name, v in figures.items():
        values[WIDE_STATS["uya"][name]] = v
    return values


# roster files ---------------------------------------------------------------------------------


def test_roster_csv_and_toml(tmp_path: Path):
    r = parse_csv("\ufeffName,Team,Seed,Password\namy,red,1,pw\n\nben,blue,,\n")
    assert [(e.name, e.team, e.seed, e.password) for e in r.entries] == [
        ("amy", "red", 1, "pw"),
        ("ben", "blue", None, ""),
    ]
    assert r.has("AMY") and not r.has("zed") and r.has_teams
    name, r = parse_toml(
        'name = "Friday Cup"\n[[player]]\nname = "amy"\n[[player]]\nname = "ben"\nseed = 2\n'
    )
    assert name == "Friday Cup" and [e.name for e in r.entries] == ["amy", "ben"]
    path = tmp_path / "lan-party.csv"
    path.write_text(ROSTER_CSV)
    assert load_roster(path)[0] == "lan-party"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("team\nred\n", "'name' column"),
        ("name\namy\nAmy\n", "twice"),
        ("name,seed\namy,x\n", "line 2: seed"),
        ("name,seed\namy,1\nben,1\n", "seed 1"),
        ("name\n" + "x" * 40 + "\n", "1 to 31"),
        ("name,team\namy,red\nben,\n", "give everyone a team"),
        ("name,colour\namy,red\n", "unknown field"),
        ("name\n", "nobody"),
    ],
)
def test_bad_rosters_are_refused_with_the_line(text, message):
    with pytest.raises(RosterError, match=message):
        parse_csv(text)


def test_bad_toml_and_huge_files(tmp_path: Path):
    with pytest.raises(RosterError, match="TOML"):
        parse_toml("[[player]\n")
    big = tmp_path / "big.csv"
    big.write_bytes(b"name\n" + b"a\n" * 200_000)
    with pytest.raises(RosterError, match="larger than"):
        load_roster(big)
    with pytest.raises(RosterError, match="No such file"):
        load_roster(tmp_path / "missing.csv")


# the gate and links ---------------------------------------------------------------------------


def test_roster_gate_refuses_outsiders_and_the_operator_sees_it():
    svc, _ = service()
    assert svc.check_login("zed", "10.0.0.9") is None  # no tournament: everyone gets in
    svc.create("Cup", parse_csv(ROSTER_CSV), Format.SINGLE)
    assert svc.check_login("Amy", "10.0.0.1") is None
    reason = svc.check_login("zed", "10.0.0.9")
    assert reason and "not on the roster" in reason
    assert [(r.what, r.account, r.where) for r in svc.refusals] == [("login", "zed", "10.0.0.9")]
    assert "zed" in tournament_command(svc, ["refused"], "op")[0]
    svc.set_gate(logins=False, actor="op")
    assert svc.check_login("zed", "10.0.0.9") is None


def test_a_game_created_by_a_match_player_is_linked_and_closed_to_others():
    svc, _ = started()
    m = svc.on_game_created(7, "amy")
    assert m is not None and (m.a, m.b) == ("amy", "dan")
    g7 = game(7, "amy")
    assert svc.check_join("dan", g7) is None and svc.check_join("amy", g7) is None
    reason = svc.check_join("ben", g7)
    assert reason and "match #1" in reason
    assert svc.check_join("ben", game(8)) is None  # an unlinked game
    assert svc.on_game_created(9, "zed") is None  # not on the roster: a normal game
    svc.unlink(7, "op")
    assert svc.check_join("ben", game(7)) is None
    svc.link(7, 2, "op")
    assert svc.check_join("ben", g7) is None and svc.check_join("amy", g7) is not None
    with pytest.raises(TournamentError, match="not open"):
        svc.link(8, 3, "op")  # the final waits for both semi-finals


# results --------------------------------------------------------------------------------------


def test_end_game_report_records_the_winner_and_advances_the_bracket():
    svc, clock = started()
    svc.on_game_created(1, "amy")
    for p in ("amy", "dan"):
        svc.on_player_joined(1, p)
    svc.on_world_report(1, WORLD_ACTIVE, bytes(256))
    clock.now += 300
    svc.on_end_game_report(1, "", "dan", 10)
    r = svc.db.results_of(svc.need().id)[0]
    assert (r.status, r.winner, r.source, r.duration, r.players) == (
        ResultStatus.COUNTED,
        "dan",
        "end-game report",
        300.0,
        ("amy", "dan"),
    )
    b = svc.bracket()
    assert b.matches[1].winner == "dan" and b.matches[3].a == "dan"
    assert svc.check_join("ben", game(1, "amy")) is None  # a finished game is no longer gated


def test_no_readable_winner_waits_for_the_operator_and_ladder_stats_can_fill_it_in():
    svc, _clock = started()
    svc.on_game_created(1, "amy")
    svc.on_player_joined(1, "amy")
    svc.on_player_joined(1, "dan")
    svc.on_world_report(1, WORLD_ACTIVE, b"\x01\x02" + bytes(254))
    svc.on_player_left(1, "dan")
    svc.on_world_report(1, WORLD_CLOSED, b"\x01\x02" + bytes(254))
    (r,) = svc.pending()
    assert r.left_early == ("dan",) and r.raw[:2] == b"\x01\x02"
    assert "tournament confirm" in tournament_command(svc, ["pending"], "op")[0]
    # Late ladder stats from the loser: its loss counter moved, so amy won.
    svc.on_ladder_stats("dan", "uya", wide(losses=3, kills=4), wide(losses=4, kills=9, deaths=2))
    r = svc.db.results[r.id]
    assert (r.status, r.winner, r.source) == (ResultStatus.COUNTED, "amy", "ladder stats")
    assert svc.pending() == []
    # A second game: nobody reports anything; the operator confirms.
    svc.on_game_created(2, "ben")
    svc.on_game_removed(2)
    (p,) = svc.pending()
    assert "error" in tournament_command(svc, ["confirm", str(p.id), "amy"], "op")[0]
    out = tournament_command(svc, ["confirm", str(p.id), "cat"], "op")
    assert out[0].startswith(f"result {p.id}: cat wins")
    assert svc.bracket().matches[3].a == "amy" and svc.bracket().matches[3].b == "cat"


def test_the_first_join_links_a_game_even_without_a_creation_report():
    svc, _ = started()
    g = game(4, "cat")
    assert svc.check_join("zed", g) is not None  # linked on the spot to cat's match #2
    assert svc.linked_match(4) == 2 and svc.check_join("ben", g) is None


def test_sync_with_the_lobby_game_table():
    svc, clock = started()
    svc.sync_games([game(1, "amy", ("amy",)), game(2, "zed", ("zed",))], clock.now)
    assert svc.linked_match(1) == 1 and svc.linked_match(2) is None
    svc.sync_games([game(1, "amy", ("amy", "dan"), status=WORLD_ACTIVE, stats=b"\x07" * 256)], 1010.0)
    svc.sync_games([game(1, "amy", ("amy",), status=WORLD_ACTIVE)], 1100.0)  # dan drops out
    svc.sync_games([], 1130.0)  # the game is gone
    (r,) = svc.pending()
    assert (r.players, r.left_early, r.duration, r.game_id) == (("amy", "dan"), ("dan",), 120.0, 1)
    assert r.raw == b"\x07" * 256
    svc.sync_games([], 1200.0)
    assert len(svc.pending()) == 1  # finished once


def test_ladder_delta_reads_known_layouts_only():
    assert ladder_delta("uya", wide(kills=1), wide(kills=4, wins=1))["kills"] == 3
    assert ladder_delta("dl", [0] * 100, [1] * 100)["disconnects"] == 1
    assert ladder_delta("jakx", [0] * 100, [1] * 100) is None
    assert ladder_delta("uya", [0] * 15, [0] * 15) is None


def test_correction_changes_the_bracket_and_is_audited():
    svc, _ = started()
    tournament_command(svc, ["win", "1", "amy"], "op")
    tournament_command(svc, ["win", "2", "ben"], "op")
    out = tournament_command(svc, ["win", "3", "amy"], "op")
    assert out[-1] == "the tournament is over: amy is the champion"
    final = svc.db.results_of(svc.need().id)[-1]
    assert "error" in tournament_command(svc, ["correct", "1", "dan"], "op")[0]  # needs a reason
    out = tournament_command(svc, ["correct", "1", "dan", "amy", "left", "the", "room"], "ref")
    assert "winner amy -> dan" in out[0] and f"no longer applying: {final.id}" in out[0]
    b = svc.bracket()
    assert b.matches[3].a == "dan" and b.champion is None and [r.id for r in b.stale()] == [final.id]
    audit = svc.db.audit_of(svc.need().id)
    assert audit[-1].actor == "ref" and audit[-1].action == "correct" and "left the room" in audit[-1].detail
    tournament_command(svc, ["void", str(final.id), "replayed"], "ref")
    tournament_command(svc, ["win", "3", "ben"], "op")
    assert svc.bracket().champion == "ben"


def test_pre_set_passwords_create_accounts():
    database = Database.open(None, ephemeral=True)
    svc = TournamentService(TournamentDb.open(Store.ephemeral()), clock=Clock(), accounts=database.accounts)
    roster = parse_csv("name,password\namy,secret\nben,\n")
    with pytest.raises(TournamentError, match="title family"):
        svc.create("Cup", roster, Format.SINGLE)
    svc.create("Cup", roster, Format.SINGLE, namespace="uya")
    amy = database.accounts.by_name("uya", "amy")
    assert amy is not None and database.accounts.verify_password(amy.id, "secret")
    assert database.accounts.by_name("uya", "ben") is None  # claimed on first login


# persistence and export -----------------------------------------------------------------------


def test_everything_survives_a_reopen_of_the_sqlite_file(tmp_path: Path):
    store = Store.open(tmp_path)
    svc, _ = started(store, Format.DOUBLE, best_of=3)
    svc.on_game_created(1, "amy")
    svc.on_player_joined(1, "amy")
    svc.on_end_game_report(1, "", "amy", 5)
    svc.on_game_created(2, "dan")
    svc.on_game_removed(2)  # pending
    tournament_command(svc, ["correct", "1", "dan", "dispute"], "ref")
    before = tournament_data(svc, audit=True)
    store.close()

    store = Store.open(tmp_path)
    again = TournamentService(TournamentDb.open(store), clock=Clock())
    after = tournament_data(again, audit=True)
    assert after == before
    assert after["results"][0]["winner"] == "dan" and after["pending"] == [2]
    assert [a["action"] for a in after["audit"]] == ["create", "correct"]
    # New rows keep counting from where the file left off.
    r = again.record(1, "dan", "op")
    assert r.id == 3
    store.close()
    conn = sqlite3.connect(tmp_path / "clank-lan.sqlite3")
    assert conn.execute("SELECT count(*) FROM tournament_results").fetchone()[0] == 3
    conn.close()


def test_exports(tmp_path: Path):
    svc, _ = started()
    for match, winner in ((1, "amy"), (2, "cat"), (3, "cat")):
        svc.record(match, winner, "op", note="by hand")
    data = json.loads(export_json(svc))
    assert data["champion"] == "cat" and data["standings"][0]["competitor"] == "cat"
    assert [m["winner"] for m in data["matches"]] == ["amy", "cat", "cat"]
    rows = list(csv.DictReader(io.StringIO(export_csv(svc))))
    assert [r["kind"] for r in rows] == ["match"] * 3 + ["game"] * 3
    assert rows[2]["winner"] == "cat" and rows[2]["score"] == "0-1" and rows[5]["note"] == "by hand"
    out = tournament_command(svc, ["export", "csv", str(tmp_path / "cup.csv")], "op")
    assert out[0].startswith("wrote") and (tmp_path / "cup.csv").read_text().startswith("kind,match")
    assert "error" in tournament_command(svc, ["export", "xml", "x"], "op")[0]


def test_commands_new_show_and_close(tmp_path: Path):
    svc, _ = service()
    path = tmp_path / "cup.toml"
    path.write_text('name = "LAN Cup"\n' + "".join(f'[[player]]\nname = "{n}"\n' for n in "abcdef"))
    out = tournament_command(svc, ["new", str(path), "double", "bo3", "--shuffle", "--draw", "4"], "op")
    assert out[0].startswith("tournament 'LAN Cup' started: double, best of 3")
    expected = list("abcdef")
    random.Random(4).shuffle(expected)
    assert list(svc.need().seeding) == expected
    assert tournament_command(svc, [], "op")[0].startswith("LAN Cup: double")
    assert tournament_command(svc, ["next"], "op")
    assert tournament_command(svc, ["bogus"], "op")[0].startswith("error")
    assert "closed" in tournament_command(svc, ["close"], "op")[0]
    assert tournament_command(svc, [], "op")[0].startswith("error: no tournament")
    assert tournament_command(None, [], "op")[0].startswith("error")


KILLED_MID_TOURNAMENT = """
import os, signal, sys
from pathlib import Path
from clank_lan.db.store import Store
from clank_lan.db.tournament import TournamentDb
from clank_lan.tournament.formats import Format
from clank_lan.tournament.roster import parse_csv
from clank_lan.tournament.service import TournamentService

svc = TournamentService(TournamentDb.open(Store.open(Path(sys.argv[1]))), clock=lambda: 5.0)
svc.create("Cup", parse_csv("name\\namy\\nben\\ncat\\ndan\\n"), Format.SINGLE)
svc.record(1, "amy")
svc.record(2, "cat")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_results_survive_kill_9(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-c", KILLED_MID_TOURNAMENT, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    store = Store.open(tmp_path)
    try:
        svc = TournamentService(TournamentDb.open(store), clock=Clock())
        b = svc.bracket()
        assert b is not None and (b.matches[3].a, b.matches[3].b) == ("amy", "cat")
        assert [a.action for a in svc.db.audit_of(svc.need().id)] == ["create", "record", "record"]
    finally:
        store.close()


def test_unreadable_games_of_one_match_are_bounded():
    svc, clock = started()
    for game_id in range(1, 30):
        svc.sync_games([game(game_id, "amy", ("amy",))], clock.now)
        svc.sync_games([], clock.now)
    assert len(svc.pending()) == MAX_PENDING_PER_MATCH
    assert len(svc.tracks) <= RECENT_GAMES


def test_team_tournament_gate_and_team_named_in_the_report():
    svc, _ = service()
    roster = parse_csv("name,team\namy,red\nben,red\ncat,blue\ndan,blue\neve,green\nfay,green\n")
    svc.create("Teams", roster, Format.ROUND_ROBIN)
    m = svc.on_game_created(5, "ben")
    assert m is not None and {m.a, m.b} == {"red", "green"}
    g = game(5, "ben", ("ben",))
    assert svc.check_join("fay", g) is None and svc.check_join("amy", g) is None
    g = game(5, "ben", ("ben", "fay"))
    assert svc.check_join("cat", g) is not None
    svc.on_end_game_report(5, "green", "", 3)
    assert svc.bracket().matches[m.id].winner == "green"


def test_stored_ladder_stats_decide_a_game_without_any_lobby_hook():
    stored = {"amy": wide(wins=4, kills=10), "dan": wide(losses=2, kills=3)}
    svc, clock = started()
    svc.stats_reader = lambda name: ("uya", stored[name]) if name in stored else None
    svc.sync_games([game(1, "amy", ("amy", "dan"), status=WORLD_ACTIVE)], clock.now)
    svc.sync_games([], clock.now + 60)  # the game ends; nobody has sent stats yet
    (r,) = svc.pending()
    # UYA sends the new totals a moment after the game: the next tick reads them.
    stored["amy"] = wide(wins=5, kills=17, deaths=1)
    svc.sync_games([], clock.now + 61)
    r = svc.db.results[r.id]
    assert (r.status, r.winner, r.source) == (ResultStatus.COUNTED, "amy", "ladder stats")
    stored["dan"] = wide(losses=3, kills=4, deaths=7)
    svc.sync_games([], clock.now + 62)
    figures = svc.db.results[r.id].figures
    assert figures["amy"]["kills"] == 7 and figures["dan"]["deaths"] == 7 and figures["dan"]["losses"] == 1
    stored["dan"] = wide(losses=9)
    svc.sync_games([], clock.now + 60 + STATS_GRACE + 1)  # too late to belong to that game
    assert svc.db.results[r.id].figures["dan"]["losses"] == 1


async def test_follow_games_syncs_every_second(autojump_clock):
    svc, clock = started()
    games: dict[int, object] = {}
    engine = SimpleNamespace(lobby=SimpleNamespace(lobby=SimpleNamespace(games=games)), wall_clock=clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(follow_games, engine, svc)
        games[1] = game(1, "amy", ("amy", "dan"))
        await trio.sleep(SYNC_INTERVAL * 1.5)
        assert svc.linked_match(1) == 1
        del games[1]
        await trio.sleep(SYNC_INTERVAL)
        assert len(svc.pending()) == 1
        nursery.cancel_scope.cancel()


def test_round_robin_game_becomes_the_match_of_whoever_joins_first():
    svc, _ = started(fmt=Format.ROUND_ROBIN)
    g = game(3, "cat", ("cat",))
    assert svc.check_join("cat", g) is None
    m = svc.bracket().matches[svc.linked_match(3)]
    assert {m.a, m.b} == {"ben", "cat"}  # cat's first round-robin match
    assert svc.check_join("amy", g) is None  # cat v amy is open too: the game is that match now
    m = svc.bracket().matches[svc.linked_match(3)]
    assert {m.a, m.b} == {"amy", "cat"}
    assert svc.check_join("ben", game(3, "cat", ("cat", "amy"))) is not None  # now it is taken


def test_every_subcommand_answers_in_text():
    svc, _ = started(best_of=3)
    run = partial(tournament_command, svc)
    assert run(["help"], "op")[0].startswith("tournament ")
    assert run(["pending"], "op") == ["no game is waiting for a winner"]
    assert run(["next"], "op")[0].startswith("#1")
    assert run(["link", "9", "1"], "op")[0] == "game 9 is now match #1: amy vs dan; only they may join it"
    assert "(playing: game 9)" in "\n".join(run([], "op"))
    assert run(["unlink", "9"], "op")[0] == "game 9 is no longer a tournament game"
    assert run(["unlink", "9"], "op")[0].startswith("error: game 9 is not linked")
    assert run(["link", "x", "1"], "op")[0] == "error: game must be a number, not 'x'"
    assert run(["win", "1", "zed"], "op")[0].startswith("error: 'zed' is not playing match #1")
    assert run(["win", "#1", "amy", "forfeit"], "op")[0].startswith("result 1: amy wins")
    assert run(["results"], "op")[0].startswith("result 1: match #1 game - [counted] winner amy (operator)")
    assert run(["standings"], "op")[0].split()[:2] == ["1.", "amy"]
    assert run(["gate", "off", "joins"], "op")[0].endswith("match games admit only their players: off")
    assert run(["gate", "sideways"], "op")[0].startswith("error: usage")
    assert run(["void", "1"], "op")[0].startswith("error: usage")
    assert run(["void", "1", "mistake"], "op")[0].startswith("voided: result 1")
    assert run(["confirm", "1", "amy"], "op")[0].startswith("error: result 1 is voided")
    assert run(["correct", "99", "amy", "why"], "op")[0] == "error: no result 99 in this tournament"
    audit = run(["audit"], "op")
    assert [line.split()[2] for line in audit] == ["create", "link", "unlink", "record", "gate", "void"]
    assert run(["refused"], "op") == ["nobody was refused"]
    assert run(["new"], "op")[0] == "error: which roster file?"
    assert run(["new", "/nonexistent/roster.csv"], "op")[0].startswith("error: /nonexistent/roster.csv:")
    assert run(["new", "x.csv", "--bogus"], "op")[0] == "error: unknown option '--bogus'"


def test_results_to_confirm_offer_both_sides():
    svc, _ = started()
    svc.sync_games([game(1, "amy", ("amy", "dan"))], 0.0)
    svc.sync_games([], 1.0)
    ((r, a, b),) = svc.to_confirm()
    assert (a, b) == ("amy", "dan")
    svc.confirm(r.id, b, "tui")
    assert svc.to_confirm() == [] and svc.bracket().matches[1].winner == "dan"


def test_audit_entries_also_reach_the_appliance_audit_trail():
    seen: list[tuple[str, str, str]] = []
    svc, _ = service(audit_hook=lambda actor, action, detail: seen.append((actor, action, detail)))
    svc.create("Cup", parse_csv(ROSTER_CSV), Format.SINGLE, actor="tui")
    svc.record(1, "amy", "ref")
    assert [(a, b) for a, b, _ in seen] == [("tui", "tournament create"), ("ref", "tournament record")]
    assert "match #1 game won by amy" in seen[1][2]
