"""The tournament as data: its settings and roster, recorded game results, and the bracket replayed
from them.

Nothing is advanced in place. ``Bracket`` replays the counted results, oldest first, over the
format's match graph; so recording, confirming, correcting or voiding a result is one appended or
changed row, and the bracket, the standings and the champion always agree with the results. A
correction that changes who reached a later match leaves that match's results unusable: the
replay reports them as ``stale`` instead of guessing.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from clank_lan.names import name_key
from clank_lan.tournament.formats import Format, MatchSpec, Source, generate
from clank_lan.tournament.roster import Roster

MAX_BEST_OF = 15


class ResultStatus(enum.StrEnum):
    #: The game ended but no winner could be read from it: the operator confirms one.
    PENDING = "pending"
    COUNTED = "counted"
    VOIDED = "voided"


class MatchStatus(enum.StrEnum):
    WAITING = "waiting"  # a competitor is not known yet
    READY = "ready"  # both known, not decided
    DONE = "done"
    BYE = "bye"  # decided without playing (an empty slot)
    VOID = "void"  # the grand-final reset that was not needed


@dataclass(frozen=True, slots=True)
class TournamentRecord:
    id: int
    name: str
    format: Format
    best_of: int
    created: float
    roster: Roster
    #: Competitor names (teams, or players without teams) in seed order.
    seeding: tuple[str, ...]
    #: Title family whose accounts pre-set roster passwords go to ("" = none created).
    namespace: str = ""
    active: bool = True


@dataclass(frozen=True, slots=True)
class GameResult:
    id: int
    tournament_id: int
    match_id: int
    status: ResultStatus
    #: The winning competitor; "" while pending.
    winner: str
    #: How the winner is known: "end-game report", "ladder stats", "operator", ...
    source: str
    recorded: float
    #: The lobby game it came from (0 when entered by hand).
    game_id: int = 0
    players: tuple[str, ...] = ()
    duration: float | None = None
    left_early: tuple[str, ...] = ()
    #: Per-player figures decoded from the title's reports (kills, deaths...).
    figures: dict[str, dict[str, int]] = field(default_factory=dict, compare=False)
    #: What the title sent when it could not be decoded (world stats, end-game report fields).
    raw: bytes = b""
    note: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    tournament_id: int
    ts: float
    actor: str
    action: str
    detail: str


def validate_best_of(best_of: int) -> int:
    if not (1 <= best_of <= MAX_BEST_OF and best_of % 2 == 1):
        raise ValueError(f"best-of must be an odd number from 1 to {MAX_BEST_OF}")
    return best_of


def competitors(roster: Roster) -> dict[str, tuple[str, ...]]:
    """Competitor name -> member account names: teams when the roster has them, else players."""
    if not roster.has_teams:
        return {e.name: (e.name,) for e in roster.entries}
    teams: dict[str, list[str]] = {}
    canonical: dict[str, str] = {}
    for e in roster.entries:
        team = canonical.setdefault(name_key(e.team), e.team)
        teams.setdefault(team, []).append(e.name)
    return {t: tuple(m) for t, m in teams.items()}


def make_seeding(
    roster: Roster, *, shuffle: bool = False, rng: random.Random | None = None
) -> tuple[str, ...]:
    """Competitors in seed order: by the roster's seeds (lowest member seed for a team) then roster
    order; or shuffled with ``rng`` (injected, so a draw can be reproduced)."""
    comps = list(competitors(roster))
    if shuffle:
        (rng or random.Random()).shuffle(comps)
        return tuple(comps)
    seeds: dict[str, int] = {}
    for e in roster.entries:
        comp = next(c for c, members in competitors(roster).items() if e.name in members)
        if e.seed is not None:
            seeds[comp] = min(seeds.get(comp, e.seed), e.seed)
    order = {c: i for i, c in enumerate(comps)}
    return tuple(sorted(comps, key=lambda c: (seeds.get(c, 1 << 30), order[c])))


@dataclass
class MatchView:
    spec: MatchSpec
    #: None = not known yet; "" = nobody (a bye).
    a: str | None = None
    b: str | None = None
    status: MatchStatus = MatchStatus.WAITING
    wins_a: int = 0
    wins_b: int = 0
    winner: str | None = None
    loser: str | None = None
    results: list[GameResult] = field(default_factory=list)
    #: Counted results for this match whose winner is no longer one of its competitors.
    stale: list[GameResult] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.spec.id

    def has(self, competitor: str) -> bool:
        return competitor in (self.a, self.b)

    def describe(self) -> str:
        a = self.a if self.a is not None else "?"
        b = self.b if self.b is not None else "?"
        a, b = a or "(bye)", b or "(bye)"
        score = f" {self.wins_a}-{self.wins_b}" if self.results else ""
        won = f"  winner {self.winner}" if self.winner else ""
        return f"#{self.id:<3} {self.spec.label():<20} {a} vs {b}{score}  [{self.status}]{won}"


@dataclass(frozen=True, slots=True)
class Standing:
    competitor: str
    members: tuple[str, ...]
    seed: int
    played: int
    wins: int
    losses: int
    game_wins: int
    game_losses: int
    #: "champion", "alive", "eliminated" (elimination formats) or "" (round robin).
    state: str


class Bracket:
    """The state of every match, replayed from the counted results."""

    def __init__(self, record: TournamentRecord, results: Iterable[GameResult]) -> None:
        self.record = record
        self.members = competitors(record.roster)
        self.specs = generate(record.format, len(record.seeding))
        self.need = record.best_of // 2 + 1
        by_match: dict[int, list[GameResult]] = {}
        for r in sorted(results, key=lambda r: r.id):
            if r.status is ResultStatus.COUNTED and r.tournament_id == record.id:
                by_match.setdefault(r.match_id, []).append(r)
        self.matches: dict[int, MatchView] = {}
        for spec in self.specs:
            m = MatchView(spec, self._resolve(spec.a), self._resolve(spec.b))
            self.matches[spec.id] = m
            self._settle(m, by_match.get(spec.id, []))
        #: Counted results naming a match this format does not have.
        self.orphans = [r for mid, rs in by_match.items() if mid not in self.matches for r in rs]

    def _resolve(self, src: Source) -> str | None:
        if src.kind == "seed":
            return self.record.seeding[src.ref] if src.ref < len(self.record.seeding) else ""
        m = self.matches[src.ref]
        return m.winner if src.kind == "winner" else m.loser

    def _settle(self, m: MatchView, results: list[GameResult]) -> None:
        if m.spec.bracket == "GF2":
            gf = self.matches[m.spec.id - 1]
            if gf.winner is not None and gf.winner == gf.a:
                m.status, m.winner, m.loser = MatchStatus.VOID, gf.winner, gf.loser
                m.stale = list(results)
                return
        if m.a is None or m.b is None:
            m.stale = list(results)
            return
        if m.a == "" or m.b == "":
            m.status = MatchStatus.BYE
            m.winner = m.a or m.b
            m.loser = ""
            m.stale = list(results)
            return
        m.status = MatchStatus.READY
        for r in results:
            if m.winner is not None or r.winner not in (m.a, m.b):
                m.stale.append(r)
                continue
            m.results.append(r)
            if r.winner == m.a:
                m.wins_a += 1
            else:
                m.wins_b += 1
            if m.wins_a >= self.need or m.wins_b >= self.need:
                m.winner, m.loser = (m.a, m.b) if m.wins_a > m.wins_b else (m.b, m.a)
                m.status = MatchStatus.DONE

    # questions -------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        open_ = (MatchStatus.READY, MatchStatus.WAITING)
        return all(m.status not in open_ for m in self.matches.values())

    @property
    def champion(self) -> str | None:
        if not self.finished:
            return None
        if self.record.format is Format.ROUND_ROBIN:
            table = self.standings()
            return table[0].competitor if table else None
        last = self.matches[self.specs[-1].id]
        return last.winner or None

    def ready(self) -> list[MatchView]:
        """Matches both of whose competitors are known and that are not decided, in bracket order."""
        return [m for m in self.matches.values() if m.status is MatchStatus.READY]

    def competitor_of(self, account_name: str) -> str | None:
        key = name_key(account_name)
        for comp, members in self.members.items():
            if any(name_key(p) == key for p in members):
                return comp
        return None

    def match_of(self, competitor: str) -> MatchView | None:
        """The competitor's next match to play (the earliest ready one)."""
        return next((m for m in self.ready() if m.has(competitor)), None)

    def stale(self) -> list[GameResult]:
        return [r for m in self.matches.values() for r in m.stale] + self.orphans

    def standings(self) -> list[Standing]:
        rows = {c: [0, 0, 0, 0, 0] for c in self.record.seeding}  # played, w, l, gw, gl
        out_at: dict[str, int] = {}
        for m in self.matches.values():
            if m.status is not MatchStatus.DONE:
                continue
            assert m.a and m.b and m.winner and m.loser
            for comp, gw, gl in ((m.a, m.wins_a, m.wins_b), (m.b, m.wins_b, m.wins_a)):
                row = rows[comp]
                row[0] += 1
                row[3] += gw
                row[4] += gl
            rows[m.winner][1] += 1
            rows[m.loser][2] += 1
            if self.record.format is Format.SINGLE or (
                self.record.format is Format.DOUBLE and m.spec.bracket != "W"
            ):
                out_at[m.loser] = m.id
        if self.record.format is Format.DOUBLE:
            gf2 = self.matches[self.specs[-1].id]
            if gf2.status is MatchStatus.VOID and gf2.loser:
                out_at[gf2.loser] = gf2.id
        seed = {c: i + 1 for i, c in enumerate(self.record.seeding)}
        champ = None if self.record.format is Format.ROUND_ROBIN else self.champion
        table = []
        for comp, (played, w, lost, gw, gl) in rows.items():
            if self.record.format is Format.ROUND_ROBIN:
                state = ""
            elif comp == champ:
                state = "champion"
            else:
                state = "eliminated" if comp in out_at else "alive"
            table.append(
                Standing(comp, self.members.get(comp, ()), seed[comp], played, w, lost, gw, gl, state)
            )
        order = {"champion": 0, "alive": 1, "eliminated": 2}

        def rank(s: Standing) -> tuple[int, ...]:
            if self.record.format is Format.ROUND_ROBIN:
                return (-s.wins, -(s.game_wins - s.game_losses), -s.game_wins, s.seed)
            return (order[s.state], -out_at.get(s.competitor, 0), -s.wins, s.seed)

        return sorted(table, key=rank)
