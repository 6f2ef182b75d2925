"""SCE-RT framing: TCP stream deframer, UDP datagram splitter and packer.

Wire layout of one frame (TCP and UDP alike)::

    u8   id      bits 0-6 message id, bit 7 "hashed" flag
    u16  length  payload length, little-endian (hash not counted)
    u8[4] hash   only when the flag is set AND length > 0
    u8[length]   payload (ciphertext unless the hash is null or absent)

Frames here are raw: the payload is whatever was on the wire. Decryption is the cipher
layer's job (``crypto.session``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.rt_ids import rt_name

HEADER = struct.Struct("<BH")
HASH_LEN = 4
FLAG = 0x80
ID_MASK = 0x7F

#: Largest datagram we send; what Sony's servers advertised as MaxUdpPacketSize.
UDP_MAX_DATAGRAM = 584
#: Largest Medius message carried in one SERVER_APP on PS2 before fragmenting.
MEDIUS_MESSAGE_MAXLEN = 512
#: Default cap on an incoming frame's payload (the length field allows 65535).
DEFAULT_MAX_PAYLOAD = 0xFFFF


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One frame as carried on the wire. ``hash`` is None when the frame has no hash field."""

    id: int
    payload: bytes
    hash: bytes | None = None

    @property
    def flagged(self) -> bool:
        return self.hash is not None

    @property
    def name(self) -> str:
        return rt_name(self.id)

    def encode(self) -> bytes:
        return encode_frame(self.id, self.payload, self.hash)

    @property
    def wire_size(self) -> int:
        # A flagged empty frame carries no hash on the wire (``97 00 00``).
        return HEADER.size + len(self.payload) + (HASH_LEN if self.hash is not None and self.payload else 0)


def encode_frame(rt_id: int, payload: bytes, hash4: bytes | None = None) -> bytes:
    """Bytes of one frame. A hash is written only for a non-empty payload (``97 00 00`` rule)."""
    n = len(payload)
    if n > 0xFFFF:
        raise ProtocolError(f"payload of {n} bytes does not fit a frame")
    if hash4 is None:
        return HEADER.pack(rt_id & ID_MASK, n) + payload
    if n == 0:
        return HEADER.pack((rt_id & ID_MASK) | FLAG, 0)
    if len(hash4) != HASH_LEN:
        raise ProtocolError("hash must be 4 bytes")
    return HEADER.pack((rt_id & ID_MASK) | FLAG, n) + hash4 + payload


def _parse_one(buf: bytes | bytearray | memoryview, pos: int, end: int, max_payload: int):
    """Parse the frame at ``pos``; return (frame, next_pos) or None if incomplete."""
    if end - pos < HEADER.size:
        return None
    raw_id, length = HEADER.unpack_from(buf, pos)
    if length > max_payload:
        raise ProtocolError(
            f"frame {rt_name(raw_id & ID_MASK)} declares {length} payload bytes, over the limit of "
            f"{max_payload}",
            offset=pos,
            data=bytes(buf[pos : min(end, pos + 16)]),
        )
    hashed = bool(raw_id & FLAG) and length > 0
    start = pos + HEADER.size + (HASH_LEN if hashed else 0)
    stop = start + length
    if stop > end:
        return None
    h = bytes(buf[pos + HEADER.size : start]) if hashed else (b"" if raw_id & FLAG else None)
    # A flagged empty frame keeps hash b"" so that re-encoding gives back the flag.
    frame = RawFrame(raw_id & ID_MASK, bytes(buf[start:stop]), h)
    return frame, stop


class TcpDeframer:
    """Turns a TCP byte stream into frames; partial frames wait for more data.

    The buffer is compacted only when consumed data dominates, so a stream of many small
    reads is not re-copied quadratically.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._consumed_total = 0
        self.max_payload = max_payload

    def feed(self, data: bytes) -> list[RawFrame]:
        buf = self._buf
        buf += data
        frames: list[RawFrame] = []
        pos = self._pos
        end = len(buf)
        try:
            while True:
                got = _parse_one(buf, pos, end, self.max_payload)
                if got is None:
                    break
                frame, pos = got
                frames.append(frame)
        except ProtocolError as exc:
            # ``exc.offset`` indexes the buffer, whose first byte is this many bytes into the stream.
            base = self._consumed_total - self._pos
            raise ProtocolError(exc.reason, offset=base + exc.offset, data=exc.data) from None
        self._consumed_total += pos - self._pos
        if pos == end:
            buf.clear()
            pos = 0
        elif pos > 4096 and pos * 2 > end:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return frames

    @property
    def pending(self) -> int:
        """Bytes held that do not yet make a whole frame."""
        return len(self._buf) - self._pos

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet consumed."""
        return self._consumed_total

    def skip(self, size: int) -> None:
        """``size`` bytes of whole frames were taken from the stream without ``feed`` (the lobby's
        idle-echo short cut, ``RtEndpoint.receive_echo``): later error offsets count them."""
        if self.pending:
            raise ValueError("skip with a partial frame buffered")
        self._consumed_total += size


def split_datagram(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> list[RawFrame]:
    """All frames of one UDP datagram; a frame never spans datagrams, so leftovers are an error."""
    frames: list[RawFrame] = []
    pos = 0
    end = len(data)
    while pos < end:
        got = _parse_one(data, pos, end, max_payload)
        if got is None:
            raise ProtocolError(
                "datagram ends inside a frame", offset=pos, data=bytes(data[pos : pos + 16])
            )
        frame, pos = got
        frames.append(frame)
    if not frames:
        raise ProtocolError("empty datagram")
    return frames


def split_frames(data: bytes) -> list[RawFrame]:
    """Frames of a complete buffer (a multi-app container body, a log record)."""
    return split_datagram(data) if data else []


def pack_datagrams(encoded_frames: list[bytes], max_size: int = UDP_MAX_DATAGRAM) -> list[bytes]:
    """Pack already-encoded frames, in order, into as few datagrams of <= max_size as possible.

    A single frame larger than ``max_size`` travels alone (the sender chose to make it).
    """
    out: list[bytes] = []
    cur: list[bytes] = []
    size = 0
    for f in encoded_frames:
        if cur and size + len(f) > max_size:
            out.append(b"".join(cur))
            cur = []
            size = 0
        cur.append(f)
        size += len(f)
    if cur:
        out.append(b"".join(cur))
    return out
