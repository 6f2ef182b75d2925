"""Next to PCSX2: what the appliance costs the PC that also runs the emulator.

Two figures, each the server's CPU time over a measured window (every thread's, to the
microsecond), as a share of one core:

* an idle appliance with ``--clients`` (64) consoles logged in and sitting in their channel, each
  sending the keepalive echo consoles send about once a second, measured once they count as idle
  (nothing but keepalives for ``IDLE_AFTER`` s): the real ``clank-lan serve`` as a user runs it (a
  data directory, frame logging ON); target <= 1% of a core;
* one 8-player game at 15 Hz: the DME as ``serve`` runs it (frame logging ON, to a log file), eight
  players each sending 15 movement frames/s on UDP, a broadcast/s on TCP and an echo/s on both
  (``bench/relay.py``'s load generator, one world); target <= 3% of a core.

Both are printed beside a baseline measured in the same run (the same server with no console; the
raw UDP fan-out relay carrying the same game), and the frame-logging-off figure beside each. And the
floor under the game's figure: a process that does nothing but wake up once per aggregation time
(20 ms; a relay that aggregates wakes at least that often while a game streams), as a trio task
and with ``time.sleep``.
Run: ``python bench/pcsx2.py`` (about 50 s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import trio

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Phase, Server, Workers, cpu_count, raise_fd_limit, start_time
from bench.relay import AGG_MS, SHAPES, open_pairs
from clank_lan.dme.server import nap
from clank_lan.servers.lobby_conn import IDLE_AFTER

TARGET_IDLE = 0.01  # share of one core, 64 consoles idle in the lobby
TARGET_GAME = 0.03  # one 8-player game at 15 Hz
CLIENTS = 64
IDLE_SECONDS = 4.0
IN_FLIGHT = 16


def share(cpu: float, wall: float) -> float:
    return cpu / max(wall, 1e-9)


def idle_lobby(args, frames: bool, empty_too: bool = True) -> tuple[float, float, int]:
    """(CPU share with no console (nan unless ``empty_too``), with ``clients`` idle consoles,
    failed clients)."""
    names = tuple(f"pcsx{i:04d}" for i in range(args.clients))
    with tempfile.TemporaryDirectory(prefix="clank-bench-") as tmp:
        server = Server(Path(tmp), frames=frames).start()
        print(f"server: {server.describe()} (pid {server.pid})")
        try:
            with Workers(1, timeout=120) as workers:
                empty = float("nan")
                if empty_too:
                    mark, t0 = server.cpu_mark(), time.monotonic()
                    time.sleep(args.seconds)
                    empty = share(server.cpu_since(mark), time.monotonic() - t0)
                phase = Phase(
                    kind="login", names=names, ports=server.ports, start_at=start_time(),
                    title=args.title, in_flight=IN_FLIGHT, hold=True,
                )  # fmt: skip
                held = workers.hold(phase)
                # the logins' last frames and log lines are written, and the consoles have sent
                # nothing but keepalives long enough to count as idle
                time.sleep(1.0 + IDLE_AFTER)
                mark, t0 = server.cpu_mark(), time.monotonic()
                time.sleep(args.seconds)
                idle = share(server.cpu_since(mark), time.monotonic() - t0)
                after = workers.release()
        finally:
            server.stop()
    failed = args.clients - len(held.latencies) + len(after.errors)
    for err in sorted(set(held.errors + after.errors))[:5]:
        print(f"    error: {err}")
    return empty, idle, failed


def one_game(args) -> dict[str, dict]:
    """The window figures of each relay (dme, dme-nolog, raw) carrying one 8-player world."""
    shape = SHAPES[args.shape]
    with tempfile.TemporaryDirectory(prefix="clank-bench-") as tmp:
        pairs = open_pairs(("dme", "dme-nolog", "raw"), shape, 1, Path(tmp))
        try:
            return {name: pair.window(1, args.seconds) for name, pair in pairs.items()}
        finally:
            for pair in pairs.values():
                pair.close()


def wake_floor(seconds: float) -> dict[str, float]:
    """CPU share of a process that only wakes up once per aggregation time: a trio task napping as
    the DME's UDP pump does (what a trio relay that aggregates pays before its first frame), and
    ``time.sleep``."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--wake-floor", str(seconds)],
        capture_output=True, text=True, check=True, timeout=seconds * 3 + 30,
    )  # fmt: skip
    return json.loads(out.stdout)


def _measure_wakes(seconds: float) -> None:
    period = AGG_MS / 1000
    turns = max(1, round(seconds / period))

    def timed(loop) -> float:
        cpu, wall = time.process_time(), time.monotonic()
        loop()
        return share(time.process_time() - cpu, time.monotonic() - wall)

    async def trio_loop() -> None:
        for _ in range(turns):  # as the DME's UDP pump naps while a game streams
            with trio.CancelScope(deadline=trio.current_time() + period) as scope:
                await nap(scope)

    def sleep_loop() -> None:
        for _ in range(turns):
            time.sleep(period)

    print(json.dumps({"trio": timed(lambda: trio.run(trio_loop)), "sleep": timed(sleep_loop)}))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=CLIENTS, help="consoles idling in the lobby")
    parser.add_argument("--seconds", type=float, default=IDLE_SECONDS, help="each measured window")
    parser.add_argument("--title", default="uya", help="client profile of the lobby consoles")
    parser.add_argument("--shape", default="uya", help="game shape: uya (encrypted) or dl (null hash)")
    parser.add_argument("--wake-floor", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.wake_floor:
        _measure_wakes(args.wake_floor)
        return 0
    raise_fd_limit(4 * args.clients + 256)
    t0 = time.monotonic()
    print(f"clank-lan next-to-PCSX2 bench: python {sys.version.split()[0]}, {cpu_count()} CPUs")
    empty, idle, failed = idle_lobby(args, frames=True)
    _, idle_off, failed_off = idle_lobby(args, frames=False, empty_too=False)
    failed += failed_off
    runs = one_game(args)
    floor = wake_floor(args.seconds)
    game = runs["dme"]
    dme, nolog, raw = (runs[n]["relay_cpu"] for n in ("dme", "dme-nolog", "raw"))
    ok_idle = idle <= TARGET_IDLE and not failed
    ok_game = dme <= TARGET_GAME and game["loss"] == 0
    print(
        f"{verdict(ok_idle)}  idle appliance, {args.clients} consoles logged in: {idle:.2%} of a core "
        f"(<= {TARGET_IDLE:.0%}; frame logging off {idle_off:.2%}; with no console {empty:.2%}; "
        f"{failed} console(s) failed)"
    )
    print(
        f"{verdict(ok_game)}  one 8-player {args.shape} game at 15 Hz: DME {dme:.2%} of a core "
        f"(<= {TARGET_GAME:.0%}; frame logging off {nolog:.2%}; the raw fan-out relay {raw:.2%} = "
        f"{dme / max(raw, 1e-9):.1f}x; loss {game['loss']:.2%}, p99 {game['p99_ms']:.1f} ms incl. the "
        "20 ms aggregation)"
    )
    print(
        f"      floor measured in this run: a process that only wakes up every {AGG_MS} ms (the "
        f"aggregation time) costs {floor['trio']:.2%} of a core as a trio task, {floor['sleep']:.2%} "
        "with time.sleep"
    )
    ok = ok_idle and ok_game
    print(
        f"SUMMARY pcsx2: {verdict(ok)}; idle {idle:.2%}, game {dme:.2%} of a core; "
        f"elapsed {time.monotonic() - t0:.0f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
