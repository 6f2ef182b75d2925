"""DME PacketFragment splitting (Sony's layout) and reassembly."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius import (
    CodecContext,
    GetAnnouncementsResponse,
    PacketFragment,
    Reassembler,
    decode_app,
    encode_app,
    fragment_app,
)

V110 = CodecContext(medius_version=110)


def announcement() -> bytes:
    return encode_app(
        GetAnnouncementsResponse(message_id="1", announcement="x" * 900, end_of_list=True), V110
    )


def test_small_messages_are_not_fragmented():
    assert fragment_app(b"\x01\xa4" + bytes(28)) == [b"\x01\xa4" + bytes(28)]
    assert fragment_app(b"\x01\xad" + bytes(508)) == [b"\x01\xad" + bytes(508)]  # 510 <= 512


def test_sony_layout():
    payload = announcement()
    pieces = fragment_app(payload)
    assert [len(p) for p in pieces] == [510, 510, 82]  # 22-byte header + 488, 488, 60
    heads = [struct.unpack_from("<BBBBHHHB3xII", p) for p in pieces]
    assert heads == [
        (0, 2, 1, 0x4D, 488, 3, 0, 0, 1036, 0),
        (0, 2, 1, 0x4D, 488, 3, 1, 0, 1036, 488),
        (0, 2, 1, 0x4D, 60, 3, 2, 0, 1036, 976),
    ]
    assert b"".join(p[22:] for p in pieces) == payload[2:]
    frag = decode_app(pieces[2], V110)
    assert isinstance(frag, PacketFragment)
    assert (frag.fragment_class, frag.fragment_type, frag.data) == (1, 0x4D, payload[2 + 976 :])
    assert encode_app(frag, V110) == pieces[2]


def test_reassembly_in_any_order_and_passthrough():
    payload = announcement()
    pieces = fragment_app(payload)
    r = Reassembler()
    assert r.feed(b"\x01\xa4" + bytes(28)) == b"\x01\xa4" + bytes(28)
    assert r.feed(pieces[2]) is None
    assert r.feed(pieces[0]) is None
    assert r.feed(pieces[0]) is None  # a duplicate changes nothing
    assert r.pending == 1
    assert r.feed(pieces[1]) == payload
    assert r.pending == 0


def test_horizon_style_pieces_reassemble_too():
    payload = announcement()
    body = payload[2:]
    r = Reassembler()
    out = None
    for i, off in enumerate(range(0, len(body), 484)):  # HZ: 484-byte pieces, count 0
        piece = body[off : off + 484]
        out = r.feed(struct.pack("<BBBBHHHB3xII", 0, 2, 1, 0x4D, len(piece), 0, i, 0, len(body), off) + piece)
    assert out == payload


def test_a_new_first_piece_restarts_the_message():
    other = encode_app(GetAnnouncementsResponse(message_id="2", announcement="y" * 700), V110)
    first, second = fragment_app(announcement()), fragment_app(other)
    r = Reassembler()
    assert r.feed(first[0]) is None
    assert r.feed(second[0]) is None  # same message type again from offset 0: the first is dropped
    assert r.feed(second[1]) is None
    assert r.feed(second[2]) == other


@pytest.mark.parametrize(
    "bad",
    [
        b"\x00\x02" + bytes(10),  # shorter than the header
        struct.pack("<BBBBHHHB3xII", 0, 2, 1, 0x4D, 100, 1, 0, 0, 1036, 0) + bytes(50),  # data cut short
        struct.pack("<BBBBHHHB3xII", 0, 2, 1, 0x4D, 100, 1, 0, 0, 120, 40) + bytes(100),  # past the end
        struct.pack("<BBBBHHHB3xII", 0, 2, 1, 0x4D, 0, 1, 0, 0, 120, 0),  # empty piece
    ],
)
def test_inconsistent_fragments_are_protocol_errors(bad):
    with pytest.raises(ProtocolError):
        Reassembler().feed(bad)


def test_pending_messages_are_bounded():
    r = Reassembler(max_pending=2)
    for typ in range(5):
        payload = b"\x01" + bytes((typ,)) + bytes(600)
        assert r.feed(fragment_app(payload)[0]) is None
    assert r.pending == 2


def test_too_small_limit_is_rejected():
    with pytest.raises(ValueError):
        fragment_app(bytes(100), max_len=24)


@settings(max_examples=60, deadline=None, database=None)
@given(body=st.binary(max_size=3000), max_len=st.integers(64, 1024))
def test_fragment_then_reassemble_is_identity(body, max_len):
    payload = b"\x04\x11" + body
    pieces = fragment_app(payload, max_len)
    assert all(len(p) <= max_len for p in pieces)
    r = Reassembler()
    outs = [r.feed(p) for p in pieces]
    assert outs[-1] == payload and all(o is None for o in outs[:-1])
