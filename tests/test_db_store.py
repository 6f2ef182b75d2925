"""Write-through durability, file handling and schema upgrades (clank_lan.db.store / schema)."""

from __future__ import annotations

import errno
import os
import random
import selectors
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from clank_lan.db import DB_FILENAME, BanKind, Database, DbError, DbFileError, DbWriteError, InvitationStatus
from clank_lan.db import store as store_module
from clank_lan.db.schema import MIGRATIONS, SchemaTooNew, migrate, schema_version
from clank_lan.db.store import LOCK_FILENAME

REPO = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


# -- persistence of everything ---------------------------------------------------------------------


def snapshot(db: Database) -> dict:
    """Everything the database holds, through its public reads."""
    accounts = db.accounts.listing()
    ids = [a.id for a in accounts]
    clans = db.clans.listing(include_disbanded=True)
    return {
        "accounts": accounts,
        "passwords": {a: db.accounts.verify_password(a, f"pw{a}") for a in ids},
        "clans": clans,
        "members": {c.id: db.clans.members(c.id) for c in clans},
        "invitations": {a: db.clans.invitations_for(a, pending_only=False) for a in ids},
        "messages": {c.id: db.clans.messages(c.id) for c in clans},
        "buddies": {a: db.buddies.of(a) for a in ids},
        "requests": {a: db.buddies.requests_for(a) for a in ids},
        "ignores": {a: db.ignores.of(a) for a in ids},
        "bans": db.bans.listing(include_expired=True),
        "announcements": db.announcements.listing(),
        "policies": db.policies.listing(),
    }


def churn(db: Database, seed: int, steps: int) -> int:
    """Random operations over every table; returns how many succeeded (rule violations are expected)."""
    rnd = random.Random(seed)
    ok = 0

    def acct() -> int:
        accounts = db.accounts.listing()
        return rnd.choice(accounts).id if accounts else 0

    def clan() -> int:
        clans = db.clans.listing(include_disbanded=rnd.random() < 0.1)
        return rnd.choice(clans).id if clans else 0

    def new_account() -> None:
        aid = db.accounts.create(rnd.choice(["uya", "uya", "uya", "dl"]), f"p{rnd.randrange(60)}", "tmp")
        db.accounts.set_password(aid, f"pw{aid}")

    def member_posts() -> None:
        cid = clan()
        members = db.clans.members(cid)
        if members:
            db.clans.post_message(cid, rnd.choice(members).account_id, "news for members")

    ops = [
        new_account,
        new_account,
        lambda: db.accounts.set_stats(acct(), rnd.randbytes(256)),
        lambda: db.accounts.set_wide_stats(acct(), [rnd.randrange(-99, 99) for _ in range(100)]),
        lambda: db.accounts.set_ladder_stats(acct(), [rnd.randrange(1000) for _ in range(15)]),
        lambda: db.accounts.record_login(acct(), ip=f"10.0.0.{rnd.randrange(256)}"),
        lambda: db.accounts.set_banned(acct(), rnd.random() < 0.5),
        lambda: rnd.random() < 0.3 and db.accounts.delete(acct()),
        lambda: db.clans.create(rnd.choice(["uya", "dl"]), f"c{rnd.randrange(10)}", acct()),
        lambda: db.clans.create("uya", f"c{rnd.randrange(10)}", acct()),
        lambda: db.clans.join(clan(), acct()),
        lambda: db.clans.join(clan(), acct()),
        lambda: db.clans.join(clan(), acct()),
        lambda: db.clans.leave(clan(), acct()),
        lambda: db.clans.respond(rnd.randrange(1, 40), 1),
        lambda: db.clans.invite(clan(), acct(), "join"),
        lambda: db.clans.respond(rnd.randrange(1, 40), rnd.choice([1, 2, 3]), "ok"),
        lambda: db.clans.post_message(clan(), acct(), "msg"),
        member_posts,
        lambda: db.clans.edit_message(rnd.randrange(1, 30), "edited"),
        lambda: db.clans.delete_message(rnd.randrange(1, 30)),
        lambda: db.clans.set_stats(clan(), rnd.randbytes(256)),
        lambda: rnd.random() < 0.3 and db.clans.disband(clan()),
        lambda: db.buddies.add(acct(), acct()),
        lambda: db.buddies.add(acct(), acct()),
        lambda: db.buddies.remove(acct(), acct()),
        lambda: db.buddies.request(acct(), acct(), symmetric=rnd.random() < 0.5),
        lambda: db.buddies.respond(acct(), acct(), accept=rnd.random() < 0.7),
        lambda: db.ignores.add(acct(), acct()),
        lambda: db.ignores.add(acct(), acct()),
        lambda: db.ignores.remove(acct(), acct()),
        lambda: db.bans.add(BanKind.IP, f"10.0.{rnd.randrange(4)}.0/24", expires=rnd.choice([None, 5000.0])),
        lambda: db.bans.remove(rnd.randrange(1, 10)),
        lambda: db.announcements.add(f"news {rnd.random()}", namespace=rnd.choice(["", "uya"])),
        lambda: db.announcements.delete(rnd.randrange(1, 10)),
        lambda: db.policies.set(f"policy {rnd.random()}", namespace=rnd.choice(["", "dl"])),
    ]
    for _ in range(steps):
        try:
            rnd.choice(ops)()
            ok += 1
        except DbError:
            pass
    return ok


def test_everything_survives_close_and_reopen(tmp_path):
    db = Database.open(tmp_path, clock=Clock())
    ok = churn(db, seed=7, steps=600)
    assert ok > 250  # most steps changed something
    before = snapshot(db)
    assert len(before["accounts"]) > 10 and before["clans"] and before["bans"]
    for table in ("members", "invitations", "messages", "buddies", "requests", "ignores"):
        assert any(before[table].values()), table
    db.close()
    db = Database.open(tmp_path)
    assert snapshot(db) == before
    db.close()


def test_ephemeral_behaves_like_file_backed(tmp_path):
    disk = Database.open(tmp_path / "disk", clock=Clock())
    memory = Database.open(None, ephemeral=True, clock=Clock())
    assert churn(disk, seed=3, steps=400) == churn(memory, seed=3, steps=400)
    assert snapshot(disk) == snapshot(memory)
    disk.close()
    memory.close()


def test_ephemeral_touches_no_disk(tmp_path):
    db = Database.open(tmp_path, ephemeral=True, clock=Clock())
    assert churn(db, seed=1, steps=200) > 50
    assert db.ephemeral and db.path is None
    db.close()
    assert list(tmp_path.iterdir()) == []


def test_data_dir_required_unless_ephemeral():
    with pytest.raises(ValueError):
        Database.open(None)


def test_file_mode_and_pragmas(tmp_path):
    db = Database.open(tmp_path / "new" / "dir")
    assert db.path == tmp_path / "new" / "dir" / DB_FILENAME and not db.ephemeral
    conn = db._store.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # never inside a commit
    assert (tmp_path / "new" / "dir" / LOCK_FILENAME).exists()
    db.close()
    assert not (tmp_path / "new" / "dir" / (DB_FILENAME + "-wal")).exists()  # checkpointed on close


def _wal_pages(data_dir: Path) -> int:
    """Frames the WAL file has room for (it never shrinks until a checkpoint restarts it)."""
    return (data_dir / (DB_FILENAME + "-wal")).stat().st_size // 4096


def test_commits_never_checkpoint_and_checkpoint_copies_the_wal_into_the_file(tmp_path):
    """SQLite's automatic checkpoint (at 1000 pages, inside the commit: two fsyncs, 14-19 ms here,
    on the event loop) is off; ``checkpoint`` copies what was committed, and the WAL then starts
    over instead of growing."""
    db = Database.open(tmp_path)
    aid = db.accounts.create("uya", "Ratchet", "pw")
    assert db.take_unchecked() == 1 and db.take_unchecked() == 0
    for i in range(1500):
        db.accounts.set_stats(aid, bytes([i % 256]) * 256)
    assert db.take_unchecked() == 1500
    grown = _wal_pages(tmp_path)
    assert grown > 1500  # no commit checkpointed (an automatic one would have restarted at 1000)
    frames, copied = db.checkpoint()
    assert frames == copied > 1500  # every committed page is in the file now
    for i in range(100):
        db.accounts.set_stats(aid, bytes([i]) * 256)
    assert _wal_pages(tmp_path) == grown  # written from the start of the WAL again
    db.close()
    assert not (tmp_path / (DB_FILENAME + "-wal")).exists()  # both connections closed, checkpointed
    db = Database.open(tmp_path)
    assert db.accounts.get(aid).stats == bytes([99]) * 256
    db.close()


def test_commits_go_on_while_a_worker_thread_checkpoints(tmp_path):
    """The engine's checkpoints run in a worker thread while the event loop commits: neither
    waits for the other nor fails, and every write is there after a reopen."""
    db = Database.open(tmp_path)
    ids = [db.accounts.create("uya", f"player{i}", "pw") for i in range(20)]
    stop = threading.Event()
    errors: list[Exception] = []
    rounds = 0

    def checkpoints() -> None:
        nonlocal rounds
        while not stop.is_set():
            try:
                db.checkpoint()
            except Exception as exc:  # reported by the test
                errors.append(exc)
                return
            rounds += 1

    worker = threading.Thread(target=checkpoints)
    worker.start()
    try:
        for i in range(3000):
            db.accounts.set_stats(ids[i % 20], i.to_bytes(2, "little") * 128)
    finally:
        stop.set()
        worker.join(30)
    assert not errors and rounds >= 1
    db.close()
    db = Database.open(tmp_path)
    for k, aid in enumerate(ids):
        last = max(i for i in range(3000) if i % 20 == k)
        assert db.accounts.get(aid).stats == last.to_bytes(2, "little") * 128
    db.close()


def test_closed_database_refuses_writes(tmp_path):
    db = Database.open(tmp_path)
    aid = db.accounts.create("uya", "Ratchet", "pw")
    db.close()
    db.close()
    with pytest.raises(DbError):
        db.accounts.create("uya", "Clank", "pw")
    assert db.accounts.get(aid).name == "Ratchet"  # reads still answer from memory


# -- failed writes leave memory untouched --------------------------------------------------------


class FailingConnection:
    """Passes everything through except the statements matching ``fail_on``."""

    def __init__(self, real: sqlite3.Connection, fail_on: str) -> None:
        self.real = real
        self.fail_on = fail_on

    @property
    def in_transaction(self) -> bool:
        return self.real.in_transaction

    def execute(self, statement: str, params: tuple = ()):
        if statement.startswith(self.fail_on):
            raise sqlite3.OperationalError("disk I/O error")
        return self.real.execute(statement, params)


def test_failed_single_write_changes_nothing(tmp_path):
    db = Database.open(tmp_path)
    aid = db.accounts.create("uya", "Ratchet", "pw")
    real = db._store._conn
    db._store._conn = FailingConnection(real, "UPDATE accounts")
    with pytest.raises(DbWriteError, match="disk I/O error"):
        db.accounts.set_stats(aid, b"\1" * 256)
    assert db.accounts.get(aid).stats == bytes(256)
    db._store._conn = real
    db.close()


def test_failed_transaction_rolls_back_every_statement(tmp_path):
    db = Database.open(tmp_path)
    leader = db.accounts.create("uya", "Leader", "pw")
    joe = db.accounts.create("uya", "Joe", "pw")
    cid = db.clans.create("uya", "Clan", leader)
    db.clans.join(cid, joe)
    db.buddies.add(joe, leader)
    before = snapshot(db)
    real = db._store._conn
    # deleting the leader: accounts row, clan membership, leadership, buddies — fail halfway through
    db._store._conn = FailingConnection(real, "UPDATE clans")
    with pytest.raises(DbWriteError):
        db.accounts.delete(leader)
    assert not real.in_transaction
    assert snapshot(db) == before
    db._store._conn = real
    db.close()
    db = Database.open(tmp_path)
    assert snapshot(db) == before
    db.close()


# -- kill -9 ---------------------------------------------------------------------------------------

CHILD = r"""
import sys
from pathlib import Path
from clank_lan.db import Database

db = Database.open(Path(sys.argv[1]))
print("ready", flush=True)
for i in range(1_000_000):
    aid = db.accounts.create("uya", f"player{i}", f"pw{i}")
    db.accounts.set_stats(aid, bytes([i % 256]) * 256)
    print(aid, i, flush=True)
"""


def test_acknowledged_writes_survive_kill_9(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    out = b""
    deadline = time.monotonic() + 30
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while out.count(b"\n") <= 150 and time.monotonic() < deadline:
            if sel.select(timeout=1.0):
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
    refused = _open_error(tmp_path)  # the running child holds the data directory
    assert "in use by another process" in str(refused)
    proc.kill()  # SIGKILL on POSIX: no atexit, no close, no checkpoint (the OS drops its lock)
    rest, err = proc.communicate(timeout=10)
    out += rest
    assert proc.returncode == -9, err.decode(errors="replace")
    lines = out.split(b"\n")[:-1]  # the last piece may be a torn line
    assert lines[0] == b"ready"
    acked = [tuple(map(int, line.split())) for line in lines[1:]]
    assert len(acked) >= 150
    assert (tmp_path / (DB_FILENAME + "-wal")).exists()  # the data is in the un-checkpointed WAL
    db = Database.open(tmp_path)
    for aid, i in acked:
        account = db.accounts.get(aid)
        assert account is not None, f"account {aid} acknowledged but lost"
        assert account.name == f"player{i}" and account.stats == bytes([i % 256]) * 256
        assert db.accounts.verify_password(aid, f"pw{i}")
    assert db.accounts.count() >= len(acked)
    db.close()


# -- unreadable files ----------------------------------------------------------------------------


def _open_error(data_dir: Path) -> DbFileError:
    with pytest.raises(DbFileError) as info:
        Database.open(data_dir)
    return info.value


def test_garbage_file(tmp_path):
    path = tmp_path / DB_FILENAME
    path.write_bytes(b"this is not a database, just some text\n" * 200)
    err = _open_error(tmp_path)
    assert err.path == path and str(err).startswith(str(path))
    assert "not a clank-lan database or corrupt" in str(err)
    assert path.read_bytes().startswith(b"this is not")  # left as it was


def test_truncated_file(tmp_path):
    db = Database.open(tmp_path)
    for i in range(80):
        aid = db.accounts.create("uya", f"p{i}", "pw")
        db.accounts.set_stats(aid, os.urandom(256))
    db.close()
    path = tmp_path / DB_FILENAME
    data = path.read_bytes()
    assert len(data) > 8 * 4096
    path.write_bytes(data[: len(data) // 2])
    err = _open_error(tmp_path)
    assert str(err).startswith(str(path))


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE accounts SET stats = x'00'",
        "UPDATE accounts SET ladder = x'0000'",
        "UPDATE accounts SET wide = x'01'",
        "UPDATE accounts SET password = 'plaintext'",
        "UPDATE clans SET status = 7",
        "UPDATE clan_invitations SET status = -5",
        "UPDATE policies SET kind = 9",
        "UPDATE bans SET kind = 'mac'",
    ],
)
def test_malformed_row(tmp_path, damage):
    db = Database.open(tmp_path)
    aid = db.accounts.create("uya", "Ratchet", "pw")
    joe = db.accounts.create("uya", "Joe", "pw")
    db.clans.invite(db.clans.create("uya", "Clan", aid), joe)
    db.policies.set("eula")
    db.bans.add(BanKind.MACHINE, "console")
    db.close()
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute(damage)
    conn.commit()
    conn.close()
    err = _open_error(tmp_path)
    assert "cannot load the database" in str(err) and str(err).startswith(str(tmp_path / DB_FILENAME))


def test_data_dir_is_a_file(tmp_path):
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    err = _open_error(not_dir)
    assert str(not_dir) in str(err)


def test_database_path_is_a_directory(tmp_path):
    (tmp_path / DB_FILENAME).mkdir()
    err = _open_error(tmp_path)
    assert str(err).startswith(str(tmp_path / DB_FILENAME))


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX's (Windows locks with msvcrt)")
def test_a_file_system_without_locks_is_named_not_taken_for_another_clank_lan(tmp_path, monkeypatch):
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(store_module.fcntl, "flock", no_locks)
    err = _open_error(tmp_path)
    assert str(err).startswith(str(tmp_path / LOCK_FILENAME))
    assert os.strerror(errno.ENOLCK) in str(err) and "another process" not in str(err)


def test_second_open_of_the_same_dir_is_refused(tmp_path):
    first = Database.open(tmp_path)
    first.accounts.create("uya", "Ratchet", "pw")
    err = _open_error(tmp_path)
    assert "in use by another process" in str(err)
    first.close()
    again = Database.open(tmp_path)
    assert again.accounts.by_name("uya", "ratchet") is not None
    again.close()


def test_file_from_a_newer_release(tmp_path):
    Database.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS) + 1,))
    conn.commit()
    conn.close()
    err = _open_error(tmp_path)
    assert "newer clank-lan" in str(err)


# -- migrations ----------------------------------------------------------------------------------


def test_migrations_run_once_in_order(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    assert migrate(conn) == 0
    assert schema_version(conn) == len(MIGRATIONS)
    assert migrate(conn) == len(MIGRATIONS)  # nothing to do the second time

    def add_column(c: sqlite3.Connection) -> None:
        c.execute("ALTER TABLE accounts ADD COLUMN nickname TEXT NOT NULL DEFAULT ''")

    upgraded = [*MIGRATIONS, "CREATE TABLE extra (x INTEGER);\nINSERT INTO extra VALUES (1);", add_column]
    assert migrate(conn, upgraded) == len(MIGRATIONS)
    assert schema_version(conn) == len(upgraded)
    assert conn.execute("SELECT x FROM extra").fetchall() == [(1,)]
    assert "nickname" in [r[1] for r in conn.execute("PRAGMA table_info(accounts)")]
    with pytest.raises(SchemaTooNew):
        migrate(conn, MIGRATIONS)
    conn.close()


def test_failed_migration_leaves_the_previous_version(tmp_path):
    conn = sqlite3.connect(tmp_path / "m.sqlite3", isolation_level=None)
    migrate(conn)
    broken = [*MIGRATIONS, "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);"]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert schema_version(conn) == len(MIGRATIONS)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchall() == []
    conn.close()


def test_invitation_status_values_match_the_protocol():
    assert [int(s) for s in InvitationStatus] == [0, 1, 2, 3]
