"""Table-driven tests of the MLS lobby handlers: channels, players, chat, binary messages, the
session messages (request in, answers and state out), on the in-memory harness."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from clank_lan.events import ChatLine
from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import lobby as ml
from clank_lan.protocol.medius import session as ms
from clank_lan.protocol.medius import social as mso
from clank_lan.protocol.medius.enums import ChatMessageType, PlayerStatus, UserAction
from tests.test_lobby_harness import APP_DL, Console, Net, S, open_net

CT = ChatMessageType


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net(
        '[[lobby.channels]]\nname = "Secret"\ntitle = "uya"\npassword = "pw"\nmax_players = 1\n'
    )


def two(net: Net) -> tuple[Console, Console]:
    a, b = Console(net), Console(net)
    a.login("alice")
    b.login("bob")
    return a, b


# --- channels ----------------------------------------------------------------------------------


def test_channel_lists_page_and_end(net: Net):
    a, _ = two(net)
    channels = net.svc.channels_for(a.session)
    assert [c.name for c in channels][-1] == "Secret" and len(channels) >= 2
    every = a.send(a.mls, ml.ChannelListRequest(message_id="1", page_id=1, page_size=0))
    assert [x.lobby_name for x in every] == [c.name for c in channels] and every[-1].end_of_list
    assert every[0].player_count == 2
    (second,) = a.send(a.mls, ml.ChannelListRequest(message_id="2", page_id=2, page_size=1))
    assert second.world_id == channels[1].id
    (none,) = a.send(a.mls, ml.ChannelListRequest(message_id="3", page_id=9, page_size=5))
    assert none.status == S.NO_RESULT


@pytest.mark.parametrize(
    "cls", [ml.ChannelListExtraInfo0Request, ml.ChannelListExtraInfo1Request, ml.ChannelListExtraInfoRequest]
)
def test_channel_list_extra_info(net: Net, cls):
    a, _ = two(net)
    answers = a.send(a.mls, cls(message_id="1", page_id=1, page_size=10))
    secret = answers[-1]
    assert secret.lobby_name == "Secret" and secret.security_level == 1 and secret.max_players == 1
    assert answers[0].player_count == 2 and answers[0].game_world_count == 0
    (empty,) = a.send(a.mls, cls(message_id="2", page_id=5, page_size=10))
    assert empty.status == S.NO_RESULT


def test_channel_info(net: Net):
    a, _ = two(net)
    ch = net.svc.default_channel(a.session)
    info = a.one(a.mls, ml.ChannelInfoRequest(message_id="1", world_id=ch.id))
    assert (info.lobby_name, info.active_player_count) == (ch.name, 2)
    assert a.one(a.mls, ml.ChannelInfoRequest(message_id="2", world_id=999)).status == S.CHANNEL_NOT_FOUND


def test_join_channel_rules(net: Net):
    a, b = two(net)
    secret = net.svc.channels_for(a.session)[-1]
    join = a.one(a.mls, ml.JoinChannelRequest(message_id="1", world_id=999))
    assert join.status == S.CHANNEL_NOT_FOUND
    bad = a.one(a.mls, ml.JoinChannelRequest(message_id="2", world_id=secret.id, lobby_channel_password="x"))
    assert bad.status == S.INVALID_PASSWORD
    ok = a.one(a.mls, ml.JoinChannelRequest(message_id="3", world_id=secret.id, lobby_channel_password="pw"))
    assert ok.status == S.SUCCESS and ok.connect_info.target_world_id == secret.id
    assert a.session.channel_id == secret.id and a.session in secret.members
    full = b.one(
        b.mls, ml.JoinChannelRequest(message_id="4", world_id=secret.id, lobby_channel_password="pw")
    )
    assert full.status == S.WORLD_IS_FULL
    again = a.one(
        a.mls, ml.JoinChannelRequest(message_id="5", world_id=secret.id, lobby_channel_password="pw")
    )
    assert again.status == S.SUCCESS  # already a member: not "full"


@pytest.mark.parametrize("cls", [ml.CreateChannelRequest, ml.CreateChannel1Request])
def test_create_channel(net: Net, cls):
    a, _ = two(net)
    made = a.one(a.mls, cls(message_id="1", lobby_name=" Mine ", max_players=0, lobby_password="p"))
    ch = net.svc.lobby.channels[made.world_id]
    assert made.status == S.SUCCESS and (ch.name, ch.max_players, ch.password) == ("Mine", 64, "p")
    assert a.one(a.mls, cls(message_id="2", lobby_name="mine")).status == S.CHANNEL_NAME_EXISTS
    assert a.one(a.mls, cls(message_id="3", lobby_name="  ")).status == S.FAIL


def test_channel_player_lists(net: Net):
    a, _b = two(net)
    ch = net.svc.default_channel(a.session)
    players = a.send(a.mls, ml.LobbyWorldPlayerListRequest(message_id="1", world_id=ch.id))
    assert [p.account_name for p in players] == ["alice", "bob"]
    assert players[0].player_status == PlayerStatus.IN_CHAT_WORLD and len(players[0].stats) == 256
    names = a.send(a.mls, ml.GetLobbyPlayerNamesRequest(message_id="2", world_id=0))  # 0: my channel
    assert [p.account_name for p in names] == ["alice", "bob"]
    extra = a.send(a.mls, ml.GetLobbyPlayerNamesExtraInfoRequest(message_id="3", world_id=ch.id))
    assert extra[1].online_state.lobby_name == ch.name
    dl = Console(net, app_id=APP_DL, version=110)
    dl.login("dl")
    for cls in (ml.LobbyWorldPlayerListRequest, ml.GetLobbyPlayerNamesRequest):
        (none,) = a.send(a.mls, cls(message_id="4", world_id=dl.session.channel_id))  # another title's
        assert none.status == S.NO_RESULT
    net.svc.lobby.leave_channel(a.session)
    (none,) = a.send(a.mls, ml.GetLobbyPlayerNamesExtraInfoRequest(message_id="5", world_id=0))
    assert none.status == S.NO_RESULT


@pytest.mark.parametrize("cls", [ml.SetLobbyWorldFilterRequest, ml.SetLobbyWorldFilter1Request])
def test_lobby_world_filter_is_echoed(net: Net, cls):
    a, _ = two(net)
    answer = a.one(a.mls, cls(message_id="1", filter_mask_1=5, lobby_filter_type=1, filter_mask_level=2))
    assert (answer.filter_mask_1, answer.lobby_filter_type, answer.filter_mask_level) == (5, 1, 2)


def test_world_security_levels(net: Net):
    a, _ = two(net)
    secret = net.svc.channels_for(a.session)[-1]
    chan = a.one(a.mls, ml.GetWorldSecurityLevelRequest(message_id="1", world_id=secret.id, app_type=1))
    assert chan.security_level == 1
    g = net.svc.lobby.add_game(group="x", app_id=1, name="g", host_type=0, created_at=0, password="p")
    game = a.one(a.mls, ml.GetWorldSecurityLevelRequest(message_id="2", world_id=g.id, app_type=0))
    assert game.security_level == 1
    none = a.one(a.mls, ml.GetWorldSecurityLevelRequest(message_id="3", world_id=4242, app_type=1))
    assert none.security_level == 0


def test_totals(net: Net):
    a, _ = two(net)
    Console(net, app_id=APP_DL, version=110).login("elsewhere")
    total = a.one(a.mls, ml.GetTotalChannelsRequest(message_id="1"))
    assert total.total == len(net.svc.channels_for(a.session))
    users = a.one(a.mls, ml.GetTotalUsersRequest(message_id="2"))
    assert (users.total_in_system, users.total_in_game) == (2, 0)


# --- chat --------------------------------------------------------------------------------------


def test_channel_chat_reaches_the_channel_and_the_bus(net: Net):
    a, b = two(net)
    c = Console(net, app_id=APP_DL, version=110)
    c.login("carol")
    assert a.send(a.mls, ml.ChatMessage(message_id="1", message_type=CT.BROADCAST, text="hi all")) == []
    assert b.mls.shared == b.mls.inbox != []  # one line for many: under the MLS's shared key
    (fwd,) = b.mls.take()
    assert (fwd.originator_account_name, fwd.text) == ("alice", "hi all")
    assert c.mls.take() == []  # another title's lobby
    (line,) = [e for e in net.events if isinstance(e, ChatLine)]
    assert (line.sender, line.text, line.whisper_to) == ("alice", "hi all", "")


def test_generic_chat_and_whispers(net: Net):
    a, b = two(net)
    third = Console(net)
    third.login("third")
    whisper = ml.GenericChatMessage(
        message_id="1", message_type=CT.WHISPER, target_id=b.session.account_id, text="psst"
    )
    a.send(a.mls, whisper)
    assert b.mls.shared == [] and b.mls.inbox != []  # for one console: under its own key
    (fwd,) = b.mls.take()
    assert type(fwd) is ml.GenericChatFwdMessage and fwd.text == "psst"
    assert fwd.time_stamp == int(net.deps.wall_clock())
    assert third.mls.take() == []
    assert [e.whisper_to for e in net.events if isinstance(e, ChatLine)] == ["bob"]


def test_chat_to_the_universe_clan_and_buddies(net: Net):
    a, b = two(net)
    secret = net.svc.channels_for(a.session)[-1]
    net.svc.lobby.join_channel(b.session, secret)  # another channel, same title
    a.send(a.mls, ml.ChatMessage(message_id="1", message_type=CT.BROADCAST_ACROSS_ENTIRE_UNIVERSE, text="u"))
    assert [m.text for m in b.mls.take()] == ["u"]
    a.send(a.mls, ml.ChatMessage(message_id="2", message_type=CT.CLAN, text="c"))
    assert b.mls.take() == []  # not in a clan together
    a.session.clan_id = b.session.clan_id = 7
    a.send(a.mls, ml.ChatMessage(message_id="3", message_type=CT.CLAN, text="c"))
    assert [m.text for m in b.mls.take()] == ["c"]
    a.send(a.mls, ml.ChatMessage(message_id="4", message_type=CT.BUDDY, text="b"))
    assert b.mls.take() == []
    net.db.buddies.add(a.session.account_id, b.session.account_id)
    a.send(a.mls, ml.ChatMessage(message_id="5", message_type=CT.BUDDY, text="b"))
    assert [m.text for m in b.mls.take()] == ["b"]


def test_chat_toggle_and_ignores_silence_a_sender(net: Net):
    a, b = two(net)
    assert b.one(b.mls, ml.ChatToggleRequest(message_id="1", chat_toggle=1)).status == S.SUCCESS
    a.send(a.mls, ml.ChatMessage(message_id="2", text="muted"))
    assert b.mls.take() == []
    b.one(b.mls, ml.ChatToggleRequest(message_id="3", chat_toggle=0))
    net.db.ignores.add(b.session.account_id, a.session.account_id)
    a.send(a.mls, ml.ChatMessage(message_id="4", text="ignored"))
    assert b.mls.take() == []


def test_chat_outside_a_channel_reaches_nobody(net: Net):
    a, b = two(net)
    net.svc.lobby.leave_channel(a.session)
    a.send(a.mls, ml.ChatMessage(message_id="1", text="void"))
    assert b.mls.take() == []


def test_chat_commands_run_for_operators_and_read_only_ones_for_everybody():
    for net in open_net('[lobby]\noperators = ["Boss"]\n'):
        a, b = two(net)
        boss = Console(net)
        boss.login("boss")
        a.send(a.mls, ml.ChatMessage(message_id="1", text="!players"))
        assert a.mls.system == ["ran players"] and b.mls.take() == []
        a.send(a.mls, ml.ChatMessage(message_id="2", text="!kick bob"))
        assert "is for operators" in a.mls.system[-1]
        boss.send(boss.mls, ml.ChatMessage(message_id="3", text="!kick bob"))
        assert net.commands == [("players", "alice"), ("kick bob", "boss")]
        assert all(o.startswith("lobby chat from ") for o in net.origins)  # the audit trail's "where"


def test_chat_filter_and_history_are_acknowledged(net: Net):
    a, _ = two(net)
    mask = b"\x03" + bytes(15)
    answer = a.one(a.mls, ml.GenericChatSetFilterRequest(message_id="1", chat_filter=mask))
    assert (answer.status, answer.chat_filter) == (S.SUCCESS, mask)
    assert a.one(a.mls, ml.SetAutoChatHistoryRequest(message_id="2", num_messages=5)).status == S.SUCCESS


@pytest.mark.parametrize(
    ("kind", "to_bob", "to_carol"), [(1, True, False), (2, True, True), (0, True, False)]
)
def test_binary_messages_are_routed(net: Net, kind, to_bob, to_carol):
    a, b = two(net)
    carol = Console(net)
    carol.login("carol")
    net.svc.lobby.leave_channel(carol.session)
    msg = ml.BinaryMessage(
        message_id="1", message_type=kind, target_account_id=b.session.account_id, payload=b"\x01\x02"
    )
    assert a.send(a.mls, msg) == []
    assert bool(b.mls.shared) == (kind != 1)  # a binary for one console stays under its own key
    got_b, got_c = b.mls.take(), carol.mls.take()
    assert bool(got_b) == to_bob and bool(got_c) == to_carol
    if got_b:
        assert got_b[0].originator_account_id == a.session.account_id and got_b[0].payload[:2] == b"\x01\x02"


# --- players -----------------------------------------------------------------------------------


def test_player_info(net: Net):
    a, b = two(net)
    info = a.one(a.mls, mso.PlayerInfoRequest(message_id="1", account_id=b.session.account_id))
    assert (info.account_name, info.player_status) == ("bob", PlayerStatus.IN_CHAT_WORLD)
    offline = net.db.accounts.create("uya", "sleeper", "pw")
    info = a.one(a.mls, mso.PlayerInfoRequest(message_id="2", account_id=offline))
    assert (info.account_name, info.player_status) == ("sleeper", PlayerStatus.DISCONNECTED)
    missing = a.one(a.mls, mso.PlayerInfoRequest(message_id="3", account_id=99999))
    assert missing.status == S.ACCOUNT_NOT_FOUND
    ghost = Console(net)
    mas = ghost.begin()
    anon = ghost.one(mas, ma.AnonymousLoginRequest(message_id="4", display_name="ghost"))
    info = a.one(a.mls, mso.PlayerInfoRequest(message_id="5", account_id=anon.account_id))
    assert info.account_name == "ghost" and info.player_status == PlayerStatus.IN_AUTH_WORLD


def test_find_player(net: Net):
    a, b = two(net)
    by_id = a.one(
        a.mls, mso.FindPlayerRequest(message_id="1", search_type=0, account_id=b.session.account_id)
    )
    assert (by_id.account_name, by_id.app_type, by_id.world_id) == ("bob", 1, b.session.channel_id)
    by_name = a.one(a.mls, mso.FindPlayerRequest(message_id="2", search_type=1, player_name="BOB"))
    assert by_name.account_id == b.session.account_id and by_name.end_of_list
    none = a.one(a.mls, mso.FindPlayerRequest(message_id="3", search_type=1, player_name="nobody"))
    assert none.status == S.NO_RESULT
    g = net.svc.lobby.add_game(group=b.session.group, app_id=1, name="g", host_type=0, created_at=0)
    b.session.game_id = g.id
    in_game = a.one(
        a.mls, mso.FindPlayerRequest(message_id="4", search_type=0, account_id=b.session.account_id)
    )
    assert (in_game.app_type, in_game.world_id) == (0, g.id)


# --- session messages on the MLS ---------------------------------------------------------------


def test_session_end_on_the_mls_ends_everything(net: Net):
    a, _ = two(net)
    key = a.session.session_key
    assert a.one(a.mls, ms.SessionEndRequest(message_id="1")).status == S.SUCCESS
    assert key not in net.svc.lobby.sessions and a.mls.closed


def test_user_state_left_game_world_leaves_the_game(net: Net, caplog):
    caplog.set_level(logging.INFO)
    a, _ = two(net)
    g = net.svc.lobby.add_game(group=a.session.group, app_id=1, name="g", host_type=2, created_at=0)
    a.session.game_id = g.id
    assert a.send(a.mls, ms.UpdateUserState(user_action=UserAction.KEEP_ALIVE)) == []
    assert a.session.game_id == g.id
    assert a.send(a.mls, ms.UpdateUserState(user_action=UserAction.LEFT_GAME_WORLD)) == []
    assert a.session.game_id is None
