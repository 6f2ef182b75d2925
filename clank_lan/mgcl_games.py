"""Console-hosted (P2P) games registered through MGCL: a pure model, bytes-free and clock-free.

Syphon Filter: The Omega Strain, Amplitude and other peer-to-peer titles host their games on a
console. The host's Medius library logs in to the MPS port (10077) as a *game host* and speaks
MGCL (message class 3): it authenticates with its addresses, begins a host session, registers the
game it hosts (ServerCreateGameOnMe, or the older OnSelf forms), reports it (WorldReportOnMe)
and ends it. The lobby lists the game with the host's addresses; a console that joins gets them
(public and private, so two consoles on one LAN connect directly) after the host has accepted it:
the server sends the host a ServerJoinGameRequest with the joiner's session key, and the host's
ServerJoinGameResponse carries the access key the joiner presents to it (the order both
community servers follow). A game closes when its host ends it, ends its session or drops.

This module holds that state and answers every host-to-server MGCL message; the trio shell only
feeds it decoded messages with ``now`` and routes what comes out: ``Reply`` (an MGCL message to a
host connection), ``JoinAnswer`` (what the lobby tells a joining console) and ``GameClosed``.
Messages Medius sends *to* a host (ServerCreateGame 0x07, ServerJoinGame 0x09, ServerWorldStatus
0x0D, ServerCreateGameWithAttributes 0x18, ServerConnectGames 0x1A) are not requests from a
console: a host sending one is logged and gets no answer; their responses are consumed here.

Every table is bounded (hosts, games per host and in all, pending joins, players per game) and
every field is range-checked; a host that breaks a rule gets a failure ``confirmation`` and a
logged reason, never an exception.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import NamedTuple

from clank_lan.protocol.medius import MediusMessage
from clank_lan.protocol.medius import mgcl as m
from clank_lan.protocol.medius.enums import (
    CallbackStatus,
    GameHostType,
    MgclError,
    MgclEventType,
    NetAddressType,
    NetConnectionType,
    WorldStatus,
)
from clank_lan.protocol.medius.structs import NetAddress, NetAddressList, NetConnectionInfo

#: Seconds a joining console waits for the host's ServerJoinGameResponse before it is told no.
JOIN_TIMEOUT = 10.0
MAX_HOSTS = 256
MAX_GAMES_PER_HOST = 4
MAX_GAMES = 512
MAX_PENDING_JOINS = 256
#: Players in one hosted game (the MGCL fields are int32; real P2P titles hold 2 to 16).
MAX_PLAYERS = 64
_HOST_TYPES = frozenset(GameHostType)
_TEXT_ADDRESS_TYPES = (NetAddressType.EXTERNAL, NetAddressType.INTERNAL)
_NO_ADDRESS = NetAddress()
_NO_ADDRESSES = NetAddressList()


class Reply(NamedTuple):
    """An MGCL message for the host connection ``to``."""

    to: Hashable
    message: MediusMessage


class JoinAnswer(NamedTuple):
    """The answer the lobby owes a console that asked to join a hosted game."""

    joiner: Hashable
    message_id: str
    status: int  # CallbackStatus
    world_id: int
    connect_info: NetConnectionInfo | None  # the host's addresses and access key on success


class GameClosed(NamedTuple):
    world_id: int
    reason: str


Event = Reply | JoinAnswer | GameClosed


@dataclass(slots=True)
class HostedGame:
    world_id: int
    host: Hashable
    app_id: int
    name: str
    password: str
    stats: bytes
    max_players: int
    min_players: int
    game_level: int
    player_skill_level: int
    rules_set: int
    generic_fields: tuple[int, ...]  # 1..8 (OnSelf forms send only 1..3; the rest stay 0)
    host_type: int
    addresses: NetAddressList
    created: float
    status: int = WorldStatus.STAGING
    players: set[str] = field(default_factory=set)  # session keys the host reported connected
    reported_players: int = 0  # the host's own count (WorldReportOnMe)

    @property
    def player_count(self) -> int:
        return max(len(self.players), self.reported_players)

    @property
    def joinable(self) -> bool:
        return (
            self.status in (WorldStatus.STAGING, WorldStatus.ACTIVE) and self.player_count < self.max_players
        )


@dataclass(slots=True)
class _Host:
    key: Hashable
    observed: str  # the address the server sees the host's TCP connection come from
    app_id: int = 0
    authenticated: bool = False
    in_session: bool = False
    addresses: NetAddressList = _NO_ADDRESSES
    attributes: int = 0
    games: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _PendingJoin:
    joiner: Hashable
    message_id: str
    world_id: int
    session_key: str
    deadline: float


class MgclGames:
    """Every hosted game and host connection. ``new_world_id`` is the lobby's id allocator, so
    hosted games and DME games share one id space and one game list; ``log`` gets the reason of
    every refusal."""

    def __init__(
        self,
        new_world_id: Callable[[], int],
        *,
        log: Callable[[str], None] = lambda line: None,
        mps_address: NetAddress = _NO_ADDRESS,
        nat_address: NetAddress = _NO_ADDRESS,
    ) -> None:
        self._new_world_id = new_world_id
        self._log = log
        self._mps = mps_address
        self._nat = nat_address
        self._hosts: dict[Hashable, _Host] = {}
        self.games: dict[int, HostedGame] = {}
        self._pending: dict[str, _PendingJoin] = {}
        self._join_seq = 0

    # -- connections --------------------------------------------------------------------------

    def connect(self, host: Hashable, observed_address: str) -> bool:
        """A connection on the MPS port; False (close it) when the host table is full."""
        if host in self._hosts:
            return True
        if len(self._hosts) >= MAX_HOSTS:
            self._log(f"MGCL: {MAX_HOSTS} hosts connected; refusing {observed_address}")
            return False
        self._hosts[host] = _Host(host, observed_address)
        return True

    def disconnect(self, host: Hashable, now: float) -> list[Event]:
        """The host dropped: its games close, and consoles waiting to join them are told."""
        h = self._hosts.pop(host, None)
        if h is None:
            return []
        return self._close_all(h, "its host disconnected", now)

    def games_for(self, app_ids: frozenset[int]) -> list[HostedGame]:
        """Hosted games of the given app ids (a lobby group), oldest first, for the game lists."""
        return sorted((g for g in self.games.values() if g.app_id in app_ids), key=lambda g: g.world_id)

    # -- the host's messages --------------------------------------------------------------------

    def on_message(self, host: Hashable, msg: MediusMessage, now: float) -> list[Event]:
        h = self._hosts.get(host)
        if h is None:
            self._log(f"MGCL: {type(msg).__name__} from a connection that is not a host; ignored")
            return []
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            self._log(f"MGCL: {type(msg).__name__} is sent by Medius, not to it; ignored")
            return []
        return handler(self, h, msg, now)

    def _authenticate(self, h: _Host, msg: m.ServerAuthenticationRequest, now: float) -> list[Event]:
        h.addresses = self._fill_addresses(h, msg.address_list)
        h.authenticated = True
        return [
            Reply(h.key, m.ServerAuthenticationResponse(message_id=msg.message_id, connect_info=self._info()))
        ]

    def _session_begin(self, h: _Host, msg, now: float) -> list[Event]:
        response = (
            m.ServerSessionBeginResponse
            if isinstance(msg, m.ServerSessionBeginRequest)
            else (m.ServerSessionBeginResponse1)
        )
        if msg.app_id <= 0:
            self._log(f"MGCL: host {h.observed} began a session with app id {msg.app_id}")
            return [Reply(h.key, response(message_id=msg.message_id, confirmation=MgclError.INVALID_ARG))]
        h.app_id, h.in_session = msg.app_id, True
        return [Reply(h.key, response(message_id=msg.message_id, connect_info=self._info()))]

    def _session_end(self, h: _Host, msg: m.ServerSessionEndRequest, now: float) -> list[Event]:
        h.in_session = False
        events = self._close_all(h, "its host ended the session", now)
        return [Reply(h.key, m.ServerSessionEndResponse(message_id=msg.message_id)), *events]

    def _create_on_host(self, h: _Host, msg, now: float) -> list[Event]:
        def refuse(code: MgclError, reason: str) -> list[Event]:
            self._log(f"MGCL: host {h.observed} cannot create {msg.game_name!r}: {reason}")
            return [
                Reply(h.key, m.ServerCreateGameOnMeResponse(message_id=msg.message_id, confirmation=code))
            ]

        if not h.in_session:
            return refuse(MgclError.SESSION_BEGIN_FAILED, "no host session (ServerSessionBegin first)")
        if not msg.game_name or not msg.game_name.isprintable():
            return refuse(MgclError.INVALID_ARG, "the game has no printable name")
        if not 1 <= msg.max_players <= MAX_PLAYERS or not 0 <= msg.min_players <= msg.max_players:
            return refuse(MgclError.INVALID_ARG, f"players {msg.min_players}..{msg.max_players}")
        host_type = getattr(msg, "game_host_type", GameHostType.PEER_TO_PEER)
        if host_type not in _HOST_TYPES:
            return refuse(MgclError.INVALID_ARG, f"game host type {host_type}")
        if len(h.games) >= MAX_GAMES_PER_HOST or len(self.games) >= MAX_GAMES:
            return refuse(MgclError.NUM_GAME_WORLDS_PER_LOBBY_WORLD_EXCEEDED, "too many hosted games")
        app_id = h.app_id  # a host lists games of the title it began its session as, no other
        if msg.app_id and msg.app_id != app_id:
            self._log(
                f"MGCL: host {h.observed} named app id {msg.app_id} in a {app_id} session; {app_id} kept"
            )
        if any(
            g.app_id == app_id and g.name.casefold() == msg.game_name.casefold() for g in self.games.values()
        ):
            return refuse(MgclError.GAME_NAME_EXISTS, "the name is taken")
        generic = tuple(getattr(msg, f"generic_field_{i}", 0) for i in range(1, 9))
        world_id = self._new_world_id()
        self.games[world_id] = HostedGame(
            world_id=world_id,
            host=h.key,
            app_id=app_id,
            name=msg.game_name,
            password=msg.game_password,
            stats=msg.game_stats,
            max_players=msg.max_players,
            min_players=msg.min_players,
            game_level=msg.game_level,
            player_skill_level=msg.player_skill_level,
            rules_set=msg.rules_set,
            generic_fields=generic,
            host_type=host_type,
            addresses=self._fill_addresses(h, msg.address_list),
            created=now,
        )
        h.games.add(world_id)
        return [Reply(h.key, m.ServerCreateGameOnMeResponse(message_id=msg.message_id, world_id=world_id))]

    def _world_report(self, h: _Host, msg: m.ServerWorldReportOnMe, now: float) -> list[Event]:
        g = self._own_game(h, msg.world_id, "WorldReportOnMe")
        if g is None:
            return []
        if msg.game_name and msg.game_name.isprintable():
            g.name = msg.game_name
        g.stats, g.password = msg.game_stats, msg.game_password
        if 1 <= msg.max_players <= MAX_PLAYERS:
            g.max_players = msg.max_players
        g.reported_players = min(max(msg.player_count, 0), g.max_players)
        g.game_level, g.player_skill_level, g.rules_set = (
            msg.game_level,
            msg.player_skill_level,
            msg.rules_set,
        )
        g.generic_fields = tuple(getattr(msg, f"generic_field_{i}") for i in range(1, 9))
        if msg.world_status in (WorldStatus.STAGING, WorldStatus.ACTIVE):
            g.status = msg.world_status
        elif msg.world_status == WorldStatus.CLOSED:
            return self._close(g, "its host reported it closed", now)
        return []

    def _end_on_me(self, h: _Host, msg: m.ServerEndGameOnMeRequest, now: float) -> list[Event]:
        g = self._own_game(h, msg.world_id, "EndGameOnMe")
        if g is None:
            return [
                Reply(
                    h.key,
                    m.ServerEndGameOnMeResponse(
                        message_id=msg.message_id, confirmation=MgclError.INVALID_ARG
                    ),
                )
            ]
        return [
            Reply(h.key, m.ServerEndGameOnMeResponse(message_id=msg.message_id)),
            *self._close(g, "its host ended it", now),
        ]

    def _end_game(self, h: _Host, msg: m.ServerEndGameRequest, now: float) -> list[Event]:
        g = self._own_game(h, msg.world_id, "EndGame")
        if g is None:
            return [
                Reply(
                    h.key,
                    m.ServerEndGameResponse(message_id=msg.message_id, confirmation=MgclError.INVALID_ARG),
                )
            ]
        return [
            Reply(h.key, m.ServerEndGameResponse(message_id=msg.message_id)),
            *self._close(g, "its host ended it", now),
        ]

    def _move_world(self, h: _Host, msg: m.ServerMoveGameWorldOnMeRequest, now: float) -> list[Event]:
        """Host migration: the sender takes over the game (``current_world_id``) with its own
        addresses; the world keeps its id, so players and lists are unaffected."""
        g = self.games.get(msg.current_world_id)
        if g is None or (g.host != h.key and len(h.games) >= MAX_GAMES_PER_HOST):
            self._log(f"MGCL: host {h.observed} cannot take over game {msg.current_world_id}")
            return [
                Reply(
                    h.key,
                    m.ServerMoveGameWorldOnMeResponse(
                        message_id=msg.message_id, confirmation=MgclError.INVALID_ARG
                    ),
                )
            ]
        old = self._hosts.get(g.host)
        if old is not None:
            old.games.discard(g.world_id)
        g.host = h.key
        g.addresses = self._fill_addresses(h, msg.address_list)
        h.games.add(g.world_id)
        return [
            Reply(h.key, m.ServerMoveGameWorldOnMeResponse(message_id=msg.message_id, world_id=g.world_id))
        ]

    def _set_attributes(self, h: _Host, msg: m.ServerSetAttributesRequest, now: float) -> list[Event]:
        h.attributes = msg.attributes
        return [Reply(h.key, m.ServerSetAttributesResponse(message_id=msg.message_id))]

    def _connect_notification(self, h: _Host, msg: m.ServerConnectNotification, now: float) -> list[Event]:
        g = self._own_game(h, msg.world_uid, "ConnectNotification")
        if g is None or not msg.player_session_key:
            return []
        if msg.connect_event_type == MgclEventType.CLIENT_CONNECT:
            if len(g.players) < g.max_players:
                g.players.add(msg.player_session_key)
        elif msg.connect_event_type == MgclEventType.CLIENT_DISCONNECT:
            g.players.discard(msg.player_session_key)
        return []

    def _report(self, h: _Host, msg: m.ServerReport, now: float) -> list[Event]:
        return []  # a load report: nothing to keep for a console host

    def _disconnect_player(self, h: _Host, msg: m.ServerDisconnectPlayerRequest, now: float) -> list[Event]:
        return []  # the host dropped a player itself; its ConnectNotification updates the count

    def _join_response(self, h: _Host, msg: m.ServerJoinGameResponse, now: float) -> list[Event]:
        p = self._pending.pop(msg.message_id, None)
        if p is None:
            self._log(f"MGCL: host {h.observed} answered an unknown join {msg.message_id!r}")
            return []
        g = self.games.get(p.world_id)
        if g is None or g.host != h.key:
            return [JoinAnswer(p.joiner, p.message_id, CallbackStatus.GAME_NOT_FOUND, p.world_id, None)]
        if msg.confirmation != MgclError.SUCCESS:
            return [JoinAnswer(p.joiner, p.message_id, CallbackStatus.REQUEST_DENIED, p.world_id, None)]
        info = NetConnectionInfo(
            connection_type=NetConnectionType.PEER_TO_PEER_UDP,
            address_list=g.addresses,
            target_world_id=g.world_id,
            server_key=msg.pub_key,
            session_key=p.session_key,
            access_key=msg.access_key,
        )
        return [JoinAnswer(p.joiner, p.message_id, CallbackStatus.SUCCESS, g.world_id, info)]

    def _ignored_response(self, h: _Host, msg, now: float) -> list[Event]:
        return []  # answers to requests this server never sends to console hosts

    # -- joining (called by the lobby) ----------------------------------------------------------

    def request_join(
        self, joiner: Hashable, message_id: str, world_id: int, session_key: str, password: str, now: float
    ) -> list[Event]:
        """A console asked the lobby to join hosted game ``world_id``: ask its host, or refuse."""

        def refuse(status: CallbackStatus) -> list[Event]:
            return [JoinAnswer(joiner, message_id, status, world_id, None)]

        g = self.games.get(world_id)
        if g is None:
            return refuse(CallbackStatus.GAME_NOT_FOUND)
        if g.password and g.password != password:
            return refuse(CallbackStatus.INVALID_PASSWORD)
        if not g.joinable:
            return refuse(CallbackStatus.WORLD_IS_FULL)
        if len(self._pending) >= MAX_PENDING_JOINS:
            self._log(f"MGCL: {MAX_PENDING_JOINS} joins pending; refusing one to game {world_id}")
            return refuse(CallbackStatus.REQUEST_DENIED)
        self._join_seq += 1
        key = f"J{self._join_seq % 10**19}"  # fits char[21] with its terminator
        self._pending[key] = _PendingJoin(joiner, message_id, world_id, session_key, now + JOIN_TIMEOUT)
        info = NetConnectionInfo(
            connection_type=NetConnectionType.PEER_TO_PEER_UDP,
            target_world_id=world_id,
            session_key=session_key,
        )
        return [Reply(g.host, m.ServerJoinGameRequest(message_id=key, connect_info=info))]

    def expire(self, now: float) -> list[Event]:
        """Joins the host never answered: the console is told no instead of waiting forever."""
        late = [k for k, p in self._pending.items() if p.deadline <= now]
        return [
            JoinAnswer(p.joiner, p.message_id, CallbackStatus.REQUEST_DENIED, p.world_id, None)
            for p in (self._pending.pop(k) for k in late)
        ]

    def forget_joiner(self, joiner: Hashable) -> None:
        """A console left while waiting to join: drop its pending joins."""
        for k in [k for k, p in self._pending.items() if p.joiner == joiner]:
            del self._pending[k]

    # -- internals ----------------------------------------------------------------------------

    def _info(self) -> NetConnectionInfo:
        return NetConnectionInfo(
            connection_type=NetConnectionType.CLIENT_SERVER_TCP,
            address_list=NetAddressList(addresses=(self._mps, self._nat)),
        )

    def _fill_addresses(self, h: _Host, given: NetAddressList) -> NetAddressList:
        """The host's (public, private) pair: what it sent, with an empty or unusable public
        address replaced by the one its connection comes from (on a LAN, the same network)."""
        if not any(a.address_type for a in given.addresses) and h.authenticated:
            given = h.addresses
        public, private = given.addresses
        if public.address_type in _TEXT_ADDRESS_TYPES and not _usable(public.address):
            public = NetAddress(address_type=NetAddressType.EXTERNAL, address=h.observed, port=public.port)
        elif public.address_type == NetAddressType.NONE:
            public = NetAddress(address_type=NetAddressType.EXTERNAL, address=h.observed, port=private.port)
        return NetAddressList(addresses=(public, private))

    def _own_game(self, h: _Host, world_id: int, what: str) -> HostedGame | None:
        g = self.games.get(world_id)
        if g is None or g.host != h.key:
            self._log(f"MGCL: {what} from host {h.observed} for game {world_id}, which it does not host")
            return None
        return g

    def _close(self, g: HostedGame, reason: str, now: float) -> list[Event]:
        self.games.pop(g.world_id, None)
        h = self._hosts.get(g.host)
        if h is not None:
            h.games.discard(g.world_id)
        waiting = [k for k, p in self._pending.items() if p.world_id == g.world_id]
        events: list[Event] = [
            JoinAnswer(p.joiner, p.message_id, CallbackStatus.GAME_NOT_FOUND, g.world_id, None)
            for p in (self._pending.pop(k) for k in waiting)
        ]
        events.append(GameClosed(g.world_id, reason))
        return events

    def _close_all(self, h: _Host, reason: str, now: float) -> list[Event]:
        events: list[Event] = []
        for world_id in sorted(h.games):
            g = self.games.get(world_id)
            if g is not None:
                events += self._close(g, reason, now)
        h.games.clear()
        return events


def _usable(address: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return not (ip.is_unspecified or ip.is_loopback or ip.is_multicast)


_HANDLERS: dict[type, Callable[[MgclGames, _Host, MediusMessage, float], list[Event]]] = {
    m.ServerAuthenticationRequest: MgclGames._authenticate,
    m.ServerSessionBeginRequest: MgclGames._session_begin,
    m.ServerSessionBeginRequest1: MgclGames._session_begin,
    m.ServerSessionEndRequest: MgclGames._session_end,
    m.ServerCreateGameOnMeRequest: MgclGames._create_on_host,
    m.ServerCreateGameOnSelfRequest: MgclGames._create_on_host,
    m.ServerCreateGameOnSelfRequest0: MgclGames._create_on_host,
    m.ServerWorldReportOnMe: MgclGames._world_report,
    m.ServerEndGameOnMeRequest: MgclGames._end_on_me,
    m.ServerEndGameRequest: MgclGames._end_game,
    m.ServerMoveGameWorldOnMeRequest: MgclGames._move_world,
    m.ServerSetAttributesRequest: MgclGames._set_attributes,
    m.ServerConnectNotification: MgclGames._connect_notification,
    m.ServerReport: MgclGames._report,
    m.ServerDisconnectPlayerRequest: MgclGames._disconnect_player,
    m.ServerJoinGameResponse: MgclGames._join_response,
    m.ServerCreateGameResponse: MgclGames._ignored_response,
    m.ServerCreateGameWithAttributesResponse: MgclGames._ignored_response,
    m.ServerWorldStatusResponse: MgclGames._ignored_response,
    m.ServerConnectGamesResponse: MgclGames._ignored_response,
}

#: Every host-to-server MGCL message this model answers or consumes.
HANDLED_TYPES: tuple[type[MediusMessage], ...] = tuple(_HANDLERS)
