"""The trio TCP shell on memory streams and a fake clock: replies, timers, output overflow, the
close grace, an internal error closing only its connection, and the accept retry when out of
file descriptors. No sockets, no sleeps: ``autojump_clock`` moves time when every task waits."""

from __future__ import annotations

import errno
import gc
import logging
import math
import threading
import weakref
from functools import partial

import pytest
import trio
import trio.testing

from clank_lan import limit_hits as lh
from clank_lan.config import LimitSettings
from clank_lan.protocol.errors import ProtocolError
from clank_lan.rt.outbox import LATER, Outbox
from clank_lan.servers import tcp

PEER = ("10.0.0.9", 40000)
LOCAL = ("10.0.0.1", 10078)


class Echo:
    """A sans-IO protocol for the tests: echoes, and obeys a few commands."""

    def __init__(self, limit: int = 1024, tick: float | None = None, tick_size: int = 4) -> None:
        self.outbox = Outbox(limit)
        self.lost: list[str] = []
        self.ticks: list[float] = []
        self.tick = tick
        self.tick_size = tick_size
        self.next_at: float | None = None

    def data_received(self, data: bytes, now: float) -> None:
        if data == b"boom":
            raise RuntimeError("a bug in a handler")
        if data == b"bad":
            raise ProtocolError("not a frame", data=data)
        if data.startswith(b"bye"):
            self.outbox.push(b"farewell")
            self.outbox.close("the protocol said bye")
            return
        self.outbox.push(data.upper())

    def next_deadline(self) -> float | None:
        if self.tick is None:
            return None
        if self.next_at is None:
            self.next_at = trio.current_time() + self.tick
        return self.next_at

    def on_timer(self, now: float) -> None:
        self.ticks.append(now)
        self.outbox.push(b"t" * self.tick_size)
        assert self.tick is not None
        self.next_at = now + self.tick

    def connection_lost(self, reason: str, now: float) -> None:
        self.lost.append(reason)
        self.lost_at = now


async def receive_exactly(stream: trio.abc.ReceiveStream, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = await stream.receive_some(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


async def test_replies_and_the_peer_closing(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo()
    async with trio.open_nursery() as nursery:
        result: list[str] = []
        nursery.start_soon(lambda: _collect(result, tcp.run_stream(ours, proto, "test")))
        await theirs.send_all(b"hello")
        assert await receive_exactly(theirs, 5) == b"HELLO"
        await theirs.aclose()
    assert result == ["peer closed the connection"] and proto.lost == result


async def _collect(into: list, coro) -> None:
    into.append(await coro)


async def test_timers_fire_at_their_deadline_and_write_on_their_own(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo(tick=5.0)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, proto, "test")
        assert await receive_exactly(theirs, 8) == b"tttttttt"  # two ticks, nobody sent anything
        assert [t - start for t in proto.ticks] == [5.0, 10.0]
        nursery.cancel_scope.cancel()
    assert proto.lost == ["closed"]  # shutdown still tells the protocol


async def test_a_peer_that_stops_reading_is_dropped_when_the_outbox_overflows(autojump_clock):
    ours, theirs = trio.testing.lockstep_stream_pair()  # a write blocks until the peer reads
    proto = Echo(limit=1000, tick=1.0, tick_size=400)
    start = trio.current_time()
    with trio.fail_after(60):
        reason = await tcp.run_stream(ours, proto, "test")
    # tick 1 is taken by the blocked write; ticks 2-4 queue 1200 bytes > 1000: out
    assert reason == tcp.OVERFLOW_REASON and proto.lost == [reason]
    assert trio.current_time() - start == 4.0
    del theirs


async def test_output_that_may_wait_goes_out_once_within_later_with_what_came_meanwhile(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, proto, "test")
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        proto.outbox.push_later(b"one ")  # two channel lines for this console, 50 ms apart
        await trio.sleep(LATER / 2)
        proto.outbox.push_later(b"two ")
        assert await theirs.receive_some() == b"one two "  # one write
        assert trio.current_time() - start == pytest.approx(LATER)
        # the console's own answer does not wait, and takes what waits with it, in order
        proto.outbox.push_later(b"three ")
        asked = trio.current_time()
        await theirs.send_all(b"now")
        assert await receive_exactly(theirs, 9) == b"three NOW"
        assert trio.current_time() == asked
        await trio.sleep(LATER * 2)  # nothing is left to write when the waiting time is up
        with trio.move_on_after(LATER):
            assert await theirs.receive_some() == b"never"
        nursery.cancel_scope.cancel()


async def test_output_that_may_wait_still_overflows_at_once(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo(limit=8)
    async with trio.open_nursery() as nursery:
        result: list[str] = []
        nursery.start_soon(lambda: _collect(result, tcp.run_stream(ours, proto, "test")))
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        proto.outbox.push_later(b"x" * 9)
    assert result == [tcp.OVERFLOW_REASON] and trio.current_time() == start
    del theirs


async def test_output_that_may_wait_for_a_connection_that_ended_is_dropped(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, proto, "test")
        await trio.testing.wait_all_tasks_blocked()
        proto.outbox.push_later(b"late")
        await theirs.aclose()  # the console hangs up before the line goes out
        await trio.sleep(LATER * 2)  # the shell's batch of waiting output skips it
    assert proto.lost == ["peer closed the connection"]
    assert tcp._shell().later == [] and tcp._shell().later_at == math.inf


async def test_a_close_whose_output_is_never_read_ends_after_the_grace(autojump_clock):
    ours, theirs = trio.testing.lockstep_stream_pair()
    proto = Echo()
    proto.outbox.push(b"x" * 10)  # queued before the shell starts: the write blocks at once
    proto.outbox.close("server shutting down")
    start = trio.current_time()
    with trio.fail_after(60):
        reason = await tcp.run_stream(ours, proto, "test", close_grace=3.0)
    assert reason.startswith("server shutting down") and "not read within 3 s" in reason
    assert trio.current_time() - start == 3.0
    del theirs


async def test_a_close_is_written_first_then_the_connection_ends(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo()
    async with trio.open_nursery() as nursery:
        result: list[str] = []
        nursery.start_soon(lambda: _collect(result, tcp.run_stream(ours, proto, "test")))
        await theirs.send_all(b"bye")
        assert await receive_exactly(theirs, 100) == b"farewell"  # then EOF
    assert result == ["the protocol said bye"]


async def test_a_protocol_error_closes_with_its_reason(autojump_clock, caplog):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo()
    await theirs.send_all(b"bad")
    reason = await tcp.run_stream(ours, proto, "test")
    assert reason == "protocol error: not a frame (at offset 0)"
    assert "62 61 64" in caplog.text  # the offending bytes are logged


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """Hands out queued streams; an ``OSError`` in the queue is raised by accept()."""

    def __init__(self) -> None:
        self.send, self.recv = trio.open_memory_channel[object](100)
        self.accepts = 0

    async def accept(self) -> trio.abc.Stream:
        item = await self.recv.receive()
        self.accepts += 1
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, trio.abc.Stream)
        return item

    async def aclose(self) -> None:
        self.recv.close()


def _peer_of(stream: trio.abc.Stream) -> tuple[str, int]:
    return PEER


async def test_an_internal_error_closes_only_that_connection(autojump_clock, caplog):
    listener = MemoryListener()
    protos: list[Echo] = []

    def factory(peer, local, now):
        assert (peer, local) == (PEER, LOCAL) and now == trio.current_time()
        protos.append(Echo())
        return protos[-1]

    a_ours, a_theirs = trio.testing.memory_stream_pair()
    b_ours, b_theirs = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: tcp.accept_loop("MLS", listener, factory, LOCAL, peer_of=_peer_of))
        await listener.send.send(a_ours)
        await listener.send.send(b_ours)
        await a_theirs.send_all(b"boom")
        assert await a_theirs.receive_some(10) == b""  # A is closed
        await b_theirs.send_all(b"still here")
        assert await receive_exactly(b_theirs, 10) == b"STILL HERE"  # B is not
        nursery.cancel_scope.cancel()
    assert protos[0].lost == ["internal error: RuntimeError('a bug in a handler')"]
    assert protos[1].lost == ["closed"]
    assert "internal error, closing this connection only" in caplog.text


async def test_out_of_file_descriptors_accept_waits_and_retries(autojump_clock, caplog):
    listener = MemoryListener()
    protos: list[Echo] = []
    for _ in range(3):
        await listener.send.send(OSError(errno.EMFILE, "Too many open files"))
    ours, theirs = trio.testing.memory_stream_pair()
    await listener.send.send(ours)
    start = trio.current_time()
    caplog.set_level(logging.WARNING, "clank_lan.tcp")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: tcp.accept_loop(
                "MAS", listener, lambda p, l, t: protos.append(Echo()) or protos[-1], LOCAL, peer_of=_peer_of
            )
        )
        await theirs.send_all(b"hi")
        assert await receive_exactly(theirs, 2) == b"HI"
        assert trio.current_time() - start == pytest.approx(3 * tcp.ACCEPT_RETRY_DELAY)
        nursery.cancel_scope.cancel()
    assert listener.accepts == 4
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "accept failed" in errors[0].getMessage()  # once, not once per try
    assert "accepting connections again" in caplog.text


async def test_another_accept_error_is_not_swallowed(autojump_clock):
    listener = MemoryListener()
    await listener.send.send(OSError(errno.EBADF, "Bad file descriptor"))
    with pytest.raises(BaseExceptionGroup) as info:
        await tcp.accept_loop("MAS", listener, lambda p, l, t: Echo(), LOCAL, peer_of=_peer_of)
    assert info.group_contains(OSError)


async def test_a_factory_failure_closes_the_stream_and_logs(autojump_clock, caplog):
    ours, theirs = trio.testing.memory_stream_pair()

    def factory(peer, local, now):
        raise RuntimeError("no room")

    assert await tcp.handle_stream("MLS", ours, LOCAL, factory, _peer_of) == "setup failed"
    assert await theirs.receive_some(10) == b""
    assert "could not set up the connection" in caplog.text


async def test_a_broken_peer_is_a_lost_connection_and_cleanup_errors_are_contained(autojump_clock, caplog):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo()

    def failing_lost(reason: str, now: float) -> None:
        raise RuntimeError("cleanup bug")

    proto.connection_lost = failing_lost  # type: ignore[method-assign]
    await theirs.send_all(b"ping")
    await theirs.receive_stream.aclose()  # it will never read the answer: our write breaks
    reason = await tcp.run_stream(ours, proto, "test")
    assert reason.startswith("connection lost:")
    assert "error while cleaning up" in caplog.text


async def test_a_peer_without_an_address_is_closed_at_once(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()

    def no_peer(stream):
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

    assert (
        await tcp.handle_stream("MLS", ours, LOCAL, lambda p, l, t: Echo(), no_peer)
        == "peer address unavailable"
    )
    assert await theirs.receive_some(10) == b""


async def test_serve_tcp_runs_the_same_shell_on_a_real_loopback_socket():
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listener, trio.open_nursery() as nursery:
        port = await nursery.start(tcp.serve_tcp, "TEST", listener, lambda peer, local, now: Echo())
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"over tcp")
            with trio.fail_after(5):
                assert await receive_exactly(stream, 8) == b"OVER TCP"
        nursery.cancel_scope.cancel()


async def test_serve_tcp_compiles_the_rc4_schedule_before_it_accepts(monkeypatch):
    """The cipher's one-time compile happens at start-up, not in the first handshake's step."""
    from clank_lan.protocol.crypto import ps2_rc4

    monkeypatch.setattr(ps2_rc4, "schedule", ps2_rc4._first_schedule)
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listener, trio.open_nursery() as nursery:
        await nursery.start(tcp.serve_tcp, "TEST", listener, lambda peer, local, now: Echo())
        assert ps2_rc4.schedule is not ps2_rc4._first_schedule
        nursery.cancel_scope.cancel()


async def test_a_reply_larger_than_the_outbox_ends_the_connection_before_any_write(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Echo(limit=4)
    await theirs.send_all(b"hello")  # the 5-byte answer overflows a 4-byte outbox
    assert await tcp.run_stream(ours, proto, "test") == tcp.OVERFLOW_REASON
    assert await theirs.receive_some(10) == b""  # nothing of it was written


class LateDeadline:
    """No deadline until input arrives; then one a second later (as a frame that has started)."""

    def __init__(self) -> None:
        self.outbox = Outbox()
        self.due: float | None = None
        self.fired: list[float] = []

    def data_received(self, data: bytes, now: float) -> None:
        self.due = now + 1.0

    def next_deadline(self) -> float | None:
        return self.due

    def on_timer(self, now: float) -> None:
        self.fired.append(now)
        self.due = None
        self.outbox.close("deadline passed")

    def connection_lost(self, reason: str, now: float) -> None:
        return None


async def test_input_that_brings_the_deadline_forward_wakes_the_timer(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    proto = LateDeadline()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tcp.run_stream, ours, proto, "test")
            await trio.sleep(5.0)
            sent_at = trio.current_time()
            await theirs.send_all(b"x")
            assert await theirs.receive_some(10) == b""  # closed by on_timer, a second later
    assert proto.fired == [sent_at + 1.0]


class Nearing:
    """A deadline an hour away that each input brings a second nearer: every input re-arms."""

    def __init__(self) -> None:
        self.outbox = Outbox()
        self.due = trio.current_time() + 3600.0

    def data_received(self, data: bytes, now: float) -> None:
        self.due -= 1.0
        self.outbox.push(b"k")

    def next_deadline(self) -> float | None:
        return self.due

    def on_timer(self, now: float) -> None:
        self.outbox.close("deadline passed")

    def connection_lost(self, reason: str, now: float) -> None:
        return None


async def test_ended_connections_are_not_held_by_their_deadline_entries(autojump_clock):
    """An ended connection's deadline entries (one per re-arm) are dropped within
    ``STALE_ENTRIES``, not kept until an hour-away deadline: a login storm's 1,200 ended
    connections, sockets and protocols were all still in memory (and in every collection the
    garbage collector made) until their deadlines."""
    protos: weakref.WeakSet[Nearing] = weakref.WeakSet()
    async with trio.open_nursery() as nursery:
        for _ in range(600):
            ours, theirs = trio.testing.memory_stream_pair()
            proto = Nearing()
            protos.add(proto)
            nursery.start_soon(tcp.run_stream, ours, proto, "test")
            for _ in range(4):  # four re-arms: four entries, three superseded at once
                await theirs.send_all(b"x")
                assert await theirs.receive_some(10) == b"k"
            await theirs.aclose()
            await trio.testing.wait_all_tasks_blocked()
        shell = tcp._shell()
        assert shell.open == 0
        assert len(shell.heap) <= tcp.STALE_ENTRIES
        del proto, ours, theirs
        gc.collect()
        assert len(protos) <= tcp.STALE_ENTRIES  # each one still held has an entry in the heap
        nursery.cancel_scope.cancel()


class Deferring:
    """Hands each input to a worker thread (``Outbox.defer``) and answers with what came back."""

    def __init__(self) -> None:
        self.outbox = Outbox()
        self.done: list[bytes] = []

    def data_received(self, data: bytes, now: float) -> None:
        self.outbox.defer(lambda: data[::-1], self.back)

    def back(self, result: bytes, now: float) -> None:
        self.done.append(result)
        self.outbox.push(result)

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> None:
        return None

    def connection_lost(self, reason: str, now: float) -> None:
        return None


async def test_deferred_work_runs_in_a_thread_and_its_answer_is_written():
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Deferring()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, proto, "test")
        await theirs.send_all(b"abc")
        with trio.fail_after(5):
            assert await receive_exactly(theirs, 3) == b"cba"
        nursery.cancel_scope.cancel()
    assert proto.done == [b"cba"]


async def test_deferred_work_of_a_connection_that_ended_is_not_answered():
    ours, theirs = trio.testing.memory_stream_pair()
    proto = Deferring()
    release = threading.Event()
    proto.data_received = lambda data, now: proto.outbox.defer(  # type: ignore[method-assign]
        lambda: release.wait(5) and data, proto.back
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, proto, "test")
        await theirs.send_all(b"slow")
        await trio.sleep(0.05)
        await theirs.aclose()  # gone while the work runs
        await trio.sleep(0.05)
        release.set()
    assert proto.done == []


class Handshaking(Echo):
    """An echo whose handshake is over once it has seen ``ready``."""

    def __init__(self) -> None:
        super().__init__()
        self.handshaking = True
        self.seen: list[bytes] = []

    def data_received(self, data: bytes, now: float) -> None:
        self.seen.append(bytes(data))
        if data == b"ready":
            self.handshaking = False
        super().data_received(data, now)


async def test_handshakes_beyond_the_cap_wait_unread_for_a_slot(autojump_clock):
    listener = MemoryListener()
    protos: list[Handshaking] = []
    hits = lh.LimitHits()
    limits = LimitSettings(handshakes_at_once=1)
    admission = tcp.Admission("MAS", limits, lh.Refusals(logging.getLogger("clank_lan.tcp"), None, hits))

    def factory(peer, local, now):
        protos.append(Handshaking())
        return protos[-1]

    a_ours, a_theirs = trio.testing.memory_stream_pair()
    b_ours, b_theirs = trio.testing.memory_stream_pair()
    c_ours, c_theirs = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            partial(tcp.accept_loop, admission=admission, peer_of=_peer_of), "MAS", listener, factory, LOCAL
        )
        for ours in (a_ours, b_ours, c_ours):
            await listener.send.send(ours)
        await c_theirs.send_all(b"silent?")  # C spoke first: it takes the one slot
        assert await receive_exactly(c_theirs, 7) == b"SILENT?"
        await a_theirs.send_all(b"hello")
        await trio.sleep(1.0)
        assert protos[0].seen == []  # A waits, unread, while C is in its handshake
        await c_theirs.send_all(b"ready")  # C's handshake is over: A's turn
        assert await receive_exactly(c_theirs, 5) == b"READY"
        assert await receive_exactly(a_theirs, 5) == b"HELLO"
        assert protos[1].seen == []  # B sent nothing: it never asked for a slot
        await trio.sleep(tcp.HANDSHAKE_QUEUE_TIMEOUT + 1)  # A never finishes its handshake ...
        await b_theirs.send_all(b"late")  # ... so B waits in vain, and is closed with the reason
        assert await b_theirs.receive_some(10) == b""
        assert trio.current_time() >= tcp.HANDSHAKE_QUEUE_TIMEOUT
        nursery.cancel_scope.cancel()
    assert protos[1].seen == [] and protos[1].lost == ["no handshake slot in time (login storm)"]
    assert hits[lh.HANDSHAKE_QUEUE] == 1 and hits[lh.HANDSHAKE_TIMEOUT] == 0


async def test_a_slot_goes_to_a_console_further_along_then_first_come_first_served(autojump_clock):
    gate = tcp.HandshakeGate(1)
    assert await gate.enter("MAS", 1.0)
    order: list[str] = []

    async def wait(service: str, tag: str) -> None:
        if await gate.enter(service, 100.0):
            order.append(tag)
            await trio.sleep(1.0)
            gate.leave()

    async with trio.open_nursery() as nursery:
        for service, tag in (("MUIS", "muis"), ("MAS", "mas-1"), ("MLS", "mls"), ("MAS", "mas-2")):
            nursery.start_soon(wait, service, tag)
            await trio.sleep(0.1)
        assert gate.waiting == 4
        gate.leave()
    assert order == ["mls", "mas-1", "mas-2", "muis"]
    assert gate.held == 0 and gate.waiting == 0 and gate.waited == 4


async def test_a_waiter_that_gives_up_leaves_the_queue(autojump_clock):
    gate = tcp.HandshakeGate(1)
    assert await gate.enter("MAS", 1.0)
    got: list[str] = []
    async with trio.open_nursery() as nursery:
        first = trio.CancelScope()

        async def doomed() -> None:
            with first:
                await gate.enter("MAS", 100.0)
                got.append("doomed")

        async def next_one() -> None:
            if await gate.enter("MAS", 100.0):
                got.append("next")

        nursery.start_soon(doomed)
        await trio.sleep(0.1)
        nursery.start_soon(next_one)
        await trio.sleep(0.1)
        first.cancel()  # the connection went away while it waited
        await trio.sleep(0.1)
        assert gate.waiting == 1
        gate.leave()
    assert got == ["next"] and gate.held == 1 and gate.waiting == 0


class Lobbyish(Echo):
    """A protocol that lets the relay go first, as the lobby's does; it notes what it handles in
    ``order`` (shared with the relay's turn of the test)."""

    yields_to_relay = True

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    def data_received(self, data: bytes, now: float) -> None:
        self.order.append(data.decode())
        super().data_received(data, now)


class DeferringLobby(Deferring):
    yields_to_relay = True

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    def back(self, result: bytes, now: float) -> None:
        self.order.append(result.decode())
        super().back(result, now)


def _relay(order: list[str], due: str | None) -> tcp.RelayTurn:
    """The run's ``RelayTurn`` with a stand-in for the pump's turn, which notes itself in
    ``order`` and is then not due; ``due``: "now", "later" (a second from now) or None (never)."""
    turn = tcp.relay_turn()

    def pump_turn() -> None:
        order.append("relay")
        turn.clear()

    turn.serve(pump_turn)
    if due == "now":
        turn.due_now()
    elif due == "later":
        turn.due_at(trio.current_time() + 1.0)
    return turn


async def _exchange(proto: object, data: bytes, answer: bytes) -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, proto, "test")
        await theirs.send_all(data)
        with trio.fail_after(5):
            assert await receive_exactly(theirs, len(answer)) == answer
        nursery.cancel_scope.cancel()


async def test_a_due_relay_turn_runs_before_lobby_input(autojump_clock):
    """The DME's pump is due: the first lobby input runs its turn before its own work, once; a
    connection that does not let it go first (the DME's own TCP) leaves it be."""
    order: list[str] = []
    turn = _relay(order, "now")
    await _exchange(Echo(), b"game", b"GAME")
    assert order == [] and turn.due == -math.inf
    await _exchange(Lobbyish(order), b"login", b"LOGIN")
    await _exchange(Lobbyish(order), b"chat", b"CHAT")
    assert order == ["relay", "login", "chat"] and turn.due == math.inf


async def test_a_due_relay_turn_runs_before_a_deferred_result():
    """A password check's result continues a login as input does: after a due relay turn."""
    order: list[str] = []
    proto = DeferringLobby(order)
    turn = _relay(order, None)
    ours, theirs = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, proto, "test")
        await theirs.send_all(b"abc")
        turn.due_now()  # (while the hash is in its worker thread)
        with trio.fail_after(5):
            assert await receive_exactly(theirs, 3) == b"cba"
        nursery.cancel_scope.cancel()
    assert order == ["relay", "cba"]


async def test_lobby_input_leaves_a_relay_that_is_not_due(autojump_clock):
    order: list[str] = []
    turn = _relay(order, "later")
    await _exchange(Lobbyish(order), b"hello", b"HELLO")
    assert order == ["hello"] and turn.due > trio.current_time()


async def test_a_failing_relay_turn_is_logged_and_the_lobby_goes_on(autojump_clock, caplog):
    turn = tcp.relay_turn()
    turn.serve(lambda: [][0])
    turn.due_now()
    order: list[str] = []
    with caplog.at_level(logging.ERROR, logger="clank_lan.tcp"):
        await _exchange(Lobbyish(order), b"hello", b"HELLO")
    assert order == ["hello"] and turn.due == math.inf
    assert "the relay's turn failed" in caplog.text


async def test_a_relay_that_is_gone_is_not_run(autojump_clock):
    order: list[str] = []
    turn = tcp.relay_turn()

    def pump_turn() -> None:
        order.append("relay")
        turn.clear()

    turn.serve(pump_turn)
    turn.due_now()
    turn.gone(lambda: None)  # another pump's end leaves this one's turn in place
    await _exchange(Lobbyish(order), b"one", b"ONE")
    turn.gone(pump_turn)  # the DME stopped
    turn.due_now()
    await _exchange(Lobbyish(order), b"two", b"TWO")
    assert order == ["relay", "one", "two"] and turn.due == math.inf


def test_an_outbox_without_a_shell_that_waits_is_told_of_output_that_may_wait_as_of_any():
    box = Outbox()
    told: list[int] = []
    box.notify = lambda: told.append(len(box))
    box.push_later(b"abc")
    assert told == [3] and box.take() == b"abc"
