"""The dissection: packets -> TCP streams / UDP datagrams -> RT frames -> plaintext.

Frames are produced in capture order: a TCP segment's bytes are deframed as soon as they are in
sequence, so a frame carries the time of the packet that completed it, and a server's key frame
is seen before the client frames that depend on it. Bytes missing from the capture (a segment
never captured) hold back the rest of that direction until the end of the capture, where the
stream is resumed after the gap and the gap is reported as a note.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clank_lan.dissect.capture import CaptureError, iter_records
from clank_lan.dissect.keyring import Keyring
from clank_lan.dissect.model import RECV, SEND, DissectFrame, DissectResult, Note
from clank_lan.dissect.packets import Packet, decode_record
from clank_lan.dissect.services import DME, DME_UDP_RANGE, NAT, default_ports
from clank_lan.dissect.tcp import TcpStream
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import RawFrame, TcpDeframer, split_datagram
from clank_lan.protocol.rt_ids import RT

Endpoint = tuple[str, int]

NAT_KEEPALIVE_TAG = 0xD4
_INFO_AUX_UDP = struct.Struct("<16sH")


@dataclass
class _Conn:
    """One TCP connection or UDP flow between a client and a Medius service."""

    stream: str
    transport: str
    service: str
    client: Endpoint
    server: Endpoint
    keyring: Keyring | None
    up: TcpStream = field(default_factory=TcpStream)  # client -> server
    down: TcpStream = field(default_factory=TcpStream)
    deframers: dict[str, TcpDeframer] = field(default_factory=dict)
    closed: bool = False
    last: Packet | None = None  # latest packet, the time base of frames recovered after a gap


class Dissector:
    """Feed packets in capture order; read ``result`` at the end (after ``finish``)."""

    def __init__(self, extra_keys: Sequence[bytes] = (), ports: dict[int, str] | None = None) -> None:
        for k in extra_keys:
            if len(k) != 64:
                raise ValueError(f"an RC4 key must be 64 bytes, got {len(k)}")
        self.extra = tuple(dict.fromkeys(bytes(k) for k in extra_keys))
        self.ports = default_ports() if ports is None else dict(ports)
        self.dme_udp: set[Endpoint] = set()  # announced by SERVER_INFO_AUX_UDP
        self.result = DissectResult()
        self._tcp: dict[tuple[Endpoint, Endpoint], _Conn] = {}
        self._udp: dict[tuple[Endpoint, Endpoint], _Conn] = {}
        self._dme_by_ip: dict[str, _Conn] = {}
        self._ntcp = 0
        self._nudp = 0

    # -- input ---------------------------------------------------------------------------------

    def feed(self, pkt: Packet) -> None:
        if pkt.proto == "tcp":
            self._feed_tcp(pkt)
        else:
            self._feed_udp(pkt)

    def _server_side(self, pkt: Packet, udp: bool) -> tuple[str, bool] | None:
        """(service, client_is_src) when one end is a Medius port."""
        for port, is_src in ((pkt.dst[1], True), (pkt.src[1], False)):
            if port in self.ports:
                return self.ports[port], is_src
        if udp:
            for ep, is_src in ((pkt.dst, True), (pkt.src, False)):
                if ep in self.dme_udp or ep[1] in DME_UDP_RANGE:
                    return DME, is_src
        return None

    def _feed_tcp(self, pkt: Packet) -> None:
        side = self._server_side(pkt, udp=False)
        if side is None:
            self.result.other_packets += 1
            return
        service, client_is_src = side
        client, server = (pkt.src, pkt.dst) if client_is_src else (pkt.dst, pkt.src)
        key = (client, server)
        conn = self._tcp.get(key)
        if conn is None or (conn.closed and pkt.syn and client_is_src):
            if conn is not None:
                self._finish_conn(conn)
            self._ntcp += 1
            conn = _Conn(f"t{self._ntcp}", "tcp", service, client, server, Keyring(self.extra))
            self._tcp[key] = conn
            if service == DME:
                self._dme_by_ip[client[0]] = conn
        conn.last = pkt
        stream = conn.up if client_is_src else conn.down
        if pkt.syn:
            stream.syn(pkt.seq)
        data = stream.feed((pkt.seq + (1 if pkt.syn else 0)) & 0xFFFFFFFF, pkt.payload)
        if data:
            self._deliver(conn, RECV if client_is_src else SEND, data, pkt)
        if pkt.fin or pkt.rst:
            conn.closed = True

    def _deliver(self, conn: _Conn, direction: str, data: bytes, pkt: Packet) -> None:
        deframer = conn.deframers.setdefault(direction, TcpDeframer())
        try:
            frames = deframer.feed(data)
        except ProtocolError as exc:  # cannot happen with the default limit; keep going anyway
            self._note(pkt, conn, "not-rt", f"{direction}: {exc}")
            conn.deframers[direction] = TcpDeframer()
            return
        for raw in frames:
            self._frame(conn, direction, raw, pkt)

    def _feed_udp(self, pkt: Packet) -> None:
        side = self._server_side(pkt, udp=True)
        if side is None:
            self.result.other_packets += 1
            return
        service, client_is_src = side
        client, server = (pkt.src, pkt.dst) if client_is_src else (pkt.dst, pkt.src)
        conn = self._udp.get((client, server))
        if conn is None:
            self._nudp += 1
            conn = _Conn(f"u{self._nudp}", "udp", service, client, server, None)
            self._udp[(client, server)] = conn
        direction = RECV if client_is_src else SEND
        if service == NAT:
            self._note(pkt, conn, "nat", _describe_nat(pkt.payload, client_is_src))
            return
        try:
            frames = split_datagram(pkt.payload)
        except ProtocolError as exc:
            self._note(
                pkt,
                conn,
                "not-rt",
                f"{direction} {len(pkt.payload)} bytes, not RT ({exc.reason}): {pkt.payload[:32].hex()}",
            )
            return
        for raw in frames:
            self._frame(conn, direction, raw, pkt)

    # -- frames --------------------------------------------------------------------------------

    def _keyring(self, conn: _Conn) -> Keyring:
        if conn.keyring is not None:
            return conn.keyring
        # A DME UDP flow uses the keys of the DME TCP connection from the same client IP.
        tcp = self._dme_by_ip.get(conn.client[0])
        if tcp is not None and tcp.keyring is not None:
            return tcp.keyring
        conn.keyring = Keyring(self.extra)
        return conn.keyring

    def _frame(self, conn: _Conn, direction: str, raw: RawFrame, pkt: Packet) -> None:
        out = self._keyring(conn).decrypt(raw, direction)
        frame = DissectFrame(
            number=len(self.result.frames) + 1,
            packet=pkt.number,
            ts=pkt.ts,
            stream=conn.stream,
            transport=conn.transport,
            service=conn.service,
            client=conn.client,
            server=conn.server,
            direction=direction,
            raw=raw,
            status=out.status,
            plain=out.plain,
            reason=out.reason,
            key=out.key,
            rsa=out.rsa,
        )
        self.result.frames.append(frame)
        if out.plain is not None and raw.id == RT.SERVER_INFO_AUX_UDP and direction == SEND:
            self._learn_dme_udp(out.plain.payload)

    def _learn_dme_udp(self, payload: bytes) -> None:
        if len(payload) < _INFO_AUX_UDP.size:
            return
        ip, port = _INFO_AUX_UDP.unpack_from(payload)
        self.dme_udp.add((ip.split(b"\0", 1)[0].decode("ascii", "replace"), port))

    def _note(self, pkt: Packet, conn: _Conn, kind: str, text: str) -> None:
        self.result.notes.append(
            Note(pkt.number, pkt.ts, conn.stream, conn.service, kind, text, len(self.result.frames))
        )

    def _end_note(self, conn: _Conn, kind: str, text: str) -> None:
        self.result.notes.append(Note(0, 0.0, conn.stream, conn.service, kind, text, len(self.result.frames)))

    # -- end -----------------------------------------------------------------------------------

    def _finish_conn(self, conn: _Conn) -> None:
        if conn.transport != "tcp":
            return
        for direction, stream in ((RECV, conn.up), (SEND, conn.down)):
            while stream.held:
                gap, data = stream.skip_gap()
                self._end_note(
                    conn,
                    "gap",
                    f"{direction}: {gap} bytes missing from the capture; deframing restarted after the gap",
                )
                conn.deframers[direction] = TcpDeframer()
                if data and conn.last is not None:
                    self._deliver(conn, direction, data, conn.last)
            deframer = conn.deframers.get(direction)
            if deframer is not None and deframer.pending:
                self._end_note(
                    conn,
                    "tail",
                    f"{direction}: {deframer.pending} bytes of an incomplete frame at the end of the stream",
                )

    def finish(self) -> DissectResult:
        for conn in self._tcp.values():
            self._finish_conn(conn)
        self._tcp.clear()
        return self.result


def _describe_nat(payload: bytes, from_client: bool) -> str:
    if from_client and len(payload) == 4:
        kind = "keep-alive" if payload[3] == NAT_KEEPALIVE_TAG else "request"
        return f"NAT {kind} {payload.hex()}"
    if not from_client and len(payload) == 6:
        ip = ".".join(str(b) for b in payload[:4])
        return f"NAT reply {payload.hex()} = {ip}:{int.from_bytes(payload[4:6], 'big')}"
    return (
        f"NAT {'from client' if from_client else 'from server'}, unexpected {len(payload)} bytes "
        f"{payload[:16].hex()}"
    )


def dissect_packets(packets: Iterable[Packet], extra_keys: Sequence[bytes] = ()) -> DissectResult:
    d = Dissector(extra_keys)
    for pkt in packets:
        d.feed(pkt)
    return d.finish()


def dissect_bytes(
    blob: bytes, extra_keys: Sequence[bytes] = (), ports: dict[int, str] | None = None
) -> DissectResult:
    """Dissect a capture held in memory; a damaged file sets ``result.error`` instead of raising."""
    d = Dissector(extra_keys, ports)
    try:
        for rec in iter_records(blob):
            d.result.packets += 1
            pkt = decode_record(rec)
            if pkt is None:
                d.result.other_packets += 1
            else:
                d.feed(pkt)
    except CaptureError as exc:
        d.result.error = exc.reason
    return d.finish()


def dissect(
    path: str | Path, extra_keys: Sequence[bytes] = (), ports: dict[int, str] | None = None
) -> DissectResult:
    """Dissect a pcap/pcapng file. Raises OSError if it cannot be read."""
    return dissect_bytes(Path(path).read_bytes(), extra_keys, ports)
