"""Class 0 (DME) messages that travel on the Medius connections: ServerVersion and PacketFragment.

The other DME ids (§2.5) are game-world traffic between clients and the DME; they stay
``UnknownMessage``.
"""

from __future__ import annotations

from typing import ClassVar

from clank_lan.protocol.medius.codec import DME, MediusMessage, message
from clank_lan.protocol.medius.layout import U8, U16, U32, CodecContext, Str16, plan_for


@message(DME, 0x00)
class DmeServerVersion(MediusMessage):
    """First SERVER_APP from a DME to a 1.09+ client, e.g. "2.10.1143227940" (b41)."""

    version: Str16 = ""


@message(DME, 0x02)
class PacketFragment(MediusMessage):
    """One piece of a Medius message too big for one SERVER_APP (rt-and-crypto.md §1.5).

    The 20-byte header after ``[00][02]`` names the fragmented message's class/type, this piece's
    size, the piece count and index, and where the piece sits in the whole body
    (``packet_buffer_size`` = the body length without its 2-byte header). ``data`` is the piece.
    """

    VARIABLE: ClassVar[bool] = True
    HEADER_SIZE: ClassVar[int] = 20

    fragment_class: U8 = 0
    fragment_type: U8 = 0
    sub_packet_size: U16 = 0
    sub_packet_count: U16 = 0
    sub_packet_index: U16 = 0
    multi_packet_index: U8 = 0
    packet_buffer_size: U32 = 0
    packet_buffer_offset: U32 = 0
    data: bytes = b""

    @classmethod
    def decode_body(cls, body: bytes, ctx: CodecContext):
        head = plan_for(cls, True, True)
        fields = head.load(body[: head.size], ctx)
        start = head.size
        return cls(**fields, data=body[start : start + fields["sub_packet_size"]])

    def encode_body(self, ctx: CodecContext) -> bytes:
        return plan_for(type(self), True, True).dump(self, ctx) + self.data
