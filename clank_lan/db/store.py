"""The write-through half of the database: SQLite file handling and durable commits.

Durability contract: every mutation is one ``Change`` — the SQL statements of one logical
operation plus the in-memory updates that follow them. ``Store.commit`` runs the statements as a
single SQLite transaction and only then applies the in-memory updates, so (1) a call that
returned is on disk and (2) a failed write leaves memory untouched.

The file runs in WAL journal mode with ``synchronous=NORMAL``: a commit appends to the WAL and
returns without fsync (tens of microseconds). Committed transactions survive the process being
killed (``kill -9``: the WAL is in the OS page cache and is replayed on the next open); only an OS
crash or power loss can drop the last few commits.

A commit never checkpoints (copies the WAL back into the file): SQLite's automatic checkpoint runs
inside the commit that crosses 1000 pages, and its two fsyncs took 14-19 ms here, a stall of every
game on the event loop that commits. ``checkpoint`` does it instead, on a connection of its own,
from a worker thread (the engine's every ``CHECKPOINT_EVERY`` s of writes); a PASSIVE checkpoint
never waits for the writer, nor the writer for it. A second connection needs SQLite's shared
locking, so a lock file beside the database (``LOCK_FILENAME``, held while open) is what makes a
second clank-lan on the same data directory fail at open instead of silently diverging.

An ephemeral store has no connection: commits only apply the in-memory updates.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

from clank_lan.db.errors import DbError, DbFileError, DbWriteError
from clank_lan.db.schema import SchemaTooNew, migrate

#: The database file inside the data directory.
DB_FILENAME = "clank-lan.sqlite3"
#: Held (locked) by the process that has the database open.
LOCK_FILENAME = DB_FILENAME + ".lock"
#: How often the engine checkpoints while there are writes (seconds); the WAL grows by at most
#: what is written in that time (a page or two per commit).
CHECKPOINT_EVERY = 2.0

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

    def __init__(
        self, conn: sqlite3.Connection | None, path: Path | None, lock: _DirLock | None = None
    ) -> None:
        self._conn = conn
        self.path = path
        self._lock = lock
        self._closed = False
        #: table -> highest id ever used (mirrors sqlite_sequence).
        self._last_id: dict[str, int] = {}
        #: The checkpoints' own connection (``checkpoint``), opened at the first.
        self._checkpointer: sqlite3.Connection | None = None
        #: Writes committed since the last ``take_unchecked``: the cue for a checkpoint.
        self._unchecked = 0

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
        lock = _DirLock(path.parent / LOCK_FILENAME)
        try:
            held = lock.acquire()
        except OSError as e:
            raise DbFileError(lock.path, f"cannot create or lock the lock file: {e.strerror or e}") from None
        if not held:
            raise DbFileError(path, IN_USE)
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=0)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DbFileError(path, f"cannot switch the database to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # ``checkpoint`` does it, off the loop
            # A file that cannot be written fails now, not at the first login.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("COMMIT")
            problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise DbFileError(path, f"the database is corrupt: {'; '.join(problems[:3])}")
            migrate(conn)
            store = cls(conn, path, lock)
            store._last_id = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
            return store
        except DbFileError:
            _close_quietly(conn)
            lock.release()
            raise
        except SchemaTooNew as e:
            _close_quietly(conn)
            lock.release()
            raise DbFileError(path, f"written by a newer clank-lan ({e}); upgrade clank-lan") from None
        except sqlite3.Error as e:
            _close_quietly(conn)
            lock.release()
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
            self._unchecked += 1
        for effect in change.effects:
            effect()

    def take_unchecked(self) -> int:
        """Writes committed since the last call (the caller then checkpoints when there were any)."""
        count, self._unchecked = self._unchecked, 0
        return count

    def checkpoint(self) -> tuple[int, int]:
        """Copy the WAL's committed pages into the database file, on a connection of its own;
        returns the WAL's frames and how many of them the file now has.

        Blocking (it reads the WAL and syncs both files): call it from a worker thread, one call at
        a time, never on the event loop. PASSIVE: it waits for nothing; what a commit in progress
        holds is copied by the next call. Raises ``sqlite3.Error`` when it fails (nothing is lost:
        the WAL keeps every commit and is replayed at the next open)."""
        if self._conn is None or self._closed or self.path is None:
            return 0, 0
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(
                self.path, isolation_level=None, timeout=0, check_same_thread=False
            )
        _busy, frames, copied = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames, copied

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
        _close_quietly(self._checkpointer)
        self._checkpointer = None
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            finally:
                conn.close()
        if self._lock is not None:
            self._lock.release()


IN_USE = "the database is in use by another process (is another clank-lan running on this data dir?)"
#: What a lock held by another process fails with (flock: EWOULDBLOCK; Windows: EACCES, EDEADLOCK).
_HELD_ELSEWHERE = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK)


class _DirLock:
    """An exclusive OS lock on a file beside the database for as long as it is open: one
    clank-lan per data directory. The OS drops it when the process ends, however it ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True once held; False when another process holds it; OSError when the file cannot be
        made or locked at all (a file system without locks)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform == "win32":
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # unverified on real Windows
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in _HELD_ELSEWHERE:
                return False
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if sys.platform == "win32":
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # released before the close, as Windows asks
        except OSError:
            pass
        finally:
            os.close(fd)


def _close_quietly(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except sqlite3.Error:
            pass


def _explain(e: sqlite3.Error) -> str:
    text = str(e)
    if "locked" in text or "busy" in text:
        return IN_USE
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"not a clank-lan database or corrupt ({text})"
    return f"cannot open the database: {text}"
