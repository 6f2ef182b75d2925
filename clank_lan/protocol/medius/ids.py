"""The (message class, message type) registry: the name and direction of every Medius message.

One table per class, restated from the protocol reference (medius-messages.md §2.2-2.5): class 1
Lobby, class 4 LobbyExt, class 3 MGCL (game host <-> Medius) and class 0 DME. Each line is
``<type hex> <direction> <name>``; direction ``>`` is client (or game host) to server, ``<`` server
to client (or host), ``=`` either way / not known. Names are the sources' enum names; the typed
message classes (which add a ``Request``/``Response`` suffix where the name lacks one) live in the
message modules.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class MessageClass(enum.IntEnum):
    """First byte of every Medius message (MS3 ``NetMessageClass``)."""

    DME = 0
    LOBBY = 1
    APPLICATION = 2
    MGCL = 3  # "LobbyReport": game host <-> Medius
    LOBBY_EXT = 4
    LOBBY_AUTHENTICATION = 5
    DME_LOCAL_PLUGIN = 6
    GHS = 7


class Direction(enum.Enum):
    TO_SERVER = ">"
    TO_CLIENT = "<"
    EITHER = "="


class MessageInfo(NamedTuple):
    msg_class: MessageClass
    msg_type: int
    name: str
    direction: Direction


_LOBBY = """
00 > WorldReport0
01 > PlayerReport
02 > EndGameReport
03 > SessionBegin
04 < SessionBeginResponse
05 > SessionEnd
06 < SessionEndResponse
07 > AccountLogin
08 < AccountLoginResponse
09 > AccountRegistration
0A < AccountRegistrationResponse
0B > AccountGetProfile
0C < AccountGetProfileResponse
0D > AccountUpdateProfile
0E < AccountUpdateProfileResponse
0F > AccountUpdatePassword
10 < AccountUpdatePasswordStatusResponse
11 > AccountUpdateStats
12 < AccountUpdateStatsResponse
13 > AccountDelete
14 < AccountDeleteResponse
15 > AccountLogout
16 < AccountLogoutResponse
17 > AccountGetID
18 < AccountGetIDResponse
19 > AnonymousLogin
1A < AnonymousLoginResponse
1B > GetMyIP
1C < GetMyIPResponse
1D > CreateGameRequest0
1E < CreateGameResponse
1F > CreateGameOnSelf
20 < CreateGameOnSelfResponse
21 > CreateChannelRequest0
22 < CreateChannelResponse
23 > JoinGameRequest0
24 < JoinGameResponse
25 > JoinChannel
26 < JoinChannelResponse
27 < JoinChannelFwd
28 < JoinChannelFwdResponse
29 > GameList
2A < GameListResponse
2B > ChannelList
2C < ChannelListResponse
2D > LobbyWorldPlayerList
2E < LobbyWorldPlayerListResponse
2F > GameWorldPlayerList
30 < GameWorldPlayerListResponse
31 > PlayerInfo
32 < PlayerInfoResponse
33 > GameInfo0
34 < GameInfoResponse0
35 > ChannelInfo
36 < ChannelInfoResponse
37 > FindWorldByName
38 < FindWorldByNameResponse
39 > FindPlayer
3A < FindPlayerResponse
3B > ChatMessage
3C < ChatFwdMessage
3D > GetBuddyList
3E < GetBuddyListResponse
3F > AddToBuddyList
40 < AddToBuddyListResponse
41 > RemoveFromBuddyList
42 < RemoveFromBuddyListResponse
43 > AddToBuddyListConfirmationRequest0
44 < AddToBuddyListConfirmationResponse
45 < AddToBuddyListFwdConfirmationRequest0
46 > AddToBuddyListFwdConfirmationResponse0
47 > Policy
48 < PolicyResponse
49 > UpdateUserState
4A < ErrorMessage
4B > GetAnnouncements
4C > GetAllAnnouncements
4D < GetAnnouncementsResponse
4E > SetGameListFilter0
4F < SetGameListFilterResponse0
50 > ClearGameListFilter0
51 < ClearGameListFilterResponse
52 > GetGameListFilter
53 < GetGameListFilterResponse0
54 > CreateClan
55 < CreateClanResponse
56 > DisbandClan
57 < DisbandClanResponse
58 > GetClanByID
59 < GetClanByIDResponse
5A > GetClanByName
5B < GetClanByNameResponse
5C > TransferClanLeadership
5D < TransferClanLeadershipResponse
5E > AddPlayerToClan
5F < AddPlayerToClanResponse
60 > RemovePlayerFromClan
61 < RemovePlayerFromClanResponse
62 > InvitePlayerToClan
63 < InvitePlayerToClanResponse
64 > CheckMyClanInvitations
65 < CheckMyClanInvitationsResponse
66 > RespondToClanInvitation
67 < RespondToClanInvitationResponse
68 > RevokeClanInvitation
69 < RevokeClanInvitationResponse
6A > RequestClanTeamChallenge
6B < RequestClanTeamChallengeResponse
6C > GetMyClanMessages
6D < GetMyClanMessagesResponse
6E > SendClanMessage
6F < SendClanMessageResponse
70 > ModifyClanMessage
71 < ModifyClanMessageResponse
72 > DeleteClanMessage
73 < DeleteClanMessageResponse
74 > RespondToClanTeamChallenge
75 < RespondToClanTeamChallengeResponse
76 > RevokeClanTeamChallenge
77 < RevokeClanTeamChallengeResponse
78 > GetClanTeamChallengeHistory
79 < GetClanTeamChallengeHistoryResponse
7A > GetClanInvitationsSent
7B < GetClanInvitationsSentResponse
7C > GetMyClans
7D < GetMyClansResponse
7E > GetAllClanMessages
7F < GetAllClanMessagesResponse
80 > ConfirmClanTeamChallenge
81 < ConfirmClanTeamChallengeResponse
82 > GetClanTeamChallenges
83 < GetClanTeamChallengesResponse
84 > UpdateClanStats
85 < UpdateClanStatsResponse
86 > VersionServer
87 < VersionServerResponse
88 > GetWorldSecurityLevel
89 < GetWorldSecurityLevelResponse
8A > BanPlayer
8B < BanPlayerResponse
8C > GetLocations
8D < GetLocationsResponse
8E > PickLocation
8F < PickLocationResponse
90 > GetClanMemberList
91 < GetClanMemberListResponse
92 > LadderPosition
93 < LadderPositionResponse
94 > LadderList
95 < LadderListResponse
96 > ChatToggle
97 < ChatToggleResponse
98 > TextFilter
99 < TextFilterResponse
9A > ReassignGameMediusWorldID
9B > GetTotalGames
9C < GetTotalGamesResponse
9D > GetTotalChannels
9E < GetTotalChannelsResponse
9F > GetLobbyPlayerNames
A0 < GetLobbyPlayerNamesResponse
A1 > GetTotalUsers
A2 < GetTotalUsersResponse
A3 > SetLocalizationParams
A4 < StatusResponse0
A5 > FileCreate
A6 < FileCreateResponse
A7 > FileUpload
A8 > FileUploadResponse
A9 < FileUploadServerReq
AA > FileClose
AB < FileCloseResponse
AC > FileDownload
AD < FileDownloadResponse
AE > FileDownloadStream
AF < FileDownloadStreamResponse
B0 > FileDelete
B1 < FileDeleteResponse
B2 > FileListFiles
B3 < FileListFilesResponse
B4 > FileUpdateAttributes
B5 < FileUpdateAttributesResponse
B6 > FileGetAttributes
B7 < FileGetAttributesResponse
B8 > FileUpdateMetaData
B9 < FileUpdateMetaDataResponse
BA > FileGetMetaData
BB < FileGetMetaDataResponse
BC > FileSearchByMetaData
BD < FileSearchByMetaDataResponse
BE > FileCancelOperation
BF < FileCancelOperationResponse
C0 > GetIgnoreList
C1 < GetIgnoreListResponse
C2 > AddToIgnoreList
C3 < AddToIgnoreListResponse
C4 > RemoveFromIgnoreList
C5 < RemoveFromIgnoreListResponse
C6 > SetMessageAsRead
C7 < SetMessageAsReadResponse
C8 > GetUniverseInformation
C9 < UniverseNewsResponse
CA < UniverseStatusListResponse
CB > MachineSignaturePost
CC > LadderPositionFast
CD < LadderPositionFastResponse
CE > UpdateLadderStats
CF < UpdateLadderStatsResponse
D0 > GetLadderStats
D1 < GetLadderStatsResponse
D2 > ClanLadderList
D3 < ClanLadderListResponse
D4 > ClanLadderPosition
D5 < ClanLadderPositionResponse
D6 > GetBuddyList_ExtraInfo
D7 < GetBuddyList_ExtraInfoResponse
D8 > GetTotalRankings
D9 < GetTotalRankingsResponse
DA > GetClanMemberList_ExtraInfo
DB < GetClanMemberList_ExtraInfoResponse
DC > GetLobbyPlayerNames_ExtraInfo
DD < GetLobbyPlayerNames_ExtraInfoResponse
DE > BillingLogin
DF < BillingLoginResponse
E0 > BillingListRequest
E1 < BillingListResponse
E2 > BillingDetailRequest
E3 < BillingDetailResponse
E4 > PurchaseProductRequest
E5 < PurchaseProductResponse
E6 > BillingInfo
E7 < BillingInfoResponse
E8 > BillingTunnelRequest
E9 < BillingTunnelResponse
EA > GameList_ExtraInfo0
EB < GameList_ExtraInfoResponse0
EC > ChannelList_ExtraInfo0
ED < ChannelList_ExtraInfoResponse
EE > InvitePlayerToClan_ByName
EF > LadderList_ExtraInfo0
F0 < LadderList_ExtraInfoResponse
F1 > LadderPosition_ExtraInfo
F2 < LadderPosition_ExtraInfoResponse
F3 > JoinGame
F4 > CreateGame1
F5 > UtilAddLobbyWorld
F6 < UtilAddLobbyWorldResponse
F7 > UtilAddGameWorldRequest
F8 < UtilAddGameWorldResponse
F9 > UtilUpdateLobbyWorldRequest
FA < UtilUpdateLobbyWorldResponse
FB > UtilUpdateGameWorldRequest
FC < UtilUpdateGameWorldStatusResponse
"""

_LOBBY_EXT = """
00 > CreateChannel1
01 > UtilGetServerVersion
02 < UtilGetServerVersionResponse
03 > GetUniverse_ExtraInfo
04 < UniverseStatusList_ExtraInfoResponse
05 > AddToBuddyListConfirmation
06 < AddToBuddyListFwdConfirmation
07 > AddToBuddyListFwdConfirmationResponse
08 > GetBuddyInvitations
09 < GetBuddyInvitationsResponse
0A > DnasSignaturePost
0B > UpdateLadderStatsWide
0C < UpdateLadderStatsWideResponse
0D > GetLadderStatsWide
0E < GetLadderStatsWideResponse
0F > LadderList_ExtraInfo
10 > UtilEventMsgHandler
11 < UniverseVariableInformationResponse
12 > SetLobbyWorldFilter
13 < SetLobbyWorldFilterResponse
14 > CreateChannel
15 > ChannelList_ExtraInfo1
16 > BinaryMessage
17 < BinaryFwdMessage
18 > PostDebugInfo
19 < PostDebugInfoResponse
1A > UpdateClanLadderStatsWide_Delta
1B < UpdateClanLadderStatsWide_DeltaResponse
1C > GetLadderStatsWide_wIDArray
1D < GetLadderStatsWide_wIDArray_Response
1E < UniverseSvoURLResponse
1F > ChannelList_ExtraInfo
20 > DListSubscription
21 > DListRequest
22 < DListResponse
23 > GenericChatMessage
24 < GenericChatFwdMessage
25 > GenericChatSetFilterRequest
26 < GenericChatSetFilterResponse
27 > ExtendedSessionBeginRequest
28 > TokenRequest
2A > GetServerTimeRequest
2B < GetServerTimeResponse
2C > VoteToBanPlayer
2D > SetAutoChatHistoryRequest
2E < SetAutoChatHistoryResponse
2F > CreateGame
30 > WorldReport
31 > ClearGameListFilter
32 < GetGameListFilterResponse
33 > SetGameListFilter
34 < SetGameListFilterResponse
35 > GameInfo
36 < GameInfoResponse
37 > GameList_ExtraInfo
38 < GameList_ExtraInfoResponse
39 > AccountUpdateStats_OpenAccess
3A < AccountUpdateStats_OpenAccessResponse
3B > AddPlayerToClan_ByClanOfficer
3C < AddPlayerToClan_ByClanOfficerResponse
3D > CrossChatMessage
3E < CroxxChatFwdMessage
3F < QueueUpdateMessage
40 < QueueCompleteMessage
41 > GetAccessLevelInfoRequest
42 < GetAccessLevelInfoResponse
43 < AccessLevelInfoUnsolicitedResponse
44 > FileListExtRequest
45 < FileListExtResponse
46 > FileUpdateAuxMetaDataRequest
48 > UtilGetTotalGamesFilteredRequest
49 < UtilGetTotalGamesFilteredResponse
4A > AccountLoginRequest1
4B < AccountLoginResponse1
4C > AccountLoginRequest2
4D < AccountLoginResponse2
4E > AddAliasRequest
4F < AddAliasResponse
50 > DeleteAliasRequest
51 < DeleteAliasResponse
52 > GetMyAliasesRequest
53 < GetMyAliasesResponse
54 > BuddySetListRequest
55 < BuddySetListResponse
56 > IgnoreSetListRequest
57 < IgnoreSetListResponse
58 > TicketLogin
59 < TicketLoginResponse
5A > SetLocalizationParamsRequest2
5B > BinaryMessage1
5C < BinaryFwdMessage1
5D > MatchGetSupersetListRequest
5E < MatchGetSupersetListResponse
5F > MatchPartyRequest
60 < MatchPartyResponse
61 < GetBuddyInvitationsSentResponse
62 < GetBuddyInvitationsSentResponse1
63 > AddToBuddyListConfirmationRequest
64 < AddToBuddyListConfirmationResponse
65 > PartyCreateRequest
66 < PartyCreateResponse
67 > PartyJoinRequest
68 < PartyJoinResponse
69 > GameListRequest
6A < PartyListResponse
6B > PlayerIgnoresMeRequest
6C < PlayerIgnoresMeResponse
6D > NpIdPostRequest
6E < StatusResponse_0
6F > MediusNpIdsGetByAccountNamesRequest
70 < MediusNpIdsGetByAccountNamesResponse
71 > JoinLeastPopulatedChannelRequest
72 < JoinLeastPopulatedChannelResponse
73 > GenericChatMessage1
74 < GenericChatFwdMessage1
75 > MediusTextFilter1
76 < MediusTextFilterResponse1
77 < GetMyClanMessagesResponse
78 > MatchPartyRequest2
79 > MatchSetGameStateRequest
7A < MatchSetGameStateResponse
7B > SetLocalizationParamsRequest1
7C > ClanRenameRequest
7D < ClanRenameStatusResponse
7E > SetGameListSortRequest
7F < SetGameListSortResponse
80 > GetGameListSortRequest
81 < GetGameListSortResponse
82 > ClearGameListSortRequest
83 < ClearGameListSortStatusResponse
84 > SetGameListSortPriorityRequest
85 < SetGameListSortPriorityStatusResponse
86 > SetLobbyWorldFilter1
87 > PartyJoinByIndexRequest
88 > MatchFindGameRequest
89 < MatchFindGameStatusResponse
8A < AssignedGameToJoinMessage
8B > SessionBegin1
8C > UpdateChannelRequest
8D < UpdateChannelResponse
8E < PartyJoinByIndexResponse
8F > PartyPlayerReport
90 > GroupJoinChannelRequest
91 < AssignedLobbyToJoinMessage
92 > MatchCancelRequest
93 < MatchCancelStatusResponse
94 > MatchCreateGameRequest
95 < MatchCreateGameResponse
96 > PartyList_ExtraInfoRequest
97 < PartyList_ExtraInfoResponse
A1 > UnkR2Request
A2 < UnkR2Response
A4 < SetLocalizationParamsStatusResponse1
"""

_MGCL = """
00 > ServerReport
01 > ServerAuthenticationRequest
02 < ServerAuthenticationResponse
03 > ServerSessionBeginRequest
04 < ServerSessionBeginResponse
05 > ServerSessionEndRequest
06 < ServerSessionEndResponse
07 < ServerCreateGameRequest
08 > ServerCreateGameResponse
09 < ServerJoinGameRequest
0A > ServerJoinGameResponse
0B = ServerEndGameRequest
0C = ServerEndGameResponse
0D < ServerWorldStatusRequest
0E > ServerWorldStatusResponse
0F > ServerCreateGameOnSelfRequest0
10 < ServerCreateGameOnMeResponse
11 > ServerEndGameOnMeRequest
12 < ServerEndGameOnMeResponse
14 > ServerMoveGameWorldOnMeRequest
15 < ServerMoveGameWorldOnMeResponse
16 > ServerSetAttributesRequest
17 < ServerSetAttributesResponse
18 < ServerCreateGameWithAttributesRequest
19 > ServerCreateGameWithAttributesResponse
1A < ServerConnectGamesRequest
1B > ServerConnectGamesResponse
1C > ServerConnectNotification
1D > ServerCreateGameOnSelfRequest
1E = ServerDisconnectPlayerRequest
1F > ServerCreateGameOnMeRequest
20 > ServerWorldReportOnMe
21 > ServerSessionBeginRequest1
22 < ServerSessionBeginResponse1
23 < ServerCreateGameWithAttributesRequest2
24 > ServerSessionBeginRequest2
"""

_DME = """
00 = ServerVersion
01 = Ping
02 = PacketFragment
03 = FieldUpdate
04 = ObjectUpdate
05 = DataStreamEnd
09 = AcceptClient
0A = DeleteNetObject
0B = RequestOwnership
0C = GrantOwnership
0D = ReleaseOwnership
0E = DataStreamUpdateP
0F = ClientUpdate
10 = ClientConnect
12 = ClientLeaves
13 = RequestServers
14 = ServerResponse
15 = ArbitrateJoin
16 = UpdateClientStatus
17 = SMMigrateOrder
19 = GameFind
1A = GameFindResults
1E = StreamMediaBufferRequest
1F = StreamMediaBufferGranted
20 = StreamMediaBufferRelease
21 = LANTextMessage
22 = LANRawMessage
25 = StreamMediaAudioData
26 = StreamMediaVideoData
27 = StreamMediaVideoCustomData
28 = StreamMediaChannelJoin
29 = StreamMediaChannelQuit
2B = StreamMediaChannelJoinResp
2D = StreamMediaClientStatus
2E = StreamMediaClientOrdinal
2F = GameMetaData
30 = ICESignal
"""


def _parse(msg_class: MessageClass, table: str) -> dict[tuple[int, int], MessageInfo]:
    out: dict[tuple[int, int], MessageInfo] = {}
    for line in table.split("\n"):
        if line:
            hex_id, arrow, name = line.split()
            key = (int(msg_class), int(hex_id, 16))
            out[key] = MessageInfo(msg_class, key[1], name, Direction(arrow))
    return out


#: Every known (class, type) pair.
REGISTRY: dict[tuple[int, int], MessageInfo] = {
    **_parse(MessageClass.LOBBY, _LOBBY),
    **_parse(MessageClass.LOBBY_EXT, _LOBBY_EXT),
    **_parse(MessageClass.MGCL, _MGCL),
    **_parse(MessageClass.DME, _DME),
}


def message_info(msg_class: int, msg_type: int) -> MessageInfo | None:
    return REGISTRY.get((msg_class, msg_type))


def message_name(msg_class: int, msg_type: int) -> str:
    """The registry name of a (class, type) pair, or ``Class<c>:0x<tt>`` when it is not known."""
    info = REGISTRY.get((msg_class, msg_type))
    if info is not None:
        return info.name
    try:
        cname = MessageClass(msg_class).name
    except ValueError:
        cname = f"Class{msg_class}"
    return f"{cname}:0x{msg_type:02X}"
