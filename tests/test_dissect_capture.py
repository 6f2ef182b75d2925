"""Capture reading: pcap/pcapng variants, link types, IPv4/TCP/UDP decoding, damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from clank_lan.dissect import synth
from clank_lan.dissect.capture import CaptureError, Record, iter_records
from clank_lan.dissect.packets import (
    LINK_ETHERNET,
    LINK_IPV4,
    LINK_LINUX_SLL,
    LINK_LINUX_SLL2,
    LINK_NULL,
    LINK_RAW,
    PROTO_UDP,
    TCP_SYN,
    decode_record,
    iter_packets,
)

FIXTURES = Path(__file__).parent / "fixtures"
A = ("10.0.0.2", 40000)
B = ("10.0.0.1", 10075)


def _packets(blob: bytes):
    return [decode_record(r) for r in iter_records(blob)]


def test_header_sizes():
    from clank_lan.dissect import capture, packets

    assert capture._PCAP_HDR["<"].size + 4 == 24
    assert capture._PCAP_REC["<"].size == 16
    assert capture._EPB["<"].size == 20
    assert (packets._ETH.size, packets._SLL.size, packets._SLL2.size) == (14, 16, 20)
    assert (packets._IPV4.size, packets._TCP.size, packets._UDP.size) == (20, 20, 8)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_pcap_byte_orders_and_resolutions(endian, nanos):
    ip = synth.tcp_packet(A, B, 1000, b"hello")
    blob = synth.pcap([(1.5, synth.ethernet(ip)), (2.000001, synth.ethernet(ip))], endian=endian, nanos=nanos)
    recs = list(iter_records(blob))
    assert [r.number for r in recs] == [1, 2]
    assert recs[0].ts == pytest.approx(1.5)
    assert recs[1].ts == pytest.approx(2.000001, abs=1e-9)
    pkt = decode_record(recs[0])
    assert (pkt.proto, pkt.src, pkt.dst, pkt.seq, pkt.payload) == ("tcp", A, B, 1000, b"hello")


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("simple", [False, True])
def test_pcapng_blocks(endian, simple):
    ip = synth.udp_packet(A, B, b"\x05\x01\x00\xa5")
    blob = synth.pcapng([(3.25, synth.ethernet(ip))] * 3, endian=endian, simple=simple, sections=2)
    pkts = _packets(blob)
    assert len(pkts) == 3
    assert all(p.proto == "udp" and p.payload == b"\x05\x01\x00\xa5" for p in pkts)
    if not simple:
        assert pkts[0].ts == pytest.approx(3.25)


def test_pcapng_timestamp_resolution_option():
    ip = synth.udp_packet(A, B, b"x")
    blob = synth.pcapng([(1336367842.554489123, synth.ethernet(ip))], tsresol=9)
    (rec,) = iter_records(blob)
    assert rec.ts == pytest.approx(1336367842.554489123, abs=1e-6)


@pytest.mark.parametrize(
    ("linktype", "wrap"),
    [
        (LINK_ETHERNET, synth.ethernet),
        (LINK_ETHERNET, lambda ip: synth.ethernet(ip, vlans=(7,))),
        (LINK_ETHERNET, lambda ip: synth.ethernet(ip, vlans=(7, 8))),
        (LINK_RAW, lambda ip: ip),
        (LINK_IPV4, lambda ip: ip),
        (LINK_LINUX_SLL, synth.linux_sll),
        (LINK_LINUX_SLL2, synth.linux_sll2),
        (LINK_NULL, synth.bsd_loopback),
    ],
)
def test_link_types(linktype, wrap):
    ip = synth.udp_packet(A, B, b"\x01\x00\x00")
    (pkt,) = _packets(synth.pcap([(0.0, wrap(ip))], linktype=linktype))
    assert (pkt.proto, pkt.src, pkt.dst, pkt.payload) == ("udp", A, B, b"\x01\x00\x00")


def test_ethernet_padding_is_trimmed_by_ip_length():
    ip = synth.tcp_packet(A, B, 5, b"\x01\x00\x00")  # 43 bytes of IP, padded to a 60-byte frame
    (pkt,) = _packets(synth.pcap([(0.0, synth.ethernet(ip))]))
    assert pkt.payload == b"\x01\x00\x00"


def test_tcp_flags_and_non_ip_records_are_skipped():
    syn = synth.tcp_packet(A, B, 99, flags=TCP_SYN)
    arp = b"\xff" * 12 + b"\x08\x06" + b"\0" * 28
    ipv6 = b"\xff" * 12 + b"\x86\xdd" + b"\x60" + b"\0" * 39
    icmp = synth.ipv4(A[0], B[0], 1, b"\x08\0\0\0")
    later_fragment = synth.ipv4(A[0], B[0], PROTO_UDP, b"\0" * 16, frag=0x0010)
    first_fragment = synth.ipv4(A[0], B[0], PROTO_UDP, synth.udp(1, 2, b"abcd"), frag=0x2000)
    recs = [(0.0, synth.ethernet(x)) for x in (syn, arp, ipv6, icmp, later_fragment, first_fragment)]
    pkts = _packets(synth.pcap(recs))
    assert pkts[0].syn and pkts[0].seq == 99 and not pkts[0].payload
    assert pkts[1:5] == [None, None, None, None]
    assert pkts[5].truncated


def test_snaplen_truncated_record_is_flagged():
    ip = synth.udp_packet(A, B, b"\0" * 100)
    frame = synth.ethernet(ip)
    (pkt,) = _packets(synth.pcap([(0.0, frame[:60], len(frame))]))
    assert pkt.truncated


def test_fixture_files_read_completely():
    b41 = list(iter_packets(FIXTURES / "b41.pcap"))
    assert len(b41) == 1205  # of 1220 records; the rest are not IPv4 TCP/UDP
    pal = list(iter_packets(FIXTURES / "uya-pal-login.pcapng"))
    assert len(pal) == 35
    first_rt = next(p for p in pal if p.proto == "tcp" and p.payload)
    assert first_rt.ts == pytest.approx(1579967513.888, abs=1e-3)  # as in the decoded listing


# -- damage -------------------------------------------------------------------------------------


def _ok_pcap(n: int = 3) -> bytes:
    ip = synth.udp_packet(A, B, b"\x05\x01\x00\xa5")
    return synth.pcap([(float(i), synth.ethernet(ip)) for i in range(n)])


def _read_all(blob: bytes) -> tuple[list[Record], CaptureError | None]:
    got: list[Record] = []
    try:
        for r in iter_records(blob):
            got.append(r)
    except CaptureError as exc:
        return got, exc
    return got, None


@pytest.mark.parametrize(
    ("blob", "kept", "message"),
    [
        (b"", 0, "too short"),
        (b"\x00\x01\x02\x03" * 10, 0, "not a pcap or pcapng file"),
        (b"GIF89a" + b"\0" * 40, 0, "not a pcap or pcapng file"),
        (_ok_pcap()[:20], 0, "header truncated"),
        (_ok_pcap()[:-5], 2, "record 3 truncated"),
        (_ok_pcap() + b"\0\0\0", 3, "truncated record header"),
        (_ok_pcap()[:24] + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 10), 0, "implausible record length"),
        (synth.pcapng([(0.0, b"\0" * 60)])[:-6], 0, "block truncated"),
        (synth.pcapng([(0.0, b"\0" * 60)]) + struct.pack("<III", 6, 7, 7), 1, "invalid length"),
    ],
)
def test_damaged_captures_raise_after_what_was_read(blob, kept, message):
    got, err = _read_all(blob)
    assert len(got) == kept
    assert err is not None and message in err.reason


def test_pcapng_bad_trailer_and_undeclared_interface():
    good = synth.pcapng([(0.0, b"\0" * 60)])
    bad_trailer = good[:-4] + struct.pack("<I", 1234)
    assert "trailer" in _read_all(bad_trailer)[1].reason
    # An EPB before any IDB of its section names an undeclared interface.
    epb = synth._block("<", 6, struct.pack("<IIIII", 0, 0, 0, 4, 4) + b"abcd")
    shb = good[: struct.unpack_from("<I", good, 4)[0]]
    assert "undeclared interface" in _read_all(shb + epb)[1].reason


def test_bad_byte_order_magic():
    blob = bytearray(synth.pcapng([(0.0, b"\0" * 60)]))
    blob[8:12] = b"\x11\x22\x33\x44"
    assert "byte-order magic" in _read_all(bytes(blob))[1].reason
