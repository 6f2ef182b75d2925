"""Table-driven tests of the MLS game handlers and of the lobby's side of the DME (request in,
answers and state out), on the in-memory harness with the real sans-IO DME manager."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from clank_lan.protocol.medius import game as mg
from clank_lan.protocol.medius.enums import GameHostType, GameListFilterField, NetConnectionType
from clank_lan.protocol.medius.structs import NetAddress, NetAddressList
from clank_lan.servers.lobby.deps import AllowAll
from clank_lan.servers.lobby.mls_games import passes
from clank_lan.servers.lobby.state import GameFilter, WorldStatus
from tests.test_lobby_harness import APP_DL, LOBBY_IP, PORTS, Console, Net, S, open_net

F = GameListFilterField


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


def create(c: Console, name: str = "Arena", **kw):
    fields = {"min_players": 1, "max_players": 8, "game_host_type": GameHostType.CLIENT_SERVER, **kw}
    return c.one(c.mls, mg.CreateGame1Request(message_id=c.mid(), game_name=name, **fields))


def host_and_guest(net: Net, app_id: int = 10684, version: int = 108) -> tuple[Console, Console, int]:
    host, guest = Console(net, app_id=app_id, version=version), Console(net, app_id=app_id, version=version)
    host.login("host")
    guest.login("guest")
    made = (
        create(host)
        if version == 108
        else host.one(host.mls, mg.CreateGameRequest(message_id="c", game_name="Arena", max_players=8))
    )
    assert made.status == S.SUCCESS
    return host, guest, made.world_id


# --- create ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [mg.CreateGameRequest0, mg.CreateGame1Request, mg.CreateGameRequest])
def test_create_game_makes_a_dme_world(net: Net, cls):
    c = Console(net)
    c.login("maker")
    made = c.one(c.mls, cls(message_id="1", game_name=" Arena ", max_players=4, generic_field_1=9))
    g = net.svc.lobby.games[made.world_id]
    assert made.status == S.SUCCESS and g.name == "Arena" and g.generic_fields[0] == 9
    assert g.status == WorldStatus.STAGING and g.host is c.session and g.ends_with_host
    assert g.dme_world_id in net.dme.world_ids()
    assert g.idle_deadline == net.clock.t + net.config.timeouts.dme_empty_world
    assert [e.stage for e in net.events if getattr(e, "stage", "")][-1] == "game-created"


def test_create_game_refusals(net: Net):
    c = Console(net)
    c.login("maker")
    assert create(c, "  ").status == S.FAIL
    assert create(c, "Taken").status == S.SUCCESS
    refused = create(c, "TAKEN")
    assert refused.status == S.GAME_NAME_EXISTS and refused.world_id == -1
    for lo, hi in ((70000, 8), (-1, 8), (1, 70000), (1, -5), (9, 8)):  # (9, 8): more needed than fit
        assert create(c, f"Odd {lo} {hi}", min_players=lo, max_players=hi).status == S.INVALID_REQUEST_MSG
    too_big = create(c, "Huge", max_players=65)  # a DME world holds 64
    assert too_big.status == S.DME_ERROR and too_big.world_id == -1
    net.dme_running = False
    assert create(c, "No DME").status == S.TRANSACTION_TIMED_OUT
    assert [g.name for g in net.svc.lobby.games.values()] == ["Taken"]


def test_a_peer_to_peer_game_needs_no_dme(net: Net):
    net.dme_running = False
    c = Console(net)
    c.login("p2p")
    made = create(c, "P2P", game_host_type=GameHostType.PEER_TO_PEER)
    g = net.svc.lobby.games[made.world_id]
    assert made.status == S.SUCCESS and g.dme_world_id is None and g.status == WorldStatus.STAGING


# --- lists, info, filters ----------------------------------------------------------------------


def test_game_lists_show_visible_games(net: Net):
    host, guest, world = host_and_guest(net)
    (item,) = guest.send(guest.mls, mg.GameListRequest(message_id="1", page_id=1, page_size=10))
    assert (item.world_id, item.game_name, item.end_of_list) == (world, "Arena", True)
    net.svc.lobby.games[world].status = WorldStatus.PENDING_CREATION
    (none,) = guest.send(guest.mls, mg.GameListRequest(message_id="2", page_id=1, page_size=10))
    assert none.status == S.NO_RESULT
    (own,) = host.send(host.mls, mg.GameListRequest(message_id="3", page_id=1, page_size=10))
    assert own.world_id == world  # the host sees its own pending game


@pytest.mark.parametrize(
    ("cls", "response"),
    [
        (mg.GameListExtraInfo0Request, mg.GameListExtraInfoResponse0),
        (mg.GameListExtraInfoRequest, mg.GameListExtraInfoResponse),
    ],
)
def test_game_list_extra_info(net: Net, cls, response):
    _, guest, world = host_and_guest(net)
    (item,) = guest.send(guest.mls, cls(message_id="1", page_id=1, page_size=5))
    assert type(item) is response and item.world_id == world and item.max_players == 8
    (none,) = guest.send(guest.mls, cls(message_id="2", page_id=2, page_size=5))
    assert none.status == S.NO_RESULT


@pytest.mark.parametrize(
    ("cls", "response"),
    [(mg.GameInfo0Request, mg.GameInfoResponse0), (mg.GameInfoRequest, mg.GameInfoResponse)],
)
def test_game_info(net: Net, cls, response):
    _, guest, world = host_and_guest(net)
    info = guest.one(guest.mls, cls(message_id="1", world_id=world))
    assert type(info) is response and info.status == S.SUCCESS and info.game_name == "Arena"
    assert guest.one(guest.mls, cls(message_id="2", world_id=999)).status == S.GAME_NOT_FOUND


def test_game_player_list(net: Net):
    host, guest, world = host_and_guest(net)
    guest.one(guest.mls, mg.JoinGameRequest(message_id="j", world_id=world))
    players = host.send(host.mls, mg.GameWorldPlayerListRequest(message_id="1", world_id=world))
    assert [p.account_name for p in players] == ["guest"] and players[-1].end_of_list
    (none,) = host.send(host.mls, mg.GameWorldPlayerListRequest(message_id="2", world_id=777))
    assert none.status == S.NO_RESULT


@pytest.mark.parametrize(("world_type", "found"), [(0, ["Arena"]), (1, []), (2, ["Arena"])])
def test_find_world_by_name(net: Net, world_type, found):
    _, guest, _ = host_and_guest(net)
    answers = guest.send(
        guest.mls, mg.FindWorldByNameRequest(message_id="1", world_name="arena", world_type=world_type)
    )
    names = [a.world_name for a in answers if a.status == S.SUCCESS]
    assert names == found
    channel = net.svc.default_channel(guest.session).name
    answers = guest.send(
        guest.mls, mg.FindWorldByNameRequest(message_id="2", world_name=channel, world_type=world_type)
    )
    assert [a.app_type for a in answers if a.status == S.SUCCESS] == ([1] if world_type else [])


def test_total_games(net: Net):
    _, guest, _ = host_and_guest(net)
    assert guest.one(guest.mls, mg.GetTotalGamesRequest(message_id="1")).total == 1


def test_filters_old_and_new_forms(net: Net):
    _, guest, world = host_and_guest(net)
    f0 = guest.one(
        guest.mls,
        mg.SetGameListFilter0Request(
            message_id="1", filter_field=F.MAX_PLAYERS, comparison_operator=2, baseline_value=8
        ),
    )
    assert type(f0) is mg.SetGameListFilterResponse0 and f0.status == S.SUCCESS  # 1.08: no id on the wire
    assert list(guest.session.game_filters) == [1]
    listed = guest.send(guest.mls, mg.GameListRequest(message_id="2", page_id=1, page_size=0))
    assert [g.world_id for g in listed] == [world]
    (old,) = guest.send(guest.mls, mg.GetGameListFilterRequest(message_id="3"))
    assert type(old) is mg.GetGameListFilterResponse0 and old.baseline_value == 8
    f1 = guest.one(
        guest.mls,
        mg.SetGameListFilterRequest(
            message_id="4", filter_field=F.GENERIC_FIELD_1, mask=0xFF, comparison_operator=2, baseline_value=5
        ),
    )
    assert f1.filter_id == 2
    # UYA ORs its filters (Quirk.OR_GAME_LIST_FILTERS): one passing filter lists the game
    (either,) = guest.send(guest.mls, mg.GameListRequest(message_id="5", page_id=1, page_size=0))
    assert either.world_id == world
    cleared = guest.one(guest.mls, mg.ClearGameListFilterRequest(message_id="6", filter_id=2))
    assert cleared.status == S.SUCCESS and list(guest.session.game_filters) == [1]
    missing = guest.one(guest.mls, mg.ClearGameListFilter0Request(message_id="7", filter_id=9))
    assert missing.status == S.FILTER_NOT_FOUND
    assert guest.one(guest.mls, mg.ClearGameListFilter0Request(message_id="8", filter_id=0)).status == 0
    assert not guest.session.game_filters
    (empty,) = guest.send(guest.mls, mg.GetGameListFilterRequest(message_id="9"))
    assert empty.status == S.NO_RESULT


def test_filters_in_the_109_form(net: Net):
    c = Console(net, app_id=APP_DL, version=110)
    c.login("dl")
    c.one(
        c.mls, mg.SetGameListFilterRequest(message_id="1", filter_field=F.PLAYER_COUNT, comparison_operator=3)
    )
    (f,) = c.send(c.mls, mg.GetGameListFilterRequest(message_id="2"))
    assert type(f) is mg.GetGameListFilterResponse and f.filter_id == 1 and f.end_of_list
    c.session.game_filters.clear()
    (none,) = c.send(c.mls, mg.GetGameListFilterRequest(message_id="3"))
    assert type(none) is mg.GetGameListFilterResponse and none.status == S.NO_RESULT


@pytest.mark.parametrize("field", [int(f) for f in F if f <= 0x0F] + [0x13])
def test_every_filter_field_is_read(net: Net, field):
    _, _, world = host_and_guest(net)
    g = net.svc.lobby.games[world]
    always = GameFilter(1, field, 0, 5, -1)  # "!=" -1: every field value passes
    assert passes(g, [always], any_of=False)
    never = GameFilter(2, field, 0, 0, -1000)  # "<" -1000: none does
    assert passes(g, [always, never], any_of=True) and not passes(g, [always, never], any_of=False)


def test_an_unknown_filter_operator_means_equality_and_a_mask_applies(net: Net):
    _, _, world = host_and_guest(net)
    g = net.svc.lobby.games[world]  # max_players 8
    assert passes(g, [GameFilter(1, F.MAX_PLAYERS, 0, 99, 8)], any_of=False)
    assert not passes(g, [GameFilter(1, F.MAX_PLAYERS, 0, 99, 7)], any_of=False)
    assert passes(g, [GameFilter(1, F.MAX_PLAYERS, 0x3, 2, 0)], any_of=False)  # 8 & 3 == 0


# --- join --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app_id", "version", "connection"),
    [
        (10684, 108, NetConnectionType.CLIENT_SERVER_TCP_AUX_UDP),
        (APP_DL, 110, NetConnectionType.CLIENT_SERVER_TCP_AUX_UDP),
    ],
)
def test_join_reserves_a_dme_slot(net: Net, app_id, version, connection):
    _, guest, world = host_and_guest(net, app_id, version)
    cls = mg.JoinGameRequest0 if version == 108 else mg.JoinGameRequest
    answer = guest.one(guest.mls, cls(message_id="1", world_id=world))
    g = net.svc.lobby.games[world]
    info = answer.connect_info
    assert answer.status == S.SUCCESS and info.target_world_id == g.dme_world_id
    assert info.address_list.addresses[0].address == LOBBY_IP
    assert info.address_list.addresses[0].port == PORTS["dme_tcp"]
    assert info.connection_type in (connection, NetConnectionType.CLIENT_SERVER_TCP)
    assert guest.session.session_key in g.players and guest.session.game_id == world


def test_join_refusals(net: Net):
    host, guest, world = host_and_guest(net)
    assert guest.one(guest.mls, mg.JoinGameRequest(message_id="1", world_id=555)).status == S.GAME_NOT_FOUND
    g = net.svc.lobby.games[world]
    g.password = "pw"
    bad = guest.one(guest.mls, mg.JoinGameRequest(message_id="2", world_id=world, game_password="no"))
    assert bad.status == S.INVALID_PASSWORD
    assert host.one(host.mls, mg.JoinGameRequest(message_id="3", world_id=world)).status == S.SUCCESS
    g.password = ""
    g.max_players = 1
    assert guest.one(guest.mls, mg.JoinGameRequest(message_id="4", world_id=world)).status == S.WORLD_IS_FULL
    g.max_players = 8
    net.dme.end_world(g.dme_world_id, brutal=True)
    assert guest.one(guest.mls, mg.JoinGameRequest(message_id="5", world_id=world)).status == S.DME_ERROR


def test_join_any_game_with_world_minus_one(net: Net):
    _, guest, world = host_and_guest(net)
    assert guest.one(guest.mls, mg.JoinGameRequest(message_id="1", world_id=-1)).status == S.SUCCESS
    assert guest.session.game_id == world
    loner = Console(net)
    loner.login("loner")
    net.svc.lobby.games[world].password = "x"
    assert loner.one(loner.mls, mg.JoinGameRequest(message_id="2", world_id=-1)).status == S.GAME_NOT_FOUND


def test_admission_refuses_a_join(net: Net):
    class MatchOnly:
        def check_login(self, account_name, ip):
            return None

        def check_join(self, account_name, game):
            return "not in this match" if account_name == "guest" else None

    net.deps.admission = MatchOnly()
    _, guest, world = host_and_guest(net)
    answer = guest.one(guest.mls, mg.JoinGameRequest(message_id="1", world_id=world))
    assert answer.status == S.REQUEST_DENIED and guest.session.game_id is None


def test_a_peer_to_peer_join_gets_the_hosts_addresses(net: Net):
    host, guest = Console(net), Console(net)
    host.login("host")
    guest.login("guest")
    made = create(host, "P2P", game_host_type=GameHostType.PEER_TO_PEER)
    world = made.world_id
    first = guest.one(guest.mls, mg.JoinGameRequest0(message_id="1", world_id=world))
    addrs = first.connect_info.address_list.addresses
    assert first.connect_info.connection_type == NetConnectionType.PEER_TO_PEER_UDP
    assert addrs[0].address == host.ip and addrs[1].port == PORTS["nat"]
    own = NetAddressList(
        addresses=(NetAddress(address_type=1, address="192.168.0.9", port=3658), NetAddress())
    )
    host.one(host.mls, mg.JoinGameRequest0(message_id="2", world_id=world, address_list=own))
    again = guest.one(guest.mls, mg.JoinGameRequest0(message_id="3", world_id=world))
    assert again.connect_info.address_list.addresses[0].address == "192.168.0.9"
    g = net.svc.lobby.games[world]
    assert g.players[guest.session.session_key].index == 0 and g.idle_deadline is None


# --- reports -----------------------------------------------------------------------------------


def test_world_reports_from_the_host_drive_the_game(net: Net):
    host, guest, world = host_and_guest(net)
    g = net.svc.lobby.games[world]
    report = mg.WorldReport0(
        world_id=world,
        game_name="Renamed",
        max_players=6,
        world_status=WorldStatus.ACTIVE,
        generic_field_2=4,
        game_stats=b"S" * 256,
    )
    assert guest.send(guest.mls, report) == [] and g.name == "Arena"  # only the host's count
    host.send(host.mls, report)
    assert (g.name, g.max_players, g.status, g.generic_fields[1]) == ("Renamed", 6, WorldStatus.ACTIVE, 4)
    assert g.started_at == net.deps.wall_clock() and g.stats == b"S" * 256
    host.send(host.mls, mg.WorldReport(world_id=world, world_status=77, generic_field_8=3))
    assert g.status == WorldStatus.ACTIVE and g.generic_fields[7] == 3  # an unknown status is kept
    host.send(host.mls, mg.WorldReport(world_id=world, world_status=WorldStatus.CLOSED))
    assert world not in net.svc.lobby.games and g.ended_at is not None
    assert g.dme_world_id not in net.dme.world_ids()


def test_a_world_report_with_player_counts_out_of_range_is_not_stored(net: Net):
    host, guest, world = host_and_guest(net)
    g = net.svc.lobby.games[world]
    host.send(host.mls, mg.WorldReport0(world_id=world, min_players=70000, max_players=-1, game_name="Still"))
    assert (g.min_players, g.max_players, g.name) == (1, 8, "Still")
    (listed,) = guest.send(guest.mls, mg.GameListExtraInfo0Request(message_id="l", page_id=1, page_size=0))
    assert listed.max_players == 8


def test_a_closed_game_stays_closed(net: Net):
    host, _, world = host_and_guest(net)
    g = net.svc.lobby.games[world]
    g.status = WorldStatus.CLOSED
    host.send(host.mls, mg.WorldReport0(world_id=world, world_status=WorldStatus.ACTIVE))
    assert g.status == WorldStatus.CLOSED


def test_player_reports_store_stats(net: Net):
    host, _, world = host_and_guest(net)
    host.send(host.mls, mg.PlayerReport(world_id=world, stats=b"\x07" * 256))
    assert net.db.accounts.get(host.session.account_id).stats == b"\x07" * 256
    host.session.anonymous = True
    host.send(host.mls, mg.PlayerReport(world_id=world, stats=b"\x08" * 256))
    assert net.db.accounts.get(host.session.account_id).stats == b"\x07" * 256


def test_end_game_report_removes_the_game(net: Net, caplog):
    caplog.set_level(logging.INFO)
    host, _, world = host_and_guest(net)
    assert host.send(host.mls, mg.EndGameReport(world_id=999)) == []
    host.send(host.mls, mg.EndGameReport(world_id=world, winning_team="red", final_score=10))
    assert world not in net.svc.lobby.games
    assert any("ended: winner team" in r.getMessage() for r in caplog.records)


def test_the_end_game_report_reaches_the_admission_policy(net: Net):
    """A tournament scores a match from the end-game report, before the game is removed."""
    seen = []

    class Referee(AllowAll):
        def on_end_game_report(self, game_id, winning_team, winning_player, final_score, now=None):
            seen.append((game_id, winning_team, winning_player, final_score, game_id in net.svc.lobby.games))

    net.deps.admission = Referee()
    host, _, world = host_and_guest(net)
    host.send(host.mls, mg.EndGameReport(world_id=world, winning_player="alice", final_score=3))
    assert seen == [(world, "", "alice", 3, True)]


# --- the DME's callbacks -----------------------------------------------------------------------


def test_dme_connect_and_leave_update_the_game(net: Net):
    _host, guest, world = host_and_guest(net, APP_DL, 110)
    g = net.svc.lobby.games[world]
    guest.one(guest.mls, mg.JoinGameRequest(message_id="1", world_id=world))
    g.status = WorldStatus.PENDING_CREATION
    key = guest.session.session_key
    net.svc.on_dme_connected(g.dme_world_id, 1, key, net.clock.t)
    assert g.players[key].connected and g.status == WorldStatus.STAGING and g.idle_deadline is None
    net.svc.on_dme_connected(12345, 1, key, net.clock.t)  # an unknown world: nothing happens
    net.svc.on_dme_left(g.dme_world_id, 1, key, "left", net.clock.t)
    assert key not in g.players and guest.session.game_id is None
    assert g.idle_deadline == net.clock.t + net.config.timeouts.dme_empty_world
    net.tick(net.config.timeouts.dme_empty_world)
    assert world not in net.svc.lobby.games
    net.svc.on_dme_left(12345, 0, key, "left", net.clock.t)


def test_when_the_uya_host_leaves_the_game_ends(net: Net):
    host, guest, world = host_and_guest(net)
    g = net.svc.lobby.games[world]
    host.one(host.mls, mg.JoinGameRequest0(message_id="1", world_id=world))
    guest.one(guest.mls, mg.JoinGameRequest0(message_id="2", world_id=world))
    for s in (host.session, guest.session):
        net.svc.on_dme_connected(g.dme_world_id, g.players[s.session_key].index, s.session_key, net.clock.t)
    net.svc.on_dme_left(g.dme_world_id, 0, host.session.session_key, "left", net.clock.t)
    assert world not in net.svc.lobby.games and g.status == WorldStatus.CLOSED
    assert guest.session.game_id is None


def test_the_dme_removing_a_world_removes_its_game(net: Net):
    _, _, world = host_and_guest(net)
    g = net.svc.lobby.games[world]
    net.svc.on_dme_world_removed(g.dme_world_id, "empty", net.clock.t)
    assert world not in net.svc.lobby.games
    net.svc.on_dme_world_removed(g.dme_world_id, "again", net.clock.t)


def test_an_unused_game_goes_after_its_deadline(net: Net):
    _, _, world = host_and_guest(net)
    net.tick(net.config.timeouts.dme_empty_world + 0.5)
    assert world not in net.svc.lobby.games


def test_a_session_ending_leaves_its_game(net: Net):
    _, guest, world = host_and_guest(net)
    guest.one(guest.mls, mg.JoinGameRequest(message_id="1", world_id=world))
    g = net.svc.lobby.games[world]
    net.svc.end_session(guest.session, "gone")
    assert guest.mls.closed == "gone" and not g.players
