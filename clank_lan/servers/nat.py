"""NAT address discovery (UDP 10070): tell a console which address and port we saw it from.

A request is exactly 4 bytes; the reply is the sender's IPv4 (network order) and port
(big-endian), 6 bytes, sent twice because UDP may drop one. Keep-alives end in 0xD4 and get no
reply. Anything else is ignored.
"""

from __future__ import annotations

import logging
import socket

import trio

log = logging.getLogger("clank_lan.nat")

REQUEST_LEN = 4
KEEPALIVE_TAG = 0xD4
REPLY_COPIES = 2


def nat_reply(data: bytes, addr: tuple[str, int]) -> bytes | None:
    """The reply to one datagram, or None when it gets no reply."""
    if len(data) != REQUEST_LEN or data[3] == KEEPALIVE_TAG:
        return None
    try:
        ip = socket.inet_aton(addr[0])
    except OSError:
        return None
    return ip + addr[1].to_bytes(2, "big")


async def serve_nat(sock: trio.socket.SocketType, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Answer NAT queries on an already bound UDP socket until cancelled."""
    task_status.started(sock.getsockname()[1])
    while True:
        try:
            data, addr = await sock.recvfrom(2048)
        except ConnectionResetError:  # Windows reports ICMP port-unreachable this way
            continue
        reply = nat_reply(data, addr)
        if reply is None:
            if len(data) != REQUEST_LEN:
                log.debug("NAT: ignored %d bytes from %s:%d: %s", len(data), *addr, data[:32].hex(" "))
            continue
        for _ in range(REPLY_COPIES):
            try:
                await sock.sendto(reply, addr)
            except OSError as exc:
                log.info("NAT: reply to %s:%d failed: %s", addr[0], addr[1], exc)
                break
