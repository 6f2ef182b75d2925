"""DME worlds and player slots (sans-IO state, no sockets).

A world is one game: its keys, its slots (player indexes), and the players whose handshake is
complete (``members``, the ones app messages are relayed to). A slot is created by the lobby's
reservation, before the console connects; the access key binds a TCP connection to it.

Indexes: the lowest free one, so the creator (who reserves first) is index 0, the host. When the
host leaves while others remain, index 0 is not handed out again in that world: a newcomer must
not be taken for the host by the games (UYA ends the game, Deadlocked's clients migrate their
object masters among themselves; the DME only reports the departure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from clank_lan.dme.conn import DmeConnection

#: Largest world the DME accepts (UYA/DL have 8 players; Horizon allows 10).
MAX_PLAYERS_LIMIT = 64
HOST_INDEX = 0


class DmeError(Exception):
    """A lobby-side request the DME cannot honour (unknown world, world full, world closing)."""


@dataclass(eq=False)
class Slot:
    world: World
    index: int
    session_key: str
    account_id: int
    name: str
    access_key: str
    reserved_at: float
    conn: DmeConnection | None = None
    connected: bool = False  # handshake completed at least once
    silent: bool = False  # the lobby asked for its removal: no on_player_left callback


@dataclass(eq=False)
class World:
    world_id: int
    app_id: int
    max_players: int
    version: int
    encrypted: bool | None
    game_key: bytes  # CRYPTKEY_GAME (context 1), the same for every player
    peer_key: bytes  # the second CRYPTKEY_PEER (context 3 from ACCEPT_TCP on), the same for all
    created: float
    slots: dict[int, Slot] = field(default_factory=dict)  # index -> slot
    by_session: dict[str, Slot] = field(default_factory=dict)
    members: list[DmeConnection] = field(default_factory=list)  # handshake complete, by index
    by_index: dict[int, DmeConnection] = field(default_factory=dict)  # members by index
    timer_start: float | None = None  # world timer (ms) runs from the first TCP connect
    empty_since: float = 0.0  # when it last had no TCP connection (creation counts)
    closing: bool = False  # end_world(brutal=False): no new players, removed once empty
    host_left: bool = False
    removed: bool = False
    #: Members that encrypt and members that talk clear play together: relays are translated.
    mixed: bool = False

    def free_index(self) -> int | None:
        for i in range(self.max_players):
            if i == HOST_INDEX and self.host_left:
                continue
            if i not in self.slots:
                return i
        return None

    def connections(self) -> list[DmeConnection]:
        """Players with a bound TCP connection (handshake complete or not)."""
        return [s.conn for s in self.slots.values() if s.conn is not None]

    def connected_count(self) -> int:
        return sum(1 for s in self.slots.values() if s.conn is not None)

    def timer_ms(self, now: float) -> int:
        """The world timer Sony reports in STARTUP_INFO and TIMEBASE answers (u32 ms)."""
        if self.timer_start is None:
            return 0
        return int((now - self.timer_start) * 1000) & 0xFFFFFFFF

    def add_member(self, conn: DmeConnection) -> None:
        self.by_index[conn.index] = conn
        self._members_changed()

    def remove_member(self, conn: DmeConnection) -> bool:
        if self.by_index.get(conn.index) is not conn:
            return False
        del self.by_index[conn.index]
        self._members_changed()
        return True

    def _members_changed(self) -> None:
        self.members = sorted(self.by_index.values(), key=lambda c: c.index)
        clear = sum(1 for c in self.members if not c.encrypted)
        self.mixed = 0 < clear < len(self.members)


class PlayerInfo(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    session_key: str
    account_id: int
    name: str
    state: str  # "reserved", "connecting", "connected"
    tcp_peer: str = ""
    udp_endpoint: str = ""
    version: int = 0
    encrypted: bool | None = None
    joined_at: float | None = None  # wall clock when its handshake completed
    ping_ms: float | None = None  # round trip of our SERVER_ECHO (1.09+ titles), None: not measured
    frames_in: int = 0  # game frames it sent to be relayed
    bytes_in: int = 0
    frames_out: int = 0  # game frames relayed to it
    bytes_out: int = 0


class WorldInfo(msgspec.Struct, frozen=True, kw_only=True):
    world_id: int
    app_id: int
    max_players: int
    version: int
    encrypted: bool | None
    closing: bool
    host_left: bool
    timer_ms: int
    players: tuple[PlayerInfo, ...]
