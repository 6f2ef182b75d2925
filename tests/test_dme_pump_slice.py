"""The DME's UDP pump keeps each turn on the event loop within its time slice (``dme.server.SLICE``,
longer only while other tasks hold the loop longer), however many datagrams wait, and still
delivers every one of them, in order. Time is a fake clock that moves only when a datagram is
processed (what a datagram costs) or another task says it held the loop, so nothing here depends
on the machine's speed."""

from __future__ import annotations

import itertools
import math
from collections import deque

import pytest
import trio

from clank_lan.dme.server import MAX_SLICE, SHARE, SLICE, _Intake, _Udp, _udp_pump, turn_slice
from tests.test_dme_pump import AGG, delivered, movement, room

#: fake seconds one datagram takes to process (a power of two: the fake clock's sums stay exact)
COST = 2.0**-12
PER_TURN = math.ceil(SLICE / COST)  # 5: the slice is checked before each datagram
ADDR = ("192.168.1.50", 3658)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeSocket:
    """A non-blocking UDP socket with ``waiting`` datagrams queued (and an ICMP error among them)."""

    def __init__(self, waiting: list[bytes], reset_at: int | None = None) -> None:
        self.queue: deque[bytes | None] = deque(waiting)
        if reset_at is not None:
            self.queue.insert(reset_at, None)
        self.reads = 0
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        self.reads += 1
        if not self.queue:
            raise BlockingIOError
        data = self.queue.popleft()
        if data is None:
            raise ConnectionResetError
        return data, ADDR

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        self.sent.append((data, addr))
        return len(data)


class FakeDme:
    """What the pump calls on the manager; every deadline is already due, so the pump never
    waits on the socket (only yields), and each datagram advances the clock by ``COST``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.got: list[bytes] = []
        self.turns: list[int] = []  # datagrams handled per pump turn
        self.timer_runs = 0

    def next_deadline(self) -> float:
        return self.clock()

    def datagrams_received(self, batch, now: float, since: float | None = None) -> None:
        n = 0
        for data, addr in batch:
            assert addr == ADDR
            self.got.append(data)
            self.clock.t += COST
            n += 1
        self.turns.append(n)

    def on_timer(self, now: float, early: float = 0.0) -> None:
        self.timer_runs += 1

    def take_datagrams(self) -> list[tuple[bytes, tuple[str, int]]]:
        return []


def datagrams(n: int) -> list[bytes]:
    return [b"d%04d" % i for i in range(n)]


def test_the_intake_stops_when_the_slice_is_spent_and_resumes_in_order():
    clock = Clock()
    sock = FakeSocket(datagrams(10))
    intake = _Intake(sock.recvfrom, clock)
    got: list[bytes] = []
    for data, _ in intake.until(clock() + SLICE):
        got.append(data)
        clock.t += COST
    assert got == datagrams(PER_TURN) and not intake.drained
    assert sock.reads == PER_TURN  # nothing read beyond what was processed: nothing can be lost
    while not intake.drained:
        for data, _ in intake.until(clock() + SLICE):
            got.append(data)
            clock.t += COST
    assert got == datagrams(10)


def test_the_intake_skips_an_icmp_error_and_always_takes_one_datagram():
    clock = Clock()
    sock = FakeSocket(datagrams(3), reset_at=1)
    intake = _Intake(sock.recvfrom, clock)
    assert [d for d, _ in intake.until(clock() + SLICE)] == datagrams(3)  # free datagrams
    assert intake.drained
    sock.queue.extend(datagrams(2))
    # a datagram that costs more than the whole slice: one per turn, never none
    turns = []
    while True:
        turn = []
        for data, _ in intake.until(clock() + SLICE):
            turn.append(data)
            clock.t += 3 * SLICE
        if not turn:
            break
        turns.append(turn)
    assert turns == [[b"d0000"], [b"d0001"]] and intake.drained


class PumpSteps(trio.abc.Instrument):
    """Per step of the pump's task (one stretch of holding the event loop): the fake time it took
    and the datagrams it delivered."""

    def __init__(self, dme: FakeDme) -> None:
        self.dme = dme
        self.start = (0.0, 0)
        self.held: list[tuple[float, int]] = []

    @staticmethod
    def is_pump(task: trio.lowlevel.Task) -> bool:
        return task.name.endswith("_udp_pump")

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.is_pump(task):
            self.start = (self.dme.clock(), len(self.dme.got))

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.is_pump(task):
            t0, n0 = self.start
            self.held.append((self.dme.clock() - t0, len(self.dme.got) - n0))


@pytest.mark.parametrize("waiting", [1, PER_TURN, 3 * PER_TURN + 1, 1000])
async def test_a_pump_turn_yields_after_its_slice_and_delivers_everything_in_order(waiting):
    clock = Clock()
    dme = FakeDme(clock)
    sock = FakeSocket(datagrams(waiting), reset_at=waiting // 2)
    state = _Udp(dme, sock)  # type: ignore[arg-type]
    steps = PumpSteps(dme)
    seen: list[int] = []  # datagrams delivered each time another task got the loop

    async def other_task() -> None:
        while len(dme.got) < waiting:
            seen.append(len(dme.got))
            await trio.lowlevel.checkpoint()
        nursery.cancel_scope.cancel()

    trio.lowlevel.add_instrument(steps)
    try:
        with trio.fail_after(10):  # a safety net for a hang; the assertions use the fake clock only
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_udp_pump, state, clock)
                nursery.start_soon(other_task)
    finally:
        trio.lowlevel.remove_instrument(steps)

    assert dme.got == datagrams(waiting)  # all of them, in order
    assert sum(dme.turns) == waiting and dme.timer_runs == len(dme.turns)
    # every step on the loop ends within the slice plus one datagram, however many wait
    assert max(t for t, _ in steps.held) < SLICE + COST
    assert max(n for _, n in steps.held) == min(waiting, PER_TURN)
    assert sum(n for _, n in steps.held) == waiting
    # the other task ran at least every two turns (trio may run the pump twice in a row: a
    # batch of runnable tasks runs in either order)
    assert max((b - a for a, b in itertools.pairwise(seen)), default=0) <= 2 * PER_TURN


def test_a_pump_that_is_behind_gets_a_share_of_a_busy_loop():
    assert turn_slice(0.0) == SLICE  # the rest of the loop is quick: ~1 ms turns
    assert turn_slice(0.004) == max(SLICE, 0.004 * SHARE)
    assert turn_slice(10.0) == MAX_SLICE  # never more than this, however long it waited


@pytest.mark.parametrize("others_hold", [0.0, 16 * COST, 1.0])
async def test_a_turn_is_bounded_by_what_the_rest_of_the_loop_takes(others_hold):
    """Another task holds the loop ``others_hold`` fake seconds per step (a login's crypto): the
    pump's turns stay ~1 ms when the loop is quick, grow to its share of a busy loop (so the
    socket does not overflow) and never pass ``MAX_SLICE``; all datagrams arrive, in order."""
    waiting = 2000
    clock = Clock()
    dme = FakeDme(clock)
    state = _Udp(dme, FakeSocket(datagrams(waiting)))  # type: ignore[arg-type]
    steps = PumpSteps(dme)

    async def busy_task() -> None:
        while len(dme.got) < waiting:
            clock.t += others_hold
            await trio.lowlevel.checkpoint()
        nursery.cancel_scope.cancel()

    trio.lowlevel.add_instrument(steps)
    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_udp_pump, state, clock)
                nursery.start_soon(busy_task)
    finally:
        trio.lowlevel.remove_instrument(steps)

    assert dme.got == datagrams(waiting)
    # the other task may run twice between two turns (trio runs a batch in either order)
    bound = min(MAX_SLICE, max(SLICE, 2 * others_hold * SHARE))
    assert max(t for t, _ in steps.held) < bound + COST
    if others_hold > MAX_SLICE:
        assert max(t for t, _ in steps.held) >= MAX_SLICE


def test_the_manager_takes_an_iterator_and_counts_what_it_took():
    """The pump hands ``datagrams_received`` a lazy intake, not a list."""
    net, (a, b) = room(2)
    before = net.dme.stats.datagrams_in
    net.dme.datagrams_received(iter([(movement(a, b"1"), a.addr), (movement(a, b"2"), a.addr)]), net.clock())
    assert net.dme.stats.datagrams_in == before + 2
    net.clock.t += AGG
    net.dme.on_timer(net.clock())
    assert delivered(net)[b.addr] == [b"\x02\x091", b"\x02\x092"]
