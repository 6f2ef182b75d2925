"""The Medius message base class, the (class, type) -> message type table, decode_app / encode_app.

A Medius message is the payload of an RT SERVER_APP / CLIENT_APP_TOSERVER frame:
``[u8 class][u8 type][body]``. ``decode_app`` is lenient about the body length (a missing tail
reads as zeros, extra bytes are ignored) and raises only ``ProtocolError``; ``encode_app`` is exact.

Real clients and Sony's servers leave stack garbage in pad bytes and after string terminators, and
some send a few bytes more or less than the layout. So that a decoded message re-encodes to the very
bytes it came from, ``decode_app`` keeps the body in the message's ``wire`` field whenever it differs
from the canonical encoding; ``encode_app`` re-emits ``wire`` verbatim as long as the fields still
decode from it (an unchanged message) and encodes canonically otherwise.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import ClassVar, TypeVar

import msgspec

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius.ids import REGISTRY, MessageClass, message_name
from clank_lan.protocol.medius.layout import (
    DEFAULT_CONTEXT,
    I32,
    CodecContext,
    MessageId,
    Plan,
    SessionKey,
    WireStruct,
    has_variants,
    plan_for,
    specs_of,
)

LOBBY = MessageClass.LOBBY
LOBBY_EXT = MessageClass.LOBBY_EXT
MGCL = MessageClass.MGCL
DME = MessageClass.DME


class MediusMessage(WireStruct):
    """Base of every typed Medius message. Subclasses are registered with ``@message(cls, type)``."""

    MSG_CLASS: ClassVar[int] = -1
    MSG_TYPE: ClassVar[int] = -1
    #: Body size (after the 2-byte header) in the full layout: Medius >= 1.09, optional tail present.
    #: ``None`` for the few variable-length messages.
    SIZE: ClassVar[int | None] = None
    #: True for messages with a hand-written codec (variable length).
    VARIABLE: ClassVar[bool] = False

    #: The body this message was decoded from, kept only when it differs from the canonical
    #: encoding (garbage in pads, odd lengths); ``None`` for messages built in code.
    wire: bytes | None = None

    @property
    def name(self) -> str:
        return type(self).__name__

    @classmethod
    def body_size(cls, ctx: CodecContext = DEFAULT_CONTEXT, with_optional: bool = True) -> int | None:
        """Body size for this context (``None`` when variable)."""
        if cls.VARIABLE:
            return None
        return plan_for(cls, ctx.v109, with_optional).size

    @classmethod
    def _plan(cls, ctx: CodecContext, body_len: int | None) -> Plan:
        _, has_optional = has_variants(cls)
        full = plan_for(cls, ctx.v109, True)
        if has_optional and body_len is not None and body_len < full.size:
            return plan_for(cls, ctx.v109, False)
        return full

    @classmethod
    def decode_body(cls, body: bytes, ctx: CodecContext):
        """The message from its body (generic fixed-layout decoder; variable messages override)."""
        return cls(**cls._plan(ctx, len(body)).load(body, ctx))

    def encode_body(self, ctx: CodecContext) -> bytes:
        """The canonical body (generic fixed-layout encoder; variable messages override)."""
        cls = type(self)
        with_optional = all(getattr(self, f.name) is not None for f in specs_of(cls) if f.optional)
        return plan_for(cls, ctx.v109, with_optional).dump(self, ctx)

    def canonical(self):
        """This message without its kept ``wire`` bytes."""
        return self if self.wire is None else msgspec.structs.replace(self, wire=None)


class UnknownMessage(msgspec.Struct, frozen=True):
    """A (class, type) pair with no typed codec; ``body`` is everything after the 2-byte header."""

    msg_class: int
    msg_type: int
    body: bytes = b""

    @property
    def name(self) -> str:
        return message_name(self.msg_class, self.msg_type)


_TYPES: dict[tuple[int, int], type[MediusMessage]] = {}

M = TypeVar("M", bound=type[MediusMessage])


def message(msg_class: int, msg_type: int) -> Callable[[M], M]:
    """Class decorator: give a message class its (class, type) and register it for decoding."""

    def deco(cls: M) -> M:
        key = (int(msg_class), int(msg_type))
        if key not in REGISTRY:
            raise AssertionError(f"{cls.__name__}: {key} is not in the registry")
        if key in _TYPES:
            raise AssertionError(f"{cls.__name__}: {key} already taken by {_TYPES[key].__name__}")
        cls.MSG_CLASS, cls.MSG_TYPE = key
        if not cls.VARIABLE:
            plan_for(cls, False, False)  # compile every layout now, so a bad one fails at import
            cls.SIZE = plan_for(cls, True, True).size
        _TYPES[key] = cls
        return cls

    return deco


def message_types() -> dict[tuple[int, int], type[MediusMessage]]:
    """Every typed message class by (class, type)."""
    return dict(_TYPES)


def message_type(msg_class: int, msg_type: int) -> type[MediusMessage] | None:
    return _TYPES.get((msg_class, msg_type))


_DECODE_ERRORS = (struct.error, ValueError, IndexError, UnicodeError, TypeError, OverflowError)


def decode_app(payload: bytes, ctx: CodecContext = DEFAULT_CONTEXT) -> MediusMessage | UnknownMessage:
    """A typed message from an RT APP payload ``[class][type][body]``, or ``UnknownMessage``."""
    if len(payload) < 2:
        raise ProtocolError("Medius message shorter than its 2-byte header", data=payload)
    cls = _TYPES.get((payload[0], payload[1]))
    body = bytes(payload[2:])
    if cls is None:
        return UnknownMessage(payload[0], payload[1], body)
    try:
        msg = cls.decode_body(body, ctx)
        if msg.encode_body(ctx) != body:
            msg = msgspec.structs.replace(msg, wire=body)
    except ProtocolError:
        raise
    except _DECODE_ERRORS as e:
        raise ProtocolError(f"undecodable {cls.__name__}: {e}", offset=2, data=payload) from e
    return msg


def encode_app(msg: MediusMessage | UnknownMessage, ctx: CodecContext = DEFAULT_CONTEXT) -> bytes:
    """The RT APP payload ``[class][type][body]`` of a message."""
    if isinstance(msg, UnknownMessage):
        return bytes((msg.msg_class, msg.msg_type)) + msg.body
    cls = type(msg)
    if cls.MSG_CLASS < 0:
        raise TypeError(f"{cls.__name__} is not a registered message class")
    head = bytes((cls.MSG_CLASS, cls.MSG_TYPE))
    if msg.wire is not None:
        try:
            again = cls.decode_body(msg.wire, ctx)
        except _DECODE_ERRORS:
            again = None
        if again is not None and again == msg.canonical():
            return head + msg.wire
    return head + msg.encode_body(ctx)


# --- shared bodies (not registered themselves; message classes subclass them) --------------------


class StatusBody(MediusMessage):
    """The generic status response (28 bytes): MessageID + MediusCallbackStatus."""

    message_id: MessageId = ""
    status: I32 = 0


class KeyedRequestBody(MediusMessage):
    """A request that is only MessageID + SessionKey (38 bytes)."""

    message_id: MessageId = ""
    session_key: SessionKey = ""
