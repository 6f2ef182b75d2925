"""Buddy lists with confirmation, and ignore lists (clank_lan.db.social)."""

from __future__ import annotations

import pytest

from clank_lan.db import AlreadyExists, Buddy, BuddyRequest, Database, Ignore, InvalidValue, NotFound


@pytest.fixture(params=["file", "ephemeral"])
def db(request, tmp_path):
    d = Database.open(tmp_path, ephemeral=request.param == "ephemeral", clock=lambda: 42.0)
    yield d
    d.close()


def reopen(db: Database) -> Database:
    if db.path is None:
        return db
    db.close()
    return Database.open(db.path.parent)


@pytest.fixture
def trio_(db):
    """Three accounts of one namespace."""
    return [db.accounts.create("uya", n, "pw") for n in ("Ratchet", "Clank", "Qwark")]


def test_direct_add_and_remove(db, trio_):
    r, c, q = trio_
    assert db.buddies.add(r, c, now=1.0) == Buddy(r, c, 1.0)
    db.buddies.add(r, q)
    assert [b.buddy_id for b in db.buddies.of(r)] == [c, q]
    assert db.buddies.is_buddy(r, c) and not db.buddies.is_buddy(c, r)  # one direction only
    with pytest.raises(AlreadyExists):
        db.buddies.add(r, c)
    db = reopen(db)
    assert db.buddies.of(r) == [Buddy(r, c, 1.0), Buddy(r, q, 42.0)]
    assert db.buddies.remove(r, c) and not db.buddies.remove(r, c)
    db = reopen(db)
    assert [b.buddy_id for b in db.buddies.of(r)] == [q]
    db.close()


def test_pair_rules(db, trio_):
    r, _c, _q = trio_
    other = db.accounts.create("dl", "Other", "pw")
    with pytest.raises(InvalidValue):
        db.buddies.add(r, r)
    with pytest.raises(InvalidValue):
        db.buddies.add(r, other)
    with pytest.raises(NotFound):
        db.buddies.add(r, 999)
    with pytest.raises(InvalidValue):
        db.ignores.add(r, other)
    with pytest.raises(NotFound):
        db.buddies.request(999, r)


def test_symmetric_request_accepted(db, trio_):
    r, c, _q = trio_
    req = db.buddies.request(r, c, symmetric=True, now=5.0)
    assert req == BuddyRequest(r, c, True, 5.0)
    assert db.buddies.requests_for(c) == [req] and db.buddies.requests_from(r) == [req]
    assert db.buddies.of(r) == []  # nothing until confirmed
    with pytest.raises(AlreadyExists):
        db.buddies.request(r, c)
    db = reopen(db)
    assert db.buddies.requests_for(c) == [req]
    added = db.buddies.respond(r, c, accept=True, now=6.0)
    assert added == [Buddy(r, c, 6.0), Buddy(c, r, 6.0)]
    assert db.buddies.requests_for(c) == []
    db = reopen(db)
    assert db.buddies.is_buddy(r, c) and db.buddies.is_buddy(c, r)
    assert db.buddies.requests_from(r) == []
    db.close()


def test_single_request_accepted_and_declined(db, trio_):
    r, c, q = trio_
    db.buddies.request(r, c)
    assert db.buddies.respond(r, c, accept=True) == [Buddy(r, c, 42.0)]
    assert not db.buddies.is_buddy(c, r)
    db.buddies.request(q, r)
    assert db.buddies.respond(q, r, accept=False) == []
    assert db.buddies.of(q) == [] and db.buddies.requests_for(r) == []
    with pytest.raises(NotFound):
        db.buddies.respond(q, r, accept=True)
    # a symmetric request between one-way buddies completes the other direction only
    db.buddies.request(r, c, symmetric=True)
    assert db.buddies.respond(r, c, accept=True) == [Buddy(c, r, 42.0)]
    with pytest.raises(AlreadyExists):
        db.buddies.request(c, r, symmetric=True)


def test_ignores(db, trio_):
    r, c, q = trio_
    assert db.ignores.add(r, c, now=3.0) == Ignore(r, c, 3.0)
    db.ignores.add(r, q)
    with pytest.raises(AlreadyExists):
        db.ignores.add(r, c)
    with pytest.raises(InvalidValue):
        db.ignores.add(r, r)
    assert db.ignores.is_ignoring(r, c) and not db.ignores.is_ignoring(c, r)
    db = reopen(db)
    assert [i.ignored_id for i in db.ignores.of(r)] == [c, q]
    assert db.ignores.remove(r, c) and not db.ignores.remove(r, c)
    db = reopen(db)
    assert db.ignores.of(r) == [Ignore(r, q, 42.0)]
    db.close()


def test_deleting_an_account_removes_its_relations(db, trio_):
    r, c, q = trio_
    db.buddies.add(r, c)
    db.buddies.add(q, r)
    db.buddies.add(q, c)
    db.buddies.request(r, q)
    db.buddies.request(c, r)
    db.ignores.add(r, q)
    db.ignores.add(q, r)
    db.ignores.add(c, q)
    db.accounts.delete(r)
    for view in (db, reopen(db)):
        assert view.buddies.of(c) == [] and view.buddies.of(q) == [Buddy(q, c, 42.0)]
        assert view.buddies.requests_for(q) == [] and view.buddies.requests_from(c) == []
        assert view.ignores.of(q) == [] and view.ignores.of(c) == [Ignore(c, q, 42.0)]
        db = view
    db.close()
