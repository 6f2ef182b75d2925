"""The tournament tables' DDL (a leaf module, so ``schema.MIGRATIONS`` can list it without a cycle).

Every statement is ``IF NOT EXISTS``: ``TournamentDb.load`` applies the script to files made
before it was a registered migration, and the migration is then a no-op, or the other way round.
Roster passwords are never stored here: they go into the accounts (hashed) when the roster loads.
"""

from __future__ import annotations

TOURNAMENT_DDL = """
CREATE TABLE IF NOT EXISTS tournaments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    best_of     INTEGER NOT NULL,
    namespace   TEXT    NOT NULL,
    created     REAL    NOT NULL,
    active      INTEGER NOT NULL,
    seeding     TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS tournament_players (
    tournament_id INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    team          TEXT    NOT NULL,
    seed          INTEGER,
    PRIMARY KEY (tournament_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tournament_results (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tournament_id INTEGER NOT NULL,
    match_id      INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    winner        TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    recorded      REAL    NOT NULL,
    game_id       INTEGER NOT NULL,
    players       TEXT    NOT NULL,
    duration      REAL,
    left_early    TEXT    NOT NULL,
    figures       TEXT    NOT NULL,
    raw           BLOB    NOT NULL,
    note          TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS tournament_audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tournament_id INTEGER NOT NULL,
    ts            REAL    NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    detail        TEXT    NOT NULL
);
"""
