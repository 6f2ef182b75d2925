"""Accounts on the MAS (§3.3): register, login, anonymous login, id, logout, password, delete, stats."""

from __future__ import annotations

from typing import Annotated, ClassVar

from clank_lan.protocol.medius.codec import (
    LOBBY,
    LOBBY_EXT,
    KeyedRequestBody,
    MediusMessage,
    StatusBody,
    message,
)
from clank_lan.protocol.medius.layout import I32, MessageId, Raw, SessionKey, Stats256, Str, Str32
from clank_lan.protocol.medius.structs import ConnectInfo, NetConnectionInfo


@message(LOBBY, 0x07)
class AccountLoginRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    username: Str32 = ""
    password: Str32 = ""


class _LoginResponseBody(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0
    account_type: I32 = 0  # AccountType
    world_id: I32 = 0  # the MLS lobby channel to join
    connect_info: ConnectInfo = NetConnectionInfo()  # where the MLS is


@message(LOBBY, 0x08)
class AccountLoginResponse(_LoginResponseBody):
    pass


@message(LOBBY, 0x19)
class AnonymousLoginRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    display_name: Str32 = ""
    display_stats: Stats256 = bytes(256)


@message(LOBBY, 0x1A)
class AnonymousLoginResponse(_LoginResponseBody):
    pass


@message(LOBBY, 0x09)
class AccountRegistrationRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    account_type: I32 = 0
    account_name: Str32 = ""
    password: Str32 = ""


@message(LOBBY, 0x0A)
class AccountRegistrationResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    account_id: I32 = 0


@message(LOBBY, 0x17)
class AccountGetIDRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    account_name: Str32 = ""


@message(LOBBY, 0x18)
class AccountGetIDResponse(MediusMessage):
    """Note the order: account id before the status."""

    message_id: MessageId = ""
    account_id: I32 = 0
    status: I32 = 0


@message(LOBBY, 0x15)
class AccountLogoutRequest(KeyedRequestBody):
    pass


@message(LOBBY, 0x16)
class AccountLogoutResponse(StatusBody):
    pass


@message(LOBBY, 0x0F)
class AccountUpdatePasswordRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    old_password: Str32 = ""
    new_password: Str32 = ""


@message(LOBBY, 0x10)
class AccountUpdatePasswordStatusResponse(StatusBody):
    pass


@message(LOBBY, 0x13)
class AccountDeleteRequest(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    master_password: Str32 = ""


@message(LOBBY, 0x14)
class AccountDeleteResponse(StatusBody):
    pass


class _UpdateStatsBody(MediusMessage):
    message_id: MessageId = ""
    session_key: SessionKey = ""
    stats: Stats256 = bytes(256)  # opaque per-title blob stored with the account


@message(LOBBY, 0x11)
class AccountUpdateStatsRequest(_UpdateStatsBody):
    pass


@message(LOBBY, 0x12)
class AccountUpdateStatsResponse(StatusBody):
    pass


@message(LOBBY_EXT, 0x39)
class AccountUpdateStatsOpenAccessRequest(_UpdateStatsBody):
    pass


@message(LOBBY_EXT, 0x3A)
class AccountUpdateStatsOpenAccessResponse(StatusBody):
    pass


# --- PS3 ticket login (Ext 0x58/0x59): refused with a clear status ------------------------------


@message(LOBBY_EXT, 0x58)
class TicketLoginRequest(MediusMessage):
    """A PSN (NP) ticket login, PS3 only: HZ's fixed 202-byte reading. The opaque parts are kept
    raw; clank-lan serves PS2 titles and answers it with a failure (medius-messages.md 7.1 #12)."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
    ticket_head: Annotated[bytes, Raw(88)] = bytes(88)
    username: Str32 = ""
    ticket_mid: Annotated[bytes, Raw(20)] = bytes(20)
    ticket_tail: Annotated[str, Str(24)] = ""


@message(LOBBY_EXT, 0x59)
class TicketLoginResponse(MediusMessage):
    """HZ's layout, packed: after the status 29 unexplained bytes put the account id at offset 57,
    so the struct cannot be C-aligned. A refusal leaves everything after the status zero."""

    PACKED: ClassVar[bool] = True

    message_id: MessageId = ""
    pad: Annotated[bytes, Raw(3)] = bytes(3)
    status: I32 = 0
    unknown: Annotated[bytes, Raw(29)] = bytes(29)
    account_id: I32 = 0
    account_type: I32 = 0
    world_id: I32 = 0
    connect_info: ConnectInfo = NetConnectionInfo()
