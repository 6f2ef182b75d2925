"""The thin trio shell around sans-IO stream protocols: accept, read, write, time out, close.

Every connection runs in its own task group; any error inside one (a malformed frame, a bug in a
handler) is logged with the client's address and closes only that connection. Cancellation still
propagates, so shutdown is clean. ``run_stream`` takes any ``trio.abc.Stream`` and
``accept_loop`` any ``trio.abc.Listener``, so both are tested on memory streams with a fake clock.

A peer that stops reading cannot pin a connection: once the protocol's output passes the outbox
limit, or the protocol asked to close and what it queued could not be written within
``CLOSE_GRACE`` seconds, the connection ends even while a write is blocked.

A peer cannot pile up connections either: ``Admission`` caps the connections one address holds
and how fast it may open new ones (``config.limits``), before a protocol object exists, so a
handshake flood costs an accept and a close, never RSA work. Refusals are counted and logged at
info, a bounded number of lines per address.
"""

from __future__ import annotations

import errno
import logging
import math
from collections.abc import Callable
from typing import Protocol

import trio

from clank_lan import limit_hits as lh
from clank_lan.config import LimitSettings
from clank_lan.protocol.errors import ProtocolError
from clank_lan.ratelimit import ConnectionCounter, KeyedLimiter
from clank_lan.rt.outbox import Outbox

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


class StreamProtocol(Protocol):
    outbox: Outbox

    def data_received(self, data: bytes, now: float) -> None: ...

    def next_deadline(self) -> float | None: ...

    def on_timer(self, now: float) -> None: ...

    def connection_lost(self, reason: str, now: float) -> None: ...


#: ``factory(peer, local, now)``: the protocol object of a connection accepted at ``now``.
ProtocolFactory = Callable[[tuple[str, int], tuple[str, int], float], StreamProtocol]
PeerOf = Callable[[trio.abc.Stream], tuple[str, int]]


class _Close(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


OVERFLOW_REASON = "client is not reading (output buffer full)"


async def run_stream(
    stream: trio.abc.Stream,
    proto: StreamProtocol,
    label: str,
    *,
    close_grace: float = CLOSE_GRACE,
    peer_ip: str = "",
) -> str:
    """Drive one connection until either side closes it; returns the reason it ended. Protocol
    errors are logged through ``PROTOCOL_ERRORS`` under ``peer_ip`` (a bounded number a peer)."""
    wake = trio.Event()
    reason = "closed"
    ended: str | None = None  # set when the shell itself ends the connection (overflow, grace)
    send_lock = trio.StrictFIFOLock()
    reading = False  # while the reader handles input it writes the replies itself
    grace_armed = False
    nursery: trio.Nursery | None = None
    timer_wake = trio.Event()
    armed = math.inf  # the deadline the timer task sleeps until

    def end(why: str) -> None:
        nonlocal ended
        if ended is None:
            ended = why
        if nursery is not None:
            nursery.cancel_scope.cancel()

    def notify() -> None:
        nonlocal grace_armed
        if proto.outbox.overflowed:
            end(OVERFLOW_REASON)  # a write may be blocked on this very peer: do not wait for it
            return
        if proto.outbox.closing is not None and not grace_armed and nursery is not None:
            grace_armed = True
            nursery.start_soon(close_after_grace)
        if not reading:
            wake.set()

    async def close_after_grace() -> None:
        await trio.sleep(close_grace)
        end(f"{proto.outbox.closing} (its last output was not read within {close_grace:g} s)")

    async def flush() -> None:
        """Write everything queued (one write), or end the connection as the protocol asked.
        (An overflow never gets here: ``notify`` ends the connection the moment it happens.)"""
        async with send_lock:
            data = proto.outbox.take()
            if data:
                await stream.send_all(data)
        if proto.outbox.closing is not None and not len(proto.outbox):
            raise _Close(proto.outbox.closing)

    async def writer() -> None:
        """Writes what other connections and timers queue (a chat forward, a keepalive)."""
        nonlocal wake
        while True:
            await wake.wait()
            wake = trio.Event()
            await flush()

    async def timers() -> None:
        """Runs ``on_timer`` at the protocol's next deadline; input that brings the deadline
        forward (a frame started arriving) wakes it to look again."""
        nonlocal timer_wake, armed
        while True:
            deadline = proto.next_deadline()
            armed = math.inf if deadline is None else deadline
            with trio.move_on_at(armed):
                await timer_wake.wait()
            if timer_wake.is_set():
                timer_wake = trio.Event()
                continue
            proto.on_timer(trio.current_time())

    proto.outbox.notify = notify
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            nursery.start_soon(timers)
            if len(proto.outbox) or proto.outbox.closing is not None or proto.outbox.overflowed:
                notify()
            while True:
                data = await stream.receive_some(READ_SIZE)
                if not data:
                    raise _Close("peer closed the connection")
                reading = True
                try:
                    proto.data_received(data, trio.current_time())
                finally:
                    reading = False
                deadline = proto.next_deadline()
                if deadline is not None and deadline < armed:
                    timer_wake.set()
                if len(proto.outbox) or proto.outbox.closing is not None:
                    await flush()
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
        proto.outbox.notify = _ignore
        if ended is not None:
            reason = ended
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


class Admission:
    """Who may open one more connection to a service: at most ``connections_per_address`` held
    and ``accepts_per_second`` (bursts of ``accept_burst``) opened per address."""

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
        await handle_stream(name, stream, local, factory, lambda _stream: peer)
    finally:
        admission.release(peer)


async def handle_stream(
    name: str,
    stream: trio.abc.Stream,
    local: tuple[str, int],
    factory: ProtocolFactory,
    peer_of: PeerOf = socket_peer,
) -> str:
    """One accepted connection, from its protocol object's creation to the close."""
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
    reason = await run_stream(stream, proto, label, peer_ip=peer[0])
    log.debug("%s: disconnected: %s", label, reason)
    return reason
