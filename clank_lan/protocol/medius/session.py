"""Session, localization, DNAS, version, server time, IP, policy and announcements (§3.0-3.4)."""

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
    U8,
    U32,
    Bool,
    MessageId,
    OptI32,
    Raw,
    SessionKey,
    Str,
    Str20,
    Str56,
    Str200,
    Str256,
)

# --- session ----------------------------------------------------------------------------------


class _SessionBeginBody(MediusMessage):
    message_id: MessageId = ""
    connection_class: I32 = 0  # ConnectionType


@message(LOBBY, 0x03)
class SessionBeginRequest(_SessionBeginBody):
    """First request on the MAS; answered with SessionBeginResponse."""


@message(LOBBY_EXT, 0x8B)
class SessionBegin1Request(_SessionBeginBody):
    pass


@message(LOBBY_EXT, 0x27)
class ExtendedSessionBeginRequest(MediusMessage):
    """1.09+ session begin with the client version (Deadlocked). Answered with SessionBeginResponse."""

    message_id: MessageId = ""
    connection_class: I32 = 0
    client_version_major: I32 = 0
    client_version_minor: I32 = 0
    client_version_build: I32 = 0


@message(LOBBY, 0x04)
class SessionBeginResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    session_key: SessionKey = ""


@message(LOBBY, 0x05)
class SessionEndRequest(KeyedRequestBody):
    pass


@message(LOBBY, 0x06)
class SessionEndResponse(StatusBody):
    pass


# --- localization -------------------------------------------------------------------------------


class _LocalizationBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    character_encoding: I32 = 0  # CharacterEncoding
    language: I32 = 0  # Language


@message(LOBBY, 0xA3)
class SetLocalizationParamsRequest(_LocalizationBody):
    pass


@message(LOBBY_EXT, 0x5A)
class SetLocalizationParamsRequest2(_LocalizationBody):
    time_zone: I32 = 0


@message(LOBBY_EXT, 0x7B)
class SetLocalizationParamsRequest1(_LocalizationBody):
    """MS3 reads TimeZone + LocationID after the language, HZ does not: optional tail."""

    time_zone: OptI32 = None
    location_id: OptI32 = None


# Which reply the SetLocalizationParams variants get (issue 13 item 6, settled from evidence):
# Lobby 0xA4 for all three requests (Lobby 0xA3, Ext 0x7B ``...1``, Ext 0x5A ``...2``).
# * Captures: Sony's MAS answers Lobby 0xA3 with a 28-byte Lobby 0xA4 status body, in UYA PAL
#   (login-10075_PAL_version.pcapng frames 9/10) and in Deadlocked (b41.pcap frames 39/40).
# * No capture holds an Ext 0x7B or Ext 0x5A; both community servers that model them (Horizon's
#   MAS and its MultiServer3 fork) answer them with class 1 (Lobby) type 0xA4 as well.
# * Ext 0xA4 ``SetLocalizationParamsStatusResponse1`` is only a name in the SDK enum: no server
#   sends it, and no client is known to wait for it. It stays typed for the dissector only.


@message(LOBBY, 0xA4)
class SetLocalizationParamsResponse(StatusBody):
    """Lobby 0xA4 ``StatusResponse0``: the answer to every SetLocalizationParams variant."""


@message(LOBBY_EXT, 0xA4)
class SetLocalizationParamsStatusResponse1(StatusBody):
    """Ext 0xA4; a name in the SDK enum that no server sends (see the note above): decode only."""


# --- DNAS / machine signature (no reply) --------------------------------------------------------


@message(LOBBY_EXT, 0x0A)
class DnasSignaturePost(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    dnas_signature_type: I32 = 0  # DnasCategory
    dnas_signature_length: U8 = 0
    dnas_signature: Annotated[bytes, Raw(32)] = bytes(32)


@message(LOBBY, 0xCB)
class MachineSignaturePost(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    machine_signature: Annotated[bytes, Raw(128)] = bytes(128)


# --- version, time, IP --------------------------------------------------------------------------


@message(LOBBY, 0x86)
class VersionServerRequest(KeyedRequestBody):
    pass


@message(LOBBY, 0x87)
class VersionServerResponse(MediusMessage):
    """No status on the wire."""

    message_id: MessageId = ""
    version_server: Str56 = ""


@message(LOBBY_EXT, 0x2A)
class GetServerTimeRequest(MediusMessage):
    message_id: MessageId = ""


@message(LOBBY_EXT, 0x2B)
class GetServerTimeResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    gmt_time: U32 = 0  # Unix seconds
    time_zone: I32 = 0  # MediusTimeZone (Sony's DL MLS sent -700)


@message(LOBBY, 0x1B)
class GetMyIPRequest(KeyedRequestBody):
    pass


@message(LOBBY, 0x1C)
class GetMyIPResponse(MediusMessage):
    message_id: MessageId = ""
    ip: Str20 = ""
    status: I32 = 0


# --- policy and announcements --------------------------------------------------------------------


@message(LOBBY, 0x47)
class GetPolicyRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    policy: I32 = 0  # PolicyType


@message(LOBBY, 0x48)
class GetPolicyResponse(MediusMessage):
    """One chunk of policy text (<= 255 chars); ``end_of_text`` on the last."""

    message_id: MessageId = ""
    status: I32 = 0
    text: Str256 = ""
    end_of_text: Bool = False


class _AnnouncementsRequestBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    app_id: I32 = 0


@message(LOBBY, 0x4B)
class GetAnnouncementsRequest(_AnnouncementsRequestBody):
    """The newest announcement only."""


@message(LOBBY, 0x4C)
class GetAllAnnouncementsRequest(_AnnouncementsRequestBody):
    pass


@message(LOBBY, 0x4D)
class GetAnnouncementsResponse(MediusMessage):
    """1036 bytes: above 512, so it travels as DME PacketFragments (see ``fragment_app``)."""

    message_id: MessageId = ""
    status: I32 = 0
    announcement_id: I32 = 0
    announcement: Annotated[str, Str(1000)] = ""
    end_of_list: Bool = False


# --- errors and debug ----------------------------------------------------------------------------


@message(LOBBY, 0x4A)
class ErrorMessage(MediusMessage):
    """Pushed at any time (e.g. maintenance); no MessageID."""

    error_code: I32 = 0
    text: Str256 = ""


@message(LOBBY_EXT, 0x18)
class PostDebugInfoRequest(MediusMessage):
    message_id: MessageId = ""
    text: Str200 = ""


@message(LOBBY_EXT, 0x19)
class PostDebugInfoResponse(StatusBody):
    pass


@message(LOBBY, 0x49)
class UpdateUserState(MediusMessage):
    """No MessageID, no reply: KeepAlive / JoinedChatWorld / LeftGameWorld (UserAction)."""

    session_key: SessionKey = ""
    user_action: I32 = 0
