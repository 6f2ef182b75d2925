"""Universe information (MUIS, §3.16): where the MAS is, plus news.

``UniverseVariableInformationResponse`` is packed (no pad after the MessageID, none at the end:
Sony's MUIS answer in b41 is 678 bytes) and carries only the fields whose ``UniverseInfo`` bit is
set in ``info_filter``. Sony sets the SVO_URL bit without an SvoURL field in it (the URL comes in a
separate UniverseSvoURLResponse), so ``svo_url`` is written only when it is not ``None`` and read
only when the body is long enough.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from clank_lan.protocol.medius.codec import LOBBY, LOBBY_EXT, MediusMessage, message
from clank_lan.protocol.medius.enums import UniverseInfo
from clank_lan.protocol.medius.layout import (
    I32,
    U32,
    Bool,
    CodecContext,
    MessageId,
    Plan,
    Str,
    Str8,
    Str128,
    Str256,
    compile_plan,
    encode_text,
    specs_of,
)


class _UniverseRequestBody(MediusMessage):
    message_id: MessageId = ""
    info_type: U32 = 0  # UniverseInfo bits
    character_encoding: I32 = 0
    language: I32 = 0


@message(LOBBY, 0xC8)
class GetUniverseInformationRequest(_UniverseRequestBody):
    pass


@message(LOBBY_EXT, 0x03)
class GetUniverseExtraInfoRequest(_UniverseRequestBody):
    pass


# field -> the UniverseInfo bit that puts it on the wire (absent: always present)
_UNIVERSE_BITS: dict[str, int] = {
    "universe_id": UniverseInfo.ID,
    "universe_name": UniverseInfo.NAME,
    "dns": UniverseInfo.DNS,
    "port": UniverseInfo.DNS,
    "description": UniverseInfo.DESCRIPTION,
    "universe_status": UniverseInfo.STATUS,
    "user_count": UniverseInfo.STATUS,
    "max_users": UniverseInfo.STATUS,
    "billing": UniverseInfo.BILLING,
    "billing_system_name": UniverseInfo.BILLING,
    "extended_info": UniverseInfo.EXTRA_INFO,
    "svo_url": UniverseInfo.SVO_URL,
}


@message(LOBBY_EXT, 0x11)
class UniverseVariableInformationResponse(MediusMessage):
    """One per universe, ``end_of_list`` on the last. ``dns``:``port`` is the MAS to connect to."""

    PACKED: ClassVar[bool] = True
    VARIABLE: ClassVar[bool] = True

    message_id: MessageId = ""
    status: I32 = 0
    info_filter: U32 = 0  # echo of the request's info_type
    universe_id: U32 = 0
    universe_name: Str128 = ""
    dns: Str128 = ""
    port: I32 = 0
    description: Str256 = ""
    universe_status: I32 = 0
    user_count: I32 = 0
    max_users: I32 = 0
    billing: Str8 = ""
    billing_system_name: Str128 = ""
    extended_info: Str128 = ""
    svo_url: Annotated[str | None, Str(128)] = None
    end_of_list: Bool = False

    @classmethod
    def _plan_for(cls, info_filter: int, with_svo: bool) -> Plan:
        key = (info_filter & 0x3FF, with_svo)
        plan = _UNIVERSE_PLANS.get(key)
        if plan is None:
            fields = [
                f
                for f in specs_of(cls)
                if f.name not in _UNIVERSE_BITS
                or (info_filter & _UNIVERSE_BITS[f.name] and (f.name != "svo_url" or with_svo))
            ]
            plan = _UNIVERSE_PLANS[key] = compile_plan(fields, packed=True)
        return plan

    @classmethod
    def decode_body(cls, body: bytes, ctx: CodecContext):
        info_filter = int.from_bytes(body[25:29].ljust(4, b"\0"), "little")
        plan = cls._plan_for(info_filter, False)
        if info_filter & UniverseInfo.SVO_URL:
            with_svo = cls._plan_for(info_filter, True)
            if len(body) >= with_svo.size:
                plan = with_svo
        return cls(**plan.load(body, ctx))

    def encode_body(self, ctx: CodecContext) -> bytes:
        return self._plan_for(self.info_filter, self.svo_url is not None).dump(self, ctx)


_UNIVERSE_PLANS: dict[tuple[int, bool], Plan] = {}


@message(LOBBY, 0xC9)
class UniverseNewsResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    news: Str256 = ""
    end_of_list: Bool = False


@message(LOBBY, 0xCA)
class UniverseStatusListResponse(MediusMessage):
    """The older fixed-layout universe answer."""

    message_id: MessageId = ""
    status: I32 = 0
    universe_name: Str128 = ""
    dns: Str128 = ""
    port: I32 = 0
    description: Str256 = ""
    universe_status: I32 = 0
    user_count: I32 = 0
    max_users: I32 = 0
    end_of_list: Bool = False


@message(LOBBY_EXT, 0x04)
class UniverseStatusListExtraInfoResponse(MediusMessage):
    message_id: MessageId = ""
    status: I32 = 0
    universe_name: Str128 = ""
    dns: Str128 = ""
    port: I32 = 0
    description: Str256 = ""
    universe_status: I32 = 0
    user_count: I32 = 0
    max_users: I32 = 0
    billing: Str8 = ""
    billing_system_name: Str128 = ""
    end_of_list: Bool = False
    extended_info: Str128 = ""


@message(LOBBY_EXT, 0x1E)
class UniverseSvoURLResponse(MediusMessage):
    """Medius >= 1.09: MessageID, u8 length (NUL included), that many bytes. Sony's MUIS sent it
    empty (``01 00``) before its universe list. 1.08: MessageID + char[128]."""

    VARIABLE: ClassVar[bool] = True

    message_id: MessageId = ""
    url: str = ""

    @classmethod
    def decode_body(cls, body: bytes, ctx: CodecContext):
        mid = body[:21].split(b"\0", 1)[0].decode(ctx.encoding, "surrogateescape")
        if ctx.v109:
            n = body[21] if len(body) > 21 else 0
            raw = body[22 : 22 + n]
        else:
            raw = body[21 : 21 + 128]
        url = raw.split(b"\0", 1)[0].decode(ctx.encoding, "surrogateescape")
        return cls(message_id=mid, url=url)

    def encode_body(self, ctx: CodecContext) -> bytes:
        mid = encode_text(self.message_id, 20, ctx.encoding).ljust(21, b"\0")
        if ctx.v109:
            raw = encode_text(self.url, 254, ctx.encoding) + b"\0"
            return mid + bytes((len(raw),)) + raw
        return mid + encode_text(self.url, 127, ctx.encoding).ljust(128, b"\0")
