"""Benchmark of the lobby database (clank_lan.db): creates, logins and stats writes.

Each rate is printed with a baseline measured in the same run: raw ``sqlite3`` INSERTs of the same
number of rows, one transaction each, on a file with the same pragmas (WAL, synchronous=NORMAL).
The ratio says what the in-memory layer, validation and password hashing cost on top of SQLite.
Exits 1 if logins fall short of 300/s on two worker threads or a stats write averages 1 ms or more.
Beside the means, the slowest single write: the appliance's commits run on its event loop, so one
slow commit is a stall of every game. The stats writes run while another thread checkpoints, as the
engine's worker thread does; the raw baseline lets SQLite checkpoint inside a commit, as it does by
default (every 1000 pages: two fsyncs).
Run: ``python bench/db.py`` (about 5 s).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clank_lan.db import Database
from clank_lan.db.passwords import ITERATIONS

CREATES = 1000
LOGINS = 1000
STATS_WRITES = 5000
LOOKUPS = 100_000
LOGIN_TARGET = 300.0  # per second, on 2 cores


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def raw_inserts(directory: Path, rows: int) -> tuple[float, float]:
    """Seconds for ``rows`` single-row INSERT transactions with plain sqlite3, and the slowest."""
    path = directory / f"raw-{rows}.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, stats BLOB NOT NULL)")
    blob = bytes(256)

    slowest = 0.0

    def run() -> None:
        nonlocal slowest
        clock = time.perf_counter
        for i in range(rows):
            start = clock()
            conn.execute("INSERT INTO t (id, name, stats) VALUES (?, ?, ?)", (i + 1, f"player{i}", blob))
            slowest = max(slowest, clock() - start)

    seconds = timed(run)
    conn.close()
    return seconds, slowest


def main() -> int:
    print(
        f"clank-lan db bench: sqlite {sqlite3.sqlite_version}, python {sys.version.split()[0]},"
        f" {os.cpu_count()} cpus, PBKDF2-SHA256 x{ITERATIONS}"
    )
    rows: list[tuple[str, int, float, float]] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="clank-db-bench-") as tmp:
        tmp_dir = Path(tmp)
        measured = {n: raw_inserts(tmp_dir, n) for n in sorted({CREATES, LOGINS, STATS_WRITES})}
        raw = {n: seconds for n, (seconds, _) in measured.items()}
        raw_slowest = measured[STATS_WRITES][1]
        db = Database.open(tmp_dir / "data")

        ids: list[int] = []
        create_s = timed(
            lambda: ids.extend(db.accounts.create("uya", f"player{i}", f"pw{i}") for i in range(CREATES))
        )
        rows.append(("accounts created (incl. hashing)", CREATES, create_s, raw[CREATES]))

        def login(i: int) -> bool:
            account = db.accounts.by_name("uya", f"PLAYER{i}")
            assert account is not None
            return not db.bans.is_banned(account_id=account.id, ip="192.168.1.20") and (
                db.accounts.verify_password(account.id, f"pw{i}")
            )

        def logins() -> None:
            for i in range(LOGINS):
                assert login(i)
                db.accounts.record_login(ids[i], ip="192.168.1.20")

        rows.append(("logins, password remembered", LOGINS, timed(logins), raw[LOGINS]))
        # After a restart nothing is remembered: every first login pays the full PBKDF2 check.
        db.accounts._verified.clear()
        rows.append(("logins, first after a restart (PBKDF2)", LOGINS, timed(logins), raw[LOGINS]))
        db.accounts._verified.clear()

        def threaded_checks() -> None:
            with ThreadPoolExecutor(max_workers=2) as pool:
                assert all(pool.map(lambda i: db.accounts.verify_password(ids[i], f"pw{i}"), range(LOGINS)))

        threaded_s = timed(threaded_checks)
        rows.append(("PBKDF2 checks on 2 worker threads", LOGINS, threaded_s, raw[LOGINS]))

        blobs = [bytes([i % 256]) * 256 for i in range(256)]

        slowest = 0.0
        checkpoints: list[float] = []
        writing = threading.Event()

        def checkpointing() -> None:  # what the engine's worker thread does, here back to back
            while writing.is_set():
                start = time.perf_counter()
                db.checkpoint()
                checkpoints.append(time.perf_counter() - start)
                time.sleep(0.005)

        def stats_writes() -> None:
            nonlocal slowest
            clock = time.perf_counter
            for i in range(STATS_WRITES):
                start = clock()
                db.accounts.set_stats(ids[i % CREATES], blobs[i % 256])
                slowest = max(slowest, clock() - start)

        writing.set()
        worker = threading.Thread(target=checkpointing)
        worker.start()
        try:
            stats_s = timed(stats_writes)
        finally:
            writing.clear()
            worker.join()
        rows.append(("stats writes (256-byte blob)", STATS_WRITES, stats_s, raw[STATS_WRITES]))

        lookup_s = timed(lambda: [db.accounts.by_name("uya", f"player{i % CREATES}") for i in range(LOOKUPS)])
        db.close()

    print(f"{'operation':<42}{'count':>7}{'seconds':>9}{'ops/s':>10}{'raw ins/s':>11}{'ratio':>8}")
    for name, count, seconds, raw_seconds in rows:
        rate, raw_rate = count / seconds, count / raw_seconds
        print(f"{name:<42}{count:>7}{seconds:>9.3f}{rate:>10.0f}{raw_rate:>11.0f}{rate / raw_rate:>8.3f}")
    print(f"{'account lookups by name (memory)':<42}{LOOKUPS:>7}{lookup_s:>9.3f}{LOOKUPS / lookup_s:>10.0f}")
    login_ms = rows[1][2] / LOGINS * 1e3
    print(f"mean stats write: {stats_s / STATS_WRITES * 1e6:.1f} us; mean login: {login_ms:.2f} ms")
    each = f"{min(checkpoints, default=0) * 1e3:.1f}-{max(checkpoints, default=0) * 1e3:.1f} ms"
    print(
        f"slowest stats write: {slowest * 1e3:.2f} ms, with {len(checkpoints)} checkpoints in another"
        f" thread meanwhile ({each} each); the raw baseline's slowest insert, checkpointing inside"
        f" its commits: {raw_slowest * 1e3:.2f} ms ({raw_slowest / max(slowest, 1e-9):.0f}x)"
    )

    if LOGINS / threaded_s < LOGIN_TARGET:
        failures.append(f"password checks {LOGINS / threaded_s:.0f}/s < {LOGIN_TARGET:.0f}/s on 2 threads")
    if stats_s / STATS_WRITES >= 1e-3:
        failures.append("a stats write takes 1 ms or more")
    print(f"{'FAIL' if LOGINS / threaded_s < LOGIN_TARGET else 'PASS'}  password checks on 2 threads "
          f"{LOGINS / threaded_s:.0f}/s (>= {LOGIN_TARGET:.0f}/s)")  # fmt: skip
    print(f"{'FAIL' if stats_s / STATS_WRITES >= 1e-3 else 'PASS'}  mean stats write "
          f"{stats_s / STATS_WRITES * 1e6:.0f} us (< 1 ms)")  # fmt: skip
    print(
        f"SUMMARY db: {'FAIL' if failures else 'PASS'}; {'; '.join(failures) or 'all targets met'};"
        f" slowest stats write {slowest * 1e3:.2f} ms (raw SQLite checkpointing in its commits:"
        f" {raw_slowest * 1e3:.2f} ms)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
