"""MGCL (class 3, "LobbyReport"): game host (DME server or P2P host console) <-> Medius (§2.4).

Our appliance runs MLS and DME in one process and need not speak MGCL on the wire; these codecs
exist for a separately running DME and for the dissector. ``confirmation`` is an int8
``MgclError``. Layouts: HZ / MS3 ``RT.Models/MGCL``, laid out with C natural alignment.
"""

from __future__ import annotations

from clank_lan.protocol.medius.codec import MGCL, MediusMessage, message
from clank_lan.protocol.medius.layout import (
    I8,
    I16,
    I32,
    U32,
    Bool,
    MessageId,
    RsaKey,
    SessionKey,
    Stats256,
    Str16,
    Str20,
    Str32,
    Str64,
)
from clank_lan.protocol.medius.structs import (
    Address,
    AddressList,
    ConnectInfo,
    NetAddress,
    NetAddressList,
    NetConnectionInfo,
)


@message(MGCL, 0x00)
class ServerReport(MediusMessage):
    """Periodic load report from a DME; no MessageID."""

    session_key: SessionKey = ""
    max_worlds: I16 = 0
    max_players_per_world: I16 = 0
    active_world_count: I16 = 0
    total_active_players: I16 = 0
    alert_level: I32 = 0


@message(MGCL, 0x01)
class ServerAuthenticationRequest(MediusMessage):
    message_id: MessageId = ""
    trust_level: I32 = 0  # MgclTrustLevel
    address_list: AddressList = NetAddressList()


class _ConfirmConnectBody(MediusMessage):
    message_id: MessageId = ""
    confirmation: I8 = 0
    connect_info: ConnectInfo = NetConnectionInfo()


@message(MGCL, 0x02)
class ServerAuthenticationResponse(_ConfirmConnectBody):
    pass


@message(MGCL, 0x03)
class ServerSessionBeginRequest(MediusMessage):
    message_id: MessageId = ""
    location_id: I32 = 0
    app_id: I32 = 0
    server_type: I32 = 0  # GameHostType
    server_version: Str16 = ""
    port: I32 = 0


@message(MGCL, 0x04)
class ServerSessionBeginResponse(_ConfirmConnectBody):
    pass


@message(MGCL, 0x21)
class ServerSessionBeginRequest1(MediusMessage):
    message_id: MessageId = ""
    location_id: I32 = 0
    app_id: I32 = 0
    server_type: I32 = 0
    client_version_major: I32 = 0
    client_version_minor: I32 = 0
    client_version_build: I32 = 0
    port: I32 = 0


@message(MGCL, 0x22)
class ServerSessionBeginResponse1(_ConfirmConnectBody):
    pass


@message(MGCL, 0x05)
class ServerSessionEndRequest(MediusMessage):
    message_id: MessageId = ""


class _ConfirmBody(MediusMessage):
    message_id: MessageId = ""
    confirmation: I8 = 0


@message(MGCL, 0x06)
class ServerSessionEndResponse(_ConfirmBody):
    pass


@message(MGCL, 0x07)
class ServerCreateGameRequest(MediusMessage):
    message_id: MessageId = ""
    app_id: I32 = 0
    max_clients: I32 = 0


class _ConfirmWorldBody(MediusMessage):
    message_id: MessageId = ""
    confirmation: I8 = 0
    world_id: I32 = 0


@message(MGCL, 0x08)
class ServerCreateGameResponse(_ConfirmWorldBody):
    pass


@message(MGCL, 0x18)
class ServerCreateGameWithAttributesRequest(MediusMessage):
    message_id: MessageId = ""
    app_id: I32 = 0
    max_clients: I32 = 0
    attributes: I32 = 0  # WorldAttributes
    world_uid: U32 = 0  # the MLS game id


@message(MGCL, 0x19)
class ServerCreateGameWithAttributesResponse(_ConfirmWorldBody):
    """``world_id`` = the DME world id."""


@message(MGCL, 0x09)
class ServerJoinGameRequest(MediusMessage):
    """MLS -> DME: the player's session key, access key and target world in ``connect_info``."""

    message_id: MessageId = ""
    connect_info: ConnectInfo = NetConnectionInfo()


@message(MGCL, 0x0A)
class ServerJoinGameResponse(MediusMessage):
    message_id: MessageId = ""
    confirmation: I8 = 0
    access_key: SessionKey = ""
    pub_key: RsaKey = bytes(64)  # the DME's RSA key
    dme_client_index: I32 = 0


@message(MGCL, 0x0B)
class ServerEndGameRequest(MediusMessage):
    message_id: MessageId = ""
    world_id: I32 = 0
    brutal_flag: Bool = False  # kick everyone now (else: close once empty)


@message(MGCL, 0x0C)
class ServerEndGameResponse(_ConfirmBody):
    pass


@message(MGCL, 0x0D)
class ServerWorldStatusRequest(MediusMessage):
    message_id: MessageId = ""
    world_id: I32 = 0


@message(MGCL, 0x0E)
class ServerWorldStatusResponse(MediusMessage):
    message_id: MessageId = ""
    app_id: I32 = 0
    max_clients: I32 = 0
    active_clients: I32 = 0
    confirmation: I8 = 0


class _CreateGameOnHostBody(MediusMessage):
    message_id: MessageId = ""
    game_name: Str64 = ""
    game_stats: Stats256 = bytes(256)
    game_password: Str32 = ""
    app_id: I32 = 0
    max_players: I32 = 0
    min_players: I32 = 0
    game_level: I32 = 0
    player_skill_level: I32 = 0
    rules_set: I32 = 0
    generic_field_1: I32 = 0
    generic_field_2: I32 = 0
    generic_field_3: I32 = 0


@message(MGCL, 0x0F)
class ServerCreateGameOnSelfRequest0(_CreateGameOnHostBody):
    game_host_type: I32 = 0
    address_list: AddressList = NetAddressList()
    world_id: I32 = 0


@message(MGCL, 0x1D)
class ServerCreateGameOnSelfRequest(_CreateGameOnHostBody):
    game_host_type: I32 = 0
    address_list: AddressList = NetAddressList()
    world_id: I32 = 0
    account_id: I32 = 0


@message(MGCL, 0x1F)
class ServerCreateGameOnMeRequest(_CreateGameOnHostBody):
    generic_field_4: I32 = 0
    generic_field_5: I32 = 0
    generic_field_6: I32 = 0
    generic_field_7: I32 = 0
    generic_field_8: I32 = 0
    game_host_type: I32 = 0
    address_list: AddressList = NetAddressList()
    world_id: I32 = 0
    account_id: I32 = 0


@message(MGCL, 0x10)
class ServerCreateGameOnMeResponse(_ConfirmWorldBody):
    """Answers 0x0F, 0x1D and 0x1F; ``world_id`` = the Medius world id."""


@message(MGCL, 0x11)
class ServerEndGameOnMeRequest(MediusMessage):
    message_id: MessageId = ""
    world_id: I32 = 0


@message(MGCL, 0x12)
class ServerEndGameOnMeResponse(_ConfirmBody):
    pass


@message(MGCL, 0x14)
class ServerMoveGameWorldOnMeRequest(MediusMessage):
    message_id: MessageId = ""
    current_world_id: I32 = 0
    new_game_world_id: I32 = 0
    address_list: AddressList = NetAddressList()


@message(MGCL, 0x15)
class ServerMoveGameWorldOnMeResponse(_ConfirmWorldBody):
    pass


@message(MGCL, 0x16)
class ServerSetAttributesRequest(MediusMessage):
    message_id: MessageId = ""
    attributes: I32 = 0
    listen_server_address: Address = NetAddress()


@message(MGCL, 0x17)
class ServerSetAttributesResponse(_ConfirmBody):
    pass


@message(MGCL, 0x1A)
class ServerConnectGamesRequest(MediusMessage):
    message_id: MessageId = ""
    server_ip: Str20 = ""
    server_port: I32 = 0
    game_world_id: I32 = 0
    spectator_world_id: I32 = 0


@message(MGCL, 0x1B)
class ServerConnectGamesResponse(MediusMessage):
    message_id: MessageId = ""
    game_world_id: I32 = 0
    spectator_world_id: I32 = 0
    confirmation: I8 = 0


@message(MGCL, 0x1C)
class ServerConnectNotification(MediusMessage):
    """DME -> Medius: a player connected (1) or disconnected (0). No MessageID."""

    connect_event_type: I32 = 0  # MgclEventType
    world_uid: U32 = 0
    player_session_key: SessionKey = ""


@message(MGCL, 0x1E)
class ServerDisconnectPlayerRequest(MediusMessage):
    message_id: MessageId = ""
    dme_world_id: I32 = 0
    dme_client_index: I32 = 0


@message(MGCL, 0x20)
class ServerWorldReportOnMe(MediusMessage):
    message_id: MessageId = ""
    game_name: Str64 = ""
    game_stats: Stats256 = bytes(256)
    game_password: Str32 = ""
    app_id: I32 = 0
    max_players: I32 = 0
    min_players: I32 = 0
    player_count: I32 = 0
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
    world_id: I32 = 0
    world_status: I32 = 0
