"""Every title of the table, scripted on the in-memory lobby harness: MAS login, a channel, then a
game (the DME hand-off, or for a console-hosted title a second console receiving the host's
addresses through MGCL on the MPS port); cross-region lobbies; the per-title answers of issue 13.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import encode_app
from clank_lan.protocol.medius import game as mg
from clank_lan.protocol.medius import lobby as ml
from clank_lan.protocol.medius import mgcl as mm
from clank_lan.protocol.medius import session as ms
from clank_lan.protocol.medius.enums import (
    GameHostType,
    MgclError,
    NetAddressType,
    NetConnectionType,
    TextFilterType,
)
from clank_lan.protocol.medius.structs import NetAddress, NetAddressList
from clank_lan.servers.lobby.app import codec_context
from clank_lan.titles import ALL_TITLES, Hosting, Title
from tests.test_lobby_harness import LOBBY_IP, PORTS, Console, Net, S, open_net

UYA_NTSC, UYA_PAL, UYA_BETA = 10684, 10683, 10680
#: Stand-ins for the titles whose app id no source gives (served as unknown titles).
_STAND_IN = itertools.count(900_001)


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


def _version(t: Title) -> int:
    return t.medius_version or 108


def _create(c: Console, name: str, host_type: int = GameHostType.CLIENT_SERVER):
    if c.version == 108:
        req = mg.CreateGame1Request(
            message_id=c.mid(), game_name=name, min_players=1, max_players=8, game_host_type=host_type
        )
    else:
        req = mg.CreateGameRequest(
            message_id=c.mid(), game_name=name, max_players=8, game_host_type=host_type
        )
    made = c.one(c.mls, req)
    assert made.status == S.SUCCESS, made
    return made.world_id


def _listed(c: Console) -> dict[int, str]:
    answers = c.send(c.mls, mg.GameListRequest(message_id=c.mid(), page_id=1, page_size=20))
    return {a.world_id: a.game_name for a in answers if a.status == S.SUCCESS}


def _join(c: Console, world_id: int):
    return c.one(c.mls, mg.JoinGameRequest(message_id=c.mid(), world_id=world_id))


def _host_addresses(ip: str, port: int = 3658) -> NetAddressList:
    return NetAddressList(
        addresses=(
            NetAddress(address_type=NetAddressType.EXTERNAL, address=ip, port=port),
            NetAddress(address_type=NetAddressType.INTERNAL, address=ip, port=port),
        )
    )


def _mgcl_host(net: Net, host: Console, name: str) -> tuple[object, int]:
    """The host console's Medius library on the MPS port: authenticate, begin a host session,
    register the game it hosts."""
    mps, refusal = host.connect("mps")
    assert refusal is None
    auth = host.one(
        mps, mm.ServerAuthenticationRequest(message_id="a", address_list=_host_addresses(host.ip))
    )
    assert auth.confirmation == MgclError.SUCCESS
    begin = host.one(mps, mm.ServerSessionBeginRequest(message_id="b", app_id=host.app_id, server_type=2))
    assert begin.confirmation == MgclError.SUCCESS
    made = host.one(
        mps,
        mm.ServerCreateGameOnMeRequest(
            message_id="c",
            game_name=name,
            app_id=host.app_id,
            max_players=4,
            min_players=2,
            game_host_type=GameHostType.PEER_TO_PEER,
            address_list=_host_addresses(host.ip),
        ),
    )
    assert made.confirmation == MgclError.SUCCESS
    return mps, made.world_id


def _p2p_join_through_the_host(net: Net, host: Console, mps, guest: Console, world_id: int):
    """The guest asks the lobby; the lobby asks the host; the host admits; the guest is answered."""
    assert guest.send(guest.mls, mg.JoinGameRequest(message_id="j", world_id=world_id)) == []
    [ask] = mps.take()
    assert isinstance(ask, mm.ServerJoinGameRequest)
    assert ask.connect_info.session_key == guest.session.session_key
    host.send(
        mps, mm.ServerJoinGameResponse(message_id=ask.message_id, access_key="HOSTKEY", dme_client_index=1)
    )
    [answer] = guest.mls.take()
    return answer


# --- every title -------------------------------------------------------------------------------


def _flow_titles() -> list[Title]:
    return list(ALL_TITLES)


@pytest.mark.parametrize("title", _flow_titles(), ids=lambda t: t.key)
def test_every_title_logs_in_reaches_a_channel_and_a_game(net: Net, title: Title):
    app_id = title.app_ids[0] if title.app_ids else next(_STAND_IN)
    version = _version(title)
    host, guest = Console(net, app_id=app_id, version=version), Console(net, app_id=app_id, version=version)
    host.login("host")
    guest.login("guest")
    assert host.session.channel_id is not None and guest.session.channel_id == host.session.channel_id
    if title.hosting == Hosting.P2P:
        mps, world = _mgcl_host(net, host, "hosted")
        assert _listed(guest) == {world: "hosted"}
        answer = _p2p_join_through_the_host(net, host, mps, guest, world)
        assert answer.status == S.SUCCESS
        info = answer.connect_info
        assert info.connection_type == NetConnectionType.PEER_TO_PEER_UDP
        assert [(a.address_type, a.address) for a in info.address_list.addresses] == [
            (NetAddressType.EXTERNAL, host.ip),
            (NetAddressType.INTERNAL, host.ip),
        ]
        assert info.access_key == "HOSTKEY"
    else:  # DME, or not known: the DME serves it
        world = _create(host, "dme game")
        assert world in _listed(guest)
        answer = _join(guest, world)
        assert answer.status == S.SUCCESS
        info = answer.connect_info
        first = info.address_list.addresses[0]
        assert (first.address, first.port) == (LOBBY_IP, PORTS["dme_tcp"])
        assert info.access_key and info.target_world_id == net.svc.lobby.games[world].dme_world_id


# --- cross-region ------------------------------------------------------------------------------


def test_a_uya_pal_console_sees_and_joins_an_ntsc_consoles_game(net: Net):
    ntsc, pal = Console(net, app_id=UYA_NTSC), Console(net, app_id=UYA_PAL)
    ntsc.login("yank")
    pal.login("brit")
    assert ntsc.session.group == pal.session.group == "uya"
    assert pal.session.channel_id == ntsc.session.channel_id  # the same lobby channels
    world = _create(ntsc, "Bakisi Isles")
    assert _listed(pal) == {world: "Bakisi Isles"}
    answer = _join(pal, world)
    assert answer.status == S.SUCCESS and answer.connect_info.target_world_id is not None


def test_a_beta_console_shares_the_uya_lobby_but_not_the_retail_games(net: Net):
    retail, beta = Console(net, app_id=UYA_NTSC), Console(net, app_id=UYA_BETA)
    retail.login("retail")
    beta.login("beta")
    assert beta.session.group == "uya"
    world = _create(retail, "Retail only")
    assert _listed(beta) == {}
    assert _join(beta, world).status == S.GAME_NOT_FOUND


@pytest.fixture
def apart() -> Iterator[Net]:
    yield from open_net("[titles]\ncross_region = false\n")


@pytest.fixture
def filtering() -> Iterator[Net]:
    yield from open_net('[titles]\nfilter_words = ["heck"]\n')


def test_grouping_can_be_switched_off(apart: Net):
    net = apart
    ntsc, pal = Console(net, app_id=UYA_NTSC), Console(net, app_id=UYA_PAL)
    ntsc.login("a")
    pal.login("b")
    assert ntsc.session.group != pal.session.group
    world = _create(ntsc, "Apart")
    assert _listed(pal) == {} and _join(pal, world).status == S.GAME_NOT_FOUND


def test_deadlocked_and_gladiator_share_a_lobby(net: Net):
    dl, glad = Console(net, app_id=11184, version=110), Console(net, app_id=11354, version=110)
    dl.login("dl")
    glad.login("glad")
    world = _create(dl, "Siege")
    assert _listed(glad) == {world: "Siege"}


# --- console-hosted games: closing -------------------------------------------------------------


def test_a_hosted_game_closes_when_its_host_drops_and_a_waiting_joiner_is_told(net: Net):
    host, guest = Console(net, app_id=10411), Console(net, app_id=10411)
    host.login("host")
    guest.login("guest")
    mps, world = _mgcl_host(net, host, "Omega")
    assert guest.send(guest.mls, mg.JoinGameRequest(message_id="j", world_id=world)) == []
    net.close(mps, "host left")
    [answer] = guest.mls.take()
    assert answer.status == S.GAME_NOT_FOUND
    assert world not in net.svc.lobby.games and _listed(guest) == {}


def test_a_hosted_game_closes_when_its_host_ends_it_and_an_unanswered_join_times_out(net: Net):
    host, guest = Console(net, app_id=10411), Console(net, app_id=10411)
    host.login("host")
    guest.login("guest")
    mps, world = _mgcl_host(net, host, "Omega")
    assert guest.send(guest.mls, mg.JoinGameRequest(message_id="j", world_id=world)) == []
    mps.take()
    net.tick(11.0)
    [late] = guest.mls.take()
    assert late.status == S.REQUEST_DENIED
    [ended] = host.send(mps, mm.ServerEndGameOnMeRequest(message_id="e", world_id=world))
    assert ended.confirmation == MgclError.SUCCESS
    assert world not in net.svc.lobby.games


def test_a_game_host_without_a_lobby_session_may_speak_mgcl_only(net: Net):
    host = Console(net, app_id=10411)
    mps, refusal = host.connect("mps")
    assert refusal is None
    [auth] = host.send(
        mps, mm.ServerAuthenticationRequest(message_id="a", address_list=_host_addresses(host.ip))
    )
    assert auth.confirmation == MgclError.SUCCESS
    mps_addr, nat_addr = auth.connect_info.address_list.addresses
    assert (mps_addr.address, mps_addr.port, nat_addr.port) == (LOBBY_IP, PORTS["mps"], PORTS["nat"])
    assert host.send(mps, mg.GameListRequest(message_id="g")) == []  # the lobby needs a login
    guest = Console(net, app_id=10411)
    guest.login("guest")
    host.one(mps, mm.ServerSessionBeginRequest(message_id="b", app_id=10411))
    made = host.one(
        mps,
        mm.ServerCreateGameOnSelfRequest(
            message_id="c", game_name="Server hosted", max_players=4, app_id=10411
        ),
    )
    assert made.confirmation == MgclError.SUCCESS
    assert _listed(guest) == {made.world_id: "Server hosted"}


def test_the_lobby_only_p2p_path_stays(net: Net):
    host, guest = Console(net, app_id=10411), Console(net, app_id=10411)
    host.login("host")
    guest.login("guest")
    world = _create(host, "Old path", GameHostType.PEER_TO_PEER)
    answer = _join(guest, world)
    assert (
        answer.status == S.SUCCESS
        and answer.connect_info.connection_type == NetConnectionType.PEER_TO_PEER_UDP
    )
    assert answer.connect_info.address_list.addresses[0].address == host.ip


# --- the per-title answers of issue 13 -----------------------------------------------------------


@pytest.mark.parametrize("cls", [ms.SetLocalizationParamsRequest1, ms.SetLocalizationParamsRequest2])
def test_every_localization_variant_is_answered_with_lobby_0xa4(net: Net, cls):
    c = Console(net, app_id=11184, version=110)
    mas = c.begin()
    answer = c.one(mas, cls(message_id="l", character_encoding=1, language=1))
    assert type(answer) is ms.SetLocalizationParamsResponse and (answer.MSG_CLASS, answer.MSG_TYPE) == (
        1,
        0xA4,
    )


def test_set_lobby_world_filter1_is_answered_with_ext_0x13(net: Net):
    c = Console(net, app_id=11184, version=110)
    c.login("f")
    answer = c.one(c.mls, ml.SetLobbyWorldFilter1Request(message_id="f", filter_mask_1=5))
    assert (answer.MSG_CLASS, answer.MSG_TYPE) == (4, 0x13) and answer.filter_mask_1 == 5


def test_the_text_filter_applies_the_configured_word_list(filtering: Net):
    net = filtering
    c = Console(net)
    c.login("talker")
    ok = c.one(
        c.mls, ml.TextFilterRequest(message_id="t", text_filter_type=TextFilterType.PASS_FAIL, text="hi")
    )
    assert (ok.status, ok.text) == (S.PASS, "hi")
    bad = c.one(
        c.mls, ml.TextFilterRequest(message_id="t", text_filter_type=TextFilterType.PASS_FAIL, text="heck")
    )
    assert bad.status == S.FILTER_FAILED
    cleaned = c.one(
        c.mls, ml.TextFilterRequest(message_id="t", text_filter_type=TextFilterType.REPLACE, text="oh heck")
    )
    assert (cleaned.status, cleaned.text) == (S.PASS, "oh ****")
    one = c.one(
        c.mls,
        ml.MediusTextFilter1Request(message_id="t", text_filter_type=TextFilterType.REPLACE, text="heck no"),
    )
    assert (one.MSG_TYPE, one.status, one.text, one.text_size) == (0x76, S.PASS, "**** no", 7)


def test_a_token_request_gets_a_status_under_its_own_id(net: Net):
    """The reply reuses Ext 0x28 (as Horizon does), so it is checked as raw bytes: decoded, it
    would read as another TokenRequest."""
    c = Console(net, app_id=11184, version=110)
    c.login("tok")
    c.mls.inbox.clear()
    c.mls.app.on_app(
        c.mls, encode_app(ml.TokenRequest(message_id="tk1", token_action=1), codec_context(c.mls)), 0.0
    )
    [payload] = c.mls.inbox
    assert payload[:2] == bytes((4, 0x28)) and len(payload) == 2 + 28
    assert payload[2:6] == b"tk1\0"
    assert int.from_bytes(payload[26:30], "little", signed=True) == S.FEATURE_NOT_ENABLED


def test_a_ticket_login_gets_a_clear_failure(net: Net):
    c = Console(net, app_id=11184, version=110)
    mas = c.begin()
    answer = c.one(mas, ma.TicketLoginRequest(message_id="tl", username="ps3"))
    assert type(answer) is ma.TicketLoginResponse and answer.status == S.FEATURE_NOT_ENABLED


def test_an_unknown_app_id_reaches_a_game_and_the_log_says_what_to_report(net: Net, caplog):
    c, d = Console(net, app_id=777_777), Console(net, app_id=777_777)
    c.login("new")
    d.login("newer")
    world = _create(c, "first")
    assert _join(d, world).status == S.SUCCESS
    line = next(r.getMessage() for r in caplog.records if "unknown app id 777777" in r.getMessage())
    assert "report the app id" in line and "disc" in line


@pytest.mark.parametrize(
    ("app_id", "wanted"),
    [
        (10724, "Medius Authentication Server Version 1.50.0009"),  # Killzone, before SessionBegin
        (10274, "Medius Authentication Server Version 1.40.PRE8"),  # SOCOM
        (10684, "clank-lan "),
    ],
)
def test_version_server_is_answered_before_the_session_with_the_titles_string(net: Net, app_id, wanted):
    c = Console(net, app_id=app_id)
    mas, refusal = c.connect("mas")
    assert refusal is None and mas.session is None
    answer = c.one(mas, ms.VersionServerRequest(message_id="v"))
    assert answer.version_server.startswith(wanted)
