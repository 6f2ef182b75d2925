"""Console-hosted games through MGCL: a host registers, consoles see and join it, it closes.

Every message goes through the real codec (encode_app / decode_app) on its way in and out, as it
would between a console and the MPS port.
"""

from __future__ import annotations

import itertools

import pytest

from clank_lan.mgcl_games import (
    JOIN_TIMEOUT,
    MAX_GAMES_PER_HOST,
    GameClosed,
    JoinAnswer,
    MgclGames,
    Reply,
)
from clank_lan.protocol.medius import CodecContext, decode_app, encode_app
from clank_lan.protocol.medius import mgcl as m
from clank_lan.protocol.medius.enums import (
    CallbackStatus,
    GameHostType,
    MgclError,
    MgclEventType,
    NetAddressType,
    NetConnectionType,
    WorldStatus,
)
from clank_lan.protocol.medius.structs import NetAddress, NetAddressList

SFOS = 10411
CTX = CodecContext(medius_version=108, app_id=SFOS)
HOST_LAN = "192.168.1.20"


def wire(msg):
    """The message as the other end decodes it."""
    return decode_app(encode_app(msg, CTX), CTX).canonical()


def host_addresses(public: str = "0.0.0.0", private: str = HOST_LAN, port: int = 3658) -> NetAddressList:
    return NetAddressList(
        addresses=(
            NetAddress(address_type=NetAddressType.EXTERNAL, address=public, port=port),
            NetAddress(address_type=NetAddressType.INTERNAL, address=private, port=port),
        )
    )


class Fixture:
    def __init__(self) -> None:
        ids = itertools.count(100)
        self.log: list[str] = []
        self.games = MgclGames(lambda: next(ids), log=self.log.append)

    def send(self, host, msg, now: float = 0.0):
        out = self.games.on_message(host, wire(msg), now)
        return [Reply(e.to, wire(e.message)) if isinstance(e, Reply) else e for e in out]

    def host_session(self, host="host", observed=HOST_LAN, app_id=SFOS) -> None:
        assert self.games.connect(host, observed)
        [auth] = self.send(
            host, m.ServerAuthenticationRequest(message_id="a1", address_list=host_addresses())
        )
        assert auth.message.confirmation == MgclError.SUCCESS
        [begin] = self.send(
            host,
            m.ServerSessionBeginRequest(
                message_id="s1", app_id=app_id, server_type=GameHostType.PEER_TO_PEER
            ),
        )
        assert (begin.to, begin.message.confirmation) == (host, MgclError.SUCCESS)

    def create(self, host="host", name="Omega Match", **fields) -> int:
        msg = m.ServerCreateGameOnMeRequest(
            message_id="c1",
            game_name=name,
            app_id=SFOS,
            max_players=8,
            min_players=2,
            game_host_type=GameHostType.PEER_TO_PEER,
            **fields,
        )
        [reply] = self.send(host, msg)
        assert isinstance(reply.message, m.ServerCreateGameOnMeResponse)
        assert reply.message.confirmation == MgclError.SUCCESS, self.log
        return reply.message.world_id


@pytest.fixture
def f() -> Fixture:
    return Fixture()


def test_a_hosted_game_is_listed_with_the_hosts_public_and_private_addresses(f):
    f.host_session()
    world = f.create()
    [game] = f.games.games_for(frozenset({SFOS}))
    assert (game.world_id, game.name, game.max_players, game.status) == (
        world,
        "Omega Match",
        8,
        WorldStatus.STAGING,
    )
    public, private = game.addresses.addresses
    # the host did not know its public address (0.0.0.0): the one its connection comes from is used
    assert (public.address_type, public.address, public.port) == (NetAddressType.EXTERNAL, HOST_LAN, 3658)
    assert (private.address_type, private.address) == (NetAddressType.INTERNAL, HOST_LAN)
    assert f.games.games_for(frozenset({10684})) == []


def test_a_second_console_joins_through_the_host_and_receives_both_addresses(f):
    f.host_session()
    world = f.create(game_password="pw")
    assert f.games.request_join("joiner", "j1", world, "JKEY", "wrong", 1.0) == [
        JoinAnswer("joiner", "j1", CallbackStatus.INVALID_PASSWORD, world, None)
    ]
    [ask] = f.games.request_join("joiner", "j1", world, "JKEY", "pw", 1.0)
    assert ask.to == "host"
    ask_msg = wire(ask.message)
    assert isinstance(ask_msg, m.ServerJoinGameRequest)
    assert (ask_msg.connect_info.session_key, ask_msg.connect_info.target_world_id) == ("JKEY", world)
    [answer] = f.send(
        "host",
        m.ServerJoinGameResponse(message_id=ask_msg.message_id, access_key="ACCESS", dme_client_index=1),
        2.0,
    )
    assert isinstance(answer, JoinAnswer)
    assert (answer.joiner, answer.message_id, answer.status, answer.world_id) == (
        "joiner",
        "j1",
        CallbackStatus.SUCCESS,
        world,
    )
    info = answer.connect_info
    assert info.connection_type == NetConnectionType.PEER_TO_PEER_UDP
    assert (info.session_key, info.access_key, info.target_world_id) == ("JKEY", "ACCESS", world)
    assert [(a.address_type, a.address) for a in info.address_list.addresses] == [
        (NetAddressType.EXTERNAL, HOST_LAN),
        (NetAddressType.INTERNAL, HOST_LAN),
    ]


def test_a_join_the_host_refuses_or_never_answers_is_refused(f):
    f.host_session()
    world = f.create()
    [ask] = f.games.request_join("a", "j1", world, "K1", "", 0.0)
    [answer] = f.send("host", m.ServerJoinGameResponse(message_id=ask.message.message_id, confirmation=-12))
    assert answer.status == CallbackStatus.REQUEST_DENIED
    f.games.request_join("b", "j2", world, "K2", "", 0.0)
    assert f.games.expire(JOIN_TIMEOUT - 0.1) == []
    assert f.games.expire(JOIN_TIMEOUT) == [JoinAnswer("b", "j2", CallbackStatus.REQUEST_DENIED, world, None)]
    f.games.request_join("c", "j3", world, "K3", "", 0.0)
    f.games.forget_joiner("c")
    assert f.games.expire(100.0) == []
    assert f.send("host", m.ServerJoinGameResponse(message_id="nobody")) == []
    assert "unknown join" in f.log[-1]


def test_the_game_closes_when_the_host_ends_it_and_joiners_waiting_are_told(f):
    f.host_session()
    world = f.create()
    f.games.request_join("a", "j1", world, "K1", "", 0.0)
    out = f.send("host", m.ServerEndGameOnMeRequest(message_id="e1", world_id=world))
    assert out[0].message.confirmation == MgclError.SUCCESS
    assert out[1:] == [
        JoinAnswer("a", "j1", CallbackStatus.GAME_NOT_FOUND, world, None),
        GameClosed(world, "its host ended it"),
    ]
    assert f.games.games == {}
    assert f.games.request_join("a", "j2", world, "K1", "", 0.0)[0].status == CallbackStatus.GAME_NOT_FOUND


def test_the_game_closes_when_the_host_drops_or_ends_its_session(f):
    f.host_session()
    w1, w2 = f.create(name="one"), f.create(name="two")
    assert f.games.disconnect("host", 5.0) == [
        GameClosed(w1, "its host disconnected"),
        GameClosed(w2, "its host disconnected"),
    ]
    assert f.games.disconnect("host", 5.0) == []
    f.host_session("h2")
    w3 = f.create("h2", name="three")
    out = f.send("h2", m.ServerSessionEndRequest(message_id="x"))
    assert isinstance(out[0].message, m.ServerSessionEndResponse)
    assert out[1] == GameClosed(w3, "its host ended the session")


def test_world_reports_and_connect_notifications_keep_the_listing_current(f):
    f.host_session()
    world = f.create()
    report = m.ServerWorldReportOnMe(
        message_id="r",
        world_id=world,
        game_name="Renamed",
        max_players=4,
        player_count=3,
        world_status=WorldStatus.ACTIVE,
        generic_field_8=9,
    )
    assert f.send("host", report) == []
    g = f.games.games[world]
    assert (g.name, g.max_players, g.player_count, g.status, g.generic_fields[7]) == ("Renamed", 4, 3, 2, 9)
    for key in ("p1", "p2", "p3", "p4", "p5"):
        f.send(
            "host",
            m.ServerConnectNotification(
                connect_event_type=MgclEventType.CLIENT_CONNECT, world_uid=world, player_session_key=key
            ),
        )
    assert g.player_count == 4 and not g.joinable  # bounded by max_players
    assert f.games.request_join("x", "j", world, "K", "", 0.0)[0].status == CallbackStatus.WORLD_IS_FULL
    f.send(
        "host",
        m.ServerConnectNotification(
            connect_event_type=MgclEventType.CLIENT_DISCONNECT, world_uid=world, player_session_key="p1"
        ),
    )
    f.send(
        "host",
        m.ServerWorldReportOnMe(
            message_id="r", world_id=world, max_players=4, player_count=0, world_status=1
        ),
    )
    assert g.player_count == 3 and g.joinable
    out = f.send(
        "host", m.ServerWorldReportOnMe(message_id="r", world_id=world, world_status=WorldStatus.CLOSED)
    )
    assert out == [GameClosed(world, "its host reported it closed")]


def test_host_migration_moves_the_game_to_the_new_host_with_its_addresses(f):
    f.host_session("old", observed="192.168.1.20")
    f.host_session("new", observed="192.168.1.30")
    world = f.create("old")
    [reply] = f.send(
        "new",
        m.ServerMoveGameWorldOnMeRequest(
            message_id="mv",
            current_world_id=world,
            address_list=host_addresses("192.168.1.30", "192.168.1.30"),
        ),
    )
    assert (reply.message.confirmation, reply.message.world_id) == (MgclError.SUCCESS, world)
    assert f.games.games[world].host == "new"
    assert f.games.games[world].addresses.addresses[0].address == "192.168.1.30"
    assert f.games.disconnect("old", 1.0) == []  # no longer its game
    [bad] = f.send("new", m.ServerMoveGameWorldOnMeRequest(message_id="mv", current_world_id=999))
    assert bad.message.confirmation == MgclError.INVALID_ARG


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"game_name": ""}, MgclError.INVALID_ARG),
        ({"game_name": "bad\x01name"}, MgclError.INVALID_ARG),
        ({"max_players": 0}, MgclError.INVALID_ARG),
        ({"max_players": 65}, MgclError.INVALID_ARG),
        ({"min_players": 9}, MgclError.INVALID_ARG),
        ({"game_host_type": 99}, MgclError.INVALID_ARG),
        ({"game_name": "OMEGA MATCH"}, MgclError.GAME_NAME_EXISTS),
    ],
)
def test_a_bad_create_gets_a_failure_confirmation_and_a_logged_reason(f, fields, code):
    f.host_session()
    f.create()
    base = {"message_id": "c", "game_name": "x", "app_id": SFOS, "max_players": 8, "min_players": 2}
    [reply] = f.send("host", m.ServerCreateGameOnMeRequest(**(base | fields)))
    assert reply.message.confirmation == code
    assert "cannot create" in f.log[-1]
    assert len(f.games.games) == 1


def test_limits_session_order_and_ownership(f):
    assert f.games.connect("early", HOST_LAN)
    [reply] = f.send("early", m.ServerCreateGameOnSelfRequest(message_id="c", game_name="g", max_players=2))
    assert reply.message.confirmation == MgclError.SESSION_BEGIN_FAILED
    [reply] = f.send("early", m.ServerSessionBeginRequest(message_id="s", app_id=0))
    assert reply.message.confirmation == MgclError.INVALID_ARG
    f.host_session()
    for i in range(MAX_GAMES_PER_HOST):
        f.create(name=f"g{i}")
    [reply] = f.send(
        "host", m.ServerCreateGameOnSelfRequest0(message_id="c", game_name="more", max_players=2)
    )
    assert reply.message.confirmation == MgclError.NUM_GAME_WORLDS_PER_LOBBY_WORLD_EXCEEDED
    f.host_session("other")
    some_world = next(iter(f.games.games))
    [reply] = f.send("other", m.ServerEndGameOnMeRequest(message_id="e", world_id=some_world))
    assert reply.message.confirmation == MgclError.INVALID_ARG
    assert some_world in f.games.games
    assert "which it does not host" in f.log[-1]


def test_messages_medius_sends_to_hosts_and_unknown_connections_are_ignored_with_a_reason(f):
    assert f.send("stranger", m.ServerReport()) == []
    assert "not a host" in f.log[-1]
    f.host_session()
    assert f.send("host", m.ServerCreateGameRequest(message_id="x", app_id=SFOS, max_clients=4)) == []
    assert "sent by Medius" in f.log[-1]
    assert f.send("host", m.ServerWorldStatusResponse(message_id="x")) == []
    assert f.send("host", m.ServerReport(max_worlds=1)) == []
    [reply] = f.send("host", m.ServerSetAttributesRequest(message_id="sa", attributes=1))
    assert isinstance(reply.message, m.ServerSetAttributesResponse)


def test_the_host_table_is_bounded():
    games = MgclGames(itertools.count(1).__next__)
    for i in range(256):
        assert games.connect(i, "10.0.0.1")
    assert not games.connect("one too many", "10.0.0.1")
    assert games.connect(0, "10.0.0.1")  # a known connection is not counted twice
