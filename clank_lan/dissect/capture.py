"""Capture file records: classic pcap (both byte orders, µs and ns) and pcapng.

Only what a dissector needs: each record's link type, timestamp and captured bytes. Damage is
reported as ``CaptureError`` raised *after* every complete record before it was yielded, so a
caller keeps what it read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from clank_lan.protocol.errors import ProtocolError

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

PCAPNG_IDB = 0x00000001
PCAPNG_PB = 0x00000002  # obsolete Packet Block
PCAPNG_SPB = 0x00000003
PCAPNG_EPB = 0x00000006

#: classic pcap file header after the magic: version major/minor, thiszone, sigfigs, snaplen, linktype
_PCAP_HDR = {e: struct.Struct(e + "HHiIII") for e in "<>"}
_PCAP_REC = {e: struct.Struct(e + "IIII") for e in "<>"}
_BLOCK_HEAD = {e: struct.Struct(e + "II") for e in "<>"}
_IDB = {e: struct.Struct(e + "HHI") for e in "<>"}
_EPB = {e: struct.Struct(e + "IIIII") for e in "<>"}
_PB = {e: struct.Struct(e + "HHIIII") for e in "<>"}
_OPT = {e: struct.Struct(e + "HH") for e in "<>"}

OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


class CaptureError(ProtocolError):
    """The capture file is damaged or not a capture (offset = byte position in the file)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One captured link-layer frame. ``number`` counts records from 1 in file order."""

    number: int
    ts: float
    linktype: int
    data: bytes
    orig_len: int

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.orig_len


def iter_records(blob: bytes) -> Iterator[Record]:
    """Records of a whole capture file held in memory (pcap or pcapng, detected by magic)."""
    if len(blob) < 4:
        raise CaptureError(f"file too short to be a capture ({len(blob)} bytes)", data=blob)
    if struct.unpack_from("<I", blob)[0] == PCAPNG_SHB:
        yield from _iter_pcapng(blob)
        return
    for endian in "<>":
        magic = struct.unpack_from(endian + "I", blob)[0]
        if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            yield from _iter_pcap(blob, endian, 1e-9 if magic == PCAP_MAGIC_NS else 1e-6)
            return
    raise CaptureError(f"not a pcap or pcapng file (magic {blob[:4].hex()})", data=blob[:16])


def _iter_pcap(blob: bytes, e: str, unit: float) -> Iterator[Record]:
    hdr = _PCAP_HDR[e]
    if len(blob) < 4 + hdr.size:
        raise CaptureError("pcap file header truncated", offset=0, data=blob)
    _major, _minor, _zone, _sigfigs, _snaplen, linktype = hdr.unpack_from(blob, 4)
    linktype &= 0xFFFF  # the upper bits may carry FCS information
    rec = _PCAP_REC[e]
    pos = 4 + hdr.size
    number = 0
    end = len(blob)
    while pos < end:
        if end - pos < rec.size:
            raise CaptureError(f"truncated record header after record {number}", offset=pos)
        sec, frac, incl, orig = rec.unpack_from(blob, pos)
        if incl > 0x4000000:
            raise CaptureError(f"implausible record length {incl} after record {number}", offset=pos)
        start = pos + rec.size
        if start + incl > end:
            raise CaptureError(f"record {number + 1} truncated ({end - start} of {incl} bytes)", offset=pos)
        number += 1
        yield Record(number, sec + frac * unit, linktype, blob[start : start + incl], orig)
        pos = start + incl


@dataclass(slots=True)
class _Interface:
    linktype: int
    unit: float = 1e-6
    offset: int = 0


def _iter_pcapng(blob: bytes) -> Iterator[Record]:
    e = "<"
    interfaces: list[_Interface] = []
    pos = 0
    end = len(blob)
    number = 0
    while pos < end:
        if end - pos < 12:
            raise CaptureError(f"truncated block header after record {number}", offset=pos)
        btype = struct.unpack_from("<I", blob, pos)[0]
        if btype == PCAPNG_SHB:
            bom = blob[pos + 8 : pos + 12]
            if struct.unpack("<I", bom)[0] == PCAPNG_BYTE_ORDER_MAGIC:
                e = "<"
            elif struct.unpack(">I", bom)[0] == PCAPNG_BYTE_ORDER_MAGIC:
                e = ">"
            else:
                raise CaptureError("pcapng section header has a bad byte-order magic", offset=pos)
            interfaces = []
        btype, blen = _BLOCK_HEAD[e].unpack_from(blob, pos)
        if blen < 12 or blen % 4:
            raise CaptureError(f"pcapng block with invalid length {blen}", offset=pos)
        if pos + blen > end:
            raise CaptureError(
                f"pcapng block truncated ({end - pos} of {blen} bytes) after record {number}", offset=pos
            )
        if struct.unpack_from(e + "I", blob, pos + blen - 4)[0] != blen:
            raise CaptureError("pcapng block trailer length does not match its header", offset=pos)
        body = blob[pos + 8 : pos + blen - 4]
        got = _pcapng_block(btype, body, e, interfaces, pos)
        if got is not None:
            iface, ts, data, orig = got
            number += 1
            yield Record(number, ts, iface.linktype, data, orig)
        pos += blen


def _pcapng_block(btype: int, body: bytes, e: str, interfaces: list[_Interface], pos: int):
    """Decode one block; returns (interface, ts, data, orig_len) for packet blocks, else None."""
    if btype == PCAPNG_IDB:
        if len(body) < _IDB[e].size:
            raise CaptureError("pcapng interface block too short", offset=pos)
        linktype, _res, _snap = _IDB[e].unpack_from(body)
        iface = _Interface(linktype)
        _read_if_options(body[_IDB[e].size :], e, iface)
        interfaces.append(iface)
        return None
    if btype == PCAPNG_EPB:
        if len(body) < _EPB[e].size:
            raise CaptureError("pcapng enhanced packet block too short", offset=pos)
        if_id, hi, lo, cap, orig = _EPB[e].unpack_from(body)
        start = _EPB[e].size
    elif btype == PCAPNG_PB:
        if len(body) < _PB[e].size:
            raise CaptureError("pcapng packet block too short", offset=pos)
        if_id, _drops, hi, lo, cap, orig = _PB[e].unpack_from(body)
        start = _PB[e].size
    elif btype == PCAPNG_SPB:
        if len(body) < 4:
            raise CaptureError("pcapng simple packet block too short", offset=pos)
        if_id, hi, lo = 0, 0, 0
        orig = struct.unpack_from(e + "I", body)[0]
        start = 4
        cap = min(orig, len(body) - start)
    else:
        return None  # name resolution, statistics, custom blocks...
    if if_id >= len(interfaces):
        raise CaptureError(f"pcapng packet refers to undeclared interface {if_id}", offset=pos)
    if start + cap > len(body):
        raise CaptureError("pcapng packet data runs past its block", offset=pos)
    iface = interfaces[if_id]
    ts = ((hi << 32) | lo) * iface.unit + iface.offset
    return iface, ts, body[start : start + cap], orig


def _read_if_options(opts: bytes, e: str, iface: _Interface) -> None:
    pos = 0
    while pos + 4 <= len(opts):
        code, length = _OPT[e].unpack_from(opts, pos)
        value = opts[pos + 4 : pos + 4 + length]
        if code == 0:
            break
        if code == OPT_IF_TSRESOL and length >= 1:
            v = value[0]
            iface.unit = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0**-v
        elif code == OPT_IF_TSOFFSET and length >= 8:
            iface.offset = struct.unpack_from(e + "q", value)[0]
        pos += 4 + length + (-length % 4)
