"""NAT address discovery (UDP 10070): tell a console which address and port we saw it from.

The one home of the NAT wire format (dme-nat-muis-dns.md §B), used by the server below, the DME
client and the doctor. A request is exactly 4 bytes; the reply is the sender's IPv4 (network
order) and port (big-endian), 6 bytes, sent twice because UDP may drop one. Keep-alives end in
0xD4 and get no reply. Anything else is ignored. One address gets at most
``nat_queries_per_second`` answers: a flood from one address is dropped unanswered, so it
neither crowds out the others nor turns the service into a reflector.
"""

from __future__ import annotations

import logging
import math
import socket
import struct

import trio

from clank_lan import limit_hits as lh
from clank_lan.config import LimitSettings
from clank_lan.ratelimit import KeyedLimiter

log = logging.getLogger("clank_lan.nat")

REQUEST_LEN = 4
KEEPALIVE_TAG = 0xD4
REPLY_COPIES = 2
#: Requests as the consoles sent them to Sony's NAT service.
UYA_REQUEST = bytes.fromhex("0000e400")
DL_REQUEST = bytes.fromhex("a0e6e401")
#: A keep-alive as Deadlocked sends it (b41): no reply.
KEEPALIVE = bytes.fromhex("000000d4")
_REPLY = struct.Struct(">4sH")
REPLY_LEN = _REPLY.size


def is_request(data: bytes) -> bool:
    """A datagram that asks for our address (4 bytes, not a keep-alive)."""
    return len(data) == REQUEST_LEN and data[3] != KEEPALIVE_TAG


def encode_reply(ip: str, port: int) -> bytes | None:
    """The 6-byte answer naming ``ip:port``; None for an address that is not IPv4."""
    try:
        packed = socket.inet_aton(ip)
    except OSError:
        return None
    if not 0 <= port <= 0xFFFF:
        return None
    return _REPLY.pack(packed, port)


def decode_reply(data: bytes) -> tuple[str, int] | None:
    """(ip, port) of a 6-byte answer, None for anything else."""
    if len(data) != REPLY_LEN:
        return None
    ip, port = _REPLY.unpack(data)
    return socket.inet_ntoa(ip), port


class NatService:
    """The answering side, sans-IO: the reply to a datagram, unless its address asks more than
    ``limits.nat_queries_per_second`` (a flood is dropped unanswered, counted and logged, a
    bounded number of lines). ``limits`` None answers everybody (tools and benchmarks)."""

    def __init__(self, limits: LimitSettings | None = None, hits: lh.LimitHits | None = None) -> None:
        self.rate = limits.nat_queries_per_second if limits is not None else None
        settings = limits or LimitSettings()
        self.per_address: KeyedLimiter[str] | None = None
        if self.rate is not None:
            self.per_address = KeyedLimiter(self.rate, max(1.0, self.rate), settings.tracked_peers)
        self.refusals = lh.Refusals(log, settings.log_limiter(), hits)
        self.sweep_interval = settings.log_interval
        self._next_sweep = -math.inf

    def answer(self, data: bytes, addr: tuple[str, int], now: float) -> bytes | None:
        if not is_request(data):
            if len(data) != REQUEST_LEN:
                text = "NAT: ignored %d bytes from %s:%d: %s"
                size, hexed = len(data), data[:32].hex(" ")
                self.refusals(None, addr[0], now, text, size, *addr, hexed, level=logging.DEBUG)
            return None
        if self.per_address is not None and now >= self._next_sweep:
            self._next_sweep = now + self.sweep_interval  # quiet addresses are forgotten
            self.per_address.forget_idle(now)
        if self.per_address is not None and not self.per_address.allow(addr[0], now):
            rate = self.rate
            self.refusals(
                lh.NAT_RATE, addr[0], now, "NAT: %s:%d asks more than %g a second; dropped", *addr, rate
            )
            return None
        return encode_reply(addr[0], addr[1])


async def serve_nat(
    sock: trio.socket.SocketType,
    *,
    limits: LimitSettings | None = None,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer NAT queries on an already bound UDP socket until cancelled."""
    service = NatService(limits)
    task_status.started(sock.getsockname()[1])
    while True:
        try:
            data, addr = await sock.recvfrom(2048)
        except ConnectionResetError:  # Windows reports ICMP port-unreachable this way
            continue
        reply = service.answer(data, addr[:2], trio.current_time())
        if reply is None:
            continue
        for _ in range(REPLY_COPIES):
            try:
                await sock.sendto(reply, addr)
            except OSError as exc:
                log.info("NAT: reply to %s:%d failed: %s", addr[0], addr[1], exc)
                break
