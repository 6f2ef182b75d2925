"""The UDP pump of ``dme.server``: its pacing (``Pace``, pure), then the pump itself on a real
loopback socket and trio's fake clock (how often it wakes while a game streams, how late frames
and echoes leave) and its exception-free nap.

The players are the sans-IO harness's (handshakes in memory); only their datagrams go through
real sockets, so the pump reads, relays and sends exactly as ``serve`` runs it.
"""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from clank_lan.client.dme_client import AppReceived, EchoReturned
from clank_lan.dme import serve_dme
from clank_lan.dme import server as dme_server
from clank_lan.dme.manager import HOUSEKEEPING_INTERVAL
from clank_lan.dme.server import FLUSH_EARLY, INPUT_WAIT, Pace, nap
from clank_lan.servers.tcp import RelayTurn, relay_turn
from tests.test_dme_harness import FakeClock, Net, Player

LOCAL = "127.0.0.1"
AGG = 0.020  # the DME's default aggregation time
HZ = 15.0  # movement frames a second, per player


class TrioClock(FakeClock):
    """The harness's clock reading trio's (fake, under ``autojump_clock``) time."""

    def __call__(self) -> float:
        return trio.current_time()


class Console:
    """A harness player whose datagrams come from, and go to, a real socket."""

    def __init__(self, net: Net, wid: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCAL, 0))
        self.sock.setblocking(False)
        self.player: Player = net.connect(wid, version=110, encrypt=False, join=False)
        self.player.addr = self.sock.getsockname()  # the DME binds the UDP address it first sees
        self.player.core.start()
        net.pump()
        self.player.take()
        self.received: list[tuple[float, object]] = []  # (arrival time, event)

    def send(self, dme_port: int) -> None:
        """Everything the console's core has queued for UDP, to the DME's real port."""
        core = self.player.core
        for data in core.udp_out:
            self.sock.sendto(data, (LOCAL, dme_port))
        core.udp_out.clear()

    async def listen(self) -> None:
        """Record what arrives, when it arrives (a task per console)."""
        while True:
            await trio.lowlevel.wait_readable(self.sock)
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    break
                now = trio.current_time()
                self.received.extend((now, ev) for ev in self.player.core.feed_udp(data, now))


@asynccontextmanager
async def pumping(n: int) -> AsyncIterator[tuple[list[Console], int, list[int]]]:
    """A world of ``n`` consoles; the DME's UDP side served by ``serve_dme``. Yields the consoles,
    the DME's UDP port and a list that counts the pump's turns (one ``on_timer`` each)."""
    net = Net(clock=TrioClock())
    wid = net.world(110)
    consoles = [Console(net, wid) for _ in range(n)]
    net.dme.take_datagrams()
    turns: list[int] = [0]
    on_timer = net.dme.on_timer

    def counted(now: float, early: float = 0.0) -> None:
        turns[0] += 1
        on_timer(now, early)

    net.dme.on_timer = counted  # type: ignore[method-assign]
    udp = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await udp.bind((LOCAL, 0))
    listener = (await trio.open_tcp_listeners(0, host=LOCAL))[0]
    try:
        async with trio.open_nursery() as nursery:
            _, udp_port = await nursery.start(serve_dme, net.dme, listener, udp)
            for c in consoles:
                nursery.start_soon(c.listen)
            yield consoles, udp_port, turns
            nursery.cancel_scope.cancel()
    finally:
        udp.close()
        await listener.aclose()
        for c in consoles:
            c.sock.close()


async def play(consoles: list[Console], port: int, seconds: float) -> list[float]:
    """Each console sends a movement frame at ``HZ``, the consoles evenly out of phase; returns
    the send times in order (the n-th frame of the game is the n-th time)."""
    n = len(consoles)
    start = trio.current_time()
    sent: list[float] = []
    for k in range(int(seconds * HZ * n)):
        await trio.sleep_until(start + k / (HZ * n))
        c = consoles[k % n]
        c.player.core.send_broadcast(b"\x02\x09" + k.to_bytes(4, "big"), udp=True)
        c.send(port)
        sent.append(trio.current_time())
    await trio.sleep(2 * AGG)
    return sent


def most_turns(seconds: float) -> float:
    """The pump's turns in a game of ``seconds`` (and its tail) when it turns once an aggregation
    time, and for housekeeping."""
    window = seconds + 2 * AGG
    return window / AGG + window / HOUSEKEEPING_INTERVAL + 3


def assert_delivered(consoles: list[Console], sent: list[float], within: float) -> None:
    """Every console got each of the others' frames once (and none of its own), each no later
    than ``within`` seconds after it was sent."""
    for i, c in enumerate(consoles):
        got: dict[int, float] = {}
        for t, ev in c.received:
            if isinstance(ev, AppReceived):
                k = int.from_bytes(ev.payload[2:], "big")
                assert k not in got, f"console {i}: frame {k} came twice"
                got[k] = t
        mine = set(range(i, len(sent), len(consoles)))
        assert sorted(got) == [k for k in range(len(sent)) if k not in mine]
        late = max(got[k] - sent[k] for k in got)
        assert late <= within + 1e-9, f"console {i}: a frame left {late * 1000:.1f} ms after it came"


def test_the_pump_streams_while_datagrams_come_faster_than_the_aggregation_time():
    pace = Pace(AGG)
    assert pace.wait(0.5) == (0.5, False)  # nothing due soon: wake for the socket
    assert pace.wait(INPUT_WAIT) == (INPUT_WAIT, True)  # a flush is near: look away until it
    pace.read(1, False, 1.000)
    pace.read(1, False, 1.030)  # 30 ms apart: one at a time
    assert not pace.streaming
    pace.read(1, False, 1.045)  # 15 ms apart
    assert pace.streaming and pace.wait(0.5) == (AGG, True)
    assert pace.wait(0.5, 0.015) == pytest.approx((AGG - 0.015, True))  # emptied 15 ms ago
    assert pace.wait(0.5, 0.030) == (0.0, True)  # a whole aggregation time ago: at once
    pace.read(0, True, 1.055)  # a look-away cut short by a deadline, nothing came: still on
    assert pace.streaming
    pace.read(0, True, 1.065)  # a whole aggregation time without a datagram: over
    assert not pace.streaming and pace.wait(0.5) == (0.5, False)


def test_a_loaded_relay_flushes_a_whole_aggregation_time_early_at_most_once_per_aggregation_time():
    """Turns every millisecond, each after a short look-away (a relay near its capacity): had
    each flushed every queue, no frame would wait for another."""
    pace = Pace(AGG)
    pace.read(1, True, 0.0)
    early = []
    for k in range(1, 201):
        pace.read(1, True, k / 1000)
        early.append(pace.early(True, k / 1000))
    assert early.count(AGG) <= 0.2 / (AGG - FLUSH_EARLY) + 1
    assert set(early) == {AGG, FLUSH_EARLY}
    assert Pace(AGG).early(False, 5.0) == FLUSH_EARLY  # nor a turn that did not look away


async def test_a_streaming_game_wakes_the_pump_once_an_aggregation_time(loopback_clock):
    """Eight players at 15 Hz: a datagram every 8.3 ms. Woken by them, the pump turned 183 times
    here (and 154 while its flushes could fall into two trains); looking away for the
    aggregation time while datagrams keep coming, it turns once per 20 ms (and for housekeeping):
    81 times. Every frame still reaches every mate within the aggregation time."""
    seconds = 1.5
    async with pumping(8) as (consoles, port, turns):
        before = turns[0]
        sent = await play(consoles, port, seconds)
        during = turns[0] - before
    assert during <= most_turns(seconds)  # 77 flushes, 6 housekeepings
    assert_delivered(consoles, sent, AGG)


async def test_what_a_turn_could_not_read_keeps_its_arrival_time(loopback_clock, monkeypatch):
    """A busy relay reads a slice at a time, the TCP connections getting a turn between slices.
    Here every slice reads a single datagram: what the later slices read still came while the
    pump looked away, joins the same flushes (the timer still runs once an aggregation time, not
    once a slice) and leaves within the aggregation time of its arrival. (Counted from when it
    was read, it waited up to 32 ms here, and the relay bench's p99 added latency was 22-38 ms
    from 40 worlds up.)"""
    monkeypatch.setattr(dme_server, "BATCH", 1)
    monkeypatch.setattr(dme_server, "SLICE", 0.0)
    seconds = 1.0
    async with pumping(8) as (consoles, port, turns):
        before = turns[0]
        sent = await play(consoles, port, seconds)
        during = turns[0] - before
    assert during <= most_turns(seconds)
    assert_delivered(consoles, sent, AGG)


async def test_the_pump_says_until_when_it_waits(loopback_clock, monkeypatch):
    """The lobby's connections let a due pump go first (``servers.tcp.RelayTurn``): while a game
    streams, each of the pump's waits says when it ends, and the pump turns then (or sooner, for
    a datagram); once it is gone, nothing waits for it."""
    waits: list[tuple[float, float]] = []  # (deadline said, when it was said)
    due_at = RelayTurn.due_at

    def saying(self: RelayTurn, deadline: float) -> None:
        waits.append((deadline, trio.current_time()))
        due_at(self, deadline)

    monkeypatch.setattr(RelayTurn, "due_at", saying)
    async with pumping(8) as (consoles, port, turns):
        before = turns[0]
        await play(consoles, port, 1.0)
        during = turns[0] - before
        turn = relay_turn()
    assert len(waits) >= during > 40  # every turn of the game's second came after a said wait
    assert all(deadline > said for deadline, said in waits)
    assert turn.due == math.inf  # the pump is gone: the lobby waits for nothing


async def test_lobby_steps_that_find_the_pump_due_run_its_turn(loopback_clock):
    """Two busy lobby connections, each step 3 ms of work: a step that finds the pump due (its
    deadline passed during the other's step) runs its turn inline (``RelayTurn.run_due``), and
    the pump's task, woken later, finds it done. Every frame still reaches every mate once, in
    time, and the turns are no more than the pump alone would take."""
    inline = [0]
    step = 0.003

    async def lobby() -> None:
        turn = relay_turn()
        while True:
            if turn.due <= trio.current_time():
                inline[0] += 1
                turn.run_due()
            loopback_clock.jump(step)  # the work of a login step, holding the event loop
            await trio.sleep(0.002)

    seconds = 1.0
    async with pumping(8) as (consoles, port, turns), trio.open_nursery() as nursery:
        nursery.start_soon(lobby)
        nursery.start_soon(lobby)
        before = turns[0]
        sent = await play(consoles, port, seconds)
        during = turns[0] - before
        nursery.cancel_scope.cancel()
    assert inline[0] > 10
    assert during <= most_turns(seconds)
    # the aggregation time, the step that was running at the deadline, and the two steps that may
    # run before the console's own task reads what was sent
    assert_delivered(consoles, sent, AGG + 3 * step)


async def test_between_games_a_datagram_wakes_the_pump_at_once(loopback_clock):
    """When no datagram came while the pump looked away, it waits on the socket again: in a
    quiet second it turns only for housekeeping, and an echo a second after the last movement
    frame is answered in no time, not an aggregation time later."""
    async with pumping(4) as (consoles, port, turns):
        await play(consoles, port, 1.0)
        before = turns[0]
        await trio.sleep(1.0)
        assert turns[0] - before <= 1.0 / HOUSEKEEPING_INTERVAL + 1
        a = consoles[0]
        a.received.clear()
        a.player.core.echo(udp=True)
        a.send(port)
        asked = trio.current_time()
        await trio.sleep(AGG)
    replies = [t for t, ev in a.received if isinstance(ev, EchoReturned)]
    assert replies == [asked]


async def test_a_nap_ends_at_its_deadline_without_an_exception(autojump_clock):
    start = trio.current_time()
    with trio.CancelScope(deadline=start + AGG) as scope:
        await nap(scope)
        woke = trio.current_time()
    assert woke == start + AGG
    assert scope.cancel_called and not scope.cancelled_caught  # returned: nothing was raised


async def test_a_nap_whose_deadline_moves_earlier_ends_then(autojump_clock):
    start = trio.current_time()
    with trio.CancelScope(deadline=start + 1.0) as scope:
        async with trio.open_nursery() as nursery:

            async def bring_forward() -> None:
                await trio.sleep(0.005)
                scope.deadline = trio.current_time() + 0.005  # a TCP relay due sooner

            nursery.start_soon(bring_forward)
            await nap(scope)
            woke = trio.current_time()
    assert woke == start + 0.010


async def test_a_cancel_from_outside_still_ends_a_nap(autojump_clock):
    """Shutdown cancels an outer scope: the nap raises ``Cancelled`` like any trio sleep (it
    must not return and let the pump spin)."""
    reached = []
    with trio.move_on_after(0.5) as outer:
        with trio.CancelScope(deadline=math.inf) as scope:
            await nap(scope)
            reached.append("returned")
    assert outer.cancelled_caught and not scope.cancel_called
    assert reached == []


@pytest.mark.parametrize("cutoff", [0.05, 0.04])
async def test_a_loop_of_naps_ends_at_shutdown(autojump_clock, cutoff):
    """The pump's shape: one nap after another. Shutdown cancels an outer scope, in the middle of
    a nap (0.05 s) or at the very moment a nap's own deadline passes (0.04 s, either may be seen
    first): the loop ends at that nap or the next, it never spins."""
    naps = 0
    with trio.move_on_after(cutoff) as outer:
        while naps < 1000:
            with trio.CancelScope(deadline=trio.current_time() + AGG) as scope:
                naps += 1
                await nap(scope)
    assert outer.cancelled_caught
    assert naps in ((3,) if cutoff == 0.05 else (2, 3))
