"""Lobby channels, chat, binary messages, text filter, locations and counters (§3.5-3.7, §3.14)."""

from __future__ import annotations

from typing import Annotated

from clank_lan.protocol.medius.codec import (
    LOBBY,
    LOBBY_EXT,
    KeyedRequestBody,
    MediusMessage,
    StatusBody,
    message,
)
from clank_lan.protocol.medius.layout import (
    I16,
    I32,
    U16,
    U32,
    Bool,
    Bytes16,
    CodecContext,
    Int,
    MessageId,
    Raw,
    SessionKey,
    Since,
    Stats256,
    Str32,
    Str64,
)
from clank_lan.protocol.medius.structs import ConnectInfo, NetConnectionInfo, OnlineState, PlayerOnlineState


class ExtraInfoPageRequestBody(MediusMessage):
    """The ChannelList_/GameList_ExtraInfo requests: no SessionKey, a pad byte before the uint16s
    (26 bytes, as UYA sends them). Clank reads a 25-byte form without the pad; both decode."""

    message_id: MessageId = ""
    page_id: U16 = 0
    page_size: U16 = 0

    @classmethod
    def decode_body(cls, body: bytes, ctx: CodecContext):
        if len(body) == 25:
            body = body[:21] + b"\0" + body[21:]
        return super().decode_body(body, ctx)


# --- channel lists ------------------------------------------------------------------------------


@message(LOBBY, 0x2B)
class ChannelListRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    page_id: I16 = 0  # 1-based
    page_size: I16 = 0


@message(LOBBY, 0x2C)
class ChannelListResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    world_id: I32 = 0
    lobby_name: Str64 = ""
    player_count: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0xEC)
class ChannelListExtraInfo0Request(ExtraInfoPageRequestBody):
    pass


@message(LOBBY_EXT, 0x15)
class ChannelListExtraInfo1Request(ExtraInfoPageRequestBody):
    """UYA sends this one."""


@message(LOBBY_EXT, 0x1F)
class ChannelListExtraInfoRequest(ExtraInfoPageRequestBody):
    pass


@message(LOBBY, 0xED)
class ChannelListExtraInfoResponse(MediusMessage):
    """Answers all three ChannelList_ExtraInfo requests. ``game_world_count`` exists only for
    Medius >= 1.09 (132 bytes; 128 for 1.08, as UYA's captures show with GF2-4 + level present)."""

    message_id: MessageId = ""
    status: I32 = 0
    world_id: I32 = 0
    player_count: U16 = 0
    max_players: U16 = 0
    game_world_count: Annotated[int, Int("H"), Since(109)] = 0
    security_level: I32 = 0  # WorldSecurityLevel flags
    generic_field_1: U32 = 0
    generic_field_2: U32 = 0
    generic_field_3: U32 = 0
    generic_field_4: U32 = 0
    generic_field_level: I32 = 0  # GenericFieldLevel
    lobby_name: Str64 = ""
    end_of_list: Bool = False


# --- channel info, join, create, players ----------------------------------------------------------


class _WorldRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    world_id: I32 = 0


@message(LOBBY, 0x35)
class ChannelInfoRequest(_WorldRequestBody):
    pass


@message(LOBBY, 0x36)
class ChannelInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    lobby_name: Str64 = ""
    active_player_count: I32 = 0
    max_players: I32 = 0


@message(LOBBY, 0x25)
class JoinChannelRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    world_id: I32 = 0
    lobby_channel_password: Str32 = ""


@message(LOBBY, 0x26)
class JoinChannelResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    connect_info: ConnectInfo = NetConnectionInfo()


@message(LOBBY_EXT, 0x14)
class CreateChannelRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0
    max_players: I32 = 0
    lobby_name: Str64 = ""
    lobby_password: Str32 = ""
    generic_field_1: U32 = 0
    generic_field_2: U32 = 0
    generic_field_3: U32 = 0
    generic_field_4: U32 = 0
    generic_field_level: I32 = 0


@message(LOBBY_EXT, 0x00)
class CreateChannel1Request(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0
    max_players: I32 = 0
    lobby_name: Str64 = ""
    lobby_password: Str32 = ""


@message(LOBBY, 0x22)
class CreateChannelResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    world_id: I32 = 0


@message(LOBBY, 0x2D)
class LobbyWorldPlayerListRequest(_WorldRequestBody):
    pass


@message(LOBBY, 0x2E)
class LobbyWorldPlayerListResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    player_status: I32 = 0  # PlayerStatus
    account_id: I32 = 0
    account_name: Str32 = ""
    stats: Stats256 = bytes(256)
    connection_class: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0x9F)
class GetLobbyPlayerNamesRequest(_WorldRequestBody):
    pass


@message(LOBBY, 0xA0)
class GetLobbyPlayerNamesResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    end_of_list: Bool = False


@message(LOBBY, 0xDC)
class GetLobbyPlayerNamesExtraInfoRequest(MediusMessage):
    message_id: MessageId = ""
    world_id: I32 = 0


@message(LOBBY, 0xDD)
class GetLobbyPlayerNamesExtraInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    online_state: OnlineState = PlayerOnlineState()
    end_of_list: Bool = False


# --- lobby world filter, security level, counters -------------------------------------------------


class _LobbyWorldFilterBody(MediusMessage):
    message_id: MessageId = ""
    filter_mask_1: U32 = 0
    filter_mask_2: U32 = 0
    filter_mask_3: U32 = 0
    filter_mask_4: U32 = 0
    lobby_filter_type: I32 = 0  # LobbyFilterType
    filter_mask_level: I32 = 0  # GenericFieldLevel


@message(LOBBY_EXT, 0x12)
class SetLobbyWorldFilterRequest(_LobbyWorldFilterBody):
    pass


@message(LOBBY_EXT, 0x86)
class SetLobbyWorldFilter1Request(_LobbyWorldFilterBody):
    """Answered with Ext 0x13 ``SetLobbyWorldFilterResponse``, like Ext 0x12 (issue 13 item 6).

    Evidence: Sony answers Ext 0x12 with Ext 0x13 (UYA To_Veldin.pcap frames 18-20), and no
    capture holds an Ext 0x86. Horizon declares a ``SetLobbyWorldFilterResponse1`` class under
    Ext 0x87, but that class's wire type byte is ``SetLobbyWorldFilterResponse`` (0x13), so what
    Horizon actually sends is Ext 0x13 too; the SDK enum (MS3) names Ext 0x87
    ``PartyJoinByIndexRequest``, a client-to-server message, which our registry keeps.
    """


@message(LOBBY_EXT, 0x13)
class SetLobbyWorldFilterResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    filter_mask_1: U32 = 0
    filter_mask_2: U32 = 0
    filter_mask_3: U32 = 0
    filter_mask_4: U32 = 0
    lobby_filter_type: I32 = 0
    filter_mask_level: I32 = 0


@message(LOBBY, 0x88)
class GetWorldSecurityLevelRequest(MediusMessage):
    """The SessionKey follows the MessageID directly (UYA capture); MS3/HZ read a pad first."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    world_id: I32 = 0
    app_type: I32 = 0  # ApplicationType


@message(LOBBY, 0x89)
class GetWorldSecurityLevelResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    world_id: I32 = 0
    app_type: I32 = 0
    security_level: I32 = 0


class _AppRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0


@message(LOBBY, 0x9D)
class GetTotalChannelsRequest(_AppRequestBody):
    pass


@message(LOBBY, 0x9E)
class GetTotalChannelsResponse(MediusMessage):
    """Total before the status (unlike GetTotalGamesResponse)."""

    message_id: MessageId = ""
    total: U32 = 0
    status: I32 = 0


@message(LOBBY, 0xA1)
class GetTotalUsersRequest(_AppRequestBody):
    pass


@message(LOBBY, 0xA2)
class GetTotalUsersResponse(MediusMessage):
    message_id: MessageId = ""
    total_in_system: U32 = 0
    total_in_game: U32 = 0
    status: I32 = 0


@message(LOBBY, 0x8C)
class GetLocationsRequest(KeyedRequestBody):
    pass


@message(LOBBY, 0x8D)
class GetLocationsResponse(MediusMessage):
    message_id: MessageId = ""
    location_id: I32 = 0
    location_name: Str64 = ""
    status: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0x8E)
class PickLocationRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    location_id: I32 = 0


@message(LOBBY, 0x8F)
class PickLocationResponse(StatusBody):
    pass


# --- chat ---------------------------------------------------------------------------------------


@message(LOBBY, 0x96)
class ChatToggleRequest(MediusMessage):
    """MS3's layout; HZ and CL read only the MessageID (a 21-byte body decodes too)."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    chat_toggle: I32 = 0  # ChatToggle


@message(LOBBY, 0x97)
class ChatToggleResponse(StatusBody):
    pass


class _ChatBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    message_type: I32 = 0  # ChatMessageType
    target_id: I32 = 0  # account id for a whisper
    text: Str64 = ""


@message(LOBBY, 0x3B)
class ChatMessage(_ChatBody):
    """1.08 chat (UYA); forwarded to the recipients as ChatFwdMessage, no reply."""


@message(LOBBY, 0x3C)
class ChatFwdMessage(MediusMessage):
    message_id: MessageId = ""
    originator_account_id: I32 = 0
    originator_account_name: Str32 = ""
    message_type: I32 = 0
    text: Str64 = ""


@message(LOBBY_EXT, 0x23)
class GenericChatMessage(_ChatBody):
    """1.09+ chat; forwarded as GenericChatFwdMessage."""


@message(LOBBY_EXT, 0x24)
class GenericChatFwdMessage(MediusMessage):
    """No MessageID."""

    time_stamp: U32 = 0
    originator_account_id: I32 = 0
    message_type: I32 = 0
    originator_account_name: Str32 = ""
    text: Str64 = ""


@message(LOBBY_EXT, 0x25)
class GenericChatSetFilterRequest(MediusMessage):
    """54 bytes: the 16-byte filter follows the SessionKey unaligned (b41)."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    chat_filter: Bytes16 = bytes(16)


@message(LOBBY_EXT, 0x26)
class GenericChatSetFilterResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    chat_filter: Bytes16 = bytes(16)


@message(LOBBY_EXT, 0x2D)
class SetAutoChatHistoryRequest(MediusMessage):
    message_id: MessageId = ""
    num_messages: I32 = 0


@message(LOBBY_EXT, 0x2E)
class SetAutoChatHistoryResponse(StatusBody):
    pass


# --- binary messages ----------------------------------------------------------------------------

Binary400 = Annotated[bytes, Raw(400)]  # BINARYMESSAGE_MAXLEN


@message(LOBBY_EXT, 0x16)
class BinaryMessage(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    message_type: I32 = 0  # BinaryMessageType
    target_account_id: I32 = 0
    payload: Binary400 = bytes(400)


@message(LOBBY_EXT, 0x17)
class BinaryFwdMessage(MediusMessage):
    message_id: MessageId = ""
    originator_account_id: I32 = 0
    message_type: I32 = 0
    payload: Binary400 = bytes(400)


# --- text filter, tokens ------------------------------------------------------------------------


@message(LOBBY, 0x98)
class TextFilterRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    text_filter_type: I32 = 0  # TextFilterType
    text: Str64 = ""


@message(LOBBY, 0x99)
class TextFilterResponse(MediusMessage):
    message_id: MessageId = ""
    text: Str64 = ""  # possibly rewritten
    status: I32 = 0  # PASS (4) or FILTER_FAILED (-967)


@message(LOBBY_EXT, 0x75)
class MediusTextFilter1Request(MediusMessage):
    """Ext 0x75 ``MediusTextFilter1`` (PS3-era SDKs), the C struct MS3 reads: aligned like 0x98
    (MessageID, SessionKey, 2 pad, type at 40), then a text length and 64 characters, 112 bytes.
    Horizon reads 4 pad bytes and a length at 42 instead (an unaligned int32, so not a C struct);
    no capture exists (medius-messages.md section 7.1 row 14)."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    text_filter_type: I32 = 0  # TextFilterType
    text_size: U32 = 0
    text: Str64 = ""


@message(LOBBY_EXT, 0x76)
class MediusTextFilterResponse1(MediusMessage):
    """Ext 0x76: MS3's 96-byte form (status, text length, possibly rewritten text). Horizon's
    32-byte form is the same start (MessageID, 3 pad, status) and 4 zero bytes, so a console
    reading either layout finds the status where it looks for it."""

    message_id: MessageId = ""
    status: I32 = 0  # SUCCESS / PASS, or FILTER_FAILED
    text_size: U32 = 0
    text: Str64 = ""


@message(LOBBY_EXT, 0x28)
class TokenRequest(MediusMessage):
    """HZ's 52-byte form (MS3 reads 3 more pad bytes).

    No response type is named for it: Horizon answers with the generic 28-byte status body under
    the request's own class and type (Ext 0x28), MS3 under Ext 0x41. A reply is therefore built
    as raw bytes, not as a typed message (the (class, type) table holds one class per id).
    """

    message_id: MessageId = ""
    token_action: I32 = 0  # 1 add, 2 update, 3 remove
    token_category: I32 = 0
    entity_id: U32 = 0
    token_to_replace: Annotated[bytes, Raw(8)] = bytes(8)
    token: Annotated[bytes, Raw(8)] = bytes(8)
