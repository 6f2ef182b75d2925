"""Shared parts of the lobby benchmarks (``login.py``, ``idle.py``): the server subprocess, the
client worker processes, and the statistics.

The server is the real ``clank-lan serve --headless --no-dns`` on 127.0.0.1, in its own process, on
free ports chosen here up front and written to its config file, as a user runs it by default: a
data directory (SQLite and the log file) and frame logging ON; ``Server(frames=False)`` is the
comparison figure, ``on_disk=False`` the ``--ephemeral`` store (database in memory; the log
file is still written). Clients run in separate worker processes (``multiprocessing``, spawn)
that each drive many ``LobbyClient``s in one trio loop. Run as a script, this module is the
server wrapper that can add ``tracemalloc`` (dumped on SIGUSR1) and
the trivial trio echo server used as a baseline.
"""

from __future__ import annotations

import contextvars
import json
import math
import multiprocessing as mp
import os
import queue
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script or in a spawned worker: make the repo importable
    sys.path.insert(0, str(REPO))

LOOPBACK = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: ``serve`` prints the setup text once every service is bound; its last part starts so.
READY_MARK = "Players outside this LAN"
TCP_SERVICES = ("muis", "mas", "mls", "mps", "dme_tcp")
UDP_SERVICES = ("dme_udp", "nat")
#: Round trips of one UYA (1.08) login, per TCP connection: MAS (RT handshake 2, SessionBegin,
#: SetLocalization, GetPolicy, AccountLogin), MLS (handshake 2, JoinChannel), MLS of the channel (2).
LOGIN_ROUND_TRIPS = (6, 3, 2)
ECHO_SIZE = 64
LOGIN_TIMEOUT = 30.0


def console_address(i: int) -> str:
    """A loopback address of its own for console ``i`` (Linux routes all of 127.0.0.0/8 to lo):
    on a LAN every console has its own address, and the appliance's per-address limits must see
    the benchmark's consoles as what they stand for, not as one flooding host."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


# --- statistics ---------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def raise_fd_limit(wanted: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to ``wanted`` (capped by the hard limit); returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def tcp_counters() -> dict[str, int]:
    """System-wide kernel TCP counters: ListenOverflows counts SYNs dropped on a full accept queue."""
    wanted = ("ListenOverflows",)
    out: dict[str, int] = {}
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for head, values in zip(lines[::2], lines[1::2]):
        for k, v in zip(head.split()[1:], values.split()[1:]):
            if k in wanted:
                out[k] = int(v)
    return out


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


# --- the server process ---------------------------------------------------------------------


def pick_ports() -> dict[str, int]:
    """Distinct free ports on 127.0.0.1 for every service (all held open at once, then released)."""
    socks: list[socket.socket] = []
    ports: dict[str, int] = {}
    try:
        for names, kind in ((TCP_SERVICES, socket.SOCK_STREAM), (UDP_SERVICES, socket.SOCK_DGRAM)):
            for name in names:
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind((LOOPBACK, 0))
                ports[name] = s.getsockname()[1]
    finally:
        for s in socks:
            s.close()
    return ports


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) in KiB."""
    return int(proc_status(pid)["VmRSS"].split()[0])


def cpu_seconds(pid: int, path: str = "") -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat (or of the
    thread ``path`` names, ``<pid>/task/<tid>``)."""
    with open(f"/proc/{path or pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_seconds(pid: int) -> dict[str, float] | None:
    """CPU time of each thread of a process to the microsecond: the scheduler's
    ``se.sum_exec_runtime`` (``/proc/<pid>/task/<tid>/sched``), or None where the kernel does not
    show it. /proc's user + system time counts 10 ms ticks: over a 4 s window at 1 % of a core
    that is 4 ticks, one either way moving the figure by 25 %."""
    out: dict[str, float] = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/sched") as f:
                for line in f:
                    if line.startswith("se.sum_exec_runtime"):
                        out[tid] = float(line.rsplit(":", 1)[1]) / 1000.0
                        break
                else:
                    return None
    except (OSError, ValueError):
        return None
    return out


def cpu_used(before: dict[str, float] | None, after: dict[str, float] | None) -> float | None:
    """CPU seconds between two ``thread_cpu_seconds`` readings: the threads alive at the second
    (a thread that ended meanwhile takes its time with it, so it is left out, not subtracted)."""
    if before is None or after is None:
        return None
    return sum(t - before.get(tid, 0.0) for tid, t in after.items())


def main_thread_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process's main thread alone (the event loop; the difference to
    ``cpu_seconds`` is its other threads: the log writer, password hashing)."""
    return cpu_seconds(pid, f"{pid}/task/{pid}")


def frame_log_drops(log_dir: Path) -> int:
    """Frame log records the writer dropped, from its summary lines in the log files."""
    total = 0
    for p in log_dir.glob("clank-lan.log*"):
        for line in p.read_text("utf-8", errors="replace").splitlines():
            if "lines dropped (writer behind)" in line:
                total += int(line.split("frame log: ", 1)[1].split(" ", 1)[0].replace(",", ""))
    return total


@dataclass
class Server:
    """``clank-lan serve`` in a subprocess; ``start`` returns once every service is listening."""

    workdir: Path
    log_level: str = "info"
    on_disk: bool = True
    frames: bool = True
    cprofile: Path | None = None
    tracemalloc: bool = False
    extra_toml: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.out"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        """The command line; picks the ports and writes the config file it names."""
        self.ports = pick_ports()
        lines = ["[ports]", *(f"{k} = {v}" for k, v in self.ports.items())]
        frames = "true" if self.frames else "false"
        lines += ["[logging]", f"frames = {frames}", f'level = "{self.log_level}"', self.extra_toml]
        # DNAS and the web board on any free port: two servers side by side must not fight over
        # 443 and 8080 (unless the extra config places them itself).
        lines += [f"[{part}]\nport = 0" for part in ("dnas", "web") if f"[{part}]" not in self.extra_toml]
        config = self.workdir / "bench.toml"
        config.write_text("\n".join(lines) + "\n")
        serve = ["serve", "--headless", "--address", LOOPBACK, "--no-dns", "--config", str(config)]
        serve += ["--data", str(self.workdir / "data")] + ([] if self.on_disk else ["--ephemeral"])
        py = [sys.executable]
        if self.cprofile is not None:
            return [*py, str(Path(__file__).resolve()), "serve", "--cprofile", str(self.cprofile), *serve]
        if self.tracemalloc:
            return [*py, str(Path(__file__).resolve()), "serve", "--tracemalloc", str(self.tm_path), *serve]
        return [*py, "-m", "clank_lan", *serve]

    def describe(self) -> str:
        store = "a data dir (SQLite, log file)" if self.on_disk else "--ephemeral (database in memory)"
        return f"clank-lan serve --headless --no-dns, {store}, frame logging {'ON' if self.frames else 'OFF'}"

    def log_bytes(self) -> int:
        """Size of the log files written so far."""
        logs = self.workdir / "data" / "logs"
        return sum(p.stat().st_size for p in logs.glob("clank-lan.log*")) if logs.is_dir() else 0

    def log_drops(self) -> int:
        return frame_log_drops(self.workdir / "data" / "logs")

    @property
    def tm_path(self) -> Path:
        return self.workdir / "tracemalloc.json"

    def start(self, timeout: float = 30.0) -> Server:
        cmd = self.command()
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            if READY_MARK in self.output():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not come up within {timeout:g} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def problems(self) -> list[str]:
        """Warning, error and traceback lines the server logged (console format "HH:MM:SS L msg")."""
        out = []
        for line in self.output().splitlines():
            parts = line.split(" ", 2)
            if (len(parts) > 1 and parts[1] in ("W", "E", "C")) or line.startswith("Traceback"):
                out.append(line)
        return out

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def cpu_mark(self) -> tuple[dict[str, float] | None, float]:
        """A reading for ``cpu_since``: per thread to the microsecond, and in ticks as a fallback."""
        return thread_cpu_seconds(self.pid), self.cpu_seconds()

    def cpu_since(self, mark: tuple[dict[str, float] | None, float]) -> float:
        """CPU seconds the server used since ``mark`` (``cpu_mark``)."""
        precise = cpu_used(mark[0], thread_cpu_seconds(self.pid))
        return precise if precise is not None else self.cpu_seconds() - mark[1]

    def threads(self) -> int:
        return int(proc_status(self.pid)["Threads"])

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def profile_cut(self, target: Path | None, timeout: float = 20.0) -> None:
        """Under ``cprofile``: write the profile since the last cut to ``target`` (None: discard
        it), then profile afresh."""
        assert self.cprofile is not None
        if target is not None:
            target.unlink(missing_ok=True)
        self.cprofile.with_suffix(".cut").write_text("" if target is None else str(target))
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout
        while target is not None and not target.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the profiled server wrote no profile")
            time.sleep(0.05)

    def traced(self, timeout: float = 20.0) -> dict:
        """Ask the tracemalloc wrapper for a snapshot (SIGUSR1) and return it."""
        self.tm_path.unlink(missing_ok=True)
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return json.loads(self.tm_path.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                time.sleep(0.05)
        raise RuntimeError("the server wrote no tracemalloc snapshot")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT (the graceful shutdown, which also lets cProfile write its file), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None


# --- client workers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """What every worker does next. Worker ``w`` of ``W`` takes clients ``w, w+W, w+2W, ...``.

    ``kind`` "login": MAS login then JoinChannel of the default channel (then close, unless
    ``hold``); "echo": ``LOGIN_ROUND_TRIPS`` round trips of 64 bytes on the echo server.
    Client ``i`` starts at ``start_at + i / rate`` (all at ``start_at`` when ``rate`` is 0), with at
    most ``in_flight`` logins under way per worker (0 = no cap).
    """

    kind: str
    names: tuple[str, ...]
    ports: dict[str, int]
    start_at: float
    title: str = "uya"
    encrypt: bool = True
    rate: float = 0.0
    in_flight: int = 0
    hold: bool = False
    #: With ``hold``: each held client sends a lobby chat line every ``chat_every`` seconds (0: none).
    chat_every: float = 0.0
    #: With ``chat_every``: clients ``0 .. listeners - 1`` read the lines forwarded to them and note
    #: when each was said and heard (``PhaseResult.said`` / ``heard``: deliveries and their delays);
    #: the others take what comes off their sockets unread (a console's own decryption of every
    #: line it hears is not the server's work, and done in Python for hundreds of consoles it
    #: would be the bench's bottleneck, not the server).
    listeners: int = 0
    #: Added to the client index to pick its loopback address (keeps it apart from other consoles).
    address_offset: int = 0


@dataclass
class PhaseResult:
    starts: list[float] = field(default_factory=list)  # monotonic, when the client began
    lags: list[float] = field(default_factory=list)  # began - scheduled start (client backlog)
    latencies: list[float] = field(default_factory=list)  # seconds, successful clients only
    ends: list[float] = field(default_factory=list)
    connects: list[float] = field(default_factory=list)  # seconds per TCP connect (SYN to established)
    errors: list[str] = field(default_factory=list)
    cpu: float = 0.0  # this worker's CPU seconds during the phase
    chats: int = 0  # chat lines sent (``Phase.chat_every``)
    said: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, client) of each line said
    heard: list[tuple[float, float]] = field(default_factory=list)  # (said, heard) of each line received

    def merge(self, other: PhaseResult) -> None:
        for name in ("starts", "lags", "latencies", "ends", "connects", "errors", "said", "heard"):
            getattr(self, name).extend(getattr(other, name))
        self.cpu += other.cpu
        self.chats += other.chats


#: The source address of the client task's connections (set per client, read by ``timed_open``).
_SOURCE: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_source", default=None)


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _PhaseRunner:
    """One worker's share of a phase, inside ``trio.run``."""

    def __init__(self, phase: Phase, index: int, count: int, inq, outq) -> None:
        import trio

        self.phase = phase
        self.index = index
        self.mine = range(index, len(phase.names), count)
        self.inq = inq
        self.outq = outq
        self.result = PhaseResult()
        self.offset = trio.current_time() - time.monotonic()  # trio's clock has its own origin
        self.cap = trio.Semaphore(phase.in_flight) if phase.in_flight else None
        self.pending = len(self.mine)
        self.all_done = trio.Event()
        self.release = trio.Event()
        self.chats = 0
        self.said: list[tuple[float, int]] = []
        self.heard: list[tuple[float, float]] = []

    def scheduled(self, i: int) -> float:
        """Monotonic time (not trio's) at which client ``i`` is due to start."""
        return self.phase.start_at + (i / self.phase.rate if self.phase.rate else 0.0)

    def succeeded(self, i: int, start: float, end: float, due: float | None = None) -> None:
        """Record a finished client; ``due`` is when it was ready to start (before any cap)."""
        r = self.result
        r.starts.append(start)
        r.lags.append((start if due is None else due) - self.scheduled(i))
        r.latencies.append(end - start)
        r.ends.append(end)

    def finished(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.all_done.set()

    async def run(self) -> PhaseResult:
        import trio

        real_open = trio.open_tcp_stream

        # LobbyClient connects through trio.open_tcp_stream: time every connect (a dropped SYN costs 1 s),
        # from the client's own loopback address.
        async def timed_open(*args, **kwargs):
            t = time.monotonic()
            stream = await real_open(*args, local_address=_SOURCE.get(), **kwargs)
            self.result.connects.append(time.monotonic() - t)
            return stream

        trio.open_tcp_stream = timed_open
        try:
            cpu0 = _cpu_self()
            async with trio.open_nursery() as nursery:
                for i in self.mine:
                    nursery.start_soon(self.login if self.phase.kind == "login" else self.echo, i)
                if self.phase.hold:
                    with trio.move_on_after(LOGIN_TIMEOUT * 2):
                        await self.all_done.wait()
                    self.result.cpu = _cpu_self() - cpu0
                    self.outq.put(("held", self.index, self.result))
                    await trio.to_thread.run_sync(self.inq.get)  # the parent says when to let go
                    self.result = PhaseResult()  # what happens from now on: drops while idle
                    self.release.set()
            if not self.phase.hold:
                self.result.cpu = _cpu_self() - cpu0
            self.result.chats = self.chats
            self.result.said, self.result.heard = self.said, self.heard
        finally:
            trio.open_tcp_stream = real_open
        return self.result

    async def login(self, i: int) -> None:
        import trio

        from clank_lan.client.lobby import LobbyClient, Ports
        from clank_lan.client.profiles import profile

        phase = self.phase
        ports = Ports(muis=phase.ports["muis"], mas=phase.ports["mas"], mls=phase.ports["mls"])
        await trio.sleep_until(self.scheduled(i) + self.offset)
        _SOURCE.set(console_address(i + phase.address_offset))
        due = time.monotonic()
        ok = False
        async with LobbyClient.open(LOOPBACK, profile(phase.title), ports, encrypt=phase.encrypt) as client:
            try:
                if self.cap is not None:
                    await self.cap.acquire()
                try:
                    start = time.monotonic()
                    with trio.fail_after(LOGIN_TIMEOUT):
                        info = await client.login(phase.names[i], f"pw-{phase.names[i]}")
                        await client.join_channel(info.world_id)
                    self.succeeded(i, start, time.monotonic(), due)
                    ok = True
                finally:
                    if self.cap is not None:
                        self.cap.release()
            except trio.TooSlowError:
                self.result.errors.append(f"login timed out after {LOGIN_TIMEOUT:g} s")
            except Exception as exc:
                self.result.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self.finished()
            if ok and phase.hold:
                if phase.chat_every:
                    async with trio.open_nursery() as chatting:
                        chatting.start_soon(self.chat, client, i)
                        if i < phase.listeners:
                            chatting.start_soon(self.listen, client)
                        elif phase.listeners:
                            client.mls.rt.feed = _unread  # the bytes still leave the socket
                        await self.release.wait()
                        chatting.cancel_scope.cancel()
                else:
                    await self.release.wait()
                link = client.mls  # still connected? (MediusLink keeps why it closed in _closed)
                if link is None or link._closed is not None:
                    self.result.errors.append(
                        f"dropped while idle: {'no MLS link' if link is None else link._closed}"
                    )

    async def chat(self, client, i: int) -> None:
        """A held client's lobby chat, one line every ``chat_every`` s (first at a per-client offset,
        so the lines spread over the period) until released; a failed send ends it, with the reason."""
        import trio

        every = self.phase.chat_every
        await trio.sleep(every * ((i * 0.618) % 1.0))
        n = 0
        while True:
            n += 1
            said = time.monotonic()  # one clock for every process of the machine
            try:
                await client.chat(f"gl hf {n} {said:.6f}" if self.phase.listeners else f"gl hf {n}")
            except Exception as exc:
                self.result.errors.append(f"chat failed: {type(exc).__name__}: {exc}")
                return
            self.chats += 1
            if self.phase.listeners:
                self.said.append((said, i))
            await trio.sleep(every)

    async def listen(self, client) -> None:
        """Note each chat line forwarded to this client: when it was said (in its text) and heard."""
        from clank_lan.client.lobby import LobbyClosed

        while True:
            try:
                msg = await client.next_chat(timeout=3600)
            except LobbyClosed:
                return
            text = getattr(msg, "text", "")
            if text.startswith("gl hf "):
                self.heard.append((float(text.rsplit(" ", 1)[1]), time.monotonic()))

    async def echo(self, i: int) -> None:
        import trio

        await trio.sleep_until(self.scheduled(i) + self.offset)
        _SOURCE.set(console_address(i))
        start = time.monotonic()
        try:
            for rounds in LOGIN_ROUND_TRIPS:
                stream = await trio.open_tcp_stream(LOOPBACK, self.phase.ports["echo"])
                async with stream:
                    for _ in range(rounds):
                        await stream.send_all(bytes(ECHO_SIZE))
                        got = 0
                        while got < ECHO_SIZE:
                            data = await stream.receive_some(ECHO_SIZE)
                            if not data:
                                raise ConnectionError("the echo server closed the connection")
                            got += len(data)
            self.succeeded(i, start, time.monotonic())
        except Exception as exc:
            self.result.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.finished()


def chat_deliveries(
    result: PhaseResult, listeners: int, since: float = -math.inf, until: float = math.inf
) -> tuple[int, int, list[float]]:
    """Of the chat lines said in [since, until): how many, how many deliveries the ``listeners``
    listening consoles should have had (no console hears itself), and the delays of those they
    had, sorted (seconds)."""
    said = [i for t, i in result.said if since <= t < until]
    expected = sum(listeners - (i < listeners) for i in said)
    delays = sorted(heard - s for s, heard in result.heard if since <= s < until)
    return len(said), expected, delays


def _unread(data: bytes) -> tuple[()]:
    return ()


async def _run_phase(phase: Phase, index: int, count: int, inq, outq) -> PhaseResult:
    return await _PhaseRunner(phase, index, count, inq, outq).run()


def _worker_main(index: int, count: int, inq, outq) -> None:
    """A client worker process: runs each ``Phase`` it is sent in a fresh trio loop."""
    import traceback

    import trio

    from clank_lan.client import lobby  # noqa: F401  (import everything before the clock starts)
    from clank_lan.protocol.crypto import keys

    keys.all_keys()
    outq.put(("ready", index, os.getpid()))
    while True:
        phase = inq.get()
        if phase is None:
            return
        try:
            result = trio.run(_run_phase, phase, index, count, inq, outq)
        except BaseException:
            outq.put(("failed", index, traceback.format_exc()))
            continue
        outq.put(("done", index, result))


class Workers:
    """``count`` client processes (spawned, so nothing of the parent's state leaks in)."""

    def __init__(self, count: int, timeout: float = 60.0) -> None:
        self.count = count
        self.timeout = timeout
        ctx = mp.get_context("spawn")
        self.outq = ctx.Queue()
        self.inqs = [ctx.Queue() for _ in range(count)]
        self.procs = [
            ctx.Process(target=_worker_main, args=(i, count, self.inqs[i], self.outq), daemon=True)
            for i in range(count)
        ]
        self.pids: list[int] = []

    def __enter__(self) -> Workers:
        for p in self.procs:
            p.start()
        self.pids = [msg[2] for msg in self._collect("ready")]
        return self

    def __exit__(self, *exc) -> None:
        for q in self.inqs:
            q.put(None)
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(5)

    def _collect(self, kind: str) -> list[tuple]:
        """One ``kind`` message from every worker (bounded by ``timeout``; a dead worker fails fast)."""
        got: list[tuple] = []
        deadline = time.monotonic() + self.timeout
        while len(got) < self.count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"client workers did not report '{kind}' within {self.timeout:g} s")
            try:
                msg = self.outq.get(timeout=0.5)
            except queue.Empty:
                dead = [p.exitcode for p in self.procs if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"a client worker exited (code {dead[0]}) before '{kind}'") from None
                continue
            if msg[0] == "failed":
                raise RuntimeError(f"client worker {msg[1]} failed:\n{msg[2]}")
            if msg[0] != kind:
                raise RuntimeError(f"client worker {msg[1]} said {msg[0]!r}, expected {kind!r}")
            got.append(msg)
        return got

    def _send(self, phase: Phase) -> None:
        for q in self.inqs:
            q.put(phase)

    @staticmethod
    def _merge(msgs: list[tuple]) -> PhaseResult:
        total = PhaseResult()
        for msg in msgs:
            total.merge(msg[2])
        return total

    def run(self, phase: Phase) -> PhaseResult:
        """Run a phase to the end in every worker; the merged result."""
        self._send(phase)
        return self._merge(self._collect("done"))

    def hold(self, phase: Phase) -> PhaseResult:
        """Start a ``hold`` phase; returns once every client is logged in (and stays so)."""
        self._send(phase)
        return self._merge(self._collect("held"))

    def release(self) -> PhaseResult:
        """Let the held clients go (log out); the errors seen while they idled."""
        for q in self.inqs:
            q.put("release")
        return self._merge(self._collect("done"))


def start_time(lead: float = 0.3) -> float:
    """A common start a little in the future, so every worker begins at the same instant."""
    return time.monotonic() + lead


# --- helper processes (run this file as a script) ----------------------------------------------


class EchoServer:
    """The baseline: a trivial trio TCP echo server in its own process."""

    def __enter__(self) -> EchoServer:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "echo"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(5)


async def _echo_serve() -> None:
    import trio

    listeners = await trio.open_tcp_listeners(0, host=LOOPBACK)
    print(listeners[0].socket.getsockname()[1], flush=True)

    async def handle(stream) -> None:
        try:
            while data := await stream.receive_some(65536):
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass

    await trio.serve_listeners(handle, listeners)


def _serve_with_tracemalloc(path: Path, argv: list[str]) -> int:
    """``clank-lan serve`` under tracemalloc. Each SIGUSR1 writes a summary to ``path``: the traced
    total, and the biggest changes by allocation site since the first SIGUSR1 (the baseline)."""
    import gc
    import tracemalloc

    from clank_lan import engine, serve  # noqa: F401  (imported before tracing: a much faster start)

    tracemalloc.start(1)
    first: list[tracemalloc.Snapshot] = []

    def rows(stats, n: int = 15) -> list[dict]:
        return [
            {"where": f"{s.traceback[0].filename}:{s.traceback[0].lineno}", "size": s.size_diff}
            for s in stats[:n]
        ]

    def dump(*_: object) -> None:
        gc.collect()  # count what is reachable, not cycles the collector has yet to visit
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        current, peak = tracemalloc.get_traced_memory()
        if not first:
            first.append(snap)
        by_line = snap.compare_to(first[0], "lineno")
        summary = {"current": current, "peak": peak, "by_line": rows(by_line)}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary))
        tmp.replace(path)

    signal.signal(signal.SIGUSR1, dump)
    from clank_lan.cli import main

    return main(argv)


def _serve_with_cprofile(path: Path, argv: list[str]) -> int:
    """``clank-lan serve`` under cProfile timed by the main thread's CPU clock, not the wall clock:
    on a shared machine (and with the log writer thread holding the GIL now and then) wall time
    counts waits as work. The stats are written to ``path`` on the way out."""
    import cProfile

    from clank_lan.cli import main

    profiler = cProfile.Profile(time.thread_time)

    def cut(*_: object) -> None:
        """SIGUSR2: write what was profiled since the last cut to the file named in
        ``path.cut`` (see ``Server.profile_cut``), then start afresh."""
        target = path.with_suffix(".cut").read_text().strip()
        profiler.disable()
        if target:
            profiler.dump_stats(target + ".tmp")
            os.replace(target + ".tmp", target)
        profiler.clear()
        profiler.enable()

    signal.signal(signal.SIGUSR2, cut)
    profiler.enable()
    try:
        return main(argv)
    finally:
        profiler.disable()
        profiler.dump_stats(str(path))


#: Where a function's own CPU time goes, by its file (the first match wins); builtins by name.
BUCKETS = (
    ("PS2 RC4", ("ps2_rc4",)),
    ("RSA", ("ps2_rsa", "built-in method builtins.pow")),
    ("PBKDF2", ("pbkdf2",)),
    ("socket calls", ("_socket.socket", "select.epoll", "built-in method _socket")),
    ("trio runtime", ("/trio/", "/outcome/", "/sniffio/", "contextvars", "contextlib.py")),
    ("frame hash + framing", ("crypto/hashing.py", "protocol/framing.py", "crypto/session.py")),
    ("connection layer (rt, tcp, lobby_conn)", ("clank_lan/rt/", "servers/tcp.py", "servers/lobby_conn.py")),
    ("Medius codec", ("protocol/medius/", "protocol/rt_messages.py", "msgspec")),
    ("lobby handlers", ("servers/lobby/", "clank_lan/titles.py", "clank_lan/stages.py", "lobby_groups")),
    ("database", ("clank_lan/db/", "sqlite3")),
    ("logging (console lines)", ("logging/", "clank_lan/limit_hits.py", "_io.TextIOWrapper")),
    ("frame logging", ("clank_lan/logs.py", "protocol/hexlog.py")),
    ("events, limits, engine", ("clank_lan/events.py", "clank_lan/ratelimit.py", "clank_lan/engine.py")),
)
#: Functions that run before the first client or after the last (start-up, imports, shutdown).
_SETUP = ("<frozen importlib", "built-in method builtins.exec", "built-in method marshal", "compile")


def profile_buckets(path: Path) -> list[tuple[str, float]]:
    """The main thread's CPU seconds of a ``--cprofile`` stats file by bucket (``BUCKETS``),
    highest first; start-up and import time left out."""
    import pstats

    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        where = f"{filename}:{name}" if filename != "~" else name
        if any(mark in where for mark in _SETUP):
            continue
        bucket = next((b for b, marks in BUCKETS if any(m in where for m in marks)), None)
        if bucket is None:
            bucket = "builtins" if filename == "~" else "other Python"
        totals[bucket] = totals.get(bucket, 0.0) + tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


if __name__ == "__main__":
    if sys.argv[1:2] == ["echo"]:
        import trio

        try:
            trio.run(_echo_serve)
        except KeyboardInterrupt:
            pass
    elif sys.argv[1:3] == ["serve", "--tracemalloc"]:
        raise SystemExit(_serve_with_tracemalloc(Path(sys.argv[3]), sys.argv[4:]))
    elif sys.argv[1:3] == ["serve", "--cprofile"]:
        raise SystemExit(_serve_with_cprofile(Path(sys.argv[3]), sys.argv[4:]))
    else:
        raise SystemExit(
            "usage: _common.py echo | serve --tracemalloc FILE | serve --cprofile FILE <serve arguments>"
        )
