"""A tournament start: a login storm while games relay, and the operator console meanwhile.

Phase 1, the storm (the server is ``clank-lan serve --headless --no-dns`` as a user runs it: a data
directory, frame logging ON, in its own process): 16 worlds of 8 players (``--shape``: UYA,
encrypted, or Deadlocked, null hash; ``bench/relay.py``'s load generator, in its own process)
relay game traffic through the same server's DME; ``--consoles`` (200) consoles then begin the
full encrypted UYA login all at once (MAS, MLS, JoinChannel; a client process of
``bench/_common.py``). The worlds are created in the server's DME at start-up (what the lobby does
on CreateGame; the players then connect as consoles do), so lobby and relay share one process and
one event loop, as in a real tournament. Relay figures (loss, p99 added latency = p99 - the 20 ms
aggregation, and the p99 of the UDP and the TCP deliveries alone; each timed by the kernel's
arrival stamp, see ``bench/relay.py``) come from 2-second windows run back to back until the last
login ended (their total loss, their worst p99), against the same figures of the same run without
the storm (a window before it and one after it). On 2 cores the server, the load generator and the
login clients share the CPU; the load generator's CPU is printed beside each window (a starved
generator sends late, and what it reads after the window's drain time counts as lost). While the
logins run, the CPU is accounted: the machine's busy share (``/proc/stat``), the server's CPU per
login less the relay's share before the storm, and the login clients' (the consoles' own crypto, done
here by this machine): a machine near 100 % busy is what the login p99 waited for.

Phase 2, the operator console: a fresh server as in phase 1 (frame logging ON, the same worlds)
and the real console (``ClankApp``) in this process, driven by Textual's Pilot and attached to
the server over its line as ``clank-lan serve`` attaches the console it starts (``tui.spawn``).
Before any console logs in, two relay windows give the console's own cost to the games: nobody
at the keys, then keys pressed every 0.2 s (each tab switch lays out and draws the whole screen,
in the console's process; the server builds the rows it is asked for). The consoles then log in at once again
and each chats in the lobby every ``--chat-every`` (5) s (``CHAT_LISTENERS`` of them read and time
the lines they hear, printed as the chat's delay; the others take them off their sockets unread, so
that the simulated consoles' own decryption does not take the appliance's core); meanwhile digit
keys switch tabs and ``status`` + Enter runs on the command line. Key latency: from ``pilot.press``
until the screen shows it (the tab switched, the answer in the output pane) and the screen has been
refreshed (see ``KeyTimer``). Its baseline is the same keys with the engine idle (no console
connected, no traffic), measured in the same run, and they are printed with the games relaying too.

The simulated PS2s (the consoles' process and the load generator) run at nice ``--nice`` (10): on
a LAN they are other machines, so here they take what the appliance leaves of the 2 cores
(``--nice 0`` gives them the appliance's priority; phase 2's keys and relay then wait for them).

Targets (issue 11): every login completes, login p99 <= 2 s, relay loss 0 and p99 added latency
<= 10 ms during the storm, key presses answered within 100 ms. When the baseline relay already
loses frames (the machine cannot carry the worlds), the worlds are halved until it does not;
when phase 1's storm took over ``STORM_BUDGET`` s, phase 2 runs proportionally fewer consoles
(both said in the output). Everything is bounded in count and time. Exits 1 when a target is missed.
Run: ``python bench/storm.py`` (under a minute on 2 cores; other load on the machine adds noise);
``--storm-only`` runs phase 1 alone, ``--handshakes N`` sets ``[limits] handshakes_at_once``, and
``STORM_STALLS=1`` in the environment prints the server's longest event-loop steps, the DME pump's
slow calls and the GC pauses (phase 2: the console's); ``--gc off`` leaves the engine's garbage
collector untuned in both phases (no ``clank_lan.gctune``: the comparison run) and
``--gc-threshold A,B,C`` tries other thresholds than ``gctune.THRESHOLDS``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio
from textual.widgets import Input, RichLog, TabbedContent

from bench._common import (
    Phase,
    PhaseResult,
    Server,
    Workers,
    chat_deliveries,
    cpu_count,
    cpu_seconds,
    percentile,
    raise_fd_limit,
    rss_kib,
    start_time,
)
from bench.relay import AGG_MS, DRAIN, PLAYERS_PER_WORLD, SHAPES, WARMUP, Pair, Shape
from clank_lan import gctune, serve_options
from clank_lan.config import load_config
from clank_lan.logs import setup_logging, shutdown_logging
from clank_lan.serve import serve
from clank_lan.tui.app import TABS, ClankApp
from clank_lan.tui.link import EngineLink
from clank_lan.tui.wire import LINK_FILE, LinkAddress

CONSOLES = 200
WORLDS = 16
TARGET_LOGIN_P99 = 2.0  # seconds
TARGET_ADDED_P99_MS = 10.0
TARGET_KEY_MS = 100.0
BASE_SECONDS = 2.0  # each baseline relay window
SLICE_SECONDS = 2.0  # relay windows follow each other for as long as the storm lasts
MAX_SLICES = 20
#: Phase 1's storm took longer than this: phase 2 runs proportionally fewer consoles (at least
#: ``MIN_CONSOLES``) so the whole bench stays within about a minute; the output says so.
STORM_BUDGET = 8.0
MIN_CONSOLES = 50
STORM_LEAD = 0.5  # the logins start this long after the first storm window's traffic begins
CHAT_EVERY = 5.0
#: Consoles of phase 2 that read and time the lines they hear; the others take them off their
#: sockets unread (the server's work is the same; 200 consoles decrypting every line in one Python
#: process took a core of this 2-core machine from the appliance it measures).
CHAT_LISTENERS = 20
KEY_GAP = 0.2  # seconds between key presses
#: The simulated PS2s' processes yield the CPU to the appliance's (see ``simulated_ps2s_yield``).
SIMULATOR_NICE = 10
KEYS_IDLE = 10  # key presses with the engine idle (the baseline)
KEY_SECONDS = 8.0  # how long keys are pressed while the consoles log in and chat
KEY_WAIT = 5.0  # a key press not shown on screen within this is counted as lost
CALM_SECONDS = 2.5  # phase 2's relay windows before the storm: nobody at the keys, then tab switches
#: Worlds and players wait between windows: neither may expire meanwhile (as in bench/relay.py).
#: (``Server`` puts DNAS and the web board on free ports.)
EXTRA_TOML = "[timeouts]\ndme_client = 3600.0\ndme_empty_world = 3600.0\n"


def extra_toml(args) -> str:
    """The server's extra configuration; ``--handshakes`` overrides ``[limits] handshakes_at_once``."""
    if args.handshakes is None:
        return EXTRA_TOML
    return f"{EXTRA_TOML}[limits]\nhandshakes_at_once = {args.handshakes}\n"


CONSOLE_OFFSET = 500  # login consoles' loopback addresses start after the game players'
TAB_KEYS = ("2", "3", "4", "7", "1")  # channels, games, consoles, chat, players


def make_worlds(dme, count: int, shape: Shape) -> list[dict]:
    """``count`` worlds of 8 reserved players in ``dme`` (what the lobby does on CreateGame and
    JoinGame); the players as ``bench/relay.py``'s load generator takes them."""
    players = []
    for _ in range(count):
        wid = dme.create_world(shape.app_id, PLAYERS_PER_WORLD, shape.version)
        for i in range(PLAYERS_PER_WORLD):
            index, access = dme.reserve_slot(wid, f"w{wid}p{i}", i, f"w{wid}p{i}")
            players.append({"world": wid, "index": index, "access": access, "session": f"w{wid}p{i}"})
    return players


def hello(engine, players: list[dict]) -> dict:
    return {
        "tcp": engine.port("dme_tcp"),
        "udp": engine.port("dme_udp"),
        "pid": os.getpid(),
        "players": players,
    }


def serve_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="serve")
    serve_options.configure(parser)
    return parser.parse_args(list(argv))


class StallWatch(trio.abc.Instrument):
    """``STORM_STALLS=1``: the server's task steps that held the event loop longest, and GC
    pauses, written to ``path`` at exit (what delays the relay during the storm). GC pauses are
    wall time (what the relay waits) and, for the full collections, the thread's CPU time too: on a
    shared machine the difference is time the OS gave other programs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.t0 = 0.0
        self.cpu0 = 0.0
        self.steps: dict[str, list[float]] = {}
        self.steps_cpu: dict[str, float] = {}
        self.steps_cpu_over_5ms: dict[str, int] = {}
        self.gc: list[float] = []
        self.gc2: list[float] = []  # the full (generation 2) collections alone
        self.gc2_cpu: list[float] = []
        self.gc_cpu: dict[int, list[float]] = {0: [], 1: [], 2: []}  # CPU ms per generation
        self.gc_cpu_total = 0.0  # ms, for ``wrap``: a span's CPU without the collections inside it
        #: per wrapped call: how many took over 5 ms of CPU, the most CPU, the most without GC (ms)
        self.spans: dict[str, list[float]] = {}
        self.slow: list[tuple[str, float, float, int]] = []
        self.started = time.perf_counter()
        gc_started: list[float] = []

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                gc_started[:] = [time.perf_counter(), time.thread_time()]
            elif gc_started:
                self.gc.append((time.perf_counter() - gc_started[0]) * 1000)
                cpu = (time.thread_time() - gc_started[1]) * 1000
                self.gc_cpu[info["generation"]].append(cpu)
                self.gc_cpu_total += cpu
                if info["generation"] == 2:
                    self.gc2.append(self.gc[-1])
                    self.gc2_cpu.append(cpu)

        gc.callbacks.append(on_gc)

    def wrap(self, obj: object, name: str) -> None:
        """Time every call of ``obj.name`` (an instance attribute shadows the method): where in
        the DME's pump a long step goes."""
        fn = getattr(obj, name)
        label = f"{type(obj).__name__}.{name}"
        span = self.spans.setdefault(label, [0, 0.0, 0.0])

        stats = getattr(obj, "stats", None)

        def timed(*args: object, **kwargs: object) -> object:
            cpu0, gc0 = time.thread_time(), self.gc_cpu_total
            in0 = getattr(stats, "datagrams_in", 0)  # (the pump hands the DME an iterator)
            try:
                return fn(*args, **kwargs)
            finally:
                cpu = (time.thread_time() - cpu0) * 1000
                if cpu > 5:
                    span[0] += 1
                    # when (s since start-up), how long (CPU ms), how many items (a batch's datagrams)
                    when = round(time.perf_counter() - self.started, 2)
                    size = getattr(stats, "datagrams_in", 0) - in0
                    self.slow.append((label, when, round(cpu, 1), size))
                span[1] = max(span[1], round(cpu, 1))
                span[2] = max(span[2], round(cpu - (self.gc_cpu_total - gc0), 1))

        setattr(obj, name, timed)

    def before_task_step(self, task) -> None:
        self.t0 = time.perf_counter()
        self.cpu0 = time.thread_time()

    def after_task_step(self, task) -> None:
        ms = (time.perf_counter() - self.t0) * 1000
        if ms > 2:
            name = task.name.rsplit(".", 1)[-1]
            self.steps.setdefault(name, []).append(ms)
            cpu = (time.thread_time() - self.cpu0) * 1000
            self.steps_cpu[name] = max(self.steps_cpu.get(name, 0.0), cpu)
            if cpu > 5:
                self.steps_cpu_over_5ms[name] = self.steps_cpu_over_5ms.get(name, 0) + 1

    def after_run(self) -> None:
        # per task: its longest step (wall ms), how many steps over 2 ms and their sum, the task's
        # name, its most CPU in one step (ms), and how many steps took over 5 ms of CPU
        top = sorted(
            (
                (round(max(v), 1), len(v), round(sum(v)), k, round(self.steps_cpu[k], 1),
                 self.steps_cpu_over_5ms.get(k, 0))
                for k, v in self.steps.items()
            ),
            reverse=True,
        )[:15]  # fmt: skip
        gcs = sorted(self.gc, reverse=True)[:10]
        gc2 = self.gc2[:10]  # in order, beside their CPU times
        report = {"steps_over_2ms": top, "gc_ms": gcs, "gc_count": len(self.gc), "gc2_ms": gc2}
        report |= {
            "gc2_cpu_ms": self.gc2_cpu[:10],
            "gc2_count": len(self.gc2),
            "gc_cpu_ms_per_gen_count_max_sum": {
                g: [len(v), round(max(v, default=0), 1), round(sum(v), 1)] for g, v in self.gc_cpu.items()
            },
            "gc_frozen": gc.get_freeze_count(),
        }
        report["calls_over_5ms_cpu_max_max_without_gc"] = self.spans
        report["slow_calls_label_at_s_cpu_ms_items"] = self.slow[:20]
        self.path.write_text(json.dumps(report | {"gc_threshold": gc.get_threshold()}))


def parse_thresholds(text: str) -> tuple[int, int, int]:
    """``--gc-threshold``: three comma-separated integers (generation 0, 1, 2)."""
    values = tuple(int(v) for v in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: want three numbers, e.g. 700,10,10")
    return values  # type: ignore[return-value]


def role_serve(
    worlds: int, shape: Shape, out: Path, argv: Sequence[str], *, gc_mode: str = "tuned",
    thresholds: tuple[int, int, int] | None = None,
) -> int:  # fmt: skip
    """``clank-lan serve`` (its ``run`` minus the TUI) plus ``worlds`` worlds made once it is up;
    their ports and players go to ``out`` as JSON. ``gc_mode`` "off" skips ``clank_lan.gctune``
    (the engine then leaves the collector as CPython set it); ``thresholds`` replaces its own."""
    args = serve_args(argv)
    if gc_mode == "off":
        gctune.skip()
    elif thresholds is not None:
        gctune.THRESHOLDS = thresholds
    config = load_config(args.config)
    setup_logging(args.log_level or config.logging.level, args.data / "logs", config.logging.frames)

    engines = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            engine = await nursery.start(partial(serve, config, args, args.data))
            engines.append(engine)
            for watch in instruments:  # the DME pump's parts, each timed
                for name in ("datagrams_received", "on_timer", "_housekeeping", "dispatch_events"):
                    watch.wrap(engine.dme, name)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(hello(engine, make_worlds(engine.dme, worlds, shape))))
            tmp.replace(out)

    instruments = [StallWatch(out.with_suffix(".stalls.json"))] if os.environ.get("STORM_STALLS") else []
    try:
        trio.run(main, instruments=instruments)
    except KeyboardInterrupt:
        pass
    finally:
        shutdown_logging()
        if engines:  # the DME's own drop counters, for the report
            stats = dataclasses.asdict(engines[0].dme.stats)
            out.with_suffix(".stats.json").write_text(json.dumps(stats))
    return 0


def udp_drops() -> int:
    """System-wide kernel UDP datagrams dropped on a full receive buffer (/proc/net/snmp)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(dict(zip(rows[0][1:], rows[1][1:]))["RcvbufErrors"])


def udp_socket_drops(port: int) -> int:
    """Datagrams dropped by the open UDP socket(s) on ``port`` (the per-socket counter of
    /proc/net/udp)."""
    with open("/proc/net/udp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sum(int(cols[-1]) for cols in rows if int(cols[1].split(":")[1], 16) == port)


@dataclasses.dataclass
class StormServer(Server):
    """``Server`` running ``role_serve``: the real serve, with worlds ready for the load generator."""

    worlds: int = WORLDS
    shape: str = "uya"
    gc_mode: str = "tuned"
    gc_threshold: str | None = None

    @property
    def worlds_path(self) -> Path:
        return self.workdir / "worlds.json"

    def command(self) -> list[str]:
        cmd = super().command()
        at = cmd.index("serve")
        me = [sys.executable, str(Path(__file__).resolve())]
        role = ["--role", "serve", "--worlds", str(self.worlds), "--shape", self.shape, "--gc", self.gc_mode]
        role += ["--gc-threshold", self.gc_threshold] if self.gc_threshold else []
        return [*me, *role, "--worlds-file", str(self.worlds_path), "--", *cmd[at + 1 :]]

    def dme_stats(self) -> dict:
        """The DME's counters, written when the server stopped ({} if it wrote none)."""
        path = self.worlds_path.with_suffix(".stats.json")
        return json.loads(path.read_text()) if path.exists() else {}

    def hello(self, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.worlds_path.exists():
                return json.loads(self.worlds_path.read_text())
            time.sleep(0.05)
        raise RuntimeError("the server wrote no worlds")


class LoadGen(Pair):
    """``bench/relay.py``'s load generator alone, aimed at worlds someone else made."""

    def __init__(self, shape: Shape, hello: dict) -> None:  # no relay process of its own: no super()
        relay = str(Path(__file__).resolve().parent / "relay.py")
        self.relay = "dme"
        self.log_dir = None
        self.load = subprocess.Popen(
            [sys.executable, relay, "--role", "load", "--target", "dme", "--shape", shape.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._send(hello)
        self._read()

    def start_window(self, worlds: int, seconds: float) -> None:
        """Open a window and return at once (``end_window`` waits for its figures)."""
        self._send({"worlds": worlds, "seconds": seconds})

    def end_window(self) -> dict:
        return self._read()

    def close(self) -> dict:
        try:
            self._send({"quit": True})
            self.load.wait(10)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.load.kill()
            self.load.wait(5)
        return {}


def added_ms(window: dict) -> float:
    return window["p99_ms"] - AGG_MS


def relay_line(label: str, w: dict) -> str:
    return (
        f"  {label:28} {w['players']:4} players, {w['deliveries_per_s']:7.0f} deliveries/s, loss "
        f"{w['loss']:.3%}, p50 {w['p50_ms']:6.1f} ms, p99 added {added_ms(w):6.1f} ms (p99 of UDP "
        f"{w['p99_udp_ms']:.1f}, of TCP {w['p99_tcp_ms']:.1f} ms), server CPU "
        f"{w['relay_cpu']:.0%}, load generator CPU {w['load_cpu']:.0%}"
    )


def login_line(label: str, r: PhaseResult, n: int) -> str:
    lat = sorted(r.latencies)
    wall = max(r.ends) - min(r.starts) if r.ends else float("nan")
    ms = [percentile(lat, p) * 1000 for p in (50, 95, 99, 100)]
    return (
        f"  {label:28} {len(lat)}/{n} logged in in {wall:.2f} s; p50 {ms[0]:.0f}, p95 {ms[1]:.0f}, "
        f"p99 {ms[2]:.0f}, max {ms[3]:.0f} ms; client process CPU {r.cpu / wall:.0%}"
    )


def cpu_mark(pid: int) -> tuple[float, float, tuple[int, int] | None]:
    """Now, the server's CPU seconds, and the machine's (busy, total) ticks where /proc/stat has them."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        machine = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        machine = None
    return time.monotonic(), cpu_seconds(pid), machine


def storm_cpu(marks: list, logins: PhaseResult, before: dict) -> dict:
    """Where the storm's CPU went, to tell whether its login p99 is the server's or the machine's."""
    (t0, srv0, m0), (t1, srv1, m1) = marks[0], marks[-1]
    wall, n = t1 - t0, max(len(logins.latencies), 1)
    relay = before["relay_cpu"] * wall  # the games' share, as measured before the storm
    return {
        "wall": wall, "server": srv1 - srv0, "relay": relay, "server_ms": (srv1 - srv0 - relay) * 1000 / n,
        "clients": logins.cpu, "clients_ms": logins.cpu * 1000 / n,
        "busy": (m1[0] - m0[0]) / max(m1[1] - m0[1], 1) if m0 and m1 else None,
    }  # fmt: skip


def cpu_line(c: dict) -> str:
    busy = f"the machine's {cpu_count()} cores {c['busy']:.0%} busy; " if c["busy"] is not None else ""
    return (
        f"  CPU while they logged in ({c['wall']:.2f} s): {busy}server {c['server']:.2f} s (less the relay's "
        f"{c['relay']:.2f} s: {c['server_ms']:.1f} ms per login), the consoles' process {c['clients']:.2f} s "
        f"({c['clients_ms']:.1f} ms per login)"
    )


def busy_note(c: dict) -> str:
    """The login target's context: a machine this busy is what the p99 waited for."""
    if c["busy"] is None:
        return ""
    return (
        f"; the machine {c['busy']:.0%} busy meanwhile: server {c['server_ms']:.1f} ms per login, the "
        f"consoles' simulation {c['clients_ms']:.1f}"
    )


def chat_line(listeners: int, *parts: PhaseResult) -> str:
    """How the lines said under the TUI reached the listening consoles."""
    talk = PhaseResult()
    for part in parts:
        talk.merge(part)
    said, heard_by, delays = chat_deliveries(talk, listeners)
    head = f"  chat under the TUI: {said} lines said; {len(delays):,} of about {heard_by:,} deliveries"
    if not delays:
        return f"{head} to the {listeners} listening consoles"
    ms = [percentile(delays, p) * 1000 for p in (50, 99, 100)]
    return (
        f"{head} to the {listeners} listening consoles (a line said just before the end may not have "
        f"arrived); delay p50 {ms[0]:.0f}, p99 {ms[1]:.0f}, max {ms[2]:.0f} ms"
    )


def errors(r: PhaseResult) -> None:
    for err in sorted(set(r.errors))[:5]:
        print(f"    error x{r.errors.count(err)}: {err}")


# --- phase 1: the storm against the headless server ---------------------------------------------------
def simulated_ps2s_yield(args, workers: Workers, load: LoadGen) -> None:
    """The processes standing in for the PS2s (the consoles' logins and chat, the load generator's
    players) run at a lower CPU priority (``--nice``): on a LAN they are other machines, here they
    take what the appliance (the server, the operator console) leaves of the 2 cores."""
    if args.nice and hasattr(os, "setpriority"):
        for pid in (*workers.pids, load.load.pid):
            os.setpriority(os.PRIO_PROCESS, pid, max(os.getpriority(os.PRIO_PROCESS, pid), args.nice))


def storm_phase(args, shape: Shape, tmp: Path, workers: Workers) -> dict:
    server = StormServer(
        tmp / "storm", frames=True, extra_toml=extra_toml(args), worlds=args.worlds, shape=shape.name,
        gc_mode=args.gc, gc_threshold=args.gc_threshold,
    )  # fmt: skip
    server.workdir.mkdir()
    server.start()
    print(f"phase 1, the storm: {server.describe()} (pid {server.pid}), {args.worlds} {shape.name} worlds")
    load = None
    dme_socket = 0
    try:
        load = LoadGen(shape, server.hello())
        simulated_ps2s_yield(args, workers, load)
        worlds = args.worlds
        before = load.window(worlds, BASE_SECONDS)
        while before["loss"] > 0 and worlds > 1:  # the machine cannot carry them even without a storm
            worlds //= 2
            print(f"  baseline lost {before['loss']:.2%} at {worlds * 2} worlds: scaled down to {worlds}")
            before = load.window(worlds, BASE_SECONDS)
        print(relay_line("relay, before the storm", before))
        names = tuple(f"storm{i:04d}" for i in range(args.consoles))
        phase = Phase(
            kind="login", names=names, ports=server.ports, start_at=start_time(STORM_LEAD),
            title="uya", address_offset=CONSOLE_OFFSET,
        )  # fmt: skip
        marks: list[tuple] = []  # CPU readings when the logins start and when the last one ends

        def logins_marked() -> PhaseResult:
            time.sleep(max(0.0, phase.start_at - time.monotonic()))  # (the worker starts them then)
            marks.append(cpu_mark(server.pid))
            result = workers.run(phase)
            marks.append(cpu_mark(server.pid))
            return result

        with ThreadPoolExecutor(1) as pool:  # the logins run while the relay windows follow each other
            sliced_from, drops0 = time.monotonic(), udp_drops()
            dme0 = udp_socket_drops(server.ports["dme_udp"])
            load.start_window(worlds, SLICE_SECONDS)
            storm = pool.submit(logins_marked)
            slices = [load.end_window()]
            while not storm.done() and len(slices) < MAX_SLICES:
                slices.append(load.window(worlds, SLICE_SECONDS))
            sliced, kernel_drops = time.monotonic() - sliced_from, udp_drops() - drops0
            logins = storm.result()
        during = merge_windows(slices)
        after = load.window(worlds, BASE_SECONDS)
        print(login_line("logins, at once", logins, args.consoles))
        cpu = storm_cpu(marks, logins, before)
        print(cpu_line(cpu))
        errors(logins)
        print(relay_line("relay, during the storm", during))
        print(relay_line("relay, after the storm", after))
        storm_s = max(logins.ends) - min(logins.starts) if logins.ends else float("nan")
        counted = len(slices) * SLICE_SECONDS / max(sliced, 1e-9)
        print(
            f"  the storm lasted {storm_s:.1f} s; {len(slices)} relay window(s) of {SLICE_SECONDS:g} s "
            f"back to back over {sliced:.1f} s counted {counted:.0%} of that time ({WARMUP + DRAIN:g} s "
            "around each is warm-up and drain); 'during' is their total loss and their worst p99"
        )
        dme_socket = udp_socket_drops(server.ports["dme_udp"]) - dme0
        print(
            f"  kernel UDP receive-buffer drops meanwhile: {dme_socket} on the DME's socket, {kernel_drops} "
            "system-wide (the load generator's sockets, and other programs')"
        )
    finally:
        if load is not None:
            load.close()
        code = server.stop()
    problems = server.problems()
    st = server.dme_stats()
    dme_drops = ", ".join(f"{k} {v}" for k, v in st.items() if k.startswith("dropped") and v) or "none"
    print(f"  server: DME drops in the run: {dme_drops}; exit code {code}, {len(problems)} warnings/errors")
    print(f"  server: {server.log_drops():,} frame log records dropped by its writer")
    stalls = server.worlds_path.with_suffix(".stalls.json")
    if stalls.exists():
        print(f"  server: event-loop stalls (STORM_STALLS): {stalls.read_text()}")
    for line in problems[:5]:
        print(f"    {line}")
    if during["loss"] and not dme_socket and dme_drops == "none":
        print(
            "  the DME and its socket dropped nothing: what the storm windows count as lost was dropped "
            f"at the load generator's sockets or arrived after its window's {DRAIN:g} s drain (late)"
        )
    return {"worlds": worlds, "before": before, "during": during, "after": after, "logins": logins,
            "storm_s": storm_s, "cpu": cpu}  # fmt: skip


def merge_windows(windows: list[dict]) -> dict:
    """Back-to-back relay windows as one: loss over all their messages, the worst p99."""
    expected = sum(w["expected"] for w in windows)
    received = sum(w["received"] for w in windows)
    return {
        "players": windows[0]["players"],
        "expected": expected,
        "received": received,
        "loss": 1 - received / expected if expected else 0.0,
        "deliveries_per_s": statistics.mean(w["deliveries_per_s"] for w in windows),
        "p50_ms": statistics.median(w["p50_ms"] for w in windows),
        "p99_ms": max(w["p99_ms"] for w in windows),
        "p99_udp_ms": max(w["p99_udp_ms"] for w in windows),
        "p99_tcp_ms": max(w["p99_tcp_ms"] for w in windows),
        "relay_cpu": statistics.mean(w["relay_cpu"] for w in windows),
        "load_cpu": statistics.mean(w["load_cpu"] for w in windows),
    }


# --- phase 2: the operator console (Pilot) with the engine in this process ---------------------------
class KeyTimer:
    """Press keys through the Pilot; the ms from each press until the screen showed it.

    ``pilot.press`` returns only once Textual's ``wait_for_idle`` sees the process idle (half a
    second with nothing to do, seconds on a busy loop), after the key has long been handled, so
    its duration is not the figure and it is not awaited before the next key (it sends the key at
    once; the keys stay in order). A watcher polls for the change the key makes and then waits
    for the next screen refresh (``call_after_refresh``): that moment minus the press is the figure.
    """

    def __init__(self, app, pilot) -> None:
        self.app = app
        self.pilot = pilot
        self.n = 0
        self.presses: set[asyncio.Task] = set()
        self.commands: list[float] = []  # the ``status`` + Enter presses alone (they wait for the engine)

    async def timed(self, keys: tuple[str, ...], shown) -> float:
        refreshed = asyncio.Event()
        at: list[float] = []

        def on_refresh() -> None:
            at.append(time.perf_counter())
            refreshed.set()

        async def watch() -> None:
            while not shown():
                await asyncio.sleep(0.001)
            self.app.call_after_refresh(on_refresh)

        watcher = asyncio.create_task(watch())
        try:
            t0 = time.perf_counter()
            self.send(*keys)
            await asyncio.wait_for(refreshed.wait(), KEY_WAIT)
            return (at[0] - t0) * 1000
        finally:
            watcher.cancel()

    def send(self, *keys: str) -> None:
        task = asyncio.create_task(self.pilot.press(*keys))
        self.presses.add(task)
        task.add_done_callback(self.presses.discard)

    async def press(self) -> float:
        """One measured key: a digit switches tabs; every fifth time Enter runs ``status`` (put on
        the command line beforehand) and its answer must be in the output pane."""
        self.n += 1
        main = self.app.main
        if self.n % 5 == 0:
            output = main.query_one("#output", RichLog)
            command = main.query_one("#command", Input)
            command.focus()
            command.value = "status"
            lines = len(output.lines)
            try:
                ms = await self.timed(("enter",), lambda: len(output.lines) > lines + 1)
                self.commands.append(ms)
                return ms
            finally:
                self.send("escape")
        key = TAB_KEYS[self.n % len(TAB_KEYS)]
        tabs = main.query_one("#tabs", TabbedContent)
        want = TABS[int(key) - 1]
        return await self.timed((key,), lambda: tabs.active == want)

    async def run_for(self, count: int, seconds: float, out: list[float], lost: list[int]) -> None:
        deadline = time.perf_counter() + seconds
        for _ in range(count):
            if time.perf_counter() > deadline:
                break
            try:
                out.append(await self.press())
            except TimeoutError:
                lost.append(1)
            await asyncio.sleep(KEY_GAP)
        if self.presses:  # the Pilot's own waits, bounded
            await asyncio.wait(set(self.presses), timeout=KEY_WAIT)


def console_phase(args, shape: Shape, worlds: int, consoles: int, tmp: Path, workers: Workers) -> dict:
    """The operator console attached to a fresh appliance; keys idle, then during logins and chat."""
    server = StormServer(
        tmp / "tui", frames=True, extra_toml=extra_toml(args), worlds=worlds, shape=shape.name,
        gc_mode=args.gc, gc_threshold=args.gc_threshold,
    )  # fmt: skip
    server.workdir.mkdir()
    server.start()
    result: dict = {"idle": [], "games": [], "busy": [], "lost": [], "held": PhaseResult()}
    result["listeners"] = min(CHAT_LISTENERS, consoles)
    result["after"] = PhaseResult()
    names = tuple(f"chat{i:04d}" for i in range(consoles))

    async def drive(app: ClankApp) -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            deadline = time.monotonic() + 20
            while app.view is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the console did not attach ({app.link_error})")
                await pilot.pause(0.05)
            timer = KeyTimer(app, pilot)
            cpu0 = time.process_time()
            await timer.run_for(KEYS_IDLE, KEY_SECONDS, result["idle"], result["lost"])
            result["idle_key_cpu"] = (time.process_time() - cpu0) / max(len(result["idle"]), 1) * 1000
            load = await asyncio.to_thread(LoadGen, shape, server.hello())
            simulated_ps2s_yield(args, workers, load)
            try:
                await asyncio.to_thread(load.window, worlds, 0.5)  # the players join the worlds
                # the console's own cost to the games, before any console logs in
                result["calm"] = await asyncio.to_thread(load.window, worlds, CALM_SECONDS)
                load.start_window(worlds, CALM_SECONDS)
                await timer.run_for(10_000, CALM_SECONDS, result["games"], result["lost"])
                result["tabs"] = await asyncio.to_thread(load.end_window)
                load.start_window(worlds, KEY_SECONDS + 4)  # the keys' time and the logins' end
                phase = Phase(
                    kind="login", names=names, ports=server.ports, start_at=start_time(0.25 + STORM_LEAD),
                    title="uya", hold=True, chat_every=args.chat_every, address_offset=CONSOLE_OFFSET,
                    listeners=result["listeners"],
                )  # fmt: skip
                held = asyncio.create_task(asyncio.to_thread(workers.hold, phase))
                timer.commands.clear()
                cpu0, wall0 = time.process_time(), time.monotonic()
                await timer.run_for(10_000, KEY_SECONDS, result["busy"], result["lost"])
                result["console_cpu"] = (time.process_time() - cpu0) / (time.monotonic() - wall0)
                result["busy_commands"] = list(timer.commands)
                result["held"] = await held
                result["after"] = await asyncio.to_thread(workers.release)
                result["relay"] = await asyncio.to_thread(load.end_window)
                result["chats"] = result["held"].chats + result["after"].chats
            finally:
                await asyncio.to_thread(load.close)

    print(f"phase 2, the operator console: {server.describe()} (pid {server.pid}), {worlds} {shape.name} "
          "worlds; ClankApp under Textual's Pilot in this process, attached to it as 'clank-lan serve' "
          "attaches its own")  # fmt: skip
    pauses = GcPauses() if os.environ.get("STORM_STALLS") else None
    try:
        link = LinkAddress.from_json((server.workdir / "data" / LINK_FILE).read_text())
        asyncio.run(drive(ClankApp(partial(EngineLink.connect, link), forward_logs=False)))
    finally:
        code = server.stop()
        if pauses is not None:
            print(f"  the console's GC pauses in phase 2 (STORM_STALLS): {pauses.close()}")
    problems = server.problems()
    print(f"  server: exit code {code}, {len(problems)} warnings/errors")
    for line in problems[:5]:
        print(f"    {line}")
    return result


class GcPauses:
    """``STORM_STALLS=1``: this process's collections while it runs the console (phase 2): per
    generation their count, longest and total CPU ms (wall time would count other programs)."""

    def __init__(self) -> None:
        self.cpu: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self.t0 = 0.0
        gc.callbacks.append(self.on_gc)

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.t0 = time.thread_time()
        else:
            self.cpu[info["generation"]].append((time.thread_time() - self.t0) * 1000)

    def close(self) -> str:
        gc.callbacks.remove(self.on_gc)
        per_gen = ", ".join(
            f"gen {g}: {len(v)}, max {max(v, default=0):.1f}, total {sum(v):.0f}" for g, v in self.cpu.items()
        )
        full = ", ".join(f"{ms:.0f}" for ms in self.cpu[2][:10])
        rss = rss_kib(os.getpid()) // 1024
        frozen = gc.get_freeze_count()
        return f"{per_gen}; the full ones in order: {full} (frozen objects {frozen:,}; RSS {rss} MiB)"


def key_line(label: str, values: list[float]) -> str:
    v = sorted(values)
    return (
        f"  {label:28} {len(v)} presses; p50 {percentile(v, 50):.1f}, p95 {percentile(v, 95):.1f}, "
        f"max {percentile(v, 100):.1f} ms"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--consoles", type=int, default=CONSOLES, help="consoles logging in at once")
    ap.add_argument("--worlds", type=int, default=WORLDS, help="8-player worlds relaying meanwhile")
    ap.add_argument("--shape", default="uya", choices=sorted(SHAPES), help="game shape (relay.py)")
    ap.add_argument("--chat-every", type=float, default=CHAT_EVERY, help="seconds between a console's chats")
    ap.add_argument("--handshakes", type=int, help="[limits] handshakes_at_once (default: the config's)")
    ap.add_argument("--storm-only", action="store_true", help="phase 1 only (no operator console)")
    ap.add_argument(
        "--gc", default="tuned", choices=("tuned", "off"),
        help="the engine's garbage collector, both phases: clank_lan.gctune (default) or left alone",
    )  # fmt: skip
    ap.add_argument("--gc-threshold", help="the engine's gc thresholds A,B,C instead of gctune's")
    ap.add_argument(
        "--nice", type=int, default=SIMULATOR_NICE,
        help=f"CPU priority (nice) of the simulated PS2s (default {SIMULATOR_NICE}; 0: the appliance's)",
    )  # fmt: skip
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--worlds-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    shape = SHAPES[args.shape]
    if args.role == "serve":
        rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
        thresholds = parse_thresholds(args.gc_threshold) if args.gc_threshold else None
        return role_serve(args.worlds, shape, args.worlds_file, rest, gc_mode=args.gc, thresholds=thresholds)
    raise_fd_limit(6 * args.consoles + 4 * args.worlds * PLAYERS_PER_WORLD + 256)
    t0 = time.monotonic()
    print(
        f"clank-lan tournament-start bench: python {sys.version.split()[0]}, {cpu_count()} CPUs, load "
        f"average {os.getloadavg()[0]:.2f} (other work on the machine adds noise); {args.consoles} consoles, "
        f"{args.worlds} x {PLAYERS_PER_WORLD} {shape.name} players; the simulated PS2s at nice {args.nice}"
    )
    with tempfile.TemporaryDirectory(prefix="clank-storm-") as tmp, Workers(1, timeout=90) as workers:
        storm = storm_phase(args, shape, Path(tmp), workers)
        if args.storm_only:
            return storm_summary(args, storm, time.monotonic() - t0)
        consoles = args.consoles
        if storm["storm_s"] > STORM_BUDGET:  # phase 2 would not end within the minute
            consoles = max(MIN_CONSOLES, int(args.consoles * STORM_BUDGET / storm["storm_s"]))
            print(
                f"  the storm took over {STORM_BUDGET:g} s on this machine: phase 2 scaled down to "
                f"{consoles} consoles"
            )
        tui = console_phase(args, shape, storm["worlds"], consoles, Path(tmp), workers)
        tui["consoles"] = consoles
    return summary(args, storm, tui, time.monotonic() - t0)


def gc_label(args) -> str:
    """The server's garbage-collector setting, for the summary line."""
    if args.gc == "off":
        return "gc untuned"
    return f"gc frozen, thresholds {args.gc_threshold or ','.join(map(str, gctune.THRESHOLDS))}"


def storm_summary(args, storm: dict, elapsed: float) -> int:
    """``--storm-only``: phase 1's figures against their targets."""
    lat = sorted(storm["logins"].latencies)
    p99 = percentile(lat, 99)
    during = storm["during"]
    base = statistics.median([added_ms(storm["before"]), added_ms(storm["after"])])
    failed = args.consoles - len(lat)
    relay_ok = not during["loss"] and added_ms(during) <= TARGET_ADDED_P99_MS
    ok = not failed and p99 <= TARGET_LOGIN_P99 and relay_ok
    print(
        f"SUMMARY storm (phase 1 only, handshakes_at_once {args.handshakes or 'default'}, {gc_label(args)}): "
        f"{verdict(ok)}; "
        f"{failed} failed, login p99 {p99 * 1000:.0f} ms (p50 {percentile(lat, 50) * 1000:.0f}"
        f"{busy_note(storm['cpu'])}), relay loss {during['loss']:.2%}, p99 added {added_ms(during):.1f} ms "
        f"(without the storm {base:.1f} ms); "
        f"elapsed {elapsed:.0f} s"
    )
    return 0 if ok else 1


def summary(args, storm: dict, tui: dict, elapsed: float) -> int:
    held, after = tui["held"], tui["after"]
    print(key_line("keys, engine idle", tui["idle"]))
    print(key_line("keys, games relaying", tui["games"]))
    print(key_line("keys, logins + chat", tui["busy"]))
    commands = tui.get("busy_commands", [])
    tabs = list(tui["busy"])
    for ms in commands:
        tabs.remove(ms)
    print(key_line("  of which tab switches", tabs))
    print(key_line("  and status + Enter", commands) + " (answered by the engine)")
    if "console_cpu" in tui:
        print(
            f"  the console's process (Textual, Pilot): {tui['idle_key_cpu']:.0f} ms of CPU per key with the "
            f"engine idle; {tui['console_cpu']:.0%} of a core while the keys were pressed in the storm"
        )
    for key, label in (("calm", "relay, TUI, nobody typing"), ("tabs", "relay, TUI, keys every 0.2 s")):
        print(relay_line(label, tui[key]))
    print(login_line("logins under the TUI", held, tui["consoles"]))
    errors(held)
    errors(after)
    relay = tui.get("relay")
    if relay is not None:
        print(relay_line("relay under the TUI", relay) + " (the console and Pilot in this process)")
    print(f"  chat lines sent: {tui.get('chats', 0)}; key presses not shown within {KEY_WAIT:g} s: "
          f"{len(tui['lost'])}")  # fmt: skip
    print(chat_line(tui["listeners"], held, after))
    print()
    logins = storm["logins"]
    lat = sorted(logins.latencies)
    p99 = percentile(lat, 99)
    failed = args.consoles - len(lat) + (tui["consoles"] - len(held.latencies)) + len(after.errors)
    before, during, after_w = storm["before"], storm["during"], storm["after"]
    base_added = statistics.median([added_ms(before), added_ms(after_w)])
    base_loss = max(before["loss"], after_w["loss"])
    busy = sorted(tui["busy"])
    idle = sorted(tui["idle"])
    key99 = percentile(busy, 99)
    verdicts: list[bool] = []

    def target(ok: bool, text: str) -> None:
        verdicts.append(ok)
        print(f"{verdict(ok)}  {text}")

    target(failed == 0, f"every login completed ({failed} failed, both phases, incl. drops while chatting)")
    target(
        p99 <= TARGET_LOGIN_P99,
        f"login p99 in the storm {p99 * 1000:.0f} ms (<= {TARGET_LOGIN_P99 * 1000:.0f} ms); p50 "
        f"{percentile(lat, 50) * 1000:.0f}, p95 {percentile(lat, 95) * 1000:.0f} ms{busy_note(storm['cpu'])}",
    )
    target(
        during["loss"] == 0,
        f"relay loss during the storm {during['loss']:.3%} (0; without the storm {base_loss:.3%}), "
        f"{storm['worlds']} worlds",
    )
    ratio = added_ms(during) / max(base_added, 1e-3)
    target(
        added_ms(during) <= TARGET_ADDED_P99_MS,
        f"relay p99 added latency during the storm {added_ms(during):.1f} ms (<= {TARGET_ADDED_P99_MS:g}"
        f" ms; without the storm {base_added:.1f} ms = {ratio:.1f}x)",
    )
    key_ratio = percentile(busy, 50) / max(percentile(idle, 50), 1e-3)
    target(
        bool(busy) and key99 <= TARGET_KEY_MS and not tui["lost"],
        f"operator console keys, p99 {key99:.0f} ms with {tui['consoles']} consoles logging in and chatting "
        f"(<= {TARGET_KEY_MS:g} ms; p50 {percentile(busy, 50):.0f} ms = {key_ratio:.1f}x the idle "
        f"engine's {percentile(idle, 50):.0f} ms)",
    )
    ok = all(verdicts)
    print(
        f"SUMMARY storm ({gc_label(args)}): {verdict(ok)} ({sum(verdicts)}/{len(verdicts)} targets); "
        f"login p99 {p99 * 1000:.0f} ms, relay loss {during['loss']:.2%} / p99 added "
        f"{added_ms(during):.1f} ms in the storm, keys p99 {key99:.0f} ms; elapsed {elapsed:.0f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
