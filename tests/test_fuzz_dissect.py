"""Fuzz the capture dissector: random bytes, damaged real captures and synthetic captures of
Medius-port packets with random RT frames. ``dissect_bytes`` reports damage in ``result.error``
and must never raise."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from clank_lan.dissect.engine import dissect_bytes
from clank_lan.dissect.services import default_ports
from clank_lan.protocol.framing import encode_frame
from tests.fuzz_budget import fuzz

SEED = (Path(__file__).parent / "fixtures" / "uya-pal-login.pcapng").read_bytes()
PORTS = [*sorted(default_ports()), 50000, 50001, 53]
_LINK_RAW = 101


def pcap(records: list[bytes], linktype: int = _LINK_RAW) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for i, data in enumerate(records):
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(data), len(data)) + data)
    return b"".join(out)


def ipv4(proto: int, src: str, dst: str, body: bytes) -> bytes:
    addresses = socket.inet_aton(src) + socket.inet_aton(dst)
    return struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(body), 0, 0, 64, proto, 0) + addresses + body


@st.composite
def packets(draw) -> bytes:
    client = ("10.0.0.2", draw(st.integers(1024, 1030)))
    server = ("10.0.0.1", draw(st.sampled_from(PORTS)))
    src, dst = (client, server) if draw(st.booleans()) else (server, client)
    frames = draw(
        st.lists(
            st.builds(encode_frame, st.integers(0, 0x7F), st.binary(max_size=60)) | st.binary(max_size=30),
            max_size=4,
        )
    )
    payload = b"".join(frames)
    if draw(st.booleans()):
        flags = draw(st.sampled_from([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0xFF]))
        seq = draw(st.integers(0, 2**32 - 1))
        body = struct.pack("!HHIIBBHHH", src[1], dst[1], seq, 0, 0x50, flags, 65535, 0, 0) + payload
        return ipv4(6, src[0], dst[0], body)
    return ipv4(17, src[0], dst[0], struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload)


@fuzz(75)
@given(st.binary(max_size=400))
def test_fuzz_dissect_random_bytes(blob):
    result = dissect_bytes(blob)
    assert result.error or result.packets >= 0


@fuzz(75)
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_dissect_damaged_real_capture(edits):
    blob = bytearray(SEED)
    for position, value in edits:
        blob[position] = value
    dissect_bytes(bytes(blob))


@fuzz(75)
@given(st.integers(0, len(SEED)))
def test_fuzz_dissect_truncated_real_capture(length):
    result = dissect_bytes(SEED[:length])
    assert result.error or length == len(SEED) or result.packets >= 0


@fuzz(75)
@given(st.lists(packets(), max_size=10))
def test_fuzz_dissect_synthetic_medius_traffic(records):
    result = dissect_bytes(pcap(records))
    assert result.packets == len(records)
