"""Base of the MUIS, MAS and MLS Medius services: dispatch table, replies, list answers.

Each service registers one handler per message type with ``@handles``. Messages we do not model
are logged in hex with their (class, id) name and dropped, as the reference servers do; a
handler bug is caught by the connection shell and disconnects only that console.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.medius import (
    CodecContext,
    MediusMessage,
    UnknownMessage,
    decode_app,
    encode_app,
)
from clank_lan.protocol.medius.enums import CallbackStatus
from clank_lan.servers.lobby_conn import LobbyConnection

if TYPE_CHECKING:
    from clank_lan.servers.lobby.service import LobbyServices

log = logging.getLogger("clank_lan.lobby")

Handler = Callable[[Any, LobbyConnection, Any], None]


def handles(*types: type[MediusMessage]) -> Callable[[Handler], Handler]:
    """Mark a method as the handler of these message types."""

    def deco(fn: Handler) -> Handler:
        fn._handles = types  # type: ignore[attr-defined]
        return fn

    return deco


#: MediusCharacterEncodingType -> Python codec; a session that asked for UTF-8 gets it.
_ENCODINGS = {2: "utf-8"}


def codec_context(conn: LobbyConnection) -> CodecContext:
    session = conn.session
    encoding = _ENCODINGS.get(session.encoding, "latin-1") if session is not None else "latin-1"
    return CodecContext(medius_version=conn.version, app_id=conn.app_id, encoding=encoding)


class MediusApp:
    name: ClassVar[str]
    #: Messages a console may send before it has logged in on this service.
    _handlers: ClassVar[dict[type, Handler]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        table: dict[type, Handler] = {}
        for base in reversed(cls.__mro__):
            for attr in vars(base).values():
                for t in getattr(attr, "_handles", ()):
                    table[t] = attr
        cls._handlers = table

    def __init__(self, svc: LobbyServices) -> None:
        self.svc = svc

    # LobbyApp ------------------------------------------------------------------------------
    def connection_factory(self, peer: tuple[str, int], local: tuple[str, int]) -> LobbyConnection:
        import trio

        svc = self.svc
        return LobbyConnection(
            self,
            peer,
            local,
            rsa_key=svc.engine.rsa_key,
            rng=svc.engine.rng,
            wall_clock=svc.engine.wall_clock,
            now=trio.current_time(),
            timeouts=svc.config.timeouts,
            scert_id=svc.engine.next_scert_id(),
        )

    def on_connect(self, conn: LobbyConnection, req: rtm.ClientConnectTcp) -> str | None:
        return None

    def on_ready(self, conn: LobbyConnection) -> None:
        return None

    def on_close(self, conn: LobbyConnection, reason: str) -> None:
        log.debug("%s %s: closed (%s)", self.name, conn.peer_label, reason)

    def on_app(self, conn: LobbyConnection, payload: bytes) -> None:
        msg = decode_app(payload, codec_context(conn))
        if isinstance(msg, UnknownMessage):
            log.info(
                "%s %s: %s (class %d, id 0x%02X) is not modelled; ignored: %s",
                self.name,
                conn.peer_label,
                msg.name,
                msg.msg_class,
                msg.msg_type,
                payload[:64].hex(" "),
            )
            return
        handler = self._handlers.get(type(msg))
        if handler is None:
            log.info(
                "%s %s: %s (0x%02X/0x%02X) has no handler on this service; ignored: %s",
                self.name,
                conn.peer_label,
                msg.name,
                msg.MSG_CLASS,
                msg.MSG_TYPE,
                payload[:64].hex(" "),
            )
            return
        handler(self, conn, msg)

    # replies -------------------------------------------------------------------------------
    def reply(self, conn: LobbyConnection, msg: MediusMessage) -> None:
        conn.send_app(encode_app(msg, codec_context(conn)))

    def reply_list(
        self,
        conn: LobbyConnection,
        items: Iterable[MediusMessage],
        empty: MediusMessage,
    ) -> int:
        """Send a list answer: every item, the last with end_of_list set; ``empty`` (status
        NoResult, end_of_list) when there are none. Returns the number of items."""
        items = list(items)
        if not items:
            self.reply(conn, empty)
            return 0
        last = len(items) - 1
        for i, item in enumerate(items):
            self.reply(conn, msgspec.structs.replace(item, end_of_list=(i == last)))
        return len(items)

    @staticmethod
    def no_result(cls: type[MediusMessage], message_id: str, **kw: Any) -> MediusMessage:
        return cls(message_id=message_id, status=CallbackStatus.NO_RESULT, end_of_list=True, **kw)


def page(items: list, page_id: int, page_size: int) -> list:
    """Pages are 1-based; a zero page size means everything."""
    if page_size <= 0:
        return items
    start = max(page_id - 1, 0) * page_size
    return items[start : start + page_size]
