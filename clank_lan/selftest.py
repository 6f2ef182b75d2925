"""``clank-lan selftest``: prove that this install, or this frozen binary, works.

Runs the whole appliance on 127.0.0.1 with ports chosen by the OS and nothing written to disk,
then talks to it as consoles do: DNS lookups of the game names, an encrypted login for UYA
(MAS, MLS) and Deadlocked (MUIS, MAS, MLS), a game created and joined, the NAT answer, and a
headless Textual screen (the TUI's widgets are in the bundle). Prints PASS or FAIL per step and
exits 0 only when every step passed; every step has a deadline, the whole run one too.
"""

from __future__ import annotations

import argparse
import platform
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import msgspec
import trio

from clank_lan import __version__

STEP_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
LOCALHOST = "127.0.0.1"
SERVICES = ("muis", "mas", "mls", "dme_tcp", "dme_udp", "nat", "dns")
NAT_REQUEST = bytes.fromhex("a0e6e401")  # a Deadlocked NAT query (dme-nat-muis-dns.md §B)
NAT_KEEPALIVE = bytes.fromhex("000000d4")  # must get no answer
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
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name:<14} {self.detail} ({self.seconds:.2f} s)"


@dataclass
class SelfTest:
    """One run: the steps in order, sharing the engine and the logged-in clients."""

    report: Callable[[StepResult], None] = lambda r: print(r.line(), flush=True)
    step_timeout: float = STEP_TIMEOUT
    results: list[StepResult] = field(default_factory=list)
    engine: Any = None  # the running Engine, once "start" passed
    clients: dict[str, Any] = field(default_factory=dict)  # title key -> logged-in LobbyClient

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
        result = StepResult(name, ok, detail, time.perf_counter() - start)
        self.results.append(result)
        self.report(result)
        return ok

    def skip(self, name: str, why: str) -> None:
        result = StepResult(name, False, f"not run: {why}", 0.0)
        self.results.append(result)
        self.report(result)

    async def run(self) -> bool:
        async with trio.open_nursery() as nursery:
            started = await self.step("start", partial(self._start, nursery))
            if started:
                await self._steps()
            else:
                for name in ("dns", "login uya", "login dl", "game uya", "game dl", "nat"):
                    self.skip(name, "the appliance did not start")
            await self.step("textual", _textual_screen)
            nursery.cancel_scope.cancel()
        return self.passed

    async def _steps(self) -> None:
        from clank_lan.client.lobby import LobbyClient, Ports
        from clank_lan.client.profiles import profile

        await self.step("dns", self._dns)
        engine = self.engine
        ports = Ports(muis=engine.port("muis"), mas=engine.port("mas"), mls=engine.port("mls"))
        async with AsyncExitStack() as stack:
            for key in ("uya", "dl"):
                # opened outside the step's deadline: a client owns a nursery that outlives the step
                client = await stack.enter_async_context(LobbyClient.open(LOCALHOST, profile(key), ports))
                await self.step(f"login {key}", partial(self._login, client, key))
            for key in ("uya", "dl"):
                if key in self.clients:
                    await self.step(f"game {key}", partial(self._game, key))
                else:
                    self.skip(f"game {key}", "the login failed")
        await self.step("nat", self._nat)

    # steps ---------------------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> str:
        from clank_lan.config import PortSettings, parse_config
        from clank_lan.dns.settings import DnsSettings
        from clank_lan.engine import Addresses, Engine
        from clank_lan.serve import start_dns

        zero = PortSettings(muis=0, mas=0, mls=0, mps=0, dme_tcp=0, dme_udp=0, nat=0)
        config = msgspec.structs.replace(parse_config(""), ports=zero)
        dns = DnsSettings(port=0, offline=True)
        engine = Engine(config, Addresses(bind=LOCALHOST, advertised=LOCALHOST), ephemeral=True)

        async def extra(engine: Engine, inner: trio.Nursery) -> None:
            await start_dns(engine, inner, dns)

        await nursery.start(partial(engine.run, extra=extra))
        self.engine = engine
        names = list(dict.fromkeys([*SERVICES, *engine.services]))  # and any service added later
        down = [f"{n.upper()} ({_detail(engine, n)})" for n in names if not _up(engine, n)]
        if down:
            raise StepFailed("not running: " + ", ".join(down))
        return "listening on 127.0.0.1: " + ", ".join(f"{n.upper()} {engine.port(n)}" for n in names)

    async def _dns(self) -> str:
        from dnslib import QTYPE, RCODE, DNSRecord

        from clank_lan.client.profiles import profile
        from clank_lan.titles import title_for_app_id

        port = self.engine.port("dns")
        answers = []
        for key in ("uya", "dl"):
            name = title_for_app_id(profile(key).app_id).hostnames[0]
            reply = await _dns_query(DNSRecord.question(name, "A"), port)
            got = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
            if got != [LOCALHOST]:
                shown = got or RCODE.get(reply.header.rcode)
                raise StepFailed(f"{name} answered {shown}, wanted {LOCALHOST}")
            answers.append(f"{name} -> {got[0]}")
        reply = await _dns_query(DNSRecord.question(FOREIGN_NAME, "A"), port)
        if reply.header.rcode != RCODE.NXDOMAIN or reply.rr:
            raise StepFailed(f"{FOREIGN_NAME} got {RCODE.get(reply.header.rcode)}, wanted NXDOMAIN (offline)")
        return "; ".join(answers) + f"; {FOREIGN_NAME} -> NXDOMAIN"

    async def _login(self, client, key: str) -> str:
        engine, prof = self.engine, client.profile
        info = await client.login(f"selftest-{key}", "selftest", register=True)
        if (info.mls_ip, info.mls_port) != (LOCALHOST, engine.port("mls")):
            raise StepFailed(f"MAS sent the MLS as {info.mls_ip}:{info.mls_port}")
        rt = client.mls.rt
        if not rt.connected or rt.game_key is None:
            raise StepFailed("the MLS connection is not up, or not encrypted, after login")
        self.clients[key] = client
        path = "MUIS, MAS, MLS" if prof.uses_muis else "MAS, MLS"
        return f"app id {prof.app_id}, Medius {prof.version}, encrypted via {path}; account {info.account_id}"

    async def _game(self, key: str) -> str:
        engine, client = self.engine, self.clients[key]
        game_id = await client.create_game(f"selftest {key}")
        listed = [g.world_id for g in await client.games()]
        if game_id not in listed:
            raise StepFailed(f"game {game_id} is not in the game list {listed}")
        join = await client.join_game(game_id)
        dme, nat = (join.dme_ip, join.dme_port), (join.nat_ip, join.nat_port)
        if dme != (LOCALHOST, engine.port("dme_tcp")) or nat != (LOCALHOST, engine.port("nat")):
            raise StepFailed(f"JoinGame pointed at DME {dme} and NAT {nat}")
        kind = "CreateGame" if client.profile.v109 else "CreateGame1"
        return f"{kind}: game {game_id} listed and joined; DME {join.dme_port}, NAT {join.nat_port}"

    async def _nat(self) -> str:
        port = self.engine.port("nat")
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind((LOCALHOST, 0))
            await sock.sendto(NAT_KEEPALIVE, (LOCALHOST, port))
            await sock.sendto(NAT_REQUEST, (LOCALHOST, port))
            data, _ = await sock.recvfrom(64)  # loopback keeps order: a keep-alive answer comes first
            mine = sock.getsockname()[1]
        wanted = socket.inet_aton(LOCALHOST) + mine.to_bytes(2, "big")
        if data != wanted:
            raise StepFailed(f"NAT answered {data.hex(' ')}, wanted {wanted.hex(' ')}")
        return f"{NAT_REQUEST.hex(' ')} -> {LOCALHOST}:{mine}; keep-alive unanswered"


def _up(engine, name: str) -> bool:
    s = engine.services.get(name)
    return s is not None and s.up


def _detail(engine, name: str) -> str:
    s = engine.services.get(name)
    return "never started" if s is None else s.detail or "down"


async def _dns_query(question, port: int):
    from dnslib import DNSRecord

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
    import textual

    return f"Textual {textual.__version__}: header, tabs, table, log, input and footer drawn headless"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=TOTAL_TIMEOUT, help=f"give up after this long ({TOTAL_TIMEOUT:g} s)"
    )
    parser.add_argument("--verbose", action="store_true", help="show the servers' log lines (every frame)")


def run(args: argparse.Namespace) -> int:
    if args.verbose:
        from clank_lan.logs import setup_logging

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
