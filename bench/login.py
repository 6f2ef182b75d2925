"""Lobby login benchmark: N concurrent UYA consoles doing the full encrypted login.

Each client does what a PS2 does: RT handshake, SessionBegin, SetLocalization, DNAS post,
GetPolicy and AccountLogin on the MAS; then the MLS; then JoinChannel, which moves it to a new
MLS connection (3 TCP connections, 3 RSA key exchanges, 11 round trips, 26 RC4 frames each way
in total). Latency runs from the MAS TCP connect to the JoinChannel answer with the new MLS
connection up.

The server is ``clank-lan serve --headless --ephemeral --no-dns`` on 127.0.0.1 in its own process,
frame logging OFF (``[logging] frames = false``), console log at ``--log-level`` (info: the
operator's lines per login are part of the cost). Clients run in ``--workers`` other processes
(default 1: on 2 cores the server gets one and the clients the other; a client pays about the same
RSA and RC4 as the server, so more client processes would only take CPU from the server).

Phases, in order (``--clients`` clients each unless said otherwise):

* echo floor, the baseline: the same 3 TCP connects and 11 round trips of 64 bytes against a
  trivial trio echo server in its own process, all at once: what loopback TCP plus trio cost;
* encrypted, first login: every account is created (two PBKDF2 hashes instead of one);
* clear, all at once: returning logins with encryption off: what RSA + RC4 add;
* encrypted, all at once: returning logins, the throughput figure (logins / makespan);
* encrypted, one at a time: ``SOLO`` logins in sequence: the latency of an unloaded server;
* encrypted, paced at ``--rate`` (the target, 300/s) and at half the measured server capacity:
  clients arrive at that rate; the latency figure.

"srv ms/l" is server CPU per login (from /proc), so 1000 / it is what one server core could do
with free clients: the capacity figure that holds however the clients share the machine. Exits 1
when a target is missed. Run: ``python bench/login.py`` (about 20 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    LOGIN_ROUND_TRIPS,
    EchoServer,
    Phase,
    PhaseResult,
    Server,
    Workers,
    cpu_count,
    cpu_seconds,
    percentile,
    raise_fd_limit,
    start_time,
    tcp_counters,
)

TARGET_RATE = 300.0  # logins/s
TARGET_P99_MS = 250.0
CLIENTS = 200
SOLO = 20
SYN_RETRY = 0.9  # a connect this slow had its SYN dropped and resent (Linux waits 1 s)
SETTLE = 0.5  # seconds between phases: the previous clients' disconnects are processed


@dataclass
class Row:
    label: str
    result: PhaseResult
    server_cpu: float
    clients: int
    overflows: int = 0  # system-wide ListenOverflows during the phase

    @property
    def ok(self) -> int:
        return len(self.result.latencies)

    @property
    def wall(self) -> float:
        r = self.result
        return max(r.ends) - min(r.starts) if r.ends else float("nan")

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.ok else 0.0

    @property
    def server_ms(self) -> float:
        return self.server_cpu * 1000 / max(self.ok, 1)

    def ms(self, p: float) -> float:
        return percentile(sorted(self.result.latencies), p) * 1000

    @property
    def slow_connects(self) -> int:
        """TCP connects that needed a SYN retransmission (the first retry comes after 1 s)."""
        return sum(1 for c in self.result.connects if c >= SYN_RETRY)

    def line(self) -> str:
        cli = self.result.cpu * 1000 / max(self.ok, 1)
        util = self.server_cpu / self.wall if self.ok else float("nan")
        lag = max(self.result.lags, default=0.0) * 1000
        return (
            f"{self.label:36} {self.ok:4}/{self.clients:<4} {self.wall:6.2f} {self.rate:8.0f} "
            f"{self.ms(50):7.1f} {self.ms(99):7.1f} {self.ms(100):7.1f} {self.server_ms:8.2f} {cli:8.2f} "
            f"{util:5.0%} {lag:7.0f} {self.slow_connects:5}"
        )


HEADER = (
    f"{'phase':36} {'ok':>9} {'wall s':>6} {'logins/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
    f"{'srv ms/l':>8} {'cli ms/l':>8} {'srv%':>5} {'lag ms':>7} {'1s-c':>5}"
)
LEGEND = """\
columns: ok = logins completed; logins/s = ok / (last end - first start); latency from the MAS
  connect to the channel joined; srv/cli ms/l = CPU ms per login of the server / the client
  processes; srv% = server CPU / wall; lag = worst client start behind schedule (client backlog);
  1s-c = TCP connects that took >= 0.9 s: the SYN was dropped (listen backlog full), resent 1 s later"""


def run_phase(workers: Workers, pid: int, label: str, **phase) -> Row:
    before, tcp = cpu_seconds(pid), tcp_counters()
    result = workers.run(Phase(start_at=start_time(), **phase))
    overflows = tcp_counters()["ListenOverflows"] - tcp["ListenOverflows"]
    row = Row(label, result, cpu_seconds(pid) - before, len(phase["names"]), overflows)
    print(row.line(), flush=True)
    for err in sorted(set(result.errors))[:5]:
        print(f"    error x{result.errors.count(err)}: {err}")
    time.sleep(SETTLE)
    return row


def run_all(args, server: Server, names: tuple[str, ...]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    with Workers(args.workers) as workers:
        with EchoServer() as echo:
            label = f"echo floor (UYA: 3 conns, {sum(LOGIN_ROUND_TRIPS)} RTTs)"
            rows["floor"] = run_phase(
                workers, echo.pid, label, kind="echo", names=names, ports={"echo": echo.port}
            )
        pid = server.pid
        common = {"kind": "login", "names": names, "ports": server.ports, "title": args.title}
        rows["first"] = run_phase(workers, pid, "encrypted, first login (creates)", **common)
        rows["clear"] = run_phase(workers, pid, "clear (no RSA/RC4), all at once", encrypt=False, **common)
        rows["burst"] = run_phase(workers, pid, "encrypted, all at once", **common)
        solo = {**common, "names": names[:SOLO]}
        rows["solo"] = run_phase(
            workers, pid, f"encrypted, one at a time (x{args.workers})", in_flight=1, **solo
        )
        rows["paced"] = run_phase(
            workers, pid, f"encrypted, paced at {args.rate:g}/s", rate=args.rate, **common
        )
        half = max(1, round(500 / rows["burst"].server_ms)) if rows["burst"].ok else 1
        rows["half"] = run_phase(
            workers, pid, f"encrypted, paced at {half}/s (cap. / 2)", rate=half, **common
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=CLIENTS, help="clients per phase")
    parser.add_argument("--workers", type=int, default=1, help="client processes")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="arrival rate of the paced phase")
    parser.add_argument("--title", default="uya", help="client profile: uya (1.08), dl (1.10, MUIS first)")
    parser.add_argument("--log-level", default="info", help="server console log level")
    parser.add_argument("--on-disk", action="store_true", help="a SQLite data dir instead of --ephemeral")
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, write the stats here")
    args = parser.parse_args(argv)
    soft, _ = raise_fd_limit(4 * args.clients + 256)
    t0 = time.monotonic()
    n = args.clients
    names = tuple(f"bench{i:05d}" for i in range(n))
    print(
        f"clank-lan login bench: python {sys.version.split()[0]}, {cpu_count()} CPUs, {n} clients per phase, "
        f"title {args.title}, {args.workers} client process(es), fd limit {soft}"
    )
    with tempfile.TemporaryDirectory(prefix="clank-bench-") as tmp:
        server = Server(Path(tmp), log_level=args.log_level, on_disk=args.on_disk, cprofile=args.profile)
        server.start()
        store = "on-disk SQLite" if args.on_disk else "--ephemeral"
        print(
            f"server: clank-lan serve --headless {store} --no-dns on 127.0.0.1 (pid {server.pid}), "
            f"frame logging OFF, console log level {args.log_level}"
            + (f", under cProfile -> {args.profile}" if args.profile else "")
        )
        print()
        print(HEADER)
        try:
            rows = run_all(args, server, names)
        finally:
            code = server.stop()
        problems = server.problems()
    return summary(args, rows, code, problems, time.monotonic() - t0)


def summary(args, rows: dict[str, Row], code: int | None, problems: list[str], elapsed: float) -> int:
    floor, clear, first, burst = rows["floor"], rows["clear"], rows["first"], rows["burst"]
    print()
    print(LEGEND)
    overflows = sum(r.overflows for r in rows.values())
    print(f"  (kernel ListenOverflows during the phases, system-wide: {overflows})")
    print()
    print(
        f"ratios to the echo floor ({floor.rate:.0f}/s, p50 {floor.ms(50):.1f}, p99 {floor.ms(99):.1f} ms):"
        f" encrypted logins/s {burst.rate / floor.rate:.3f}x, p50 {burst.ms(50) / floor.ms(50):.1f}x,"
        f" p99 {burst.ms(99) / floor.ms(99):.1f}x"
    )
    print(
        f"ratios to clear logins ({clear.rate:.0f}/s): encrypted logins/s {burst.rate / clear.rate:.2f}x, "
        f"server CPU per login {burst.server_ms / max(clear.server_ms, 1e-9):.2f}x; "
        f"first vs returning login: server CPU {first.server_ms / max(burst.server_ms, 1e-9):.2f}x"
    )
    print(
        f"server-bound capacity (one core, clients free): {1000 / max(burst.server_ms, 1e-9):.0f} encrypted "
        f"logins/s ({burst.server_ms:.2f} ms of server CPU per login; clear {clear.server_ms:.2f} ms)"
    )
    failed = sum(r.clients - r.ok for r in rows.values())
    print(f"server: exit code {code}, {len(problems)} warning/error line(s) logged; failed logins: {failed}")
    for line in problems[:10]:
        print(f"    {line}")
    paced = rows["paced"]
    rate_ok = burst.rate >= TARGET_RATE
    p99_ok = paced.ms(99) < TARGET_P99_MS
    verdict = {True: "PASS", False: "FAIL"}
    print(
        f"TARGET {TARGET_RATE:g} logins/s, {burst.clients} at once: {verdict[rate_ok]} ({burst.rate:.0f}/s); "
        f"p99 < {TARGET_P99_MS:g} ms at {args.rate:g}/s: {verdict[p99_ok]} ({paced.ms(99):.0f} ms; "
        f"all at once {burst.ms(99):.0f} ms, at half capacity {rows['half'].ms(99):.0f} ms)"
    )
    print(
        f"note: {burst.clients} logins in flight with p99 < {TARGET_P99_MS:g} ms would need >= "
        f"{burst.clients / (TARGET_P99_MS / 1000):.0f} logins/s (Little's law), so the latency target is "
        "judged at the paced arrival rate"
    )
    print(f"elapsed {elapsed:.1f} s")
    return 0 if rate_ok and p99_ok and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
