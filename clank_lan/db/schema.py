"""The SQLite schema as an ordered list of migrations, and the code that applies them.

``MIGRATIONS[i]`` upgrades a file from schema version ``i`` to ``i + 1``; a fresh file runs them
all. Each migration and its version bump commit in one transaction, so an interrupted upgrade
leaves the file at the previous version. Releases only ever append to the list.

A migration is an SQL script or a callable taking the connection (for data rewrites). The
in-memory layer is the only writer and enforces referential integrity itself, so the schema
declares keys and uniqueness but no foreign keys (they would slow every write for nothing).
AUTOINCREMENT makes SQLite remember the highest id ever handed out (``sqlite_sequence``), which
keeps ids unique and never reused across deletes and restarts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from clank_lan.db.tournament_schema import TOURNAMENT_DDL

Migration = str | Callable[[sqlite3.Connection], None]

_V1 = """
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    password    TEXT    NOT NULL,
    created     REAL    NOT NULL,
    last_login  REAL,
    last_ip     TEXT,
    banned      INTEGER NOT NULL DEFAULT 0,
    stats       BLOB    NOT NULL,
    ladder      BLOB    NOT NULL,
    wide        BLOB    NOT NULL,
    UNIQUE (namespace, name_key)
);
CREATE TABLE clans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    leader_id   INTEGER NOT NULL,
    created     REAL    NOT NULL,
    status      INTEGER NOT NULL DEFAULT 0,
    stats       BLOB    NOT NULL,
    wide        BLOB    NOT NULL
);
CREATE UNIQUE INDEX clans_active_name ON clans (namespace, name_key) WHERE status = 0;
CREATE TABLE clan_members (
    account_id  INTEGER PRIMARY KEY,
    clan_id     INTEGER NOT NULL,
    joined      REAL    NOT NULL
);
CREATE TABLE clan_invitations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    clan_id     INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    message     TEXT    NOT NULL,
    created     REAL    NOT NULL,
    status      INTEGER NOT NULL DEFAULT 0,
    response    TEXT    NOT NULL DEFAULT '',
    responded   REAL
);
CREATE TABLE clan_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    clan_id     INTEGER NOT NULL,
    author_id   INTEGER NOT NULL,
    text        TEXT    NOT NULL,
    posted      REAL    NOT NULL,
    edited      REAL
);
CREATE TABLE buddies (
    owner_id    INTEGER NOT NULL,
    buddy_id    INTEGER NOT NULL,
    since       REAL    NOT NULL,
    PRIMARY KEY (owner_id, buddy_id)
) WITHOUT ROWID;
CREATE TABLE buddy_requests (
    from_id     INTEGER NOT NULL,
    to_id       INTEGER NOT NULL,
    symmetric   INTEGER NOT NULL,
    created     REAL    NOT NULL,
    PRIMARY KEY (from_id, to_id)
) WITHOUT ROWID;
CREATE TABLE ignores (
    owner_id    INTEGER NOT NULL,
    ignored_id  INTEGER NOT NULL,
    since       REAL    NOT NULL,
    PRIMARY KEY (owner_id, ignored_id)
) WITHOUT ROWID;
CREATE TABLE bans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    created     REAL    NOT NULL,
    expires     REAL,
    namespace   TEXT
);
CREATE TABLE announcements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace   TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    created     REAL    NOT NULL
);
CREATE TABLE policies (
    namespace   TEXT    NOT NULL,
    kind        INTEGER NOT NULL,
    text        TEXT    NOT NULL,
    PRIMARY KEY (namespace, kind)
) WITHOUT ROWID;
"""

#: Version 2: the operator audit trail (clank_lan.db.audit). ``ref`` links an entry to what it
#: made ("ban:12"), which is how the Bans view knows who banned.
_V2 = """
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          REAL    NOT NULL,
    actor       TEXT    NOT NULL,
    origin      TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    ref         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_ref ON audit (ref) WHERE ref != '';
"""

#: Version 4: clan team challenges (clank_lan.db.challenges); ``status`` is MediusClanChallengeStatus.
_V4_CHALLENGES = """
CREATE TABLE clan_challenges (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    challenger_clan_id  INTEGER NOT NULL,
    against_clan_id     INTEGER NOT NULL,
    status              INTEGER NOT NULL,
    text                TEXT    NOT NULL,
    created             REAL    NOT NULL,
    response            TEXT    NOT NULL DEFAULT '',
    responded           REAL
);
"""

#: The ordered upgrade steps; the schema version of a file is how many of them it has run.
MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, TOURNAMENT_DDL, _V4_CHALLENGES)


class SchemaTooNew(Exception):
    """The file was written by a newer release (its version is beyond our migration list)."""

    def __init__(self, found: int, known: int) -> None:
        self.found = found
        self.known = known
        super().__init__(f"schema version {found} is newer than this release understands ({known})")


def schema_version(conn: sqlite3.Connection) -> int:
    """The file's schema version; 0 for a fresh file (creates the bookkeeping table)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    if row is None:
        conn.execute("INSERT INTO schema_version (version) VALUES (0)")
        return 0
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the file up to ``len(migrations)``; returns the version it started at.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    start = schema_version(conn)
    if start > len(migrations):
        raise SchemaTooNew(start, len(migrations))
    for version in range(start + 1, len(migrations) + 1):
        step = migrations[version - 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if callable(step):
                step(conn)
            else:
                for statement in _statements(step):
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (version,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return start


def _statements(script: str) -> list[str]:
    """Split a script on complete statements (``executescript`` would commit on its own)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()[:60]!r}")
    return out
