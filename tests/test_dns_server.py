"""Acceptance: the real redirector over UDP and TCP on 127.0.0.1, with a local fake upstream."""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest
import trio
from dnslib import QTYPE, RCODE, RR, A, DNSHeader, DNSQuestion, DNSRecord

from clank_lan.dns.server import serve_dns
from clank_lan.dns.settings import DnsSettings
from clank_lan.events import DnsQuery, Event, EventBus, LogLine
from clank_lan.net.ports import PortUnavailable
from clank_lan.titles import all_hostnames

LOCAL = "127.0.0.1"
ADVERTISED = "192.168.77.7"  # only ever written into answers; nothing is sent there
UPSTREAM_ANSWER = "203.0.113.9"
STEP = 3.0  # seconds any single exchange may take before the test fails


def query(name: str, qtype: str = "A", qid: int = 0x4242) -> bytes:
    return DNSRecord(DNSHeader(id=qid, rd=1), q=DNSQuestion(name, getattr(QTYPE, qtype))).pack()


class FakeUpstream:
    """A resolver on 127.0.0.1 answering every A query with UPSTREAM_ANSWER (or staying silent)."""

    def __init__(self, *, silent: bool = False, truncate_udp: bool = False) -> None:
        self.silent = silent
        self.truncate_udp = truncate_udp
        self.seen: list[str] = []
        self.port = 0

    def _answer(self, data: bytes, *, truncated: bool) -> bytes:
        q = DNSRecord.parse(data)
        self.seen.append(str(q.q.qname))
        r = q.reply(aa=0)
        if truncated:
            r.header.tc = 1
        else:
            r.add_answer(RR(q.q.qname, QTYPE.A, rdata=A(UPSTREAM_ANSWER), ttl=300))
        return bytes(r.pack())

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        for _attempt in range(50):  # the UDP port the OS picks may be taken on TCP: pick again
            udp = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            await udp.bind((LOCAL, 0))
            self.port = udp.getsockname()[1]
            try:
                listeners = await trio.open_tcp_listeners(self.port, host=LOCAL)
                break
            except OSError:
                udp.close()
        else:
            raise OSError("no port free on both UDP and TCP")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._tcp, listeners)
            task_status.started(self.port)
            with udp:
                while True:
                    data, addr = await udp.recvfrom(4096)
                    if not self.silent:
                        await udp.sendto(self._answer(data, truncated=self.truncate_udp), addr)

    async def _tcp(self, stream: trio.SocketStream) -> None:
        async with stream:
            size = int.from_bytes(await stream.receive_some(2), "big")
            data = await stream.receive_some(size)
            reply = self._answer(data, truncated=False)
            await stream.send_all(len(reply).to_bytes(2, "big") + reply)


class Harness:
    def __init__(self, port: int, events: list[Event]) -> None:
        self.port = port
        self.events = events

    async def udp(self, payload: bytes, *, expect_reply: bool = True) -> DNSRecord | None:
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.connect((LOCAL, self.port))
            await sock.send(payload)
            if not expect_reply:
                with trio.move_on_after(0.2):
                    data = await sock.recv(4096)
                    raise AssertionError(f"unexpected reply {data!r}")
                return None
            with trio.fail_after(STEP):
                return DNSRecord.parse(await sock.recv(4096))

    async def tcp(self, payloads: list[bytes]) -> list[DNSRecord]:
        """Several queries on one connection, answers read in order."""
        with trio.fail_after(STEP):
            stream = await trio.open_tcp_stream(LOCAL, self.port)
            async with stream:
                await stream.send_all(b"".join(len(p).to_bytes(2, "big") + p for p in payloads))
                replies, buffer = [], b""
                while len(replies) < len(payloads):
                    chunk = await stream.receive_some(65536)
                    assert chunk, "server closed the connection early"
                    buffer += chunk
                    while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
                        size = int.from_bytes(buffer[:2], "big")
                        replies.append(DNSRecord.parse(buffer[2 : 2 + size]))
                        buffer = buffer[2 + size :]
                return replies

    def dns_events(self) -> list[DnsQuery]:
        return [e for e in self.events if isinstance(e, DnsQuery)]


@asynccontextmanager
async def running(settings: DnsSettings, **upstream_kw: bool) -> AsyncIterator[tuple[Harness, FakeUpstream]]:
    events: list[Event] = []
    bus = EventBus()
    bus.add_callback(events.append)
    fake = FakeUpstream(**upstream_kw)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            up_port = await nursery.start(fake.run)
            if not settings.upstream:
                settings = msgspec.structs.replace(settings, upstream=f"{LOCAL}:{up_port}")
            port = await nursery.start(serve_dns, settings, LOCAL, ADVERTISED, bus)
            yield Harness(port, events), fake
            nursery.cancel_scope.cancel()


BASE = DnsSettings(port=0, upstream_timeout=0.5)


def a_records(r: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in r.rr if rr.rtype == QTYPE.A]


async def test_every_table_hostname_answers_the_advertised_address_over_udp_and_tcp() -> None:
    names = all_hostnames()
    async with running(BASE) as (h, fake):
        for i, name in enumerate(names):
            r = await h.udp(query(name, qid=i))
            assert (r.header.id, r.header.rcode, a_records(r)) == (i, RCODE.NOERROR, [ADVERTISED]), name
        replies = await h.tcp([query(name, qid=1000 + i) for i, name in enumerate(names)])
        assert [a_records(r) for r in replies] == [[ADVERTISED]] * len(names)
        assert [r.header.id for r in replies] == [1000 + i for i in range(len(names))]
        assert fake.seen == []  # nothing of ours went upstream
        events = h.dns_events()
        assert len(events) == 2 * len(names)
        uya = next(e for e in events if e.name == "ratchet3-prod1.pdonline.scea.com")
        assert (uya.title, uya.answer, uya.qtype) == ("uya-ntsc", ADVERTISED, "A")
        assert uya.client.startswith(f"{LOCAL}:")


async def test_local_clients_get_the_lan_address_even_with_an_external_one_set() -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            functools.partial(serve_dns, BASE, LOCAL, ADVERTISED, None, external_ip="81.2.69.142")
        )
        r = await Harness(port, []).udp(query("ratchet3-prod1.pdonline.scea.com"))
        assert a_records(r) == [ADVERTISED]
        nursery.cancel_scope.cancel()


async def test_other_names_are_forwarded_to_the_upstream_and_relayed() -> None:
    async with running(BASE) as (h, fake):
        r = await h.udp(query("www.example.org", qid=7))
        assert (r.header.id, a_records(r)) == (7, [UPSTREAM_ANSWER])
        (t,) = await h.tcp([query("mirror.example.net", qid=8)])
        assert (t.header.id, a_records(t)) == (8, [UPSTREAM_ANSWER])
        aaaa = await h.udp(query("ratchet3-prod1.pdonline.scea.com", "AAAA"))
        assert (aaaa.header.rcode, aaaa.rr) == (RCODE.NOERROR, [])
        assert fake.seen == ["www.example.org.", "mirror.example.net."]
        forwarded = [e for e in h.dns_events() if e.answer == "forwarded"]
        assert [e.name for e in forwarded] == ["www.example.org", "mirror.example.net"]


async def test_offline_mode_answers_nxdomain_and_never_asks_upstream() -> None:
    async with running(msgspec.structs.replace(BASE, offline=True)) as (h, fake):
        r = await h.udp(query("www.example.org"))
        assert (r.header.rcode, r.rr) == (RCODE.NXDOMAIN, [])
        (t,) = await h.tcp([query("www.example.org")])
        assert t.header.rcode == RCODE.NXDOMAIN
        assert a_records(await h.udp(query("gate1.eu.dnas.playstation.org"))) == [ADVERTISED]
        assert fake.seen == []


@pytest.mark.parametrize(("mode", "rcode"), [("nxdomain", RCODE.NXDOMAIN), ("servfail", RCODE.SERVFAIL)])
async def test_a_silent_upstream_turns_into_the_configured_failure(mode: str, rcode: int) -> None:
    settings = msgspec.structs.replace(BASE, upstream_failure=mode, upstream_timeout=0.2)
    async with running(settings, silent=True) as (h, fake):
        with trio.fail_after(STEP):
            r = await h.udp(query("slow.example.org"))
        assert r.header.rcode == rcode
        assert fake.seen == [] and h.dns_events()[-1].answer.startswith(mode.upper())
        # game names are answered while the forward is still pending
        assert a_records(await h.udp(query("ratchetdl-prod.pdonline.scea.com"))) == [ADVERTISED]


async def test_drop_mode_sends_nothing_when_the_upstream_fails() -> None:
    settings = msgspec.structs.replace(BASE, upstream_failure="drop", upstream_timeout=0.1)
    async with running(settings, silent=True) as (h, _):
        await h.udp(query("slow.example.org"), expect_reply=False)


async def test_truncated_upstream_answers_are_retried_over_tcp_for_tcp_clients() -> None:
    async with running(BASE, truncate_udp=True) as (h, fake):
        r = await h.udp(query("big.example.org"))
        assert (r.header.tc, r.rr) == (1, [])  # a UDP client gets the TC answer and retries itself
        (t,) = await h.tcp([query("big.example.org")])
        assert (t.header.tc, a_records(t)) == (0, [UPSTREAM_ANSWER])
        assert fake.seen == ["big.example.org."] * 3


async def test_malformed_packets_are_dropped_and_the_server_keeps_answering() -> None:
    garbage = [
        b"",
        b"\xff" * 5,
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fabc",
        bytes(range(256)) * 2,
        bytes(DNSRecord.parse(query("x.org")).reply().pack()),  # a response, not a query
    ]
    async with running(BASE) as (h, _):
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.connect((LOCAL, h.port))
            for i, bad in enumerate(garbage):
                # the server handles datagrams in order: had it answered the garbage, that
                # answer would arrive before the one to the good query sent right after it
                await sock.send(bad)
                await sock.send(query("ratchet3-prod1.pdonline.scea.com", qid=i))
                with trio.fail_after(STEP):
                    r = DNSRecord.parse(await sock.recv(4096))
                assert (r.header.id, a_records(r)) == (i, [ADVERTISED])
        drops = [e for e in h.events if isinstance(e, LogLine) and e.text.startswith("dropped")]
        assert len(drops) == len(garbage)
        assert "hex: ff ff ff ff ff" in drops[1].text and drops[1].level == "warning"
        # a bad message on TCP closes that connection only
        with trio.fail_after(STEP):
            stream = await trio.open_tcp_stream(LOCAL, h.port)
            async with stream:
                await stream.send_all(b"\x00\x05\xff\xff\xff\xff\xff")
                assert await stream.receive_some(100) == b""
        (t,) = await h.tcp([query("ratchet3-prod1.pdonline.scea.com")])
        assert a_records(t) == [ADVERTISED]


async def test_a_port_held_by_another_socket_gives_the_diagnostic() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with holder:
        holder.bind((LOCAL, 0))
        port = holder.getsockname()[1]
        with trio.fail_after(STEP), pytest.raises(PortUnavailable) as caught:
            await serve_dns(msgspec.structs.replace(BASE, port=port), LOCAL, ADVERTISED, None)
    err = caught.value
    assert (err.port, err.protocol) == (port, "UDP")
    assert f"UDP port {port}" in str(err) and "already in use" in str(err)
    if sys.platform.startswith("linux"):
        assert f"(pid {os.getpid()})" in str(err)


async def test_a_taken_tcp_port_leaves_udp_serving_with_a_warning() -> None:
    events: list[Event] = []
    bus = EventBus()
    bus.add_callback(events.append)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind((LOCAL, 0))
        held.listen()
        port = held.getsockname()[1]
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                settings = msgspec.structs.replace(BASE, port=port, offline=True)
                assert await nursery.start(serve_dns, settings, LOCAL, ADVERTISED, bus) == port
                r = await Harness(port, events).udp(query("ratchet3-prod1.pdonline.scea.com"))
                assert a_records(r) == [ADVERTISED]
                nursery.cancel_scope.cancel()
    warning = next(e for e in events if isinstance(e, LogLine) and "DNS over TCP disabled" in e.text)
    assert f"TCP port {port}" in warning.text and warning.level == "warning"


async def test_an_upstream_that_is_this_server_is_refused_instead_of_looping() -> None:
    events: list[Event] = []
    bus = EventBus()
    bus.add_callback(events.append)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # find a free port, then let it go
        probe.bind((LOCAL, 0))
        port = probe.getsockname()[1]
    settings = msgspec.structs.replace(BASE, port=port, upstream=f"{LOCAL}:{port}")
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_dns, settings, LOCAL, ADVERTISED, bus)
            r = await Harness(port, events).udp(query("www.example.org"))
            assert r.header.rcode == RCODE.NXDOMAIN
            nursery.cancel_scope.cancel()
    warning = next(e for e in events if isinstance(e, LogLine) and "this DNS server itself" in e.text)
    assert warning.level == "warning"
    assert any(isinstance(e, DnsQuery) and e.answer == "NXDOMAIN (no upstream)" for e in events)
