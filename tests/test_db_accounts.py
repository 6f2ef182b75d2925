"""Accounts: names, passwords, stats, ladders (clank_lan.db.accounts)."""

from __future__ import annotations

import sqlite3

import pytest
import trio

from clank_lan.db import AlreadyExists, Database, InvalidValue, LadderEntry, NotFound
from clank_lan.db.passwords import ITERATIONS, PasswordHash
from clank_lan.db.records import LADDER, STATS_SIZE, WIDE, ZERO_STATS, ZERO_WIDE
from tests.conftest import SHIPPED_ITERATIONS


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["file", "ephemeral"])
def db(request, tmp_path):
    d = Database.open(tmp_path, ephemeral=request.param == "ephemeral", clock=Clock())
    yield d
    d.close()


def reopen(db: Database) -> Database:
    """The same data as seen by a fresh process (ephemeral: the same object)."""
    if db.path is None:
        return db
    db.close()
    return Database.open(db.path.parent)


def test_sizes_match_the_protocol():
    assert STATS_SIZE == 256
    assert LADDER.size == 15 * 4
    assert WIDE.size == 100 * 4
    assert len(ZERO_WIDE) == 100


def test_create_and_look_up(db):
    a = db.accounts.create("uya", "Ratchet", "pw", now=5.0)
    b = db.accounts.create("uya", "Clank", "pw")
    assert b > a > 0
    acc = db.accounts.get(a)
    assert (acc.id, acc.namespace, acc.name, acc.created) == (a, "uya", "Ratchet", 5.0)
    assert acc.stats == ZERO_STATS and acc.last_login is None and not acc.banned
    assert db.accounts.get(b).created == 1_700_000_000.0  # the injected clock
    assert db.accounts.by_name("uya", "rAtChEt") is acc
    assert db.accounts.by_name("dl", "Ratchet") is None
    assert db.accounts.get(999) is None
    assert [x.id for x in db.accounts.listing("uya")] == [a, b]
    assert db.accounts.count() == 2 and db.accounts.count("dl") == 0


def test_names_unique_case_insensitively_per_namespace(db):
    db.accounts.create("uya", "Qwark", "pw")
    with pytest.raises(AlreadyExists):
        db.accounts.create("uya", "QWARK", "other")
    other = db.accounts.create("dl", "qwark", "pw")  # another title family may reuse it
    assert db.accounts.by_name("dl", "Qwark").id == other
    assert db.accounts.count() == 2


@pytest.mark.parametrize("name", ["", " lead", "trail ", "x" * 32, "tab\there", "nul\0", 7])
def test_bad_names_rejected(db, name):
    with pytest.raises(InvalidValue):
        db.accounts.create("uya", name, "pw")
    assert db.accounts.count() == 0


def test_bad_namespace_rejected(db):
    with pytest.raises(InvalidValue):
        db.accounts.create("", "Name", "pw")


def test_longest_name_accepted(db):
    aid = db.accounts.create("uya", "n" * 31, "pw")
    assert db.accounts.get(aid).name == "n" * 31


def test_verify_password(db):
    aid = db.accounts.create("uya", "Ratchet", "s3cret")
    assert db.accounts.verify_password(aid, "s3cret")
    assert db.accounts.verify_password(aid, b"s3cret")
    assert not db.accounts.verify_password(aid, "S3CRET")
    assert not db.accounts.verify_password(aid, "")
    assert not db.accounts.verify_password(aid + 1, "s3cret")


def test_empty_password_is_a_password(db):
    aid = db.accounts.create("uya", "Guest", "")
    assert db.accounts.verify_password(aid, "")
    assert not db.accounts.verify_password(aid, "x")


def test_passwords_are_salted_hashes_on_disk(tmp_path):
    db = Database.open(tmp_path)
    a = db.accounts.create("uya", "A", "same password")
    b = db.accounts.create("uya", "B", "same password")
    db.close()
    conn = sqlite3.connect(tmp_path / "clank-lan.sqlite3")
    stored = dict(conn.execute("SELECT id, password FROM accounts"))
    conn.close()
    assert stored[a] != stored[b]
    for text in stored.values():
        assert "same password" not in text
        parsed = PasswordHash.decode(text)
        assert parsed.iterations == ITERATIONS and len(parsed.salt) == 16 and len(parsed.digest) == 32
        assert SHIPPED_ITERATIONS == 4000  # what an appliance stores (this suite hashes with fewer)
        assert parsed.verify("same password")


def test_injected_rng_gives_the_salt(tmp_path):
    db = Database.open(tmp_path, rng=lambda n: b"\x01" * n)
    db.accounts.create("uya", "A", "pw")
    db.accounts.create("uya", "B", "pw")
    db.close()
    conn = sqlite3.connect(tmp_path / "clank-lan.sqlite3")
    (a, b) = [PasswordHash.decode(r[0]) for r in conn.execute("SELECT password FROM accounts")]
    conn.close()
    assert a.salt == b.salt == b"\x01" * 16 and a.digest == b.digest


def test_password_hash_encoding():
    h = PasswordHash.make("pw", b"saltsalt", iterations=10)
    again = PasswordHash.decode(h.encode())
    assert (again.iterations, again.salt, again.digest) == (10, b"saltsalt", h.digest)
    assert again.verify("pw") and not again.verify("pW")
    with pytest.raises(ValueError):
        PasswordHash.decode("md5$1$00$00")
    with pytest.raises(ValueError):
        PasswordHash.decode("not a hash")
    with pytest.raises(InvalidValue):
        PasswordHash.make("pw", b"short")


def test_set_password(db):
    aid = db.accounts.create("uya", "Ratchet", "old")
    db.accounts.set_password(aid, "new")
    db = reopen(db)
    assert db.accounts.verify_password(aid, "new")
    assert not db.accounts.verify_password(aid, "old")
    with pytest.raises(NotFound):
        db.accounts.set_password(aid + 100, "x")
    db.close()


def test_delete_frees_the_name_but_never_the_id(db):
    a = db.accounts.create("uya", "Ratchet", "pw")
    b = db.accounts.create("uya", "Clank", "pw")
    assert db.accounts.delete(b)
    assert not db.accounts.delete(b)
    assert db.accounts.get(b) is None and db.accounts.by_name("uya", "clank") is None
    assert not db.accounts.verify_password(b, "pw")
    db = reopen(db)
    c = db.accounts.create("uya", "Clank", "pw")
    assert c > b > a
    db.close()


def test_record_login_and_banned_flag(db):
    aid = db.accounts.create("uya", "Ratchet", "pw")
    acc = db.accounts.record_login(aid, ip="192.168.1.20", now=100.0)
    assert (acc.last_login, acc.last_ip) == (100.0, "192.168.1.20")
    db.accounts.record_login(aid, now=200.0)  # no ip: keeps the last one
    db.accounts.set_banned(aid, True)
    db = reopen(db)
    acc = db.accounts.get(aid)
    assert (acc.last_login, acc.last_ip, acc.banned) == (200.0, "192.168.1.20", True)
    assert not db.accounts.set_banned(aid, False).banned
    db.close()


def test_stats_blob(db):
    aid = db.accounts.create("uya", "Ratchet", "pw")
    blob = bytes(range(256))
    assert db.accounts.set_stats(aid, blob).stats == blob
    db.accounts.set_stats(aid, bytearray(blob[::-1]))
    for bad in (b"", bytes(255), bytes(257), "x" * 256):
        with pytest.raises(InvalidValue):
            db.accounts.set_stats(aid, bad)
    with pytest.raises(NotFound):
        db.accounts.set_stats(aid + 1, blob)
    db = reopen(db)
    assert db.accounts.get(aid).stats == blob[::-1]
    db.close()


def test_ladder_and_wide_stats(db):
    aid = db.accounts.create("uya", "Ratchet", "pw")
    ladder = [2**31 - 1, -(2**31), *range(13)]
    wide = list(range(-50, 50))
    db.accounts.set_ladder_stats(aid, ladder)
    db.accounts.set_wide_stats(aid, wide)
    with pytest.raises(InvalidValue):
        db.accounts.set_ladder_stats(aid, [0] * 14)
    with pytest.raises(InvalidValue):
        db.accounts.set_wide_stats(aid, [0] * 101)
    with pytest.raises(InvalidValue):
        db.accounts.set_wide_stats(aid, [2**31] + [0] * 99)
    with pytest.raises(InvalidValue):
        db.accounts.set_ladder_stats(aid, [1.5] + [0] * 14)
    db = reopen(db)
    acc = db.accounts.get(aid)
    assert acc.ladder == tuple(ladder) and acc.wide == tuple(wide)
    db.close()


def _wide(first: int) -> list[int]:
    return [first] + [0] * 99


def test_ladder_ranking_with_ties(db):
    ids = [db.accounts.create("uya", f"P{i}", "pw") for i in range(5)]
    for aid, score in zip(ids, [10, 30, 20, 30, 5], strict=True):
        db.accounts.set_wide_stats(aid, _wide(score))
    db.accounts.create("dl", "Elsewhere", "pw")  # other namespaces never rank here
    page = db.accounts.ladder_page("uya", 0, start=1, count=10)
    assert page == [
        LadderEntry(1, ids[1], 30),
        LadderEntry(1, ids[3], 30),
        LadderEntry(3, ids[2], 20),
        LadderEntry(4, ids[0], 10),
        LadderEntry(5, ids[4], 5),
    ]
    assert db.accounts.ladder_page("uya", 0, start=2, count=2) == page[1:3]
    assert db.accounts.ladder_page("uya", 0, start=6, count=3) == []
    assert db.accounts.ladder_position(ids[3], 0) == (1, 5)
    assert db.accounts.ladder_position(ids[4], 0) == (5, 5)
    asc = db.accounts.ladder_page("uya", 0, count=3, descending=False)
    assert [(e.position, e.id) for e in asc] == [(1, ids[4]), (2, ids[0]), (3, ids[2])]
    assert db.accounts.ladder_position(ids[1], 0, descending=False) == (4, 5)
    assert db.accounts.total_rankings("uya") == 5


def test_ladder_follows_stat_changes(db):
    a = db.accounts.create("uya", "A", "pw")
    b = db.accounts.create("uya", "B", "pw")
    db.accounts.set_wide_stats(a, _wide(1))
    assert db.accounts.ladder_position(a, 0) == (1, 2)
    db.accounts.set_wide_stats(b, _wide(2))
    assert db.accounts.ladder_position(a, 0) == (2, 2)
    c = db.accounts.create("uya", "C", "pw")
    db.accounts.set_wide_stats(c, _wide(3))
    assert db.accounts.ladder_position(a, 0) == (3, 3)
    db.accounts.delete(c)
    assert db.accounts.ladder_position(a, 0) == (2, 2)


def test_basic_ladder_index_and_bounds(db):
    a = db.accounts.create("uya", "A", "pw")
    b = db.accounts.create("uya", "B", "pw")
    db.accounts.set_ladder_stats(a, [0] * 14 + [9])
    assert db.accounts.ladder_position(a, 14, wide=False) == (1, 2)
    assert db.accounts.ladder_position(b, 14, wide=False) == (2, 2)
    for index, wide in ((15, False), (100, True), (-1, True)):
        with pytest.raises(InvalidValue):
            db.accounts.ladder_position(a, index, wide=wide)
    with pytest.raises(ValueError):
        db.accounts.ladder_page("uya", 0, start=0)
    with pytest.raises(NotFound):
        db.accounts.ladder_position(999, 0)


async def test_verify_password_in_a_worker_thread(db):
    aid = db.accounts.create("uya", "Ratchet", "pw")
    results = []

    async def check(password: str) -> None:
        results.append(await trio.to_thread.run_sync(db.accounts.verify_password, aid, password))

    async with trio.open_nursery() as nursery:
        for pw in ("pw", "nope", "pw", "PW"):
            nursery.start_soon(check, pw)
    assert sorted(results) == [False, False, True, True]


async def test_tasks_taking_turns(db):
    """Trio tasks interleaving at checkpoints see consistent, unique ids."""
    created: list[int] = []

    async def player(n: int) -> None:
        for i in range(5):
            created.append(db.accounts.create("uya", f"t{n}x{i}", "pw"))
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        for n in range(6):
            nursery.start_soon(player, n)
    assert len(set(created)) == 30 == db.accounts.count("uya")
    db = reopen(db)
    assert sorted(a.id for a in db.accounts.listing()) == sorted(created)
    db.close()


def test_a_verified_password_is_remembered_but_a_wrong_one_never_passes(monkeypatch):
    from clank_lan.db.database import Database
    from clank_lan.db.passwords import PasswordHash

    db = Database.open(None, ephemeral=True)
    acct = db.accounts.create("uya", "speedy", "right")
    slow_checks = []
    real = PasswordHash.verify
    monkeypatch.setattr(PasswordHash, "verify", lambda self, pw: slow_checks.append(pw) or real(self, pw))
    assert db.accounts.verify_password(acct, "right")  # remembered from create: no PBKDF2
    assert slow_checks == []
    assert not db.accounts.verify_password(acct, "wrong")
    assert slow_checks == ["wrong"]
    db.accounts.set_password(acct, "new")
    assert not db.accounts.verify_password(acct, "right")
    assert db.accounts.verify_password(acct, "new")
    assert slow_checks == ["wrong", "right"]
