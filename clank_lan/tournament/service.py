"""The tournament service: the roster gate, game-to-match links, result capture and operator actions.

Synchronous and socket-free, called from the lobby's handlers on the trio loop: the lobby asks
``check_login`` / ``check_join`` (its admission hook) and reports what the titles send through the
``on_*`` methods; the operator's commands call the other methods. Time comes in as ``now`` or
from the injected ``clock``. Every operator action and every correction is written to the
tournament's audit trail (and to ``audit_hook``, for the appliance-wide trail) with who did it.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from clank_lan.db.errors import DbError
from clank_lan.db.tournament import TournamentDb
from clank_lan.names import name_key
from clank_lan.tournament.formats import Format
from clank_lan.tournament.model import (
    Bracket,
    GameResult,
    MatchView,
    ResultStatus,
    TournamentRecord,
    make_seeding,
    validate_best_of,
)
from clank_lan.tournament.roster import Roster, load_roster
from clank_lan.tournament.stats import EndGame, ladder_delta, won

log = logging.getLogger("clank_lan.tournament")
T = TypeVar("T")

#: Medius world status values a WorldReport carries (ACTIVE = playing, CLOSED = over).
WORLD_ACTIVE = 2
WORLD_CLOSED = 3
#: Linked games kept in memory: running ones always, finished ones (for late ladder-stat
#: updates) up to this many in all. Running ones are bounded by the lobby's own game table.
RECENT_GAMES = 64
MAX_REFUSALS = 100
MAX_RAW = 4096
#: Games of one match waiting for the operator; more are not stored (a host creating and closing
#: games in a loop must not fill the database).
MAX_PENDING_PER_MATCH = 8
#: Seconds after a game ends during which its players' stats updates still count for it.
STATS_GRACE = 120.0


class AccountMaker(Protocol):
    """What pre-setting roster passwords needs from the accounts table."""

    def by_name(self, namespace: str, name: str) -> object | None: ...

    def create(
        self, namespace: str, name: str, password: str | bytes, *, now: float | None = None
    ) -> int: ...


class _Named(Protocol):
    @property
    def account_name(self) -> str: ...


class _Seat(Protocol):
    @property
    def session(self) -> _Named: ...


class LobbyGame(Protocol):
    """What the service reads of a lobby game (``servers.lobby.state.Game``)."""

    @property
    def id(self) -> int: ...

    @property
    def host(self) -> _Named | None: ...

    @property
    def players(self) -> Mapping[str, _Seat]: ...

    @property
    def status(self) -> int: ...

    @property
    def stats(self) -> bytes: ...


#: account name -> (title family, its 100 wide ladder stats) as stored now; None if unknown.
StatsReader = Callable[[str], tuple[str, Sequence[int]] | None]


class TournamentError(Exception):
    """An operator action cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class Refusal:
    ts: float
    what: str  # "login" or "join"
    account: str
    where: str  # an address, or "game N"
    reason: str


@dataclass
class GameTrack:
    """What is known of a lobby game linked to a match, until its result is recorded."""

    game_id: int
    match_id: int
    linked_by: str
    linked_at: float
    started: float | None = None
    ended: float | None = None
    players: list[str] = field(default_factory=list)
    left_early: list[str] = field(default_factory=list)
    figures: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Each player's (title family, wide ladder stats) when they joined, to diff against later.
    baseline: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    winner: str = ""
    source: str = ""
    raw: bytes = b""
    result_id: int | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return max(0.0, self.ended - self.started)


class TournamentService:
    def __init__(
        self,
        db: TournamentDb,
        *,
        clock: Callable[[], float],
        accounts: AccountMaker | None = None,
        audit_hook: Callable[[str, str, str], None] | None = None,
        stats_reader: StatsReader | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.accounts = accounts
        self.audit_hook = audit_hook
        self.stats_reader = stats_reader
        #: Live links: lobby game id -> track. Finished tracks stay a while for late stats.
        self.tracks: OrderedDict[int, GameTrack] = OrderedDict()
        self.refusals: deque[Refusal] = deque(maxlen=MAX_REFUSALS)
        #: Gates can be opened while the tournament stays (warm-up games, a late substitute).
        self.gate_logins = True
        self.gate_joins = True
        self._bracket: tuple[tuple[int, int], Bracket] | None = None
        self._derived: dict[str, tuple[object, object]] = {}

    # the tournament --------------------------------------------------------------------------
    @property
    def current(self) -> TournamentRecord | None:
        return self.db.active()

    def need(self) -> TournamentRecord:
        t = self.current
        if t is None:
            raise TournamentError("no tournament is running (load a roster with 'tournament new')")
        return t

    def bracket(self) -> Bracket | None:
        """The running tournament's bracket, replayed once per change of the stored facts (the
        lobby asks on every join and housekeeping tick; callers must not modify it)."""
        t = self.current
        if t is None:
            return None
        key = (t.id, self.db.version)
        if self._bracket is None or self._bracket[0] != key:
            self._bracket = (key, Bracket(t, self.db.results_of(t.id)))
        return self._bracket[1]

    def derived(self, name: str, key: object, make: Callable[[], T]) -> T:
        """``make()`` once per ``key`` (e.g. the data version): views polled by every board
        client are rebuilt only when what they show has changed."""
        hit = self._derived.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]  # type: ignore[return-value]
        value = make()
        self._derived[name] = (key, value)
        return value

    def create(
        self,
        name: str,
        roster: Roster,
        fmt: Format,
        *,
        best_of: int = 1,
        shuffle: bool = False,
        rng: random.Random | None = None,
        namespace: str = "",
        actor: str = "console",
    ) -> TournamentRecord:
        """Start a tournament (the running one, if any, is closed); creates the accounts whose
        roster line pre-sets a password in ``namespace``."""
        validate_best_of(best_of)
        seeding = make_seeding(roster, shuffle=shuffle, rng=rng)
        if len(seeding) < 2:
            raise TournamentError("a tournament needs at least 2 competitors")
        made = self._preset_accounts(roster, namespace)
        rec = self.db.add_tournament(
            TournamentRecord(
                id=0,
                name=name or "Tournament",
                format=fmt,
                best_of=best_of,
                created=self.clock(),
                roster=roster,
                seeding=seeding,
                namespace=namespace,
            )
        )
        self.tracks.clear()
        self._audit(
            rec.id,
            actor,
            "create",
            f"{rec.name!r}: {fmt}, best of {best_of}, {len(seeding)} competitors "
            f"({'shuffled' if shuffle else 'seeded'}): {', '.join(seeding)}"
            + (f"; accounts created: {', '.join(made)}" if made else ""),
        )
        return rec

    def create_from_file(
        self,
        path: Path,
        fmt: Format,
        *,
        name: str = "",
        best_of: int = 1,
        shuffle: bool = False,
        rng: random.Random | None = None,
        namespace: str = "",
        actor: str = "console",
    ) -> TournamentRecord:
        """``create`` from a roster file; the name defaults to the file's (TOML ``name`` or stem)."""
        file_name, roster = load_roster(path)
        return self.create(
            name or file_name,
            roster,
            fmt,
            best_of=best_of,
            shuffle=shuffle,
            rng=rng,
            namespace=namespace,
            actor=actor,
        )

    def _preset_accounts(self, roster: Roster, namespace: str) -> list[str]:
        with_password = [e for e in roster.entries if e.password]
        if not with_password:
            return []
        if not namespace or self.accounts is None:
            raise TournamentError("the roster pre-sets passwords: name the title family (e.g. --title uya)")
        made = []
        for e in with_password:
            if self.accounts.by_name(namespace, e.name) is None:
                self.accounts.create(namespace, e.name, e.password)
                made.append(e.name)
            else:
                log.info("tournament: account %r already exists; its password is left as it was", e.name)
        return made

    def close(self, actor: str = "console") -> TournamentRecord:
        t = self.need()
        rec = self.db.set_active(t.id, False)
        self.tracks.clear()
        self._audit(t.id, actor, "close", f"{t.name!r} closed; the lobby is open to everyone again")
        return rec

    # the gate --------------------------------------------------------------------------------
    def set_gate(
        self, *, logins: bool | None = None, joins: bool | None = None, actor: str = "console"
    ) -> None:
        t = self.need()
        if logins is not None:
            self.gate_logins = logins
        if joins is not None:
            self.gate_joins = joins
        self._audit(
            t.id,
            actor,
            "gate",
            f"roster at login {'on' if self.gate_logins else 'off'}, "
            f"match games closed to others {'on' if self.gate_joins else 'off'}",
        )

    def check_login(self, account_name: str, ip: str) -> str | None:
        """A refusal reason for a login, or None. Only roster accounts log in while one runs."""
        t = self.current
        if t is None or not self.gate_logins or t.roster.has(account_name):
            return None
        reason = f"{account_name!r} is not on the roster of the tournament {t.name!r}"
        self._refused("login", account_name, ip, reason)
        return reason

    def check_join(self, account_name: str, game: LobbyGame) -> str | None:
        """A refusal reason for joining a lobby game, or None: a game linked to a match admits
        only that match's players. A game not linked yet is linked here if its host plays a
        match, so the gate holds even before any report of the game's creation arrives."""
        game_id = game.id
        if game_id not in self.tracks and game.host is not None:
            self.on_game_created(game_id, game.host.account_name)
        track = self.tracks.get(game_id)
        if track is None or track.result_id is not None or not self.gate_joins:
            return None
        bracket = self.bracket()
        if bracket is None:
            return None
        m = bracket.matches.get(track.match_id)
        comp = bracket.competitor_of(account_name)
        if m is not None and comp is not None and m.has(comp):
            return None
        other = self._relink(track, bracket, game, comp)
        if other is not None:
            log.info(
                "tournament: game %d is match #%d after all (%s joined)", game_id, other.id, account_name
            )
            return None
        reason = f"game {game_id} is tournament match #{track.match_id}: only its players may join"
        self._refused("join", account_name, f"game {game_id}", reason)
        return reason

    def _relink(
        self, track: GameTrack, bracket: Bracket, game: LobbyGame, comp: str | None
    ) -> MatchView | None:
        """A game linked automatically to its host's next match, joined first by the host's
        opponent in another open match (round robin: every match is open): it becomes that match."""
        if comp is None or track.linked_by != "auto" or game.host is None:
            return None
        host = bracket.competitor_of(game.host.account_name)
        if host is None or any(
            bracket.competitor_of(seat.session.account_name) != host for seat in game.players.values()
        ):
            return None  # someone of the first opponent is in already
        other = next((m for m in bracket.ready() if m.has(host) and m.has(comp)), None)
        if other is not None:
            track.match_id = other.id
        return other

    def _refused(self, what: str, account: str, where: str, reason: str) -> None:
        self.refusals.append(Refusal(self.clock(), what, account, where, reason))
        log.warning("tournament: %s refused for %r from %s: %s", what, account, where, reason)

    # links -----------------------------------------------------------------------------------
    def on_game_created(self, game_id: int, host_name: str, now: float | None = None) -> MatchView | None:
        """Link a new game to its host's next match, if the host is playing in one."""
        bracket = self.bracket()
        if bracket is None or game_id in self.tracks:
            return None
        comp = bracket.competitor_of(host_name)
        m = bracket.match_of(comp) if comp is not None else None
        if m is None:
            return None
        self._link(game_id, m.id, "auto", now)
        log.info("tournament: game %d by %s linked to match #%d (%s)", game_id, host_name, m.id, m.describe())
        return m

    def _open_match(self, match_id: int) -> tuple[TournamentRecord, Bracket, MatchView]:
        """The running tournament, its bracket and match ``match_id``, which must be open for play."""
        t = self.need()
        bracket = self.bracket()
        assert bracket is not None
        m = bracket.matches.get(match_id)
        if m is None:
            raise TournamentError(f"no match #{match_id}")
        if m.winner is not None or m.a is None or m.b is None:
            raise TournamentError(f"match #{match_id} is not open for play ({m.status})")
        return t, bracket, m

    def link(self, game_id: int, match_id: int, actor: str = "console") -> MatchView:
        t, _, m = self._open_match(match_id)
        self._link(game_id, match_id, actor, None)
        self._audit(t.id, actor, "link", f"game {game_id} -> match #{match_id}")
        return m

    def _link(self, game_id: int, match_id: int, by: str, now: float | None) -> None:
        self.tracks.pop(game_id, None)
        self.tracks[game_id] = GameTrack(game_id, match_id, by, self.clock() if now is None else now)
        finished = [gid for gid, t in self.tracks.items() if t.result_id is not None]
        for gid in finished[: max(0, len(self.tracks) - RECENT_GAMES)]:
            self.tracks.pop(gid)  # the oldest finished games; games still running are never dropped

    def unlink(self, game_id: int, actor: str = "console") -> None:
        t = self.need()
        track = self.tracks.pop(game_id, None)
        if track is None:
            raise TournamentError(f"game {game_id} is not linked to a match")
        self._audit(t.id, actor, "unlink", f"game {game_id} -/- match #{track.match_id}")

    def linked_match(self, game_id: int) -> int | None:
        track = self.tracks.get(game_id)
        return track.match_id if track is not None and track.result_id is None else None

    # what the titles report --------------------------------------------------------------------
    def on_player_joined(self, game_id: int, account_name: str) -> None:
        track = self._open_track(game_id)
        if track is not None and account_name not in track.players:
            track.players.append(account_name)
            found = self.stats_reader(account_name) if self.stats_reader is not None else None
            if found is not None:
                track.baseline[account_name] = (found[0], tuple(found[1]))

    def on_player_left(self, game_id: int, account_name: str, now: float | None = None) -> None:
        track = self._open_track(game_id)
        if (
            track is not None
            and track.started is not None
            and track.ended is None
            and account_name not in track.left_early
        ):
            track.left_early.append(account_name)

    def on_world_report(
        self, game_id: int, world_status: int, game_stats: bytes, now: float | None = None
    ) -> None:
        track = self._open_track(game_id)
        if track is None:
            return
        now = self.clock() if now is None else now
        if world_status == WORLD_ACTIVE and track.started is None:
            track.started = now
        if any(game_stats):
            track.raw = bytes(game_stats[:MAX_RAW])
        if world_status == WORLD_CLOSED:
            self._finish(track, now)

    def on_end_game_report(
        self, game_id: int, winning_team: str, winning_player: str, final_score: int, now: float | None = None
    ) -> None:
        track = self._open_track(game_id)
        if track is None:
            return
        report = EndGame(winning_team, winning_player, final_score)
        bracket = self.bracket()
        m = bracket.matches.get(track.match_id) if bracket is not None else None
        if bracket is not None and m is not None:
            for said in (winning_player, winning_team):
                comp = bracket.competitor_of(said) if said else None
                if comp is None and said and said in bracket.members:
                    comp = said  # a team tournament: the report names the team
                if comp is not None and m.has(comp):
                    track.winner, track.source = comp, "end-game report"
                    break
        if not track.winner:
            track.raw = report.raw()
        self._finish(track, self.clock() if now is None else now)

    def on_ladder_stats(
        self,
        account_name: str,
        family: str,
        before: Sequence[int],
        after: Sequence[int],
        now: float | None = None,
    ) -> None:
        """A player's new wide ladder stats, as the lobby stores them: the figures of the game they
        just played, and a winner when the title's win counter moved."""
        track = self._track_of_player(account_name)
        if track is not None:
            self._apply_stats(track, account_name, family, before, after)

    def _poll_stats(self, track: GameTrack) -> None:
        """Compare each player's stored stats with those at their join (no lobby hook needed)."""
        if self.stats_reader is None:
            return
        for name, (family, before) in track.baseline.items():
            found = self.stats_reader(name)
            if found is not None and found[0] == family and tuple(found[1]) != before:
                self._apply_stats(track, name, family, before, found[1])

    def _apply_stats(
        self, track: GameTrack, account_name: str, family: str, before: Sequence[int], after: Sequence[int]
    ) -> None:
        delta = ladder_delta(family, before, after)
        if delta is None or track.figures.get(account_name) == delta:
            return
        track.figures[account_name] = delta
        r = self.db.results.get(track.result_id) if track.result_id is not None else None
        bracket = self.bracket()
        winner = ""
        if bracket is not None and not track.winner:
            m = bracket.matches.get(track.match_id)
            comp = bracket.competitor_of(account_name)
            verdict = won(delta)
            if m is not None and comp is not None and m.has(comp) and verdict is not None:
                winner = (comp if verdict else (m.b if comp == m.a else m.a)) or ""
        if winner:
            track.winner, track.source = winner, "ladder stats"
        if r is None:
            return
        if winner and r.status is ResultStatus.PENDING:
            self.db.update_result(
                r.id,
                status=ResultStatus.COUNTED,
                winner=winner,
                source="ladder stats",
                note=r.note,
                figures=dict(track.figures),
            )
            self._audit(
                r.tournament_id, "lobby", "result", f"game {track.game_id}: {winner} won (ladder stats)"
            )
        else:
            self.db.update_result(
                r.id,
                status=r.status,
                winner=r.winner,
                source=r.source,
                note=r.note,
                figures=dict(track.figures),
            )

    def on_game_removed(self, game_id: int, now: float | None = None) -> None:
        track = self._open_track(game_id)
        if track is not None:
            self._finish(track, self.clock() if now is None else now)

    def sync_games(self, games: Iterable[LobbyGame], now: float) -> None:
        """Catch up with the lobby's game table (run on every housekeeping tick): link new games
        of match players, note who joined and who left a running game, when it started, its
        latest world stats, and finish linked games that closed or are gone."""
        if self.current is None:
            return
        present: set[int] = set()
        for g in games:
            present.add(g.id)
            if g.id not in self.tracks and g.host is not None:
                self.on_game_created(g.id, g.host.account_name, now)
            track = self._open_track(g.id)
            if track is None:
                continue
            names = [seat.session.account_name for seat in g.players.values()]
            for name in track.players:
                if name not in names:
                    self.on_player_left(g.id, name, now)
            for name in names:
                self.on_player_joined(g.id, name)
            self.on_world_report(g.id, int(g.status), bytes(g.stats), now)
        for game_id in [gid for gid, t in self.tracks.items() if t.result_id is None and gid not in present]:
            self.on_game_removed(game_id, now)
        for track in list(self.tracks.values()):
            if track.ended is None or now - track.ended < STATS_GRACE:
                self._poll_stats(track)

    def _open_track(self, game_id: int) -> GameTrack | None:
        track = self.tracks.get(game_id)
        return track if track is not None and track.result_id is None else None

    def _track_of_player(self, account_name: str) -> GameTrack | None:
        """The newest linked game this player was in (finished or not)."""
        key = name_key(account_name)
        for track in reversed(self.tracks.values()):
            if any(name_key(p) == key for p in track.players):
                return track
        return None

    def _finish(self, track: GameTrack, now: float) -> None:
        """The game is over: record its result (counted when the winner is known, else pending)."""
        t = self.current
        if t is None or track.result_id is not None:
            return
        track.ended = now
        self._poll_stats(track)
        status = ResultStatus.COUNTED if track.winner else ResultStatus.PENDING
        waiting = sum(1 for r in self.pending() if r.match_id == track.match_id)
        if status is ResultStatus.PENDING and waiting >= MAX_PENDING_PER_MATCH:
            self.tracks.pop(track.game_id, None)
            log.warning(
                "tournament: game %d of match #%d ended without a winner, and %d games of that match "
                "already wait for the operator: not recorded",
                track.game_id,
                track.match_id,
                waiting,
            )
            return
        r = self.db.add_result(
            GameResult(
                id=0,
                tournament_id=t.id,
                match_id=track.match_id,
                status=status,
                winner=track.winner,
                source=track.source or "",
                recorded=now,
                game_id=track.game_id,
                players=tuple(track.players),
                duration=track.duration,
                left_early=tuple(track.left_early),
                figures=dict(track.figures),
                raw=track.raw,
            )
        )
        track.result_id = r.id
        if status is ResultStatus.COUNTED:
            log.info(
                "tournament: match #%d game %d won by %s (%s)", r.match_id, r.game_id, r.winner, r.source
            )
        else:
            log.warning(
                "tournament: match #%d game %d ended without a readable winner: result %d needs "
                "'tournament confirm %d WINNER'",
                r.match_id,
                r.game_id,
                r.id,
                r.id,
            )

    # operator actions on results -----------------------------------------------------------------
    def _competitor(self, bracket: Bracket, m: MatchView, who: str) -> str:
        comp = bracket.competitor_of(who) or next(
            (c for c in bracket.members if name_key(c) == name_key(who)), None
        )
        if comp is None or not m.has(comp):
            raise TournamentError(f"{who!r} is not playing match #{m.id} ({m.a or '?'} vs {m.b or '?'})")
        return comp

    def record(self, match_id: int, winner: str, actor: str = "console", note: str = "") -> GameResult:
        """Enter a game's winner by hand (a game played off the appliance, or a forfeit)."""
        t, bracket, m = self._open_match(match_id)
        comp = self._competitor(bracket, m, winner)
        r = self.db.add_result(
            GameResult(
                id=0,
                tournament_id=t.id,
                match_id=match_id,
                status=ResultStatus.COUNTED,
                winner=comp,
                source="operator",
                recorded=self.clock(),
                note=note,
            )
        )
        self._audit(t.id, actor, "record", f"result {r.id}: match #{match_id} game won by {comp}")
        return r

    def pending(self) -> list[GameResult]:
        t = self.current
        if t is None:
            return []
        return [r for r in self.db.results_of(t.id) if r.status is ResultStatus.PENDING]

    def to_confirm(self) -> list[tuple[GameResult, str, str]]:
        """Each pending result with its match's two sides, oldest first: what an operator screen
        offers as one keystroke per side (then ``confirm(result.id, side)``)."""
        bracket = self.bracket()
        if bracket is None:
            return []
        out = []
        for r in self.pending():
            m = bracket.matches.get(r.match_id)
            if m is not None and m.a and m.b and m.winner is None:
                out.append((r, m.a, m.b))
        return out

    def confirm(self, result_id: int, winner: str, actor: str = "console") -> GameResult:
        """The operator names the winner of a game the title did not report one for."""
        r, bracket, m = self._result(result_id)
        if r.status is not ResultStatus.PENDING:
            raise TournamentError(
                f"result {result_id} is {r.status}, not waiting for a winner (use 'correct')"
            )
        comp = self._competitor(bracket, m, winner)
        r = self.db.update_result(
            r.id, status=ResultStatus.COUNTED, winner=comp, source="operator", note=r.note
        )
        self._audit(
            r.tournament_id, actor, "confirm", f"result {r.id}: match #{r.match_id} game won by {comp}"
        )
        return r

    def correct(self, result_id: int, winner: str, reason: str, actor: str = "console") -> GameResult:
        """Change the winner of a recorded game (a dispute); audited with the old winner and why."""
        if not reason.strip():
            raise TournamentError("a correction needs a reason (it goes into the audit trail)")
        r, bracket, m = self._result(result_id)
        if r.status is ResultStatus.VOIDED:
            raise TournamentError(f"result {result_id} is void")
        comp = self._competitor(bracket, m, winner)
        old = r.winner or "(none)"
        before = {mid: mv.winner for mid, mv in bracket.matches.items()}
        r = self.db.update_result(
            r.id, status=ResultStatus.COUNTED, winner=comp, source=f"corrected by {actor}", note=reason
        )
        self._audit(
            r.tournament_id,
            actor,
            "correct",
            f"result {r.id} (match #{r.match_id}): winner {old} -> {comp}; reason: {reason}"
            + self._knock_on(before),
        )
        return r

    def void(self, result_id: int, reason: str, actor: str = "console") -> GameResult:
        if not reason.strip():
            raise TournamentError("voiding a result needs a reason (it goes into the audit trail)")
        r, bracket, _ = self._result(result_id)
        before = {mid: mv.winner for mid, mv in bracket.matches.items()}
        r = self.db.update_result(
            r.id, status=ResultStatus.VOIDED, winner=r.winner, source=r.source, note=reason
        )
        self._audit(
            r.tournament_id,
            actor,
            "void",
            f"result {r.id} (match #{r.match_id}) voided; reason: {reason}" + self._knock_on(before),
        )
        return r

    def _knock_on(self, before: dict[int, str | None]) -> str:
        after = self.bracket()
        assert after is not None
        changed = [mid for mid, w in before.items() if after.matches[mid].winner != w]
        stale = after.stale()
        text = f"; matches changed: {', '.join(f'#{m}' for m in changed)}" if changed else ""
        if stale:
            text += f"; results no longer applying: {', '.join(str(r.id) for r in stale)}"
        return text

    def _result(self, result_id: int) -> tuple[GameResult, Bracket, MatchView]:
        t = self.need()
        r = self.db.results.get(result_id)
        if r is None or r.tournament_id != t.id:
            raise TournamentError(f"no result {result_id} in this tournament")
        bracket = self.bracket()
        assert bracket is not None
        m = bracket.matches.get(r.match_id)
        if m is None:
            raise TournamentError(f"result {result_id} names match #{r.match_id}, which this bracket has not")
        return r, bracket, m

    def _audit(self, tournament_id: int, actor: str, action: str, detail: str) -> None:
        try:
            self.db.add_audit(tournament_id, self.clock(), actor, action, detail)
        except DbError:
            log.exception("tournament: could not store the audit entry %s %s", action, detail)
        log.info("tournament audit: %s %s: %s", actor, action, detail)
        if self.audit_hook is not None:
            self.audit_hook(actor, f"tournament {action}", detail)
