"""SCE-RT framing: the TCP deframer, the UDP splitter and packer, and robustness of every decoder
against arbitrary bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clank_lan.protocol import hexlog, rt_messages
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import (
    HEADER,
    UDP_MAX_DATAGRAM,
    RawFrame,
    TcpDeframer,
    encode_frame,
    pack_datagrams,
    split_datagram,
    split_frames,
)


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# From b41: the DL client's READY_AUX_UDP (flagged, empty, no hash) and the CLIENT_ECHO that
# followed it in the same TCP segment.
READY_AUX_UDP = h("97 00 00")
ECHO = h("85 0100 4fb8cf6a") + b"\xa5"  # ciphertext byte irrelevant here; framing only


def test_header_struct() -> None:
    assert HEADER.size == 3
    assert HEADER.pack(0x85, 0x0102) == h("85 02 01")  # length is little-endian


def test_flagged_empty_frame_has_no_hash_and_the_next_frame_follows() -> None:
    frames = TcpDeframer().feed(READY_AUX_UDP + ECHO)
    assert frames == [RawFrame(0x17, b"", b""), RawFrame(0x05, b"\xa5", h("4fb8cf6a"))]
    assert frames[0].flagged and frames[0].wire_size == 3
    assert frames[1].wire_size == 8
    assert b"".join(f.encode() for f in frames) == READY_AUX_UDP + ECHO


def test_flag_bit_is_masked_off_the_id() -> None:
    (frame,) = TcpDeframer().feed(h("8b 0200 01020304 aabb"))
    assert frame.id == 0x0B and frame.name == "CLIENT_APP_TOSERVER"
    assert frame.hash == h("01020304") and frame.payload == h("aabb")


def test_unflagged_frame_has_no_hash() -> None:
    (frame,) = TcpDeframer().feed(h("0b 0200 aabb"))
    assert frame == RawFrame(0x0B, h("aabb"), None)
    assert not frame.flagged and frame.wire_size == 5


def test_null_hash_frame_is_framed_like_any_hashed_frame() -> None:
    wire = h("82 0300 00000060 010203")
    (frame,) = TcpDeframer().feed(wire)
    assert frame == RawFrame(0x02, h("010203"), h("00000060"))
    assert frame.encode() == wire


def test_partial_frames_across_reads() -> None:
    d = TcpDeframer()
    wire = h("8b 0400 01020304 aabbccdd")
    assert d.feed(wire[:1]) == []
    assert d.feed(wire[1:3]) == []  # header complete, hash and payload missing
    assert d.pending == 3
    assert d.feed(wire[3:9]) == []
    assert d.pending == 9
    assert d.feed(wire[9:] + h("05 01")) == [RawFrame(0x0B, h("aabbccdd"), h("01020304"))]
    assert d.pending == 2 and d.offset == len(wire)
    assert d.feed(h("00 a5")) == [RawFrame(0x05, h("a5"))]
    assert d.pending == 0 and d.offset == len(wire) + 4


def test_many_frames_in_one_read() -> None:
    frames = []
    for i in range(200):
        payload = bytes([i]) * (i % 7)
        hsh = None if i % 2 else (bytes([i, 1, 2, 3]) if payload else b"")
        frames.append(RawFrame(i % 0x3D, payload, hsh))
    wire = b"".join(f.encode() for f in frames)
    d = TcpDeframer()
    assert d.feed(wire) == frames
    assert d.pending == 0 and d.offset == len(wire)


def test_large_stream_in_small_reads_is_not_quadratic_and_stays_correct() -> None:
    frame = RawFrame(0x0A, bytes(range(256)) * 2, h("11223344"))
    wire = frame.encode() * 300  # ~155 KB, forces buffer compaction
    d = TcpDeframer()
    got: list[RawFrame] = []
    for pos in range(0, len(wire), 97):
        got += d.feed(wire[pos : pos + 97])
    assert got == [frame] * 300
    assert d.pending == 0 and d.offset == len(wire)


def test_maximum_frame_length() -> None:
    d = TcpDeframer(max_payload=512)
    ok = encode_frame(0x0A, bytes(512))
    assert d.feed(ok) == [RawFrame(0x0A, bytes(512))]
    with pytest.raises(ProtocolError) as err:
        d.feed(h("0a 0102"))  # 513 bytes declared
    assert err.value.offset == len(ok)
    assert err.value.data == h("0a 0102")
    assert "513" in err.value.reason


def test_maximum_frame_length_offset_counts_from_the_stream_start() -> None:
    # The over-long header arrives split, after a complete frame: the offset must still be the
    # header's position in the stream, not in the deframer's buffer.
    d = TcpDeframer(max_payload=10)
    assert d.feed(h("05 0200 aabb 05")) == [RawFrame(0x05, h("aabb"))]
    with pytest.raises(ProtocolError) as err:
        d.feed(h("ff 00"))
    assert err.value.offset == 5
    assert "at offset 5" in str(err.value)


def test_default_limit_accepts_the_largest_length_field() -> None:
    wire = encode_frame(0x0A, bytes(0xFFFF))
    assert TcpDeframer().feed(wire) == [RawFrame(0x0A, bytes(0xFFFF))]
    with pytest.raises(ProtocolError):
        encode_frame(0x0A, bytes(0x10000))


def test_encode_frame_rules() -> None:
    assert encode_frame(0x97, b"") == h("17 00 00")  # flag bit of the id is masked
    assert encode_frame(0x17, b"", b"") == h("97 00 00")
    assert encode_frame(0x17, b"", h("00000060")) == h("97 00 00")  # no hash on an empty frame
    with pytest.raises(ProtocolError):
        encode_frame(0x0B, b"x", b"abc")


# --- UDP ----------------------------------------------------------------------------------------


def test_several_frames_per_datagram() -> None:
    # b41 DME UDP: a null-hash broadcast and an echo in one datagram.
    datagram = h("82 0300 00000060 010203") + ECHO + h("17 00 00")
    assert split_datagram(datagram) == [
        RawFrame(0x02, h("010203"), h("00000060")),
        RawFrame(0x05, h("a5"), h("4fb8cf6a")),
        RawFrame(0x17, b""),
    ]


@pytest.mark.parametrize("garbage", ["00", "0b00", "0b0500aabb", "8b0100aabb"])
def test_trailing_garbage_in_a_datagram(garbage: str) -> None:
    good = h("05 0100 a5")
    with pytest.raises(ProtocolError) as err:
        split_datagram(good + h(garbage))
    assert err.value.offset == len(good)


def test_empty_datagram_and_over_long_frame() -> None:
    with pytest.raises(ProtocolError):
        split_datagram(b"")
    with pytest.raises(ProtocolError) as err:
        split_datagram(h("05 0100 a5") + encode_frame(0x0C, bytes(700)), max_payload=584)
    assert err.value.offset == 4
    assert split_frames(b"") == []


def test_pack_datagrams_fills_to_584_and_keeps_order() -> None:
    frames = [encode_frame(0x03, bytes([i]) * (50 + i)) for i in range(40)]
    datagrams = pack_datagrams(frames)
    assert b"".join(datagrams) == b"".join(frames)
    assert all(len(d) <= UDP_MAX_DATAGRAM for d in datagrams)
    # Greedy: the first frame of each datagram would not have fitted in the previous one.
    pos = 0
    starts = []
    for d in datagrams:
        starts.append(pos)
        pos += len(split_datagram(d))
    for prev, start in zip(datagrams, starts[1:], strict=False):
        assert len(prev) + len(frames[start]) > UDP_MAX_DATAGRAM
    assert [f.payload[0] for d in datagrams for f in split_datagram(d)] == list(range(40))


def test_pack_datagrams_exact_fit_and_oversized_frame() -> None:
    half = encode_frame(0x03, bytes(289))  # 292 bytes: two fill 584 exactly
    assert pack_datagrams([half, half, half]) == [half + half, half]
    big = encode_frame(0x0A, bytes(700))
    assert pack_datagrams([half, big, half]) == [half, big, half]
    assert pack_datagrams([]) == []
    assert pack_datagrams([half, half], max_size=300) == [half, half]


# --- properties -----------------------------------------------------------------------------------


@st.composite
def raw_frames(draw) -> RawFrame:
    rt_id = draw(st.integers(0, 0x7F))
    payload = draw(st.binary(max_size=80))
    kind = draw(st.sampled_from(["clear", "hashed"]))
    if kind == "clear":
        return RawFrame(rt_id, payload)
    return RawFrame(rt_id, payload, draw(st.binary(min_size=4, max_size=4)) if payload else b"")


@settings(max_examples=100, deadline=None)
@given(frames=st.lists(raw_frames(), max_size=30), data=st.data())
def test_any_split_of_a_stream_gives_the_same_frames(frames: list[RawFrame], data) -> None:
    wire = b"".join(f.encode() for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    d = TcpDeframer()
    got: list[RawFrame] = []
    prev = 0
    for cut in [*cuts, len(wire)]:
        got += d.feed(wire[prev:cut])
        prev = cut
    assert got == frames
    assert d.pending == 0 and d.offset == len(wire)
    if frames:
        assert split_datagram(wire) == frames


@settings(max_examples=50, deadline=None)
@given(frames=st.lists(raw_frames(), min_size=1, max_size=40), limit=st.integers(100, 700))
def test_pack_datagrams_property(frames: list[RawFrame], limit: int) -> None:
    encoded = [f.encode() for f in frames]
    datagrams = pack_datagrams(encoded, limit)
    assert b"".join(datagrams) == b"".join(encoded)
    assert [f for d in datagrams for f in split_datagram(d)] == frames
    for d in datagrams:
        assert len(d) <= limit or len(split_datagram(d)) == 1


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), chunk=st.integers(1, 64), limit=st.integers(0, 300))
def test_random_bytes_into_the_deframer(data: bytes, chunk: int, limit: int) -> None:
    d = TcpDeframer(max_payload=limit)
    try:
        for pos in range(0, len(data), chunk):
            for f in d.feed(data[pos : pos + chunk]):
                assert len(f.payload) <= limit
    except ProtocolError as err:
        assert 0 <= err.offset < len(data)
    else:
        assert d.offset + d.pending == len(data)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), limit=st.integers(0, 700))
def test_random_bytes_into_split_datagram(data: bytes, limit: int) -> None:
    try:
        frames = split_datagram(data, limit)
    except ProtocolError as err:
        assert 0 <= err.offset <= len(data)
    else:
        assert b"".join(f.encode() for f in frames) == data


@settings(max_examples=150, deadline=None)
@given(rt_id=st.integers(0, 0x7F), data=st.binary(max_size=200), version=st.sampled_from([108, 109, 110]))
def test_random_bytes_into_the_rt_message_decoders(rt_id: int, data: bytes, version: int) -> None:
    try:
        msg = rt_messages.decode_message(rt_id, data, version)
    except ProtocolError:
        return
    assert type(msg) is rt_messages.RT_LAYOUTS[rt_id]


def _check_records(records: list[hexlog.LogRecord]) -> None:
    """Whatever parsed must format and parse back to the same frame."""
    for rec in records:
        again = hexlog.parse_log(
            hexlog.format_frame(rec.service, rec.peer, rec.direction, rec.rt_id, rec.payload)
        )
        assert [(r.rt_id, r.payload) for r in again] == [(rec.rt_id, rec.payload)]
        assert rec.ctx is None or 0 <= rec.ctx <= 7


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=400))
def test_random_text_into_the_log_parser(text: str) -> None:
    try:
        records = hexlog.parse_log(text)
    except ProtocolError:
        return
    _check_records(records)


_LOG_ALPHABET = st.sampled_from(
    [
        "[MAS] ",
        "C-1 ",
        "recv ",
        "send ",
        "SERVER_APP(0x0A) ",
        "len=",
        "3",
        "12",
        "enc=3",
        "clear",
        "\n",
        "0000 | ",
        "0010 | ",
        "0a ",
        "03 ",
        "00 ",
        "ff ",
        "| ...",
        " ",
        "x",
    ]
)


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(_LOG_ALPHABET, max_size=80))
def test_log_like_text_into_the_log_parser(parts: list[str]) -> None:
    # Fragments of real records, shuffled: reaches the header and hex paths far more often.
    try:
        records = hexlog.parse_log("".join(parts))
    except ProtocolError:
        return
    _check_records(records)


def test_skipped_frames_count_in_later_error_offsets_and_a_partial_frame_refuses_a_skip():
    d = TcpDeframer(max_payload=16)
    d.skip(7)  # a whole 7-byte frame taken the short way
    with pytest.raises(ProtocolError) as err:
        d.feed(h("1a ff00"))  # 255 bytes announced, 16 allowed
    assert err.value.offset == 7
    partial = TcpDeframer()
    partial.feed(h("1a 0500 01"))
    with pytest.raises(ValueError):
        partial.skip(3)
