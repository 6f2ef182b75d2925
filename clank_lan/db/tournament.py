"""Tournaments, their rosters, game results and audit trail, written through to the SQLite store.

Same contract as the other tables (see ``store``): each mutation is one ``Change`` committed
before the call returns, then applied to the in-memory maps the service reads. Only facts are
stored: the bracket is replayed from the results (``tournament.model``), and links between lobby
games and matches are online state (lobby game ids start again at 1 after a restart).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from clank_lan.db.store import Change, Store
from clank_lan.db.tournament_schema import TOURNAMENT_DDL
from clank_lan.tournament.formats import Format
from clank_lan.tournament.model import AuditEntry, GameResult, ResultStatus, TournamentRecord
from clank_lan.tournament.roster import Roster, RosterEntry


def ensure_tables(conn: sqlite3.Connection) -> None:
    """Create the tournament tables if this file does not have them yet (one transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in TOURNAMENT_DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class TournamentDb:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.tournaments: dict[int, TournamentRecord] = {}
        self.results: dict[int, GameResult] = {}
        self.audit: list[AuditEntry] = []
        #: Bumped by every change, so readers can cache what they derive (the replayed bracket).
        self.version = 0

    # loading ---------------------------------------------------------------------------------
    def load(self, conn: sqlite3.Connection) -> None:
        ensure_tables(conn)
        players: dict[int, list[RosterEntry]] = {}
        for tid, name, team, seed in conn.execute(
            "SELECT tournament_id, name, team, seed FROM tournament_players ORDER BY tournament_id, position"
        ):
            players.setdefault(tid, []).append(RosterEntry(name=name, team=team, seed=seed))
        for tid, name, fmt, best_of, namespace, created, active, seeding in conn.execute(
            "SELECT id, name, format, best_of, namespace, created, active, seeding FROM tournaments"
        ):
            self.tournaments[tid] = TournamentRecord(
                id=tid,
                name=name,
                format=Format(fmt),
                best_of=best_of,
                created=created,
                roster=Roster(tuple(players.get(tid, ()))),
                seeding=tuple(json.loads(seeding)),
                namespace=namespace,
                active=bool(active),
            )
        for row in conn.execute(
            "SELECT id, tournament_id, match_id, status, winner, source, recorded, game_id, players,"
            " duration, left_early, figures, raw, note FROM tournament_results"
        ):
            (
                rid,
                tid,
                mid,
                status,
                winner,
                source,
                recorded,
                game_id,
                pl,
                duration,
                left,
                figs,
                raw,
                note,
            ) = row
            self.results[rid] = GameResult(
                id=rid,
                tournament_id=tid,
                match_id=mid,
                status=ResultStatus(status),
                winner=winner,
                source=source,
                recorded=recorded,
                game_id=game_id,
                players=tuple(json.loads(pl)),
                duration=duration,
                left_early=tuple(json.loads(left)),
                figures=json.loads(figs),
                raw=bytes(raw),
                note=note,
            )
        for aid, tid, ts, actor, action, detail in conn.execute(
            "SELECT id, tournament_id, ts, actor, action, detail FROM tournament_audit ORDER BY id"
        ):
            self.audit.append(AuditEntry(aid, tid, ts, actor, action, detail))

    @classmethod
    def open(cls, store: Store) -> TournamentDb:
        """The tables of ``store``, loaded (an ephemeral store starts empty)."""
        db = cls(store)
        if store.connection is not None:
            db.load(store.connection)
        return db

    # tournaments -----------------------------------------------------------------------------
    def add_tournament(self, record: TournamentRecord) -> TournamentRecord:
        """Store ``record`` under a new id (its own id is ignored); other tournaments go inactive."""
        tid = self._store.new_id("tournaments")
        rec = replace(record, id=tid, active=True)
        change = Change()
        change.sql("UPDATE tournaments SET active = 0 WHERE active = 1")
        change.sql(
            "INSERT INTO tournaments (id, name, format, best_of, namespace, created, active, seeding)"
            " VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
            tid,
            rec.name,
            str(rec.format),
            rec.best_of,
            rec.namespace,
            rec.created,
            json.dumps(list(rec.seeding)),
        )
        for pos, e in enumerate(rec.roster.entries):
            change.sql(
                "INSERT INTO tournament_players (tournament_id, position, name, team, seed)"
                " VALUES (?, ?, ?, ?, ?)",
                tid,
                pos,
                e.name,
                e.team,
                e.seed,
            )

        def apply() -> None:
            for other in list(self.tournaments.values()):
                if other.active:
                    self.tournaments[other.id] = replace(other, active=False)
            self.tournaments[tid] = rec

        change.then(apply)
        self._commit(change)
        return rec

    def set_active(self, tournament_id: int, active: bool) -> TournamentRecord:
        rec = self.tournaments[tournament_id]
        change = Change()
        if active:
            change.sql("UPDATE tournaments SET active = 0 WHERE active = 1 AND id != ?", tournament_id)
        change.sql("UPDATE tournaments SET active = ? WHERE id = ?", int(active), tournament_id)

        def apply() -> None:
            if active:
                for other in list(self.tournaments.values()):
                    if other.active and other.id != tournament_id:
                        self.tournaments[other.id] = replace(other, active=False)
            self.tournaments[tournament_id] = replace(rec, active=active)

        change.then(apply)
        self._commit(change)
        return self.tournaments[tournament_id]

    def _commit(self, change: Change) -> None:
        change.then(self._bump)
        self._store.commit(change)

    def _bump(self) -> None:
        self.version += 1

    def active(self) -> TournamentRecord | None:
        return next((t for t in self.tournaments.values() if t.active), None)

    # results ---------------------------------------------------------------------------------
    def add_result(self, result: GameResult) -> GameResult:
        rid = self._store.new_id("tournament_results")
        r = replace(result, id=rid)
        change = Change()
        change.sql(
            "INSERT INTO tournament_results (id, tournament_id, match_id, status, winner, source, recorded,"
            " game_id, players, duration, left_early, figures, raw, note)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rid,
            r.tournament_id,
            r.match_id,
            str(r.status),
            r.winner,
            r.source,
            r.recorded,
            r.game_id,
            json.dumps(list(r.players)),
            r.duration,
            json.dumps(list(r.left_early)),
            json.dumps(r.figures),
            r.raw,
            r.note,
        )
        change.then(lambda: self.results.__setitem__(rid, r))
        self._commit(change)
        return r

    def update_result(
        self,
        result_id: int,
        *,
        status: ResultStatus,
        winner: str,
        source: str,
        note: str,
        figures: dict[str, dict[str, int]] | None = None,
    ) -> GameResult:
        old = self.results[result_id]
        figs = old.figures if figures is None else figures
        r = replace(old, status=status, winner=winner, source=source, note=note, figures=figs)
        change = Change()
        change.sql(
            "UPDATE tournament_results SET status = ?, winner = ?, source = ?, note = ?, figures = ?"
            " WHERE id = ?",
            str(status),
            winner,
            source,
            note,
            json.dumps(figs),
            result_id,
        )
        change.then(lambda: self.results.__setitem__(result_id, r))
        self._commit(change)
        return r

    def results_of(self, tournament_id: int) -> list[GameResult]:
        return sorted(
            (r for r in self.results.values() if r.tournament_id == tournament_id), key=lambda r: r.id
        )

    # audit -----------------------------------------------------------------------------------
    def add_audit(self, tournament_id: int, ts: float, actor: str, action: str, detail: str) -> AuditEntry:
        aid = self._store.new_id("tournament_audit")
        entry = AuditEntry(aid, tournament_id, ts, actor, action, detail)
        change = Change()
        change.sql(
            "INSERT INTO tournament_audit (id, tournament_id, ts, actor, action, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            aid,
            tournament_id,
            ts,
            actor,
            action,
            detail,
        )
        change.then(lambda: self.audit.append(entry))
        self._commit(change)
        return entry

    def audit_of(self, tournament_id: int) -> list[AuditEntry]:
        return [a for a in self.audit if a.tournament_id == tournament_id]
