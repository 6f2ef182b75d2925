"""Fuzz the DNS query path: random bytes, hand-built queries with hostile names and random dnslib
records go through ``redirect.answer`` and the reply helpers without raising; every reply parses."""

from __future__ import annotations

import struct

from dnslib import QTYPE, RR, A, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import assume, given
from hypothesis import strategies as st

from clank_lan.dns.redirect import Drop, Forward, Reply, answer, failure_reply, is_reply_to, question_end
from clank_lan.dns.settings import DnsSettings
from tests.fuzz_budget import fuzz

ADDR = "192.168.1.50"
SETTINGS = (DnsSettings(), DnsSettings(offline=True), DnsSettings(dnas_address="10.9.9.9", wildcards=()))


def check(data: bytes, settings: DnsSettings) -> None:
    decision = answer(data, ADDR, settings)
    assert isinstance(decision, Reply | Forward | Drop)
    if isinstance(decision, Reply):
        reply = DNSRecord.parse(decision.data)  # whatever we send is a well-formed message
        assert reply.header.qr == 1 and decision.data[:2] == data[:2]
    for mode in ("nxdomain", "servfail", "drop"):
        failure = failure_reply(data, mode)
        assert failure is None or DNSRecord.parse(failure).header.qr == 1
    question_end(data)
    is_reply_to(data, data)


_labels = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=70),
        st.sampled_from([b"pdonline", b"scea", b"com", b"ratchet3-prod1", b"a" * 63, b"a" * 64, b"x.y"]),
    ),
    max_size=12,
)


@st.composite
def hand_built_queries(draw) -> bytes:
    """Header fields, names and tails no library would produce: long labels, pointers, junk."""
    header = struct.pack(
        ">6H",
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFF)) & ~0x8000,  # a query (QR clear) so it reaches the parser
        draw(st.integers(0, 3)),
        draw(st.integers(0, 2)),
        draw(st.integers(0, 2)),
        draw(st.integers(0, 2)),
    )
    body = b""
    for _ in range(draw(st.integers(1, 3))):
        labels = draw(_labels)
        name = b"".join(bytes([len(label) & 0xFF]) + label for label in labels)
        name += draw(st.sampled_from([b"\0", b"\xc0\x0c", b"\xc0\xff", b""]))
        body += name + struct.pack(">2H", draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)))
    return header + body + draw(st.binary(max_size=40))


_QTYPES = [1, 28, 255, 65, 15, 0, 0xFFFF]
_QCLASSES = [1, 3, 255, 254]


@st.composite
def dnslib_records(draw) -> bytes:
    """Structurally valid messages from dnslib with random fields and sections."""
    header = DNSHeader(
        id=draw(st.integers(0, 0xFFFF)),
        qr=0,
        opcode=draw(st.sampled_from([0, 0, 0, 1, 2, 4, 5, 15])),
        rd=draw(st.integers(0, 1)),
        tc=draw(st.integers(0, 1)),
        aa=draw(st.integers(0, 1)),
        rcode=draw(st.integers(0, 15)),
    )
    record = DNSRecord(header)
    names = st.one_of(
        st.sampled_from(["ratchet3-prod1.pdonline.scea.com", "gate1.us.dnas.playstation.org", "example.org"]),
        st.lists(st.text("abcxyz-_09", min_size=1, max_size=63), min_size=1, max_size=5).map(".".join),
    )
    for _ in range(draw(st.integers(0, 3))):
        record.add_question(
            DNSQuestion(draw(names), draw(st.sampled_from(_QTYPES)), draw(st.sampled_from(_QCLASSES)))
        )
    for _ in range(draw(st.integers(0, 2))):
        record.add_ar(RR(draw(names), QTYPE.A, rdata=A("10.0.0.1"), ttl=draw(st.integers(0, 2**31 - 1))))
    try:
        return bytes(record.pack())
    except Exception:  # dnslib refused to build it: not an input we can send
        assume(False)
        raise


@fuzz(125)
@given(st.binary(max_size=400), st.sampled_from(SETTINGS))
def test_fuzz_dns_random_bytes(data, settings):
    check(data, settings)


@fuzz(125)
@given(hand_built_queries(), st.sampled_from(SETTINGS))
def test_fuzz_dns_hand_built_queries(data, settings):
    check(data, settings)


@fuzz(75)
@given(dnslib_records(), st.sampled_from(SETTINGS))
def test_fuzz_dns_random_dnslib_records(data, settings):
    check(data, settings)
