"""Accounts: names unique per namespace (case-insensitively), hashed passwords, stats and ladders."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial

import msgspec

from clank_lan.db.errors import AlreadyExists, NotFound
from clank_lan.db.ladder import Ranking, RankingCache
from clank_lan.db.passwords import SALT_SIZE, PasswordHash
from clank_lan.db.records import (
    LADDER,
    LADDER_COUNT,
    WIDE,
    WIDE_COUNT,
    ZERO_LADDER_BLOB,
    ZERO_STATS,
    ZERO_WIDE_BLOB,
    Account,
    LadderEntry,
    check_blob,
    check_index,
    check_ints,
    check_name,
    check_namespace,
)
from clank_lan.db.store import Change, Store
from clank_lan.names import name_key

#: Called inside an account's deletion (account, change, now) to add the SQL and memory updates
#: of the rows that depend on it.
DeleteHook = Callable[[Account, Change, float], None]

_replace = msgspec.structs.replace


class Accounts:
    """All accounts, in memory, written through to the ``accounts`` table."""

    def __init__(self, store: Store, clock: Callable[[], float], rng: Callable[[int], bytes]) -> None:
        self._store = store
        self._clock = clock
        self._rng = rng
        self._by_id: dict[int, Account] = {}
        self._by_name: dict[tuple[str, str], int] = {}
        self._hashes: dict[int, PasswordHash] = {}
        # Passwords that passed the slow check, as a keyed fast digest: a console logs in to the
        # MAS every time it goes online, and PBKDF2 (about 1.2 ms) would dominate each login.
        self._verified: dict[int, bytes] = {}
        self._verified_key = rng(32)
        self._namespaces: dict[str, dict[int, None]] = {}
        self._rankings = RankingCache()
        self._delete_hooks: list[DeleteHook] = []

    # -- reads ---------------------------------------------------------------------------------

    def get(self, account_id: int) -> Account | None:
        return self._by_id.get(account_id)

    def by_name(self, namespace: str, name: str) -> Account | None:
        account_id = self._by_name.get((namespace, name_key(name)))
        return None if account_id is None else self._by_id[account_id]

    def listing(self, namespace: str | None = None) -> list[Account]:
        """Accounts by id, of one namespace or of all."""
        if namespace is None:
            return sorted(self._by_id.values(), key=lambda a: a.id)
        return [self._by_id[i] for i in sorted(self._namespaces.get(namespace, ()))]

    def count(self, namespace: str | None = None) -> int:
        return len(self._by_id) if namespace is None else len(self._namespaces.get(namespace, ()))

    def verify_password(self, account_id: int, password: str | bytes) -> bool:
        """Constant-time check; False for an unknown account.

        Reads no SQLite and mutates nothing, so it may run in a worker thread
        (``trio.to_thread.run_sync``); hashlib releases the GIL while hashing.
        """
        stored = self._hashes.get(account_id)
        if stored is None:
            return False
        digest = self._digest(password)
        known = self._verified.get(account_id)
        if known is not None and hmac.compare_digest(known, digest):
            return True
        if not stored.verify(password):
            return False
        self._verified[account_id] = digest
        return True

    def password_known(self, account_id: int, password: str | bytes) -> bool:
        """Did ``password`` already pass the slow check (or set it)? A cheap keyed digest compare;
        False means only ``verify_password`` (PBKDF2, for a worker thread) can tell."""
        known = self._verified.get(account_id)
        return known is not None and hmac.compare_digest(known, self._digest(password))

    def hash_work(self, password: str | bytes) -> Callable[[], PasswordHash]:
        """The slow half of ``create`` (PBKDF2 with a fresh salt), to run in a worker thread; its
        result goes to ``create(..., hashed=...)``."""
        return partial(PasswordHash.make, password, self._rng(SALT_SIZE))

    def _digest(self, password: str | bytes) -> bytes:
        raw = password.encode("utf-8", "surrogateescape") if isinstance(password, str) else bytes(password)
        return hashlib.blake2b(raw, key=self._verified_key, digest_size=32).digest()

    def ladder_position(
        self, account_id: int, index: int, *, wide: bool = True, descending: bool = True
    ) -> tuple[int, int]:
        """(1-based position, number of ranked accounts) on stat ``index`` within the namespace."""
        account = self.need(account_id)
        ranking = self._ranking(account.namespace, index, wide, descending)
        return ranking.position(_column(account, wide, index)), len(ranking)

    def ladder_page(
        self,
        namespace: str,
        index: int,
        *,
        start: int = 1,
        count: int = 10,
        wide: bool = True,
        descending: bool = True,
    ) -> list[LadderEntry]:
        """Accounts ranked on stat ``index``, from 1-based position ``start``; ties by ascending id."""
        return self._ranking(namespace, index, wide, descending).page(start, count)

    def total_rankings(self, namespace: str) -> int:
        return self.count(namespace)

    # -- writes --------------------------------------------------------------------------------

    def create(
        self,
        namespace: str,
        name: str,
        password: str | bytes,
        *,
        now: float | None = None,
        hashed: PasswordHash | None = None,
    ) -> int:
        """A new account with zeroed stats; returns its id (ids only grow and are never reused).
        ``hashed``: the password's hash made beforehand off the event loop (``hash_work``)."""
        check_namespace(namespace)
        check_name(name, "account")
        key = (namespace, name_key(name))
        if key in self._by_name:
            raise AlreadyExists(f"account name {name!r} is already taken in {namespace!r}")
        if hashed is None:
            hashed = PasswordHash.make(password, self._rng(SALT_SIZE))
        created = self._now(now)
        account_id = self._store.new_id("accounts")
        change = Change()
        change.sql(
            "INSERT INTO accounts (id, namespace, name, name_key, password, created, banned, stats, ladder,"
            " wide) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
            account_id,
            namespace,
            name,
            key[1],
            hashed.encode(),
            created,
            ZERO_STATS,
            ZERO_LADDER_BLOB,
            ZERO_WIDE_BLOB,
        )
        self._store.commit(change)
        self._insert(Account(id=account_id, namespace=namespace, name=name, created=created), hashed)
        self._verified[account_id] = self._digest(password)
        self._rankings.invalidate(namespace)
        return account_id

    def set_password(
        self, account_id: int, password: str | bytes, *, hashed: PasswordHash | None = None
    ) -> None:
        """Replace the password (new salt). Checking the old one is the caller's business;
        ``hashed``: its hash made beforehand off the event loop (``hash_work``)."""
        self.need(account_id)
        if hashed is None:
            hashed = PasswordHash.make(password, self._rng(SALT_SIZE))
        change = Change()
        change.sql("UPDATE accounts SET password = ? WHERE id = ?", hashed.encode(), account_id)
        self._store.commit(change)
        self._hashes[account_id] = hashed
        self._verified[account_id] = self._digest(password)

    def record_login(self, account_id: int, *, ip: str | None = None, now: float | None = None) -> Account:
        """Stamp the last login time (and address)."""
        account = self.need(account_id)
        when = self._now(now)
        ip = account.last_ip if ip is None else ip
        return self._update(account, "last_login = ?, last_ip = ?", (when, ip), last_login=when, last_ip=ip)

    def set_banned(self, account_id: int, banned: bool) -> Account:
        account = self.need(account_id)
        return self._update(account, "banned = ?", (int(banned),), banned=bool(banned))

    def set_stats(self, account_id: int, stats: bytes) -> Account:
        """Store the title's opaque 256-byte stats blob."""
        account = self.need(account_id)
        blob = check_blob(stats)
        return self._update(account, "stats = ?", (blob,), stats=blob)

    def set_ladder_stats(self, account_id: int, values: Sequence[int]) -> Account:
        """Store the 15 int32 ladder stats of 1.08 titles."""
        account = self.need(account_id)
        ints = check_ints(values, LADDER_COUNT)
        updated = self._update(account, "ladder = ?", (LADDER.pack(*ints),), ladder=ints)
        self._rankings.invalidate(account.namespace)
        return updated

    def set_wide_stats(self, account_id: int, values: Sequence[int]) -> Account:
        """Store the 100 int32 "wide" ladder stats."""
        account = self.need(account_id)
        ints = check_ints(values, WIDE_COUNT)
        updated = self._update(account, "wide = ?", (WIDE.pack(*ints),), wide=ints)
        self._rankings.invalidate(account.namespace)
        return updated

    def delete(self, account_id: int, *, now: float | None = None) -> bool:
        """Remove the account and everything hanging off it (buddies, ignores, clan membership).

        Returns False if there was no such account. The id is never handed out again.
        """
        account = self._by_id.get(account_id)
        if account is None:
            return False
        change = Change()
        change.sql("DELETE FROM accounts WHERE id = ?", account_id)
        when = self._now(now)
        for hook in self._delete_hooks:
            hook(account, change, when)
        self._store.commit(change)
        del self._by_id[account_id]
        del self._by_name[(account.namespace, name_key(account.name))]
        del self._hashes[account_id]
        self._verified.pop(account_id, None)
        del self._namespaces[account.namespace][account_id]
        self._rankings.invalidate(account.namespace)
        return True

    # -- for the other tables ------------------------------------------------------------------

    def need(self, account_id: int) -> Account:
        """The account, or NotFound."""
        account = self._by_id.get(account_id)
        if account is None:
            raise NotFound(f"no account {account_id}")
        return account

    def on_delete(self, hook: DeleteHook) -> None:
        self._delete_hooks.append(hook)

    def load(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT id, namespace, name, password, created, last_login, last_ip, banned, stats, ladder, wide"
            " FROM accounts ORDER BY id"
        )
        for aid, ns, name, password, created, last_login, last_ip, banned, stats, ladder, wide in rows:
            account = Account(
                id=aid,
                namespace=ns,
                name=name,
                created=created,
                last_login=last_login,
                last_ip=last_ip,
                banned=bool(banned),
                stats=check_blob(stats),
                ladder=LADDER.unpack(ladder),
                wide=WIDE.unpack(wide),
            )
            self._insert(account, PasswordHash.decode(password))

    # -- internals -----------------------------------------------------------------------------

    def _insert(self, account: Account, hashed: PasswordHash) -> None:
        self._by_id[account.id] = account
        self._by_name[(account.namespace, name_key(account.name))] = account.id
        self._hashes[account.id] = hashed
        self._namespaces.setdefault(account.namespace, {})[account.id] = None

    def _update(
        self, account: Account, assignments: str, params: tuple[object, ...], **fields: object
    ) -> Account:
        change = Change()
        change.sql(f"UPDATE accounts SET {assignments} WHERE id = ?", *params, account.id)
        self._store.commit(change)
        updated = _replace(account, **fields)
        self._by_id[account.id] = updated
        return updated

    def _ranking(self, namespace: str, index: int, wide: bool, descending: bool) -> Ranking:
        check_index(index, WIDE_COUNT if wide else LADDER_COUNT)
        members = self._namespaces.get(namespace, {})
        items = ((i, _column(self._by_id[i], wide, index)) for i in members)
        return self._rankings.get(namespace, (wide, index), descending, items)

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now


def _column(account: Account, wide: bool, index: int) -> int:
    return (account.wide if wide else account.ladder)[index]
