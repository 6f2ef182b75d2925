"""``Database``: the lobby's persistent state, served from memory and written through to SQLite.

Reads are dict lookups on immutable records (microseconds). Every mutation is one SQLite
transaction committed before the call returns (see ``store`` for WAL / ``synchronous=NORMAL``
and why that survives ``kill -9``), typically 20–60 µs. Only the lobby's persistent data lives
here; connections, channels and games are online state and stay in the servers.

Single-threaded by design: the trio servers call it synchronously from the event loop, one task
at a time. The exceptions are the password hashes, which touch no SQLite and run in a worker
thread: ``accounts.verify_password`` and the work ``accounts.hash_work`` returns (its result goes to
``create``/``set_password`` on the loop).
"""

from __future__ import annotations

import os
import sqlite3
import struct
import time
from collections.abc import Callable
from pathlib import Path

from clank_lan.db.accounts import Accounts
from clank_lan.db.audit import AuditTrail
from clank_lan.db.bans import Bans
from clank_lan.db.challenges import ClanChallenges
from clank_lan.db.clans import Clans
from clank_lan.db.errors import DbFileError
from clank_lan.db.social import Buddies, Ignores
from clank_lan.db.store import Store
from clank_lan.db.texts import Announcements, Policies
from clank_lan.db.tournament import TournamentDb


class Database:
    """Open with ``Database.open``; use the tables through the attributes below."""

    accounts: Accounts
    clans: Clans
    challenges: ClanChallenges
    buddies: Buddies
    ignores: Ignores
    bans: Bans
    announcements: Announcements
    policies: Policies
    audit: AuditTrail
    tournaments: TournamentDb

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._store = store
        self.accounts = Accounts(store, clock, rng)
        self.clans = Clans(store, self.accounts, clock)
        self.challenges = ClanChallenges(store, clock)
        self.buddies = Buddies(store, self.accounts, clock)
        self.ignores = Ignores(store, self.accounts, clock)
        self.bans = Bans(store, self.accounts, clock)
        self.announcements = Announcements(store, clock)
        self.policies = Policies(store)
        self.audit = AuditTrail(store, clock)
        self.tournaments = TournamentDb(store)

    @classmethod
    def open(
        cls,
        data_dir: Path | None,
        *,
        ephemeral: bool = False,
        clock: Callable[[], float] = time.time,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> Database:
        """Open the database in ``data_dir`` (created if missing) and load it into memory.

        ``ephemeral=True`` keeps everything in memory and never touches the disk (``data_dir`` is
        then ignored). ``clock`` gives the time used when a call passes no ``now``; ``rng`` the
        password salts. Raises DbFileError, naming the file, if it is unreadable, corrupt,
        locked by another process or from a newer release.
        """
        if ephemeral:
            return cls(Store.ephemeral(), clock=clock, rng=rng)
        if data_dir is None:
            raise ValueError("a data directory is required unless ephemeral=True")
        store = Store.open(Path(data_dir))
        db = cls(store, clock=clock, rng=rng)
        conn = store.connection
        assert conn is not None
        try:
            for table in (
                db.accounts,
                db.clans,
                db.challenges,
                db.buddies,
                db.ignores,
                db.bans,
                db.announcements,
                db.policies,
                db.audit,
                db.tournaments,
            ):
                table.load(conn)
        except (sqlite3.Error, struct.error, ValueError, TypeError, LookupError) as e:
            store.close()
            raise DbFileError(store.path or Path(data_dir), f"cannot load the database: {e}") from None
        return db

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None when ephemeral."""
        return self._store.path

    @property
    def ephemeral(self) -> bool:
        return not self._store.persistent and self._store.path is None

    def take_unchecked(self) -> int:
        """Writes since the last call; when there were any, ``checkpoint`` is due."""
        return self._store.take_unchecked()

    def checkpoint(self) -> tuple[int, int]:
        """Copy the written pages into the file: blocking, for a worker thread (``Store.checkpoint``)."""
        return self._store.checkpoint()

    def close(self) -> None:
        """Checkpoint and close the file; later writes raise DbError. Idempotent."""
        self._store.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
