"""``clank-lan client doctor`` against a real appliance on 127.0.0.1: all stages pass, and with one
service down the failing stage is named, with the later ones skipped or failed accordingly."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from types import SimpleNamespace

import msgspec
import pytest
import trio
from dnslib import RCODE, DNSRecord

from clank_lan.client.doctor import Doctor, Target, resolve_title, run_doctor
from clank_lan.dns.server import serve_dns
from clank_lan.dns.settings import DnsSettings
from clank_lan.doctor.operator import attach_tracker
from clank_lan.doctor.results import Outcome, StageResult, root_error, summary
from clank_lan.doctor.tracker import State
from tests.conftest import ephemeral_config, running_engine

LOCAL = "127.0.0.1"
UYA_STAGES = [
    "dns",
    "tcp-mas",
    "tcp-mls",
    "tcp-dme",
    "nat",
    "login",
    "game-created",
    "game-joined",
    "dme-tcp",
    "dme-udp",
]
DL_STAGES = ["dns", "tcp-muis", "tcp-mas", "tcp-mls", "tcp-dme", "nat", "muis", "login", "game-created",
             "game-joined", "dme-tcp", "dme-udp"]  # fmt: skip


@asynccontextmanager
async def appliance(config=None, *, dns_advertised: str = LOCAL) -> AsyncIterator[tuple[object, int]]:
    """The engine (with the console tracker attached) plus a DNS redirector, all on 127.0.0.1."""
    with trio.fail_after(30):
        async with running_engine(config) as engine:
            attach_tracker(engine)
            async with trio.open_nursery() as nursery:
                settings = DnsSettings(port=0, offline=True)
                dns_port = await nursery.start(serve_dns, settings, LOCAL, dns_advertised, engine.bus)
                yield engine, dns_port
                nursery.cancel_scope.cancel()


def doctor_args(
    engine, dns_port: int, title: str = "uya", timeout: float = 2.0, **override
) -> argparse.Namespace:
    args = {
        "host": LOCAL,
        "title": title,
        "dns_port": dns_port,
        "muis_port": engine.port("muis"),
        "mas_port": engine.port("mas"),
        "mls_port": engine.port("mls"),
        "dme_port": engine.port("dme_tcp"),
        "nat_port": engine.port("nat"),
        "timeout": timeout,
    }
    args.update(override)
    return argparse.Namespace(**args)


class Run:
    """One doctor run: its exit code, printed lines and the stage outcomes by name."""

    def __init__(self, rc: int, lines: list[str]) -> None:
        self.rc = rc
        self.lines = lines
        self.outcomes = {}
        self.order = []
        for line in lines:
            word, _, rest = line.partition(" ")
            if word in ("PASS", "FAIL", "SKIPPED"):
                name = rest.split()[0]
                self.outcomes[name] = word
                self.order.append(name)

    def block(self, stage: str) -> str:
        """The status line of ``stage`` and its indented detail lines."""
        start = next(i for i, line in enumerate(self.lines) if line.split()[1:2] == [stage])
        out = [self.lines[start]]
        for line in self.lines[start + 1 :]:
            if not line.startswith(" "):
                break
            out.append(line)
        return "\n".join(out)


async def doctor(args: argparse.Namespace) -> Run:
    lines: list[str] = []
    rc = await run_doctor(args, out=lines.append)
    return Run(rc, lines)


def held_tcp_port() -> socket.socket:
    """A TCP port bound (not listening) by another socket: the engine cannot bind it, and a
    connection to it is refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOCAL, 0))
    return s


def closed_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOCAL, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def with_port(name: str, port: int):
    cfg = ephemeral_config()
    return msgspec.structs.replace(cfg, ports=msgspec.structs.replace(cfg.ports, **{name: port}))


@pytest.mark.parametrize(
    ("title", "stages"), [("uya", UYA_STAGES), ("dl", DL_STAGES), ("uya-pal", UYA_STAGES)]
)
async def test_every_stage_passes_against_a_running_appliance(title, stages):
    async with appliance() as (engine, dns_port):
        run = await doctor(doctor_args(engine, dns_port, title))
        assert run.rc == 0, "\n".join(run.lines)
        # a PAL disc's DNAS check is a step before any server: the DNS stage says so
        assert ("way past DNAS" in run.block("dns")) == (title == "uya-pal")
        assert run.order == stages
        assert set(run.outcomes.values()) == {"PASS"}
        assert run.lines[-1] == f"all {len(stages)} checks passed"
        assert "ms]" in run.block("login") and "clank-doctor" in run.block("login")
        # the server side saw the same console go all the way
        (console,) = engine.consoles.snapshot(engine.wall_clock())
        assert console.ip == LOCAL and console.account == "clank-doctor"
        assert console.furthest == "dme-udp" and console.state == State.OK
        assert console.reached("dns") and console.reached("login")
        assert console.reached("muis") == (title == "dl")
        # a second run right after the first logs in again (the first one's session is stale)
        again = await doctor(doctor_args(engine, dns_port, title))
        assert again.rc == 0, "\n".join(again.lines)


async def test_with_the_mls_port_held_the_mls_stages_fail_and_the_game_stages_are_skipped():
    holder = held_tcp_port()
    port = holder.getsockname()[1]
    with holder:
        async with appliance(with_port("mls", port)) as (engine, dns_port):
            assert not engine.services["mls"].up
            run = await doctor(doctor_args(engine, dns_port))
    assert run.rc == 1
    assert {s for s, o in run.outcomes.items() if o == "FAIL"} == {"tcp-mls", "login"}
    assert [s for s, o in run.outcomes.items() if o == "SKIPPED"] == [
        "game-created",
        "game-joined",
        "dme-tcp",
        "dme-udp",
    ]
    assert all(run.outcomes[s] == "PASS" for s in ("dns", "tcp-mas", "tcp-dme", "nat"))
    tcp = run.block("tcp-mls")
    assert f"nothing listens on TCP {port}" in tcp and "is clank-lan running?" in tcp and "--mls-port" in tcp
    assert f"the MAS login worked, but the MLS at {LOCAL}:{port} refused" in run.block("login")
    assert "needs login, which failed" in run.block("game-created")
    assert "needs game-created, which was skipped" in run.block("game-joined")
    assert run.lines[-1] == "2 failed, 4 skipped of 10 checks; start with: tcp-mls"
    # the tracker on the server tells the same story
    (console,) = engine.consoles.snapshot(engine.wall_clock())
    assert console.furthest == "login" and f"never reached the MLS on TCP {port}" in console.diagnosis


async def test_with_the_dme_down_game_creation_fails_and_names_the_dme():
    holder = held_tcp_port()
    with holder:
        async with appliance(with_port("dme_tcp", holder.getsockname()[1])) as (engine, dns_port):
            run = await doctor(doctor_args(engine, dns_port, "dl"))
    assert run.rc == 1
    assert {s for s, o in run.outcomes.items() if o == "FAIL"} == {"tcp-dme", "game-created"}
    assert [s for s, o in run.outcomes.items() if o == "SKIPPED"] == ["game-joined", "dme-tcp", "dme-udp"]
    assert "DME_TCP" in run.block("tcp-dme")
    create = run.block("game-created")
    assert "TRANSACTION_TIMED_OUT" in create and "DME is not running" in create


async def test_with_the_dns_stopped_only_the_dns_stage_fails():
    async with appliance() as (engine, _):
        run = await doctor(doctor_args(engine, closed_udp_port()))
    assert run.rc == 1
    assert [s for s, o in run.outcomes.items() if o != "PASS"] == ["dns"]
    block = run.block("dns")
    assert block.startswith("FAIL") and "nothing listens on UDP" in block and "hosts-ini" in block


async def test_a_dns_that_never_answers_fails_within_the_timeout():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((LOCAL, 0))
    with silent:
        async with appliance() as (engine, _):
            run = await doctor(doctor_args(engine, silent.getsockname()[1], timeout=0.5))
    # the stage's own deadline ended it (not a hang, not an error): the text says which
    assert run.outcomes["dns"] == "FAIL" and "no DNS answer within 0.5 s" in run.block("dns")
    assert "firewall" in run.block("dns")
    assert run.outcomes["dme-udp"] == "PASS"


async def test_a_dns_answering_another_address_says_which_and_what_to_set():
    async with appliance(dns_advertised="127.0.0.2") as (engine, dns_port):
        run = await doctor(doctor_args(engine, dns_port))
    block = run.block("dns")
    assert "ratchet3-prod1.pdonline.scea.com -> 127.0.0.2, not 127.0.0.1" in block
    assert "advertised_address" in block and run.rc == 1


async def test_a_dns_server_that_is_not_clank_lan_is_recognised():
    async def nxdomain(sock) -> None:
        while True:
            data, addr = await sock.recvfrom(4096)
            reply = DNSRecord.parse(data).reply()
            reply.header.rcode = RCODE.NXDOMAIN
            await sock.sendto(reply.pack(), addr)

    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((LOCAL, 0))
    with sock:
        async with appliance() as (engine, _), trio.open_nursery() as nursery:
            nursery.start_soon(nxdomain, sock)
            run = await doctor(doctor_args(engine, sock.getsockname()[1]))
            nursery.cancel_scope.cancel()
    block = run.block("dns")
    assert "ratchet3-prod1.pdonline.scea.com: answered NXDOMAIN with no address" in block
    assert "is not clank-lan's" in block
    assert [s for s, o in run.outcomes.items() if o != "PASS"] == ["dns"]


async def test_a_foreign_program_on_the_mas_port_fails_the_login_not_the_port_check():
    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.aclose()

    async with appliance() as (engine, dns_port), trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, hang_up, 0, host=LOCAL))
        port = listeners[0].socket.getsockname()[1]
        run = await doctor(doctor_args(engine, dns_port, mas_port=port))
        nursery.cancel_scope.cancel()
    assert run.outcomes["tcp-mas"] == "PASS" and run.outcomes["login"] == "FAIL"
    block = run.block("login")
    assert "RT handshake did not complete" in block and "another Medius server" in block
    if sys.platform.startswith("linux"):  # /proc names the holder: this test process
        assert f"pid {os.getpid()}" in block
    assert [s for s, o in run.outcomes.items() if o == "SKIPPED"] == [
        "game-created",
        "game-joined",
        "dme-tcp",
        "dme-udp",
    ]


async def test_a_nat_port_answering_garbage_fails_the_nat_stage():
    async def garbage(sock) -> None:
        while True:
            _, addr = await sock.recvfrom(64)
            await sock.sendto(b"abc", addr)

    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((LOCAL, 0))
    with sock:
        async with appliance() as (engine, dns_port), trio.open_nursery() as nursery:
            nursery.start_soon(garbage, sock)
            run = await doctor(doctor_args(engine, dns_port, nat_port=sock.getsockname()[1]))
            nursery.cancel_scope.cancel()
    assert [s for s, o in run.outcomes.items() if o != "PASS"] == ["nat"]
    assert "answered 3 bytes (61 62 63), not the 6-byte address" in run.block("nat")


async def test_a_title_without_a_client_profile_checks_dns_ports_and_nat():
    async with appliance() as (engine, dns_port):
        run = await doctor(doctor_args(engine, dns_port, "jakx-ntsc"))
    assert run.rc == 0
    assert run.order == ["dns", "tcp-muis", "tcp-mas", "tcp-mls", "tcp-dme", "nat"]
    assert "no headless client for jakx-ntsc" in run.lines[1]
    assert "jakx-prod.muis.pdonline.scea.com -> 127.0.0.1" in run.block("dns")


async def test_a_host_name_is_resolved_first():
    async with appliance() as (engine, dns_port):
        run = await doctor(doctor_args(engine, dns_port, host="localhost"))
    assert run.order[0] == "address" and run.outcomes["address"] == "PASS"
    assert "localhost is 127.0.0.1" in run.block("address") and run.rc == 0


async def test_an_unknown_title_is_an_error():
    lines: list[str] = []
    args = argparse.Namespace(host=LOCAL, title="pong", dns_port=1, muis_port=1, mas_port=1, mls_port=1,
                              dme_port=1, nat_port=1, timeout=1.0)  # fmt: skip
    assert await run_doctor(args, out=lines.append) == 1
    assert lines == [lines[0]] and "unknown title 'pong'" in lines[0] and "uya" in lines[0]
    args.title, args.timeout = "uya", 0.0
    assert await run_doctor(args, out=lines.append) == 1
    assert lines[-1] == "clank-lan client doctor: --timeout must be more than 0 seconds, not 0"


# --- pure parts ---------------------------------------------------------------------------------


def test_titles_resolve_by_profile_or_table_key():
    assert [
        (t.key, p.key if p else None) for t, p in map(resolve_title, ["uya", "dl-ntsc", "Gladiator"])
    ] == [
        ("uya-ntsc", "uya"),
        ("dl-ntsc", "dl"),
        ("dl-pal", "gladiator"),
    ]
    title, prof = resolve_title("killzone")
    assert title.key == "killzone" and prof is None
    with pytest.raises(ValueError, match="unknown title"):
        resolve_title("nope")


def test_root_error_digs_through_groups_and_trios_connect_chain():
    refused = ConnectionRefusedError(111, "Connection refused")
    chained = OSError("all attempts to connect to 127.0.0.1:1 failed")
    chained.__cause__ = ExceptionGroup("attempts", [refused])
    assert root_error(ExceptionGroup("nursery", [chained])) is refused
    plain = ValueError("x")
    assert root_error(plain) is plain


def test_stage_lines_and_summary():
    ok = StageResult("nat", Outcome.PASS, "NAT answers", 0.0012, "seen as 1.2.3.4:5", note="behind NAT")
    bad = StageResult("tcp-mls", Outcome.FAIL, "TCP MLS", 0.0, "refused", "start it")
    skip = StageResult("login", Outcome.SKIPPED, "log in", detail="needs tcp-mls, which failed")
    assert ok.lines() == [
        "PASS    nat          NAT answers  [1 ms]  seen as 1.2.3.4:5",
        f"{'':20}note: behind NAT",
    ]
    assert bad.lines() == [
        "FAIL    tcp-mls      TCP MLS  [0 ms]",
        f"{'':20}refused",
        f"{'':20}fix: start it",
    ]
    assert skip.lines() == ["SKIPPED login        log in", f"{'':20}needs tcp-mls, which failed"]
    assert summary([ok]) == "all 1 checks passed"
    assert summary([ok, skip]) == "0 failed, 1 skipped of 2 checks; start with: login"
    assert summary([ok, bad, skip], "10.0.0.5") == (
        "1 failed, 1 skipped of 3 checks; start with: tcp-mls. "
        "No clank-lan port answers at 10.0.0.5: is clank-lan running there?"
    )


async def test_nothing_running_fails_fast_and_says_so():
    tcp = [held_tcp_port() for _ in range(2)]  # bound, not listening: connections are refused
    mas, other = (s.getsockname()[1] for s in tcp)
    udp = closed_udp_port()
    ports = {"muis_port": mas, "mas_port": mas, "mls_port": other, "dme_port": other}
    args = argparse.Namespace(host=LOCAL, title="uya", dns_port=udp, nat_port=udp, timeout=2.0, **ports)
    try:
        run = await doctor(args)
    finally:
        for s in tcp:
            s.close()
    assert run.rc == 1
    # refusals are seen at once: no stage ended by waiting out its 2 s deadline
    assert not any("within 2 s" in run.block(stage) for stage in run.outcomes)
    assert [s for s, o in run.outcomes.items() if o == "FAIL"] == [
        "dns",
        "tcp-mas",
        "tcp-mls",
        "tcp-dme",
        "nat",
    ]
    assert run.lines[-1].endswith("is clank-lan running there?")


@pytest.mark.parametrize(
    ("core", "closed", "words"),
    [
        (
            SimpleNamespace(udp_server=("127.0.0.1", 50000), udp_accept=None),
            None,
            "firewall is probably blocking UDP 50000",
        ),
        (SimpleNamespace(udp_server=None, udp_accept=None), None, "never told us its UDP port"),
        (
            SimpleNamespace(udp_server=("127.0.0.1", 50000), udp_accept=object()),
            None,
            "never sent CONNECT_COMPLETE",
        ),
        (
            SimpleNamespace(udp_server=None, udp_accept=None),
            "server closed the connection",
            "closed the connection",
        ),
    ],
)
def test_dme_udp_failures_are_told_apart(core, closed, words):
    title, prof = resolve_title("uya")
    d = Doctor(Target(LOCAL, title, prof))
    detail, fix = d._udp_failure(SimpleNamespace(core=core, closed_reason=closed))
    assert words in detail + " " + fix
