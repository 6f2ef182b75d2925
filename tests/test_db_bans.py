"""Bans, announcements and policies (clank_lan.db.bans, clank_lan.db.texts)."""

from __future__ import annotations

import pytest

from clank_lan.db import GLOBAL, BanKind, Database, InvalidValue, NotFound, PolicyKind


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["file", "ephemeral"])
def db(request, tmp_path, clock):
    d = Database.open(tmp_path, ephemeral=request.param == "ephemeral", clock=clock)
    yield d
    d.close()


def reopen(db: Database, clock) -> Database:
    if db.path is None:
        return db
    db.close()
    return Database.open(db.path.parent, clock=clock)


def test_account_ban_with_expiry(db, clock):
    aid = db.accounts.create("uya", "Cheater", "pw")
    other = db.accounts.create("uya", "Honest", "pw")
    ban = db.bans.add(BanKind.ACCOUNT, aid, reason="aimbot", expires=2000.0)
    assert (ban.kind, ban.target, ban.reason, ban.created, ban.expires) == (
        BanKind.ACCOUNT,
        str(aid),
        "aimbot",
        1000.0,
        2000.0,
    )
    assert db.bans.is_banned(account_id=aid)
    assert db.bans.find(account_id=aid) == ban
    assert not db.bans.is_banned(account_id=other)
    assert not db.bans.is_banned(account_id=aid, now=2000.0)  # expiry is exclusive
    clock.t = 1999.0
    db = reopen(db, clock)
    assert db.bans.is_banned(account_id=aid)
    clock.t = 2500.0
    assert not db.bans.is_banned(account_id=aid)
    assert db.bans.listing() == [] and db.bans.listing(include_expired=True) == [ban]
    assert db.bans.purge_expired() == 1 and db.bans.purge_expired() == 0
    db = reopen(db, clock)
    assert db.bans.listing(include_expired=True) == []
    db.close()


def test_account_flag_counts_as_banned(db):
    aid = db.accounts.create("uya", "Flagged", "pw")
    db.accounts.set_banned(aid, True)
    assert db.bans.is_banned(account_id=aid)
    assert db.bans.find(account_id=aid) is None  # no ban record, just the flag


def test_ip_bans(db, clock):
    net = db.bans.add(BanKind.IP, "192.168.5.77/24", reason="lan party crasher")
    one = db.bans.add(BanKind.IP, " 10.0.0.9 ")
    v6 = db.bans.add(BanKind.IP, "fd00::/8")
    assert (net.target, one.target, v6.target) == ("192.168.5.0/24", "10.0.0.9/32", "fd00::/8")
    assert db.bans.find(ip="192.168.5.1") == net
    assert db.bans.is_banned(ip="10.0.0.9") and not db.bans.is_banned(ip="10.0.0.10")
    assert db.bans.is_banned(ip="fd12::1") and not db.bans.is_banned(ip="192.168.6.1")
    with pytest.raises(InvalidValue):
        db.bans.is_banned(ip="not-an-ip")
    db = reopen(db, clock)
    assert db.bans.is_banned(ip="192.168.5.200")
    assert db.bans.remove(net.id) and not db.bans.remove(net.id)
    assert not db.bans.is_banned(ip="192.168.5.200")
    db.close()


def test_name_pattern_bans(db, clock):
    bad = db.accounts.create("uya", "xXSpammerXx", "pw")
    dl_bad = db.accounts.create("dl", "SPAMMER2", "pw")
    good = db.accounts.create("uya", "Ratchet", "pw")
    everywhere = db.bans.add(BanKind.NAME, "*spammer*")
    assert db.bans.find(account_id=bad) == everywhere
    assert db.bans.is_banned(account_id=dl_bad) and not db.bans.is_banned(account_id=good)
    db.bans.remove(everywhere.id)
    scoped = db.bans.add(BanKind.NAME, "spammer?", namespace="dl")
    assert db.bans.find(account_id=dl_bad) == scoped
    assert not db.bans.is_banned(account_id=bad)
    db = reopen(db, clock)
    assert db.bans.get(scoped.id) == scoped and db.bans.is_banned(account_id=dl_bad)
    db.close()


def test_machine_bans_and_combined_checks(db):
    aid = db.accounts.create("uya", "Ratchet", "pw")
    ban = db.bans.add(BanKind.MACHINE, "0123456789ABCDEF")
    assert ban.target == "0123456789abcdef"
    assert db.bans.is_banned(machine="0123456789abcdef") and db.bans.is_banned(machine="0123456789AbCdEf")
    assert not db.bans.is_banned(machine="fedcba9876543210")
    assert db.bans.find(account_id=aid, ip="1.2.3.4", machine="0123456789abcdef") == ban
    assert not db.bans.is_banned(account_id=aid, ip="1.2.3.4")
    assert not db.bans.is_banned()


def test_ban_validation(db):
    aid = db.accounts.create("uya", "Ratchet", "pw")
    with pytest.raises(NotFound):
        db.bans.add(BanKind.ACCOUNT, 999)
    for kind, target in (
        (BanKind.ACCOUNT, "abc"),
        (BanKind.IP, "300.1.1.1"),
        (BanKind.NAME, " "),
        ("x", "y"),
    ):
        with pytest.raises(InvalidValue):
            db.bans.add(kind, target)
    with pytest.raises(InvalidValue):
        db.bans.add(BanKind.ACCOUNT, aid, expires=999.0)  # already over
    with pytest.raises(InvalidValue):
        db.bans.add(BanKind.IP, "1.2.3.4", namespace="uya")
    assert db.bans.listing(include_expired=True) == []
    assert db.bans.add(BanKind.ACCOUNT, str(aid)).target == str(aid)
    with pytest.raises(NotFound):
        db.bans.need(999)


def test_announcements(db, clock):
    g1 = db.announcements.add("Server maintenance at 8pm")
    u1 = db.announcements.add("UYA tournament Saturday", namespace="uya", now=1500.0)
    d1 = db.announcements.add("DL patch 2", namespace="dl")
    assert g1.namespace == GLOBAL and u1.created == 1500.0
    assert db.announcements.for_namespace("uya") == [g1, u1]
    assert db.announcements.for_namespace("dl") == [g1, d1]
    assert db.announcements.for_namespace("jakx") == [g1]
    assert db.announcements.latest("uya") == u1
    assert db.announcements.listing() == [g1, u1, d1]
    db = reopen(db, clock)
    assert db.announcements.for_namespace("uya") == [g1, u1]
    assert db.announcements.delete(u1.id) and not db.announcements.delete(u1.id)
    assert db.announcements.latest("uya") == g1
    db.announcements.delete(g1.id)
    assert db.announcements.latest("uya") is None
    db = reopen(db, clock)
    assert db.announcements.listing() == [d1]
    db.close()


def test_policies_fall_back_to_global(db, clock):
    assert db.policies.get("uya") == ""
    db.policies.set("Be nice.")
    db.policies.set("UYA rules: no glitching.", namespace="uya")
    db.policies.set("We keep nothing.", kind=PolicyKind.PRIVACY)
    assert db.policies.get("uya") == "UYA rules: no glitching."
    assert db.policies.get("dl") == "Be nice."
    assert db.policies.get("uya", PolicyKind.PRIVACY) == "We keep nothing."
    db.policies.set("UYA rules v2.", namespace="uya")  # replaces
    db = reopen(db, clock)
    assert db.policies.get("uya") == "UYA rules v2."
    assert db.policies.listing() == {
        (GLOBAL, PolicyKind.USAGE): "Be nice.",
        ("uya", PolicyKind.USAGE): "UYA rules v2.",
        (GLOBAL, PolicyKind.PRIVACY): "We keep nothing.",
    }
    assert db.policies.delete(namespace="uya") and not db.policies.delete(namespace="uya")
    db = reopen(db, clock)
    assert db.policies.get("uya") == "Be nice."
    db.close()
