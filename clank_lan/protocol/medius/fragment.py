"""Splitting big Medius messages into DME PacketFragments, and putting them back together.

Sony's servers sent any APP payload above 512 bytes as class 0 / type 2 PacketFragment messages of
at most 510 bytes: a 22-byte header and 488 data bytes per piece, ``sub_packet_count`` = number of
pieces (b41: a 678-byte universe answer as 488 + 190, a 1036-byte announcement as 488 + 488 + 60).
HZ uses 484-byte pieces and count 0; we follow Sony. The reassembler accepts either.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import MEDIUS_MESSAGE_MAXLEN

#: ``[00][02]`` + fragClass, fragType, u16 size, u16 count, u16 index, u8 multi, pad[3], u32 total, u32 offset
_HEADER = struct.Struct("<BBBBHHHB3xII")
HEADER_SIZE = _HEADER.size  # 22
_MAX_TOTAL = 0x10000


def fragment_app(
    payload: bytes, max_len: int = MEDIUS_MESSAGE_MAXLEN, multi_packet_index: int = 0
) -> list[bytes]:
    """``payload`` ([class][type][body]) as a list of APP payloads each at most ``max_len`` bytes:
    the payload itself when it fits, else its PacketFragment pieces (488 data bytes each at 512)."""
    if len(payload) <= max_len:
        return [bytes(payload)]
    if len(payload) < 2:
        raise ValueError("a Medius message has a 2-byte header")
    chunk = (max_len - HEADER_SIZE) & ~7  # 488 for 512, what Sony's servers used
    if chunk <= 0:
        raise ValueError(f"max_len {max_len} leaves no room for fragment data")
    cls, typ, body = payload[0], payload[1], bytes(payload[2:])
    if len(body) >= _MAX_TOTAL:
        raise ValueError(f"{len(body)}-byte message is too big to fragment")
    count = -(-len(body) // chunk)
    out = []
    for index in range(count):
        off = index * chunk
        piece = body[off : off + chunk]
        head = _HEADER.pack(0, 2, cls, typ, len(piece), count, index, multi_packet_index, len(body), off)
        out.append(head + piece)
    return out


@dataclass
class _Pending:
    total: int
    pieces: dict[int, bytes] = field(default_factory=dict)

    def covered(self) -> int:
        return sum(len(p) for p in self.pieces.values())


class Reassembler:
    """Feed every received APP payload: non-fragments come straight back, fragments are held until
    their message is complete, then the whole ``[class][type][body]`` is returned."""

    def __init__(self, max_pending: int = 8) -> None:
        self._pending: dict[tuple[int, int, int], _Pending] = {}
        self._max_pending = max_pending

    def feed(self, payload: bytes) -> bytes | None:
        if len(payload) < 2 or payload[0] != 0 or payload[1] != 2:
            return bytes(payload)
        if len(payload) < HEADER_SIZE:
            raise ProtocolError("PacketFragment shorter than its header", data=payload)
        _, _, cls, typ, size, _count, _index, multi, total, off = _HEADER.unpack_from(payload)
        data = bytes(payload[HEADER_SIZE : HEADER_SIZE + size])
        if len(data) < size:
            raise ProtocolError(
                "PacketFragment data shorter than its size field", offset=HEADER_SIZE, data=payload
            )
        if total >= _MAX_TOTAL or off + size > total or size == 0:
            raise ProtocolError(
                f"PacketFragment piece {off}+{size} does not fit a {total}-byte message", data=payload
            )
        key = (cls, typ, multi)
        pend = self._pending.get(key)
        if pend is None or pend.total != total or pend.pieces.get(off, data) != data:
            # the first piece, or one contradicting what we hold: a new message starts
            if pend is None and len(self._pending) >= self._max_pending:
                self._pending.pop(next(iter(self._pending)))
            pend = self._pending[key] = _Pending(total)
        pend.pieces[off] = data
        if pend.covered() < total:
            return None
        del self._pending[key]
        body = bytearray()
        for start in sorted(pend.pieces):
            if start != len(body):
                raise ProtocolError(f"PacketFragment pieces overlap or leave a gap at {start}", data=payload)
            body += pend.pieces[start]
        return bytes((cls, typ)) + bytes(body)

    @property
    def pending(self) -> int:
        """Messages with some but not all pieces received."""
        return len(self._pending)
