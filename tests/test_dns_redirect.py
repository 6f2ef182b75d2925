"""The redirector's pure decision function: what each query gets, byte for byte where it matters."""

from __future__ import annotations

import struct
from pathlib import Path

import msgspec
import pytest
from dnslib import QTYPE, RCODE, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from clank_lan.dns.redirect import (
    Drop,
    Forward,
    Reply,
    address_for_client,
    answer,
    bare_reply,
    failure_reply,
    is_reply_to,
    name_problem,
    question_end,
)
from clank_lan.dns.settings import DEFAULT_WILDCARDS, DnsSettings
from clank_lan.titles import DNAS_HOSTNAMES, all_hostnames

ADDR = "192.168.1.50"
DEFAULT = DnsSettings()
B41 = Path(__file__).parent / "fixtures" / "b41.pcap"


def query(name: str, qtype: str = "A", *, rd: bool = True, qid: int = 0x1234) -> bytes:
    q = DNSRecord(DNSHeader(id=qid, rd=int(rd)), q=DNSQuestion(name, getattr(QTYPE, qtype)))
    return q.pack()


def reply_of(decision: object) -> DNSRecord:
    assert isinstance(decision, Reply), decision
    return DNSRecord.parse(decision.data)


@pytest.mark.parametrize("name", all_hostnames())
def test_every_table_name_gets_the_appliance_address(name: str) -> None:
    decision = answer(query(name), ADDR, DEFAULT)
    r = reply_of(decision)
    assert [str(rr.rdata) for rr in r.rr] == [ADDR]
    assert decision.answer == ADDR and decision.name == name and decision.qtype == "A"


def test_reply_looks_like_a_plain_recursive_resolver() -> None:
    raw = query("Ratchet3-Prod1.PDONLINE.scea.com", qid=0xBEEF)
    decision = answer(raw, ADDR, DnsSettings(ttl=42))
    r = reply_of(decision)
    h = r.header
    assert (h.id, h.qr, h.opcode, h.aa, h.tc, h.rd, h.ra, h.rcode) == (
        0xBEEF,
        1,
        0,
        0,
        0,
        1,
        1,
        RCODE.NOERROR,
    )
    assert (h.q, h.a, h.auth, h.ar) == (1, 1, 0, 0)  # no EDNS, no authority
    assert str(r.q.qname) == "Ratchet3-Prod1.PDONLINE.scea.com."  # question echoed as asked
    assert r.rr[0].ttl == 42 and r.rr[0].rtype == QTYPE.A
    assert decision.title == "uya-ntsc"


def test_rd_is_copied_not_set() -> None:
    r = reply_of(answer(query("ratchet3-prod1.pdonline.scea.com", rd=False), ADDR, DEFAULT))
    assert (r.header.rd, r.header.ra) == (0, 1)


def _b41_dns_payloads() -> list[tuple[int, bytes]]:
    """(source port, UDP payload) of the DNS packets in the Deadlocked capture (Ethernet pcap)."""
    data = B41.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"  # little-endian classic pcap
    found, offset = [], 24
    while offset + 16 <= len(data):
        incl = struct.unpack_from("<I", data, offset + 8)[0]
        frame = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        ip = frame[14:]
        if len(ip) < 28 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        sport, dport = struct.unpack_from(">HH", ip, ihl)
        if 53 in (sport, dport):
            found.append((sport, ip[ihl + 8 :]))
    return found


def test_real_ps2_queries_from_b41_get_the_flags_sonys_resolver_gave() -> None:
    packets = _b41_dns_payloads()
    queries = [p for sport, p in packets if sport != 53]
    answers = [p for sport, p in packets if sport == 53]
    assert queries and answers
    for raw in queries:
        decision = answer(raw, ADDR, DEFAULT)
        r = reply_of(decision)
        assert decision.name in ("gate1.us.dnas.playstation.org", "ratchetdl-prod.pdonline.scea.com")
        assert [str(rr.rdata) for rr in r.rr] == [ADDR]
        assert decision.data[:2] == raw[:2]
        # The ISP resolver the console used in 2012 answered with flags 0x8180; so do we.
        assert decision.data[2:4] == b"\x81\x80" == answers[0][2:4]


def test_aaaa_and_other_types_of_a_redirected_name_get_empty_noerror() -> None:
    for qtype in ("AAAA", "MX", "TXT", "HTTPS"):
        decision = answer(query("ratchetdl-prod.pdonline.scea.com", qtype), ADDR, DEFAULT)
        r = reply_of(decision)
        assert (r.header.rcode, r.header.a, decision.answer) == (RCODE.NOERROR, 0, "NODATA")
        assert QTYPE[r.q.qtype] == qtype


def test_any_query_gets_the_a_record() -> None:
    r = reply_of(answer(query("ratchetdl-prod.pdonline.scea.com", "ANY"), ADDR, DEFAULT))
    assert [str(rr.rdata) for rr in r.rr] == [ADDR]


def test_other_names_are_forwarded_or_nxdomain_when_offline() -> None:
    raw = query("www.example.org", "AAAA", qid=77)
    assert answer(raw, ADDR, DEFAULT) == Forward("www.example.org", "AAAA", 77)
    decision = answer(raw, ADDR, DnsSettings(offline=True))
    r = reply_of(decision)
    assert (r.header.rcode, r.header.a, r.header.ra, decision.answer) == (RCODE.NXDOMAIN, 0, 1, "NXDOMAIN")
    # offline changes nothing for game names
    assert reply_of(answer(query("killzone-prod.muis.pdonline.scea.com"), ADDR, DnsSettings(offline=True))).rr


def test_wildcards_cover_subdomains_but_not_the_domain_itself() -> None:
    assert "*.pdonline.scea.com" in DEFAULT_WILDCARDS
    decision = answer(query("arcthelad-prod.muis.pdonline.scea.com"), ADDR, DEFAULT)
    assert isinstance(decision, Reply) and decision.answer == ADDR and decision.title is None
    assert isinstance(answer(query("pdonline.scea.com"), ADDR, DEFAULT), Forward)
    assert isinstance(answer(query("xpdonline.scea.com"), ADDR, DEFAULT), Forward)
    assert isinstance(
        answer(query("arcthelad-prod.muis.pdonline.scea.com"), ADDR, DnsSettings(wildcards=())), Forward
    )
    own = DnsSettings(wildcards=("*.lan.example",))
    assert answer(query("a.b.LAN.example"), ADDR, own).answer == ADDR


def test_extra_names() -> None:
    s = DnsSettings(extra_names=("My-Server.Home",))
    assert answer(query("my-server.home."), ADDR, s).answer == ADDR
    assert isinstance(answer(query("my-server.home"), ADDR, DEFAULT), Forward)


def test_dnas_names_can_point_elsewhere_while_games_stay_here() -> None:
    s = DnsSettings(dnas_address="203.0.113.5")
    for name in DNAS_HOSTNAMES:
        assert answer(query(name), ADDR, s).answer == "203.0.113.5"
    assert answer(query("gate2.us.dnas.playstation.org"), ADDR, s).answer == "203.0.113.5"  # via the wildcard
    assert answer(query("ratchet3-prod1.pdonline.scea.com"), ADDR, s).answer == ADDR


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "short packet"),
        (b"\x12\x34\x01\x00\x00\x01", "short packet"),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05abc", "malformed"),  # name runs off the end
        (
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
            "malformed",
        ),  # pointer loop
        (query("ratchet3-prod1.pdonline.scea.com")[:2] + b"\x81\x80" + query("x.org")[4:], "a response"),
    ],
)
def test_malformed_input_is_dropped_with_a_reason(raw: bytes, reason: str) -> None:
    decision = answer(raw, ADDR, DEFAULT)
    assert isinstance(decision, Drop) and decision.reason.startswith(reason)


def test_question_count_and_opcode_errors_are_answered() -> None:
    empty = DNSRecord(DNSHeader(id=5, rd=1)).pack()
    r = reply_of(answer(empty, ADDR, DEFAULT))
    assert (r.header.id, r.header.rcode, r.header.q) == (5, RCODE.FORMERR, 0)
    two = DNSRecord(DNSHeader(id=6), questions=[DNSQuestion("a.org"), DNSQuestion("b.org")]).pack()
    assert reply_of(answer(two, ADDR, DEFAULT)).header.rcode == RCODE.FORMERR
    notify = DNSRecord(DNSHeader(id=7, opcode=4), q=DNSQuestion("a.org")).pack()
    assert reply_of(answer(notify, ADDR, DEFAULT)).header.rcode == RCODE.NOTIMP


def test_failure_replies() -> None:
    raw = query("www.example.org", qid=99)
    nx = DNSRecord.parse(failure_reply(raw, "nxdomain"))
    sf = DNSRecord.parse(failure_reply(raw, "servfail"))
    assert (nx.header.id, nx.header.rcode, str(nx.q.qname)) == (99, RCODE.NXDOMAIN, "www.example.org.")
    assert sf.header.rcode == RCODE.SERVFAIL
    assert failure_reply(raw, "drop") is None
    assert failure_reply(b"\x00\x01garbage", "nxdomain") is None


def test_upstream_replies_are_matched_to_their_query() -> None:
    raw = query("www.Example.org", qid=321)
    good = DNSRecord.parse(raw).reply().pack()
    assert question_end(raw) == len(raw)
    assert is_reply_to(raw, good)
    assert not is_reply_to(raw, raw)  # QR clear
    assert not is_reply_to(raw, query("www.example.org", qid=322)[:2] + good[2:])  # other id
    other = DNSRecord.parse(query("evil.example.org", qid=321)).reply().pack()
    assert not is_reply_to(raw, other)
    assert is_reply_to(raw, good.replace(b"Example", b"EXAMPLE"))  # 0x20 case changes are fine
    assert not is_reply_to(raw, good[:5])


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("192.168.1.20", "lan"),
        ("10.1.2.3", "lan"),
        ("172.16.5.5", "lan"),
        ("127.0.0.1", "lan"),
        ("169.254.3.3", "lan"),
        ("100.64.1.1", "lan"),  # carrier-grade NAT space
        ("::ffff:192.168.1.20", "lan"),
        ("fe80::1%eth0", "lan"),
        ("8.8.4.4", "wan"),
        ("203.0.114.7", "wan"),
        ("::ffff:81.2.69.160", "wan"),
        ("not-an-ip", "lan"),
    ],
)
def test_split_horizon_answers_internet_clients_with_the_external_address(client: str, expected: str) -> None:
    lan, wan = "192.168.1.50", "81.2.69.142"
    assert address_for_client(client, lan, wan) == {"lan": lan, "wan": wan}[expected]
    assert address_for_client(client, lan) == lan  # no external address configured


def test_settings_validate_their_values() -> None:
    for bad in (
        {"port": 70000},
        {"ttl": -1},
        {"wildcards": ("pdonline.scea.com",)},
        {"dnas_address": "nope"},
    ):
        with pytest.raises(ValueError):
            DnsSettings(**bad)
    decoded = msgspec.json.decode(b'{"port": 5353, "wildcards": [], "offline": true}', type=DnsSettings)
    assert (decoded.port, decoded.wildcards, decoded.offline) == (5353, (), True)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"prot": 53}', type=DnsSettings)


@settings(max_examples=125, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert isinstance(answer(data, ADDR, DEFAULT), Reply | Forward | Drop)


@settings(max_examples=125, deadline=None)
@given(st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=255))
def test_damaged_real_queries_never_raise(position: int, value: int) -> None:
    raw = bytearray(query("ratchet3-prod1.pdonline.scea.com"))
    raw[position % len(raw)] = value
    decision = answer(bytes(raw), ADDR, DEFAULT)
    assert isinstance(decision, Reply | Forward | Drop)
    failure = failure_reply(bytes(raw), "servfail")
    assert failure is None or type(failure) is bytes
    if isinstance(decision, Reply):
        assert type(decision.data) is bytes


def _raw_query(labels: list[bytes], qid: int = 0x0102, flags: int = 0x0100, qdcount: int = 1) -> bytes:
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\0"
    return struct.pack(">6H", qid, flags, qdcount, 0, 0, 0) + (name + struct.pack(">2H", 1, 1)) * qdcount


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ([b"a" * 64, b"pdonline", b"scea", b"com"], "a 64-byte label (at most 63)"),
        ([b"b" * 63] * 4 + [b"pdonline", b"scea", b"com"], "a 275-byte name (at most 255)"),
    ],
)
def test_names_breaking_rfc1035_limits_get_a_bare_formerr(labels, problem) -> None:
    raw = _raw_query(labels)
    decision = answer(raw, ADDR, DEFAULT)
    assert decision == Reply(b"\x01\x02\x81\x81" + bytes(8), "", "", None, "FORMERR", problem)
    assert failure_reply(raw, "servfail") is None  # cannot be echoed either: nothing to send


def test_the_longest_legal_name_is_still_answered() -> None:
    labels = [b"c" * 63] * 3 + [b"d" * 43, b"pdonline", b"scea", b"com"]  # 255 bytes on the wire
    decision = answer(_raw_query(labels), ADDR, DEFAULT)
    assert isinstance(decision, Reply) and decision.answer == ADDR and decision.problem == ""


def test_a_bad_name_in_a_second_question_is_caught_too() -> None:
    raw = _raw_query([b"e" * 64, b"com"], qdcount=2)
    decision = answer(raw, ADDR, DEFAULT)
    assert isinstance(decision, Reply) and decision.answer == "FORMERR"
    assert "64-byte label" in decision.problem


def test_bare_replies_copy_opcode_and_rd() -> None:
    assert bare_reply(b"\xaa\xbb\x29\x00" + bytes(8), RCODE.FORMERR) == b"\xaa\xbb\xa9\x81" + bytes(8)
    assert bare_reply(b"\xaa\xbb\x00\x00" + bytes(8), RCODE.FORMERR) == b"\xaa\xbb\x80\x81" + bytes(8)


def test_name_problem_counts_wire_bytes() -> None:
    assert name_problem((b"a" * 63,) * 3 + (b"b" * 61,)) is None  # 4 + 3*64 + 62 = 254 + root = 255
    assert name_problem((b"a" * 63,) * 3 + (b"b" * 62,)) == "a 256-byte name (at most 255)"
