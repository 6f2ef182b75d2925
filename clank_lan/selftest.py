"""``clank-lan selftest``: prove that this install, or this frozen binary, works.

Runs the whole appliance on 127.0.0.1 with ports chosen by the OS and nothing written to disk,
then runs the connection doctor (``client/doctor.py``, the same stages ``clank-lan client doctor``
runs against a server elsewhere) against it as UYA (MAS, MLS) and as Deadlocked (MUIS, MAS, MLS):
DNS, every port, NAT, an encrypted login, a game created and joined, the DME's TCP and UDP. Then
what only an offline appliance can show (a foreign name gets NXDOMAIN, a NAT keep-alive gets no
answer) and a headless Textual screen (the TUI's widgets are in the bundle). Prints PASS or FAIL
per step and exits 0 only when every step passed; every step has a deadline, the whole run one too.
"""

from __future__ import annotations

import argparse
import platform
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import trio
from dnslib import RCODE, DNSRecord

from clank_lan import __version__
from clank_lan.client.doctor import Doctor, Target
from clank_lan.client.profiles import profile
from clank_lan.config import parse_config, with_any_free_ports
from clank_lan.dns.settings import DnsSettings
from clank_lan.doctor.results import Outcome, StageResult
from clank_lan.engine import Addresses, Engine
from clank_lan.logs import setup_logging
from clank_lan.servers import nat

STEP_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
LOCALHOST = "127.0.0.1"
SERVICES = ("muis", "mas", "mls", "dme_tcp", "dme_udp", "nat", "dns")
#: The consoles the doctor behaves as: a 1.08 title (MAS first) and a 1.10 one (MUIS first).
TITLES = ("uya", "dl")
FOREIGN_NAME = "selftest.example.com"  # not a game name: NXDOMAIN in offline mode


class StepFailed(Exception):
    """A check did not hold; the text says what was expected and what came."""


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    detail: str
    seconds: float

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name:<18} {self.detail} ({self.seconds:.2f} s)"


@dataclass
class SelfTest:
    """One run: the steps in order, sharing the engine."""

    report: Callable[[StepResult], None] = lambda r: print(r.line(), flush=True)
    step_timeout: float = STEP_TIMEOUT
    results: list[StepResult] = field(default_factory=list)
    engine: Engine | None = None  # the running appliance, once "start" passed

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    async def step(self, name: str, check: Callable[[], Awaitable[str]]) -> bool:
        start = time.perf_counter()
        try:
            with trio.fail_after(self.step_timeout):
                detail, ok = await check(), True
        except trio.TooSlowError:
            detail, ok = f"no result within {self.step_timeout:g} s", False
        except Exception as exc:  # any failure is this step's result, not a crash
            detail, ok = f"{type(exc).__name__}: {exc}", False
        self.add(StepResult(name, ok, detail, time.perf_counter() - start))
        return ok

    def skip(self, name: str, why: str) -> None:
        self.add(StepResult(name, False, f"not run: {why}", 0.0))

    def add(self, result: StepResult) -> None:
        self.results.append(result)
        self.report(result)

    async def run(self) -> bool:
        async with trio.open_nursery() as nursery:
            started = await self.step("start", partial(self._start, nursery))
            if started:
                await self._steps()
            else:
                for name in planned_steps()[1:-1]:
                    self.skip(name, "the appliance did not start")
            await self.step("textual", _textual_screen)
            nursery.cancel_scope.cancel()
        return self.passed

    async def _steps(self) -> None:
        for key in TITLES:
            await self.doctor(key)
        await self.step("dns offline", self._dns_offline)
        await self.step("nat keep-alive", self._nat_keepalive)

    async def doctor(self, key: str) -> None:
        """The doctor's stages as ``key``'s console, one step each (each within the step timeout)."""
        doctor = Doctor(target(key, self.engine, self.step_timeout), out=_quiet)
        plan = doctor.plan()
        with trio.move_on_after(self.step_timeout * len(plan)):
            await doctor.run()
        for r in doctor.results:
            self.add(_step_of(key, r))
        for stage in plan[len(doctor.results) :]:
            self.skip(f"{key} {stage}", "the doctor ran out of time before it")

    # steps ---------------------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> str:
        config = with_any_free_ports(parse_config(""))
        engine = Engine(
            config,
            Addresses(bind=LOCALHOST, advertised=LOCALHOST),
            ephemeral=True,
            dns=DnsSettings(port=0, offline=True),
        )
        await nursery.start(engine.run)
        self.engine = engine
        names = list(dict.fromkeys([*SERVICES, *engine.services]))  # and any service added later
        down = [f"{n.upper()} ({_detail(engine, n)})" for n in names if not _up(engine, n)]
        if down:
            raise StepFailed("not running: " + ", ".join(down))
        return "listening on 127.0.0.1: " + ", ".join(f"{n.upper()} {engine.port(n)}" for n in names)

    async def _dns_offline(self) -> str:
        reply = await _dns_query(DNSRecord.question(FOREIGN_NAME, "A"), self.engine.port("dns"))
        if reply.header.rcode != RCODE.NXDOMAIN or reply.rr:
            raise StepFailed(f"{FOREIGN_NAME} got {RCODE.get(reply.header.rcode)}, wanted NXDOMAIN (offline)")
        return f"{FOREIGN_NAME} -> NXDOMAIN (offline: nothing is asked upstream)"

    async def _nat_keepalive(self) -> str:
        port = self.engine.port("nat")
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind((LOCALHOST, 0))
            await sock.sendto(nat.KEEPALIVE, (LOCALHOST, port))
            await sock.sendto(nat.DL_REQUEST, (LOCALHOST, port))
            data, _ = await sock.recvfrom(64)  # loopback keeps order: a keep-alive answer comes first
            mine = sock.getsockname()[1]
        if nat.decode_reply(data) != (LOCALHOST, mine):
            raise StepFailed(
                f"NAT answered {data.hex(' ')} to a keep-alive and a request, wanted our address"
            )
        return f"{nat.KEEPALIVE.hex(' ')} unanswered; {nat.DL_REQUEST.hex(' ')} -> {LOCALHOST}:{mine}"


def target(key: str, engine: Engine | None, timeout: float = STEP_TIMEOUT) -> Target:
    """The doctor's target: the in-process appliance, as ``key``'s console."""
    prof = profile(key)

    def port(name: str) -> int:
        return engine.port(name) if engine is not None else 0

    return Target(
        host=LOCALHOST,
        title=prof.title,
        profile=prof,
        dns_port=port("dns"),
        muis_port=port("muis"),
        mas_port=port("mas"),
        mls_port=port("mls"),
        dme_port=port("dme_tcp"),
        nat_port=port("nat"),
        timeout=timeout,
        user=f"selftest-{key}",
        password="selftest",
    )


def planned_steps() -> list[str]:
    """Every step's name, in order."""
    doctor = [f"{key} {stage}" for key in TITLES for stage in Doctor(target(key, None), out=_quiet).plan()]
    return ["start", *doctor, "dns offline", "nat keep-alive", "textual"]


def _step_of(key: str, r: StageResult) -> StepResult:
    if r.outcome is Outcome.PASS:
        detail = (r.detail or r.what) + (f" (note: {r.note})" if r.note else "")
    elif r.outcome is Outcome.SKIPPED:
        detail = f"not run: {r.detail}"
    else:
        detail = r.detail + (f"; fix: {r.fix}" if r.fix else "")
    return StepResult(f"{key} {r.stage}", r.outcome is Outcome.PASS, detail, r.seconds or 0.0)


def _quiet(line: str) -> None:
    return None


def _up(engine, name: str) -> bool:
    s = engine.services.get(name)
    return s is not None and s.up


def _detail(engine, name: str) -> str:
    s = engine.services.get(name)
    return "never started" if s is None else s.detail or "down"


async def _dns_query(question: DNSRecord, port: int) -> DNSRecord:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind((LOCALHOST, 0))
        await sock.sendto(question.pack(), (LOCALHOST, port))
        data, _ = await sock.recvfrom(4096)
    reply = DNSRecord.parse(data)
    if reply.header.id != question.header.id:
        raise StepFailed("the DNS reply does not match the query id")
    return reply


async def _textual_screen() -> str:
    """Mount the widgets the TUI uses on a headless screen (Textual runs its own asyncio loop)."""
    return await trio.to_thread.run_sync(_run_textual, abandon_on_cancel=True)


def _run_textual() -> str:
    # imported here on purpose: a bundle missing Textual must give a FAIL line, not a crash
    import textual
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer, Header, Input, RichLog, TabbedContent, TabPane

    class Probe(App[int]):
        def compose(self) -> ComposeResult:
            yield Header()
            with TabbedContent():
                with TabPane("clients"):
                    yield DataTable()
                with TabPane("log"):
                    yield RichLog()
            yield Input()
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("name", "title")
            table.add_row("selftest", "uya")
            self.query_one(RichLog).write("selftest")
            self.call_after_refresh(self.exit, table.row_count)

    rows = Probe().run(headless=True, size=(80, 24))
    if rows != 1:
        raise StepFailed(f"the headless screen ended with {rows!r}, wanted 1 table row")
    return f"Textual {textual.__version__}: header, tabs, table, log, input and footer drawn headless"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=TOTAL_TIMEOUT, help=f"give up after this long ({TOTAL_TIMEOUT:g} s)"
    )
    parser.add_argument("--verbose", action="store_true", help="show the servers' log lines (every frame)")


def run(args: argparse.Namespace) -> int:
    if args.verbose:
        setup_logging("debug", None, frames=True)
    frozen = " (frozen binary)" if getattr(sys, "frozen", False) else ""
    python = f"Python {platform.python_version()} on {platform.platform()}"
    print(f"clank-lan {__version__} selftest{frozen}: {python}", flush=True)
    return trio.run(main, args.timeout)


async def main(timeout: float = TOTAL_TIMEOUT, report: Callable[[StepResult], None] | None = None) -> int:
    """Run every step; 0 when all passed, 1 otherwise (also when ``timeout`` runs out)."""
    test = SelfTest() if report is None else SelfTest(report=report)
    start = time.perf_counter()
    with trio.move_on_after(timeout) as scope:
        await test.run()
    seconds = time.perf_counter() - start
    failed = [r.name for r in test.results if not r.ok]
    if scope.cancelled_caught:
        print(f"selftest FAILED: gave up after {timeout:g} s", flush=True)
        return 1
    if failed or not test.results:
        print(f"selftest FAILED: {', '.join(failed)} ({seconds:.1f} s)", flush=True)
        return 1
    print(f"selftest PASSED: {len(test.results)} steps in {seconds:.1f} s", flush=True)
    return 0
