"""Clans: membership, invitations, leadership, messages, stats, ladder (clank_lan.db.clans)."""

from __future__ import annotations

import pytest

from clank_lan.db import (
    AlreadyExists,
    AlreadyInClan,
    ClanStatus,
    Conflict,
    Database,
    InvalidValue,
    InvitationStatus,
    LadderEntry,
    NotClanMember,
    NotFound,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0  # strictly increasing: join order is observable
        return self.t


@pytest.fixture(params=["file", "ephemeral"])
def db(request, tmp_path):
    d = Database.open(tmp_path, ephemeral=request.param == "ephemeral", clock=Clock())
    yield d
    d.close()


def reopen(db: Database) -> Database:
    if db.path is None:
        return db
    db.close()
    return Database.open(db.path.parent)


def players(db: Database, *names: str, namespace: str = "uya") -> list[int]:
    return [db.accounts.create(namespace, n, "pw") for n in names]


def test_create_and_look_up(db):
    (leader,) = players(db, "Leader")
    cid = db.clans.create("uya", "Q-Force", leader)
    clan = db.clans.get(cid)
    assert (clan.name, clan.namespace, clan.leader_id, clan.status) == (
        "Q-Force",
        "uya",
        leader,
        ClanStatus.ACTIVE,
    )
    assert clan.active and clan.stats == bytes(256)
    assert db.clans.by_name("uya", "q-force") is clan
    assert db.clans.by_name("dl", "Q-Force") is None
    assert [m.account_id for m in db.clans.members(cid)] == [leader]
    assert db.clans.of_account(leader) == [clan]
    assert db.clans.membership(leader).clan_id == cid
    assert db.clans.listing("uya") == [clan] and db.clans.listing("dl") == []
    db = reopen(db)
    assert db.clans.by_name("uya", "Q-FORCE").id == cid
    assert db.clans.of_account(leader)[0].id == cid
    db.close()


def test_create_rules(db):
    a, b, c = players(db, "A", "B", "C")
    (other_ns,) = players(db, "D", namespace="dl")
    cid = db.clans.create("uya", "Clan", a)
    with pytest.raises(AlreadyExists):
        db.clans.create("uya", "CLAN", b)
    with pytest.raises(AlreadyInClan):
        db.clans.create("uya", "Second", a)
    with pytest.raises(InvalidValue):
        db.clans.create("uya", "Third", other_ns)
    with pytest.raises(NotFound):
        db.clans.create("uya", "Fourth", 999)
    with pytest.raises(InvalidValue):
        db.clans.create("uya", "", c)
    assert db.clans.create("dl", "Clan", other_ns) != cid  # same name, other namespace
    assert [x.id for x in db.clans.listing("uya")] == [cid]


def test_invitation_accept(db):
    leader, joe = players(db, "Leader", "Joe")
    cid = db.clans.create("uya", "Clan", leader)
    inv_id = db.clans.invite(cid, joe, "come along", now=5000.0)
    inv = db.clans.invitation(inv_id)
    assert (inv.clan_id, inv.account_id, inv.message, inv.status, inv.created) == (
        cid,
        joe,
        "come along",
        InvitationStatus.UNDECIDED,
        5000.0,
    )
    assert db.clans.invitations_for(joe) == [inv]
    assert db.clans.invitations_sent(cid) == [inv]
    assert db.clans.pending_invitation(cid, joe) == inv
    settled = db.clans.respond(inv_id, InvitationStatus.ACCEPT, "thanks", now=6000.0)
    assert (settled.status, settled.response, settled.responded) == (
        InvitationStatus.ACCEPT,
        "thanks",
        6000.0,
    )
    assert [m.account_id for m in db.clans.members(cid)] == [leader, joe]
    assert db.clans.invitations_for(joe) == []
    db = reopen(db)
    assert db.clans.invitations_for(joe, pending_only=False)[0].status == InvitationStatus.ACCEPT
    assert db.clans.membership(joe).clan_id == cid
    with pytest.raises(Conflict):
        db.clans.respond(inv_id, InvitationStatus.DECLINE)
    db.close()


@pytest.mark.parametrize("answer", [InvitationStatus.DECLINE, InvitationStatus.REVOKED])
def test_invitation_decline_or_revoke(db, answer):
    leader, joe = players(db, "Leader", "Joe")
    cid = db.clans.create("uya", "Clan", leader)
    inv_id = db.clans.invite(cid, joe)
    assert db.clans.respond(inv_id, answer).status == answer
    assert db.clans.membership(joe) is None
    assert db.clans.invitations_sent(cid) == []
    assert db.clans.invitations_sent(cid, pending_only=False)[0].status == answer
    db.clans.invite(cid, joe)  # a settled invitation does not block a new one
    assert len(db.clans.invitations_for(joe)) == 1


def test_invitation_rules(db):
    leader, joe, ann = players(db, "Leader", "Joe", "Ann")
    (stranger,) = players(db, "Stranger", namespace="dl")
    cid = db.clans.create("uya", "Clan", leader)
    other = db.clans.create("uya", "Other", ann)
    inv_id = db.clans.invite(cid, joe)
    with pytest.raises(AlreadyExists):
        db.clans.invite(cid, joe)
    with pytest.raises(Conflict):
        db.clans.invite(cid, leader)  # already a member
    with pytest.raises(InvalidValue):
        db.clans.invite(cid, stranger)
    with pytest.raises(InvalidValue):
        db.clans.invite(cid, ann, "x" * 200)
    with pytest.raises(InvalidValue):
        db.clans.respond(inv_id, InvitationStatus.UNDECIDED)
    with pytest.raises(NotFound):
        db.clans.respond(999, InvitationStatus.ACCEPT)
    ann_inv = db.clans.invite(cid, ann)
    with pytest.raises(AlreadyInClan):
        db.clans.respond(ann_inv, InvitationStatus.ACCEPT)  # Ann leads "Other"
    assert db.clans.invitation(ann_inv).pending  # a refused accept changes nothing
    assert db.clans.membership(ann).clan_id == other


def test_join_and_leave(db):
    leader, joe = players(db, "Leader", "Joe")
    cid = db.clans.create("uya", "Clan", leader)
    db.clans.join(cid, joe)
    with pytest.raises(AlreadyInClan):
        db.clans.join(cid, joe)
    db.clans.leave(cid, joe)
    assert db.clans.membership(joe) is None and db.clans.of_account(joe) == []
    with pytest.raises(NotClanMember):
        db.clans.leave(cid, joe)
    db = reopen(db)
    assert [m.account_id for m in db.clans.members(cid)] == [leader]
    db.close()


def test_leader_leaving_hands_over_to_the_longest_member(db):
    leader, first, second = players(db, "Leader", "First", "Second")
    cid = db.clans.create("uya", "Clan", leader)
    db.clans.join(cid, first)
    db.clans.join(cid, second)
    clan = db.clans.leave(cid, leader)
    assert clan.leader_id == first and clan.active
    db = reopen(db)
    assert db.clans.get(cid).leader_id == first
    assert [m.account_id for m in db.clans.members(cid)] == [first, second]
    db.close()


def test_last_member_leaving_disbands(db):
    leader, joe = players(db, "Leader", "Joe")
    cid = db.clans.create("uya", "Clan", leader)
    inv_id = db.clans.invite(cid, joe)
    db.clans.post_message(cid, leader, "hello")
    clan = db.clans.leave(cid, leader)
    assert clan.status == ClanStatus.DISBANDED and not clan.active
    assert db.clans.invitation(inv_id).status == InvitationStatus.REVOKED
    assert db.clans.messages(cid) == [] and db.clans.members(cid) == []
    assert db.clans.by_name("uya", "Clan") is None
    db = reopen(db)
    assert db.clans.get(cid).status == ClanStatus.DISBANDED
    assert db.clans.invitation(inv_id).status == InvitationStatus.REVOKED
    assert db.clans.listing("uya") == [] and len(db.clans.listing("uya", include_disbanded=True)) == 1
    new = db.clans.create("uya", "clan", joe)  # the name is free again
    assert new != cid
    db.close()


def test_transfer_and_disband(db):
    leader, joe, ann = players(db, "Leader", "Joe", "Ann")
    cid = db.clans.create("uya", "Clan", leader)
    db.clans.join(cid, joe)
    with pytest.raises(NotClanMember):
        db.clans.transfer_leadership(cid, ann)
    assert db.clans.transfer_leadership(cid, joe).leader_id == joe
    clan = db.clans.disband(cid)
    assert clan.status == ClanStatus.DISBANDED
    assert db.clans.membership(joe) is None and db.clans.membership(leader) is None
    for op in (
        lambda: db.clans.disband(cid),
        lambda: db.clans.join(cid, ann),
        lambda: db.clans.invite(cid, ann),
        lambda: db.clans.post_message(cid, joe, "x"),
        lambda: db.clans.transfer_leadership(cid, joe),
    ):
        with pytest.raises(Conflict):
            op()
    with pytest.raises(NotFound):
        db.clans.disband(999)


def test_clan_stats_and_ladder(db):
    a, b, c = players(db, "A", "B", "C")
    ca, cb, cc = (db.clans.create("uya", n, x) for n, x in (("CA", a), ("CB", b), ("CC", c)))
    blob = bytes([7]) * 256
    assert db.clans.set_stats(ca, blob).stats == blob
    with pytest.raises(InvalidValue):
        db.clans.set_stats(ca, b"short")
    db.clans.set_wide_stats(ca, [5] + [0] * 99)
    db.clans.set_wide_stats(cb, [9] + [0] * 99)
    db.clans.set_wide_stats(cc, [5] + [0] * 99)
    assert db.clans.ladder_page("uya", 0) == [
        LadderEntry(1, cb, 9),
        LadderEntry(2, ca, 5),
        LadderEntry(2, cc, 5),
    ]
    assert db.clans.ladder_position(cc, 0) == (2, 3)
    db.clans.disband(cb)
    assert db.clans.ladder_position(cc, 0) == (1, 2)
    with pytest.raises(InvalidValue):
        db.clans.ladder_position(ca, 100)
    db = reopen(db)
    assert db.clans.get(ca).stats == blob and db.clans.get(ca).wide[0] == 5
    db.close()


def test_messages(db):
    leader, joe, outsider = players(db, "Leader", "Joe", "Out")
    cid = db.clans.create("uya", "Clan", leader)
    db.clans.join(cid, joe)
    m1 = db.clans.post_message(cid, leader, "first", now=1.0)
    m2 = db.clans.post_message(cid, joe, "second", now=2.0)
    m3 = db.clans.post_message(cid, leader, "third", now=3.0)
    assert [m.id for m in db.clans.messages(cid)] == [m3, m2, m1]
    assert [m.id for m in db.clans.messages(cid, start=1, count=1)] == [m2]
    with pytest.raises(NotClanMember):
        db.clans.post_message(cid, outsider, "hi")
    with pytest.raises(InvalidValue):
        db.clans.post_message(cid, leader, "x" * 200)
    edited = db.clans.edit_message(m2, "second, edited", now=9.0)
    assert (edited.text, edited.edited, edited.author_id) == ("second, edited", 9.0, joe)
    assert db.clans.delete_message(m1) and not db.clans.delete_message(m1)
    with pytest.raises(NotFound):
        db.clans.edit_message(m1, "gone")
    db.clans.leave(cid, joe)  # a message outlives its author's membership
    db = reopen(db)
    assert [(m.id, m.text) for m in db.clans.messages(cid)] == [(m3, "third"), (m2, "second, edited")]
    assert db.clans.message(m2).edited == 9.0
    db.close()


def test_deleting_accounts_updates_clans(db):
    leader, joe, ann = players(db, "Leader", "Joe", "Ann")
    cid = db.clans.create("uya", "Clan", leader)
    db.clans.join(cid, joe)
    inv_id = db.clans.invite(cid, ann)
    db.accounts.delete(leader)
    assert db.clans.get(cid).leader_id == joe
    db.accounts.delete(ann)
    assert db.clans.invitation(inv_id) is None and db.clans.invitations_sent(cid) == []
    db = reopen(db)
    assert db.clans.get(cid).leader_id == joe and db.clans.invitation(inv_id) is None
    db.accounts.delete(joe)
    assert db.clans.get(cid).status == ClanStatus.DISBANDED
    db = reopen(db)
    assert db.clans.get(cid).status == ClanStatus.DISBANDED and db.clans.members(cid) == []
    db.close()
