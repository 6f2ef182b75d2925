"""Bans by account, IP address or network, account-name glob, or console (machine) id.

A ban is active until ``expires`` (None: forever); expired bans stay listed until purged.
``is_banned`` also honours the account's ``banned`` flag. Name globs use fnmatch syntax
(``*``, ``?``, ``[...]``) and match case-insensitively, like account names themselves; machine
ids (the DNAS console id, as text such as hex) also compare case-insensitively.
Bans are few, so a check scans them all (microseconds).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import sqlite3
from collections.abc import Callable

from clank_lan.db.accounts import Accounts
from clank_lan.db.errors import InvalidValue, NotFound
from clank_lan.db.records import Ban, BanKind, check_text, coerce
from clank_lan.db.store import Change, Store

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Bans:
    def __init__(self, store: Store, accounts: Accounts, clock: Callable[[], float]) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._bans: dict[int, Ban] = {}
        self._networks: dict[int, _Network] = {}
        self._globs: dict[int, re.Pattern[str]] = {}

    # -- reads ---------------------------------------------------------------------------------

    def get(self, ban_id: int) -> Ban | None:
        return self._bans.get(ban_id)

    def listing(self, *, include_expired: bool = False, now: float | None = None) -> list[Ban]:
        when = self._now(now)
        return [b for b in self._bans.values() if include_expired or b.active_at(when)]

    def find(
        self,
        *,
        account_id: int | None = None,
        ip: str | None = None,
        machine: str | None = None,
        now: float | None = None,
    ) -> Ban | None:
        """The first active ban (lowest id) matching any of the given identities, else None."""
        when = self._now(now)
        account = None if account_id is None else self._accounts.get(account_id)
        address = None if ip is None else _address(ip)
        for ban in self._bans.values():
            if not ban.active_at(when):
                continue
            kind = ban.kind
            if kind == BanKind.ACCOUNT:
                hit = account_id is not None and ban.target == str(account_id)
            elif kind == BanKind.IP:
                hit = address is not None and address in self._networks[ban.id]
            elif kind == BanKind.NAME:
                hit = (
                    account is not None
                    and (ban.namespace is None or ban.namespace == account.namespace)
                    and self._globs[ban.id].fullmatch(account.name.casefold()) is not None
                )
            else:
                hit = machine is not None and ban.target == machine.casefold()
            if hit:
                return ban
        return None

    def is_banned(
        self,
        *,
        account_id: int | None = None,
        ip: str | None = None,
        machine: str | None = None,
        now: float | None = None,
    ) -> bool:
        """True if the account is flagged banned or any active ban matches."""
        if account_id is not None:
            account = self._accounts.get(account_id)
            if account is not None and account.banned:
                return True
        return self.find(account_id=account_id, ip=ip, machine=machine, now=now) is not None

    # -- writes --------------------------------------------------------------------------------

    def add(
        self,
        kind: BanKind,
        target: str | int,
        *,
        reason: str = "",
        expires: float | None = None,
        namespace: str | None = None,
        now: float | None = None,
    ) -> Ban:
        """Ban an account id, an IP or CIDR network, a name glob or a machine id.

        ``namespace`` only applies to NAME bans (None: every namespace).
        """
        kind = coerce(BanKind, kind)
        check_text(reason, None, "a ban reason")
        if namespace is not None and kind != BanKind.NAME:
            raise InvalidValue("only name bans are scoped to a namespace")
        normalised = _normalise(kind, target)
        if kind == BanKind.ACCOUNT:
            self._accounts.need(int(normalised))
        created = self._now(now)
        if expires is not None and expires <= created:
            raise InvalidValue("a ban must expire after it is created")
        ban_id = self._store.new_id("bans")
        ban = Ban(
            id=ban_id,
            kind=kind,
            target=normalised,
            reason=reason,
            created=created,
            expires=expires,
            namespace=namespace,
        )
        change = Change()
        change.sql(
            "INSERT INTO bans (id, kind, target, reason, created, expires, namespace)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            ban_id,
            str(kind),
            normalised,
            reason,
            created,
            expires,
            namespace,
        )
        self._store.commit(change)
        self._insert(ban)
        return ban

    def remove(self, ban_id: int) -> bool:
        """Lift a ban."""
        if ban_id not in self._bans:
            return False
        change = Change()
        change.sql("DELETE FROM bans WHERE id = ?", ban_id)
        self._store.commit(change)
        self._forget(ban_id)
        return True

    def purge_expired(self, *, now: float | None = None) -> int:
        """Delete bans that have expired; returns how many."""
        when = self._now(now)
        gone = [b.id for b in self._bans.values() if not b.active_at(when)]
        if not gone:
            return 0
        change = Change()
        change.sql("DELETE FROM bans WHERE expires IS NOT NULL AND expires <= ?", when)
        self._store.commit(change)
        for ban_id in gone:
            self._forget(ban_id)
        return len(gone)

    def load(self, conn: sqlite3.Connection) -> None:
        for bid, kind, target, reason, created, expires, namespace in conn.execute(
            "SELECT id, kind, target, reason, created, expires, namespace FROM bans ORDER BY id"
        ):
            self._insert(
                Ban(
                    id=bid,
                    kind=BanKind(kind),
                    target=target,
                    reason=reason,
                    created=created,
                    expires=expires,
                    namespace=namespace,
                )
            )

    def need(self, ban_id: int) -> Ban:
        ban = self._bans.get(ban_id)
        if ban is None:
            raise NotFound(f"no ban {ban_id}")
        return ban

    # -- internals -----------------------------------------------------------------------------

    def _insert(self, ban: Ban) -> None:
        self._bans[ban.id] = ban
        if ban.kind == BanKind.IP:
            self._networks[ban.id] = ipaddress.ip_network(ban.target, strict=False)
        elif ban.kind == BanKind.NAME:
            self._globs[ban.id] = re.compile(fnmatch.translate(ban.target))

    def _forget(self, ban_id: int) -> None:
        del self._bans[ban_id]
        self._networks.pop(ban_id, None)
        self._globs.pop(ban_id, None)

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now


def _normalise(kind: BanKind, target: str | int) -> str:
    """The stored form of a ban target; InvalidValue if it does not fit the kind."""
    if kind == BanKind.ACCOUNT:
        if isinstance(target, bool) or not isinstance(target, int | str) or not str(target).isdigit():
            raise InvalidValue(f"{target!r} is not an account id")
        return str(int(target))
    if not isinstance(target, str) or not target.strip():
        raise InvalidValue(f"a {kind} ban needs a non-empty text target")
    target = target.strip()
    if kind == BanKind.IP:
        try:
            return str(ipaddress.ip_network(target, strict=False))
        except ValueError:
            raise InvalidValue(f"{target!r} is not an IP address or network") from None
    return target.casefold()  # NAME and MACHINE


def _address(ip: str) -> _Address:
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidValue(f"{ip!r} is not an IP address") from None
