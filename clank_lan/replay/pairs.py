"""Which server messages answer which client message: the one table the replay attributes by.

Real consoles pipeline requests and reuse one MessageID for all of them, so answers are matched by
protocol, not by id. A request's answer types come from the registry names (``AccountLogin`` ->
``AccountLoginResponse``, ``GetGameListFilter`` -> ``GetGameListFilterResponse`` and
``...Response0``, in either Medius class), plus the irregular pairs listed below. Which of the
candidates a server really sends is what the replay compares; the table only needs to be wide
enough to attribute every answer to its request.
"""

from __future__ import annotations

from functools import cache

from clank_lan.protocol.medius import REGISTRY, Direction
from clank_lan.protocol.medius.ids import MessageClass
from clank_lan.protocol.rt_ids import RT
from clank_lan.replay.model import MsgKey

APP_S = int(RT.SERVER_APP)

#: Server frames of the RT handshake, compared as a sequence per connection.
HANDSHAKE_SERVER = frozenset(
    {
        RT.SERVER_HELLO,
        RT.SERVER_CRYPTKEY_PEER,
        RT.SERVER_CONNECT_REQUIRE,
        RT.SERVER_CRYPTKEY_GAME,
        RT.SERVER_CONNECT_ACCEPT_TCP,
        RT.SERVER_CONNECT_COMPLETE,
    }
)
#: Client frames of the RT handshake: re-derived by our client with fresh keys, never replayed.
HANDSHAKE_CLIENT = frozenset(
    {
        RT.CLIENT_HELLO,
        RT.CLIENT_CRYPTKEY_PUBLIC,
        RT.CLIENT_CONNECT_TCP,
        RT.CLIENT_CONNECT_READY_REQUIRE,
        RT.CLIENT_CONNECT_READY_TCP,
    }
)
#: Frames a server sends on its own schedule (pings, anti-cheat probes): excluded from attribution.
SERVER_INITIATED = frozenset({RT.SERVER_ECHO, RT.SERVER_CHEAT_QUERY, RT.SERVER_MEMORY_POKE})
#: Client frames answering those; our client answers our server's own, so they are not replayed.
CLIENT_REPLIES = frozenset({RT.SERVER_ECHO, RT.SERVER_CHEAT_QUERY, RT.SERVER_MEMORY_POKE})
DISCONNECTS = frozenset({RT.CLIENT_DISCONNECT, RT.CLIENT_DISCONNECT_WITH_REASON})

#: Any Medius request may be refused with a class-1 ErrorMessage.
ERROR_MESSAGE = (1, 0x4A)

#: Medius requests whose answers the registry names do not pair: (class, type) -> answers.
IRREGULAR: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {
    (4, 0x27): ((1, 0x04),),  # ExtendedSessionBeginRequest -> SessionBeginResponse
    (1, 0xA3): ((1, 0xA4),),  # SetLocalizationParams -> StatusResponse0
    (1, 0x4B): ((1, 0x4D),),  # GetAnnouncements -> GetAnnouncementsResponse
    (1, 0x4C): ((1, 0x4D),),  # GetAllAnnouncements -> GetAnnouncementsResponse
    # GetUniverseInformation -> UniverseSvoURLResponse, UniverseVariableInformationResponse (b41), or
    # the 1.08-era news / status list answers
    (1, 0xC8): ((4, 0x1E), (4, 0x11), (1, 0xC9), (1, 0xCA)),
    (4, 0x03): ((4, 0x04), (4, 0x1E), (4, 0x11), (1, 0xC9)),  # GetUniverse_ExtraInfo
    (1, 0xEE): ((1, 0x63),),  # InvitePlayerToClan_ByName -> InvitePlayerToClanResponse
}
#: Chat lines can run operator commands, answered by RT system messages.
CHAT = frozenset({(1, 0x3B), (4, 0x23)})

#: RT-level requests: client frame -> the server frames that answer it.
RT_ANSWERS: dict[int, frozenset[MsgKey]] = {
    RT.CLIENT_ECHO: frozenset({(RT.CLIENT_ECHO, -1, -1)}),
}


def _stem(name: str, response: bool) -> str | None:
    """The common part of a request and its response name, lower-case, without ``_``/digits."""
    n = name.lower().replace("_", "").rstrip("0123456789")
    if response:
        if not n.endswith("response"):
            return None
        n = n.removesuffix("response").removesuffix("status")
    else:
        n = n.removesuffix("request").rstrip("0123456789")
    return n or None


@cache
def _by_stem() -> dict[str, frozenset[tuple[int, int]]]:
    out: dict[str, set[tuple[int, int]]] = {}
    for key, info in REGISTRY.items():
        if info.msg_class not in (MessageClass.LOBBY, MessageClass.LOBBY_EXT):
            continue
        if info.direction is Direction.TO_SERVER:
            continue
        stem = _stem(info.name, response=True)
        if stem is not None:
            out.setdefault(stem, set()).add(key)
    return {k: frozenset(v) for k, v in out.items()}


@cache
def medius_answers(msg_class: int, msg_type: int) -> frozenset[tuple[int, int]]:
    """(class, type) of every message that may answer this Medius request (empty: none expected)."""
    info = REGISTRY.get((msg_class, msg_type))
    found: set[tuple[int, int]] = set(IRREGULAR.get((msg_class, msg_type), ()))
    if info is not None and info.direction is not Direction.TO_CLIENT:
        stem = _stem(info.name, response=False)
        if stem is not None:
            found |= _by_stem().get(stem, frozenset())
    return frozenset(found)


def expects_answer(key: MsgKey) -> bool:
    """Whether the protocol defines an answer to this client message (other than an error)."""
    rt_id, cls, typ = key
    return rt_id in RT_ANSWERS if cls < 0 else bool(medius_answers(cls, typ))


def answers_to(key: MsgKey) -> frozenset[MsgKey]:
    """Every server message type that can answer the client message ``key``."""
    rt_id, cls, typ = key
    if cls < 0:
        return RT_ANSWERS.get(rt_id, frozenset())
    out = {(APP_S, c, t) for c, t in medius_answers(cls, typ)}
    if (cls, typ) in CHAT:
        out.add((RT.SERVER_SYSTEM_MESSAGE, -1, -1))
    out.add((APP_S, *ERROR_MESSAGE))
    return frozenset(out)
