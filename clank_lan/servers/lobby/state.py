"""Online lobby state kept in memory: sessions, channels (lobby worlds) and games.

Nothing here touches a socket or the database. A ``Session`` is created by the MAS on
SessionBegin and found again by the MLS (and the DME) through its access key, so a console's
login survives the drop of its MAS connection on the way to the MLS. Persistent data (accounts,
clans, buddies...) lives in ``clank_lan.db``.
"""

from __future__ import annotations

import base64
import enum
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from clank_lan.titles import Title


class WorldStatus(enum.IntEnum):
    INACTIVE = 0
    STAGING = 1
    ACTIVE = 2
    CLOSED = 3
    PENDING_CREATION = 4
    PENDING_CONNECT = 5


class AppSink(Protocol):
    """A live connection that can carry Medius messages to the console."""

    def send_app(self, payload: bytes, shared: bool = False) -> None: ...

    def send_system_message(self, text: str) -> None: ...

    def disconnect(self, reason: str, code: int = 0) -> None: ...


@dataclass(eq=False)
class GameFilter:
    filter_id: int
    field: int
    mask: int
    operator: int
    baseline: int


@dataclass(eq=False)
class Session:
    session_key: str
    access_key: str
    app_id: int
    #: Resolved once, when the session begins (every handler reads it from here).
    title: Title
    group: str  # lobby group: who sees whose channels and games
    namespace: str  # account namespace (title family)
    medius_version: int
    ip: str
    created_at: float
    #: The session's serial number (never reused, not a secret: anonymous account ids use it).
    number: int = 0
    account_id: int = 0
    account_name: str = ""
    logged_in: bool = False
    anonymous: bool = False
    machine_id: bytes = b""
    encoding: int = 1
    language: int = 1
    connection_class: int = 1  # MediusConnectionType from SessionBegin (1 = Ethernet)
    channel_id: int | None = None
    game_id: int | None = None
    dme_index: int | None = None
    clan_id: int = 0
    chat_enabled: bool = True
    game_filters: dict[int, GameFilter] = field(default_factory=dict)
    connections: list[AppSink] = field(default_factory=list)
    #: Monotonic deadline after which a session without connections is destroyed.
    orphan_deadline: float | None = None
    stage: set[str] = field(default_factory=set)
    #: A buddy confirmation this console asked for: where and under which id to answer it.
    pending_buddy_reply: tuple[AppSink, str] | None = None

    @property
    def title_key(self) -> str:
        return self.title.key

    @property
    def online(self) -> bool:
        return bool(self.connections)

    def label(self) -> str:
        who = self.account_name or "(not logged in)"
        return f"{who}@{self.ip}"


@dataclass(eq=False)
class Channel:
    id: int
    group: str
    name: str
    max_players: int = 64
    password: str = ""
    generic_fields: tuple[int, int, int, int] = (0, 0, 0, 0)
    field_level: int = 0
    security_level: int = 0
    members: set[Session] = field(default_factory=set)


@dataclass(eq=False)
class GamePlayer:
    session: Session
    index: int
    access_key: str
    connected: bool = False


@dataclass(eq=False)
class Game:
    id: int
    group: str
    app_id: int
    name: str
    host_type: int
    created_at: float
    channel_id: int | None = None
    password: str = ""
    spectator_password: str = ""
    min_players: int = 1
    max_players: int = 8
    game_level: int = 0
    skill_level: int = 0
    rules_set: int = 0
    generic_fields: list[int] = field(default_factory=lambda: [0] * 8)
    attributes: int = 0
    stats: bytes = bytes(256)
    status: WorldStatus = WorldStatus.PENDING_CREATION
    host: Session | None = None
    players: dict[str, GamePlayer] = field(default_factory=dict)  # by session key
    #: Monotonic deadline after which an unused world is removed.
    idle_deadline: float | None = None
    #: Whether the game ends when its host (DME index 0) leaves (the title family decides).
    ends_with_host: bool = False
    started_at: float | None = None
    ended_at: float | None = None
    #: The DME world of a client-server game; None for a peer-to-peer one.
    dme_world_id: int | None = None
    #: Peer-to-peer: the host console's own addresses (a NetAddressList), given to joiners.
    host_addresses: object | None = None
    #: Registered by its host console through MGCL on the MPS port (``mgcl_games``): joins go
    #: through the host, and the game lives as long as the host's registration.
    hosted: bool = False

    def free_index(self) -> int:
        used = {p.index for p in self.players.values()}
        return next(i for i in itertools.count() if i not in used)

    @property
    def security_level(self) -> int:
        return (1 if self.password else 0) | (4 if self.spectator_password else 0)


def new_access_key(rng: Callable[[int], bytes]) -> str:
    """12 random bytes, base64: 16 characters, fits the 17-byte field with its NUL. Session keys
    are made the same way: a key a console presents must not be guessable (a counter was)."""
    return base64.b64encode(rng(12)).decode("ascii")


#: Draws of a fresh key before a random source that keeps repeating itself is called broken.
KEY_DRAWS = 64


def _fresh_key(rng: Callable[[int], bytes], taken: dict[str, Session]) -> str:
    for _ in range(KEY_DRAWS):
        key = new_access_key(rng)
        if key not in taken:
            return key
    raise RuntimeError(f"the random source gave {KEY_DRAWS} keys already in use")


class Lobby:
    """Registry of sessions, channels and games. Ids are never reused while the process runs."""

    def __init__(self, rng: Callable[[int], bytes]) -> None:
        self.rng = rng
        self.sessions: dict[str, Session] = {}
        self.by_access: dict[str, Session] = {}
        self.channels: dict[int, Channel] = {}
        self.games: dict[int, Game] = {}
        self._session_ids = itertools.count(1)
        self._channel_ids = itertools.count(1)
        self._game_ids = itertools.count(1)

    # sessions -----------------------------------------------------------------------------
    def new_session(self, **kw) -> Session:
        key = _fresh_key(self.rng, self.sessions)
        access = _fresh_key(self.rng, self.by_access)
        s = Session(session_key=key, access_key=access, number=next(self._session_ids), **kw)
        self.sessions[key] = s
        self.by_access[access] = s
        return s

    def find(self, access_key: str, session_key: str = "") -> Session | None:
        """The session whose access key is exactly ``access_key``; a session key, when given, must
        be that session's too. Nothing is found by session key alone: it travels in clear in
        many messages, the access key is the secret."""
        s = self.by_access.get(access_key) if access_key else None
        if s is None or (session_key and session_key != s.session_key):
            return None
        return s

    def logged_in(self, namespace: str, account_id: int) -> Session | None:
        for s in self.sessions.values():
            if s.logged_in and s.namespace == namespace and s.account_id == account_id:
                return s
        return None

    def by_name(self, name: str, group: str | None = None) -> Session | None:
        low = name.lower()
        for s in self.sessions.values():
            if s.logged_in and s.account_name.lower() == low and (group is None or s.group == group):
                return s
        return None

    def remove_session(self, s: Session) -> None:
        self.leave_channel(s)
        self.sessions.pop(s.session_key, None)
        self.by_access.pop(s.access_key, None)

    # channels -----------------------------------------------------------------------------
    def add_channel(self, group: str, name: str, **kw) -> Channel:
        ch = Channel(id=next(self._channel_ids), group=group, name=name, **kw)
        self.channels[ch.id] = ch
        return ch

    def channels_of(self, group: str) -> list[Channel]:
        return [c for c in self.channels.values() if c.group == group]

    def join_channel(self, s: Session, ch: Channel) -> None:
        self.leave_channel(s)
        ch.members.add(s)
        s.channel_id = ch.id

    def leave_channel(self, s: Session) -> None:
        if s.channel_id is not None:
            ch = self.channels.get(s.channel_id)
            if ch is not None:
                ch.members.discard(s)
            s.channel_id = None

    # games --------------------------------------------------------------------------------
    def new_game_id(self) -> int:
        """A fresh world id: lobby-made and console-hosted (MGCL) games share one id space."""
        return next(self._game_ids)

    def add_game(self, game_id: int | None = None, **kw) -> Game:
        g = Game(id=self.new_game_id() if game_id is None else game_id, **kw)
        self.games[g.id] = g
        return g

    def games_of(self, group: str) -> list[Game]:
        return [g for g in self.games.values() if g.group == group and g.status != WorldStatus.CLOSED]

    def game_name_taken(self, group: str, name: str) -> bool:
        low = name.lower()
        return any(g.name.lower() == low for g in self.games_of(group))

    def remove_game(self, g: Game) -> None:
        self.games.pop(g.id, None)
        for p in g.players.values():
            if p.session.game_id == g.id:
                p.session.game_id = None
                p.session.dme_index = None

    def sessions_in(self, group: str) -> Iterable[Session]:
        return (s for s in self.sessions.values() if s.group == group)
