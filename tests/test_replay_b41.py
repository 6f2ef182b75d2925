"""The Deadlocked client of b41.pcap replayed against our servers, newserv-style: MUIS, MAS and both
MLS connections in order against one engine (the MAS login creates the account), every client
message answered with the RT id and Medius type Sony answered with (or, like Sony, not at all)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from clank_lan.protocol.medius import CodecContext, decode_app
from clank_lan.replay import ReplayReport, ReplayScript, Timing, build_script, load_recording, replay
from tests.conftest import running_engine

B41 = Path(__file__).parent / "fixtures" / "b41.pcap"
CONNS = ["MUIS t1", "MAS t2", "MLS t3", "MLS t4"]
V110 = CodecContext(medius_version=110, app_id=11184)


async def _replay(script: ReplayScript) -> ReplayReport:
    async with running_engine() as engine:
        return await replay(script, engine, timing=Timing(answer=1.0))


@pytest.fixture(scope="module")
def b41() -> tuple[ReplayScript, ReplayReport]:
    script = build_script(load_recording(B41))
    return script, trio.run(_replay, script)


def test_every_lobby_connection_is_replayed_in_order(b41):
    script, report = b41
    assert [c.label for c in script.conns] == CONNS
    assert [s.conn for s in report.steps if s.kind == "handshake"] == CONNS
    assert all((c.version, c.app_id) == (110, 11184) for c in script.conns)
    assert report.notes[0] == "136 DME frames not replayed (only MUIS, MAS, MLS are)"
    assert report.duration < 10, report.duration


@pytest.mark.parametrize("conn", CONNS)
def test_connection_answers_match_sony(b41, conn):
    _, report = b41
    steps = report.for_conn(conn)
    assert steps[0].kind == "handshake"
    bad = [s for s in steps if not s.ok]
    assert not bad, "\n\n".join(s.listing() for s in bad)


@pytest.mark.parametrize("conn", CONNS)
def test_handshake_server_frames_follow_sonys_sequence(b41, conn):
    _, report = b41
    (hs,) = [s for s in report.for_conn(conn) if s.kind == "handshake"]
    seq = [
        "SERVER_HELLO",
        "SERVER_CRYPTKEY_PEER",
        "SERVER_CONNECT_REQUIRE",
        "SERVER_CRYPTKEY_GAME",
        "SERVER_CONNECT_ACCEPT_TCP",
        "SERVER_CONNECT_COMPLETE",
    ]
    assert [w.name for w in hs.expected] == [w.name for w in hs.actual] == seq
    assert [w.size for w in hs.expected] == [w.size for w in hs.actual] == [4, 64, 3, 64, 24, 2]


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("frame 33", "GetBuddyList_ExtraInfo"),  # Sony's MAS ignores it; so does ours
        ("frame 41", "DnasSignaturePost"),
        ("frame 66", "UpdateUserState"),
        ("frame 285", "PlayerReport"),
        ("frame 318", "WorldReport"),
    ],
)
def test_unanswered_messages_stay_unanswered(b41, source, name):
    _, report = b41
    step = report.step(source)
    assert step.what.startswith(name)
    assert step.sent and step.expected == () and step.actual == (), step.listing()


@pytest.mark.parametrize(
    ("source", "answers"),
    [
        ("frame 13", {"UniverseSvoURLResponse", "UniverseVariableInformationResponse"}),  # fragmented
        ("frame 34", {"SessionBeginResponse"}),
        ("frame 42", {"AccountLoginResponse"}),
        ("frame 65", {"GetBuddyList_ExtraInfoResponse"}),
        ("frame 94", {"FileDownloadResponse"}),
        ("frame 202", {"GetAnnouncementsResponse"}),
        ("frame 258", {"CreateChannelResponse"}),
        ("frame 278", {"CreateGameResponse"}),
        ("frame 283", {"GetServerTimeResponse"}),
        ("frame 374", {"GetGameListFilterResponse"}),
    ],
)
def test_answer_types(b41, source, answers):
    _, report = b41
    step = report.step(source)
    assert {w.name for w in step.expected} == {w.name for w in step.actual} == answers, step.listing()


def test_ids_and_keys_handed_out_by_our_servers_are_used(b41):
    _, report = b41
    created = decode_app(report.step("frame 258").actual[0].payload, V110)  # CreateChannelResponse
    join = report.step("frame 260")
    sent = decode_app(join.sent[0].payload, V110)
    assert sent.world_id == created.world_id != 0x6D83  # Sony's channel id replaced by ours
    answer = decode_app(join.actual[0].payload, V110)
    assert answer.status == 0 and answer.connect_info.target_world_id == created.world_id
    # the second MLS connection came in with the keys of that JoinChannelResponse and was accepted
    assert report.for_conn("MLS t4")[0].ok
    game = decode_app(report.step("frame 278").actual[0].payload, V110)
    joined = decode_app(report.step("frame 284").actual[0].payload, V110)
    assert game.status == 0 and joined.status == 0


def test_byte_for_byte_matches_are_reported(b41):
    _, report = b41
    identical = set(report.identical)
    for item in [
        ("frame 34", "SessionBeginResponse"),
        ("frame 39", "StatusResponse0"),
        ("frame 42", "AccountLoginResponse"),
        ("frame 87", "AccountUpdateStatsResponse"),
        ("frame 258", "CreateChannelResponse"),
        ("frame 278", "CreateGameResponse"),
        ("frame 374", "GetGameListFilterResponse"),
    ]:
        assert item in identical, item
    # content that differs is named by field: Sony had buddies, our fresh database has none
    (check,) = report.step("frame 65").bytes
    assert not check.equal and "account_name" in check.differing
    assert "identical outside the mask" in report.summary()
