"""Games: list, extra info, info, player list, filters, create, join, in-game reports (§3.8-3.10).

Two generations: the Lobby-class "...0"/"...1" forms with 3 generic fields (Medius 1.08: UYA) and
the LobbyExt forms with 8 generic fields (1.09+: Deadlocked). Answer in the request's generation.
"""

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
    I32,
    U16,
    U32,
    Bool,
    Int,
    MessageId,
    OptI32,
    RsaKey,
    SessionKey,
    Since,
    Stats256,
    Str32,
    Str64,
)
from clank_lan.protocol.medius.lobby import ExtraInfoPageRequestBody
from clank_lan.protocol.medius.structs import AddressList, ConnectInfo, NetAddressList, NetConnectionInfo

# --- game list ----------------------------------------------------------------------------------


@message(LOBBY, 0x29)
class GameListRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0
    page_id: U16 = 0
    page_size: U16 = 0


@message(LOBBY, 0x2A)
class GameListResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    world_id: I32 = 0
    game_name: Str64 = ""
    world_status: I32 = 0  # WorldStatus
    game_host_type: I32 = 0  # GameHostType
    player_count: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0xEA)
class GameListExtraInfo0Request(ExtraInfoPageRequestBody):
    pass


@message(LOBBY_EXT, 0x37)
class GameListExtraInfoRequest(ExtraInfoPageRequestBody):
    pass


@message(LOBBY, 0xEB)
class GameListExtraInfoResponse0(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    world_id: I32 = 0
    player_count: U16 = 0
    min_players: U16 = 0
    max_players: U16 = 0
    game_level: I32 = 0
    player_skill_level: I32 = 0
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    security_level: I32 = 0
    world_status: I32 = 0
    game_host_type: I32 = 0
    game_name: Str64 = ""
    game_stats: Stats256 = bytes(256)
    end_of_list: Bool = False


@message(LOBBY_EXT, 0x38)
class GameListExtraInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    world_id: I32 = 0
    player_count: U16 = 0
    min_players: U16 = 0
    max_players: U16 = 0
    game_level: I32 = 0
    player_skill_level: I32 = 0
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    generic_field_4: I32 = 0
    generic_field_5: I32 = 0
    generic_field_6: I32 = 0
    generic_field_7: I32 = 0
    generic_field_8: I32 = 0
    security_level: I32 = 0
    world_status: I32 = 0
    game_host_type: I32 = 0
    game_name: Str64 = ""
    game_stats: Stats256 = bytes(256)
    end_of_list: Bool = False


# --- game info, players -------------------------------------------------------------------------


class _WorldRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    world_id: I32 = 0


@message(LOBBY, 0x33)
class GameInfo0Request(_WorldRequestBody):
    pass


@message(LOBBY_EXT, 0x35)
class GameInfoRequest(_WorldRequestBody):
    pass


@message(LOBBY, 0x34)
class GameInfoResponse0(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    app_id: I32 = 0
    min_players: I32 = 0
    max_players: I32 = 0
    game_level: I32 = 0
    player_skill_level: I32 = 0
    player_count: I32 = 0
    game_stats: Stats256 = bytes(256)
    game_name: Str64 = ""
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    world_status: I32 = 0
    game_host_type: I32 = 0


@message(LOBBY_EXT, 0x36)
class GameInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    app_id: I32 = 0
    min_players: I32 = 0
    max_players: I32 = 0
    game_level: I32 = 0
    player_skill_level: I32 = 0
    player_count: I32 = 0
    game_stats: Stats256 = bytes(256)
    game_name: Str64 = ""
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    generic_field_4: I32 = 0
    generic_field_5: I32 = 0
    generic_field_6: I32 = 0
    generic_field_7: I32 = 0
    generic_field_8: I32 = 0
    world_status: I32 = 0
    game_host_type: I32 = 0


@message(LOBBY, 0x2F)
class GameWorldPlayerListRequest(_WorldRequestBody):
    pass


@message(LOBBY, 0x30)
class GameWorldPlayerListResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_name: Str32 = ""
    stats: Stats256 = bytes(256)
    connection_class: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0x37)
class FindWorldByNameRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    world_name: Str64 = ""
    world_type: I32 = 0  # FindWorldType


@message(LOBBY, 0x38)
class FindWorldByNameResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    app_id: I32 = 0
    app_name: Str32 = ""
    app_type: I32 = 0  # ApplicationType
    world_id: I32 = 0
    world_name: Str64 = ""
    world_status: I32 = 0
    end_of_list: Bool = False


@message(LOBBY, 0x9B)
class GetTotalGamesRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0


@message(LOBBY, 0x9C)
class GetTotalGamesResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    total: I32 = 0


# --- game list filters --------------------------------------------------------------------------


@message(LOBBY, 0x4E)
class SetGameListFilter0Request(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    filter_field: I32 = 0  # GameListFilterField
    comparison_operator: I32 = 0  # ComparisonOperator
    baseline_value: I32 = 0


@message(LOBBY, 0x4F)
class SetGameListFilterResponse0(MediusMessage):
    """Status only for 1.08 (UYA capture); HZ appends the FilterID for 1.09+, MS3 never does."""

    message_id: MessageId = ""
    status: I32 = 0
    filter_id: Annotated[int, Int("I"), Since(109)] = 0


@message(LOBBY_EXT, 0x33)
class SetGameListFilterRequest(MediusMessage):
    """No SessionKey in the Ext form."""

    message_id: MessageId = ""
    filter_field: I32 = 0
    mask: U32 = 0  # AND-mask applied to the field before comparing
    comparison_operator: I32 = 0
    baseline_value: I32 = 0


@message(LOBBY_EXT, 0x34)
class SetGameListFilterResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    filter_id: U32 = 0


@message(LOBBY, 0x50)
class ClearGameListFilter0Request(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    filter_id: U32 = 0


@message(LOBBY_EXT, 0x31)
class ClearGameListFilterRequest(MediusMessage):
    message_id: MessageId = ""
    filter_id: U32 = 0


@message(LOBBY, 0x51)
class ClearGameListFilterResponse(StatusBody):
    """Answers both clear forms."""


@message(LOBBY, 0x52)
class GetGameListFilterRequest(KeyedRequestBody):
    """38 bytes on the wire (Deadlocked capture); HZ reads two more pad bytes."""


@message(LOBBY, 0x53)
class GetGameListFilterResponse0(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    filter_field: I32 = 0
    comparison_operator: I32 = 0
    baseline_value: I32 = 0
    end_of_list: Bool = False


@message(LOBBY_EXT, 0x32)
class GetGameListFilterResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    filter_id: U32 = 0
    filter_field: I32 = 0
    mask: U32 = 0
    comparison_operator: I32 = 0
    baseline_value: I32 = 0
    end_of_list: Bool = False


# --- create -------------------------------------------------------------------------------------


@message(LOBBY, 0x1D)
class CreateGameRequest0(MediusMessage):
    """The oldest create form."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0
    min_players: I32 = 0
    max_players: I32 = 0
    game_level: I32 = 0
    game_name: Str64 = ""
    game_password: Str32 = ""
    player_skill_level: I32 = 0
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    game_host_type: I32 = 0


@message(LOBBY, 0xF4)
class CreateGame1Request(MediusMessage):
    """UYA's create. 212 bytes with ``attributes``, 208 without (``attributes=None``): chosen by
    the body length on decode (CL's rule; HZ always reads it, MS3 never)."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0
    min_players: I32 = 0
    max_players: I32 = 0
    game_level: I32 = 0  # UYA: map / level
    game_name: Str64 = ""
    game_password: Str32 = ""
    spectator_password: Str32 = ""
    player_skill_level: I32 = 0
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    game_host_type: I32 = 0
    attributes: OptI32 = None  # WorldAttributes


@message(LOBBY_EXT, 0x2F)
class CreateGameRequest(MediusMessage):
    """The 1.09+ create (Deadlocked)."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0
    min_players: I32 = 0
    max_players: I32 = 0
    game_level: I32 = 0
    game_name: Str64 = ""
    game_password: Str32 = ""
    spectator_password: Str32 = ""
    player_skill_level: I32 = 0
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    generic_field_4: I32 = 0
    generic_field_5: I32 = 0
    generic_field_6: I32 = 0
    generic_field_7: I32 = 0
    generic_field_8: I32 = 0
    game_host_type: I32 = 0
    attributes: I32 = 0


@message(LOBBY, 0x1E)
class CreateGameResponse(MediusMessage):
    """Answers every create form; ``world_id`` is -1 on failure."""

    message_id: MessageId = ""
    status: I32 = 0
    world_id: I32 = 0


# --- join ---------------------------------------------------------------------------------------


@message(LOBBY, 0x23)
class JoinGameRequest0(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    world_id: I32 = 0
    game_password: Str32 = ""
    game_host_type: I32 = 0
    address_list: AddressList = NetAddressList()


@message(LOBBY, 0xF3)
class JoinGameRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    world_id: I32 = 0  # -1 = any game
    join_type: I32 = 0  # JoinType
    game_password: Str32 = ""
    game_host_type: I32 = 0
    pub_key: RsaKey = bytes(64)  # client RSA key (P2P)
    address_list: AddressList = NetAddressList()  # client addresses (P2P)


@message(LOBBY, 0x24)
class JoinGameResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    game_host_type: I32 = 0
    connect_info: ConnectInfo = NetConnectionInfo()  # the DME, TargetWorldID = game world


# --- in-game reports (never answered) -------------------------------------------------------------


@message(LOBBY, 0x00)
class WorldReport0(MediusMessage):
    """1.08 host report; its ``world_status`` drives the game (Staging -> Active -> Closed)."""

    session_key: SessionKey = ""
    world_id: I32 = 0
    player_count: I32 = 0
    game_name: Str64 = ""
    game_stats: Stats256 = bytes(256)
    min_players: I32 = 0
    max_players: I32 = 0
    game_level: I32 = 0
    player_skill_level: I32 = 0
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    world_status: I32 = 0


@message(LOBBY_EXT, 0x30)
class WorldReport(MediusMessage):
    """1.09+ host report: no MessageID and no SessionKey (confirmed by b41)."""

    world_id: I32 = 0
    player_count: I32 = 0
    game_name: Str64 = ""
    game_stats: Stats256 = bytes(256)
    min_players: I32 = 0
    max_players: I32 = 0
    game_level: I32 = 0
    player_skill_level: I32 = 0
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0
    generic_field_4: I32 = 0
    generic_field_5: I32 = 0
    generic_field_6: I32 = 0
    generic_field_7: I32 = 0
    generic_field_8: I32 = 0
    world_status: I32 = 0


@message(LOBBY, 0x01)
class PlayerReport(MediusMessage):
    session_key: SessionKey = ""
    world_id: I32 = 0
    stats: Stats256 = bytes(256)  # the new account stats blob


@message(LOBBY, 0x02)
class EndGameReport(MediusMessage):
    session_key: SessionKey = ""
    world_id: I32 = 0
    winning_team: Str64 = ""
    winning_player: Str32 = ""
    final_score: I32 = 0
