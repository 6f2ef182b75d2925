"""Idle cost of the lobby: the server's memory per console logged in and sitting in a channel.

``--clients`` (500; 1,000 take over a minute on 2 cores) UYA consoles log in (MAS, MLS,
JoinChannel) from ``--workers`` client processes and stay in the channel, each sending a keepalive
echo about once a second as consoles do. The server is ``clank-lan serve --headless --no-dns`` on
127.0.0.1 in its own process, as a user runs it: a data directory (SQLite, log file) and frame
logging ON (the default).

The clients log in clear by default: encrypted, filling the lobby takes about twice as long on 2
cores (client and server both pay RSA and RC4), and the memory differs little (``--encrypted``
measures it). Figures, against the same server with zero clients measured in this run:

* RSS (VmRSS of the server process): cold after start-up; the baseline, warm, after ``WARMUP``
  clients logged in and out (imports and caches the first login pulls in are not charged to the
  clients); with every client in the channel after ``--idle`` seconds; after they all left.
  KiB per client = (connected - warm) / clients; the target is under 50 KiB.
* the server's CPU while the clients idle (per keepalive echo), threads, open file descriptors;
* with ``--traced N`` (default 100, 0 = off): a second server under ``tracemalloc``, N clear
  clients, twice in and out: Python heap per client while connected, what is kept once they left
  and their sessions expired (accounts stay, by design), what the second round adds (a leak
  check), and the allocation sites that changed most.
  Always clear: under tracemalloc every allocation costs microseconds and the PS2 RC4 key schedule
  makes about a thousand per frame, so an encrypted frame takes ~10 ms there.

Exits 1 when the target is missed or a client failed. Run: ``python bench/idle.py`` (about 35 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    REPO,
    Phase,
    PhaseResult,
    Server,
    Workers,
    cpu_count,
    raise_fd_limit,
    start_time,
)

TARGET_KIB = 50.0
CLIENTS = 500
WARMUP = 10
IN_FLIGHT = 20  # logins under way at once per worker while filling the lobby
ECHO_PER_S = 1.0  # LobbyClient's keepalive rate per connection
#: The traced run's short session grace (kept for a reconnect; default 8 s), so that the sessions
#: of the clients that left are gone before the next look (housekeeping runs every second).
TRACED_TOML = "[timeouts]\nkeepalive_grace = 1.0\n"
TRACED_SETTLE = 2.5
SETTLE_TIMEOUT = 10.0


def fill(workers: Workers, server: Server, names: tuple[str, ...], args, encrypt: bool):
    """Log every client in and keep it there; (result, seconds it took)."""
    t = time.monotonic()
    phase = Phase(
        kind="login", names=names, ports=server.ports, start_at=start_time(), title=args.title,
        encrypt=encrypt, in_flight=IN_FLIGHT, hold=True,
    )  # fmt: skip
    result = workers.hold(phase)
    return result, time.monotonic() - t


def warm_up(workers: Workers, server: Server, title: str) -> None:
    names = tuple(f"warm{i:03d}" for i in range(WARMUP))
    workers.run(Phase(kind="login", names=names, ports=server.ports, start_at=start_time(), title=title))


def wait_for_fds(server: Server, fds: int) -> int:
    """Wait (bounded) until the server is back to ``fds`` open descriptors; the count then."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while server.fds() > fds and time.monotonic() < deadline:
        time.sleep(0.1)
    return server.fds()


def report_errors(label: str, result: PhaseResult) -> None:
    for err in sorted(set(result.errors))[:5]:
        print(f"    {label}: x{result.errors.count(err)} {err}")


def rss_run(args, workers: Workers, names: tuple[str, ...]) -> tuple[float, int]:
    """The RSS figures; returns (KiB per client, failed clients)."""
    n = len(names)
    with tempfile.TemporaryDirectory(prefix="clank-bench-") as tmp:
        server = Server(Path(tmp), log_level=args.log_level).start()
        print(f"server pid {server.pid}: {server.describe()}")
        try:
            time.sleep(0.5)
            cold = server.rss_kib()
            warm_up(workers, server, args.title)
            time.sleep(0.5)
            warm, fds0, threads0 = server.rss_kib(), server.fds(), server.threads()
            held, took = fill(workers, server, names, args, args.encrypted)
            ok = len(held.latencies)
            cpu0, t0 = server.cpu_seconds(), time.monotonic()
            time.sleep(args.idle)
            idle_cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            connected, fds1, threads1 = server.rss_kib(), server.fds(), server.threads()
            after_idle = workers.release()
            fds2 = wait_for_fds(server, fds0)
            left = server.rss_kib()
        finally:
            code = server.stop()
        problems = server.problems()
    per_client = (connected - warm) / max(ok, 1)
    echo_us = idle_cpu / max(ok * ECHO_PER_S, 1) * 1e6
    cap = IN_FLIGHT * args.workers
    print(
        f"logins: {ok}/{n} in {took:.1f} s ({ok / took:.0f}/s, {cap} at most under way); "
        f"then {args.idle:g} s idle, every client echoing once a second"
    )
    report_errors("login", held)
    report_errors("idle", after_idle)
    print()
    print(f"{'server RSS':38} {'KiB':>9}   {'vs baseline':>11}")
    print(f"{'cold (started, no client yet)':38} {cold:9,}")
    print(f"{f'baseline: warm ({WARMUP} logged in and out)':38} {warm:9,}   {1.0:10.2f}x")
    print(f"{f'{ok} clients in the channel':38} {connected:9,}   {connected / warm:10.2f}x")
    print(f"{'after they all left':38} {left:9,}   {left / warm:10.2f}x")
    print(
        f"per client: {per_client:.1f} KiB from the warm baseline "
        f"({(connected - cold) / max(ok, 1):.1f} KiB from cold)"
    )
    print(
        f"open fds {fds0} -> {fds1} -> {fds2} after leaving; threads {threads0} -> {threads1}; "
        f"server CPU while idle {idle_cpu:.1%} of a core = {echo_us:.0f} us per keepalive echo"
    )
    print(f"server: exit code {code}, {len(problems)} warning/error line(s) logged")
    for line in problems[:10]:
        print(f"    {line}")
    return per_client, n - ok + len(after_idle.errors)


def traced_run(args, workers: Workers) -> int:
    """The tracemalloc figures; returns failed clients.

    The same clients come twice: the first round's leftovers include their new accounts and
    containers grown to the peak; what the second round adds on top is a leak.
    """
    n = args.traced
    names = tuple(f"traced{i:05d}" for i in range(n))
    failed = 0
    with tempfile.TemporaryDirectory(prefix="clank-bench-") as tmp:
        server = Server(Path(tmp), log_level=args.log_level, tracemalloc=True, extra_toml=TRACED_TOML).start()
        try:
            warm_up(workers, server, args.title)
            time.sleep(TRACED_SETTLE)  # the same for the warm-up clients
            fds0, base = server.fds(), server.traced()
            snaps = []
            for _ in range(2):
                held, _ = fill(workers, server, names, args, False)
                time.sleep(1.0)
                connected = server.traced()
                after_idle = workers.release()
                failed += n - len(held.latencies) + len(after_idle.errors)
                wait_for_fds(server, fds0)
                time.sleep(TRACED_SETTLE)  # their sessions expire too
                snaps.append((connected, server.traced()))
        finally:
            server.stop()
    (connected, left), (_, again) = snaps
    per = 1024 * n

    def kib(snap: dict) -> float:
        return snap["current"] / 1024

    print(
        f"tracemalloc (a second server, {n} clear clients, in and out twice): Python heap "
        f"{kib(base):,.0f} KiB -> {kib(connected):,.0f} connected -> {kib(left):,.0f} after they left "
        f"-> {kib(again):,.0f} after the second round"
    )
    print(
        f"  per client: {(connected['current'] - base['current']) / per:.1f} KiB while connected, "
        f"{(left['current'] - base['current']) / per:.2f} KiB kept after leaving (their accounts, "
        f"containers grown to the peak), {(again['current'] - left['current']) / per:+.2f} KiB more after "
        "the second round (a leak would show here)"
    )
    for label, snap in (("while connected", connected), ("kept after they left", left)):
        print(f"  biggest changes {label}, by allocation site (bytes per client):")
        for row in snap["by_line"][: args.sites]:
            print(f"    {row['size'] / n:8.0f}  {row['where'].replace(str(REPO) + '/', '')}")
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=CLIENTS, help="clients sitting in the channel")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds the clients idle before measuring")
    parser.add_argument("--encrypted", action="store_true", help="encrypted clients (twice as slow to fill)")
    parser.add_argument("--traced", type=int, default=100, help="clients of the tracemalloc run (0: skip it)")
    parser.add_argument("--sites", type=int, default=8, help="allocation sites to list in the traced run")
    parser.add_argument("--title", default="uya", help="client profile: uya (1.08), dl (1.10, MUIS first)")
    parser.add_argument("--log-level", default="info", help="server console log level")
    args = parser.parse_args(argv)
    t0 = time.monotonic()
    soft, hard = raise_fd_limit(2 * args.clients + 256)
    mode = "encrypted" if args.encrypted else "clear"
    print(
        f"clank-lan idle bench: python {sys.version.split()[0]}, {cpu_count()} CPUs, {args.clients} {mode} "
        f"{args.title} clients from {args.workers} client process(es); fd limit {soft} (hard {hard})"
    )
    names = tuple(f"idle{i:05d}" for i in range(args.clients))
    with Workers(args.workers, timeout=120) as workers:
        per_client, failures = rss_run(args, workers, names)
        if args.traced:
            print()
            failures += traced_run(args, workers)
    ok = per_client < TARGET_KIB
    print(
        f"TARGET < {TARGET_KIB:g} KiB per idle client: {'PASS' if ok else 'FAIL'} ({per_client:.1f} KiB); "
        f"failed clients: {failures}"
    )
    print(
        f"SUMMARY idle: {'PASS' if ok and not failures else 'FAIL'}; {per_client:.1f} KiB per idle client, "
        f"{failures} failed; elapsed {time.monotonic() - t0:.1f} s"
    )
    return 0 if ok and not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
