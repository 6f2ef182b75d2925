"""From link-layer records to IPv4 TCP/UDP packets.

Link types: Ethernet (with 802.1Q/802.1ad VLAN tags), raw IPv4, Linux cooked capture v1 and v2,
BSD loopback. IPv4 only; fragments other than the first are not reassembled (SCE-RT datagrams
stay far below the MTU) and are reported as skipped.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from clank_lan.dissect.capture import CaptureError, Record, iter_records

LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_LINUX_SLL = 113
LINK_IPV4 = 228
LINK_LINUX_SLL2 = 276
#: DLT_RAW's historical numbers on some BSDs
LINK_RAW_ALT = (12, 14)

ETH_IPV4 = 0x0800
ETH_VLAN = (0x8100, 0x88A8, 0x9100)

PROTO_TCP = 6
PROTO_UDP = 17

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10

_ETH = struct.Struct("!6s6sH")
_VLAN = struct.Struct("!HH")
_SLL = struct.Struct("!HHH8sH")
_SLL2 = struct.Struct("!HHIHBB8s")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")

assert (_ETH.size, _SLL.size, _SLL2.size, _IPV4.size, _TCP.size, _UDP.size) == (14, 16, 20, 20, 20, 8)


@dataclass(frozen=True, slots=True)
class Packet:
    """One IPv4 TCP segment or UDP datagram. ``number`` is the capture record number."""

    number: int
    ts: float
    proto: str  # "tcp" or "udp"
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes
    seq: int = 0
    flags: int = 0
    truncated: bool = False  # the capture cut the packet short (snaplen)

    @property
    def syn(self) -> bool:
        return bool(self.flags & TCP_SYN)

    @property
    def fin(self) -> bool:
        return bool(self.flags & TCP_FIN)

    @property
    def rst(self) -> bool:
        return bool(self.flags & TCP_RST)


def ip_payload(rec: Record) -> bytes | None:
    """The IPv4 datagram inside a link-layer record, or None when it carries something else."""
    data = rec.data
    lt = rec.linktype
    if lt == LINK_ETHERNET:
        if len(data) < _ETH.size:
            return None
        etype = _ETH.unpack_from(data)[2]
        pos = _ETH.size
        while etype in ETH_VLAN and len(data) >= pos + _VLAN.size:
            etype = _VLAN.unpack_from(data, pos)[1]
            pos += _VLAN.size
        return data[pos:] if etype == ETH_IPV4 else None
    if lt in (LINK_RAW, LINK_IPV4, *LINK_RAW_ALT):
        return data if data[:1] and data[0] >> 4 == 4 else None
    if lt == LINK_LINUX_SLL:
        if len(data) < _SLL.size:
            return None
        return data[_SLL.size :] if _SLL.unpack_from(data)[4] == ETH_IPV4 else None
    if lt == LINK_LINUX_SLL2:
        if len(data) < _SLL2.size:
            return None
        return data[_SLL2.size :] if _SLL2.unpack_from(data)[0] == ETH_IPV4 else None
    if lt == LINK_NULL:
        if len(data) < 4:
            return None
        family = struct.unpack_from("<I", data)[0]
        if family not in (2, 0x02000000):
            return None
        return data[4:]
    return None


def decode_record(rec: Record) -> Packet | None:
    """The TCP/UDP packet in a record, or None (not IPv4, not TCP/UDP, a later fragment)."""
    ip = ip_payload(rec)
    if ip is None or len(ip) < _IPV4.size:
        return None
    vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src, dst = _IPV4.unpack_from(ip)
    if vihl >> 4 != 4:
        return None
    ihl = (vihl & 0x0F) * 4
    if ihl < _IPV4.size or frag & 0x1FFF:
        return None
    truncated = rec.truncated or total > len(ip) or bool(frag & 0x2000)
    # Trim the link layer's padding (Ethernet pads short frames to 60 bytes).
    body = ip[ihl : max(ihl, min(total, len(ip)))] if total else ip[ihl:]
    s_ip = socket.inet_ntoa(src)
    d_ip = socket.inet_ntoa(dst)
    if proto == PROTO_TCP:
        if len(body) < _TCP.size:
            return None
        sport, dport, seq, _ack, off, flags, _win, _sum, _urg = _TCP.unpack_from(body)
        hlen = (off >> 4) * 4
        if hlen < _TCP.size:
            return None
        return Packet(
            rec.number, rec.ts, "tcp", (s_ip, sport), (d_ip, dport), body[hlen:], seq, flags, truncated
        )
    if proto == PROTO_UDP:
        if len(body) < _UDP.size:
            return None
        sport, dport, ulen, _sum = _UDP.unpack_from(body)
        payload = body[_UDP.size : ulen] if _UDP.size <= ulen <= len(body) else body[_UDP.size :]
        truncated = truncated or ulen > len(body)
        return Packet(rec.number, rec.ts, "udp", (s_ip, sport), (d_ip, dport), payload, truncated=truncated)
    return None


def read_capture(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def iter_packets(path: str | Path) -> Iterator[Packet]:
    """Every IPv4 TCP/UDP packet of a pcap/pcapng file, in file order.

    Raises CaptureError (after yielding everything readable before the damage) on a damaged file.
    """
    for rec in iter_records(read_capture(path)):
        pkt = decode_record(rec)
        if pkt is not None:
            yield pkt


__all__ = ["CaptureError", "Packet", "decode_record", "ip_payload", "iter_packets"]
