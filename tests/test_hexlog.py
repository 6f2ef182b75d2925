"""The fixed frame log format: formatting, parsing, and rejection of damaged records."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.hexlog import format_frame, hex_lines, parse_log, tag_for

ACCEPT = bytes.fromhex("0000ec100000010032342e3231342e34352e313135000000")  # b41 CONNECT_ACCEPT_TCP


def test_format_of_one_record() -> None:
    text = format_frame("MAS", "C-3", "send", 0x07, ACCEPT, ctx=3)
    assert text.splitlines() == [
        "[MAS] C-3 send SERVER_CONNECT_ACCEPT_TCP(0x07) len=24 enc=3",
        "0000 | 07 18 00 00 00 ec 10 00 00 01 00 32 34 2e 32 31 | ...........24.21",
        "0010 | 34 2e 34 35 2e 31 31 35 00 00 00                | 4.45.115...",
    ]


def test_tags() -> None:
    assert tag_for(None) == "clear"
    assert tag_for(3) == "enc=3"
    assert tag_for(3, null=True) == "null=3"
    assert hex_lines(b"") == []


def test_round_trip_of_several_records_with_tags() -> None:
    text = "\n".join(
        [
            format_frame("MAS", "C-3", "send", 0x07, ACCEPT, ctx=3),
            format_frame("DME", "C-1", "recv", 0x02, b"\x00\x0f" * 19, ctx=3, null=True, extra="udp"),
            format_frame("MUIS", "C-9", "recv", 0x24, bytes.fromhex("02006e006d0001000100")),
            format_frame("DME", "C-1", "recv", 0x17, b"", ctx=3, null=True),
            format_frame("MLS", "C-2", "recv", 0x7F, bytes(range(256)), ctx=1, extra="note=x hash=0e356b65"),
        ]
    )
    records = parse_log(text)
    assert [(r.service, r.peer, r.direction, r.rt_id) for r in records] == [
        ("MAS", "C-3", "send", 0x07),
        ("DME", "C-1", "recv", 0x02),
        ("MUIS", "C-9", "recv", 0x24),
        ("DME", "C-1", "recv", 0x17),
        ("MLS", "C-2", "recv", 0x7F),
    ]
    assert records[0].payload == ACCEPT and records[0].ctx == 3 and records[0].encrypted
    assert records[1].tags == {"null": "3", "udp": ""} and records[1].ctx == 3 and not records[1].encrypted
    assert records[2].ctx is None and records[2].tags == {"clear": ""}
    assert records[3].payload == b""
    assert records[4].payload == bytes(range(256)) and records[4].tags["hash"] == "0e356b65"
    assert [r.line for r in records] == [1, 4, 8, 10, 12]


def test_timestamps_and_levels_before_the_bracket_are_ignored() -> None:
    record = format_frame("MLS", "C-12", "recv", 0x0B, b"\x01\x02\x03", ctx=3)
    head, *hexes = record.splitlines()
    echo = format_frame("MLS", "C-12", "send", 0x05, b"\xa5", ctx=3)
    text = "\n".join(
        [
            "2026-03-02 22:34:01,123 INFO clank_lan.servers: listening on 10078",
            f"2026-03-02 22:34:02,001 DEBUG {head}",
            *hexes,
            "I 24986 2026-03-02 22:34:03 - [MLS] some other message",
            f"[12:00:00] {echo}",
        ]
    )
    records = parse_log(text)
    assert [(r.rt_id, r.payload, r.direction) for r in records] == [
        (0x0B, b"\x01\x02\x03", "recv"),
        (0x05, b"\xa5", "send"),
    ]


def test_lines_between_records_end_a_record() -> None:
    text = (
        format_frame("MAS", "C-1", "recv", 0x05, b"\xa5", ctx=3) + "\nsomething unrelated\n0000 | 05 01 00 a5"
    )
    (record,) = parse_log(text)
    assert record.payload == b"\xa5"


@pytest.mark.parametrize(
    ("header", "hexes"),
    [
        ("[MAS] C-1 recv CLIENT_ECHO(0x05) len=1 enc=3", ["0000 | 05 01 00 a6 a7"]),  # too many bytes
        ("[MAS] C-1 recv CLIENT_ECHO(0x05) len=2 enc=3", ["0000 | 05 01 00 a5"]),  # len= disagrees
        ("[MAS] C-1 recv CLIENT_ECHO(0x05) len=1 enc=3", ["0000 | 06 01 00 a5"]),  # other id in the hex
        ("[MAS] C-1 recv CLIENT_ECHO(0x05) len=1 enc=3", ["0000 | 05 02 00 a5"]),  # length field wrong
        ("[MAS] C-1 recv CLIENT_ECHO(0x05) len=1 enc=3", []),  # no hex at all
        ("[MAS] C-1 recv CLIENT_ECHO(0x05) len=1 enc=3", ["0000 | 05"]),  # shorter than a header
        ("[MAS] C-1 recv SERVER_APP(0x0A) len=99999999999 enc=3", ["0000 | 0a 00 00"]),  # absurd len
    ],
)
def test_mismatched_hex_is_a_protocol_error(header: str, hexes: list[str]) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_log("\n".join(["preamble", header, *hexes, "after"]))
    assert "log line 2" in str(err.value)


def test_hex_line_with_a_wrong_offset_is_not_part_of_the_record() -> None:
    text = "\n".join(
        [
            "[MAS] C-1 recv SERVER_APP(0x0A) len=20 enc=3",
            "0000 | 0a 14 00 00 01 02 03 04 05 06 07 08 09 0a 0b 0c | ................",
            "0020 | 0d 0e 0f 10 11 12 13 14                         | ........",
        ]
    )
    with pytest.raises(ProtocolError):
        parse_log(text)


@settings(max_examples=75, deadline=None)
@given(
    service=st.sampled_from(["MAS", "MLS", "MUIS", "DME", "NAT", "dme.udp", "a_b:1-2"]),
    peer=st.from_regex(r"[A-Za-z0-9:.\-]{1,12}", fullmatch=True),
    direction=st.sampled_from(["send", "recv"]),
    rt_id=st.integers(0, 0x7F),
    payload=st.binary(max_size=300),
    ctx=st.one_of(st.none(), st.integers(0, 7)),
    null=st.booleans(),
)
def test_format_parse_round_trip(
    service: str, peer: str, direction: str, rt_id: int, payload: bytes, ctx: int | None, null: bool
) -> None:
    (record,) = parse_log(format_frame(service, peer, direction, rt_id, payload, ctx=ctx, null=null))
    assert (record.service, record.peer, record.direction, record.rt_id, record.payload) == (
        service,
        peer,
        direction,
        rt_id,
        payload,
    )
    assert record.ctx == ctx
    assert record.encrypted == (ctx is not None and not null)


def test_ids_outside_the_table_are_logged_and_parsed() -> None:
    text = format_frame("DME", "C-1", "recv", 0x37, b"\x01", ctx=3)
    assert "UNKNOWN_0x37(0x37)" in text
    (record,) = parse_log(text)
    assert (record.rt_id, record.payload) == (0x37, b"\x01")


@pytest.mark.parametrize("tag", ["enc=x", "enc=8", "null=", "enc=-1", "null=33"])
def test_a_context_tag_that_is_not_a_context_is_a_protocol_error(tag: str) -> None:
    with pytest.raises(ProtocolError):
        parse_log(f"[MAS] C-1 recv CLIENT_ECHO(0x05) len=1 {tag}\n0000 | 05 01 00 a5")
