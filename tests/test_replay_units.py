"""The replay harness's pure parts: the request -> answer table, attribution, sources, the script,
substitutions and masks (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.hexlog import format_frame
from clank_lan.protocol.medius import (
    REGISTRY,
    AccountLoginResponse,
    CodecContext,
    Direction,
    GetBuddyListExtraInfoResponse,
    NetConnectionInfo,
    SessionBeginResponse,
    decode_app,
    encode_app,
    message_types,
)
from clank_lan.protocol.rt_ids import RT
from clank_lan.replay import (
    Wire,
    answers_to,
    build_script,
    compare_bytes,
    from_hexlog,
    from_text_dump,
    load_recording,
    medius_answers,
)
from clank_lan.replay.attribution import Attributor, Joiner, is_final
from clank_lan.replay.masks import field_ranges
from clank_lan.replay.model import Connect, Disconnect, Send
from clank_lan.replay.substitute import ValueMap

FIXTURES = Path(__file__).parent / "fixtures"
APP = RT.SERVER_APP
V110 = CodecContext(medius_version=110, app_id=11184)

# --- the request -> answer table ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "answers"),
    [
        ((1, 0x07), {(1, 0x08), (4, 0x4B), (4, 0x4D)}),  # AccountLogin -> ...Response, ...Response1/2
        ((4, 0x27), {(1, 0x04)}),  # ExtendedSessionBegin -> SessionBeginResponse
        ((1, 0xC8), {(4, 0x1E), (4, 0x11), (1, 0xC9), (1, 0xCA)}),  # GetUniverseInformation
        ((4, 0x2F), {(1, 0x1E)}),  # CreateGame -> CreateGameResponse
        ((1, 0xF3), {(1, 0x24)}),  # JoinGame -> JoinGameResponse
        ((4, 0x14), {(1, 0x22)}),  # CreateChannel -> CreateChannelResponse
        ((1, 0x52), {(4, 0x32), (1, 0x53)}),  # GetGameListFilter -> either class's response
        ((1, 0xA3), {(1, 0xA4), (4, 0xA4)}),  # SetLocalizationParams -> StatusResponse0 (and ...1)
        ((1, 0x4C), {(1, 0x4D)}),  # GetAllAnnouncements
        ((1, 0xAC), {(1, 0xAD)}),  # FileDownload
        ((1, 0xD6), {(1, 0xD7)}),  # GetBuddyList_ExtraInfo
        ((4, 0x0D), {(4, 0x0E)}),  # GetLadderStatsWide
        ((4, 0x2A), {(4, 0x2B)}),  # GetServerTimeRequest
        ((1, 0x47), {(1, 0x48)}),  # Policy
    ],
)
def test_answer_types_of_requests(request_, answers):
    assert medius_answers(*request_) == answers
    assert {(APP, c, t) for c, t in answers} < answers_to((RT.CLIENT_APP_TOSERVER, *request_))


@pytest.mark.parametrize(
    "request_",
    [(4, 0x0A), (1, 0x49), (4, 0x30), (1, 0x00), (1, 0x01)],  # Dnas post, user state, reports
)
def test_reports_and_posts_expect_no_answer(request_):
    assert medius_answers(*request_) == frozenset()
    # only a refusal (ErrorMessage) could answer them
    assert answers_to((RT.CLIENT_APP_TOSERVER, *request_)) == {(APP, 1, 0x4A)}


def test_every_answer_in_the_table_is_a_server_message():
    for key, info in REGISTRY.items():
        if info.direction is Direction.TO_CLIENT or key[0] not in (1, 4):
            continue
        for ans in medius_answers(*key):
            assert REGISTRY[ans].direction is not Direction.TO_SERVER, (info.name, REGISTRY[ans].name)


def test_rt_echo_answers_echo_and_handshake_frames_answer_nothing():
    assert answers_to((RT.CLIENT_ECHO, -1, -1)) == {(RT.CLIENT_ECHO, -1, -1)}
    assert answers_to((RT.CLIENT_SET_RECV_FLAG, -1, -1)) == frozenset()


# --- attribution ---------------------------------------------------------------------------------


def _buddy_item(end: bool) -> Wire:
    return Wire(APP, encode_app(GetBuddyListExtraInfoResponse(message_id="1", end_of_list=end), V110))


def test_pipelined_list_requests_are_answered_in_order():
    att = Attributor()
    cands = answers_to((RT.CLIENT_APP_TOSERVER, 1, 0xD6))
    att.open(0, cands)
    att.open(1, cands)
    items = [_buddy_item(False), _buddy_item(False), _buddy_item(True), _buddy_item(True)]
    got = [att.attribute(w.key, is_final(w, V110)) for w in items]
    assert got == [0, 0, 0, 1]  # the first list runs to its end_of_list, then the second begins
    assert att.attribute(items[0].key, True) is None  # nothing open any more
    att.open(1, cands)  # a retry re-opens its exchange
    assert att.attribute(items[0].key, True) == 1


def test_joiner_reassembles_packet_fragments():
    from clank_lan.protocol.medius import fragment_app

    whole = bytes([4, 0x11]) + bytes(range(256)) * 3
    j = Joiner()
    pieces = fragment_app(whole)
    assert len(pieces) == 2
    assert j.feed(APP, pieces[0], "a") is None
    w = j.feed(APP, pieces[1], "b")
    assert w is not None and w.payload == whole and w.pieces == 2 and w.key == (APP, 4, 0x11)


# --- sources -------------------------------------------------------------------------------------

#: The hashsploit layout: header, hex line, ASCII line, blank lines (their lines end in a space).
DUMP = "\n".join(
    [
        "# a dump",
        "",
        "Client: [SUCCESS] ID:ID_0b LEN:0x04 PLAINTEXT: ",
        "01 03 31 00 ",
        "..1.",
        "",
        "",
        "Server: [SUCCESS] ID:ID_05 LEN:0x01 PLAINTEXT: ",
        "A5 ",
        ".",
        "",
        "",
        "Client: [SUCCESS] ID:ID_01 LEN:0x00 PLAINTEXT: ",
        "",
        "",
    ]
)


def test_text_dump_parser():
    rec = from_text_dump(DUMP, "d")
    got = [(f.direction, f.rt_id, f.payload, f.source) for f in rec.frames]
    assert got == [
        ("recv", 0x0B, bytes.fromhex("01033100"), "line 3"),
        ("send", 0x05, b"\xa5", "line 8"),
        ("recv", 0x01, b"", "line 13"),
    ]
    assert load_recording(DUMP).frames == rec.frames
    with pytest.raises(ProtocolError, match="LEN 0x5"):
        from_text_dump(DUMP.replace("LEN:0x04", "LEN:0x05"))


def test_load_recording_tells_captures_from_text(tmp_path):
    cap = load_recording(FIXTURES / "b41.pcap")
    assert cap.name == "b41.pcap" and cap.frames[0].source == "frame 1"
    assert {f.service for f in cap.frames} >= {"MUIS", "MAS", "MLS"}
    log = tmp_path / "x.log"
    log.write_text("12:00:00 D " + format_frame("MAS", "10.0.0.2:5000", "recv", RT.CLIENT_ECHO, b"\xa5", 3))
    (rec,) = load_recording(log).frames
    assert (rec.service, rec.conn, rec.rt_id, rec.encrypted, rec.source) == (
        "MAS",
        "10.0.0.2:5000",
        5,
        True,
        "line 1",
    )
    assert load_recording(str(log)).frames == [rec]


# --- the script ------------------------------------------------------------------------------------

PEER = "10.0.0.2:5000"
CTX108 = CodecContext(medius_version=108, app_id=10684)


def _log(*records: tuple[str, int, bytes]) -> str:
    return "\n".join(format_frame("MAS", PEER, d, rid, p, 3) for d, rid, p in records)


def _app(msg) -> bytes:
    return encode_app(msg, CTX108)


def test_script_from_a_frame_log():
    from clank_lan.protocol.medius import AccountLoginRequest, DnasSignaturePost, SessionBeginRequest

    connect = rtm.ClientConnectTcp(world_id=1, app_id=10684).encode(108)
    login = _app(AccountLoginRequest(message_id="1", username="a", password="b"))
    text = _log(
        ("recv", RT.CLIENT_CRYPTKEY_PUBLIC, bytes(64)),
        ("send", RT.SERVER_CRYPTKEY_PEER, bytes(64)),
        ("recv", RT.CLIENT_CONNECT_TCP, connect),
        ("send", RT.SERVER_CRYPTKEY_GAME, bytes(64)),
        ("send", RT.SERVER_CONNECT_ACCEPT_TCP, rtm.ServerConnectAcceptTcp().encode(108)),
        ("send", RT.SERVER_CONNECT_COMPLETE, b"\x01\x00"),
        ("recv", RT.CLIENT_APP_TOSERVER, _app(SessionBeginRequest(message_id="1"))),
        ("recv", RT.CLIENT_APP_TOSERVER, _app(DnasSignaturePost(message_id="1"))),
        ("send", RT.SERVER_APP, _app(SessionBeginResponse(message_id="1", session_key="5"))),
        ("send", RT.SERVER_ECHO, bytes(8)),  # periodic: not attributed
        ("recv", RT.SERVER_ECHO, bytes(8)),  # the client's reply: not replayed
        ("recv", RT.CLIENT_APP_TOSERVER, login),
        ("recv", RT.CLIENT_APP_TOSERVER, login),  # a retry before any answer
        ("send", RT.SERVER_APP, _app(AccountLoginResponse(message_id="1"))),
        ("recv", RT.CLIENT_DISCONNECT, b""),
    )
    script = build_script(from_hexlog(text, "t"))
    (conn,) = script.conns
    assert (conn.label, conn.version, conn.app_id, conn.world_id, conn.encrypt) == (
        f"MAS {PEER}",
        108,
        10684,
        1,
        True,
    )
    assert [w.name for w in conn.handshake] == [
        "SERVER_CRYPTKEY_PEER",
        "SERVER_CRYPTKEY_GAME",
        "SERVER_CONNECT_ACCEPT_TCP",
        "SERVER_CONNECT_COMPLETE",
    ]
    assert conn.skipped == {"SERVER_ECHO": 1}
    kinds = [type(e).__name__ for e in script.events]
    assert kinds == ["Connect", "Send", "Send", "Send", "Send", "Disconnect"]
    assert isinstance(script.events[0], Connect) and isinstance(script.events[-1], Disconnect)
    app = [f"line {i}" for i, line in enumerate(text.splitlines(), 1) if "recv CLIENT_APP_TOSERVER" in line]
    assert [(ex.what, ex.source, [w.name for w in ex.expected]) for ex in script.exchanges] == [
        ("SessionBegin", app[0], ["SessionBeginResponse"]),
        ("DnasSignaturePost", app[1], []),
        ("AccountLogin x2", f"{app[2]}+{app[3]}", ["AccountLoginResponse"]),
    ]
    sends = [e for e in script.events if isinstance(e, Send)]
    assert [s.exchange for s in sends] == [0, 1, 2, 2]


def test_a_new_handshake_on_the_same_peer_is_a_new_connection():
    connect = rtm.ClientConnectTcp(world_id=1, app_id=10684).encode(108)
    one = [("recv", RT.CLIENT_CRYPTKEY_PUBLIC, bytes(64)), ("recv", RT.CLIENT_CONNECT_TCP, connect)]
    script = build_script(from_hexlog(_log(*one, ("recv", RT.CLIENT_DISCONNECT, b""), *one)))
    assert [c.label for c in script.conns] == [f"MAS {PEER}", f"MAS {PEER} #2"]
    assert [type(e).__name__ for e in script.events] == ["Connect", "Disconnect", "Connect", "Disconnect"]


# --- substitutions -------------------------------------------------------------------------------

#: b41 frame 93, GetMyClans: message id and session key with stack garbage after their NULs
GET_MY_CLANS = bytes.fromhex(
    "017c31001c010000000001000000000000000d051e00003133303838000000000000d0f1ff01000000000100000001000000"
)


def test_substitution_rewrites_only_the_bytes_of_changed_fields():
    vm = ValueMap()
    vm.learn(SessionBeginResponse(session_key="13088"), SessionBeginResponse(session_key="7"))
    out = vm.apply(GET_MY_CLANS, V110)
    assert decode_app(out, V110).session_key == "7"
    changed = [i for i, (a, b) in enumerate(zip(GET_MY_CLANS, out, strict=True)) if a != b]
    assert changed == [23, 24, 25, 26, 27]  # "13088" -> "7\0\0\0\0"; the garbage after it stays
    assert vm.apply(out, V110) == out  # nothing left to map


def test_connect_keys_come_from_our_login_answer():
    def login(world, skey, akey):
        ci = NetConnectionInfo(target_world_id=world, session_key=skey, access_key=akey)
        return AccountLoginResponse(account_id=world + 100, world_id=world, connect_info=ci)

    vm = ValueMap()
    assert vm.connect_keys(9, None, None) == (9, None, None)
    vm.learn(login(66, "13088", "Kw3X"), login(1, "7", "ours-token"))
    assert vm.connect_keys(66, "13088", "Kw3X") == (1, "7", "ours-token")
    # keys we never saw (a second MLS hop): the latest connect info we were handed
    assert vm.connect_keys(5, "13088", "other") == (1, "7", "ours-token")
    assert vm.get("account", 166) == 101


# --- masks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ctx", [CTX108, V110])
def test_field_ranges_agree_with_every_compiled_layout(ctx):
    for cls in message_types().values():
        if cls.VARIABLE:
            continue
        size = cls.body_size(ctx)
        ranges = field_ranges(cls, ctx, size)
        assert ranges is not None, cls.__name__
        assert ranges[-1][2] <= size and all(s <= e for _, s, e in ranges), cls.__name__


def test_compare_bytes_masks_ids_and_names_the_rest():
    def resp(world, status):
        from clank_lan.protocol.medius import CreateGameResponse

        return Wire(APP, encode_app(CreateGameResponse(message_id="1", status=status, world_id=world), V110))

    same = compare_bytes(resp(0x6D84, 0), resp(1, 0), V110)
    assert same.compared and same.equal and same.text() == "CreateGameResponse: identical outside the mask"
    diff = compare_bytes(resp(0x6D84, 0), resp(1, -1), V110)
    assert diff.compared and not diff.equal and diff.differing == ("status",)
    short = compare_bytes(resp(1, 0), Wire(APP, resp(1, 0).payload + b"\0"), V110)
    assert not short.compared and "sizes differ" in short.note
    accept = Wire(
        RT.SERVER_CONNECT_ACCEPT_TCP, bytes.fromhex("0000ec100000010032342e3231342e34352e313135000000")
    )
    ours = Wire(
        RT.SERVER_CONNECT_ACCEPT_TCP,
        rtm.ServerConnectAcceptTcp(scert_id=1, client_ip="127.0.0.1").encode(110),
    )
    assert compare_bytes(accept, ours, V110).equal
