"""The trio shell of the DME: the TCP listener, the one UDP socket and the timer, nothing else.

Every TCP connection runs through ``servers.tcp.run_stream`` (its own task, errors logged and
confined to it, bounded output). The UDP side is one pump task: it sleeps until the socket is
readable or the manager's next deadline (``DmeManager.next_deadline``: aggregation flushes,
echoes, timeouts) comes, then reads every pending datagram, runs the timer and sends what came
out with plain non-blocking calls, so a busy relay pays one wake-up for many datagrams and
flushes. While a game streams (datagrams more often than once an aggregation time) the pump does
not wake for each datagram at all: it looks away for an aggregation time and reads what came
meanwhile, whose flushes are then due (a wake-up costs far more than relaying a frame: one
8-player game took 40 % less CPU). Only when the socket would block does a second task wait for
it (and keep the order). A bad datagram is logged by the manager and never stops the port. When
the pump is due while the lobby keeps the event loop busy, the first lobby step runs the pump's
turn before its own work (``Pump``, ``servers.tcp.RelayTurn``).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections import deque
from functools import partial

import trio

from clank_lan.config import LimitSettings
from clank_lan.dme.conn import DmeConnection
from clank_lan.dme.manager import Addr, DmeManager
from clank_lan.servers.tcp import RelayTurn, relay_turn, serve_tcp

log = logging.getLogger("clank_lan.dme")

RECV_SIZE = 65536
UDP_BUFFER = 1 << 20
#: Seconds of reading (or sending) datagrams in one go before the TCP connections get a turn:
#: long enough for throughput, short enough not to delay an aggregation flush noticeably.
SLICE = 0.001
#: Datagrams handed to the manager at once (one call, one clock reading, one event dispatch).
BATCH = 64
#: Seconds an aggregation flush may go early so that flushes falling close together share one
#: wake-up (a wake-up of the loop costs more than the relaying it does for a frame or two).
FLUSH_EARLY = 0.005
#: While a deadline is at most this far, datagrams wait in the socket for it instead of waking
#: the pump on their own: they mostly fill aggregation queues, whose time then counts from when
#: the pump looked away (never later than they arrived); an echo is answered that much later.
INPUT_WAIT = 0.010


class _Wake:
    """A resettable wake-up flag for one waiting task."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def set(self) -> None:
        self.event.set()

    def reset(self) -> None:
        if self.event.is_set():
            self.event = trio.Event()


class _Udp:
    """What the pump and the sender share: the pump's wait (whose deadline the manager may bring
    forward), whether the pump is inside its turn (it sends what comes out at the end), and the
    datagrams waiting for the socket to take more (while there are any, only the sender sends,
    so the order is kept)."""

    def __init__(self, dme: DmeManager, sock: socket.socket, turn: RelayTurn) -> None:
        self.dme = dme
        self.sock = sock
        self.turn = turn  # the pump's turn, for the lobby connections that let it go first
        self.scope: trio.CancelScope | None = None
        self.pumping = False
        self.backlog: deque[tuple[bytes, Addr]] = deque()
        self.sender = _Wake()

    def deadline_moved(self) -> None:
        """A deadline earlier than the pump's appeared outside its turn (a TCP relay)."""
        scope = self.scope
        if scope is not None:
            dme = self.dme
            # never later: a look-away may end before the manager's own next deadline
            scope.deadline = min(scope.deadline, trio.current_time() + (dme.next_deadline() - dme.clock()))
            self.turn.due_at(scope.deadline)

    def output_waiting(self) -> None:
        """Datagrams appeared outside the pump's turn (a TCP flush request): the sender sends them."""
        if not self.pumping:
            self.sender.set()

    def send_now(self) -> None:
        """Send what the manager has without waiting; the rest goes to the sender."""
        if self.backlog:
            self.sender.set()
            return
        out = self.dme.take_datagrams()
        if not out:
            return
        send = self.sock.sendto
        for i, (data, addr) in enumerate(out):
            try:
                send(data, addr)
            except BlockingIOError:
                self.backlog.extend(out[i:])
                self.sender.set()
                return
            except OSError as exc:
                log.debug("DME UDP: send to %s:%d failed: %s", addr[0], addr[1], exc)


async def serve_dme(
    dme: DmeManager,
    tcp_listener: trio.SocketListener,
    udp_socket: trio.socket.SocketType,
    *,
    limits: LimitSettings | None = None,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the DME on an open TCP listener and a bound UDP socket until cancelled; ``limits``
    bounds the TCP connections one address may open (``servers.tcp.Admission``).

    ``task_status.started`` receives ``(tcp_port, udp_port)`` as bound.
    """
    # Plain non-blocking calls on the same socket (a second descriptor of it): a datagram costs
    # one system call instead of two trips through the scheduler.
    udp = socket.socket(fileno=os.dup(udp_socket.fileno()))
    udp.setblocking(False)
    _grow_buffers(udp)
    state = _Udp(dme, udp, relay_turn())
    dme.set_wakeup(state.deadline_moved)
    dme.set_udp_notify(state.output_waiting)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_udp_pump, state)
            nursery.start_soon(_udp_sender, state)
            tcp_port = await nursery.start(
                partial(serve_tcp, limits=limits),
                "DME",
                tcp_listener,
                lambda peer, local, now: _Clocked(dme, dme.tcp_protocol(peer, local, dme.clock())),
            )
            udp_port = udp_socket.getsockname()[1]
            log.info("DME: TCP port %d, UDP port %d", tcp_port, udp_port)
            task_status.started((tcp_port, udp_port))
    finally:
        udp.close()
        dme.set_wakeup(_nothing)
        dme.set_udp_notify(_nothing)


class _Clocked:
    """Adapts a ``DmeConnection`` to ``run_stream`` with the manager's clock (one time base)."""

    __slots__ = ("conn", "dme", "outbox")

    def __init__(self, dme: DmeManager, conn: DmeConnection) -> None:
        self.dme = dme
        self.conn = conn
        self.outbox = conn.outbox

    def data_received(self, data: bytes, now: float) -> None:
        self.conn.data_received(data, self.dme.clock())

    def next_deadline(self) -> float | None:
        return None

    def on_timer(self, now: float) -> None:
        return None

    def connection_lost(self, reason: str, now: float) -> None:
        self.conn.connection_lost(reason, self.dme.clock())


def _grow_buffers(sock: socket.socket) -> None:
    """Room for a burst of datagrams (every player's movement can arrive in the same millisecond);
    never shrinks what the caller set, and the kernel caps it at its own maximum."""
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            if sock.getsockopt(socket.SOL_SOCKET, opt) < UDP_BUFFER:
                sock.setsockopt(socket.SOL_SOCKET, opt, UDP_BUFFER)
        except OSError as exc:
            log.debug("DME UDP: cannot set socket buffer: %s", exc)


def _nothing() -> None:
    return None


async def nap(scope: trio.CancelScope) -> None:
    """Sleep until ``scope`` is cancelled (its deadline), then return without an exception.

    trio ends a sleep at a deadline by raising ``Cancelled`` through the task and catching it in
    the scope, at every aggregation flush; woken with a plain value instead, the DME used 8 % less
    CPU in one 8-player game (measured side by side). A cancellation from outside (shutdown) is
    raised as usual.
    """
    task = trio.lowlevel.current_task()

    def abort(_raise_cancel: object) -> trio.lowlevel.Abort:
        if not scope.cancel_called:
            return trio.lowlevel.Abort.SUCCEEDED  # an outer scope: raise Cancelled here
        trio.lowlevel.reschedule(task)
        return trio.lowlevel.Abort.FAILED

    await trio.lowlevel.wait_task_rescheduled(abort)


class Pace:
    """When the UDP pump looks away and how early it flushes: pure (times in, decisions out).

    A game is streaming when datagrams come more often than once an aggregation time: the pump
    then looks away for that time and reads them all at once (one turn per flush instead of one
    per datagram), and waits on the socket again once an aggregation time went by without one.
    """

    def __init__(self, agg: float) -> None:
        self.agg = agg
        self.streaming = False
        self.last_read = -math.inf
        self.swept = -math.inf  # the last turn that flushed a whole aggregation time early

    def wait(self, delay: float, emptied: float = 0.0) -> tuple[float, bool]:
        """How long to sleep before the next turn (``delay``: until the manager's next deadline),
        and whether to look away meanwhile (True) rather than wake for the socket. A look-away
        ends an aggregation time after the socket was last emptied, ``emptied`` seconds ago (what
        comes meanwhile counts from then): a lobby step may have run the last turn a batch ago."""
        if self.streaming:
            return max(0.0, min(delay, self.agg - emptied)), True
        return delay, delay <= INPUT_WAIT

    def read(self, got: int, looked_away: bool, now: float) -> None:
        """A turn read ``got`` datagrams; ``looked_away``: after a look-away."""
        if got:
            self.streaming = looked_away or now - self.last_read < self.agg
            self.last_read = now
        elif self.streaming:  # a look-away cut short by a deadline keeps it; a whole one ends it
            self.streaming = now - self.last_read < self.agg

    def early(self, looked_away: bool, now: float) -> float:
        """How far ahead this turn flushes. After a look-away, while streaming, what falls due
        before the next one ends goes now: waking for it would cost more than the early delivery
        (and flushes that once fell apart would keep a second wake-up per aggregation time going
        for good). At most once per aggregation time, though: a loaded relay's turns come every
        millisecond or so, and flushing every queue at each would mean no frame waits for another
        (more datagrams, more CPU, further behind)."""
        if self.streaming and looked_away and now - self.swept >= self.agg - FLUSH_EARLY:
            self.swept = now
            return self.agg
        return FLUSH_EARLY


async def _udp_pump(state: _Udp) -> None:
    """The UDP pump's task (``Pump``); once it is gone, nobody runs its turns for it."""
    pump = Pump(state)
    state.turn.serve(pump.run_due)
    try:
        await pump.run()
    finally:
        state.turn.gone(pump.run_due)


class Pump:
    """Wait for datagrams or the next deadline; then read until the socket is empty, run the
    timer, send.

    Reading goes a slice at a time, the TCP connections getting a turn between slices, but the
    timer (the flushes) runs once the socket is empty: what a busy relay reads in its later slices
    came while it looked away, as what it read in the first did, and joins the same flushes. What
    is read counts as arrived when a turn last emptied the socket (the earliest it can have come),
    so it leaves within the aggregation time of its arrival plus the reading; read in a later
    turn's flushes it waited up to twice the aggregation time, and flushed at every slice it went
    out a datagram per slice. A relay that cannot empty its socket within an aggregation time
    flushes anyway, and counts what is left from then.

    Games go before lobby work (``servers.tcp.RelayTurn``): the pump says until when it waits,
    and the first lobby step that finds it due (its wait over, or more to read) runs its turn
    inline (``run_due``) before its own work, instead of the pump waiting for the rest of the
    event loop's batch. A relay that is behind lets the lobby have a batch once an aggregation
    time."""

    def __init__(self, state: _Udp) -> None:
        self.state = state
        self.pace = Pace(state.dme.default_agg)
        self.batch: list[tuple[bytes, Addr]] = []
        self.drained = True
        self.since = 0.0  # what is read came no earlier than this
        self.began = 0.0  # when this reading began (``time.perf_counter``)
        self.looked_away = False  # this reading follows a look-away
        self.behind = False  # the last turn flushed without emptying the socket
        self.got = 0  # datagrams read since ``began``
        self.emptied = 0.0  # when a turn last found the socket empty (``DmeManager.clock``)
        self.look = False  # the wait in progress is a look-away
        self.ran = False  # a lobby step ran a turn during the wait in progress

    async def run(self) -> None:
        state, dme, turn = self.state, self.state.dme, self.state.turn
        while True:
            if self.drained:
                now = dme.clock()
                delay = dme.next_deadline() - now
                if delay > 0:
                    delay, look_away = self.pace.wait(delay, now - self.emptied)
                    self.look, self.ran = look_away, False
                    with trio.CancelScope(deadline=trio.current_time() + delay) as scope:
                        state.scope = scope
                        turn.due_at(scope.deadline)
                        if look_away:
                            await nap(scope)  # what arrives meanwhile waits in the socket
                        else:
                            await trio.lowlevel.wait_readable(state.sock)
                    state.scope = None
                    if not self.ran:
                        self.begin(self.emptied, look_away)
                    elif self.drained:
                        continue  # a lobby step ran this turn (``run_due``): wait again
                else:  # a deadline overdue: the pump runs in the next batch
                    self.look, self.ran = False, False
                    turn.due_now()
                    await trio.lowlevel.checkpoint()
                    if not self.ran:
                        self.begin(self.emptied, False)
                    elif self.drained:
                        continue
            else:  # more to read: the pump runs in the next batch, unless it is behind
                if self.behind:
                    turn.clear()
                else:
                    turn.due_now()
                await trio.lowlevel.checkpoint()
                if self.drained:
                    continue  # lobby steps read the rest (``run_due``)
            self.turn()

    def run_due(self) -> None:
        """The pump's turn, run by a lobby step that found it due (``RelayTurn.run_due``); the
        pump's task, woken later, finds it done."""
        if self.drained:
            self.ran = True
            self.begin(self.emptied, self.look)
        self.turn()
        if self.drained or self.behind:
            self.state.turn.clear()  # until the pump says when it is due again

    def begin(self, since: float, looked_away: bool) -> None:
        """A reading begins, of what came no earlier than ``since``: when a turn last emptied the
        socket (a lobby step's turn, the pump held up by the rest of a batch: what it reads may
        have waited in the socket since), or now for what is still there when the relay is
        behind."""
        self.looked_away = looked_away
        self.since = since
        self.began = time.perf_counter()
        self.got = 0

    def turn(self) -> None:
        """Read for a slice at most; run the timer when the socket is empty (or the reading has
        gone on for an aggregation time); send what came out."""
        state = self.state
        dme, batch = state.dme, self.batch
        recv = state.sock.recvfrom
        clock = time.perf_counter
        state.pumping = True
        try:
            end = clock() + SLICE
            drained = False
            while True:
                while len(batch) < BATCH:
                    try:
                        batch.append(recv(RECV_SIZE))
                    except BlockingIOError:
                        drained = True
                        break
                    except (ConnectionResetError, ConnectionRefusedError):
                        continue  # ICMP port unreachable for an earlier datagram
                if batch:
                    self.got += len(batch)
                    dme.datagrams_received(batch, dme.clock(), self.since)
                    batch.clear()
                if drained or clock() >= end:
                    break
            self.drained, self.behind = drained, False
            if drained or clock() - self.began >= self.pace.agg:
                now = dme.clock()
                if drained:
                    self.emptied = now
                self.pace.read(self.got, self.looked_away, now)
                try:
                    dme.on_timer(now, self.pace.early(self.looked_away, now))
                except Exception:
                    log.exception("DME: timer processing failed")
                if not drained:  # behind: what still waits counts from now, and flushes later
                    self.begin(now, False)
                    self.behind = True
        finally:
            state.pumping = False
        state.send_now()


async def _udp_sender(state: _Udp) -> None:
    """Sends what the pump could not (the socket would block) and what appeared outside its turn."""
    dme, sock, backlog, wake = state.dme, state.sock, state.backlog, state.sender
    clock = time.perf_counter
    while True:
        await wake.event.wait()
        wake.reset()
        end = clock() + SLICE
        while True:
            if not backlog:
                backlog.extend(dme.take_datagrams())
                if not backlog:
                    break
            data, addr = backlog[0]
            try:
                sock.sendto(data, addr)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sock)
                end = clock() + SLICE
                continue
            except OSError as exc:
                log.debug("DME UDP: send to %s:%d failed: %s", addr[0], addr[1], exc)
            backlog.popleft()
            if clock() > end:
                await trio.lowlevel.checkpoint()
                end = clock() + SLICE
