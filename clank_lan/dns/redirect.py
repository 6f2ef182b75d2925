"""The DNS redirector's decisions, without sockets: one query in, one ``Decision`` out.

Game and DNAS names get an A record with the appliance's address; everything else is forwarded
(or NXDOMAIN when offline). Replies look like those of a plain recursive resolver, which is what
the consoles met on Sony's network: the question echoed, RD copied, RA set, AA clear, no EDNS,
one short-TTL answer (dme-nat-muis-dns.md §D.1).
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, RR, A, DNSHeader, DNSQuestion, DNSRecord
from dnslib.buffer import BufferError as DnsBufferError
from dnslib.dns import DNSError
from dnslib.label import DNSLabelError

from clank_lan.dns.settings import MAX_LABEL, DnsSettings
from clank_lan.titles import all_hostnames, is_dnas_hostname, normalize_hostname, title_for_hostname

HEADER_SIZE = 12
#: RFC 1035 3.1: a name is at most 255 bytes on the wire (length bytes and the root included).
MAX_NAME_WIRE = 255
#: What dnslib raises on input it cannot parse or a message it cannot encode.
_DNSLIB_ERRORS = (DNSError, DNSLabelError, DnsBufferError, struct.error, ValueError, IndexError, UnicodeError)
_CLASS_IN = 1
_ANY = 255
_QR = 0x80  # in header byte 2


@dataclass(frozen=True, slots=True)
class Reply:
    """Send ``data`` back to the client."""

    data: bytes
    name: str
    qtype: str
    title: str | None
    answer: str  # for the log/event: the address given, "NODATA", "NXDOMAIN", "FORMERR", "NOTIMP"
    #: Why the query was refused (FORMERR, NOTIMP): the server logs it, rate-limited per client.
    problem: str = ""


@dataclass(frozen=True, slots=True)
class Forward:
    """Relay the query to the upstream resolver unchanged."""

    name: str
    qtype: str
    query_id: int


@dataclass(frozen=True, slots=True)
class Drop:
    """Send nothing (malformed input, or not a query)."""

    reason: str


Decision = Reply | Forward | Drop


@dataclass(frozen=True, slots=True)
class Target:
    dnas: bool  # answered with ``dnas_address`` when that is set
    title: str | None


class NameTable:
    """Which names to answer: the title table, shared service names, extra names, wildcards."""

    def __init__(self, extra_names: tuple[str, ...], wildcards: tuple[str, ...]) -> None:
        self.exact: dict[str, Target] = {}
        for name in all_hostnames():
            title = title_for_hostname(name)
            self.exact[name] = Target(is_dnas_hostname(name), title.key if title else None)
        for name in extra_names:
            self.exact.setdefault(normalize_hostname(name), Target(is_dnas_hostname(name), None))
        self.suffixes = tuple(normalize_hostname(w[1:]) for w in wildcards)  # "*.a.b" -> ".a.b"

    def lookup(self, name: str) -> Target | None:
        target = self.exact.get(name)
        if target is None and name.endswith(self.suffixes):
            target = Target(is_dnas_hostname(name), None)
        return target


@functools.lru_cache(maxsize=8)
def name_table(extra_names: tuple[str, ...], wildcards: tuple[str, ...]) -> NameTable:
    return NameTable(extra_names, wildcards)


def _reply(query: DNSRecord, rcode: int, questions: list[DNSQuestion]) -> DNSRecord:
    h = query.header
    header = DNSHeader(id=h.id, qr=1, opcode=h.opcode, aa=0, tc=0, rd=h.rd, ra=1, rcode=rcode)
    return DNSRecord(header, questions=list(questions))


def bare_reply(query: bytes, rcode: int) -> bytes:
    """A header-only reply (no question echoed) to a query whose question cannot be echoed."""
    flags = 0x8000 | (query[2] & 0x79) << 8 | 0x80 | rcode  # QR, opcode and RD copied, RA, rcode
    return query[:2] + flags.to_bytes(2, "big") + bytes(8)


def name_problem(labels: tuple[bytes, ...]) -> str | None:
    """Why a parsed name breaks RFC 1035's limits (dnslib parses such names but cannot encode them)."""
    for label in labels:
        if len(label) > MAX_LABEL:
            return f"a {len(label)}-byte label (at most {MAX_LABEL})"
    wire = sum(1 + len(label) for label in labels) + 1
    if wire > MAX_NAME_WIRE:
        return f"a {wire}-byte name (at most {MAX_NAME_WIRE})"
    return None


def answer(query: bytes, advertised_ip: str, settings: DnsSettings) -> Decision:
    """Decide what to do with one DNS message received from a client. Never raises."""
    if len(query) < HEADER_SIZE:
        return Drop(f"short packet ({len(query)} bytes)")
    if query[2] & _QR:
        return Drop("a response, not a query")
    try:
        record = DNSRecord.parse(query)
    except _DNSLIB_ERRORS as err:
        return Drop(f"malformed: {str(err)[:120]}")
    for q in record.questions:
        problem = name_problem(q.qname.label)
        if problem is not None:
            return Reply(bare_reply(query, RCODE.FORMERR), "", "", None, "FORMERR", problem)
    try:
        return _decide(record, advertised_ip, settings)
    except _DNSLIB_ERRORS as err:  # a field dnslib parsed but cannot encode again
        return Reply(bare_reply(query, RCODE.FORMERR), "", "", None, "FORMERR", f"unencodable: {err}"[:160])


def _decide(record: DNSRecord, advertised_ip: str, settings: DnsSettings) -> Decision:
    if record.header.opcode != 0:
        data = bytes(_reply(record, RCODE.NOTIMP, record.questions).pack())
        return Reply(data, "", "", None, "NOTIMP", f"opcode {record.header.opcode}")
    if len(record.questions) != 1:
        data = bytes(_reply(record, RCODE.FORMERR, record.questions).pack())
        return Reply(data, "", "", None, "FORMERR", f"{len(record.questions)} questions")
    question = record.q
    name = normalize_hostname(str(question.qname))
    qtype = QTYPE[question.qtype]
    target = name_table(settings.extra_names, settings.wildcards).lookup(name)
    if target is None:
        if settings.offline:
            return Reply(
                bytes(_reply(record, RCODE.NXDOMAIN, [question]).pack()), name, qtype, None, "NXDOMAIN"
            )
        return Forward(name, qtype, record.header.id)
    reply = _reply(record, RCODE.NOERROR, [question])
    if question.qclass in (_CLASS_IN, _ANY) and question.qtype in (QTYPE.A, _ANY):
        address = (settings.dnas_address or advertised_ip) if target.dnas else advertised_ip
        reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=settings.ttl))
        return Reply(bytes(reply.pack()), name, qtype, target.title, address)
    # The name exists but has no data of this type (AAAA, HTTPS, MX...): empty NOERROR.
    return Reply(bytes(reply.pack()), name, qtype, target.title, "NODATA")


def failure_reply(query: bytes, mode: str) -> bytes | None:
    """What a client gets when forwarding failed: NXDOMAIN, SERVFAIL, or nothing (``"drop"``)."""
    if mode == "drop":
        return None
    try:
        record = DNSRecord.parse(query)
        rcode = RCODE.NXDOMAIN if mode == "nxdomain" else RCODE.SERVFAIL
        return bytes(_reply(record, rcode, record.questions).pack())
    except _DNSLIB_ERRORS:
        return None


def question_end(message: bytes) -> int | None:
    """Offset just past the first question (uncompressed names only, as in any query)."""
    offset = HEADER_SIZE
    while offset < len(message):
        length = message[offset]
        if length == 0:
            end = offset + 1 + 4
            return end if end <= len(message) else None
        if length & 0xC0:  # a compression pointer: not expected in a query
            return None
        offset += 1 + length
    return None


def is_reply_to(query: bytes, reply: bytes) -> bool:
    """Does an upstream message answer ``query``: same id, QR set, same question (any case)?"""
    if len(reply) < HEADER_SIZE or reply[:2] != query[:2] or not reply[2] & _QR:
        return False
    end = question_end(query)
    if end is None or query[4:6] == b"\x00\x00":
        return True
    return reply[4:6] == query[4:6] and reply[HEADER_SIZE:end].lower() == query[HEADER_SIZE:end].lower()


def address_for_client(client_ip: str, lan_ip: str, external_ip: str = "") -> str:
    """Split horizon: LAN clients get ``lan_ip``; clients from the internet get ``external_ip``.

    A console that reached us through the router's port forwarding must be sent to the public
    address; one on the LAN to the local one (many routers cannot loop back to themselves).
    """
    if not external_ip:
        return lan_ip
    try:
        ip = ipaddress.ip_address(client_ip.split("%", 1)[0])
    except ValueError:
        return lan_ip
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    local = ip.is_private or ip.is_loopback or ip.is_link_local or ip in _SHARED_ADDRESS_SPACE
    return lan_ip if local else external_ip


_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: still "inside"
