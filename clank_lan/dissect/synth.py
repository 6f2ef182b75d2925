"""Build capture files from packets: the inverse of ``capture``/``packets``.

Used by the tests (every link type and file variant the reader accepts) and handy for writing a
capture of our own traffic. Checksums are computed for IPv4 headers only; readers ignore the rest.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Sequence

from clank_lan.dissect.capture import (
    OPT_IF_TSRESOL,
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    PCAPNG_BYTE_ORDER_MAGIC,
    PCAPNG_EPB,
    PCAPNG_IDB,
    PCAPNG_SHB,
    PCAPNG_SPB,
)
from clank_lan.dissect.packets import (
    ETH_IPV4,
    LINK_ETHERNET,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
)

#: (timestamp, captured bytes) or (timestamp, captured bytes, original length)
RecordSpec = tuple[float, bytes] | tuple[float, bytes, int]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0, frag: int = 0) -> bytes:
    """An IPv4 datagram (20-byte header). ``frag`` holds the flags and fragment offset field."""
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return head + payload


def tcp(sport: int, dport: int, seq: int, payload: bytes = b"", flags: int = TCP_ACK, ack: int = 0) -> bytes:
    head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack, 5 << 4, flags, 65535, 0, 0)
    return head + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp_packet(src: tuple[str, int], dst: tuple[str, int], seq: int, payload: bytes = b"",
               flags: int = TCP_ACK) -> bytes:  # fmt: skip
    return ipv4(src[0], dst[0], PROTO_TCP, tcp(src[1], dst[1], seq, payload, flags))


def udp_packet(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    return ipv4(src[0], dst[0], PROTO_UDP, udp(src[1], dst[1], payload))


def ethernet(ip: bytes, vlans: Sequence[int] = (), pad_to: int = 60) -> bytes:
    """An Ethernet II frame, with 802.1Q tags (VLAN ids) and padding to the 60-byte minimum."""
    frame = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02"
    for vid in vlans:
        frame += struct.pack("!HH", 0x8100, vid)
    frame += struct.pack("!H", ETH_IPV4) + ip
    return frame + b"\0" * max(0, pad_to - len(frame))


def linux_sll(ip: bytes) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", ETH_IPV4) + ip


def linux_sll2(ip: bytes) -> bytes:
    return struct.pack("!HHIHBB8s", ETH_IPV4, 0, 1, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + ip


def bsd_loopback(ip: bytes) -> bytes:
    return struct.pack("<I", 2) + ip


def _spec(rec: RecordSpec) -> tuple[float, bytes, int]:
    if len(rec) == 3:
        return rec  # type: ignore[return-value]
    ts, data = rec  # type: ignore[misc]
    return ts, data, len(data)


def pcap(
    records: Iterable[RecordSpec], linktype: int = LINK_ETHERNET, endian: str = "<", nanos: bool = False
) -> bytes:
    """A classic pcap file (``endian`` "<" or ">", microsecond or nanosecond timestamps)."""
    unit = 1_000_000_000 if nanos else 1_000_000
    magic = PCAP_MAGIC_NS if nanos else PCAP_MAGIC_US
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for rec in records:
        ts, data, orig = _spec(rec)
        ticks = round(ts * unit)
        out.append(struct.pack(endian + "IIII", ticks // unit, ticks % unit, len(data), orig) + data)
    return b"".join(out)


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def pcapng(
    records: Iterable[RecordSpec],
    linktype: int = LINK_ETHERNET,
    endian: str = "<",
    tsresol: int | None = None,
    simple: bool = False,
    sections: int = 1,
) -> bytes:
    """A pcapng file: SHB, an IDB (optionally with if_tsresol), a name-resolution block that
    readers must skip, then EPBs (or SPBs). With ``sections`` > 1 the records are spread over
    that many sections, each with its own SHB and IDB."""
    e = endian
    recs = list(records)
    per = -(-len(recs) // sections) if recs else 0
    out = []
    unit = 10 ** (tsresol if tsresol is not None else 6)
    for s in range(sections):
        shb = struct.pack(e + "IHHq", PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1)
        out.append(_block(e, PCAPNG_SHB, shb))
        opts = b""
        if tsresol is not None:
            opts = struct.pack(e + "HH", OPT_IF_TSRESOL, 1) + bytes((tsresol,)) + b"\0\0\0"
            opts += struct.pack(e + "HH", 0, 0)
        out.append(_block(e, PCAPNG_IDB, struct.pack(e + "HHI", linktype, 0, 65535) + opts))
        out.append(_block(e, 0x00000004, struct.pack(e + "HH", 0, 0)))  # empty NRB: to be skipped
        for rec in recs[s * per : (s + 1) * per]:
            ts, data, orig = _spec(rec)
            if simple:
                out.append(_block(e, PCAPNG_SPB, struct.pack(e + "I", orig) + data))
                continue
            ticks = round(ts * unit)
            body = struct.pack(e + "IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig) + data
            out.append(_block(e, PCAPNG_EPB, body))
    return b"".join(out)
