"""Bracket shapes, byes, best-of-N and replayed advancement (pure model, no database)."""

from __future__ import annotations

import itertools
import random

import pytest

from clank_lan.tournament.formats import (
    Format,
    double_elimination,
    round_robin,
    seed_order,
    single_elimination,
)
from clank_lan.tournament.model import (
    Bracket,
    GameResult,
    MatchStatus,
    ResultStatus,
    TournamentRecord,
    competitors,
    make_seeding,
    validate_best_of,
)
from clank_lan.tournament.roster import Roster, RosterEntry


def record(n: int, fmt: Format, best_of: int = 1, teams: int = 0) -> TournamentRecord:
    if teams:
        entries = tuple(RosterEntry(f"p{i + 1}", team=f"team{i % teams + 1}") for i in range(n))
    else:
        entries = tuple(RosterEntry(f"p{i + 1}") for i in range(n))
    roster = Roster(entries)
    return TournamentRecord(
        id=1, name="t", format=fmt, best_of=best_of, created=0.0, roster=roster, seeding=make_seeding(roster)
    )


def result(rid: int, match_id: int, winner: str, status: ResultStatus = ResultStatus.COUNTED) -> GameResult:
    return GameResult(rid, 1, match_id, status, winner, "test", float(rid))


def play(rec: TournamentRecord, pick) -> tuple[Bracket, list[GameResult]]:
    """Play every ready match (first ready first) with ``pick(match) -> winner`` until done."""
    results: list[GameResult] = []
    for _ in range(2000):
        b = Bracket(rec, results)
        if b.finished:
            return b, results
        m = b.ready()[0]
        results.append(result(len(results) + 1, m.id, pick(m)))
    raise AssertionError("the bracket did not finish in 2000 games")


def lower_seed_wins(rec: TournamentRecord):
    seed = {c: i for i, c in enumerate(rec.seeding)}
    return lambda m: min((m.a, m.b), key=seed.__getitem__)


def test_seed_order_keeps_top_seeds_apart():
    assert seed_order(2) == [1, 2]
    assert seed_order(4) == [1, 4, 2, 3]
    assert seed_order(8) == [1, 8, 4, 5, 2, 7, 3, 6]
    assert sorted(seed_order(32)) == list(range(1, 33))


def test_single_elimination_of_four():
    rec = record(4, Format.SINGLE)
    specs = single_elimination(4)
    assert [(s.bracket, s.round) for s in specs] == [("W", 1), ("W", 1), ("W", 2)]
    b = Bracket(rec, [])
    assert [(m.a, m.b) for m in b.ready()] == [("p1", "p4"), ("p2", "p3")]
    assert b.matches[3].status is MatchStatus.WAITING and b.champion is None
    b, results = play(rec, lower_seed_wins(rec))
    assert b.champion == "p1" and len(results) == 3
    table = b.standings()
    assert table[0].competitor == "p1" and table[0].state == "champion" and table[0].wins == 2
    assert table[1].competitor == "p2"  # lost the final: eliminated last
    assert {s.state for s in table[1:]} == {"eliminated"}


def test_byes_advance_top_seeds_without_playing():
    rec = record(5, Format.SINGLE)
    b = Bracket(rec, [])
    first = [m for m in b.matches.values() if m.spec.round == 1]
    assert len(first) == 4
    byes = [m for m in first if m.status is MatchStatus.BYE]
    assert sorted(m.winner for m in byes) == ["p1", "p2", "p3"]
    # p4-p5 play for the right to meet p1; p2 and p3 both had byes and meet at once.
    assert [(m.a, m.b) for m in b.ready()] == [("p4", "p5"), ("p2", "p3")]
    b, results = play(rec, lower_seed_wins(rec))
    assert b.champion == "p1" and len(results) == 4  # n - 1 games decide a knockout


@pytest.mark.parametrize("n", range(2, 18))
def test_double_elimination_every_size_finishes_and_nobody_goes_out_unbeaten_twice(n):
    rec = record(n, Format.DOUBLE)
    rng = random.Random(n)
    b, _results = play(rec, lambda m: rng.choice((m.a, m.b)))
    assert b.champion in rec.seeding
    losses = {c: 0 for c in rec.seeding}
    for m in b.matches.values():
        if m.status is MatchStatus.DONE:
            losses[m.loser] += 1
    assert losses[b.champion] <= 1
    assert all(v == 2 for c, v in losses.items() if c != b.champion)
    states = [s.state for s in b.standings()]
    assert states[0] == "champion" and states.count("eliminated") == n - 1


def test_double_elimination_grand_final_reset_only_when_the_losers_side_wins():
    rec = record(4, Format.DOUBLE)
    specs = double_elimination(4)
    assert [s.bracket for s in specs] == ["W", "W", "W", "L", "L", "GF", "GF2"]
    b, _ = play(rec, lower_seed_wins(rec))
    assert b.champion == "p1" and b.matches[7].status is MatchStatus.VOID
    # p1 loses its first game, then wins the losers bracket and both grand finals.
    seed = {c: i for i, c in enumerate(rec.seeding)}

    def p1_drops_first(m):
        if m.id == 1:
            return "p4"
        if "p1" in (m.a, m.b):
            return "p1"
        return min((m.a, m.b), key=seed.__getitem__)

    b, _results = play(rec, p1_drops_first)
    assert b.matches[6].winner == "p1" and b.matches[7].status is MatchStatus.DONE
    assert b.champion == "p1"


def test_round_robin_everyone_meets_everyone_once():
    for n in (2, 3, 4, 5, 8):
        specs = round_robin(n)
        pairs = [frozenset((s.a.ref, s.b.ref)) for s in specs]
        assert len(pairs) == n * (n - 1) // 2 == len(set(pairs))
        for _, group in itertools.groupby(specs, key=lambda s: s.round):
            seen = [x for s in group for x in (s.a.ref, s.b.ref)]
            assert len(seen) == len(set(seen))  # nobody twice in one round
    rec = record(4, Format.ROUND_ROBIN)
    b, _ = play(rec, lower_seed_wins(rec))
    table = b.standings()
    assert [(s.competitor, s.wins, s.losses) for s in table] == [
        ("p1", 3, 0),
        ("p2", 2, 1),
        ("p3", 1, 2),
        ("p4", 0, 3),
    ]
    assert b.champion == "p1"


def test_best_of_three_needs_two_wins_and_ignores_extra_games():
    rec = record(2, Format.SINGLE, best_of=3)
    b = Bracket(rec, [result(1, 1, "p2")])
    m = b.matches[1]
    assert (m.wins_a, m.wins_b, m.status) == (0, 1, MatchStatus.READY)
    b = Bracket(rec, [result(1, 1, "p2"), result(2, 1, "p1"), result(3, 1, "p2"), result(4, 1, "p1")])
    m = b.matches[1]
    assert (m.wins_a, m.wins_b, m.winner) == (1, 2, "p2")
    assert [r.id for r in m.stale] == [4] and b.champion == "p2"


def test_pending_and_voided_results_do_not_count():
    rec = record(2, Format.SINGLE)
    b = Bracket(rec, [result(1, 1, "", ResultStatus.PENDING), result(2, 1, "p1", ResultStatus.VOIDED)])
    assert b.matches[1].status is MatchStatus.READY and b.champion is None


def test_a_result_naming_someone_not_in_the_match_is_stale():
    rec = record(4, Format.SINGLE)
    b = Bracket(rec, [result(1, 1, "p2"), result(2, 99, "p1")])
    assert b.matches[1].status is MatchStatus.READY
    assert sorted(r.id for r in b.stale()) == [1, 2]


def test_teams_are_the_competitors_and_seeds_order_them():
    rec = record(8, Format.SINGLE, teams=4)
    assert set(rec.seeding) == {"team1", "team2", "team3", "team4"}
    b = Bracket(rec, [])
    assert b.competitor_of("P5") == "team1" and b.competitor_of("nobody") is None
    assert competitors(rec.roster)["team2"] == ("p2", "p6")
    roster = Roster((RosterEntry("amy"), RosterEntry("ben", seed=1), RosterEntry("cat", seed=2)))
    assert make_seeding(roster) == ("ben", "cat", "amy")
    drawn = make_seeding(roster, shuffle=True, rng=random.Random(7))
    assert drawn == make_seeding(roster, shuffle=True, rng=random.Random(7)) and sorted(drawn) == [
        "amy",
        "ben",
        "cat",
    ]


def test_best_of_must_be_odd_and_bounded():
    assert validate_best_of(5) == 5
    for bad in (0, 2, 17, -1):
        with pytest.raises(ValueError):
            validate_best_of(bad)
