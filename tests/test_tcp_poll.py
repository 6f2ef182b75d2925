"""Idle connections in the TCP shell: a connection whose protocol says its input can wait (an idle
console's keepalive) is looked at by the shell's poll every ``POLL_INTERVAL``, with the others,
instead of waking the loop for each input. Real socket pairs (the poll needs descriptors) on
trio's fake clock."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from clank_lan.rt.outbox import Outbox
from clank_lan.servers import tcp


class Idle:
    """Echoes in capitals; after a ``ping`` (a keepalive) its next input may wait."""

    def __init__(self) -> None:
        self.outbox = Outbox(4096)
        self.seen: list[tuple[bytes, float]] = []
        self.lost: list[str] = []
        self.input_can_wait = False

    def data_received(self, data: bytes, now: float) -> None:
        self.seen.append((data, now))
        self.input_can_wait = data == b"ping"
        self.outbox.push(data.upper())

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> None:
        raise AssertionError("no deadline was asked for")

    def connection_lost(self, reason: str, now: float) -> None:
        self.lost.append(reason)


class Peer:
    """The console's end of a socket pair, and the protocol on the server's end."""

    def __init__(self) -> None:
        ours, self.sock = socket.socketpair()
        self.sock.setblocking(False)
        self.stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        self.proto = Idle()

    def send(self, data: bytes) -> None:
        self.sock.send(data)

    def read(self) -> bytes:
        try:
            return self.sock.recv(4096)
        except BlockingIOError:
            return b""

    def times(self) -> list[float]:
        return [t for _, t in self.proto.seen]


@asynccontextmanager
async def serving(n: int) -> AsyncIterator[list[Peer]]:
    peers = [Peer() for _ in range(n)]
    try:
        async with trio.open_nursery() as nursery:
            for p in peers:
                nursery.start_soon(tcp.run_stream, p.stream, p.proto, "test")
            await settle()
            yield peers
            nursery.cancel_scope.cancel()
    finally:
        for p in peers:
            p.sock.close()


async def settle() -> None:
    """Let the server act on what is already in its sockets (no fake time passes)."""
    for _ in range(5):
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(0)


def parked() -> int:
    return len(tcp._shell().poller.get_map())


async def test_an_idle_connections_input_waits_for_the_poll_and_a_request_ends_that(autojump_clock):
    async with serving(1) as (p,):
        start = trio.current_time()
        p.send(b"ping")  # not idle yet: handled at once
        await settle()
        assert p.times() == [start] and p.read() == b"PING"
        assert parked() == 1  # the keepalive made it idle: its socket waits for the poll
        await trio.sleep(0.01)
        p.send(b"ping")
        await trio.sleep(0.1)
        assert len(p.proto.seen) == 1  # not yet
        await trio.sleep(tcp.POLL_INTERVAL)
        assert p.times()[1] == pytest.approx(start + tcp.POLL_INTERVAL)  # the poll after it parked
        assert p.read() == b"PING"
        p.send(b"menu")  # a request, still seen at the next poll...
        await trio.sleep(tcp.POLL_INTERVAL)
        assert p.times()[2] == pytest.approx(start + 2 * tcp.POLL_INTERVAL)
        assert parked() == 0  # ...after which the connection waits on its socket again
        at = trio.current_time()
        p.send(b"next")
        await settle()
        assert p.times()[3] == at and p.read() == b"MENUNEXT"


async def test_idle_connections_are_looked_at_together(autojump_clock, monkeypatch):
    polls: list[float] = []
    shell = tcp._shell()
    inner = shell._poll

    def counted(now: float) -> None:
        polls.append(now)
        inner(now)

    monkeypatch.setattr(shell, "_poll", counted)
    async with serving(20) as peers:
        for p in peers:
            p.send(b"ping")
        await settle()
        assert parked() == 20
        polls.clear()
        for i, p in enumerate(peers):  # inputs spread over most of an interval
            await trio.sleep(0.01)
            p.send(b"ping %d" % i)
        await trio.sleep(tcp.POLL_INTERVAL)
        handled = {p.proto.seen[1][1] for p in peers}
        assert len(handled) == 1 and len(polls) == 1  # one look, twenty answers
        assert all(p.read() == b"PINGPING %d" % i for i, p in enumerate(peers))


async def test_a_peer_that_closes_an_idle_connection_ends_it_at_the_next_poll(autojump_clock):
    async with serving(1) as (p,):
        p.send(b"ping")
        await settle()
        start = trio.current_time()
        p.sock.shutdown(socket.SHUT_WR)
        await trio.sleep(tcp.POLL_INTERVAL + 0.01)
        assert p.proto.lost == ["peer closed the connection"]
        assert parked() == 0
        assert trio.current_time() - start <= tcp.POLL_INTERVAL + 0.01


async def test_a_connection_ended_while_idle_leaves_nothing_in_the_poll(autojump_clock):
    async with serving(3) as peers:
        for p in peers:
            p.send(b"ping")
        await settle()
        assert parked() == 3
    # (the nursery was cancelled: shutdown) every socket left the poll, no task is left waiting
    assert parked() == 0
    assert all(p.proto.lost == ["closed"] for p in peers)


async def test_past_the_poll_limit_idle_connections_wait_on_their_sockets(autojump_clock, monkeypatch):
    monkeypatch.setattr(tcp, "POLL_MAX", 2)
    async with serving(3) as peers:
        for p in peers:
            p.send(b"ping")
        await settle()
        assert parked() == 2
        at = trio.current_time()
        for p in peers:
            p.send(b"ping")
        await settle()
        prompt = [p for p in peers if p.times()[-1] == at and len(p.proto.seen) == 2]
        assert len(prompt) == 1  # the one beyond the limit was woken by its own socket


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
async def test_consoles_that_idled_and_left_leave_no_descriptor_behind(autojump_clock):
    """The poll's own descriptor is made with the shell, so a benchmark (or a test) that waits
    for the server to be back to its descriptor count is not kept waiting by the first idle
    console."""
    tcp._shell()
    before = set(os.listdir("/proc/self/fd"))
    async with serving(3) as peers:
        for p in peers:
            p.send(b"ping")
        await settle()
        assert parked() == 3
    await settle()
    # descriptors opened meanwhile and still open (one closed meanwhile by someone else's garbage
    # being collected, another test's, is not this test's business)
    assert set(os.listdir("/proc/self/fd")) - before == set()
