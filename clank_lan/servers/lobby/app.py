"""Base of the MUIS, MAS and MLS Medius services: the dispatch table, the login gate, replies.

Each service registers one handler per message type with ``@handles``. A message passes the
service's login gate first (``admit``), then goes to its handler; every other client-to-server
id has a written decision in ``dispatch`` (a generic failure of the right response type, or
silence with the reason). Handlers are pure: they get ``now`` from the connection shell and
read no clock; a handler bug is caught by the shell and disconnects only that console.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

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
from clank_lan.rt.link import FrameCache
from clank_lan.servers.lobby.dispatch import DECISIONS, Fail, failure_response, silence_reason
from clank_lan.servers.lobby_conn import LobbyConnection

if TYPE_CHECKING:
    from clank_lan.servers.lobby.service import LobbyService
    from clank_lan.servers.lobby.state import Session
    from clank_lan.titles import Title

log = logging.getLogger("clank_lan.lobby")


class Link(Protocol):
    """What the lobby uses of a console's connection (``LobbyConnection``, or a test double)."""

    app: Any
    peer: tuple[str, int]
    version: int
    app_id: int
    session: Session | None
    title: Title

    @property
    def peer_label(self) -> str: ...

    def send_app(self, payload: bytes, shared: bool = False) -> None:
        """``shared``: the same message goes to many consoles (see ``LobbyConnection.send_app``)."""

    def send_system_message(self, text: str) -> None: ...

    def disconnect(self, reason: str, code: int = 0) -> None: ...

    def defer(self, work: Callable[[], Any], done: Callable[[Any, float], None]) -> None:
        """Run ``work()`` off the event loop (password hashing), then ``done(result, now)``
        (not at all if the connection ends first): the lobby's one deferred effect."""


Handler = Callable[[Any, Link, Any, float], None]


def handles(*types: type[MediusMessage]) -> Callable[[Handler], Handler]:
    """Mark a method as the handler of these message types."""

    def deco(fn: Handler) -> Handler:
        fn._handles = types  # type: ignore[attr-defined]
        return fn

    return deco


#: MediusCharacterEncodingType -> Python codec; a session that asked for UTF-8 gets it.
_ENCODINGS = {2: "utf-8"}


def codec_context(conn: Link) -> CodecContext:
    session = conn.session
    encoding = _ENCODINGS.get(session.encoding, "latin-1") if session is not None else "latin-1"
    return CodecContext(medius_version=conn.version, app_id=conn.app_id, encoding=encoding)


def message_key(msg: MediusMessage | UnknownMessage) -> tuple[int, int]:
    if isinstance(msg, UnknownMessage):
        return msg.msg_class, msg.msg_type
    return msg.MSG_CLASS, msg.MSG_TYPE


class MediusApp:
    name: ClassVar[str]
    _handlers: ClassVar[dict[type, Handler]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        table: dict[type, Handler] = {}
        for base in reversed(cls.__mro__):
            for attr in vars(base).values():
                for t in getattr(attr, "_handles", ()):
                    table[t] = attr
        cls._handlers = table

    #: The service's connections all get one GAME key, so a broadcast is encrypted once (the MLS).
    shares_game_key: ClassVar[bool] = False

    def __init__(self, svc: LobbyService) -> None:
        self.svc = svc
        #: One cache of wire frames for all of this service's connections (``rt.link.FrameCache``).
        self.frame_cache = FrameCache()
        self.shared_key = svc.deps.rng(64) if self.shares_game_key else b""

    @classmethod
    def handled_ids(cls) -> set[tuple[int, int]]:
        return {(t.MSG_CLASS, t.MSG_TYPE) for t in cls._handlers}

    # LobbyApp ------------------------------------------------------------------------------
    def connection_factory(
        self, peer: tuple[str, int], local: tuple[str, int], now: float
    ) -> LobbyConnection:
        deps = self.svc.deps
        return LobbyConnection(
            self,
            peer,
            local,
            rsa_key=deps.rsa_key,
            rng=deps.rng,
            wall_clock=deps.wall_clock,
            now=now,
            timeouts=deps.config.timeouts,
            scert_id=deps.scert_ids(),
            refusals=self.svc.limits.refused,
            shared_key=self.shared_key,
            frame_cache=self.frame_cache,
        )

    def on_connect(self, conn: Link, req: rtm.ClientConnectTcp, now: float) -> str | None:
        conn.title = self.svc.title(req.app_id)
        return None

    def on_ready(self, conn: Link, now: float) -> None:
        return None

    def on_close(self, conn: Link, reason: str, now: float) -> None:
        log.debug("%s %s: closed (%s)", self.name, conn.peer_label, reason)

    def admit(self, conn: Link, msg: MediusMessage | UnknownMessage, now: float) -> bool:
        """The service's login gate, run before any handler: False drops the message (the
        gate answers the console itself where the service's rules say so)."""
        return True

    def on_app(self, conn: Link, payload: bytes, now: float) -> None:
        msg = decode_app(payload, codec_context(conn))
        if not self.admit(conn, msg, now):
            return
        handler = self._handlers.get(type(msg))
        if handler is not None:
            handler(self, conn, msg, now)
            return
        key = message_key(msg)
        decision = DECISIONS.get(key)
        if isinstance(decision, Fail):
            log.info(
                "%s %s: %s is not served (%s); answered with status %d",
                self.name,
                conn.peer_label,
                msg.name,
                decision.reason,
                decision.status,
            )
            self.reply(conn, failure_response(decision, msg))
            return
        why = decision.reason if decision is not None else silence_reason(key)
        log.info(
            "%s %s: %s (class %d, id 0x%02X) ignored: %s: %s",
            self.name,
            conn.peer_label,
            msg.name,
            key[0],
            key[1],
            why,
            payload[:64].hex(" "),
        )

    # replies -------------------------------------------------------------------------------
    def reply(self, conn: Link, msg: MediusMessage | UnknownMessage) -> None:
        conn.send_app(encode_app(msg, codec_context(conn)))

    def reply_list(
        self,
        conn: Link,
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
