"""The DME: worlds, slots, the shared UDP port, relaying and timers; and the lobby-facing API.

Sans-IO: the trio shell (``dme.server``) feeds it TCP bytes (through ``DmeConnection`` objects from
``tcp_protocol``), datagrams (``datagram_received``) and timer ticks (``on_timer`` at
``next_deadline``), and sends what ``take_datagrams`` returns. Time comes from the injected clock
or the ``now`` arguments, randomness from ``rng``.

The lobby (MLS, in the same process) calls ``create_world``, ``reserve_slot`` (on JoinGame: gives
the player index and the access key the console must present), ``release_slot``, ``end_world`` and
``world_info``, and learns what happened through the callbacks it registers:

* ``on_player_connected(world_id, index, session_key, now)``: the console finished the DME handshake.
* ``on_player_left(world_id, index, session_key, reason, now)``: a slot went away on the DME's side
  (disconnect, timeout, handshake failure, a reservation nobody used within the client timeout).
* ``on_world_removed(world_id, reason, now)``: the world went away on its own (nobody connected, or
  it stayed empty, for ``dme_empty_world`` seconds; or an ended world's last player left).

``now`` is the DME's clock when it happened, so the lobby's deadlines need no clock of their own.

What the lobby itself asked for synchronously (``release_slot``, ``end_world(brutal=True)``, or
``end_world`` of an empty world) is not reported back. Callbacks run after the DME's own state
is consistent, never in the middle of a relay, so they may call back into this API.

Host leaving: when index 0 leaves, every remaining player gets DISCONNECT_NOTIFY for index 0 (UYA
takes that as "game over"), relaying goes on for those still there, the lobby hears about it
through ``on_player_left`` with index 0 and decides (``end_world`` or not). 1.09+ worlds are
treated the same: Deadlocked's clients hand over their object masters among themselves with app
messages, which the DME relays; the DME does no host migration. In both, index 0 is not given to
a later joiner of that world (``world.World``).
"""

from __future__ import annotations

import base64
import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from clank_lan import limit_hits as lh
from clank_lan.config import LimitSettings, TimeoutSettings
from clank_lan.dme import wire
from clank_lan.dme.conn import QUEUE_LIMIT, DmeConnection, Phase
from clank_lan.dme.world import (
    HOST_INDEX,
    MAX_PLAYERS_LIMIT,
    DmeError,
    PlayerInfo,
    Slot,
    World,
    WorldInfo,
)
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys as known_keys
from clank_lan.protocol.crypto import ps2_rc4
from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash, ps2_hash
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import CryptoError
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import RawFrame, split_datagram
from clank_lan.protocol.rt_ids import RT
from clank_lan.protocol.rt_messages import DisconnectReason, RecvFlag
from clank_lan.ratelimit import KeyedLimiter, TokenBucket
from clank_lan.rt import link as rt_link
from clank_lan.rt.link import FrameCache

log = logging.getLogger("clank_lan.dme")

Addr = tuple[str, int]

#: How often timeouts, echoes and empty worlds are checked. With no world and no connection
#: there is nothing to check but the refusal summaries, due every ``limits.log_interval``: the
#: DME then wakes that often, not four times a second for nothing.
HOUSEKEEPING_INTERVAL = 0.25
#: Datagrams waiting for the UDP sender before new ones are dropped.
UDP_OUT_LIMIT = 16384
#: Datagrams per second (bursts of twice that) one source that is not a bound player may send
#: before the rest is dropped unread: a console sends its CONNECT_AUX_UDP two or three times.
STRANGER_RATE = 10.0
#: Datagrams per second from all sources no player waits for together; a source whose address
#: is a joining player's is exempt, so a flood from elsewhere cannot crowd out its connect.
STRANGERS_TOTAL_RATE = 200.0
ACCESS_KEY_BYTES = 12  # base64: 16 characters, fits the 17-byte field with its NUL

_BROADCAST = int(RecvFlag.BROADCAST)
_SINGLE = int(RecvFlag.SINGLE)
_LIST = int(RecvFlag.LIST)
#: Phases in which a player's aux-UDP connect is expected (or repeated).
_UDP_PHASES = (Phase.TCP_READY, Phase.READY)
#: Keys tried at most on a CONNECT_AUX_UDP whose checksum was not the predicted one.
UDP_CONNECT_TRIES = 64
_AUX_UDP_SIZES = {rtm.ClientConnectAuxUdp.SIZE_108: rtm.V108, rtm.ClientConnectAuxUdp.SIZE_109: rtm.V109}


def _noop(*_args: Any) -> None:
    return None


@dataclass
class DmeEvents:
    """The lobby's callbacks (any object with these attributes will do)."""

    on_player_connected: Callable[[int, int, str, float], None] = _noop
    on_player_left: Callable[[int, int, str, str, float], None] = _noop
    on_world_removed: Callable[[int, str, float], None] = _noop


@dataclass
class DmeStats:
    """Counters for the TUI, tests and the benchmark."""

    datagrams_in: int = 0
    datagrams_out: int = 0
    relayed_in: int = 0  # app frames received for relaying
    delivered_tcp: int = 0  # relayed frames queued to receivers
    delivered_udp: int = 0
    dropped_unknown_endpoint: int = 0
    dropped_bad: int = 0
    dropped_queue_full: int = 0
    dropped_no_udp: int = 0  # UDP relay to a player without a bound endpoint
    udp_connects_indexed: int = 0  # encrypted CONNECT_AUX_UDP found by checksum or known endpoint
    udp_connects_searched: int = 0  # ... found by trying keys
    dropped_stranger_rate: int = 0  # from sources that are no bound player, over their rate
    dropped_relay_rate: int = 0  # relay frames over a player's ``relay_frames_per_second``


class DmeManager:
    def __init__(
        self,
        advertised_ip: str,
        tcp_port: int,
        udp_port: int,
        timeouts: TimeoutSettings,
        rng: Callable[[int], bytes],
        clock: Callable[[], float],
        events: Any = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        rsa_key: RsaKey | None = None,
        default_agg_ms: int = 20,
        max_worlds: int = 4096,
        limits: LimitSettings | None = None,
        hits: lh.LimitHits | None = None,
    ) -> None:
        self.advertised_ip = advertised_ip
        self.tcp_port = tcp_port
        self.udp_port = udp_port
        self.timeouts = timeouts
        self.rng = rng
        self.clock = clock
        self.events = events if events is not None else DmeEvents()
        self.wall_clock = wall_clock
        #: The key consoles encrypt CRYPTKEY_PUBLIC to (the lobby hands its modulus out as ServerKey).
        self.rsa_key = rsa_key or known_keys.global_mas_key()
        self.default_agg = default_agg_ms / 1000.0
        self.max_worlds = max_worlds
        self.stats = DmeStats()
        self._worlds: dict[int, World] = {}
        self._by_access: dict[str, Slot] = {}
        self._by_udp: dict[Addr, DmeConnection] = {}
        self._conns: set[DmeConnection] = set()
        self._scerts: set[int] = set()
        self._next_world_id = 1
        self._next_scert = 1
        self._heap: list[tuple[float, int, DmeConnection]] = []
        self._seq = itertools.count()
        self._armed = math.inf
        self._wakeup: Callable[[], None] = _noop
        self._udp_out: list[tuple[bytes, Addr]] = []
        self._udp_notify: Callable[[], None] = _noop
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._dispatching = False
        self._next_housekeeping = clock() + HOUSEKEEPING_INTERVAL
        self.limits = limits or LimitSettings()
        #: Every per-address line about a misbehaving peer, rate-limited; and the hit counters.
        self.refusals = lh.Refusals(log, self.limits.log_limiter(), hits)
        self._strangers: KeyedLimiter[Addr] = KeyedLimiter(
            STRANGER_RATE, 2 * STRANGER_RATE, self.limits.tracked_peers
        )
        self._strangers_total = TokenBucket(STRANGERS_TOTAL_RATE, STRANGERS_TOTAL_RATE, clock())
        self._next_log_flush = clock() + self.limits.log_interval
        #: Short encrypted server frames (echo answers), shared by every connection.
        self.frame_cache = FrameCache()
        self._udp_expect: dict[bytes, DmeConnection] = {}
        #: Players that announced aux UDP, by (TCP peer IP, index): how a CONNECT_AUX_UDP is matched.
        self._udp_wait: dict[tuple[str, int], list[DmeConnection]] = {}
        #: How many of those players each IP address has: datagrams from there are expected.
        self._udp_wait_ips: dict[str, int] = {}

    # === lobby API ==============================================================================
    def create_world(self, app_id: int, max_players: int, version: int, encrypted: bool | None = None) -> int:
        """A new world; returns its id (what the console sends in its connects).

        ``version`` is the title's RT version (108 for UYA, 110 for Deadlocked); ``encrypted``
        what the lobby expects (None: whatever each console does; consoles are always answered
        the way they talk, a mismatch is only logged).
        """
        if not 1 <= max_players <= MAX_PLAYERS_LIMIT:
            raise DmeError(f"max_players must be 1..{MAX_PLAYERS_LIMIT}, got {max_players}")
        if len(self._worlds) >= self.max_worlds:
            raise DmeError(f"too many worlds ({self.max_worlds})")
        world_id = self._new_world_id()
        now = self.clock()
        world = World(
            world_id=world_id,
            app_id=app_id,
            max_players=max_players,
            version=version,
            encrypted=encrypted,
            game_key=self.rng(64),
            peer_key=self.rng(64),
            created=now,
            empty_since=now,
        )
        self._worlds[world_id] = world
        self._watch(now)
        log.info("DME: world %d created (app %d, %d players, v%d)", world_id, app_id, max_players, version)
        return world_id

    def reserve_slot(self, world_id: int, session_key: str, account_id: int, name: str) -> tuple[int, str]:
        """(player index, access key) for a player about to connect; the same again for a repeat
        with the same session key."""
        world = self._world(world_id)
        if world.closing:
            raise DmeError(f"world {world_id} is closing")
        slot = world.by_session.get(session_key)
        if slot is not None:
            if slot.conn is None:
                slot.reserved_at = self.clock()
            return slot.index, slot.access_key
        index = world.free_index()
        if index is None:
            raise DmeError(f"world {world_id} is full ({world.max_players} players)")
        access_key = self._new_access_key()
        slot = Slot(
            world=world,
            index=index,
            session_key=session_key,
            account_id=account_id,
            name=name,
            access_key=access_key,
            reserved_at=self.clock(),
        )
        world.slots[index] = slot
        world.by_session[session_key] = slot
        self._by_access[access_key] = slot
        log.info("DME: world %d slot %d reserved for %s (account %d)", world_id, index, name, account_id)
        return index, access_key

    def release_slot(self, world_id: int, session_key: str) -> bool:
        """Free a player's slot; a connected console is disconnected. False if there was none."""
        world = self._worlds.get(world_id)
        slot = world.by_session.get(session_key) if world is not None else None
        if slot is None:
            return False
        slot.silent = True
        if slot.conn is not None:
            slot.conn.close("released by the lobby", DisconnectReason.END_SESSION)
        else:
            self._drop_slot(slot)
            self._maybe_remove_closing(slot.world)
        self.dispatch_events()
        return True

    def end_world(self, world_id: int, brutal: bool) -> bool:
        """End a game: ``brutal`` disconnects everybody now; otherwise no new players are let in
        and the world goes once its last player leaves. False for an unknown world."""
        world = self._worlds.get(world_id)
        if world is None:
            return False
        world.closing = True
        for slot in list(world.slots.values()):
            if slot.conn is None:
                slot.silent = True
                self._drop_slot(slot)
        if brutal or not world.connections():
            for slot in world.slots.values():
                slot.silent = True
            self._remove_world(world, "game ended by the lobby", report=False)
        else:
            log.info("DME: world %d closing once its %d players leave", world_id, world.connected_count())
        self.dispatch_events()
        return True

    def world_info(self, world_id: int) -> WorldInfo | None:
        world = self._worlds.get(world_id)
        if world is None:
            return None
        players = []
        for index in sorted(world.slots):
            slot = world.slots[index]
            conn = slot.conn
            state = "reserved"
            if conn is not None:
                state = "connected" if conn.phase is Phase.READY else "connecting"
            players.append(
                PlayerInfo(
                    index=index,
                    session_key=slot.session_key,
                    account_id=slot.account_id,
                    name=slot.name,
                    state=state,
                    tcp_peer=f"{conn.peer[0]}:{conn.peer[1]}" if conn else "",
                    udp_endpoint=f"{conn.udp_addr[0]}:{conn.udp_addr[1]}" if conn and conn.udp_addr else "",
                    version=conn.version if conn else 0,
                    encrypted=conn.encrypted if conn else None,
                    joined_at=conn.joined_at if conn else None,
                    ping_ms=conn.ping_ms if conn else None,
                    frames_in=conn.frames_in if conn else 0,
                    bytes_in=conn.bytes_in if conn else 0,
                    frames_out=conn.frames_out if conn else 0,
                    bytes_out=conn.bytes_out if conn else 0,
                )
            )
        return WorldInfo(
            world_id=world.world_id,
            app_id=world.app_id,
            max_players=world.max_players,
            version=world.version,
            encrypted=world.encrypted,
            closing=world.closing,
            host_left=world.host_left,
            timer_ms=world.timer_ms(self.clock()),
            players=tuple(players),
        )

    def world_ids(self) -> list[int]:
        return sorted(self._worlds)

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    # === shell API ==============================================================================
    def tcp_protocol(self, peer: Addr, local: Addr, now: float) -> DmeConnection:
        """A protocol object for a new TCP connection (``servers.tcp.ProtocolFactory``)."""
        conn = DmeConnection(self, peer, local, now)
        self._conns.add(conn)
        self._watch(now)
        return conn

    def _watch(self, now: float) -> None:
        """A world or a connection appeared: housekeeping is back to its short interval."""
        due = now + HOUSEKEEPING_INTERVAL
        if due < self._next_housekeeping:
            self._next_housekeeping = due
            self._earlier(due)

    def set_wakeup(self, fn: Callable[[], None]) -> None:
        """``fn`` is called when a deadline earlier than the last ``next_deadline`` appears."""
        self._wakeup = fn

    def set_udp_notify(self, fn: Callable[[], None]) -> None:
        """``fn`` is called when datagrams become available from ``take_datagrams``."""
        self._udp_notify = fn

    def take_datagrams(self) -> list[tuple[bytes, Addr]]:
        out = self._udp_out
        self._udp_out = []
        return out

    def next_deadline(self) -> float:
        d = self._next_housekeeping
        if self._heap and self._heap[0][0] < d:
            d = self._heap[0][0]
        self._armed = d
        return d

    def on_timer(self, now: float, early: float = 0.0) -> None:
        """Run what is due at ``now``; aggregation flushes due within ``early`` seconds go now too
        (the shell's tick: players whose flushes fall close together share one wake-up)."""
        heap = self._heap
        until = now + early
        pop = heapq.heappop
        while heap and heap[0][0] <= until:
            deadline, _, conn = pop(heap)
            if conn.flush_at == deadline:
                conn.flush()
        if now >= self._next_housekeeping:
            self._housekeeping(now)
            watching = self._conns or self._worlds
            self._next_housekeeping = now + (HOUSEKEEPING_INTERVAL if watching else self.limits.log_interval)
        self.dispatch_events()

    def datagram_received(self, data: bytes, addr: Addr, now: float) -> None:
        self.stats.datagrams_in += 1
        try:
            self._on_datagram(data, addr, now)
        finally:
            self.dispatch_events()

    def datagrams_received(
        self, batch: list[tuple[bytes, Any]], now: float, since: float | None = None
    ) -> None:
        """Several ``(data, addr)`` read at once (``addr`` as ``recvfrom`` gives it): one call and
        one event dispatch for all; a datagram that fails is logged and the rest go on. ``since``:
        they arrived no earlier (the shell looked away then): relayed frames' aggregation time
        counts from there."""
        self.stats.datagrams_in += len(batch)
        on_datagram = self._on_datagram
        try:
            for data, addr in batch:
                try:
                    on_datagram(data, addr[:2], now, since)
                except Exception:
                    log.exception("DME UDP: datagram from %s:%d failed", addr[0], addr[1])
        finally:
            self.dispatch_events()

    # === called by connections ==================================================================
    def schedule_flush(self, conn: DmeConnection, deadline: float) -> None:
        conn.flush_at = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), conn))
        self._earlier(deadline)

    def _earlier(self, deadline: float) -> None:
        """A new deadline: wake the shell if it is earlier than the one it sleeps until."""
        if deadline < self._armed:
            self._armed = deadline
            self._wakeup()

    def send_datagram(self, data: bytes, addr: Addr) -> None:
        if len(self._udp_out) >= UDP_OUT_LIMIT:
            self.stats.dropped_queue_full += 1
            return
        self.stats.datagrams_out += 1
        self._udp_out.append((data, addr))
        if len(self._udp_out) == 1:
            self._udp_notify()

    def bind(self, conn: DmeConnection, req: rtm.ClientConnectTcpAuxUdp, now: float) -> str | None:
        """Attach a CONNECT_TCP_AUX_UDP to its reserved slot; a refusal reason or None."""
        token = req.access_token or ""
        slot = self._by_access.get(token)
        if slot is None:
            return f"unknown access key {token!r} (world {req.world_id})"
        world = slot.world
        if req.world_id != world.world_id:
            # The access key is the authority (unguessable); some clients number worlds from 0.
            log.warning(
                "DME: %s:%d connects naming world %d with an access key of world %d; going on",
                conn.peer[0],
                conn.peer[1],
                req.world_id,
                world.world_id,
            )
        if world.closing:
            return f"world {world.world_id} is closing"
        if slot.conn is not None:
            return f"access key already in use by {slot.conn.peer[0]}:{slot.conn.peer[1]}"
        if req.session_key and req.session_key != slot.session_key:
            log.info(
                "DME: world %d #%d connects with session key %r, reserved for %r",
                world.world_id,
                slot.index,
                req.session_key,
                slot.session_key,
            )
        if rtm.is_v108(conn.version) != rtm.is_v108(world.version):
            log.warning(
                "DME: world %d is v%d but %s talks v%d",
                world.world_id,
                world.version,
                conn.peer[0],
                conn.version,
            )
        if world.encrypted is not None and bool(conn.encrypted) != world.encrypted:
            log.info(
                "DME: world %d expects %s clients, %s is %s",
                world.world_id,
                "encrypted" if world.encrypted else "clear",
                conn.peer[0],
                "encrypted" if conn.encrypted else "clear",
            )
        slot.conn = conn
        conn.slot = slot
        conn.world = world
        conn.index = slot.index
        conn.scert_id = self._new_scert()
        if world.timer_start is None:
            world.timer_start = now
        log.info(
            "DME: %s:%d bound to world %d #%d (%s, v%d, %s)",
            conn.peer[0],
            conn.peer[1],
            world.world_id,
            slot.index,
            slot.name,
            conn.version,
            "encrypted" if conn.encrypted else "clear",
        )
        return None

    def complete(self, conn: DmeConnection, now: float) -> None:
        """CONNECT_READY_AUX_UDP: the player is in; tell it, the others and the lobby."""
        world, slot = conn.world, conn.slot
        assert world is not None and slot is not None
        conn.send_complete(now)
        world.add_member(conn)
        slot.connected = True
        ip = conn.udp_addr[0] if conn.udp_addr else conn.peer[0]
        for other in world.members:
            if other is not conn and other.wants_notify:
                msg = rtm.ServerConnectNotify(player_index=conn.index, scert_id=_i16(conn.scert_id), ip=ip)
                other.send_tcp(RT.SERVER_CONNECT_NOTIFY, msg.encode(other.version))
        if conn.udp_addr is None:
            log.warning("%s: completed without an aux-UDP connect; UDP relays to it are dropped", conn.label)
        log.info(
            "DME: world %d #%d (%s) connected; %d in the world",
            world.world_id,
            conn.index,
            slot.name,
            len(world.members),
        )
        self._emit("on_player_connected", world.world_id, conn.index, slot.session_key)

    def relay(
        self,
        src: DmeConnection,
        raw: RawFrame,
        udp: bool,
        now: float,
        log_it: bool = True,
        since: float | None = None,
    ) -> None:
        """Deliver an app frame as APP_SINGLE stamped with the sender's index (see ``dme.wire``).

        The frame is encoded once and the same bytes are queued for every receiver (in a mixed
        world, once more for those that talk the other way). Receivers whose queue was empty flush
        their aggregation time after ``since`` (no later than the frame's arrival; ``now`` by
        default). With frame logging on, what went out is logged (``log_it``: the UDP sample, see
        ``DmeConnection.sample_udp_log``) as one record per frame, under the sender's address with
        the receivers' indexes in ``to=``."""
        world = src.world
        if world is None:
            return
        stats = self.stats
        if not src.relay_bucket.allow(now):
            stats.dropped_relay_rate += 1
            rate = self.limits.relay_frames_per_second
            text = "%s: over %g relay frames a second; dropped"
            self.refusals(lh.RELAY_RATE, src.peer[0], now, text, src.label, rate)
            return
        stats.relayed_in += 1
        src.frames_in += 1
        payload = raw.payload
        src.bytes_in += len(payload)
        rid = raw.id
        skip = None  # a broadcast goes to everybody else
        try:
            if rid == wire.BROADCAST:
                body, flag, targets, skip = payload, _BROADCAST, world.members, src
            elif rid == wire.SINGLE:
                target, body = wire.single_target(payload)
                t = world.by_index.get(target)
                flag, targets = _SINGLE, ((t,) if t is not None else ())
            else:
                indexes, body = wire.list_targets(payload)
                by_index = world.by_index
                flag, targets = _LIST, [by_index[i] for i in indexes if i in by_index]
        except ProtocolError as exc:
            stats.dropped_bad += 1
            self.refusals(None, src.peer[0], now, "%s: bad app frame dropped: %s", src.label, exc.reason)
            return
        h = raw.hash
        frame = wire.relay_frame(src.index, body, h)
        base = now if since is None else since
        logged = log_it and src.link.frame_log.enabled()
        if world.mixed:
            other = self._translate(world, src, body, h)
            sent, translated = self._deliver_mixed(src, targets, skip, flag, frame, other, udp, base, now)
        else:
            other, translated = None, []
            sent = self._deliver(targets, skip, flag, frame, udp, base, logged, now)
        if logged:
            # one record per frame sent out, naming its receivers (not one per receiver: a world
            # of eight would write the log seven times over)
            for out, to in ((frame, sent), (other, translated)):
                if to and out is not None:
                    receivers = ",".join(str(t.index) for t in to)
                    src.link.log_unopened(wire.relay_raw(out), "send", "relayed", udp, f"to={receivers}")

    def _deliver(
        self,
        targets: Iterable[DmeConnection],
        skip: DmeConnection | None,
        flag: int,
        frame: bytes,
        udp: bool,
        base: float,
        listed: bool,
        now: float,
    ) -> list[DmeConnection]:
        """Queue ``frame`` for each target that takes ``flag`` (the hot loop of the relay); returns
        the receivers when ``listed`` (for the frame log), else an empty list."""
        stats = self.stats
        got: list[DmeConnection] = []
        n = 0
        size = len(frame)
        if udp:
            for t in targets:
                if t is skip or not t.recv_flags & flag:
                    continue
                if t.udp_addr is None:
                    stats.dropped_no_udp += 1
                elif t.udp_q_bytes + size > QUEUE_LIMIT:
                    stats.dropped_queue_full += 1
                else:
                    t.udp_q.append(frame)
                    t.udp_q_bytes += size
                    due = base + t.agg  # t.flush_by(due), inlined: the relay's hot loop
                    if t.flush_at is None or due < t.flush_at:
                        self.schedule_flush(t, due)
                    n += 1
                    if listed:
                        got.append(t)
            stats.delivered_udp += n
        else:
            for t in targets:
                if t is skip or not t.recv_flags & flag:
                    continue
                t.queue_tcp(frame, base, now)
                n += 1
                if listed:
                    got.append(t)
            stats.delivered_tcp += n
        return got

    def _deliver_mixed(
        self,
        src: DmeConnection,
        targets: Iterable[DmeConnection],
        skip: DmeConnection | None,
        flag: int,
        frame: bytes,
        other: bytes | None,
        udp: bool,
        base: float,
        now: float,
    ) -> tuple[list[DmeConnection], list[DmeConnection]]:
        """``_deliver`` for a world where some talk clear and some encrypt: receivers that talk the
        other way than ``src`` get ``other`` (None: it could not be made, they get nothing).
        Returns the receivers of each."""
        sent: list[DmeConnection] = []
        translated: list[DmeConnection] = []
        stats = self.stats
        for t in targets:
            if t is skip or not t.recv_flags & flag:
                continue
            out, to = frame, sent
            if t.encrypted is not src.encrypted:
                if other is None:
                    stats.dropped_bad += 1
                    continue
                out, to = other, translated
            if not udp:
                t.queue_tcp(out, base, now)
            elif t.udp_addr is None:
                stats.dropped_no_udp += 1
                continue
            elif not t.queue_udp(out, base):
                stats.dropped_queue_full += 1
                continue
            to.append(t)
        if udp:
            stats.delivered_udp += len(sent) + len(translated)
        else:
            stats.delivered_tcp += len(sent) + len(translated)
        return sent, translated

    def _translate(self, world: World, src: DmeConnection, body: bytes, h: bytes | None) -> bytes | None:
        """A relayed frame for receivers that talk the other way than the sender (a mixed world).

        A clear receiver has no keys: it gets the body decrypted with the key the sender used (the
        world key) and no flag. An encrypted receiver gets a clear sender's body sealed under the
        world key, as an encrypted console would have sent it. None if the body does not open."""
        if src.encrypted:
            if not h or is_null_hash(h):
                return wire.relay_frame(src.index, body, None)
            own = src.link.cipher.rc_keys.get(hash_ctx(h))
            plain = wire.open_body([own, *src.candidate_keys()] if own else src.candidate_keys(), body, h)
            if plain is None:
                self.refusals(
                    None,
                    src.peer[0],
                    self.clock(),
                    "%s: relayed frame does not open; not passed to clear players",
                    src.label,
                    level=logging.WARNING,
                )
                return None
            return wire.relay_frame(src.index, plain, None)
        if h and not is_null_hash(h):  # a clear client that encrypts anyway: it has the keys
            return wire.relay_frame(src.index, body, h)
        h2, sealed = wire.seal_body(world.peer_key, body)
        return wire.relay_frame(src.index, sealed, h2)

    def detach(self, conn: DmeConnection, reason: str) -> None:
        """The connection is going: free its slot, tell the others, and the lobby unless it asked."""
        conn.flush_at = None
        conn.tcp_q = []
        conn.udp_q = []
        self._scerts.discard(conn.scert_id)  # free for the next player (65,535 in all)
        if conn.udp_addr is not None and self._by_udp.get(conn.udp_addr) is conn:
            del self._by_udp[conn.udp_addr]
        if conn.udp_connect_hash is not None and self._udp_expect.get(conn.udp_connect_hash) is conn:
            del self._udp_expect[conn.udp_connect_hash]
        waiting = self._udp_wait.get((conn.peer[0], conn.index))
        if waiting is not None and conn in waiting:
            waiting.remove(conn)
            if not waiting:
                del self._udp_wait[(conn.peer[0], conn.index)]
            ip = conn.peer[0]
            self._udp_wait_ips[ip] -= 1
            if not self._udp_wait_ips[ip]:
                del self._udp_wait_ips[ip]
        slot = conn.slot
        if slot is None:
            return
        world = slot.world
        conn.slot = None
        slot.conn = None
        was_member = world.remove_member(conn)
        if was_member and not world.removed:
            for other in world.members:
                if other.wants_notify:
                    msg = rtm.ServerDisconnectNotify(
                        player_index=conn.index, scert_id=_i16(conn.scert_id), ip=conn.peer[0]
                    )
                    other.send_tcp(RT.SERVER_DISCONNECT_NOTIFY, msg.encode(other.version))
        self._drop_slot(slot)
        if slot.index == HOST_INDEX and world.slots and not world.removed:
            world.host_left = True
        log.info("DME: world %d #%d (%s) left: %s", world.world_id, slot.index, slot.name, reason)
        if not slot.silent:
            self._emit("on_player_left", world.world_id, slot.index, slot.session_key, reason)
        if world.connected_count() == 0:
            world.empty_since = self.clock()
        self._maybe_remove_closing(world)

    def connection_lost(self, conn: DmeConnection, reason: str) -> None:
        self._conns.discard(conn)
        if conn.phase is not Phase.CLOSED:
            conn.phase = Phase.CLOSED
            if conn.slot is not None:
                log.info("%s: connection lost: %s", conn.label, reason)
            self.detach(conn, reason)
        self.dispatch_events()

    def dispatch_events(self) -> None:
        """Run the lobby callbacks queued by what just happened (never re-entered)."""
        if self._dispatching or not self._pending:
            return
        self._dispatching = True
        try:
            while self._pending:
                name, args = self._pending.pop(0)
                fn = getattr(self.events, name, None)
                if fn is None:
                    continue
                try:
                    fn(*args)
                except Exception:
                    log.exception("DME: lobby callback %s%r failed", name, args)
        finally:
            self._dispatching = False

    # === internals ==============================================================================
    def _emit(self, name: str, *args: Any) -> None:
        """Queue a lobby callback; its last argument is the time it happened."""
        self._pending.append((name, (*args, self.clock())))

    def _world(self, world_id: int) -> World:
        world = self._worlds.get(world_id)
        if world is None:
            raise DmeError(f"no world {world_id}")
        return world

    def _new_world_id(self) -> int:
        for _ in range(0x10000):
            wid = self._next_world_id
            self._next_world_id = wid % 0xFFFF + 1  # 1..65535: fits the 1.08 u16 field
            if wid not in self._worlds:
                return wid
        raise DmeError("no free world id")

    def _new_scert(self) -> int:
        for _ in range(0x10000):
            sid = self._next_scert
            self._next_scert = sid % 0xFFFF + 1
            if sid not in self._scerts:
                self._scerts.add(sid)
                return sid
        raise DmeError("no free scert id")

    def _new_access_key(self) -> str:
        while True:
            key = base64.b64encode(self.rng(ACCESS_KEY_BYTES)).decode("ascii")
            if key not in self._by_access:
                return key

    def _drop_slot(self, slot: Slot) -> None:
        world = slot.world
        if world.slots.get(slot.index) is slot:
            del world.slots[slot.index]
        if world.by_session.get(slot.session_key) is slot:
            del world.by_session[slot.session_key]
        if self._by_access.get(slot.access_key) is slot:
            del self._by_access[slot.access_key]

    def _maybe_remove_closing(self, world: World) -> None:
        if world.closing and not world.removed and world.connected_count() == 0:
            self._remove_world(world, "game ended and its last player left", report=True)

    def _remove_world(self, world: World, reason: str, report: bool) -> None:
        if world.removed:
            return
        world.removed = True
        world.closing = True
        for slot in list(world.slots.values()):
            slot.silent = True  # the world's removal covers its players
            if slot.conn is not None:
                slot.conn.close(reason, DisconnectReason.END_GAME)
            else:
                self._drop_slot(slot)
        self._worlds.pop(world.world_id, None)
        log.info("DME: world %d removed: %s", world.world_id, reason)
        if report:
            self._emit("on_world_removed", world.world_id, reason)

    def _housekeeping(self, now: float) -> None:
        t = self.timeouts
        if now >= self._next_log_flush:
            self._next_log_flush = now + self.limits.log_interval
            self.refusals.flush(now, logging.WARNING)
            self._strangers.forget_idle(now)  # sources that went quiet (memory stays flat)
        for conn in list(self._conns):
            if conn.phase is Phase.CLOSED:
                continue
            due = conn.link.frame_deadline()
            if due is not None and now >= due:
                why = f"a frame did not arrive whole within {rt_link.FRAME_DEADLINE:g} s"
                self.refusals(lh.UNFINISHED_FRAME, conn.peer[0], now, "%s: dropped: %s", conn.label, why)
                conn.close(why, DisconnectReason.TIMEOUT)
            elif conn.phase is not Phase.READY:
                if now - conn.created > t.handshake:
                    why = f"handshake not completed in {t.handshake:g} s"
                    self.refusals(lh.HANDSHAKE_TIMEOUT, conn.peer[0], now, "%s: dropped: %s", conn.label, why)
                    conn.close("handshake not completed in time")
            elif now - conn.last_rx > t.dme_client:
                log.warning("%s: nothing heard for %g s, disconnected", conn.label, t.dme_client)
                conn.close(f"no traffic for {t.dme_client:g} s", DisconnectReason.TIMEOUT)
            elif conn.next_echo is not None and now >= conn.next_echo:
                conn.send_server_echo()
                conn.next_echo = now + t.dme_echo
        for world in list(self._worlds.values()):
            for slot in list(world.slots.values()):
                if slot.conn is None and now - slot.reserved_at > t.dme_client:
                    self._drop_slot(slot)
                    log.info(
                        "DME: world %d #%d (%s) reservation expired", world.world_id, slot.index, slot.name
                    )
                    self._emit(
                        "on_player_left", world.world_id, slot.index, slot.session_key, "never connected"
                    )
            if world.connected_count() == 0 and now - world.empty_since >= t.dme_empty_world:
                why = "nobody connected" if world.timer_start is None else "empty"
                self._remove_world(world, f"{why} for {t.dme_empty_world:g} s", report=True)

    # --- UDP ------------------------------------------------------------------------------------
    def _drop(self, limit: str | None, addr: Addr, now: float, text: str, *args: object) -> None:
        """A datagram turned away: a warning about its source, a bounded number per address."""
        self.refusals(limit, addr[0], now, text, *args, level=logging.WARNING)

    def _admit_stranger(self, addr: Addr, now: float) -> bool:
        """May a datagram from a source that is no bound player be read at all? Only its connect
        can matter, so each such source gets a small rate, and all of them together one more,
        except addresses where a player is about to connect from: a flood from elsewhere must not
        crowd out their connects. Checked before anything is parsed or decrypted."""
        if not self._strangers.allow(addr, now):
            limit = lh.UDP_SOURCE_RATE
        elif addr[0] in self._udp_wait_ips or self._strangers_total.allow(now):
            return True
        else:
            limit = lh.UDP_UNKNOWN_SOURCE
        self.stats.dropped_stranger_rate += 1
        self._drop(limit, addr, now, "DME UDP: %s:%d is no player and sends too much; dropped", *addr)
        return False

    def _on_datagram(self, data: bytes, addr: Addr, now: float, since: float | None = None) -> None:
        conn = self._by_udp.get(addr)
        if conn is None and not self._admit_stranger(addr, now):
            return
        one = wire.one_frame(data)
        try:
            frames = (one,) if one is not None else split_datagram(data, wire.MAX_FRAME_PAYLOAD)
        except ProtocolError as exc:
            self.stats.dropped_bad += 1
            self._drop(
                None,
                addr,
                now,
                "DME UDP: dropped %d bytes from %s:%d: %s; %s",
                len(data),
                addr[0],
                addr[1],
                exc.reason,
                data[:24].hex(" "),
            )
            return
        if conn is None:
            for raw in frames:
                if raw.id == RT.CLIENT_CONNECT_AUX_UDP:
                    self._udp_connect(raw, addr, now)
                else:
                    self.stats.dropped_unknown_endpoint += 1
                    self._drop(
                        lh.UDP_UNKNOWN_SOURCE,
                        addr,
                        now,
                        "DME UDP: dropped %s from %s:%d, not a connected player's endpoint",
                        raw.name,
                        addr[0],
                        addr[1],
                    )
            return
        conn.last_rx = now
        rt = conn.rt
        for raw in frames:
            rid = raw.id
            if rt.phase is Phase.CLOSED:
                return
            if rid in wire.APP_IDS:
                sample = conn.link.frame_log.enabled() and conn.sample_udp_log(raw, now)
                if rt.phase is Phase.READY:
                    self.relay(conn, raw, True, now, sample, since)
            elif rid == RT.CLIENT_CONNECT_AUX_UDP:
                self._udp_connect(raw, addr, now)
            elif rid == RT.CLIENT_ECHO and conn.reflectable(raw):
                conn.send_udp_now(raw.encode())
            else:
                try:
                    frame = conn.open_udp(raw)
                except CryptoError as exc:
                    self.stats.dropped_bad += 1
                    self._drop(
                        None, addr, now, "DME UDP: dropped %s from %s:%d: %s", raw.name, *addr, exc.reason
                    )
                    continue
                conn.on_udp_frame(frame, now)

    def expect_udp_connect(self, conn: DmeConnection) -> None:
        """Index the hash of the CONNECT_AUX_UDP this player is about to send.

        Every field of it is known here (world, app id, our address and TCP port, index, scert
        id), so its checksum is too, and an encrypted connect finds its player in one lookup
        instead of trying every waiting player's key (which a few hundred consoles joining at once,
        each sending it twice, would turn into seconds of RC4)."""
        assert conn.world is not None
        msg = rtm.ClientConnectAuxUdp(
            world_id=conn.world.world_id,
            app_id=conn.app_id,
            server_ip=self.advertised_ip,
            port=conn.local[1],
            player_id=conn.index,
            scert_id=conn.scert_id & 0xFFFF,
        )
        conn.udp_connect_hash = ps2_hash(msg.encode(conn.version), Ctx.RC_CLIENT_SESSION)
        self._udp_expect[conn.udp_connect_hash] = conn
        waiting = self._udp_wait.setdefault((conn.peer[0], conn.index), [])
        if conn not in waiting:
            waiting.append(conn)
            self._udp_wait_ips[conn.peer[0]] = self._udp_wait_ips.get(conn.peer[0], 0) + 1

    def _open_udp_connect(self, raw: RawFrame, addr: Addr) -> tuple[bytes, bytes] | None:
        """(plaintext, key) of an encrypted CONNECT_AUX_UDP, or None if no waiting key opens it."""
        h = raw.hash
        assert h is not None
        if hash_ctx(h) != Ctx.RC_CLIENT_SESSION:
            return None
        for conn in (self._udp_expect.get(h), self._by_udp.get(addr)):
            for k in conn.candidate_keys() if conn is not None else ():
                plain = ps2_rc4.decrypt(k, raw.payload, h)
                if plain is not None:
                    self.stats.udp_connects_indexed += 1
                    return plain, k
        # A console that filled a field differently: try the world keys, same address first.
        waiting = [c for c in self._conns if c.slot is not None and c.phase in _UDP_PHASES]
        waiting.sort(key=lambda c: c.peer[0] != addr[0])
        keys = dict.fromkeys(k for c in waiting for k in c.candidate_keys()[:1])
        keys.update(dict.fromkeys(k for c in waiting for k in c.candidate_keys()))
        for k in itertools.islice(keys, UDP_CONNECT_TRIES):
            plain = ps2_rc4.decrypt(k, raw.payload, h)
            if plain is not None:
                self.stats.udp_connects_searched += 1
                return plain, k
        return None

    def _udp_player(
        self, msg: rtm.ClientConnectAuxUdp, addr: Addr, version: int, key: bytes | None
    ) -> DmeConnection | None:
        """The player a CONNECT_AUX_UDP is for: the one waiting for UDP from that IP with that
        index (and, on 1.09+, that scert id; encrypted, one that has the key it opened with); the
        world id it names only breaks a tie. A console whose UDP comes from another address than
        its TCP is found by the world id instead."""
        waiting = self._udp_wait.get((addr[0], msg.player_id), ())
        fits = [
            c
            for c in waiting
            if (rtm.is_v108(version) or msg.scert_id == c.scert_id & 0xFFFF)
            and (key is None or c.owns_key(key))
        ]
        if len(fits) > 1:
            fits = [c for c in fits if c.world is not None and c.world.world_id == msg.world_id] or fits
        if fits:
            return fits[0]
        world = self._worlds.get(msg.world_id)
        slot = world.slots.get(msg.player_id) if world is not None else None
        conn = slot.conn if slot is not None else None
        return conn if conn is not None and conn.phase in _UDP_PHASES else None

    def _udp_connect(self, raw: RawFrame, addr: Addr, now: float) -> None:
        """CONNECT_AUX_UDP: find the player it names, check it, bind ``addr``, answer (each copy)."""
        h = raw.hash
        key: bytes | None = None
        if h and not is_null_hash(h):
            opened = self._open_udp_connect(raw, addr)
            if opened is None:
                self.stats.dropped_bad += 1
                self._drop(
                    None,
                    addr,
                    now,
                    "DME UDP: CONNECT_AUX_UDP from %s:%d opens with no waiting player's key",
                    addr[0],
                    addr[1],
                )
                return
            plain, key = opened
        else:
            plain = raw.payload
        version = _AUX_UDP_SIZES.get(len(plain))
        if version is None:
            self.stats.dropped_bad += 1
            self._drop(None, addr, now, "DME UDP: CONNECT_AUX_UDP of %d bytes from %s:%d", len(plain), *addr)
            return
        msg = rtm.ClientConnectAuxUdp.decode(plain, version)
        conn = self._udp_player(msg, addr, version, key)
        problem = None
        if conn is None:
            problem = (
                f"names world {msg.world_id} #{msg.player_id}, and no player waits for UDP "
                f"from {addr[0]} with index {msg.player_id}"
            )
        elif rtm.is_v108(conn.version) != rtm.is_v108(version):
            problem = f"has the v{version} layout, the player talks v{conn.version}"
        elif key is not None and not conn.owns_key(key):
            problem = "is encrypted with another player's key"
        elif key is None and conn.encrypted:
            problem = "is clear from an encrypted session"
        elif not rtm.is_v108(version) and msg.scert_id != conn.scert_id & 0xFFFF:
            problem = f"carries scert id {msg.scert_id}, expected {conn.scert_id}"
        if problem is not None:
            self.stats.dropped_bad += 1
            self._drop(None, addr, now, "DME UDP: CONNECT_AUX_UDP from %s:%d dropped: it %s", *addr, problem)
            return
        assert conn is not None
        if conn.udp_addr is not None and conn.udp_addr != addr:
            if conn.phase is Phase.READY:
                self.stats.dropped_bad += 1
                self._drop(
                    None,
                    addr,
                    now,
                    "DME UDP: %s is bound to %s:%d; connect from %s:%d ignored",
                    conn.label,
                    conn.udp_addr[0],
                    conn.udp_addr[1],
                    addr[0],
                    addr[1],
                )
                return
            self._by_udp.pop(conn.udp_addr, None)
        other = self._by_udp.get(addr)
        if other is not None and other is not conn:
            self.stats.dropped_bad += 1
            self._drop(None, addr, now, "DME UDP: %s:%d already belongs to %s", *addr, other.label)
            return
        if conn.udp_addr != addr:
            log.info("%s: aux UDP bound to %s:%d", conn.label, addr[0], addr[1])
            assert conn.world is not None
            if msg.world_id != conn.world.world_id:
                log.warning(
                    "%s: its CONNECT_AUX_UDP names world %d; matched by address and index",
                    conn.label,
                    msg.world_id,
                )
        conn.udp_addr = addr
        self._by_udp[addr] = conn
        conn.last_rx = now
        self.send_datagram(conn.accept_udp(addr), addr)


def _i16(value: int) -> int:
    """A u16 scert id in the signed 16-bit field of the notify messages."""
    value &= 0xFFFF
    return value - 0x10000 if value >= 0x8000 else value
