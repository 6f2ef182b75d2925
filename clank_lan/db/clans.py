"""Clans: membership, invitations, messages, stats and the clan ladder.

Rules (the handlers map violations onto Medius statuses):

* A clan name is unique among the *active* clans of its namespace, case-insensitively; a
  disbanded clan keeps its record (status −1, as GetClanByID reports it) but frees its name.
* An account belongs to at most one clan, and only to clans of its own namespace. The leader is
  a member.
* **Leader leaving:** leadership passes to the longest-standing remaining member (earliest join,
  then lowest account id); a leader who was the last member disbands the clan. Handlers that want
  the SDK's strict ``MediusLeaderCannotLeaveClan`` check ``clan.leader_id`` before calling.
  Deleting an account leaves its clan the same way.
* Disbanding removes the members and messages and revokes pending invitations.
* Invitations are kept after they are answered (their status is part of the protocol); there is
  at most one pending invitation per (clan, account). Accepting one makes the account a member.
* Messages may be posted by members only; they stay when their author leaves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import msgspec

from clank_lan.db.accounts import Accounts
from clank_lan.db.errors import AlreadyExists, AlreadyInClan, Conflict, InvalidValue, NotClanMember, NotFound
from clank_lan.db.ladder import Ranking, RankingCache
from clank_lan.db.records import (
    CLAN_TEXT_MAX,
    WIDE,
    WIDE_COUNT,
    ZERO_STATS,
    ZERO_WIDE_BLOB,
    Account,
    Clan,
    ClanInvitation,
    ClanMember,
    ClanMessage,
    ClanStatus,
    InvitationStatus,
    LadderEntry,
    check_blob,
    check_index,
    check_ints,
    check_name,
    check_namespace,
    check_text,
    coerce,
)
from clank_lan.db.store import Change, Store
from clank_lan.names import name_key

_replace = msgspec.structs.replace
_ANSWERS = (InvitationStatus.ACCEPT, InvitationStatus.DECLINE, InvitationStatus.REVOKED)


class Clans:
    def __init__(self, store: Store, accounts: Accounts, clock: Callable[[], float]) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._clans: dict[int, Clan] = {}
        self._by_name: dict[tuple[str, str], int] = {}
        self._members: dict[int, dict[int, ClanMember]] = {}
        self._clan_of: dict[int, int] = {}
        self._invitations: dict[int, ClanInvitation] = {}
        self._inv_by_account: dict[int, dict[int, None]] = {}
        self._inv_by_clan: dict[int, dict[int, None]] = {}
        self._messages: dict[int, ClanMessage] = {}
        self._msgs_by_clan: dict[int, dict[int, None]] = {}
        self._rankings = RankingCache()
        accounts.on_delete(self._account_deleted)

    # -- reads ---------------------------------------------------------------------------------

    def get(self, clan_id: int) -> Clan | None:
        return self._clans.get(clan_id)

    def by_name(self, namespace: str, name: str) -> Clan | None:
        """The active clan of that name."""
        clan_id = self._by_name.get((namespace, name_key(name)))
        return None if clan_id is None else self._clans[clan_id]

    def listing(self, namespace: str | None = None, *, include_disbanded: bool = False) -> list[Clan]:
        return [
            c
            for c in sorted(self._clans.values(), key=lambda c: c.id)
            if (namespace is None or c.namespace == namespace) and (include_disbanded or c.active)
        ]

    def members(self, clan_id: int) -> list[ClanMember]:
        """Members in joining order (leader included)."""
        members = self._members.get(clan_id, {})
        return sorted(members.values(), key=lambda m: (m.joined, m.account_id))

    def membership(self, account_id: int) -> ClanMember | None:
        clan_id = self._clan_of.get(account_id)
        return None if clan_id is None else self._members[clan_id][account_id]

    def of_account(self, account_id: int) -> list[Clan]:
        """The clans the account belongs to (at most one)."""
        clan_id = self._clan_of.get(account_id)
        return [] if clan_id is None else [self._clans[clan_id]]

    def invitation(self, invitation_id: int) -> ClanInvitation | None:
        return self._invitations.get(invitation_id)

    def pending_invitation(self, clan_id: int, account_id: int) -> ClanInvitation | None:
        for inv_id in self._inv_by_clan.get(clan_id, ()):
            inv = self._invitations[inv_id]
            if inv.account_id == account_id and inv.pending:
                return inv
        return None

    def invitations_for(self, account_id: int, *, pending_only: bool = True) -> list[ClanInvitation]:
        """Invitations received by the account, oldest first."""
        return self._select_invitations(self._inv_by_account.get(account_id, {}), pending_only)

    def invitations_sent(self, clan_id: int, *, pending_only: bool = True) -> list[ClanInvitation]:
        return self._select_invitations(self._inv_by_clan.get(clan_id, {}), pending_only)

    def message(self, message_id: int) -> ClanMessage | None:
        return self._messages.get(message_id)

    def messages(self, clan_id: int, *, start: int = 0, count: int | None = None) -> list[ClanMessage]:
        """Messages newest first; ``start`` is a 0-based offset into that order."""
        ids = sorted(self._msgs_by_clan.get(clan_id, ()), reverse=True)
        stop = None if count is None else start + count
        return [self._messages[i] for i in ids[start:stop]]

    def ladder_position(self, clan_id: int, index: int, *, descending: bool = True) -> tuple[int, int]:
        """(1-based position, number of active clans ranked) on wide stat ``index``."""
        clan = self._need(clan_id)
        ranking = self._ranking(clan.namespace, index, descending)
        return ranking.position(clan.wide[index]), len(ranking)

    def ladder_page(
        self, namespace: str, index: int, *, start: int = 1, count: int = 10, descending: bool = True
    ) -> list[LadderEntry]:
        return self._ranking(namespace, index, descending).page(start, count)

    # -- writes: the clan itself ------------------------------------------------------------------

    def create(self, namespace: str, name: str, leader_id: int, *, now: float | None = None) -> int:
        """A new active clan led (and joined) by ``leader_id``; returns the clan id."""
        check_namespace(namespace)
        check_name(name, "clan")
        leader = self._accounts.need(leader_id)
        if leader.namespace != namespace:
            raise InvalidValue(f"account {leader_id} is not in namespace {namespace!r}")
        self._check_clanless(leader_id)
        key = (namespace, name_key(name))
        if key in self._by_name:
            raise AlreadyExists(f"clan name {name!r} is already taken in {namespace!r}")
        created = self._now(now)
        clan_id = self._store.new_id("clans")
        change = Change()
        change.sql(
            "INSERT INTO clans (id, namespace, name, name_key, leader_id, created, status, stats, wide)"
            " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
            clan_id,
            namespace,
            name,
            key[1],
            leader_id,
            created,
            ZERO_STATS,
            ZERO_WIDE_BLOB,
        )
        clan = Clan(id=clan_id, namespace=namespace, name=name, leader_id=leader_id, created=created)
        self._plan_join(clan, leader_id, created, change)
        self._store.commit(change)
        self._clans[clan_id] = clan
        self._by_name[key] = clan_id
        self._rankings.invalidate(namespace)
        return clan_id

    def transfer_leadership(self, clan_id: int, new_leader_id: int) -> Clan:
        clan = self._need_active(clan_id)
        if new_leader_id not in self._members[clan_id]:
            raise NotClanMember(f"account {new_leader_id} is not a member of clan {clan_id}")
        change = Change()
        self._plan_leader(clan, new_leader_id, change)
        self._store.commit(change)
        return self._clans[clan_id]

    def disband(self, clan_id: int, *, now: float | None = None) -> Clan:
        clan = self._need_active(clan_id)
        change = Change()
        self._plan_disband(clan, self._now(now), change)
        self._store.commit(change)
        return self._clans[clan_id]

    def set_stats(self, clan_id: int, stats: bytes) -> Clan:
        clan = self._need(clan_id)
        blob = check_blob(stats)
        return self._update(clan, "stats = ?", (blob,), stats=blob)

    def set_wide_stats(self, clan_id: int, values: Sequence[int]) -> Clan:
        clan = self._need(clan_id)
        ints = check_ints(values, WIDE_COUNT)
        updated = self._update(clan, "wide = ?", (WIDE.pack(*ints),), wide=ints)
        self._rankings.invalidate(clan.namespace)
        return updated

    # -- writes: membership -------------------------------------------------------------------

    def join(self, clan_id: int, account_id: int, *, now: float | None = None) -> ClanMember:
        """Add a member directly (AddPlayerToClan); see ``respond`` for the invitation path."""
        clan = self._need_active(clan_id)
        self._check_joinable(clan, account_id)
        change = Change()
        member = self._plan_join(clan, account_id, self._now(now), change)
        self._store.commit(change)
        return member

    def leave(self, clan_id: int, account_id: int, *, now: float | None = None) -> Clan:
        """Remove a member (leaving or kicked); see the module notes for a leader leaving."""
        clan = self._need_active(clan_id)
        if account_id not in self._members[clan_id]:
            raise NotClanMember(f"account {account_id} is not a member of clan {clan_id}")
        change = Change()
        self._plan_leave(clan, account_id, self._now(now), change)
        self._store.commit(change)
        return self._clans[clan_id]

    # -- writes: invitations ------------------------------------------------------------------

    def invite(self, clan_id: int, account_id: int, message: str = "", *, now: float | None = None) -> int:
        """A pending invitation for ``account_id``; returns its id."""
        clan = self._need_active(clan_id)
        check_text(message, CLAN_TEXT_MAX, "an invitation message")
        account = self._accounts.need(account_id)
        self._check_namespace(clan, account)
        if account_id in self._members[clan_id]:
            raise Conflict(f"account {account_id} is already a member of clan {clan_id}")
        if self.pending_invitation(clan_id, account_id) is not None:
            raise AlreadyExists(f"account {account_id} already has a pending invitation to clan {clan_id}")
        created = self._now(now)
        inv_id = self._store.new_id("clan_invitations")
        change = Change()
        change.sql(
            "INSERT INTO clan_invitations (id, clan_id, account_id, message, created, status)"
            " VALUES (?, ?, ?, ?, ?, 0)",
            inv_id,
            clan_id,
            account_id,
            message,
            created,
        )
        self._store.commit(change)
        self._add_invitation(
            ClanInvitation(
                id=inv_id, clan_id=clan_id, account_id=account_id, message=message, created=created
            )
        )
        return inv_id

    def respond(
        self, invitation_id: int, response: InvitationStatus, message: str = "", *, now: float | None = None
    ) -> ClanInvitation:
        """Settle a pending invitation: ACCEPTED (joins the clan), DECLINED or REVOKED."""
        inv = self._invitations.get(invitation_id)
        if inv is None:
            raise NotFound(f"no clan invitation {invitation_id}")
        response = coerce(InvitationStatus, response)
        if response not in _ANSWERS:
            raise InvalidValue(f"{response!r} is not an answer to an invitation")
        check_text(message, CLAN_TEXT_MAX, "a response message")
        if not inv.pending:
            raise Conflict(f"clan invitation {invitation_id} was already answered ({inv.status.name})")
        when = self._now(now)
        change = Change()
        if response == InvitationStatus.ACCEPT:
            clan = self._need_active(inv.clan_id)
            self._check_joinable(clan, inv.account_id)
            self._plan_join(clan, inv.account_id, when, change)
        settled = _replace(inv, status=response, response=message, responded=when)
        change.sql(
            "UPDATE clan_invitations SET status = ?, response = ?, responded = ? WHERE id = ?",
            int(response),
            message,
            when,
            invitation_id,
        )
        change.then(lambda: self._invitations.__setitem__(invitation_id, settled))
        self._store.commit(change)
        return settled

    # -- writes: messages ----------------------------------------------------------------------

    def post_message(self, clan_id: int, author_id: int, text: str, *, now: float | None = None) -> int:
        self._need_active(clan_id)
        check_text(text, CLAN_TEXT_MAX, "a clan message")
        if author_id not in self._members[clan_id]:
            raise NotClanMember(f"account {author_id} is not a member of clan {clan_id}")
        posted = self._now(now)
        msg_id = self._store.new_id("clan_messages")
        change = Change()
        change.sql(
            "INSERT INTO clan_messages (id, clan_id, author_id, text, posted) VALUES (?, ?, ?, ?, ?)",
            msg_id,
            clan_id,
            author_id,
            text,
            posted,
        )
        self._store.commit(change)
        self._add_message(
            ClanMessage(id=msg_id, clan_id=clan_id, author_id=author_id, text=text, posted=posted)
        )
        return msg_id

    def edit_message(self, message_id: int, text: str, *, now: float | None = None) -> ClanMessage:
        msg = self._messages.get(message_id)
        if msg is None:
            raise NotFound(f"no clan message {message_id}")
        check_text(text, CLAN_TEXT_MAX, "a clan message")
        edited = self._now(now)
        change = Change()
        change.sql("UPDATE clan_messages SET text = ?, edited = ? WHERE id = ?", text, edited, message_id)
        self._store.commit(change)
        updated = self._messages[message_id] = _replace(msg, text=text, edited=edited)
        return updated

    def delete_message(self, message_id: int) -> bool:
        msg = self._messages.get(message_id)
        if msg is None:
            return False
        change = Change()
        change.sql("DELETE FROM clan_messages WHERE id = ?", message_id)
        self._store.commit(change)
        del self._messages[message_id]
        del self._msgs_by_clan[msg.clan_id][message_id]
        return True

    # -- loading -------------------------------------------------------------------------------

    def load(self, conn: sqlite3.Connection) -> None:
        for cid, ns, name, leader, created, status, stats, wide in conn.execute(
            "SELECT id, namespace, name, leader_id, created, status, stats, wide FROM clans ORDER BY id"
        ):
            clan = Clan(
                id=cid,
                namespace=ns,
                name=name,
                leader_id=leader,
                created=created,
                status=ClanStatus(status),
                stats=check_blob(stats),
                wide=WIDE.unpack(wide),
            )
            self._clans[cid] = clan
            self._members[cid] = {}
            if clan.active:
                self._by_name[(ns, name_key(name))] = cid
        for aid, cid, joined in conn.execute(
            "SELECT account_id, clan_id, joined FROM clan_members ORDER BY joined, account_id"
        ):
            self._add_member(ClanMember(clan_id=cid, account_id=aid, joined=joined))
        for iid, cid, aid, message, created, status, response, responded in conn.execute(
            "SELECT id, clan_id, account_id, message, created, status, response, responded"
            " FROM clan_invitations ORDER BY id"
        ):
            self._add_invitation(
                ClanInvitation(
                    id=iid,
                    clan_id=cid,
                    account_id=aid,
                    message=message,
                    created=created,
                    status=InvitationStatus(status),
                    response=response,
                    responded=responded,
                )
            )
        for mid, cid, author, text, posted, edited in conn.execute(
            "SELECT id, clan_id, author_id, text, posted, edited FROM clan_messages ORDER BY id"
        ):
            self._add_message(
                ClanMessage(id=mid, clan_id=cid, author_id=author, text=text, posted=posted, edited=edited)
            )

    # -- planning (SQL + memory effects, shared by the public writes and account deletion) ----

    def _plan_join(self, clan: Clan, account_id: int, when: float, change: Change) -> ClanMember:
        member = ClanMember(clan_id=clan.id, account_id=account_id, joined=when)
        change.sql(
            "INSERT INTO clan_members (account_id, clan_id, joined) VALUES (?, ?, ?)",
            account_id,
            clan.id,
            when,
        )
        change.then(lambda: self._add_member(member))
        return member

    def _plan_leave(self, clan: Clan, account_id: int, when: float, change: Change) -> None:
        change.sql("DELETE FROM clan_members WHERE account_id = ?", account_id)
        change.then(lambda: self._remove_member(clan.id, account_id))
        if clan.leader_id != account_id:
            return
        rest = [m for m in self._members[clan.id].values() if m.account_id != account_id]
        if rest:
            heir = min(rest, key=lambda m: (m.joined, m.account_id))
            self._plan_leader(clan, heir.account_id, change)
        else:
            self._plan_disband(clan, when, change)

    def _plan_leader(self, clan: Clan, new_leader_id: int, change: Change) -> None:
        change.sql("UPDATE clans SET leader_id = ? WHERE id = ?", new_leader_id, clan.id)
        change.then(lambda: self._set_clan(_replace(self._clans[clan.id], leader_id=new_leader_id)))

    def _plan_disband(self, clan: Clan, when: float, change: Change) -> None:
        change.sql("UPDATE clans SET status = ? WHERE id = ?", int(ClanStatus.DISBANDED), clan.id)
        change.sql("DELETE FROM clan_members WHERE clan_id = ?", clan.id)
        change.sql(
            "UPDATE clan_invitations SET status = ?, responded = ? WHERE clan_id = ? AND status = ?",
            int(InvitationStatus.REVOKED),
            when,
            clan.id,
            int(InvitationStatus.UNDECIDED),
        )
        change.sql("DELETE FROM clan_messages WHERE clan_id = ?", clan.id)

        def apply() -> None:
            current = self._clans[clan.id]
            self._set_clan(_replace(current, status=ClanStatus.DISBANDED))
            del self._by_name[(current.namespace, name_key(current.name))]
            for account_id in list(self._members[clan.id]):
                self._remove_member(clan.id, account_id)
            for inv_id in self._inv_by_clan.get(clan.id, ()):
                inv = self._invitations[inv_id]
                if inv.pending:
                    self._invitations[inv_id] = _replace(inv, status=InvitationStatus.REVOKED, responded=when)
            for msg_id in self._msgs_by_clan.pop(clan.id, {}):
                del self._messages[msg_id]
            self._rankings.invalidate(current.namespace)

        change.then(apply)

    def _account_deleted(self, account: Account, change: Change, now: float) -> None:
        clan_id = self._clan_of.get(account.id)
        if clan_id is not None:
            self._plan_leave(self._clans[clan_id], account.id, now, change)
        received = list(self._inv_by_account.get(account.id, ()))
        if received:
            change.sql("DELETE FROM clan_invitations WHERE account_id = ?", account.id)

            def forget() -> None:
                for inv_id in received:
                    inv = self._invitations.pop(inv_id)
                    del self._inv_by_clan[inv.clan_id][inv_id]
                self._inv_by_account.pop(account.id, None)

            change.then(forget)

    # -- internals -----------------------------------------------------------------------------

    def _need(self, clan_id: int) -> Clan:
        clan = self._clans.get(clan_id)
        if clan is None:
            raise NotFound(f"no clan {clan_id}")
        return clan

    def _need_active(self, clan_id: int) -> Clan:
        clan = self._need(clan_id)
        if not clan.active:
            raise Conflict(f"clan {clan_id} is disbanded")
        return clan

    def _check_clanless(self, account_id: int) -> None:
        if account_id in self._clan_of:
            raise AlreadyInClan(f"account {account_id} already belongs to clan {self._clan_of[account_id]}")

    def _check_namespace(self, clan: Clan, account: Account) -> None:
        if account.namespace != clan.namespace:
            raise InvalidValue(f"account {account.id} and clan {clan.id} are in different namespaces")

    def _check_joinable(self, clan: Clan, account_id: int) -> None:
        self._check_namespace(clan, self._accounts.need(account_id))
        self._check_clanless(account_id)

    def _update(self, clan: Clan, assignments: str, params: tuple[object, ...], **fields: object) -> Clan:
        change = Change()
        change.sql(f"UPDATE clans SET {assignments} WHERE id = ?", *params, clan.id)
        self._store.commit(change)
        updated = _replace(clan, **fields)
        self._set_clan(updated)
        return updated

    def _set_clan(self, clan: Clan) -> None:
        self._clans[clan.id] = clan

    def _add_member(self, member: ClanMember) -> None:
        self._members.setdefault(member.clan_id, {})[member.account_id] = member
        self._clan_of[member.account_id] = member.clan_id

    def _remove_member(self, clan_id: int, account_id: int) -> None:
        self._members[clan_id].pop(account_id, None)
        if self._clan_of.get(account_id) == clan_id:
            del self._clan_of[account_id]

    def _add_invitation(self, inv: ClanInvitation) -> None:
        self._invitations[inv.id] = inv
        self._inv_by_account.setdefault(inv.account_id, {})[inv.id] = None
        self._inv_by_clan.setdefault(inv.clan_id, {})[inv.id] = None

    def _add_message(self, msg: ClanMessage) -> None:
        self._messages[msg.id] = msg
        self._msgs_by_clan.setdefault(msg.clan_id, {})[msg.id] = None

    def _select_invitations(self, ids: dict[int, None], pending_only: bool) -> list[ClanInvitation]:
        invs = (self._invitations[i] for i in sorted(ids))
        return [inv for inv in invs if inv.pending or not pending_only]

    def _ranking(self, namespace: str, index: int, descending: bool) -> Ranking:
        check_index(index, WIDE_COUNT)
        items = ((c.id, c.wide[index]) for c in self._clans.values() if c.namespace == namespace and c.active)
        return self._rankings.get(namespace, (index,), descending, items)

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now
