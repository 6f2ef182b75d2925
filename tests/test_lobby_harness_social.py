"""Table-driven tests of the MLS handlers for what persists (stats, ladders, buddies, ignores,
clans, files) and of the operator actions, on the in-memory harness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clank_lan.db.errors import AlreadyExists, AlreadyInClan, DbError, NotClanMember, NotFound
from clank_lan.db.records import BanKind
from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import files as mf
from clank_lan.protocol.medius import game as mg
from clank_lan.protocol.medius import ladder as mld
from clank_lan.protocol.medius import social as mso
from clank_lan.protocol.medius.enums import PlayerStatus
from clank_lan.servers.lobby.mls_social import _clan_status
from tests.test_lobby_harness import APP_DL, Console, Net, S, open_net


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


def pair(net: Net, app_id: int = 10684, version: int = 108) -> tuple[Console, Console]:
    a, b = Console(net, app_id=app_id, version=version), Console(net, app_id=app_id, version=version)
    a.login("alice")
    b.login("bob")
    return a, b


def anonymous(net: Net, app_id: int = 10684) -> Console:
    c = Console(net, app_id=app_id)
    mas = c.begin()
    answer = c.one(mas, ma.AnonymousLoginRequest(message_id="a", display_name="anon"))
    info = answer.connect_info
    c.mls, _ = c.connect("mls", access_key=info.access_key, session_key=info.session_key)
    return c


# --- stats and ladders -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "response"),
    [
        (ma.AccountUpdateStatsRequest, ma.AccountUpdateStatsResponse),
        (ma.AccountUpdateStatsOpenAccessRequest, ma.AccountUpdateStatsOpenAccessResponse),
    ],
)
def test_update_stats(net: Net, cls, response):
    a, _ = pair(net)
    answer = a.one(a.mls, cls(message_id="1", stats=b"\x01" * 256))
    assert type(answer) is response and answer.status == S.SUCCESS
    assert net.db.accounts.get(a.session.account_id).stats == b"\x01" * 256
    anon = anonymous(net)
    assert anon.one(anon.mls, cls(message_id="2", stats=b"\x02" * 256)).status == S.PLAYER_NOT_PRIVILEGED


def test_wide_ladder_stats_for_accounts_and_clans(net: Net):
    a, _ = pair(net, APP_DL, 110)
    values = tuple(range(100))
    assert a.one(a.mls, mld.UpdateLadderStatsWideRequest(message_id="1", stats=values)).status == S.SUCCESS
    got = a.one(
        a.mls, mld.GetLadderStatsWideRequest(message_id="2", account_id_or_clan_id=a.session.account_id)
    )
    assert got.stats == values
    none = a.one(a.mls, mld.GetLadderStatsWideRequest(message_id="3", account_id_or_clan_id=4242))
    assert none.status == S.NO_RESULT
    clan_req = mld.UpdateLadderStatsWideRequest(message_id="4", ladder_type=1, stats=values)
    assert a.one(a.mls, clan_req).status == S.NOT_CLAN_MEMBER
    clan = a.one(a.mls, mso.CreateClanRequest(message_id="5", clan_name="Wide"))
    assert a.one(a.mls, clan_req).status == S.SUCCESS
    got = a.one(
        a.mls,
        mld.GetLadderStatsWideRequest(message_id="6", ladder_type=1, account_id_or_clan_id=clan.clan_id),
    )
    assert got.stats == values
    none = a.one(
        a.mls, mld.GetLadderStatsWideRequest(message_id="7", ladder_type=1, account_id_or_clan_id=99)
    )
    assert none.status == S.NO_RESULT
    anon = anonymous(net, APP_DL)
    assert anon.one(anon.mls, clan_req).status == S.PLAYER_NOT_PRIVILEGED


def test_ladder_stats_positions_and_lists(net: Net):
    a, b = pair(net)
    for c, v in ((a, 10), (b, 20)):
        stats = (v,) + (0,) * 14
        assert c.one(c.mls, mld.UpdateLadderStatsRequest(message_id="1", stats=stats)).status == S.SUCCESS
        wide = (v,) + (0,) * 99
        c.one(c.mls, mld.UpdateLadderStatsWideRequest(message_id="2", stats=wide))
    got = a.one(a.mls, mld.GetLadderStatsRequest(message_id="3", account_id_or_clan_id=a.session.account_id))
    assert got.stats[0] == 10
    assert a.one(a.mls, mld.GetLadderStatsRequest(message_id="4", account_id_or_clan_id=999)).status == 1
    pos = a.one(
        a.mls,
        mld.LadderPositionExtraInfoRequest(
            message_id="5", account_id=a.session.account_id, ladder_stat_index=0, sort_order=1
        ),
    )
    assert (pos.ladder_position, pos.total_rankings) == (2, 2)
    bad = a.one(a.mls, mld.LadderPositionExtraInfoRequest(message_id="6", account_id=999))
    assert bad.status == S.NO_RESULT
    for cls in (mld.LadderListExtraInfoRequest, mld.LadderListExtraInfo0Request):
        rows = a.send(
            a.mls, cls(message_id="7", ladder_stat_index=0, sort_order=1, start_position=1, page_size=5)
        )
        assert [r.account_name for r in rows] == ["bob", "alice"] and rows[-1].end_of_list
        assert rows[0].online_state.connect_status == PlayerStatus.IN_CHAT_WORLD
    (none,) = a.send(a.mls, mld.LadderListExtraInfoRequest(message_id="8", ladder_stat_index=500))
    assert none.status == S.NO_RESULT
    assert a.one(a.mls, mld.GetTotalRankingsRequest(message_id="9")).total_rankings == 2
    anon = anonymous(net)
    refused = anon.one(anon.mls, mld.UpdateLadderStatsRequest(message_id="a", stats=(0,) * 15))
    assert refused.status == S.PLAYER_NOT_PRIVILEGED


# --- buddies and ignores -----------------------------------------------------------------------


def test_buddy_lists(net: Net):
    a, b = pair(net)
    bob = b.session.account_id
    assert a.one(a.mls, mso.AddToBuddyListRequest(message_id="1", account_id=bob)).status == S.SUCCESS
    assert (
        a.one(a.mls, mso.AddToBuddyListRequest(message_id="2", account_id=9999)).status == S.ACCOUNT_NOT_FOUND
    )
    mine = a.session.account_id
    assert (
        a.one(a.mls, mso.AddToBuddyListRequest(message_id="3", account_id=mine)).status == S.ACCOUNT_NOT_FOUND
    )
    (row,) = a.send(a.mls, mso.GetBuddyListRequest(message_id="4"))
    assert (row.account_name, row.player_status) == ("bob", PlayerStatus.IN_CHAT_WORLD)
    (extra,) = a.send(a.mls, mso.GetBuddyListExtraInfoRequest(message_id="5"))
    assert extra.online_state.lobby_world_id == b.session.channel_id
    assert a.one(a.mls, mso.RemoveFromBuddyListRequest(message_id="6", account_id=bob)).status == S.SUCCESS
    assert a.one(a.mls, mso.RemoveFromBuddyListRequest(message_id="7", account_id=bob)).status == S.NO_RESULT
    (none,) = a.send(a.mls, mso.GetBuddyListExtraInfoRequest(message_id="8"))
    assert none.status == S.NO_RESULT
    anon = anonymous(net)
    assert anon.one(anon.mls, mso.AddToBuddyListRequest(message_id="9", account_id=bob)).status == (
        S.PLAYER_NOT_PRIVILEGED
    )
    (none,) = anon.send(anon.mls, mso.GetBuddyListRequest(message_id="a"))
    assert none.status == S.NO_RESULT


@pytest.mark.parametrize("accept", [True, False])
def test_buddy_confirmation_round_trip(net: Net, accept):
    a, b = pair(net, APP_DL, 110)
    ask = mso.AddToBuddyListConfirmationRequest(
        message_id="ask", target_account_id=b.session.account_id, add_type=1
    )
    assert a.send(a.mls, ask) == []  # the answer comes when bob decides
    (fwd,) = b.mls.take()
    assert type(fwd) is mso.AddToBuddyListFwdConfirmation and fwd.originator_account_name == "alice"
    (inv,) = b.send(b.mls, mso.GetBuddyInvitationsRequest(message_id="1"))
    assert (inv.account_name, inv.add_type) == ("alice", 1)
    status = S.SUCCESS if accept else S.REQUEST_DENIED
    reply = mso.AddToBuddyListFwdConfirmationResponse(
        message_id="r", status=status, originator_account_id=a.session.account_id
    )
    assert b.send(b.mls, reply) == []
    (answer,) = a.mls.take()
    assert answer.message_id == "ask" and answer.status == status and answer.target_account_name == "bob"
    assert net.db.buddies.is_buddy(a.session.account_id, b.session.account_id) == accept
    assert b.send(b.mls, reply) == [] and a.mls.take() == []  # nothing pending any more


def test_buddy_confirmation_refusals(net: Net):
    a, _ = pair(net, APP_DL, 110)
    ask = mso.AddToBuddyListConfirmationRequest(message_id="1", target_account_id=4242)
    assert a.one(a.mls, ask).status == S.ACCOUNT_NOT_FOUND
    anon = anonymous(net, APP_DL)
    stray = mso.AddToBuddyListFwdConfirmationResponse(message_id="2", originator_account_id=1)
    assert anon.send(anon.mls, stray) == []
    (none,) = anon.send(anon.mls, mso.GetBuddyInvitationsRequest(message_id="3"))
    assert none.status == S.NO_RESULT


def test_ignore_list(net: Net):
    a, b = pair(net)
    bob = b.session.account_id
    assert a.one(a.mls, mso.AddToIgnoreListRequest(message_id="1", ignore_account_id=bob)).status == S.SUCCESS
    assert a.one(a.mls, mso.AddToIgnoreListRequest(message_id="2", ignore_account_id=777)).status == (
        S.ACCOUNT_NOT_FOUND
    )
    (row,) = a.send(a.mls, mso.GetIgnoreListRequest(message_id="3"))
    assert row.ignore_account_name == "bob" and row.player_status == PlayerStatus.IN_CHAT_WORLD
    assert a.one(a.mls, mso.RemoveFromIgnoreListRequest(message_id="4", ignore_account_id=bob)).status == 0
    assert a.one(a.mls, mso.RemoveFromIgnoreListRequest(message_id="5", ignore_account_id=bob)).status == 1
    anon = anonymous(net)
    (none,) = anon.send(anon.mls, mso.GetIgnoreListRequest(message_id="6"))
    assert none.status == S.NO_RESULT


# --- clans -------------------------------------------------------------------------------------


def test_clan_life_cycle(net: Net):
    a, b = pair(net)
    made = a.one(a.mls, mso.CreateClanRequest(message_id="1", clan_name="Ranger"))
    clan_id = made.clan_id
    assert made.status == S.SUCCESS and a.session.clan_id == clan_id
    assert a.one(a.mls, mso.CreateClanRequest(message_id="2", clan_name="ranger")).status != S.SUCCESS
    by_id = b.one(b.mls, mso.GetClanByIDRequest(message_id="3", clan_id=clan_id))
    assert (by_id.clan_name, by_id.leader_account_name) == ("Ranger", "alice")
    by_name = b.one(b.mls, mso.GetClanByNameRequest(message_id="4", clan_name="RANGER"))
    assert by_name.clan_id == clan_id
    assert b.one(b.mls, mso.GetClanByIDRequest(message_id="5", clan_id=99)).status == S.CLAN_NOT_FOUND
    assert b.one(b.mls, mso.GetClanByNameRequest(message_id="6", clan_name="x")).status == S.CLAN_NOT_FOUND
    # bob cannot invite; alice invites bob; bob sees and accepts
    bob = b.session.account_id
    assert b.one(b.mls, mso.InvitePlayerToClanRequest(message_id="7", player_account_id=bob)).status == (
        S.NOT_CLAN_LEADER
    )
    invite = mso.InvitePlayerToClanRequest(message_id="8", player_account_id=bob, text="join us")
    assert a.one(a.mls, invite).status == S.SUCCESS
    (inv,) = b.send(b.mls, mso.CheckMyClanInvitationsRequest(message_id="9"))
    assert (inv.clan_id, inv.text, inv.leader_account_name) == (clan_id, "join us", "alice")
    wrong = b.one(
        b.mls, mso.RespondToClanInvitationRequest(message_id="a", clan_invitation_id=999, response=1)
    )
    assert wrong.status == S.CLAN_NOT_FOUND
    ok = b.one(
        b.mls,
        mso.RespondToClanInvitationRequest(
            message_id="b", clan_invitation_id=inv.clan_invitation_id, response=1
        ),
    )
    assert ok.status == S.SUCCESS and b.session.clan_id == clan_id
    (mine,) = b.send(b.mls, mso.GetMyClansRequest(message_id="c"))
    assert mine.clan_id == clan_id and mine.end_of_list
    members = a.send(a.mls, mso.GetClanMemberListRequest(message_id="d", clan_id=clan_id))
    assert sorted(m.account_name for m in members) == ["alice", "bob"]
    extra = a.send(
        a.mls, mso.GetClanMemberListExtraInfoRequest(message_id="e", clan_id=clan_id, ladder_stat_index=0)
    )
    assert len(extra) == 2 and extra[-1].end_of_list
    # stats and messages
    stats = mso.UpdateClanStatsRequest(message_id="f", clan_id=clan_id, stats=b"\x05" * 256)
    assert a.one(a.mls, stats).status == S.SUCCESS
    assert net.db.clans.get(clan_id).stats == b"\x05" * 256
    other = mso.UpdateClanStatsRequest(message_id="g", clan_id=clan_id + 1, stats=bytes(256))
    assert a.one(a.mls, other).status == S.NOT_CLAN_MEMBER
    assert b.one(b.mls, mso.SendClanMessageRequest(message_id="h", text="gg")).status == S.SUCCESS
    (msg,) = a.send(a.mls, mso.GetMyClanMessagesRequest(message_id="i", clan_id=clan_id))
    assert msg.text == "gg"
    # bob leaves; alice cannot remove someone from another clan; alice disbands
    assert b.one(b.mls, mso.RemovePlayerFromClanRequest(message_id="j")).status == S.SUCCESS
    assert b.session.clan_id == 0
    assert b.one(b.mls, mso.SendClanMessageRequest(message_id="k", text="x")).status == S.NOT_CLAN_MEMBER
    kick = mso.RemovePlayerFromClanRequest(
        message_id="l", clan_id=clan_id, player_account_id=a.session.account_id
    )
    assert b.one(b.mls, kick).status == S.NOT_CLAN_LEADER
    assert b.one(b.mls, mso.DisbandClanRequest(message_id="m", clan_id=clan_id)).status == S.NOT_CLAN_LEADER
    assert a.one(a.mls, mso.DisbandClanRequest(message_id="n")).status == S.SUCCESS
    assert a.session.clan_id == 0 and not net.db.clans.get(clan_id).active


def test_clan_requests_from_anonymous_players(net: Net):
    anon = anonymous(net)
    assert anon.one(anon.mls, mso.CreateClanRequest(message_id="1", clan_name="A")).status == (
        S.PLAYER_NOT_PRIVILEGED
    )
    for cls in (mso.GetMyClansRequest, mso.CheckMyClanInvitationsRequest):
        (none,) = anon.send(anon.mls, cls(message_id="2"))
        assert none.status == S.NO_RESULT
    assert (
        anon.one(anon.mls, mso.SendClanMessageRequest(message_id="3", text="x")).status == S.NOT_CLAN_MEMBER
    )


def test_clan_database_refusals_become_statuses(net: Net):
    a, b = pair(net)
    made = a.one(a.mls, mso.CreateClanRequest(message_id="1", clan_name="One"))
    b.one(b.mls, mso.CreateClanRequest(message_id="2", clan_name="Two"))
    invite = mso.InvitePlayerToClanRequest(message_id="3", player_account_id=b.session.account_id)
    assert a.one(a.mls, invite).status == S.SUCCESS
    (inv,) = b.send(b.mls, mso.CheckMyClanInvitationsRequest(message_id="3b"))
    accept = mso.RespondToClanInvitationRequest(
        message_id="3c", clan_invitation_id=inv.clan_invitation_id, response=1
    )
    assert b.one(b.mls, accept).status == S.ALREADY_LEADER_OF_CLAN  # bob leads his own clan
    (none,) = a.send(a.mls, mso.GetMyClanMessagesRequest(message_id="4", clan_id=made.clan_id))
    assert none.status == S.NO_RESULT
    assert _clan_status(AlreadyExists("x")) == S.CLAN_NAME_IN_USE
    assert _clan_status(NotFound("x")) == S.CLAN_NOT_FOUND
    assert _clan_status(AlreadyInClan("x")) == S.ALREADY_LEADER_OF_CLAN
    assert _clan_status(NotClanMember("x")) == S.NOT_CLAN_MEMBER
    assert _clan_status(DbError("x")) == S.FAIL


def test_a_stale_clan_invitation_is_skipped(net: Net):
    a, b = pair(net)
    made = a.one(a.mls, mso.CreateClanRequest(message_id="1", clan_name="Gone"))
    a.one(a.mls, mso.InvitePlayerToClanRequest(message_id="2", player_account_id=b.session.account_id))
    net.db.clans._clans.pop(made.clan_id)  # the clan record vanished under the invitation
    (none,) = b.send(b.mls, mso.CheckMyClanInvitationsRequest(message_id="3"))
    assert none.status == S.NO_RESULT


# --- files -------------------------------------------------------------------------------------


def test_file_download_answers_what_sony_did(net: Net):
    a, _ = pair(net, APP_DL, 110)
    answer = a.one(a.mls, mf.FileDownloadRequest(message_id="1"))
    assert (answer.status, answer.xfer_status) == (S.DB_ERROR, 0)


# --- operator actions --------------------------------------------------------------------------


def test_broadcast_kick_and_disconnect_all(net: Net):
    a, b = pair(net)
    assert net.svc.broadcast("hello") == 2 and a.mls.system == ["hello"]
    assert not net.svc.kick("nobody", "x")
    assert net.svc.kick("BOB", "behave")
    assert b.mls.system[-1] == "behave" and b.mls.closed == "behave" and net.svc.lobby.by_name("bob") is None
    net.svc.disconnect_all("bye")
    assert a.mls.closed == "bye" and a.mls.system[-1] == "bye"


def test_ban_and_unban(net: Net):
    a, _ = pair(net)
    assert net.svc.ban("nobody", 5, "x") == "no account named 'nobody'"
    assert net.svc.ban("alice", 5, "spam") == "banned alice for 5 minutes: spam"
    assert a.mls.closed == "banned: spam"
    (ban,) = [x for x in net.db.bans.listing() if x.kind == BanKind.ACCOUNT]
    assert ban.expires == net.deps.wall_clock() + 300
    net.db.accounts.set_banned(net.db.accounts.by_name("uya", "alice").id, True)
    assert net.svc.unban("alice") == "lifted 2 ban(s) on alice"
    assert net.svc.unban("nobody") == "no account named 'nobody'"
    assert net.svc.ban("alice", 0, "for good").endswith("forever: for good")


def test_end_game_and_descriptions(net: Net):
    a, _ = pair(net)
    made = a.one(a.mls, mg.CreateGame1Request(message_id="1", game_name="Desc", max_players=4))
    assert "Desc" in net.svc.describe_games()[0] and "host=alice" in net.svc.describe_games()[0]
    rows = net.svc.describe_players()
    assert len(rows) == 2 and "channel" in rows[0]
    a.session.game_id = made.world_id
    assert "game" in net.svc.describe_players()[0]
    assert any("alice" in r for r in net.svc.describe_channels())
    assert net.svc.end_game(made.world_id) and not net.svc.end_game(made.world_id)
    net.svc.lobby.leave_channel(a.session)
    a.session.game_id = None
    assert "lobby" in net.svc.describe_players()[0]
    Console(net).begin()  # a session that never logged in is not listed
    assert len(net.svc.describe_players()) == 2
