"""A bot that plays synthetic DME traffic shaped like a console's, and reports what it received.

Shape (from the captures and the UYA bot's timings): movement on UDP at 15 Hz, ~40-byte payloads
that start with game message id ``02 09``; one TCP broadcast per second; a CLIENT_ECHO every
second on TCP and on UDP; CLIENT_TIMEBASE_QUERY only as often as the title's console sends it
(``Title.timebase_query_every``: Deadlocked about once a second, UYA never). The bot stops and
says so when the server forces it out (SERVER_FORCED_DISCONNECT, or the DME connection ending).
Every payload the bot sends carries its own index, a sequence number and the send time
(``time.monotonic``, comparable across processes on one machine), so receivers count per source
and transport and measure one-way latency.
"""

from __future__ import annotations

import math
import struct
import time
from collections import defaultdict
from dataclasses import dataclass, field

import trio

from clank_lan.client.dme_client import (
    AppReceived,
    DmeParams,
    EchoReturned,
    ForcedDisconnect,
    PeerConnected,
    PeerDisconnected,
    connect_dme,
)

MOVEMENT_ID = b"\x02\x09"
STATE_ID = b"\x00\x03"
#: id(2) + magic(2) + source index(2) + seq(4) + send time(8), then padding.
_STAMP = struct.Struct("<2s2shId")
MAGIC = b"CB"
MOVEMENT_SIZE = 40
STATE_SIZE = 24


def make_payload(msg_id: bytes, index: int, seq: int, sent: float, size: int) -> bytes:
    head = _STAMP.pack(msg_id, MAGIC, index, seq, sent)
    return head + bytes(max(0, size - len(head)))


def read_stamp(payload: bytes) -> tuple[bytes, int, int, float] | None:
    """(message id, sender index, seq, send time) of a bot payload, None for anything else."""
    if len(payload) < _STAMP.size or payload[2:4] != MAGIC:
        return None
    msg_id, _magic, index, seq, sent = _STAMP.unpack_from(payload)
    return msg_id, index, seq, sent


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN when there are no values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


@dataclass
class BotReport:
    index: int = -1
    duration: float = 0.0
    sent_udp: int = 0
    sent_tcp: int = 0
    echoes_sent: int = 0
    echoes_returned: dict[str, int] = field(default_factory=lambda: {"tcp": 0, "udp": 0})
    #: (source index, "tcp"/"udp") -> relayed messages received
    received: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    #: "tcp"/"udp" -> one-way latencies in ms of stamped messages
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"tcp": [], "udp": []})
    peers_joined: list[int] = field(default_factory=list)
    peers_left: list[int] = field(default_factory=list)
    foreign: int = 0  # relayed messages without a bot stamp
    undecryptable: int = 0
    events_dropped: int = 0
    timebase_queries: int = 0
    #: Why the server ended the bot's game early ("" when it played to the end).
    kicked: str = ""

    def latency_summary(self, transport: str) -> tuple[float, float, float]:
        """(p50, p99, max) latency in ms on one transport."""
        lat = self.latencies_ms[transport]
        return percentile(lat, 50), percentile(lat, 99), max(lat) if lat else math.nan

    def lines(self) -> list[str]:
        out = [
            f"bot #{self.index}: {self.duration:.1f} s, sent {self.sent_udp} UDP + {self.sent_tcp} TCP, "
            f"echoes {self.echoes_sent} sent / {self.echoes_returned['tcp']} TCP + "
            f"{self.echoes_returned['udp']} UDP back"
        ]
        for (src, transport), n in sorted(self.received.items()):
            out.append(f"  from #{src} over {transport}: {n}")
        for transport in ("udp", "tcp"):
            if self.latencies_ms[transport]:
                p50, p99, worst = self.latency_summary(transport)
                out.append(f"  {transport} latency ms: p50 {p50:.2f}  p99 {p99:.2f}  max {worst:.2f}")
        if self.peers_joined or self.peers_left:
            out.append(f"  peers joined {self.peers_joined}, left {self.peers_left}")
        if self.kicked:
            out.append(f"  kicked: {self.kicked}")
        return out


async def run_bot(
    params: DmeParams,
    duration: float,
    *,
    udp_hz: float = 15.0,
    tcp_hz: float = 1.0,
    echo_interval: float = 1.0,
    timebase_every: float = 0.0,
    start_delay: float = 0.0,
    stop: trio.Event | None = None,
    **client_options,
) -> BotReport:
    """Join the world described by ``params``, play for ``duration`` seconds (or until ``stop`` is
    set, or the server forces us out), leave, report."""
    report = BotReport()
    async with connect_dme(params, **client_options) as client:
        report.index = client.index if client.index is not None else -1
        index = report.index
        started = time.monotonic()

        async def consume(done: trio.CancelScope) -> None:
            async for ev in client.events:
                if isinstance(ev, AppReceived):
                    transport = "udp" if ev.udp else "tcp"
                    report.received[(ev.source, transport)] += 1
                    stamp = read_stamp(ev.payload)
                    if stamp is None:
                        report.foreign += 1
                    else:
                        report.latencies_ms[transport].append((time.monotonic() - stamp[3]) * 1000.0)
                elif isinstance(ev, EchoReturned):
                    report.echoes_returned["udp" if ev.udp else "tcp"] += 1
                elif isinstance(ev, PeerConnected):
                    report.peers_joined.append(ev.index)
                elif isinstance(ev, PeerDisconnected):
                    report.peers_left.append(ev.index)
                elif isinstance(ev, ForcedDisconnect):
                    report.kicked = f"the DME forced a disconnect (reason {ev.reason})"
                    done.cancel()
            report.kicked = report.kicked or f"the DME connection ended: {client.closed_reason or 'closed'}"
            done.cancel()

        async def movement() -> None:
            seq = 0
            next_at = trio.current_time()
            while True:
                client.send_broadcast(
                    make_payload(MOVEMENT_ID, index, seq, time.monotonic(), MOVEMENT_SIZE), udp=True
                )
                report.sent_udp += 1
                seq += 1
                next_at += 1.0 / udp_hz
                await trio.sleep_until(next_at)

        async def state() -> None:
            seq = 0
            next_at = trio.current_time()
            while True:
                client.send_broadcast(make_payload(STATE_ID, index, seq, time.monotonic(), STATE_SIZE))
                report.sent_tcp += 1
                seq += 1
                next_at += 1.0 / tcp_hz
                await trio.sleep_until(next_at)

        async def keepalive() -> None:
            while True:
                client.echo(udp=False)
                client.echo(udp=True)
                report.echoes_sent += 1
                await trio.sleep(echo_interval)

        async def timebase() -> None:
            while True:
                client.timebase_query(int((time.monotonic() - started) * 1000) & 0xFFFFFFFF)
                report.timebase_queries += 1
                await trio.sleep(timebase_every)

        async def stopper(done: trio.CancelScope) -> None:
            assert stop is not None
            await stop.wait()
            done.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume, nursery.cancel_scope)
            if stop is not None:
                nursery.start_soon(stopper, nursery.cancel_scope)
            await trio.sleep(start_delay)
            if udp_hz > 0:
                nursery.start_soon(movement)
            if tcp_hz > 0:
                nursery.start_soon(state)
            if echo_interval > 0:
                nursery.start_soon(keepalive)
            if timebase_every > 0:
                nursery.start_soon(timebase)
            await trio.sleep(duration)
            await trio.sleep(0.2)  # let the last relays arrive
            nursery.cancel_scope.cancel()
        report.duration = time.monotonic() - started
        report.undecryptable = client.core.undecryptable
        report.events_dropped = client.events_dropped
    return report
