"""Stats and ladders (§3.13): 15-int (1.08, Lobby) and 100-int "wide" (1.09+, LobbyExt) stats."""

from __future__ import annotations

from clank_lan.protocol.medius.codec import LOBBY, LOBBY_EXT, MediusMessage, StatusBody, message
from clank_lan.protocol.medius.layout import (
    I32,
    U32,
    Bool,
    LadderStats,
    LadderStatsWide,
    MessageId,
    SessionKey,
    Stats256,
    Str32,
)
from clank_lan.protocol.medius.structs import OnlineState, PlayerOnlineState

_ZERO15 = (0,) * 15
_ZERO100 = (0,) * 100


@message(LOBBY_EXT, 0x0B)
class UpdateLadderStatsWideRequest(MediusMessage):
    message_id: MessageId = ""
    ladder_type: I32 = 0  # LadderType
    stats: LadderStatsWide = _ZERO100


@message(LOBBY_EXT, 0x0C)
class UpdateLadderStatsWideResponse(StatusBody):
    pass


@message(LOBBY_EXT, 0x0D)
class GetLadderStatsWideRequest(MediusMessage):
    message_id: MessageId = ""
    account_id_or_clan_id: I32 = 0
    ladder_type: I32 = 0


@message(LOBBY_EXT, 0x0E)
class GetLadderStatsWideResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id_or_clan_id: I32 = 0
    stats: LadderStatsWide = _ZERO100


@message(LOBBY, 0xCE)
class UpdateLadderStatsRequest(MediusMessage):
    message_id: MessageId = ""
    ladder_type: I32 = 0
    stats: LadderStats = _ZERO15


@message(LOBBY, 0xCF)
class UpdateLadderStatsResponse(StatusBody):
    pass


@message(LOBBY, 0xD0)
class GetLadderStatsRequest(MediusMessage):
    """Natural C layout (MS3 reads the id right after the MessageID, without the pad: ?)."""

    message_id: MessageId = ""
    account_id_or_clan_id: I32 = 0


@message(LOBBY, 0xD1)
class GetLadderStatsResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    stats: LadderStats = _ZERO15


@message(LOBBY, 0x92)
class LadderPositionRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    start_byte: I32 = 0
    end_byte: I32 = 0
    sort_order: I32 = 0  # SortOrder
    account_id: I32 = 0


@message(LOBBY, 0x93)
class LadderPositionResponse(MediusMessage):
    """Status last."""

    message_id: MessageId = ""
    ladder_position: U32 = 0
    status: I32 = 0


@message(LOBBY, 0xF1)
class LadderPositionExtraInfoRequest(MediusMessage):
    message_id: MessageId = ""
    account_id: I32 = 0
    ladder_stat_index: I32 = 0
    sort_order: I32 = 0


@message(LOBBY, 0xF2)
class LadderPositionExtraInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    ladder_position: U32 = 0
    total_rankings: U32 = 0


class _LadderListBody(MediusMessage):
    message_id: MessageId = ""
    ladder_stat_index: I32 = 0  # index into the 100-int wide stats
    sort_order: I32 = 0
    start_position: U32 = 0  # 1-based
    page_size: U32 = 0


@message(LOBBY_EXT, 0x0F)
class LadderListExtraInfoRequest(_LadderListBody):
    pass


@message(LOBBY, 0xEF)
class LadderListExtraInfo0Request(_LadderListBody):
    pass


@message(LOBBY, 0xF0)
class LadderListExtraInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    ladder_position: U32 = 0
    ladder_stat: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    account_stats: Stats256 = bytes(256)
    online_state: OnlineState = PlayerOnlineState()
    end_of_list: Bool = False


@message(LOBBY, 0xD8)
class GetTotalRankingsRequest(MediusMessage):
    message_id: MessageId = ""
    ladder_type: I32 = 0


@message(LOBBY, 0xD9)
class GetTotalRankingsResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    total_rankings: U32 = 0


@message(LOBBY, 0xD2)
class ClanLadderListRequest(MediusMessage):
    message_id: MessageId = ""
    clan_ladder_stat_index: I32 = 0
    sort_order: I32 = 0
    start_position: I32 = 0
    page_size: I32 = 0


@message(LOBBY, 0xD3)
class ClanLadderListResponse(MediusMessage):
    message_id: MessageId = ""
    clan_id: I32 = 0
    clan_name: Str32 = ""
    ladder_position: U32 = 0
    status: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0xD4)
class ClanLadderPositionRequest(MediusMessage):
    message_id: MessageId = ""
    clan_id: I32 = 0
    clan_ladder_stat_index: I32 = 0
    sort_order: I32 = 0


@message(LOBBY, 0xD5)
class ClanLadderPositionResponse(MediusMessage):
    message_id: MessageId = ""
    ladder_position: U32 = 0
    total_rankings: U32 = 0
    status: I32 = 0
