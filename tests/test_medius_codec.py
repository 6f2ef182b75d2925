"""Medius codec: registry, sizes of every message, version/length variants, strings, ``wire``."""

from __future__ import annotations

import msgspec
import pytest

from clank_lan.protocol import medius
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius import (
    REGISTRY,
    AccountLoginRequest,
    AccountLoginResponse,
    ChannelListExtraInfoResponse,
    CodecContext,
    CreateGame1Request,
    Direction,
    GetAnnouncementsResponse,
    GetIgnoreListRequest,
    GetLadderStatsWideResponse,
    JoinGameResponse,
    MessageClass,
    NetAddress,
    NetAddressList,
    NetConnectionInfo,
    SessionBeginResponse,
    SetGameListFilterResponse0,
    SetLocalizationParamsRequest1,
    UniverseSvoURLResponse,
    UniverseVariableInformationResponse,
    UnknownMessage,
    decode_app,
    encode_app,
    message_name,
    message_type,
    message_types,
)
from clank_lan.protocol.medius.enums import NetAddressType, UniverseInfo
from clank_lan.protocol.medius.layout import plan_for, specs_of
from clank_lan.protocol.medius.structs import MediusFile, PlayerOnlineState

V108 = CodecContext(medius_version=108, app_id=10684)
V110 = CodecContext(medius_version=110, app_id=11184)

# Body sizes (after the 2-byte header) in the 1.09+ layout, from the reference tables (§3) and the
# captures; 38-byte GetGameListFilter / GetIgnoreList / GetLocations follow the real clients.
EXPECTED_SIZES = {
    medius.DmeServerVersion: 16,
    medius.WorldReport0: 384,
    medius.PlayerReport: 280,
    medius.EndGameReport: 124,
    medius.SessionBeginRequest: 28,
    medius.SessionBeginResponse: 48,
    medius.SessionEndRequest: 38,
    medius.SessionEndResponse: 28,
    medius.AccountLoginRequest: 102,
    medius.AccountLoginResponse: 196,
    medius.AccountRegistrationRequest: 108,
    medius.AccountRegistrationResponse: 32,
    medius.AccountUpdatePasswordRequest: 102,
    medius.AccountUpdatePasswordStatusResponse: 28,
    medius.AccountUpdateStatsRequest: 294,
    medius.AccountUpdateStatsResponse: 28,
    medius.AccountDeleteRequest: 70,
    medius.AccountDeleteResponse: 28,
    medius.AccountLogoutRequest: 38,
    medius.AccountLogoutResponse: 28,
    medius.AccountGetIDRequest: 70,
    medius.AccountGetIDResponse: 32,
    medius.AnonymousLoginRequest: 326,
    medius.AnonymousLoginResponse: 196,
    medius.GetMyIPRequest: 38,
    medius.GetMyIPResponse: 48,
    medius.CreateGameRequest0: 176,
    medius.CreateGameResponse: 32,
    medius.CreateChannelResponse: 32,
    medius.JoinGameRequest0: 128,
    medius.JoinGameResponse: 188,
    medius.JoinChannelRequest: 76,
    medius.JoinChannelResponse: 184,
    medius.GameListRequest: 48,
    medius.GameListResponse: 112,
    medius.ChannelListRequest: 42,
    medius.ChannelListResponse: 104,
    medius.LobbyWorldPlayerListRequest: 44,
    medius.LobbyWorldPlayerListResponse: 332,
    medius.GameWorldPlayerListRequest: 44,
    medius.GameWorldPlayerListResponse: 328,
    medius.PlayerInfoRequest: 44,
    medius.PlayerInfoResponse: 328,
    medius.GameInfo0Request: 44,
    medius.GameInfoResponse0: 396,
    medius.ChannelInfoRequest: 44,
    medius.ChannelInfoResponse: 100,
    medius.FindWorldByNameRequest: 108,
    medius.FindWorldByNameResponse: 144,
    medius.FindPlayerRequest: 80,
    medius.FindPlayerResponse: 112,
    medius.ChatMessage: 112,
    medius.ChatFwdMessage: 128,
    medius.GetBuddyListRequest: 38,
    medius.GetBuddyListResponse: 72,
    medius.AddToBuddyListRequest: 44,
    medius.AddToBuddyListResponse: 28,
    medius.RemoveFromBuddyListRequest: 44,
    medius.RemoveFromBuddyListResponse: 28,
    medius.GetPolicyRequest: 44,
    medius.GetPolicyResponse: 288,
    medius.UpdateUserState: 24,
    medius.ErrorMessage: 260,
    medius.GetAnnouncementsRequest: 44,
    medius.GetAllAnnouncementsRequest: 44,
    medius.GetAnnouncementsResponse: 1036,
    medius.SetGameListFilter0Request: 52,
    medius.SetGameListFilterResponse0: 32,
    medius.ClearGameListFilter0Request: 44,
    medius.ClearGameListFilterResponse: 28,
    medius.GetGameListFilterRequest: 38,
    medius.GetGameListFilterResponse0: 44,
    medius.CreateClanRequest: 76,
    medius.CreateClanResponse: 32,
    medius.DisbandClanRequest: 44,
    medius.DisbandClanResponse: 28,
    medius.GetClanByIDRequest: 48,
    medius.GetClanByIDResponse: 360,
    medius.GetClanByNameRequest: 76,
    medius.GetClanByNameResponse: 328,
    medius.TransferClanLeadershipRequest: 76,
    medius.TransferClanLeadershipResponse: 28,
    medius.AddPlayerToClanRequest: 244,
    medius.AddPlayerToClanResponse: 28,
    medius.RemovePlayerFromClanRequest: 48,
    medius.RemovePlayerFromClanResponse: 28,
    medius.InvitePlayerToClanRequest: 244,
    medius.InvitePlayerToClanResponse: 28,
    medius.CheckMyClanInvitationsRequest: 48,
    medius.CheckMyClanInvitationsResponse: 280,
    medius.RespondToClanInvitationRequest: 248,
    medius.RespondToClanInvitationResponse: 28,
    medius.RevokeClanInvitationRequest: 44,
    medius.RevokeClanInvitationResponse: 28,
    medius.RequestClanTeamChallengeRequest: 244,
    medius.RequestClanTeamChallengeResponse: 28,
    medius.GetMyClanMessagesRequest: 52,
    medius.GetMyClanMessagesResponse: 236,
    medius.SendClanMessageRequest: 238,
    medius.SendClanMessageResponse: 28,
    medius.ModifyClanMessageRequest: 244,
    medius.ModifyClanMessageResponse: 28,
    medius.DeleteClanMessageRequest: 44,
    medius.DeleteClanMessageResponse: 28,
    medius.RespondToClanTeamChallengeRequest: 248,
    medius.RespondToClanTeamChallengeResponse: 28,
    medius.RevokeClanTeamChallengeRequest: 44,
    medius.RevokeClanTeamChallengeResponse: 28,
    medius.GetClanTeamChallengeHistoryRequest: 56,
    medius.GetClanTeamChallengeHistoryResponse: 40,
    medius.GetClanInvitationsSentRequest: 48,
    medius.GetClanInvitationsSentResponse: 276,
    medius.GetMyClansRequest: 48,
    medius.GetMyClansResponse: 368,
    medius.GetAllClanMessagesRequest: 48,
    medius.GetAllClanMessagesResponse: 240,
    medius.ConfirmClanTeamChallengeRequest: 44,
    medius.ConfirmClanTeamChallengeResponse: 28,
    medius.GetClanTeamChallengesRequest: 60,
    medius.GetClanTeamChallengesResponse: 452,
    medius.UpdateClanStatsRequest: 300,
    medius.UpdateClanStatsResponse: 28,
    medius.VersionServerRequest: 38,
    medius.VersionServerResponse: 77,
    medius.GetWorldSecurityLevelRequest: 48,
    medius.GetWorldSecurityLevelResponse: 40,
    medius.GetLocationsRequest: 38,
    medius.GetLocationsResponse: 100,
    medius.PickLocationRequest: 44,
    medius.PickLocationResponse: 28,
    medius.GetClanMemberListRequest: 44,
    medius.GetClanMemberListResponse: 68,
    medius.LadderPositionRequest: 56,
    medius.LadderPositionResponse: 32,
    medius.ChatToggleRequest: 44,
    medius.ChatToggleResponse: 28,
    medius.TextFilterRequest: 108,
    medius.TextFilterResponse: 92,
    medius.GetTotalGamesRequest: 44,
    medius.GetTotalGamesResponse: 32,
    medius.GetTotalChannelsRequest: 44,
    medius.GetTotalChannelsResponse: 32,
    medius.GetLobbyPlayerNamesRequest: 44,
    medius.GetLobbyPlayerNamesResponse: 68,
    medius.GetTotalUsersRequest: 44,
    medius.GetTotalUsersResponse: 36,
    medius.SetLocalizationParamsRequest: 48,
    medius.SetLocalizationParamsResponse: 28,
    medius.FileUploadRequest: 204,
    medius.FileUploadResponse: 508,
    medius.FileUploadServerRequest: 40,
    medius.FileCloseRequest: 196,
    medius.FileCreateRequest: 472,
    medius.FileCreateResponse: 200,
    medius.InvitePlayerToClanByNameRequest: 253,
    medius.MediusTextFilter1Request: 112,
    medius.MediusTextFilterResponse1: 96,
    medius.TicketLoginRequest: 202,
    medius.TicketLoginResponse: 225,
    medius.FileCloseResponse: 200,
    medius.FileDownloadRequest: 196,
    medius.FileDownloadResponse: 508,
    medius.FileDeleteRequest: 196,
    medius.FileDeleteResponse: 28,
    medius.FileCancelOperationRequest: 196,
    medius.FileCancelOperationResponse: 28,
    medius.GetIgnoreListRequest: 38,
    medius.GetIgnoreListResponse: 72,
    medius.AddToIgnoreListRequest: 44,
    medius.AddToIgnoreListResponse: 28,
    medius.RemoveFromIgnoreListRequest: 44,
    medius.RemoveFromIgnoreListResponse: 28,
    medius.GetUniverseInformationRequest: 36,
    medius.UniverseNewsResponse: 288,
    medius.UniverseStatusListResponse: 560,
    medius.MachineSignaturePost: 166,
    medius.UpdateLadderStatsRequest: 88,
    medius.UpdateLadderStatsResponse: 28,
    medius.GetLadderStatsRequest: 28,
    medius.GetLadderStatsResponse: 88,
    medius.ClanLadderListRequest: 40,
    medius.ClanLadderListResponse: 72,
    medius.ClanLadderPositionRequest: 36,
    medius.ClanLadderPositionResponse: 36,
    medius.GetBuddyListExtraInfoRequest: 21,
    medius.GetBuddyListExtraInfoResponse: 208,
    medius.GetTotalRankingsRequest: 28,
    medius.GetTotalRankingsResponse: 32,
    medius.GetClanMemberListExtraInfoRequest: 36,
    medius.GetClanMemberListExtraInfoResponse: 476,
    medius.GetLobbyPlayerNamesExtraInfoRequest: 28,
    medius.GetLobbyPlayerNamesExtraInfoResponse: 208,
    medius.GameListExtraInfo0Request: 26,
    medius.GameListExtraInfoResponse0: 400,
    medius.ChannelListExtraInfo0Request: 26,
    medius.ChannelListExtraInfoResponse: 132,
    medius.LadderListExtraInfo0Request: 40,
    medius.LadderListExtraInfoResponse: 472,
    medius.LadderPositionExtraInfoRequest: 36,
    medius.LadderPositionExtraInfoResponse: 36,
    medius.JoinGameRequest: 196,
    medius.CreateGame1Request: 212,
    medius.ServerReport: 32,
    medius.ServerAuthenticationRequest: 76,
    medius.ServerAuthenticationResponse: 180,
    medius.ServerSessionBeginRequest: 56,
    medius.ServerSessionBeginResponse: 180,
    medius.ServerSessionEndRequest: 21,
    medius.ServerSessionEndResponse: 22,
    medius.ServerCreateGameRequest: 32,
    medius.ServerCreateGameResponse: 28,
    medius.ServerJoinGameRequest: 180,
    medius.ServerJoinGameResponse: 108,
    medius.ServerEndGameRequest: 32,
    medius.ServerEndGameResponse: 22,
    medius.ServerWorldStatusRequest: 28,
    medius.ServerWorldStatusResponse: 40,
    medius.ServerCreateGameOnSelfRequest0: 468,
    medius.ServerCreateGameOnMeResponse: 28,
    medius.ServerEndGameOnMeRequest: 28,
    medius.ServerEndGameOnMeResponse: 22,
    medius.ServerMoveGameWorldOnMeRequest: 80,
    medius.ServerMoveGameWorldOnMeResponse: 28,
    medius.ServerSetAttributesRequest: 52,
    medius.ServerSetAttributesResponse: 22,
    medius.ServerCreateGameWithAttributesRequest: 40,
    medius.ServerCreateGameWithAttributesResponse: 28,
    medius.ServerConnectGamesRequest: 56,
    medius.ServerConnectGamesResponse: 36,
    medius.ServerConnectNotification: 28,
    medius.ServerCreateGameOnSelfRequest: 472,
    medius.ServerDisconnectPlayerRequest: 32,
    medius.ServerCreateGameOnMeRequest: 492,
    medius.ServerWorldReportOnMe: 444,
    medius.ServerSessionBeginRequest1: 52,
    medius.ServerSessionBeginResponse1: 180,
    medius.CreateChannel1Request: 144,
    medius.GetUniverseExtraInfoRequest: 36,
    medius.UniverseStatusListExtraInfoResponse: 824,
    medius.AddToBuddyListConfirmationRequest: 48,
    medius.AddToBuddyListFwdConfirmation: 64,
    medius.AddToBuddyListFwdConfirmationResponse: 56,
    medius.GetBuddyInvitationsRequest: 21,
    medius.GetBuddyInvitationsResponse: 72,
    medius.DnasSignaturePost: 80,
    medius.UpdateLadderStatsWideRequest: 428,
    medius.UpdateLadderStatsWideResponse: 28,
    medius.GetLadderStatsWideRequest: 32,
    medius.GetLadderStatsWideResponse: 432,
    medius.LadderListExtraInfoRequest: 40,
    medius.SetLobbyWorldFilterRequest: 48,
    medius.SetLobbyWorldFilterResponse: 52,
    medius.CreateChannelRequest: 164,
    medius.ChannelListExtraInfo1Request: 26,
    medius.BinaryMessage: 448,
    medius.BinaryFwdMessage: 432,
    medius.PostDebugInfoRequest: 221,
    medius.PostDebugInfoResponse: 28,
    medius.ChannelListExtraInfoRequest: 26,
    medius.GenericChatMessage: 112,
    medius.GenericChatFwdMessage: 108,
    medius.GenericChatSetFilterRequest: 54,
    medius.GenericChatSetFilterResponse: 44,
    medius.ExtendedSessionBeginRequest: 40,
    medius.TokenRequest: 52,
    medius.GetServerTimeRequest: 21,
    medius.GetServerTimeResponse: 36,
    medius.SetAutoChatHistoryRequest: 28,
    medius.SetAutoChatHistoryResponse: 28,
    medius.CreateGameRequest: 232,
    medius.WorldReport: 384,
    medius.ClearGameListFilterRequest: 28,
    medius.GetGameListFilterResponse: 52,
    medius.SetGameListFilterRequest: 40,
    medius.SetGameListFilterResponse: 32,
    medius.GameInfoRequest: 44,
    medius.GameInfoResponse: 416,
    medius.GameListExtraInfoRequest: 26,
    medius.GameListExtraInfoResponse: 420,
    medius.AccountUpdateStatsOpenAccessRequest: 294,
    medius.AccountUpdateStatsOpenAccessResponse: 28,
    medius.SetLocalizationParamsRequest2: 52,
    medius.AddToBuddyListConfirmationResponse: 64,
    medius.SetLocalizationParamsRequest1: 56,
    medius.SetLobbyWorldFilter1Request: 48,
    medius.SessionBegin1Request: 28,
    medius.SetLocalizationParamsStatusResponse1: 28,
}


# --- registry -----------------------------------------------------------------------------------


def test_registry_covers_every_class_table():
    counts: dict[MessageClass, int] = {}
    for info in REGISTRY.values():
        counts[info.msg_class] = counts.get(info.msg_class, 0) + 1
    assert counts == {
        MessageClass.LOBBY: 253,  # 0x00..0xFC, no gaps
        MessageClass.LOBBY_EXT: 153,
        MessageClass.MGCL: 36,
        MessageClass.DME: 37,
    }
    assert message_name(1, 0x07) == "AccountLogin"
    assert message_name(1, 0xF4) == "CreateGame1"
    assert message_name(4, 0x11) == "UniverseVariableInformationResponse"
    assert message_name(3, 0x1C) == "ServerConnectNotification"
    assert message_name(0, 0x02) == "PacketFragment"
    assert REGISTRY[(1, 0x08)].direction is Direction.TO_CLIENT
    assert REGISTRY[(1, 0x07)].direction is Direction.TO_SERVER
    assert message_name(4, 0x29) == "LOBBY_EXT:0x29"  # an unassigned gap
    assert message_name(9, 0x01) == "Class9:0x01"


# Registry names whose typed class is named for what it does rather than the enum name.
_RENAMED = {"StatusResponse0": "SetLocalizationParamsResponse"}


def test_every_typed_class_is_registered_exported_and_named_after_its_registry_entry():
    types = message_types()
    assert len(types) == len(EXPECTED_SIZES) + 3  # + the three variable-length messages
    for key, cls in types.items():
        info = REGISTRY[key]
        assert key == (cls.MSG_CLASS, cls.MSG_TYPE)
        assert getattr(medius, cls.__name__) is cls
        assert message_type(*key) is cls
        wanted = _RENAMED.get(info.name, info.name.replace("_", ""))
        assert wanted in cls.__name__, (info.name, cls.__name__)


# --- sizes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", list(EXPECTED_SIZES), ids=lambda c: c.__name__)
def test_size_of_every_fixed_message(cls):
    size = EXPECTED_SIZES[cls]
    assert size == cls.SIZE
    full = cls(**{f.name: 0 for f in specs_of(cls) if f.optional})  # optional tail present
    payload = encode_app(full, V110)
    assert len(payload) == 2 + size
    assert payload[:2] == bytes((cls.MSG_CLASS, cls.MSG_TYPE))
    assert decode_app(payload, V110) == full


@pytest.mark.parametrize(
    ("cls", "size"),
    [
        (NetAddress, 24),
        (NetAddressList, 48),
        (NetConnectionInfo, 156),
        (PlayerOnlineState, 140),
        (MediusFile, 172),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_substructure_sizes(cls, size):
    assert plan_for(cls, True, True).size == size


def test_version_dependent_layouts():
    assert ChannelListExtraInfoResponse.body_size(V108) == 128
    assert ChannelListExtraInfoResponse.body_size(V110) == 132
    assert SetGameListFilterResponse0.body_size(V108) == 28
    assert SetGameListFilterResponse0.body_size(V110) == 32
    msg = ChannelListExtraInfoResponse(
        message_id="7",
        world_id=5,
        player_count=3,
        max_players=224,
        game_world_count=9,
        security_level=1,
        generic_field_2=2,
        generic_field_level=32,
        lobby_name="CY00000001-00",
        end_of_list=True,
    )
    wide = encode_app(msg, V110)
    narrow = encode_app(msg, V108)
    assert (len(wide), len(narrow)) == (134, 130)
    # 1.09+: PlayerCount, MaxPlayers, GameWorldCount, pad2, SecurityLevel at 40; 1.08 drops 4 bytes.
    assert wide[2 + 36 : 2 + 38] == (9).to_bytes(2, "little")
    assert wide[2 + 40 : 2 + 44] == narrow[2 + 36 : 2 + 40] == (1).to_bytes(4, "little")
    assert decode_app(narrow, V108) == msgspec.structs.replace(msg, game_world_count=0)
    assert decode_app(wide, V110) == msg


def test_create_game1_is_208_or_212_bytes():
    short = CreateGame1Request(
        message_id="1", session_key="29269", app_id=10684, max_players=8, game_name="Pj's"
    )
    full = msgspec.structs.replace(short, attributes=2)
    assert CreateGame1Request.SIZE == 212
    assert CreateGame1Request.body_size(V108, with_optional=False) == 208
    assert len(encode_app(short, V108)) == 2 + 208
    assert len(encode_app(full, V108)) == 2 + 212
    assert decode_app(encode_app(short, V108), V108) == short  # attributes stays None
    assert decode_app(encode_app(full, V108), V108).attributes == 2
    # A 210-byte body is too short for Attributes: the extra bytes are kept, not guessed at.
    odd = encode_app(short, V108) + b"\x01\x02"
    got = decode_app(odd, V108)
    assert got.attributes is None and encode_app(got, V108) == odd


def test_optional_tail_pair():
    both = SetLocalizationParamsRequest1(character_encoding=1, language=2, time_zone=100, location_id=40)
    assert len(encode_app(both, V110)) == 2 + 56
    assert len(encode_app(SetLocalizationParamsRequest1(language=2), V110)) == 2 + 48
    assert decode_app(encode_app(both, V110), V110) == both


# --- byte layout spot checks against the reference tables ----------------------------------------


def test_account_login_response_offsets():
    ci = NetConnectionInfo(
        connection_type=1,
        address_list=NetAddressList(
            addresses=(
                NetAddress(address_type=NetAddressType.EXTERNAL, address="10.0.0.2", port=10078),
                NetAddress(address_type=NetAddressType.NAT_SERVICE, address="10.0.0.2", port=10070),
            )
        ),
        target_world_id=1,
        server_key=bytes(range(64)),
        session_key="13088",
        access_key="Kw3XYvZmXPT+SKe2",
    )
    body = encode_app(
        AccountLoginResponse(
            message_id="1", status=0, account_id=96677, account_type=1, world_id=66, connect_info=ci
        ),
        V110,
    )[2:]
    assert len(body) == 196
    assert body[:2] == b"1\0" and body[21:24] == bytes(3)
    assert int.from_bytes(body[28:32], "little") == 96677
    assert int.from_bytes(body[36:40], "little") == 66
    c = body[40:]
    assert int.from_bytes(c[0:4], "little") == 1
    assert c[8:24] == b"10.0.0.2".ljust(16, b"\0") and int.from_bytes(c[24:28], "little") == 10078
    assert int.from_bytes(c[28:32], "little") == 3 and int.from_bytes(c[48:52], "little") == 10070
    assert int.from_bytes(c[52:56], "little") == 1
    assert c[56:120] == bytes(range(64))
    assert c[120:137] == b"13088".ljust(17, b"\0") and c[137:154] == b"Kw3XYvZmXPT+SKe2\0"
    assert c[154:156] == bytes(2)


def test_join_game_response_offsets():
    body = encode_app(JoinGameResponse(status=-977, game_host_type=4), V108)[2:]
    assert len(body) == 188
    assert int.from_bytes(body[24:28], "little", signed=True) == -977
    assert int.from_bytes(body[28:32], "little") == 4


def test_ladder_stats_wide_is_100_ints():
    stats = tuple(range(100))
    body = encode_app(GetLadderStatsWideResponse(account_id_or_clan_id=5, stats=stats), V110)[2:]
    assert (
        len(body) == 432
        and body[32:36] == (0).to_bytes(4, "little")
        and body[428:432] == (99).to_bytes(4, "little")
    )
    assert (
        decode_app(encode_app(GetLadderStatsWideResponse(stats=(1, 2)), V110), V110).stats
        == (1, 2) + (0,) * 98
    )
    with pytest.raises(ValueError):
        encode_app(GetLadderStatsWideResponse(stats=(0,) * 101), V110)


# --- strings and bytes --------------------------------------------------------------------------


def test_strings_are_nul_terminated_zero_filled_and_truncated_to_n_minus_1():
    body = encode_app(AccountLoginRequest(username="x" * 40, password="pw"), V108)[2:]
    assert body[38:70] == b"x" * 31 + b"\0"
    assert body[70:102] == b"pw" + bytes(30)
    assert decode_app(b"\x01\x07" + body, V108).username == "x" * 31


def test_latin1_by_default_and_utf8_on_request():
    msg = AccountLoginRequest(username="Zoë")
    assert encode_app(msg)[2 + 38 : 2 + 42] == b"Zo\xeb\0"
    utf8 = CodecContext(medius_version=110, encoding="utf-8")
    assert encode_app(msg, utf8)[2 + 38 : 2 + 43] == b"Zo\xc3\xab\0"
    assert decode_app(encode_app(msg, utf8), utf8) == msg
    # truncation never splits a UTF-8 sequence
    cut = encode_app(AccountLoginRequest(username="a" * 30 + "é"), utf8)[2 + 38 : 2 + 70]
    assert cut == b"a" * 30 + bytes(2)
    # bytes that are not UTF-8 still decode (and round-trip) in a UTF-8 context
    raw = encode_app(AccountLoginRequest(username="\xff\xfe"), V108)
    assert encode_app(decode_app(raw, utf8), utf8) == raw


def test_oversized_bytes_are_an_error_not_truncated():
    with pytest.raises(ValueError):
        encode_app(medius.AccountUpdateStatsRequest(stats=bytes(257)), V108)
    short = encode_app(medius.AccountUpdateStatsRequest(stats=b"\x01\x02"), V108)
    assert decode_app(short, V108).stats == b"\x01\x02" + bytes(254)


# --- decode leniency, wire bytes, unknown pairs -----------------------------------------------


def test_missing_tail_reads_as_zero_and_extra_tail_is_kept():
    empty = decode_app(b"\x01\x04", V108)
    assert empty.canonical() == SessionBeginResponse() and empty.wire == b""
    assert encode_app(empty, V108) == b"\x01\x04"
    short = encode_app(SessionBeginResponse(message_id="1", status=0, session_key="13088"), V108)[:-3]
    got = decode_app(short, V108)
    assert got.session_key == "13088" and encode_app(got, V108) == short
    # Sony's clients send GetIgnoreList with 38 bytes, HZ reads 40: both decode, both round-trip
    forty = encode_app(GetIgnoreListRequest(message_id="1", session_key="13088"), V110) + b"\0\0"
    assert decode_app(forty, V110).canonical() == GetIgnoreListRequest(message_id="1", session_key="13088")
    assert encode_app(decode_app(forty, V110), V110) == forty


def test_wire_bytes_kept_only_while_the_message_is_unchanged():
    clean = encode_app(SessionBeginResponse(message_id="1", session_key="13088"), V110)
    dirty = bytearray(clean)
    dirty[2 + 21 : 2 + 24] = b"\xde\xad\xbe"  # pad garbage
    dirty[2 + 2] = 0x7F  # garbage after the MessageID terminator
    msg = decode_app(bytes(dirty), V110)
    assert msg.wire == bytes(dirty[2:])
    assert msg.canonical() == SessionBeginResponse(message_id="1", session_key="13088")
    assert encode_app(msg, V110) == bytes(dirty)
    changed = msgspec.structs.replace(msg, status=-969)
    assert encode_app(changed, V110) == encode_app(
        SessionBeginResponse(message_id="1", status=-969, session_key="13088"), V110
    )
    assert encode_app(SessionBeginResponse(message_id="1", session_key="13088"), V110) == clean


def test_unknown_pairs_pass_through():
    msg = decode_app(b"\x04\x29abc", V110)
    assert msg == UnknownMessage(4, 0x29, b"abc") and msg.name == "LOBBY_EXT:0x29"
    assert encode_app(msg, V110) == b"\x04\x29abc"
    assert decode_app(b"\x01\x0b\x00", V108).name == "AccountGetProfile"  # registered, not modelled


@pytest.mark.parametrize("payload", [b"", b"\x01"])
def test_payload_without_header_is_a_protocol_error(payload):
    with pytest.raises(ProtocolError):
        decode_app(payload, V108)


def test_encode_rejects_unregistered_classes():
    with pytest.raises(TypeError):
        encode_app(medius.StatusBody(), V108)


# --- variable-length messages -------------------------------------------------------------------


def test_universe_information_layout_follows_the_filter():
    sony_filter = UniverseInfo.ID | UniverseInfo.NAME | UniverseInfo.DNS | UniverseInfo.DESCRIPTION
    sony_filter |= UniverseInfo.EXTRA_INFO | UniverseInfo.SVO_URL  # 0x33C, what Deadlocked asks
    assert sony_filter == 0x33C
    msg = UniverseVariableInformationResponse(
        message_id="1",
        info_filter=sony_filter,
        universe_id=1,
        universe_name="R&C DL",
        dns="10.0.0.2",
        port=10075,
        description="LAN",
        end_of_list=True,
    )
    body = encode_app(msg, V110)[2:]
    assert len(body) == 678  # Sony's size: no pad after the MessageID, none at the end, no SvoURL
    assert int.from_bytes(body[21:25], "little") == 0 and int.from_bytes(body[25:29], "little") == 0x33C
    assert int.from_bytes(body[29:33], "little") == 1 and body[33:39] == b"R&C DL"
    assert int.from_bytes(body[289:293], "little") == 10075 and body[-1] == 1
    assert decode_app(b"\x04\x11" + body, V110) == msg
    with_svo = msgspec.structs.replace(msg, svo_url="http://x")
    assert len(encode_app(with_svo, V110)) == 2 + 678 + 128
    assert decode_app(encode_app(with_svo, V110), V110) == with_svo
    minimal = UniverseVariableInformationResponse(
        message_id="1", info_filter=UniverseInfo.DNS, dns="h", port=1
    )
    assert len(encode_app(minimal, V110)) == 2 + 21 + 4 + 4 + 132 + 1


def test_svo_url_response_is_length_prefixed_from_109():
    assert encode_app(UniverseSvoURLResponse(message_id="1"), V110) == b"\x04\x1e1" + bytes(20) + b"\x01\x00"
    msg = UniverseSvoURLResponse(message_id="1", url="http://svo")
    assert decode_app(encode_app(msg, V110), V110) == msg
    assert len(encode_app(msg, V108)) == 2 + 21 + 128
    assert decode_app(encode_app(msg, V108), V108) == msg


def test_big_messages_are_over_the_512_byte_limit():
    assert len(encode_app(GetAnnouncementsResponse(), V110)) == 1038


@pytest.mark.parametrize("cls", [medius.ChannelListExtraInfo1Request, medius.GameListExtraInfo0Request])
def test_extra_info_requests_accept_the_unpadded_25_byte_form(cls):
    padded = encode_app(cls(message_id="1", page_id=1, page_size=256), V108)
    assert len(padded) == 2 + 26 and padded[2 + 21] == 0  # the pad byte UYA sends
    unpadded = padded[:23] + padded[24:]  # CL's reading: uint16s right after the MessageID
    got = decode_app(unpadded, V108)
    assert got.canonical() == cls(message_id="1", page_id=1, page_size=256)
    assert encode_app(got, V108) == unpadded
