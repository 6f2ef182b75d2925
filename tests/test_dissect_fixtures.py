"""The dissector on the real captures: exact counts, agreement with the decoded listings,
byte-exact re-encryption, the log format, speed."""

from __future__ import annotations

import re
import time
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from clank_lan.dissect import DissectResult, Status, dissect, report
from clank_lan.dissect.cli import read_key_file
from clank_lan.dissect.model import RECV
from clank_lan.dissect.report import render
from clank_lan.protocol.hexlog import parse_log
from clank_lan.protocol.medius import ChatFwdMessage, CodecContext, decode_app
from clank_lan.protocol.rt_ids import RT

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared"
DECODED = SHARED / "captures" / "decoded"
B41 = FIXTURES / "b41.pcap"
PAL = FIXTURES / "uya-pal-login.pcapng"
SUMMARY_RE = re.compile(
    r"^frames: (\d+)  encrypted: (\d+)  decrypted: (\d+)  hash-failures: (\d+)  undecodable: (\d+)$"
)


@cache
def sym_keys() -> tuple[bytes, ...]:
    return tuple(read_key_file(str(FIXTURES / "sym_keys.txt")))


@cache
def run(path: Path, with_keys: bool = False) -> DissectResult:
    return dissect(path, sym_keys() if with_keys else ())


def counts(res: DissectResult) -> tuple[int, int, int, int, int]:
    c = res.counts
    return c.frames, c.encrypted, c.decrypted, c.hash_failures, c.undecodable


def test_sym_keys_file_loads():
    assert len(sym_keys()) == 32 and all(len(k) == 64 for k in sym_keys())


# -- b41: Deadlocked NTSC against Sony ----------------------------------------------------------


def test_b41_counts_and_exceptions():
    res = run(B41)
    assert res.error is None
    # 1006 RT frames (the listing's 1009 count three frames twice: TCP retransmissions).
    assert counts(res) == (1006, 475, 471, 1, 3)
    failed = [(f.stream, f.service, f.transport, f.raw.id, f.status) for f in res.not_decrypted]
    assert failed == [
        ("t3", "MLS", "tcp", RT.CLIENT_CRYPTKEY_PUBLIC, Status.UNDECODABLE),
        ("t4", "MLS", "tcp", RT.CLIENT_CRYPTKEY_PUBLIC, Status.UNDECODABLE),
        ("t5", "DME", "tcp", RT.CLIENT_CRYPTKEY_PUBLIC, Status.UNDECODABLE),
        ("u2", "DME", "udp", RT.CLIENT_ECHO, Status.HASH_FAILURE),
    ]
    assert all(f.direction == RECV for f in res.not_decrypted)


def test_b41_streams_services_and_nat():
    res = run(B41)
    streams = {(f.stream, f.service, f.server[1]) for f in res.frames}
    assert streams == {
        ("t1", "MUIS", 10071),
        ("t2", "MAS", 10075),
        ("t3", "MLS", 10078),
        ("t4", "MLS", 10078),
        ("t5", "DME", 10079),
        ("u2", "DME", 50002),
    }
    nat = Counter(n.text.split()[1] for n in res.notes if n.kind == "nat")
    assert nat == {"request": 1, "reply": 1, "keep-alive": 11}
    assert {n.kind for n in res.notes} == {"nat"}


def _listing(name: str) -> list[tuple]:
    """Rows (transport, src->dst, id, hash tag, payload hex, undecrypted) of a decoded listing."""
    rows = []
    for line in (DECODED / name).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        tok = line.split()
        if tok[2].endswith(":10070"):
            continue  # the listing shows NAT packets as RT frames; they are not
        i = next(i for i, t in enumerate(tok) if t.startswith("len="))
        tag = tok[6] if tok[5].startswith("ctx=") else tok[5]
        rest = tok[i + 1 :]
        undecrypted = bool(rest) and rest[0] == "UNDECRYPTED"
        if rest and rest[0] in ("ok", "UNDECRYPTED"):
            rest = rest[1:]
        rows.append((tok[1], tok[2], int(tok[3], 16), tag, rest[0] if rest else "", undecrypted))
    return rows


def _rows(res: DissectResult) -> list[tuple]:
    rows = []
    for f in res.frames:
        src, dst = (f.client, f.server) if f.direction == RECV else (f.server, f.client)
        h = f.raw.hash
        tag = "clear" if h is None else "enc0" if not h else f"h={h.hex()}"
        payload = f.plaintext if f.plaintext is not None else f.raw.payload
        undecrypted = f.status in (Status.HASH_FAILURE, Status.UNDECODABLE)
        rows.append((f.transport.upper(), f"{src[0]}:{src[1]}->{dst[0]}:{dst[1]}", f.raw.id, tag,
                     payload.hex(), undecrypted))  # fmt: skip
    return rows


def _is_subsequence(short: list, long: list) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


@pytest.mark.skipif(not DECODED.is_dir(), reason="../shared/captures/decoded is absent")
def test_b41_matches_the_decoded_listing():
    mine = _rows(run(B41))
    ref = _listing("b41-decrypted.txt")
    assert not Counter(mine) - Counter(ref)  # every frame, payload and status is in the listing
    surplus = Counter(ref) - Counter(mine)
    # The listing's extra rows are TCP retransmissions it counted twice; each is a frame we have.
    assert sum(surplus.values()) == 3
    assert all(row in mine for row in surplus)
    flows = {r[1] for r in ref}
    for flow in flows:
        m = [r for r in mine if r[1] == flow]
        lst = [r for r in ref if r[1] == flow]
        assert _is_subsequence(m, lst), flow
        assert len(lst) - len(m) == sum(v for k, v in surplus.items() if k[1] == flow)


# -- UYA PAL login against a private test server ------------------------------------------------


def test_pal_login_decrypts_without_extra_keys():
    """The client's modulus is in no key list, but the test server's PEER key is a fill key
    (64 x 0x42), recognised by re-encrypting it to the client modulus."""
    res = run(PAL)
    assert counts(res) == (14, 13, 13, 0, 0)
    peer = next(f for f in res.frames if f.raw.id == RT.SERVER_CRYPTKEY_PEER)
    assert peer.status is Status.DECRYPTED and peer.plaintext == b"\x42" * 64


def test_pal_login_with_the_known_session_keys_decrypts_everything():
    res = run(PAL, with_keys=True)
    assert counts(res) == (14, 13, 13, 0, 0)
    peer = next(f for f in res.frames if f.raw.id == RT.SERVER_CRYPTKEY_PEER)
    assert peer.plaintext == b"\x42" * 64  # recognised by re-encrypting to the client modulus
    app = [f for f in res.frames if f.raw.id == RT.SERVER_APP]
    assert {f.plain.ctx for f in app} == {1} and {f.key for f in app} == {b"\x43" * 64}


@pytest.mark.skipif(not DECODED.is_dir(), reason="../shared/captures/decoded is absent")
def test_pal_login_matches_the_decoded_listing():
    assert _rows(run(PAL, with_keys=True)) == _listing("uya-pal-login-decrypted.txt")


# -- UYA captures against Sony --------------------------------------------------------------------

#: file -> ((frames, encrypted), (decrypted, F, U) without keys, (decrypted, F, U) with sym_keys.txt)
UYA = [
    ("Cities_Aquatos.pcap", (82, 81), (74, 0, 7), (74, 0, 7)),
    ("Create_Game.pcap", (6, 6), (0, 0, 6), (3, 0, 3)),
    ("Created.pcap", (81, 80), (16, 0, 64), (66, 0, 14)),
    ("Idle_in_Aridia.pcap", (12, 12), (0, 0, 12), (12, 0, 0)),
    ("JoinPjs.pcap", (125, 123), (15, 34, 74), (88, 34, 1)),
    ("Public_Chat.pcap", (11, 11), (0, 0, 11), (6, 0, 5)),
    ("Reject_Terms_SOCOM_I.pcap", (3, 2), (0, 0, 2), (0, 0, 2)),
    ("To_Novalis.pcap", (34, 33), (24, 0, 9), (32, 0, 1)),
    ("To_Tyhrranosis.pcap", (38, 37), (28, 0, 9), (36, 0, 1)),
    ("To_Veldin.pcap", (34, 33), (24, 0, 9), (28, 0, 5)),
    ("UYA_Next.pcap", (28, 28), (0, 0, 28), (0, 0, 28)),
    ("UYA_accept_EULA.pcap", (36, 36), (0, 0, 36), (0, 0, 36)),
    ("heythere.pcap", (13, 13), (0, 0, 13), (13, 0, 0)),
    ("inviteBone.pcap", (62, 60), (0, 0, 60), (41, 0, 19)),
    ("invite_Bone.pcap", (19, 19), (0, 0, 19), (6, 0, 13)),
    ("inviteqwer.pcap", (6, 6), (0, 0, 6), (1, 0, 5)),
    ("login-10075_PAL_version.pcapng", (14, 13), (13, 0, 0), (13, 0, 0)),
    ("msg_to_Raphiel.pcap", (6, 6), (0, 0, 6), (3, 0, 3)),
    ("toPjsgame.pcap", (24, 24), (0, 0, 24), (24, 0, 0)),
    ("to_Aridia.pcap", (41, 40), (29, 0, 11), (33, 0, 7)),
]


def test_uya_table_covers_every_capture():
    assert sorted(name for name, *_ in UYA) == sorted(p.name for p in (FIXTURES / "uya").glob("*.pcap*"))


@pytest.mark.parametrize(("name", "sizes", "plain", "keyed"), UYA, ids=[u[0] for u in UYA])
def test_uya_sony_captures(name, sizes, plain, keyed):
    path = FIXTURES / "uya" / name
    without = run(path)
    assert without.error is None
    assert counts(without) == (*sizes, *plain)
    res = run(path, with_keys=True)
    assert counts(res) == (*sizes, *keyed)
    for f in res.frames:  # every frame re-encrypts to the captured bytes
        if f.plain is not None:
            assert f.reencode() == f.raw.encode()


def test_sonys_uya_lobby_sent_every_server_app_under_context_1():
    """The context our MLS sends a line for many under (its shared GAME key): Sony's UYA MAS and
    MLS sent every SERVER_APP under context 1, chat forwards included (the hash's top bits say so
    without a key; Public_Chat's forwards decrypt with the console's GAME key)."""
    contexts: Counter[int] = Counter()
    for name, *_ in UYA:
        if not name.endswith(".pcap"):
            continue  # (the PAL login is against a test server)
        for f in run(FIXTURES / "uya" / name).frames:
            if f.raw.id == RT.SERVER_APP and f.service in ("MAS", "MLS"):
                contexts[f.raw.hash[3] >> 5] += 1
    assert contexts == {1: 331}
    chat = run(FIXTURES / "uya" / "Public_Chat.pcap", with_keys=True)
    uya = CodecContext(medius_version=108, app_id=10684)
    opened = [f for f in chat.frames if f.plain is not None and f.raw.id == RT.SERVER_APP]
    forwards = [f for f in opened if isinstance(decode_app(f.plain.payload, uya), ChatFwdMessage)]
    assert len(forwards) == 2 and {f.plain.ctx for f in forwards} == {1}


def test_uya_joinpjs_failures_are_player_to_player_frames():
    res = run(FIXTURES / "uya" / "JoinPjs.pcap", with_keys=True)
    failed = Counter((f.service, f.raw.id, f.status) for f in res.not_decrypted)
    assert failed == {
        ("DME", RT.CLIENT_APP_SINGLE, Status.HASH_FAILURE): 34,
        ("DME", RT.CLIENT_CRYPTKEY_PUBLIC, Status.UNDECODABLE): 1,
    }


# -- re-encryption, output format, speed ----------------------------------------------------------


@pytest.mark.parametrize(("path", "with_keys"), [(B41, False), (PAL, True)], ids=["b41", "pal"])
def test_decrypt_then_reencrypt_reproduces_the_captured_bytes(path, with_keys):
    res = run(path, with_keys)
    encrypted = 0
    for f in res.frames:
        if f.plain is None:
            continue
        assert f.reencode() == f.raw.encode(), f.number
        encrypted += f.status is Status.DECRYPTED
    assert encrypted == res.counts.decrypted


def test_output_parses_back_into_the_frames():
    res = run(B41)
    lines = list(render(res))
    assert SUMMARY_RE.match(lines[-1]).groups() == ("1006", "475", "471", "1", "3")
    assert sum(bool(SUMMARY_RE.match(line)) for line in lines) == 1
    records = parse_log("\n".join(lines))
    assert len(records) == len(res.frames)
    for rec, f in zip(records, res.frames):
        assert (rec.service, rec.peer, rec.direction, rec.rt_id) == (f.service, f.peer, f.direction, f.raw.id)
        assert rec.payload == (f.plaintext if f.plaintext is not None else f.raw.payload)
        assert rec.ctx == (f.plain.ctx if f.plain is not None else f.ctx)
        assert ("udp" in rec.tags) == (f.transport == "udp")
    start = lines.index("not decrypted (4):")
    assert lines[start + 1].startswith("  #55 (packet 185) t3 MLS recv CLIENT_CRYPTKEY_PUBLIC: undecodable:")
    assert lines[start + 4].startswith("  #572 (packet 747) u2 DME recv CLIENT_ECHO: hash-failure:")


def test_medius_messages_are_named(monkeypatch):
    heads = [rec.splitlines()[0] for rec in render(run(B41))]
    lines = [line for line in heads if "CLIENT_APP_TOSERVER(0x0B)" in line]
    assert lines and all(" medius=" in line for line in lines)
    namer = report._medius_namer()  # the codec, when clank_lan.protocol.medius is importable
    expected = namer(1, 0xC8) if namer is not None else "1:0xC8"
    assert lines[0].endswith(f" medius={expected}")  # b41's first: GetUniverseInformation (1, 0xC8)
    monkeypatch.setattr(report, "_medius_namer", lambda: None)
    assert report.medius_name(b"\x01\xc8") == "1:0xC8"

    def broken(cls, typ):
        raise KeyError(typ)

    monkeypatch.setattr(report, "_medius_namer", lambda: broken)
    assert report.medius_name(b"\x04\x11") == "4:0x11"


def test_b41_is_fast():
    start = time.perf_counter()
    res = dissect(B41)
    lines = sum(1 for _ in render(res))
    elapsed = time.perf_counter() - start
    assert lines > 1006
    assert elapsed < 3.0, f"b41 took {elapsed:.2f} s"
