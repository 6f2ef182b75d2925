"""The thin trio shell around sans-IO stream protocols: accept, read, write, time out, close.

Every connection runs in its own task group; any error inside one (a malformed frame, a bug in a
handler) is logged with the client's address and closes only that connection. Cancellation still
propagates, so shutdown is clean. ``run_stream`` takes any ``trio.abc.Stream`` and
``accept_loop`` any ``trio.abc.Listener``, so both are tested on memory streams with a fake clock.

A connection costs one task: it waits for input, hands it to the protocol and writes the answer
(and what the handler queued for other connections) with a plain non-blocking ``send``, no task
switch; only a write that would block gets a drain task. One task per run (``_Shell``) fires the
deadlines of every connection and writes output queued outside any handler. Work the protocol
defers (``Outbox.defer``: password hashes) runs in a worker thread.

An idle connection does not even wake the loop for its input: once its protocol says the input
can wait (``input_can_wait``: a console that has sent nothing but keepalives for a while), the
shell's task looks at all such sockets together every ``POLL_INTERVAL``, in one call. On a small
VM a wake-up of the loop costs several times the work of answering a keepalive.

A peer that stops reading cannot pin a connection: once the protocol's output passes the outbox
limit, or the protocol asked to close and what it queued could not be written within
``CLOSE_GRACE`` seconds, the connection ends even while a write is blocked.

A peer cannot pile up connections either: ``Admission`` caps the connections one address holds
and how fast it may open new ones (``config.limits``), before a protocol object exists, so a
handshake flood costs an accept and a close, never RSA work. Refusals are counted and logged at
info, a bounded number of lines per address.

Nor can everybody at once: at most ``limits.handshakes_at_once`` admitted connections of every
service together are in their handshake (``HandshakeGate``; a slot is held until the protocol's
``handshaking`` turns false). The others' first input waits, unread, for a slot (consoles
further along their login first, then first come first served); their
handshake timeout runs meanwhile, and one that waited ``HANDSHAKE_QUEUE_TIMEOUT`` is closed with
the reason logged. A connection that sends nothing holds no slot. Between the batches the event
loop relays games and serves the consoles already in.

And games go first: a connection whose protocol lets the relay go first (``yields_to_relay``: the
lobby's) and whose input comes while the DME's UDP pump is due runs the pump's turn before its own
work (``RelayTurn``).
"""

from __future__ import annotations

import errno
import heapq
import logging
import math
import selectors
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import trio

from clank_lan import limit_hits as lh
from clank_lan.config import LimitSettings
from clank_lan.db.passwords import off_loop
from clank_lan.protocol.crypto import ps2_rc4
from clank_lan.protocol.errors import ProtocolError
from clank_lan.ratelimit import ConnectionCounter, KeyedLimiter
from clank_lan.rt.outbox import LATER, Outbox

log = logging.getLogger("clank_lan.tcp")

READ_SIZE = 65536
#: Errors from accept() that mean "out of resources": wait and retry instead of dying.
ACCEPT_RETRY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
ACCEPT_RETRY_DELAY = 0.1
#: Seconds a connection the protocol closed may spend writing what it queued last.
CLOSE_GRACE = 5.0
#: Seconds the socket close may take (a TLS-less TCP close is immediate; bounded anyway).
ACLOSE_TIMEOUT = 1.0
#: Where every connection's protocol error is said: a bounded number of lines per address (a
#: peer reconnecting to send garbage again and again must not fill the log).
PROTOCOL_ERRORS = lh.Refusals(log)
#: Connections one service holds from everybody together (the kernel's descriptor limit is
#: usually lower; past it accept() fails and is retried, see ``ACCEPT_RETRY_ERRNOS``).
MAX_CONNECTIONS = 4096
#: Seconds a new connection may wait for a handshake slot before it is closed.
HANDSHAKE_QUEUE_TIMEOUT = 10.0
#: Deadline entries nobody wants (an ended connection's, a superseded one) the heap may hold before
#: it is compacted: each holds its connection in memory until its deadline.
STALE_ENTRIES = 256
#: Seconds between the looks at the sockets of idle connections (``StreamProtocol``'s
#: ``input_can_wait``): their next input waits up to this long instead of waking the loop at once.
POLL_INTERVAL = 0.25
#: Idle connections looked at together at most (``select`` on Windows takes 512 sockets); the
#: others wait on their sockets as usual.
POLL_MAX = 500


class StreamProtocol(Protocol):
    outbox: Outbox

    def data_received(self, data: bytes, now: float) -> None: ...

    def next_deadline(self) -> float | None: ...

    def on_timer(self, now: float) -> None: ...

    def connection_lost(self, reason: str, now: float) -> None: ...

    # Optional (read with ``getattr``): ``handshaking``, true until the key exchange is done, and
    # ``input_can_wait``, true when the last input needed no prompt answer (an idle console's
    # keepalive), so the next may wait for the shell's poll; ``yields_to_relay``, true when a due
    # turn of the DME's UDP pump runs before the input is handled (``RelayTurn``).


#: ``factory(peer, local, now)``: the protocol object of a connection accepted at ``now``.
ProtocolFactory = Callable[[tuple[str, int], tuple[str, int], float], StreamProtocol]
PeerOf = Callable[[trio.abc.Stream], tuple[str, int]]
#: Waits for a handshake slot: its release, or None when none came in time.
HandshakeTurn = Callable[[], Awaitable[Callable[[], None] | None]]


class _Close(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


OVERFLOW_REASON = "client is not reading (output buffer full)"


class _Shell:
    """What the connections of one trio run share: one task that fires every connection's
    deadlines (``on_timer``, the close grace) and writes what was queued outside any handler.

    Output is written without a task switch: a handler's own replies, and what it queued for other
    connections (a chat line), are written by the reader that ran it, right after; a write that
    would block hands the rest to the connection's drain task. So a frame costs one wait for input
    and one ``send``, and a connection one task, not three.

    Output that may wait (``Outbox.push_later``: a chat line for a whole channel) is written by
    this task ``LATER`` seconds after the first of it came, unless the connection writes sooner.

    The same task looks at the sockets of idle connections (``park``) every ``POLL_INTERVAL``.
    """

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, _Connection]] = []
        self.seq = 0
        self.open = 0  # connections begun and not yet forgotten: each wants one entry at most
        self.dirty: list[_Connection] = []
        self.later: list[_Connection] = []  # output that may wait, written at ``later_at``
        self.later_at = math.inf
        self.batching = 0  # > 0 while a handler runs: its output is written when it returns
        self.wake = trio.Event()
        self.head = math.inf  # the deadline the task sleeps until
        #: Sockets of idle connections, each with the task waiting for it: looked at every
        #: ``POLL_INTERVAL`` by this task, in one call, instead of each waking the loop. Made with
        #: the shell (one descriptor for the run), not when the first console idles.
        self.poller: selectors.BaseSelector = selectors.DefaultSelector()
        self.poll_at = math.inf

    def arm(self, conn: _Connection, deadline: float) -> None:
        """Fire ``conn.on_deadline`` at ``deadline`` (entries it no longer wants are skipped)."""
        superseded = conn.armed
        self.seq += 1
        conn.armed, conn.armed_seq = deadline, self.seq
        heapq.heappush(self.heap, (deadline, self.seq, conn))
        if deadline < self.head or superseded == self.head < math.inf:
            # An earlier deadline, or the one the task sleeps until is no longer wanted (a task
            # switch now is cheaper than a timeout later): the task looks at the heap again.
            self.wake.set()
        self._bound()

    def forget(self, conn: _Connection) -> None:
        """``conn`` ended: its deadline entries are no longer wanted (dropped at the next
        compaction, or when they come up)."""
        conn.armed_seq = 0
        self.open -= 1
        self._bound()

    def _bound(self) -> None:
        """Compact the heap once it holds more than ``STALE_ENTRIES`` entries nobody wants: every
        re-arm leaves one behind, and an ended connection's holds it (its protocol, buffers and
        socket object) until its deadline, up to minutes away. A compaction leaves at most one
        entry per open connection, so it runs at most once per ``STALE_ENTRIES`` pushes."""
        if len(self.heap) > self.open + STALE_ENTRIES:
            self.heap[:] = [entry for entry in self.heap if entry[1] == entry[2].armed_seq]
            heapq.heapify(self.heap)

    def mark(self, conn: _Connection) -> None:
        """``conn`` has output to write: at the end of the running handler, or by the task."""
        if not conn.dirty:
            conn.dirty = True
            self.dirty.append(conn)
            if not self.batching:
                self.wake.set()

    def mark_later(self, conn: _Connection) -> None:
        """``conn`` has output that may wait: written with the next batch of such output, within
        ``LATER`` seconds (or sooner, with the connection's own output)."""
        if conn.later or conn.dirty:
            return
        conn.later = True
        self.later.append(conn)
        if self.later_at == math.inf:
            self.later_at = trio.current_time() + LATER
            if self.later_at < self.head:
                self.wake.set()

    def flush_later(self) -> None:
        later, self.later, self.later_at = self.later, [], math.inf
        for conn in later:
            conn.later = False
            if not conn.done:
                conn.flush()

    def flush(self) -> None:
        while self.dirty:
            dirty, self.dirty = self.dirty, []
            for conn in dirty:
                conn.dirty = False
                conn.flush()

    def can_park(self) -> bool:
        return len(self.poller.get_map()) < POLL_MAX

    async def park(self, sock: socket.socket) -> None:
        """Return once ``sock`` is readable, as seen at one of this task's polls. An idle console's
        keepalive then costs a share of one wake-up of the loop every ``POLL_INTERVAL``, not a
        wake-up of its own: on a small VM a wake-up costs several times the work it does."""
        poller = self.poller
        poller.register(sock, selectors.EVENT_READ, trio.lowlevel.current_task())
        if self.poll_at == math.inf:
            self.poll_at = trio.current_time() + POLL_INTERVAL
            if self.poll_at < self.head:
                self.wake.set()

        def abort(_raise_cancel: object) -> trio.lowlevel.Abort:
            poller.unregister(sock)  # the connection ends (or the run): it is no longer looked at
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _poll(self, now: float) -> None:
        """Wake the tasks whose idle sockets have input (or were closed); keep looking while any
        are left."""
        poller = self.poller
        try:
            ready = poller.select(0)
        except OSError:  # a socket closed behind the poller's back: let every task look for itself
            ready = [(key, selectors.EVENT_READ) for key in list(poller.get_map().values())]
        for key, _events in ready:
            poller.unregister(key.fileobj)
            trio.lowlevel.reschedule(key.data)
        self.poll_at = now + POLL_INTERVAL if poller.get_map() else math.inf

    def end_batch(self) -> None:
        self.batching -= 1
        if self.dirty and not self.batching:  # a handler failed before its output was written
            self.wake.set()

    async def run(self) -> None:
        heap = self.heap
        while True:
            # Entries nobody wants any more (an ended connection's, one superseded by an earlier
            # deadline) are dropped here, not slept until: every timer wake costs a cancellation.
            while heap and heap[0][1] != heap[0][2].armed_seq:
                heapq.heappop(heap)
            self.head = min(heap[0][0] if heap else math.inf, self.poll_at, self.later_at)
            with trio.move_on_at(self.head):
                await self.wake.wait()
            if self.wake.is_set():
                self.wake = trio.Event()
            now = trio.current_time()
            if now >= self.poll_at:
                try:
                    self._poll(now)
                except Exception:  # never expected: the idle connections must not stall for good
                    log.exception("polling idle connections failed")
                    self.poll_at = now + POLL_INTERVAL
            due = []
            while heap and heap[0][0] <= now:
                due.append(heapq.heappop(heap))
            self.batching += 1
            try:
                for _deadline, seq, conn in due:
                    if seq == conn.armed_seq:
                        conn.on_deadline(now)
                if now >= self.later_at:
                    self.flush_later()
                self.flush()
            except Exception:  # never expected: the task must not die with the run's connections
                log.exception("connection timers failed")
            finally:
                self.end_batch()


_SHELL: trio.lowlevel.RunVar[_Shell] = trio.lowlevel.RunVar("clank_lan.tcp_shell")


def _shell() -> _Shell:
    """The run's ``_Shell``, its task started on first use (a system task: it outlives any one
    connection's nursery and ends with the run)."""
    try:
        return _SHELL.get()
    except LookupError:
        shell = _Shell()
        _SHELL.set(shell)
        trio.lowlevel.spawn_system_task(shell.run, name="clank_lan.tcp connection timers")
        return shell


def _raw_socket(stream: trio.abc.Stream) -> socket.socket | None:
    """A plain non-blocking socket object on the descriptor of a ``trio.SocketStream`` (detached,
    never closed, when the connection ends), for direct ``recv``/``send`` calls; None for any
    other stream (tests' memory streams), which is then driven through its own methods."""
    if not isinstance(stream, trio.SocketStream):
        return None
    ts = stream.socket
    sock = socket.socket(ts.family, ts.type, ts.proto, fileno=ts.fileno())
    sock.setblocking(False)
    return sock


class _Connection:
    """The shell's side of one connection: the write path, the deadline, how it ends."""

    __slots__ = (
        "armed",
        "armed_seq",
        "close_grace",
        "dirty",
        "done",
        "draining",
        "ended",
        "failure",
        "grace_at",
        "handshake_done",
        "handshake_turn",
        "handshaking",
        "later",
        "nursery",
        "proto",
        "relay",
        "shell",
        "sock",
        "stream",
    )

    def __init__(self, stream: trio.abc.Stream, proto: StreamProtocol, close_grace: float) -> None:
        self.stream = stream
        self.proto = proto
        self.close_grace = close_grace
        self.shell = _shell()
        self.shell.open += 1  # until ``run_stream`` ends it (``_Shell.forget``)
        self.sock = _raw_socket(stream)
        self.nursery: trio.Nursery | None = None
        self.armed = math.inf
        self.armed_seq = 0
        self.grace_at = math.inf
        self.dirty = False
        self.later = False  # in the shell's list of output that may wait
        self.draining = False
        self.done = False
        self.ended: str | None = None  # set when the shell itself ends the connection
        self.failure: BaseException | None = None  # raised in the connection's task once it ends
        self.handshake_turn: HandshakeTurn | None = None  # awaited before the first input is handled
        self.handshake_done: Callable[[], None] | None = None  # the slot's release, while held
        self.handshaking = True  # until the protocol's ``handshaking`` is false after some input
        #: The run's ``RelayTurn`` when the protocol lets the relay go first (the lobby's), else None.
        self.relay = relay_turn() if getattr(proto, "yields_to_relay", False) else None

    def end(self, why: str) -> None:
        if self.ended is None:
            self.ended = why
        self.stop()

    def fail(self, exc: BaseException) -> None:
        """End the connection as if ``exc`` had been raised in its own task."""
        if self.failure is None and self.ended is None:
            self.failure = exc
        self.stop()

    def stop(self) -> None:
        self.done = True
        if self.nursery is not None:
            self.nursery.cancel_scope.cancel()

    def notify(self) -> None:
        """The protocol queued output (or asked to close)."""
        if self.done:
            return
        outbox = self.proto.outbox
        if outbox.overflowed:
            self.end(OVERFLOW_REASON)  # a write may be blocked on this very peer: do not wait for it
            return
        if outbox.closing is not None and self.grace_at == math.inf:
            self.grace_at = trio.current_time() + self.close_grace
            self.rearm()
        self.shell.mark(self)

    def notify_later(self) -> None:
        """The protocol queued output that may wait (``Outbox.push_later``)."""
        if not self.done:
            self.shell.mark_later(self)

    def flush(self) -> None:
        """Write what is queued now, without blocking (the rest goes to the drain task); end the
        connection once the protocol asked to and everything is written. Never raises."""
        if self.done:
            return
        outbox = self.proto.outbox
        if outbox.deferred:
            assert self.nursery is not None
            for work, done in outbox.take_deferred():
                self.nursery.start_soon(self._deferred, work, done)
        if self.draining:
            return
        data = outbox.take()
        if data:
            sock = self.sock
            if sock is None:
                self.drain(data)
                return
            try:
                sent = sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self.fail(exc)
                return
            if sent < len(data):
                self.drain(data[sent:])
                return
        if outbox.closing is not None and not len(outbox):
            self.end(outbox.closing)

    def drain(self, data: bytes) -> None:
        assert self.nursery is not None  # (output is only flushed once ``notify`` is installed)
        self.draining = True
        self.nursery.start_soon(self._drain, data)

    async def _drain(self, data: bytes) -> None:
        """Write ``data`` and whatever is queued meanwhile, waiting for the peer to read."""
        sock = self.sock
        outbox = self.proto.outbox
        try:
            while data:
                if sock is None:
                    await self.stream.send_all(data)
                else:
                    view = memoryview(data)
                    while view:
                        await trio.lowlevel.wait_writable(sock)
                        try:
                            view = view[sock.send(view) :]
                        except BlockingIOError:
                            pass
                data = outbox.take()
        finally:
            self.draining = False
        if outbox.closing is not None and not len(outbox):
            self.end(outbox.closing)

    async def _deferred(self, work: Callable[[], Any], done: Callable[[Any, float], None]) -> None:
        """``work()`` in a worker thread, then ``done(result, now)`` as if input had arrived (after
        a due relay turn, as input is)."""
        result = await off_loop(work)
        relay = self.relay
        if relay is not None and relay.due <= trio.current_time():
            relay.run_due()
        if self.done or self.nursery is None or self.nursery.cancel_scope.cancel_called:
            return  # the connection is ending
        shell = self.shell
        shell.batching += 1
        try:
            done(result, trio.current_time())
            self.rearm()
            shell.flush()
        finally:
            shell.end_batch()

    def rearm(self, later: bool = False) -> None:
        """Arm the earliest of the protocol's deadline and the close grace, if it is earlier than
        what is armed (a later one is found when the armed one fires); with ``later``, also when
        it is later (the armed entry is then skipped, not woken for)."""
        deadline = self.proto.next_deadline()
        if deadline is None or deadline > self.grace_at:
            deadline = self.grace_at
        if deadline < self.armed or (later and self.armed < deadline < math.inf):
            self.shell.arm(self, deadline)

    def on_deadline(self, now: float) -> None:
        if self.done:
            return
        self.armed = math.inf
        if now >= self.grace_at:
            self.end(
                f"{self.proto.outbox.closing} (its last output was not read within {self.close_grace:g} s)"
            )
            return
        deadline = self.proto.next_deadline()
        if deadline is not None and now >= deadline:
            try:
                self.proto.on_timer(now)
            except Exception as exc:
                self.fail(exc)
                return
        self.rearm()

    async def read_loop(self) -> None:
        """Wait for input, hand it to the protocol, write its output; one wakeup a segment. (The
        loop runs for every frame of every idle console: the names it needs are looked up once.)"""
        proto, shell, sock = self.proto, self.shell, self.sock
        stream = self.stream
        received, next_deadline = proto.data_received, proto.next_deadline
        clock = trio.lowlevel.current_clock()  # what ``trio.current_time`` reads, one call shorter
        wait_readable = trio.lowlevel.wait_readable
        relay = self.relay
        while True:
            if sock is not None:
                if getattr(proto, "input_can_wait", False) and shell.can_park():
                    await shell.park(sock)
                else:
                    await wait_readable(sock)
                try:
                    data = sock.recv(READ_SIZE)
                except BlockingIOError:
                    continue
            else:
                data = await stream.receive_some(READ_SIZE)
            if not data:
                raise _Close("peer closed the connection")
            if self.handshake_turn is not None:  # the first input: wait for a handshake slot
                turn, self.handshake_turn = self.handshake_turn, None
                self.handshake_done = await turn()
                if self.handshake_done is None:
                    raise _Close("no handshake slot in time (login storm)")
            if relay is not None and relay.due <= clock.current_time():
                relay.run_due()
            shell.batching += 1
            try:
                received(data, clock.current_time())
                deadline = next_deadline()
                if deadline is not None and deadline < self.armed:
                    self.rearm()
                if shell.dirty:
                    shell.flush()
            finally:
                shell.end_batch()
            if self.handshaking and not getattr(proto, "handshaking", False):
                self.handshaking = False
                if self.handshake_done is not None:
                    self.handshake_done()
                    self.handshake_done = None
                self.rearm(later=True)  # the handshake's deadline is gone: no wakeup for nothing


async def run_stream(
    stream: trio.abc.Stream,
    proto: StreamProtocol,
    label: str,
    *,
    close_grace: float = CLOSE_GRACE,
    peer_ip: str = "",
    handshake_turn: HandshakeTurn | None = None,
) -> str:
    """Drive one connection until either side closes it; returns the reason it ended. Protocol
    errors are logged through ``PROTOCOL_ERRORS`` under ``peer_ip`` (a bounded number a peer).

    ``handshake_turn``: awaited when the first input arrived, before it is handled (a connection
    that sends nothing waits for nothing and holds no slot); it returns the slot's release (None:
    no slot in time, the connection is closed), called once the protocol's ``handshaking`` is false
    after some input (a protocol without one: after its first input, where the key exchange is)
    or when the connection ends."""
    reason = "closed"
    conn = _Connection(stream, proto, close_grace)
    conn.handshake_turn = handshake_turn
    try:
        async with trio.open_nursery() as nursery:
            conn.nursery = nursery
            outbox = proto.outbox
            outbox.notify = conn.notify
            outbox.notify_later = conn.notify_later
            if len(outbox) or outbox.closing is not None or outbox.overflowed:
                conn.notify()
                conn.shell.flush()
            if not conn.done:
                conn.rearm()
                await conn.read_loop()
        if conn.failure is not None:
            raise conn.failure
    except* _Close as group:
        reason = group.exceptions[0].reason  # type: ignore[attr-defined]
    except* ProtocolError as group:
        exc = group.exceptions[0]
        reason = f"protocol error: {exc}"
        text = "%s: protocol error, disconnecting: %s; offending bytes: %s"
        hexdump = exc.hexdump()  # type: ignore[attr-defined]
        PROTOCOL_ERRORS(
            None, peer_ip or label, trio.current_time(), text, label, exc, hexdump, level=logging.WARNING
        )
    except* (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as group:
        reason = f"connection lost: {group.exceptions[0]}"
    except* OSError as group:
        reason = f"socket error: {group.exceptions[0]}"
    except* Exception as group:
        reason = f"internal error: {group.exceptions[0]!r}"
        log.error("%s: internal error, closing this connection only", label, exc_info=group.exceptions[0])
    finally:
        conn.done = True
        if conn.handshake_done is not None:
            conn.handshake_done()
        conn.shell.forget(conn)
        proto.outbox.notify = proto.outbox.notify_later = _ignore
        if conn.sock is not None:
            conn.sock.detach()  # the descriptor is the stream's: it closes it
        if conn.ended is not None:
            reason = conn.ended
        with trio.CancelScope(shield=True):
            try:
                proto.connection_lost(reason, trio.current_time())
            except Exception:
                log.exception("%s: error while cleaning up", label)
            with trio.move_on_after(ACLOSE_TIMEOUT):
                await stream.aclose()
    return reason


def _ignore() -> None:
    return None


def socket_peer(stream: trio.abc.Stream) -> tuple[str, int]:
    """The remote (ip, port) of a ``trio.SocketStream``."""
    return stream.socket.getpeername()[:2]  # type: ignore[attr-defined]


#: Who goes first when connections wait for a handshake slot: a console further along its login
#: (or joining a game) before one just starting, so each login finishes as soon as it can instead
#: of every console's first connection going before anybody's second.
HANDSHAKE_PRIORITY = {"DME": 0, "MLS": 1, "MPS": 1, "MAS": 2, "MUIS": 3}
_LAST = max(HANDSHAKE_PRIORITY.values())


class _Ticket:
    __slots__ = ("granted", "woken")

    def __init__(self) -> None:
        self.granted = False
        self.woken = trio.Event()


class HandshakeGate:
    """At most ``limit`` connections in their handshake at once; the rest queue, by
    ``HANDSHAKE_PRIORITY`` and then first come first served. A released slot goes straight to
    the next in line (nobody can overtake the queue)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._queues: list[deque[_Ticket]] = [deque() for _ in range(_LAST + 1)]
        self.waiting = 0  # connections in the queue now
        self.waited = 0  # connections that had to queue, since the start

    async def enter(self, service: str, timeout: float) -> bool:
        """Take a slot (False: none within ``timeout`` s); ``leave`` gives it back."""
        if self.held < self.limit:
            self.held += 1
            return True
        ticket = _Ticket()
        queue = self._queues[HANDSHAKE_PRIORITY.get(service, _LAST)]
        queue.append(ticket)
        self.waiting += 1
        self.waited += 1
        try:
            with trio.move_on_after(timeout):
                await ticket.woken.wait()
        except BaseException:
            if ticket.granted:  # cancelled just after its turn came: pass the turn on
                self.leave()
            raise
        finally:
            if not ticket.granted:
                queue.remove(ticket)
                self.waiting -= 1
        return ticket.granted

    def leave(self) -> None:
        for queue in self._queues:
            if queue:
                ticket = queue.popleft()
                self.waiting -= 1
                ticket.granted = True
                ticket.woken.set()
                return
        self.held -= 1


class RelayTurn:
    """Game traffic before lobby work, in one event loop.

    trio runs every task that is ready once per batch, and a task whose deadline passes during a
    batch runs in the next one. In a login storm a batch of lobby handshakes took tens of
    milliseconds, and the DME's UDP pump, due to flush every game's frames, waited for all of it
    (the relay's p99 added latency went from 8-10 ms to 64-69 ms). So the pump registers its turn
    (``serve``) and says when it is due (``due_at``: its wait ends then; ``due_now``: it has more to
    read) and when it is not (``clear``); the first step of a connection whose protocol
    ``yields_to_relay`` that finds it due runs that turn (``run_due``) before its own work. (Holding
    the lobby's input until the pump's own task had run cost the lobby an extra batch each time;
    under the operator console, where trio is Textual's guest, a batch is a turn of asyncio's loop
    with the console's drawing in between, and logins took twice as long.) One per run
    (``relay_turn``), shared by every service."""

    __slots__ = ("_turn", "due")

    def __init__(self) -> None:
        self.due = math.inf  # from when a lobby step runs the pump's turn (inf: never)
        self._turn: Callable[[], None] | None = None

    def serve(self, turn: Callable[[], None]) -> None:
        """The pump's turn, from now on."""
        self._turn = turn
        self.due = math.inf

    def gone(self, turn: Callable[[], None]) -> None:
        """The pump whose turn this was is gone (another one's, served since, stays)."""
        if self._turn == turn:
            self._turn = None
            self.due = math.inf

    def due_at(self, deadline: float) -> None:
        """The pump waits until ``deadline``."""
        self.due = deadline

    def due_now(self) -> None:
        """The pump has more to do at once."""
        self.due = -math.inf

    def clear(self) -> None:
        """The pump is not due (it is behind and lets the lobby have a batch, or its turn is done)."""
        self.due = math.inf

    def run_due(self) -> None:
        """Run the pump's turn here and now (a lobby step that found it due)."""
        turn = self._turn
        if turn is None:
            self.due = math.inf
            return
        try:
            turn()
        except Exception:
            self.due = math.inf
            log.exception("DME: the relay's turn failed (run before a lobby connection's input)")


_RELAY_TURN: trio.lowlevel.RunVar[RelayTurn] = trio.lowlevel.RunVar("clank_lan.relay_turn")


def relay_turn() -> RelayTurn:
    """The run's ``RelayTurn`` (made on first use)."""
    try:
        return _RELAY_TURN.get()
    except LookupError:
        turn = RelayTurn()
        _RELAY_TURN.set(turn)
        return turn


_GATE: trio.lowlevel.RunVar[HandshakeGate] = trio.lowlevel.RunVar("clank_lan.handshake_gate")


def handshake_gate(limit: int) -> HandshakeGate:
    """The run's gate, shared by every service (made with the first caller's ``limit``)."""
    try:
        return _GATE.get()
    except LookupError:
        gate = HandshakeGate(limit)
        _GATE.set(gate)
        return gate


class Admission:
    """Who may open one more connection to a service: at most ``connections_per_address`` held
    and ``accepts_per_second`` (bursts of ``accept_burst``) opened per address; then a turn at
    the handshake (``handshake_gate``, ``handshakes_at_once``)."""

    def __init__(self, name: str, limits: LimitSettings, refusals: lh.Refusals | None = None) -> None:
        self.name = name
        self.limits = limits
        self.held: ConnectionCounter[str] = ConnectionCounter(limits.connections_per_address, MAX_CONNECTIONS)
        self.rate: KeyedLimiter[str] = KeyedLimiter(
            limits.accepts_per_second, limits.accept_burst, limits.tracked_peers
        )
        self.refusals = refusals if refusals is not None else lh.Refusals(log, limits.log_limiter())
        self._next_sweep = -math.inf

    def admit(self, peer: tuple[str, int], now: float) -> bool:
        """Count a new connection from ``peer`` (``release`` it when it ends), or refuse it."""
        ip = peer[0]
        if now >= self._next_sweep:  # forget addresses that went quiet (memory stays flat)
            self._next_sweep = now + self.limits.log_interval
            self.rate.forget_idle(now)
        if not self.rate.allow(ip, now):
            why = f"more than {self.limits.accepts_per_second:g} new connections a second"
            self._refuse(lh.ACCEPT_RATE, peer, now, why)
            return False
        if not self.held.acquire(ip):
            if self.held.held() >= MAX_CONNECTIONS:
                why = f"{MAX_CONNECTIONS} connections open in total"
            else:
                why = f"{self.limits.connections_per_address} connections open from {ip}"
            self._refuse(lh.CONNECTIONS_PER_ADDRESS, peer, now, why)
            return False
        return True

    def release(self, peer: tuple[str, int]) -> None:
        self.held.release(peer[0])

    async def handshake_turn(
        self, peer: tuple[str, int], timeout: float = HANDSHAKE_QUEUE_TIMEOUT
    ) -> Callable[[], None] | None:
        """Wait for a handshake slot: its release (call it once the handshake is over; later
        calls do nothing), or None when none came in time (refused, said in the log)."""
        gate = handshake_gate(self.limits.handshakes_at_once)
        if not await gate.enter(self.name, timeout):
            why = f"no handshake slot within {timeout:g} s ({gate.limit} at once, {gate.waiting} waiting)"
            self._refuse(lh.HANDSHAKE_QUEUE, peer, trio.current_time(), why)
            return None
        left = False

        def leave() -> None:
            nonlocal left
            if not left:
                left = True
                gate.leave()

        return leave

    def _refuse(self, limit: str, peer: tuple[str, int], now: float, why: str) -> None:
        self.refusals(limit, peer[0], now, f"{self.name} {peer[0]}:{peer[1]}: connection refused: {why}")


async def serve_tcp(
    name: str,
    listener: trio.SocketListener,
    factory: ProtocolFactory,
    *,
    limits: LimitSettings | None = None,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections on ``listener`` and run each through its own protocol object;
    ``limits`` (``config.limits``) bounds what one address may open; None admits everybody."""
    local = listener.socket.getsockname()[:2]
    _shell()  # its task runs from now on, not from the first connection
    # One-time work of the RT cipher (compiling its key schedule, 20-35 ms of CPU) is done now,
    # at start-up, not in one step of the first encrypted handshake while games relay.
    ps2_rc4.prepare()
    task_status.started(local[1])
    admission = Admission(name, limits) if limits is not None else None
    await accept_loop(name, listener, factory, local, admission=admission)


async def accept_loop(
    name: str,
    listener: trio.abc.Listener[trio.abc.Stream],
    factory: ProtocolFactory,
    local: tuple[str, int],
    *,
    admission: Admission | None = None,
    peer_of: PeerOf = socket_peer,
    retry_delay: float = ACCEPT_RETRY_DELAY,
) -> None:
    """Accept until cancelled; out of file descriptors or memory, wait ``retry_delay`` and retry
    (logged once per run of failures, not once per attempt). A connection ``admission`` refuses
    is closed at once, before any protocol object exists."""
    failing = False
    async with trio.open_nursery() as nursery:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in ACCEPT_RETRY_ERRNOS:
                    raise
                if not failing:
                    log.error("%s: accept failed (%s); retrying every %g s", name, exc, retry_delay)
                failing = True
                await trio.sleep(retry_delay)
                continue
            if failing:
                log.warning("%s: accepting connections again", name)
                failing = False
            if admission is None:
                nursery.start_soon(handle_stream, name, stream, local, factory, peer_of)
                continue
            try:
                peer = peer_of(stream)
            except OSError:
                peer = None
            if peer is None or not admission.admit(peer, trio.current_time()):
                with trio.move_on_after(ACLOSE_TIMEOUT):
                    await stream.aclose()
                continue
            nursery.start_soon(_admitted, name, stream, local, factory, peer, admission)


async def _admitted(
    name: str,
    stream: trio.abc.Stream,
    local: tuple[str, int],
    factory: ProtocolFactory,
    peer: tuple[str, int],
    admission: Admission,
) -> None:
    try:
        turn = partial(admission.handshake_turn, peer)
        await handle_stream(name, stream, local, factory, lambda _stream: peer, handshake_turn=turn)
    finally:
        admission.release(peer)


async def handle_stream(
    name: str,
    stream: trio.abc.Stream,
    local: tuple[str, int],
    factory: ProtocolFactory,
    peer_of: PeerOf = socket_peer,
    *,
    handshake_turn: HandshakeTurn | None = None,
) -> str:
    """One accepted connection, from its protocol object's creation to the close;
    ``handshake_turn`` as in ``run_stream``."""
    try:
        peer = peer_of(stream)
    except OSError:
        await stream.aclose()
        return "peer address unavailable"
    label = f"{name} {peer[0]}:{peer[1]}"
    try:
        proto = factory(peer, local, trio.current_time())
    except Exception:
        log.exception("%s: could not set up the connection", label)
        await stream.aclose()
        return "setup failed"
    reason = await run_stream(stream, proto, label, peer_ip=peer[0], handshake_turn=handshake_turn)
    log.debug("%s: disconnected: %s", label, reason)
    return reason
