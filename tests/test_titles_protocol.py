"""The message layouts issue 13 added: sizes from the sources, exact round trips, and the two
reply types settled from evidence (item 6)."""

from __future__ import annotations

import pytest

from clank_lan.protocol.medius import (
    CodecContext,
    FileCreateRequest,
    FileCreateResponse,
    InvitePlayerToClanByNameRequest,
    MediusTextFilter1Request,
    MediusTextFilterResponse1,
    SetLobbyWorldFilter1Request,
    SetLobbyWorldFilterResponse,
    SetLocalizationParamsResponse,
    TicketLoginRequest,
    TicketLoginResponse,
    decode_app,
    encode_app,
)
from clank_lan.protocol.medius.files import MediusFileAttributes
from clank_lan.protocol.medius.structs import MediusFile

V110 = CodecContext(medius_version=110, app_id=11184)

#: Body sizes after the 2-byte header, from the layouts the docstrings cite.
SIZES = {
    FileCreateRequest: 172 + 276 + 21 + 3,  # MediusFile, attributes, MessageID, pad
    FileCreateResponse: 172 + 4 + 21 + 3,  # MediusFile, status, MessageID, pad
    InvitePlayerToClanByNameRequest: 21 + 32 + 200,  # MessageID, AccountName, InviteMessage
    MediusTextFilter1Request: 21 + 17 + 2 + 4 + 4 + 64,
    MediusTextFilterResponse1: 21 + 3 + 4 + 4 + 64,
    TicketLoginRequest: 21 + 17 + 88 + 32 + 20 + 24,
    TicketLoginResponse: 21 + 3 + 4 + 29 + 4 + 4 + 4 + 156,  # packed: AccountID at 57
}


@pytest.mark.parametrize("cls", list(SIZES), ids=lambda c: c.__name__)
def test_sizes_and_round_trips(cls):
    assert SIZES[cls] == cls.SIZE
    msg = cls()
    payload = encode_app(msg, V110)
    assert len(payload) == 2 + SIZES[cls]
    assert decode_app(payload, V110) == msg


def test_ticket_login_response_puts_the_account_id_at_offset_57():
    body = encode_app(TicketLoginResponse(message_id="t", status=-950, account_id=0x01020304), V110)[2:]
    assert body[24:28] == (-950).to_bytes(4, "little", signed=True)
    assert body[57:61] == bytes((4, 3, 2, 1))


def test_file_create_carries_the_file_and_its_attributes():
    req = FileCreateRequest(
        file=MediusFile(filename="ghost.bin", file_size=1000),
        attributes=MediusFileAttributes(description=b"d" * 256, streamable_flag=1),
        message_id="fc",
    )
    body = encode_app(req, V110)[2:]
    assert body[:9] == b"ghost.bin" and body[172:173] == b"d"
    assert body[448:450] == b"fc"  # the MessageID after the data, as in every MFS struct
    assert decode_app(encode_app(req, V110), V110) == req


def test_the_item_6_reply_types():
    """SetLocalizationParams (every variant) -> Lobby 0xA4; SetLobbyWorldFilter1 (Ext 0x86) ->
    Ext 0x13, the same reply as Ext 0x12 (the evidence is in the protocol modules)."""
    assert (SetLocalizationParamsResponse.MSG_CLASS, SetLocalizationParamsResponse.MSG_TYPE) == (1, 0xA4)
    assert (SetLobbyWorldFilterResponse.MSG_CLASS, SetLobbyWorldFilterResponse.MSG_TYPE) == (4, 0x13)
    assert "Ext 0x13" in (SetLobbyWorldFilter1Request.__doc__ or "")
