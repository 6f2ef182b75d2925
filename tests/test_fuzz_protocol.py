"""Fuzz the protocol decoders: RT framing, every RT payload layout, every registered Medius message
and the fragment reassembler. Anything but ``ProtocolError`` is a failure."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import TcpDeframer, encode_frame, split_datagram
from clank_lan.protocol.medius import CodecContext, decode_app, encode_app, message_types
from clank_lan.protocol.medius.fragment import Reassembler
from clank_lan.protocol.rt_messages import RT_LAYOUTS, decode_message
from tests.fuzz_budget import examples, fuzz

CONTEXTS = (
    CodecContext(medius_version=108, app_id=10684),
    CodecContext(medius_version=109, app_id=10994),
    CodecContext(medius_version=110, app_id=11184),
)
MEDIUS_IDS = sorted(message_types())
RT_IDS = sorted(RT_LAYOUTS)

# Frame-shaped bytes reach further than pure noise: a plausible header, then anything.
_frames = st.builds(
    lambda rt_id, payload, hashed, tail: encode_frame(rt_id, payload, b"\x01\x02\x03\x04" if hashed else None)
    + tail,
    st.integers(0, 0x7F),
    st.binary(max_size=80),
    st.booleans(),
    st.binary(max_size=6),
)
_streams = st.lists(st.one_of(_frames, st.binary(max_size=40)), max_size=8).map(b"".join)


@fuzz(100)
@given(_streams, st.lists(st.integers(1, 64), min_size=1, max_size=8), st.integers(0, 0xFFFF))
def test_fuzz_tcp_deframer(stream, cuts, max_payload):
    deframer = TcpDeframer(max_payload=max_payload)
    pos, i = 0, 0
    try:
        while pos < len(stream):
            chunk = stream[pos : pos + cuts[i % len(cuts)]]
            pos += len(chunk)
            i += 1
            for frame in deframer.feed(chunk):
                assert len(frame.payload) <= max_payload
    except ProtocolError:
        return
    assert deframer.pending == len(stream) - deframer.offset


@fuzz(100)
@given(_streams)
def test_fuzz_split_datagram(data):
    try:
        frames = split_datagram(data)
    except ProtocolError:
        return
    assert b"".join(f.encode() for f in frames) == data


@fuzz(150)
@given(st.sampled_from(RT_IDS), st.binary(max_size=120), st.sampled_from([108, 109, 110]))
def test_fuzz_every_rt_payload_layout(rt_id, payload, version):
    try:
        decode_message(rt_id, payload, version)
    except ProtocolError:
        pass


@fuzz(200)
@given(st.sampled_from(MEDIUS_IDS), st.binary(max_size=600), st.sampled_from(CONTEXTS))
def test_fuzz_medius_decoders(key, body, ctx):
    payload = bytes(key) + body
    try:
        msg = decode_app(payload, ctx)
    except ProtocolError:
        return
    assert encode_app(msg, ctx) == payload  # what decodes re-encodes to the very bytes


_COUNTING = bytes(range(256)) * 4
#: Seeded random bodies per (class, type) and context in the sweep below (more in ``make fuzz``).
RANDOM_BODIES = max(10, examples(10) // 10)


@pytest.mark.parametrize("ctx", CONTEXTS, ids=lambda c: f"v{c.medius_version}")
def test_every_medius_decoder_on_edge_bodies(ctx):
    """Every (class, type) in the registry, with bodies of edge lengths and values and seeded noise."""
    decoded = 0
    rng = random.Random(ctx.medius_version)
    for key in MEDIUS_IDS:
        size = message_types()[key].SIZE or 64  # None: a variable-size message
        edges = [b"", b"\xff" * (size - 1), b"\xff" * size, b"\x80" * (size + 7), _COUNTING]
        noise = [rng.randbytes(rng.randrange(2 * size + 2)) for _ in range(RANDOM_BODIES)]
        for body in edges + noise:
            try:
                msg = decode_app(bytes(key) + body, ctx)
            except ProtocolError:
                continue
            assert encode_app(msg, ctx) == bytes(key) + body
            decoded += 1
    assert decoded >= len(MEDIUS_IDS)  # most bodies decode leniently; the test exercised decoders


@fuzz(100)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=60),
            st.builds(lambda rest: b"\x00\x02" + rest, st.binary(max_size=80)),  # PacketFragment-shaped
        ),
        max_size=12,
    )
)
def test_fuzz_fragment_reassembler(payloads):
    reassembler = Reassembler()
    for payload in payloads:
        try:
            reassembler.feed(payload)
        except ProtocolError:
            continue
        assert reassembler.pending <= 8
