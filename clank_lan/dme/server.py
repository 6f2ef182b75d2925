"""The trio shell of the DME: the TCP listener, the one UDP socket and the timer, nothing else.

Every TCP connection runs through ``servers.tcp.run_stream`` (its own task, errors logged and
confined to it, bounded output). The UDP socket has one receive task and one send task; a bad
datagram is logged by the manager and never stops the port. One timer task drives aggregation
flushes, echoes and timeouts for all players from ``DmeManager.next_deadline``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from functools import partial

import trio

from clank_lan.config import LimitSettings
from clank_lan.dme.conn import DmeConnection
from clank_lan.dme.manager import DmeManager
from clank_lan.servers.tcp import serve_tcp

log = logging.getLogger("clank_lan.dme")

RECV_SIZE = 65536
UDP_BUFFER = 1 << 20
#: Seconds of reading (or sending) datagrams in one go before the timer and the TCP connections get
#: a turn: long enough for throughput, short enough not to delay an aggregation flush noticeably.
SLICE = 0.001


class _Wake:
    """A resettable wake-up flag for one waiting task."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def set(self) -> None:
        self.event.set()

    def reset(self) -> None:
        if self.event.is_set():
            self.event = trio.Event()


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
    timer_wake = _Wake()
    udp_wake = _Wake()
    dme.set_wakeup(timer_wake.set)
    dme.set_udp_notify(udp_wake.set)
    # Plain non-blocking calls on the same socket (a second descriptor of it): a datagram costs
    # one system call instead of two trips through the scheduler.
    udp = socket.socket(fileno=os.dup(udp_socket.fileno()))
    udp.setblocking(False)
    _grow_buffers(udp)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_timer_loop, dme, timer_wake)
            nursery.start_soon(_udp_sender, dme, udp, udp_wake)
            nursery.start_soon(_udp_receiver, dme, udp)
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


async def _timer_loop(dme: DmeManager, wake: _Wake) -> None:
    while True:
        delay = dme.next_deadline() - dme.clock()
        if delay > 0:
            with trio.move_on_after(delay):
                await wake.event.wait()
        else:
            await trio.lowlevel.checkpoint()
        wake.reset()
        try:
            dme.on_timer(dme.clock())
        except Exception:
            log.exception("DME: timer processing failed")


async def _udp_receiver(dme: DmeManager, sock: socket.socket) -> None:
    clock = time.perf_counter
    while True:
        await trio.lowlevel.wait_readable(sock)
        while True:  # read until the socket is empty, letting the others in every SLICE seconds
            end = clock() + SLICE
            drained = False
            while clock() < end:
                try:
                    data, addr = sock.recvfrom(RECV_SIZE)
                except BlockingIOError:
                    drained = True
                    break
                except (ConnectionResetError, ConnectionRefusedError):
                    continue  # ICMP port unreachable for an earlier datagram
                try:
                    dme.datagram_received(data, addr[:2], dme.clock())
                except Exception:
                    log.exception("DME UDP: datagram from %s:%d failed", addr[0], addr[1])
            await trio.lowlevel.checkpoint()
            if drained:
                break


async def _udp_sender(dme: DmeManager, sock: socket.socket, wake: _Wake) -> None:
    clock = time.perf_counter
    while True:
        await wake.event.wait()
        wake.reset()
        end = clock() + SLICE
        for data, addr in dme.take_datagrams():
            while True:
                try:
                    sock.sendto(data, addr)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)
                    continue
                except OSError as exc:
                    log.debug("DME UDP: send to %s:%d failed: %s", addr[0], addr[1], exc)
                break
            if clock() > end:
                await trio.lowlevel.checkpoint()
                end = clock() + SLICE
        await trio.lowlevel.checkpoint()
