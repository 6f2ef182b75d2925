"""Buddy lists (with pending confirmation) and ignore lists.

Relations are directed: ``owner`` lists ``other``. Both accounts must exist and share a namespace.
A buddy is either added directly (1.08 AddToBuddyList: confirmed at once) or requested
(AddToBuddyListConfirmation): the request waits for the target, and accepting it adds
originator → target, plus target → originator when the request was symmetric.
Deleting an account removes every relation and request it is part of, in either direction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Generic, TypeVar

from clank_lan.db.accounts import Accounts
from clank_lan.db.errors import AlreadyExists, InvalidValue, NotFound
from clank_lan.db.records import Account, Buddy, BuddyRequest, Ignore
from clank_lan.db.store import Change, Store

R = TypeVar("R")


class _Pairs(Generic[R]):
    """owner -> {other: record} plus the reverse index, for one directed relation."""

    __slots__ = ("by_other", "by_owner")

    def __init__(self) -> None:
        self.by_owner: dict[int, dict[int, R]] = {}
        self.by_other: dict[int, dict[int, None]] = {}

    def get(self, owner: int, other: int) -> R | None:
        return self.by_owner.get(owner, {}).get(other)

    def put(self, owner: int, other: int, record: R) -> None:
        self.by_owner.setdefault(owner, {})[other] = record
        self.by_other.setdefault(other, {})[owner] = None

    def drop(self, owner: int, other: int) -> None:
        self.by_owner.get(owner, {}).pop(other, None)
        self.by_other.get(other, {}).pop(owner, None)

    def touching(self, account_id: int) -> list[tuple[int, int]]:
        """Every (owner, other) pair the account is part of."""
        pairs = [(account_id, o) for o in self.by_owner.get(account_id, ())]
        pairs += [(o, account_id) for o in self.by_other.get(account_id, ()) if o != account_id]
        return pairs


def _check_pair(accounts: Accounts, owner_id: int, other_id: int) -> None:
    if owner_id == other_id:
        raise InvalidValue(f"account {owner_id} cannot list itself")
    owner, other = accounts.need(owner_id), accounts.need(other_id)
    if owner.namespace != other.namespace:
        raise InvalidValue(f"accounts {owner_id} and {other_id} are in different namespaces")


class Buddies:
    def __init__(self, store: Store, accounts: Accounts, clock: Callable[[], float]) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._buddies: _Pairs[Buddy] = _Pairs()
        self._requests: _Pairs[BuddyRequest] = _Pairs()
        accounts.on_delete(self._account_deleted)

    # -- reads ---------------------------------------------------------------------------------

    def of(self, owner_id: int) -> list[Buddy]:
        """The owner's confirmed buddies, in the order they were added."""
        return list(self._buddies.by_owner.get(owner_id, {}).values())

    def is_buddy(self, owner_id: int, other_id: int) -> bool:
        return self._buddies.get(owner_id, other_id) is not None

    def requests_for(self, to_id: int) -> list[BuddyRequest]:
        """Requests waiting for ``to_id`` to answer (GetBuddyInvitations)."""
        return [self._requests.by_owner[f][to_id] for f in self._requests.by_other.get(to_id, ())]

    def requests_from(self, from_id: int) -> list[BuddyRequest]:
        return list(self._requests.by_owner.get(from_id, {}).values())

    # -- writes --------------------------------------------------------------------------------

    def add(self, owner_id: int, buddy_id: int, *, now: float | None = None) -> Buddy:
        """Add a confirmed buddy at once."""
        _check_pair(self._accounts, owner_id, buddy_id)
        if self.is_buddy(owner_id, buddy_id):
            raise AlreadyExists(f"account {buddy_id} is already a buddy of {owner_id}")
        buddy = Buddy(owner_id=owner_id, buddy_id=buddy_id, since=self._now(now))
        change = Change()
        self._plan_add(buddy, change)
        self._store.commit(change)
        return buddy

    def remove(self, owner_id: int, buddy_id: int) -> bool:
        if not self.is_buddy(owner_id, buddy_id):
            return False
        change = Change()
        change.sql("DELETE FROM buddies WHERE owner_id = ? AND buddy_id = ?", owner_id, buddy_id)
        self._store.commit(change)
        self._buddies.drop(owner_id, buddy_id)
        return True

    def request(
        self, from_id: int, to_id: int, *, symmetric: bool = False, now: float | None = None
    ) -> BuddyRequest:
        """A buddy request pending ``to_id``'s confirmation (one per direction)."""
        _check_pair(self._accounts, from_id, to_id)
        if self.is_buddy(from_id, to_id) and (not symmetric or self.is_buddy(to_id, from_id)):
            raise AlreadyExists(f"account {to_id} is already a buddy of {from_id}")
        if self._requests.get(from_id, to_id) is not None:
            raise AlreadyExists(f"account {from_id} already asked {to_id} to be buddies")
        req = BuddyRequest(from_id=from_id, to_id=to_id, symmetric=bool(symmetric), created=self._now(now))
        change = Change()
        change.sql(
            "INSERT INTO buddy_requests (from_id, to_id, symmetric, created) VALUES (?, ?, ?, ?)",
            from_id,
            to_id,
            int(req.symmetric),
            req.created,
        )
        self._store.commit(change)
        self._requests.put(from_id, to_id, req)
        return req

    def respond(self, from_id: int, to_id: int, *, accept: bool, now: float | None = None) -> list[Buddy]:
        """``to_id`` answers ``from_id``'s request; returns the relations added (none if declined)."""
        req = self._requests.get(from_id, to_id)
        if req is None:
            raise NotFound(f"no buddy request from {from_id} to {to_id}")
        when = self._now(now)
        change = Change()
        change.sql("DELETE FROM buddy_requests WHERE from_id = ? AND to_id = ?", from_id, to_id)
        change.then(lambda: self._requests.drop(from_id, to_id))
        added: list[Buddy] = []
        if accept:
            pairs = [(from_id, to_id), (to_id, from_id)] if req.symmetric else [(from_id, to_id)]
            for owner, other in pairs:
                if not self.is_buddy(owner, other):
                    buddy = Buddy(owner_id=owner, buddy_id=other, since=when)
                    self._plan_add(buddy, change)
                    added.append(buddy)
        self._store.commit(change)
        return added

    def load(self, conn: sqlite3.Connection) -> None:
        for owner, other, since in conn.execute(
            "SELECT owner_id, buddy_id, since FROM buddies ORDER BY since, owner_id, buddy_id"
        ):
            self._buddies.put(owner, other, Buddy(owner_id=owner, buddy_id=other, since=since))
        for f, t, sym, created in conn.execute(
            "SELECT from_id, to_id, symmetric, created FROM buddy_requests ORDER BY created, from_id, to_id"
        ):
            self._requests.put(f, t, BuddyRequest(from_id=f, to_id=t, symmetric=bool(sym), created=created))

    # -- internals -----------------------------------------------------------------------------

    def _plan_add(self, buddy: Buddy, change: Change) -> None:
        change.sql(
            "INSERT INTO buddies (owner_id, buddy_id, since) VALUES (?, ?, ?)",
            buddy.owner_id,
            buddy.buddy_id,
            buddy.since,
        )
        change.then(lambda: self._buddies.put(buddy.owner_id, buddy.buddy_id, buddy))

    def _account_deleted(self, account: Account, change: Change, now: float) -> None:
        aid = account.id
        buddies, requests = self._buddies.touching(aid), self._requests.touching(aid)
        if buddies:
            change.sql("DELETE FROM buddies WHERE owner_id = ? OR buddy_id = ?", aid, aid)
        if requests:
            change.sql("DELETE FROM buddy_requests WHERE from_id = ? OR to_id = ?", aid, aid)

        def forget() -> None:
            for owner, other in buddies:
                self._buddies.drop(owner, other)
            for owner, other in requests:
                self._requests.drop(owner, other)

        change.then(forget)

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now


class Ignores:
    def __init__(self, store: Store, accounts: Accounts, clock: Callable[[], float]) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._pairs: _Pairs[Ignore] = _Pairs()
        accounts.on_delete(self._account_deleted)

    def of(self, owner_id: int) -> list[Ignore]:
        """Accounts the owner ignores, in the order they were added."""
        return list(self._pairs.by_owner.get(owner_id, {}).values())

    def is_ignoring(self, owner_id: int, other_id: int) -> bool:
        """Whether ``owner_id`` ignores ``other_id`` (chat delivery asks this per message)."""
        return self._pairs.get(owner_id, other_id) is not None

    def add(self, owner_id: int, ignored_id: int, *, now: float | None = None) -> Ignore:
        _check_pair(self._accounts, owner_id, ignored_id)
        if self.is_ignoring(owner_id, ignored_id):
            raise AlreadyExists(f"account {owner_id} already ignores {ignored_id}")
        record = Ignore(owner_id=owner_id, ignored_id=ignored_id, since=self._clock() if now is None else now)
        change = Change()
        change.sql(
            "INSERT INTO ignores (owner_id, ignored_id, since) VALUES (?, ?, ?)",
            owner_id,
            ignored_id,
            record.since,
        )
        self._store.commit(change)
        self._pairs.put(owner_id, ignored_id, record)
        return record

    def remove(self, owner_id: int, ignored_id: int) -> bool:
        if not self.is_ignoring(owner_id, ignored_id):
            return False
        change = Change()
        change.sql("DELETE FROM ignores WHERE owner_id = ? AND ignored_id = ?", owner_id, ignored_id)
        self._store.commit(change)
        self._pairs.drop(owner_id, ignored_id)
        return True

    def load(self, conn: sqlite3.Connection) -> None:
        for owner, other, since in conn.execute(
            "SELECT owner_id, ignored_id, since FROM ignores ORDER BY since, owner_id, ignored_id"
        ):
            self._pairs.put(owner, other, Ignore(owner_id=owner, ignored_id=other, since=since))

    def _account_deleted(self, account: Account, change: Change, now: float) -> None:
        pairs = self._pairs.touching(account.id)
        if not pairs:
            return
        change.sql("DELETE FROM ignores WHERE owner_id = ? OR ignored_id = ?", account.id, account.id)

        def forget() -> None:
            for owner, other in pairs:
                self._pairs.drop(owner, other)

        change.then(forget)
