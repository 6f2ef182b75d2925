"""Clan management through the MLS (issue 13 item 3), on the in-memory harness: leadership,
adding and inviting by name, revoking, the invitations sent, messages, and the clan ladder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clank_lan.protocol.medius import ladder as mld
from clank_lan.protocol.medius import social as mso
from clank_lan.protocol.medius.enums import ClanInvitationResponseStatus, ClanMessageStatus, SortOrder
from tests.test_lobby_harness import Console, Net, S, open_net


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


def _clan(net: Net, name: str = "Rangers") -> tuple[Console, Console, int]:
    leader, other = Console(net), Console(net)
    leader.login("leader")
    other.login("other")
    made = leader.one(leader.mls, mso.CreateClanRequest(message_id="c", clan_name=name))
    assert made.status == S.SUCCESS
    return leader, other, made.clan_id


def test_invite_by_name_list_sent_and_revoke(net: Net):
    leader, other, clan_id = _clan(net)
    answer = leader.one(
        leader.mls, mso.InvitePlayerToClanByNameRequest(message_id="i", account_name="OTHER", text="hi")
    )
    assert type(answer) is mso.InvitePlayerToClanResponse and answer.status == S.SUCCESS
    unknown = leader.one(
        leader.mls, mso.InvitePlayerToClanByNameRequest(message_id="i", account_name="nobody")
    )
    assert unknown.status == S.ACCOUNT_NOT_FOUND
    [sent] = leader.send(leader.mls, mso.GetClanInvitationsSentRequest(message_id="s"))
    assert (sent.account_name, sent.response_status, sent.end_of_list) == ("other", 0, True)
    oid = other.session.account_id
    assert leader.one(
        leader.mls, mso.RevokeClanInvitationRequest(message_id="r", player_account_id=oid)
    ).status == (S.SUCCESS)
    again = leader.one(leader.mls, mso.RevokeClanInvitationRequest(message_id="r", player_account_id=oid))
    assert again.status == S.NO_RESULT
    [sent] = leader.send(leader.mls, mso.GetClanInvitationsSentRequest(message_id="s"))
    assert sent.response_status == ClanInvitationResponseStatus.REVOKED
    assert net.db.clans.pending_invitation(clan_id, oid) is None


def test_only_the_leader_manages_the_clan(net: Net):
    _leader, other, _clan_id = _clan(net)
    for req, cls in [
        (
            mso.RevokeClanInvitationRequest(message_id="x", player_account_id=1),
            mso.RevokeClanInvitationResponse,
        ),
        (mso.AddPlayerToClanRequest(message_id="x", player_account_id=1), mso.AddPlayerToClanResponse),
        (
            mso.TransferClanLeadershipRequest(message_id="x", new_leader_account_id=1),
            mso.TransferClanLeadershipResponse,
        ),
        (mso.ModifyClanMessageRequest(message_id="x", clan_message_id=1), mso.ModifyClanMessageResponse),
        (mso.DeleteClanMessageRequest(message_id="x", clan_message_id=1), mso.DeleteClanMessageResponse),
        (mso.GetClanInvitationsSentRequest(message_id="x"), mso.GetClanInvitationsSentResponse),
        (
            mso.InvitePlayerToClanByNameRequest(message_id="x", account_name="leader"),
            mso.InvitePlayerToClanResponse,
        ),
    ]:
        answer = other.one(other.mls, req)
        assert type(answer) is cls and answer.status == S.NOT_CLAN_LEADER, cls.__name__


def test_add_a_player_then_hand_over_the_leadership_by_name(net: Net):
    leader, other, clan_id = _clan(net)
    oid = other.session.account_id
    assert leader.one(
        leader.mls, mso.AddPlayerToClanRequest(message_id="a", player_account_id=oid)
    ).status == (S.SUCCESS)
    assert net.db.clans.membership(oid).clan_id == clan_id
    twice = leader.one(leader.mls, mso.AddPlayerToClanRequest(message_id="a", player_account_id=oid))
    assert twice.status != S.SUCCESS
    moved = leader.one(
        leader.mls, mso.TransferClanLeadershipRequest(message_id="t", new_leader_account_name="other")
    )
    assert moved.status == S.SUCCESS and net.db.clans.get(clan_id).leader_id == oid
    nobody = other.one(
        other.mls, mso.TransferClanLeadershipRequest(message_id="t", new_leader_account_id=4242)
    )
    assert nobody.status != S.SUCCESS and net.db.clans.get(clan_id).leader_id == oid


def test_clan_messages_are_modified_deleted_and_all_listed(net: Net):
    leader, _other, clan_id = _clan(net)
    leader.one(leader.mls, mso.SendClanMessageRequest(message_id="m", text="first"))
    leader.one(leader.mls, mso.SendClanMessageRequest(message_id="m", text="second"))
    newest, oldest = net.db.clans.messages(clan_id)
    changed = leader.one(
        leader.mls, mso.ModifyClanMessageRequest(message_id="e", clan_message_id=oldest.id, text="1st")
    )
    assert changed.status == S.SUCCESS
    listed = leader.send(leader.mls, mso.GetAllClanMessagesRequest(message_id="l"))
    assert [(m.text, m.message_status) for m in listed] == [
        ("second", ClanMessageStatus.READ),
        ("1st", ClanMessageStatus.MODIFIED),
    ]
    assert listed[-1].end_of_list
    gone = leader.one(leader.mls, mso.DeleteClanMessageRequest(message_id="d", clan_message_id=newest.id))
    assert gone.status == S.SUCCESS
    missing = leader.one(leader.mls, mso.DeleteClanMessageRequest(message_id="d", clan_message_id=newest.id))
    assert missing.status == S.NO_RESULT
    [only] = leader.send(leader.mls, mso.GetAllClanMessagesRequest(message_id="l", page_size=5))
    assert only.text == "1st"


def test_the_clan_ladder_lists_and_places_clans(net: Net):
    a, b, first = _clan(net, "Alpha")
    second = b.one(b.mls, mso.CreateClanRequest(message_id="c", clan_name="Beta")).clan_id
    net.db.clans.set_wide_stats(first, [0, 10] + [0] * 98)
    net.db.clans.set_wide_stats(second, [0, 30] + [0] * 98)
    rows = a.send(
        a.mls, mld.ClanLadderListRequest(message_id="l", clan_ladder_stat_index=1, sort_order=1, page_size=10)
    )
    assert [(r.clan_name, r.ladder_position) for r in rows] == [("Beta", 1), ("Alpha", 2)]
    rows = a.send(
        a.mls,
        mld.ClanLadderListRequest(message_id="l", clan_ladder_stat_index=1, sort_order=SortOrder.ASCENDING),
    )
    assert [r.clan_name for r in rows] == ["Alpha", "Beta"]
    pos = a.one(
        a.mls,
        mld.ClanLadderPositionRequest(message_id="p", clan_id=first, clan_ladder_stat_index=1, sort_order=1),
    )
    assert (pos.status, pos.ladder_position, pos.total_rankings) == (S.SUCCESS, 2, 2)
    bad = a.one(a.mls, mld.ClanLadderPositionRequest(message_id="p", clan_id=999, clan_ladder_stat_index=1))
    assert bad.status == S.CLAN_NOT_FOUND
    out_of_range = a.one(a.mls, mld.ClanLadderListRequest(message_id="l", clan_ladder_stat_index=100))
    assert out_of_range.status == S.NO_RESULT


def test_a_clanless_player_lists_no_messages(net: Net):
    c = Console(net)
    c.login("solo")
    [none] = c.send(c.mls, mso.GetAllClanMessagesRequest(message_id="l"))
    assert none.status == S.NO_RESULT and none.end_of_list
