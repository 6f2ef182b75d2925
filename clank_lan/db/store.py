"""The write-through half of the database: SQLite file handling and durable commits.

Durability contract: every mutation is one ``Change`` — the SQL statements of one logical
operation plus the in-memory updates that follow them. ``Store.commit`` runs the statements as a
single SQLite transaction and only then applies the in-memory updates, so (1) a call that
returned is on disk and (2) a failed write leaves memory untouched.

The file runs in WAL journal mode with ``synchronous=NORMAL``: a commit appends to the WAL and
returns without fsync (tens of microseconds). Committed transactions survive the process being
killed (``kill -9``: the WAL is in the OS page cache and is replayed on the next open); only an OS
crash or power loss can drop the last few commits. ``locking_mode=EXCLUSIVE`` keeps the file
locked while open, so a second clank-lan on the same data directory fails at open instead of
silently diverging.

An ephemeral store has no connection: commits only apply the in-memory updates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from clank_lan.db.errors import DbError, DbFileError, DbWriteError
from clank_lan.db.schema import SchemaTooNew, migrate

#: The database file inside the data directory.
DB_FILENAME = "clank-lan.sqlite3"

Op = tuple[str, tuple[object, ...]]


class Change:
    """The SQL statements of one logical operation and the memory updates to run once durable."""

    __slots__ = ("effects", "ops")

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.effects: list[Callable[[], object]] = []

    def sql(self, statement: str, *params: object) -> None:
        self.ops.append((statement, params))

    def then(self, effect: Callable[[], object]) -> None:
        self.effects.append(effect)


class Store:
    """Commits Changes to SQLite (or nowhere, when ephemeral) and hands out ids."""

    def __init__(self, conn: sqlite3.Connection | None, path: Path | None) -> None:
        self._conn = conn
        self.path = path
        self._closed = False
        #: table -> highest id ever used (mirrors sqlite_sequence).
        self._last_id: dict[str, int] = {}

    @classmethod
    def ephemeral(cls) -> Store:
        return cls(None, None)

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        """Open (creating if needed) the database file in ``data_dir`` and upgrade its schema."""
        path = Path(data_dir) / DB_FILENAME
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DbFileError(path.parent, f"cannot create the data directory: {e.strerror or e}") from None
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=0)
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DbFileError(path, f"cannot switch the database to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Take the exclusive lock now (the first write does), not at the first mutation.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
            problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise DbFileError(path, f"the database is corrupt: {'; '.join(problems[:3])}")
            migrate(conn)
            store = cls(conn, path)
            store._last_id = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
            return store
        except DbFileError:
            _close_quietly(conn)
            raise
        except SchemaTooNew as e:
            _close_quietly(conn)
            raise DbFileError(path, f"written by a newer clank-lan ({e}); upgrade clank-lan") from None
        except sqlite3.Error as e:
            _close_quietly(conn)
            raise DbFileError(path, _explain(e)) from None

    @property
    def persistent(self) -> bool:
        return self._conn is not None

    @property
    def connection(self) -> sqlite3.Connection | None:
        """The open connection (for loading at open); None when ephemeral."""
        return self._conn

    def commit(self, change: Change) -> None:
        """Make ``change`` durable as one transaction, then apply its memory updates."""
        if self._closed:
            raise DbError("the database is closed")
        conn = self._conn
        if conn is not None and change.ops:
            try:
                if len(change.ops) == 1:
                    conn.execute(*change.ops[0])  # autocommit: a transaction of its own
                else:
                    conn.execute("BEGIN")
                    for statement, params in change.ops:
                        conn.execute(statement, params)
                    conn.execute("COMMIT")
            except sqlite3.Error as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise DbWriteError(f"{self.path}: write failed, nothing changed: {e}") from None
        for effect in change.effects:
            effect()

    def new_id(self, table: str) -> int:
        """The next id for ``table``. Used up even if the write then fails (a gap, never a reuse)."""
        new = self._last_id.get(table, 0) + 1
        self._last_id[table] = new
        return new

    def close(self) -> None:
        """Checkpoint and close the file. Idempotent.

        A failed checkpoint is harmless: the WAL stays beside the file and is replayed at the
        next open.
        """
        if self._closed:
            return
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            finally:
                conn.close()


def _close_quietly(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except sqlite3.Error:
            pass


def _explain(e: sqlite3.Error) -> str:
    text = str(e)
    if "locked" in text or "busy" in text:
        return "the database is in use by another process (is another clank-lan running on this data dir?)"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"not a clank-lan database or corrupt ({text})"
    return f"cannot open the database: {text}"
