"""Hostile DNS clients on loopback: malformed names, floods of garbage, held TCP connections, and
where the server binds. Each test asserts the attacker is answered FORMERR or dropped with a
bounded number of log lines, and that a well-behaved client is served meanwhile."""

from __future__ import annotations

import contextlib
import functools
import random
import socket
import struct

import msgspec
import pytest
import trio
from dnslib import QTYPE, RCODE, DNSHeader, DNSQuestion, DNSRecord

from clank_lan.config import LimitSettings
from clank_lan.dns.server import MAX_TCP_CLIENTS, dns_bind_address, serve_dns
from clank_lan.dns.settings import DnsSettings
from clank_lan.events import Event, EventBus, LogLine
from clank_lan.net.ports import PortUnavailable

LOCAL = "127.0.0.1"
OTHER = "127.0.0.2"  # a second "address": Linux routes all of 127/8 to lo
ADVERTISED = "192.168.77.7"  # only ever written into answers
GAME = "ratchet3-prod1.pdonline.scea.com"
OFFLINE = DnsSettings(port=0, offline=True)  # nothing is forwarded anywhere
STEP = 5.0


def query(name: str = GAME, qid: int = 0x4242) -> bytes:
    return bytes(DNSRecord(DNSHeader(id=qid, rd=1), q=DNSQuestion(name, QTYPE.A)).pack())


def raw_query(labels: list[bytes], qid: int = 7) -> bytes:
    """A query built by hand, so labels and names may break RFC 1035's limits."""
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    return struct.pack(">6H", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">2H", 1, 1)


class Bus:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.bus = EventBus()
        self.bus.add_callback(self.events.append)

    def lines(self, needle: str) -> list[LogLine]:
        return [e for e in self.events if isinstance(e, LogLine) and needle in e.text]


async def udp_exchange(port: int, payload: bytes, *, host: str = LOCAL, expect: bool = True) -> bytes | None:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.connect((host, port))
        await sock.send(payload)
        if not expect:
            with trio.move_on_after(0.3):
                try:
                    data = await sock.recv(4096)
                except ConnectionRefusedError:  # ICMP port unreachable: nobody listens there
                    return None
                raise AssertionError(f"unexpected reply {data!r}")
            return None
        with trio.fail_after(STEP):
            return await sock.recv(4096)


async def game_answer(port: int, host: str = LOCAL) -> list[str]:
    reply = DNSRecord.parse(await udp_exchange(port, query(), host=host))
    return [str(rr.rdata) for rr in reply.rr]


async def tcp_query(port: int, *, source: str = LOCAL) -> DNSRecord:
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream(LOCAL, port, local_address=source)
        async with stream:
            payload = query()
            await stream.send_all(len(payload).to_bytes(2, "big") + payload)
            buffer = b""
            while len(buffer) < 2 or len(buffer) < 2 + int.from_bytes(buffer[:2], "big"):
                chunk = await stream.receive_some(4096)
                assert chunk, "closed without an answer"
                buffer += chunk
            return DNSRecord.parse(buffer[2:])


# --- malformed names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ([b"a" * 64, b"pdonline", b"scea", b"com"], "a 64-byte label"),
        ([b"a" * 63] * 5 + [b"pdonline", b"scea", b"com"], "a 339-byte name"),
    ],
)
async def test_an_over_long_name_gets_formerr_and_one_log_line(labels, problem):
    bus = Bus()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_dns, OFFLINE, LOCAL, ADVERTISED, bus.bus)
            reply = await udp_exchange(port, raw_query(labels, qid=0xABCD))
            assert reply == b"\xab\xcd\x81\x81" + bytes(8)  # id, QR RD RA FORMERR, no sections
            assert DNSRecord.parse(reply).header.rcode == RCODE.FORMERR
            assert await game_answer(port) == [ADVERTISED]  # still serving
            nursery.cancel_scope.cancel()
    (line,) = bus.lines("refused a query")
    assert problem in line.text and line.level == "warning"


def garbage(count: int, seed: int = 10) -> list[bytes]:
    """Short packets, responses, random bytes and over-long names, in turn."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            out.append(b"\x00" * rng.randrange(12))
        elif kind == 1:
            out.append(b"\x00\x01\x80" + rng.randbytes(20))
        elif kind == 2:
            out.append(rng.randbytes(rng.randrange(12, 200)))
        else:
            out.append(raw_query([b"x" * 64, b"pdonline", b"scea", b"com"], qid=i))
    return out


async def flood(port: int, payloads: list[bytes]) -> None:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.connect((LOCAL, port))
        for i, payload in enumerate(payloads):
            await sock.send(payload)
            if i % 50 == 49:
                await trio.sleep(0)  # let the server keep up with the socket buffer


def serving(settings: DnsSettings, bus: EventBus | None, limits: LimitSettings):
    return functools.partial(serve_dns, settings, LOCAL, ADVERTISED, bus, limits=limits)


async def test_a_flood_of_garbage_writes_a_bounded_log():
    bus = Bus()
    limits = LimitSettings(log_lines_per_peer=3, log_interval=3600.0)  # one window for the whole flood
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serving(OFFLINE, bus.bus, limits))
            await flood(port, garbage(500))
            assert await game_answer(port) == [ADVERTISED]  # a good client is served meanwhile
            nursery.cancel_scope.cancel()
    about_flood = bus.lines("dropped") + bus.lines("refused a query")
    assert len(about_flood) == 3  # 500 bad packets, 3 lines


async def test_a_flood_ends_with_a_summary_line():
    bus = Bus()
    limits = LimitSettings(log_lines_per_peer=1, log_interval=0.2)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serving(OFFLINE, bus.bus, limits))
            await flood(port, garbage(40))
            while not bus.lines("more suppressed"):  # the flush task reports the quiet peer
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    summary = bus.lines("more suppressed")[0]
    assert summary.text.startswith(f"DNS {LOCAL}: … ") and summary.source == "dns"


# --- DNS over TCP: held connections ----------------------------------------------------------------


async def test_held_tcp_connections_from_one_address_do_not_lock_others_out():
    bus = Bus()
    held: list[trio.SocketStream] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_dns, OFFLINE, LOCAL, ADVERTISED, bus.bus)
            for _ in range(100):  # the attacker opens 100 and sends nothing
                held.append(await trio.open_tcp_stream(LOCAL, port))
            # Its 9th and later connections are closed at once: the per-address cap is 8.
            closed = 0
            for stream in held[8:]:
                with trio.fail_after(STEP):
                    if await stream.receive_some(10) == b"":
                        closed += 1
            assert closed == 92
            reply = await tcp_query(port, source=OTHER)  # another address gets in
            assert [str(rr.rdata) for rr in reply.rr] == [ADVERTISED]
            assert await game_answer(port) == [ADVERTISED]  # UDP never noticed
            for stream in held:
                await stream.aclose()
            nursery.cancel_scope.cancel()
    refusals = bus.lines("DNS over TCP: closed a connection")
    assert 1 <= len(refusals) <= LimitSettings().log_lines_per_peer  # 92 refusals, a few lines
    assert "(8 open from 127.0.0.1" in refusals[0].text


async def test_the_global_tcp_cap_still_holds():
    limits = LimitSettings(dns_tcp_per_address=MAX_TCP_CLIENTS)
    held: list[trio.SocketStream] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serving(OFFLINE, None, limits))
            for _ in range(MAX_TCP_CLIENTS + 1):
                held.append(await trio.open_tcp_stream(LOCAL, port))
            with trio.fail_after(STEP):
                assert await held[-1].receive_some(10) == b""
            await held[0].aclose()
            for _attempt in range(100):  # until the server has noticed the close (fail_after bounds it)
                try:
                    reply = await tcp_query(port, source=OTHER)
                    break
                except (AssertionError, trio.BrokenResourceError):  # closed at once: no free slot yet
                    await trio.sleep(0.02)
            assert reply.header.rcode == RCODE.NOERROR
            for stream in held[1:]:
                await stream.aclose()
            nursery.cancel_scope.cancel()


# --- where the server binds (issue 12 item 9) -------------------------------------------------------


@pytest.mark.parametrize(
    ("bind", "appliance", "lan", "expected"),
    [
        ("lan", "0.0.0.0", "192.168.1.50", "192.168.1.50"),  # default: the LAN address, not 0.0.0.0
        ("lan", "10.0.0.5", "192.168.1.50", "10.0.0.5"),  # the configured [network] address
        ("lan", "0.0.0.0", "", "0.0.0.0"),  # no LAN address known: every address
        ("any", "10.0.0.5", "192.168.1.50", "0.0.0.0"),
        ("127.0.0.1", "0.0.0.0", "192.168.1.50", "127.0.0.1"),
    ],
)
def test_dns_bind_address(bind, appliance, lan, expected):
    assert dns_bind_address(bind, appliance, lan) == expected


async def test_a_configured_bind_address_is_where_the_socket_listens():
    bus = Bus()
    settings = msgspec.structs.replace(OFFLINE, bind=LOCAL)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_dns, settings, "0.0.0.0", ADVERTISED, bus.bus)
            assert await game_answer(port) == [ADVERTISED]
            # Not bound to every address: 127.0.0.2 has no DNS on this port.
            await udp_exchange(port, query(), host=OTHER, expect=False)
            nursery.cancel_scope.cancel()
    assert bus.lines(f"DNS listening on {LOCAL}:{port}")


def resolved_stand_in(stack: contextlib.ExitStack) -> int:
    """A stand-in for systemd-resolved: UDP and TCP sockets on 127.0.0.53, on a port that is free
    on 127.0.0.1 too (other tests bind ports concurrently: pick again when one is taken)."""
    for _attempt in range(50):
        with contextlib.ExitStack() as trial:
            udp = trial.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            udp.bind(("127.0.0.53", 0))
            port = udp.getsockname()[1]
            try:
                tcp = trial.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                tcp.bind(("127.0.0.53", port))
                tcp.listen()
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):  # free where the DNS will bind
                    with socket.socket(socket.AF_INET, kind) as probe:
                        probe.bind((LOCAL, port))
            except OSError:
                continue
            stack.enter_context(trial.pop_all())
            return port
    raise AssertionError("no port free on both 127.0.0.53 and 127.0.0.1")


async def test_binding_the_lan_address_coexists_with_a_resolver_on_127_0_0_53():
    with contextlib.ExitStack() as stack:
        port = resolved_stand_in(stack)
        settings = msgspec.structs.replace(OFFLINE, port=port)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                # "lan" with the appliance on 127.0.0.1: DNS listens there, beside "resolved".
                assert await nursery.start(serve_dns, settings, LOCAL, ADVERTISED, None) == port
                assert await game_answer(port) == [ADVERTISED]
                assert (await tcp_query(port)).header.rcode == RCODE.NOERROR
                nursery.cancel_scope.cancel()
            # Binding every address is what clashes with it.
            with pytest.raises(PortUnavailable):
                await serve_dns(msgspec.structs.replace(settings, bind="any"), LOCAL, ADVERTISED, None)


async def test_an_over_long_name_over_tcp_gets_formerr_and_the_connection_stays_usable():
    bad = raw_query([b"a" * 64, b"pdonline", b"scea", b"com"], qid=0x0909)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_dns, OFFLINE, LOCAL, ADVERTISED, None)
            stream = await trio.open_tcp_stream(LOCAL, port)
            async with stream:
                good = query(qid=0x0A0A)
                await stream.send_all(b"".join(len(m).to_bytes(2, "big") + m for m in (bad, good)))
                buffer = b""
                while len(buffer) < 14 + 2:  # the bare FORMERR, then at least the next length
                    chunk = await stream.receive_some(4096)
                    assert chunk
                    buffer += chunk
                assert buffer[:14] == b"\x00\x0c\x09\x09\x81\x81" + bytes(8)
                while len(buffer) < 16 or len(buffer) < 16 + int.from_bytes(buffer[14:16], "big"):
                    chunk = await stream.receive_some(4096)
                    assert chunk
                    buffer += chunk
                reply = DNSRecord.parse(buffer[16:])
                assert reply.header.id == 0x0A0A and [str(rr.rdata) for rr in reply.rr] == [ADVERTISED]
            nursery.cancel_scope.cancel()
