"""Players, buddies, ignore list and clans (§3.11-3.12)."""

from __future__ import annotations

from clank_lan.protocol.medius.codec import (
    LOBBY,
    LOBBY_EXT,
    KeyedRequestBody,
    MediusMessage,
    StatusBody,
    message,
)
from clank_lan.protocol.medius.layout import (
    I32,
    U32,
    Bool,
    MessageId,
    SessionKey,
    Stats256,
    Str32,
    Str200,
)
from clank_lan.protocol.medius.structs import OnlineState, PlayerOnlineState

# --- players ------------------------------------------------------------------------------------


@message(LOBBY, 0x39)
class FindPlayerRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    search_type: I32 = 0  # PlayerSearchType
    account_id: I32 = 0
    player_name: Str32 = ""


@message(LOBBY, 0x3A)
class FindPlayerResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    app_id: I32 = 0
    app_name: Str32 = ""
    app_type: I32 = 0  # ApplicationType
    world_id: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    end_of_list: Bool = False


class _AccountRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    account_id: I32 = 0


@message(LOBBY, 0x31)
class PlayerInfoRequest(_AccountRequestBody):
    pass


@message(LOBBY, 0x32)
class PlayerInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_name: Str32 = ""
    app_id: I32 = 0
    player_status: I32 = 0  # PlayerStatus
    connection_class: I32 = 0
    stats: Stats256 = bytes(256)


# --- buddies ------------------------------------------------------------------------------------


@message(LOBBY, 0x3D)
class GetBuddyListRequest(KeyedRequestBody):
    pass


@message(LOBBY, 0x3E)
class GetBuddyListResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    player_status: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0xD6)
class GetBuddyListExtraInfoRequest(MediusMessage):
    """Only the MessageID (21 bytes in b41)."""

    message_id: MessageId = ""


@message(LOBBY, 0xD7)
class GetBuddyListExtraInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    online_state: OnlineState = PlayerOnlineState()
    end_of_list: Bool = False


@message(LOBBY, 0x3F)
class AddToBuddyListRequest(_AccountRequestBody):
    pass


@message(LOBBY, 0x40)
class AddToBuddyListResponse(StatusBody):
    pass


@message(LOBBY, 0x41)
class RemoveFromBuddyListRequest(_AccountRequestBody):
    pass


@message(LOBBY, 0x42)
class RemoveFromBuddyListResponse(StatusBody):
    pass


@message(LOBBY_EXT, 0x05)
class AddToBuddyListConfirmationRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    target_account_id: I32 = 0
    add_type: I32 = 0  # BuddyAddType


@message(LOBBY_EXT, 0x06)
class AddToBuddyListFwdConfirmation(MediusMessage):
    """Server -> the invited player."""

    message_id: MessageId = ""
    originator_account_id: I32 = 0
    originator_account_name: Str32 = ""
    add_type: I32 = 0


@message(LOBBY_EXT, 0x07)
class AddToBuddyListFwdConfirmationResponse(MediusMessage):
    """The invited player's answer (status SUCCESS = accept)."""

    message_id: MessageId = ""
    status: I32 = 0
    session_key: SessionKey = ""
    originator_account_id: I32 = 0
    add_type: I32 = 0


@message(LOBBY_EXT, 0x64)
class AddToBuddyListConfirmationResponse(MediusMessage):
    """Server -> the originator once the invited player answered."""

    message_id: MessageId = ""
    status: I32 = 0
    target_account_id: I32 = 0
    target_account_name: Str32 = ""


@message(LOBBY_EXT, 0x08)
class GetBuddyInvitationsRequest(MediusMessage):
    message_id: MessageId = ""


@message(LOBBY_EXT, 0x09)
class GetBuddyInvitationsResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    add_type: I32 = 0
    end_of_list: Bool = False


# --- ignore list --------------------------------------------------------------------------------


@message(LOBBY, 0xC0)
class GetIgnoreListRequest(KeyedRequestBody):
    """38 bytes on the wire (Deadlocked capture); HZ reads two more pad bytes."""


@message(LOBBY, 0xC1)
class GetIgnoreListResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    ignore_account_id: I32 = 0
    ignore_account_name: Str32 = ""
    player_status: I32 = 0
    end_of_list: Bool = False


class _IgnoreRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    ignore_account_id: I32 = 0


@message(LOBBY, 0xC2)
class AddToIgnoreListRequest(_IgnoreRequestBody):
    pass


@message(LOBBY, 0xC3)
class AddToIgnoreListResponse(StatusBody):
    pass


@message(LOBBY, 0xC4)
class RemoveFromIgnoreListRequest(_IgnoreRequestBody):
    pass


@message(LOBBY, 0xC5)
class RemoveFromIgnoreListResponse(StatusBody):
    pass


# --- clans --------------------------------------------------------------------------------------


class _ClanNameRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0
    clan_name: Str32 = ""


@message(LOBBY, 0x54)
class CreateClanRequest(_ClanNameRequestBody):
    pass


@message(LOBBY, 0x55)
class CreateClanResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    clan_id: I32 = 0


class _ClanIdRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_id: I32 = 0


@message(LOBBY, 0x56)
class DisbandClanRequest(_ClanIdRequestBody):
    pass


@message(LOBBY, 0x57)
class DisbandClanResponse(StatusBody):
    pass


@message(LOBBY, 0x58)
class GetClanByIDRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    account_id: I32 = 0
    clan_id: I32 = 0


@message(LOBBY, 0x59)
class GetClanByIDResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    app_id: I32 = 0
    clan_name: Str32 = ""
    leader_account_id: I32 = 0
    leader_account_name: Str32 = ""
    stats: Stats256 = bytes(256)
    clan_status: I32 = 0  # ClanStatus


@message(LOBBY, 0x5A)
class GetClanByNameRequest(_ClanNameRequestBody):
    pass


@message(LOBBY, 0x5B)
class GetClanByNameResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    clan_id: I32 = 0
    leader_account_id: I32 = 0
    leader_account_name: Str32 = ""
    stats: Stats256 = bytes(256)
    clan_status: I32 = 0


@message(LOBBY, 0x5C)
class TransferClanLeadershipRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    new_leader_account_id: I32 = 0
    new_leader_account_name: Str32 = ""


@message(LOBBY, 0x5D)
class TransferClanLeadershipResponse(StatusBody):
    pass


class _PlayerMessageRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    player_account_id: I32 = 0
    text: Str200 = ""


@message(LOBBY, 0x5E)
class AddPlayerToClanRequest(_PlayerMessageRequestBody):
    """``text`` is the welcome message."""


@message(LOBBY, 0x5F)
class AddPlayerToClanResponse(StatusBody):
    pass


@message(LOBBY, 0x60)
class RemovePlayerFromClanRequest(MediusMessage):
    """Also how a member leaves a clan (their own account id)."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    player_account_id: I32 = 0
    clan_id: I32 = 0


@message(LOBBY, 0x61)
class RemovePlayerFromClanResponse(StatusBody):
    pass


@message(LOBBY, 0x62)
class InvitePlayerToClanRequest(_PlayerMessageRequestBody):
    """``text`` is the invitation message."""


@message(LOBBY, 0x63)
class InvitePlayerToClanResponse(StatusBody):
    """Also the answer to InvitePlayerToClan_ByName (0xEE), which has no response type of its own."""


@message(LOBBY, 0xEE)
class InvitePlayerToClanByNameRequest(MediusMessage):
    """Lobby 0xEE: the invitee by account name (no SessionKey); HZ's layout, 253 bytes + pad."""

    message_id: MessageId = ""
    account_name: Str32 = ""
    text: Str200 = ""  # the invitation message


class _PagedRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    start: I32 = 0
    page_size: I32 = 0


@message(LOBBY, 0x64)
class CheckMyClanInvitationsRequest(_PagedRequestBody):
    pass


@message(LOBBY, 0x65)
class CheckMyClanInvitationsResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    clan_invitation_id: I32 = 0
    clan_id: I32 = 0
    response_status: I32 = 0  # ClanInvitationResponseStatus
    text: Str200 = ""
    leader_account_id: I32 = 0
    leader_account_name: Str32 = ""
    end_of_list: Bool = False


@message(LOBBY, 0x66)
class RespondToClanInvitationRequest(MediusMessage):
    """Accepting (response 1) makes the player a member: the "join clan" operation."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_invitation_id: I32 = 0
    response: I32 = 0  # ClanInvitationResponseStatus
    text: Str200 = ""


@message(LOBBY, 0x67)
class RespondToClanInvitationResponse(StatusBody):
    pass


@message(LOBBY, 0x68)
class RevokeClanInvitationRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    player_account_id: I32 = 0


@message(LOBBY, 0x69)
class RevokeClanInvitationResponse(StatusBody):
    pass


@message(LOBBY, 0x7A)
class GetClanInvitationsSentRequest(_PagedRequestBody):
    pass


@message(LOBBY, 0x7B)
class GetClanInvitationsSentResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    response_text: Str200 = ""
    response_status: I32 = 0
    response_time: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0x7C)
class GetMyClansRequest(_PagedRequestBody):
    pass


@message(LOBBY, 0x7D)
class GetMyClansResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    clan_id: I32 = 0
    app_id: I32 = 0
    clan_name: Str32 = ""
    leader_account_id: I32 = 0
    leader_account_name: Str32 = ""
    stats: Stats256 = bytes(256)
    clan_status: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0x90)
class GetClanMemberListRequest(_ClanIdRequestBody):
    """MS3 reads a pad before the SessionKey; laid out here like every other keyed request (?)."""


@message(LOBBY, 0x91)
class GetClanMemberListResponse(MediusMessage):
    message_id: MessageId = ""
    account_id: I32 = 0
    account_name: Str32 = ""
    status: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0xDA)
class GetClanMemberListExtraInfoRequest(MediusMessage):
    message_id: MessageId = ""
    clan_id: I32 = 0
    ladder_stat_index: I32 = 0
    sort_order: I32 = 0  # SortOrder


@message(LOBBY, 0xDB)
class GetClanMemberListExtraInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    stats: Stats256 = bytes(256)
    online_state: OnlineState = PlayerOnlineState()
    ladder_stat: I32 = 0
    ladder_position: U32 = 0
    total_rankings: U32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0x84)
class UpdateClanStatsRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_id: I32 = 0
    stats: Stats256 = bytes(256)


@message(LOBBY, 0x85)
class UpdateClanStatsResponse(StatusBody):
    pass


# --- clan messages ------------------------------------------------------------------------------


@message(LOBBY, 0x6E)
class SendClanMessageRequest(MediusMessage):
    """No pad after the SessionKey: all chars."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    text: Str200 = ""


@message(LOBBY, 0x6F)
class SendClanMessageResponse(StatusBody):
    pass


@message(LOBBY, 0x6C)
class GetMyClanMessagesRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_id: I32 = 0
    start: I32 = 0
    page_size: I32 = 0


@message(LOBBY, 0x6D)
class GetMyClanMessagesResponse(MediusMessage):
    """HZ's layout (MS3 has no pad after the MessageID: ?)."""

    message_id: MessageId = ""
    status: I32 = 0
    clan_id: I32 = 0
    text: Str200 = ""
    end_of_list: Bool = False


@message(LOBBY, 0x70)
class ModifyClanMessageRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_message_id: I32 = 0
    text: Str200 = ""


@message(LOBBY, 0x71)
class ModifyClanMessageResponse(StatusBody):
    pass


@message(LOBBY, 0x72)
class DeleteClanMessageRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_message_id: I32 = 0


@message(LOBBY, 0x73)
class DeleteClanMessageResponse(StatusBody):
    pass


@message(LOBBY, 0x7E)
class GetAllClanMessagesRequest(_PagedRequestBody):
    pass


@message(LOBBY, 0x7F)
class GetAllClanMessagesResponse(MediusMessage):
    """Natural C layout; HZ puts the pad before EndOfList instead (?)."""

    message_id: MessageId = ""
    status: I32 = 0
    clan_message_id: I32 = 0
    text: Str200 = ""
    message_status: I32 = 0  # ClanMessageStatus
    end_of_list: Bool = False


# --- clan team challenges -----------------------------------------------------------------------


@message(LOBBY, 0x6A)
class RequestClanTeamChallengeRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_id: I32 = 0  # the challenged clan
    text: Str200 = ""


@message(LOBBY, 0x6B)
class RequestClanTeamChallengeResponse(StatusBody):
    pass


@message(LOBBY, 0x74)
class RespondToClanTeamChallengeRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_challenge_id: I32 = 0
    challenge_status: I32 = 0  # ClanChallengeStatus
    text: Str200 = ""


@message(LOBBY, 0x75)
class RespondToClanTeamChallengeResponse(StatusBody):
    pass


class _ChallengeIdRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_challenge_id: I32 = 0


@message(LOBBY, 0x76)
class RevokeClanTeamChallengeRequest(_ChallengeIdRequestBody):
    pass


@message(LOBBY, 0x77)
class RevokeClanTeamChallengeResponse(StatusBody):
    pass


@message(LOBBY, 0x80)
class ConfirmClanTeamChallengeRequest(_ChallengeIdRequestBody):
    pass


@message(LOBBY, 0x81)
class ConfirmClanTeamChallengeResponse(StatusBody):
    """Generic status (HZ reads only 2 pad bytes: ?)."""


@message(LOBBY, 0x78)
class GetClanTeamChallengeHistoryRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_id: I32 = 0
    this_clan_is_challenger: I32 = 0
    start: I32 = 0
    page_size: I32 = 0


@message(LOBBY, 0x79)
class GetClanTeamChallengeHistoryResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    against_clan_id: I32 = 0
    challenge_status: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0x82)
class GetClanTeamChallengesRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    clan_id: I32 = 0
    start: I32 = 0
    page_size: I32 = 0
    challenge_status: I32 = 0
    challenged_only: I32 = 0


@message(LOBBY, 0x83)
class GetClanTeamChallengesResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    challenger_clan_id: I32 = 0
    against_clan_id: I32 = 0
    challenge_status: I32 = 0
    response_time: I32 = 0
    challenge_text: Str200 = ""
    response_text: Str200 = ""
    end_of_list: Bool = False
    clan_challenge_id: I32 = 0
