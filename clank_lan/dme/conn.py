"""One player's DME connection, sans-IO: the DME's half of the handshake, aux UDP and output.

The handshake is ``rt.endpoint``'s (role server, variant DME; the table is there). The second
CRYPTKEY_PEER carries the world's context-3 key, which replaces the connection's own from
ACCEPT_TCP on (see ``dme.wire`` and ``rt.keys``). What stays here is the DME's application layer:
binding to a world slot, the aux-UDP announcement, completion, receive flags and aggregation.

Relayed output is not written at once: it waits in per-transport queues until the player's
aggregation time has passed since the first queued frame, then leaves as one TCP write and as
few datagrams of at most 584 bytes as possible. Anything the server itself says (echo answers,
notifications) first flushes the TCP queue, so order is kept.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from clank_lan import limit_hits as lh
from clank_lan.dme import wire
from clank_lan.logs import FrameLogger
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import Frame
from clank_lan.protocol.framing import RawFrame, pack_datagrams
from clank_lan.protocol.rt_ids import RT, rt_name
from clank_lan.protocol.rt_messages import RecvFlag
from clank_lan.ratelimit import TokenBucket
from clank_lan.rt.endpoint import (
    CompleteRequest,
    ConnectRequest,
    FrameIn,
    PeerClosed,
    Phase,
    RawApp,
    Role,
    RtEndpoint,
    TcpReady,
    Variant,
)
from clank_lan.titles import Quirk, title_for_app_id

if TYPE_CHECKING:
    from clank_lan.dme.manager import DmeManager
    from clank_lan.dme.world import Slot, World

__all__ = ["ALL_FLAGS", "DEFAULT_FLAGS", "QUEUE_LIMIT", "DmeConnection", "Phase"]

log = logging.getLogger("clank_lan.dme")

#: Relayed bytes one player may have waiting per transport before we drop (UDP) or write now (TCP).
QUEUE_LIMIT = 64 * 1024
ALL_FLAGS = int(RecvFlag.BROADCAST | RecvFlag.LIST | RecvFlag.SINGLE | RecvFlag.NOTIFICATION)
#: Before CONNECT_READY_TCP/SET_RECV_FLAG a 1.09+ client gets singles and lists (Horizon's default).
DEFAULT_FLAGS = int(RecvFlag.SINGLE | RecvFlag.LIST)
MAX_AGG_MS = 500
#: UDP game frames of one player written to the frame log per second (each with what was relayed
#: for it); the others are counted and the count travels with the next one (``skipped=N``). At
#: 15 frames/s from every player, logging them all would cost more than the whole relay.
UDP_LOG_PER_SECOND = 1
_NOTIFY = int(RecvFlag.NOTIFICATION)


class DmeConnection:
    """Server side of one player (a ``servers.tcp.StreamProtocol``); the manager owns the rest."""

    def __init__(
        self, manager: DmeManager, peer: tuple[str, int], local: tuple[str, int], now: float
    ) -> None:
        self.manager = manager
        self.peer = peer
        self.local = local
        self.rt = RtEndpoint(
            Role.SERVER,
            Variant.DME,
            service="DME",
            peer=peer,
            rsa_local=manager.rsa_key,
            rng=manager.rng,
            frame_log=FrameLogger("DME"),
            max_payload=wire.MAX_FRAME_PAYLOAD,
            frame_cache=manager.frame_cache,
        )
        self.link = self.rt.link
        self.link.before_send = self._flush_before_own
        self.outbox = self.rt.outbox
        self.slot: Slot | None = None
        self.world: World | None = None
        self.index = -1
        self.scert_id = 0
        self.app_id = 0
        self.recv_flags = DEFAULT_FLAGS
        self.agg = manager.default_agg
        self.tcp_q: list[bytes] = []
        self.tcp_q_bytes = 0
        self.udp_q: list[bytes] = []
        self.udp_q_bytes = 0
        self.flush_at: float | None = None
        self.udp_addr: tuple[str, int] | None = None
        self.udp_connect_hash: bytes | None = None
        self.created = now
        self.last_rx = now
        #: When this connection's input was last read: what the next read brings came after that
        #: (the socket was emptied), and relayed frames count their aggregation time from then.
        self.read_at = now
        limits = manager.limits
        self.relay_bucket = TokenBucket(limits.relay_frames_per_second, limits.relay_burst, now)
        self.next_echo: float | None = None
        self._udp_log_until = -1.0
        self._udp_log_left = 0
        self._udp_log_skipped = 0
        #: For the operator: when it got into the game (wall clock), its round trip (1.09+ titles
        #: return our SERVER_ECHO; None: not measured) and its relayed traffic in and out.
        self.joined_at: float | None = None
        self.ping_ms: float | None = None
        self.frames_in = self.bytes_in = self.frames_out = self.bytes_out = 0

    # --- StreamProtocol ------------------------------------------------------------------------
    def data_received(self, data: bytes, now: float) -> None:
        """Input read at ``now``. A relayed frame counts as arrived when the previous input was
        read (the earliest it can have come), as a datagram counts from when the UDP socket was
        emptied: read late (the event loop busy with a login storm), it does not wait a whole
        aggregation time more; after a quiet spell it goes at once."""
        before = self.link.frames_in
        since, self.read_at = self.read_at, now
        try:
            for ev in self.rt.receive(data):
                if isinstance(ev, RawApp):  # (logged by the endpoint)
                    if self.rt.ready:
                        self.manager.relay(self, ev.raw, False, now, since=since)
                    else:
                        log.debug("%s: %s before the handshake completed, dropped", self.label, ev.raw.name)
                elif isinstance(ev, FrameIn):
                    self._dispatch(ev.frame, now)
                elif isinstance(ev, ConnectRequest):
                    self._on_connect(ev.req, now)  # type: ignore[arg-type]
                elif isinstance(ev, TcpReady):
                    self._announce_aux_udp(ev.recv_flag, now)
                elif isinstance(ev, CompleteRequest):
                    self.manager.complete(self, now)
                elif isinstance(ev, PeerClosed):
                    self.close(ev.reason)
            if self.link.progress(before, now):  # only whole frames are traffic (slow drip)
                self.last_rx = now
            if self.rt.echo_returned is not None:
                self._round_trip(self.rt.echo_returned)
                self.rt.echo_returned = None
        finally:
            self.manager.dispatch_events()

    def next_deadline(self) -> float | None:
        return None  # timeouts, echoes and flushes are the manager's (one timer for all players)

    def on_timer(self, now: float) -> None:
        return None

    def connection_lost(self, reason: str, now: float) -> None:
        """(The manager keeps its own time for what follows: one clock for all players.)"""
        self.manager.connection_lost(self, self.close_reason or reason)

    # --- properties -----------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return self.rt.phase

    @phase.setter
    def phase(self, value: Phase) -> None:
        self.rt.phase = value

    @property
    def version(self) -> int:
        return self.rt.version

    @property
    def encrypted(self) -> bool | None:
        return self.rt.encrypted

    @property
    def key_exchange(self) -> bool:
        return self.rt.key_exchange

    @property
    def close_reason(self) -> str | None:
        return self.rt.close_reason

    @property
    def label(self) -> str:
        where = f"world {self.world.world_id} #{self.index}" if self.world is not None else "unbound"
        return f"DME {self.peer[0]}:{self.peer[1]} ({where})"

    @property
    def v108(self) -> bool:
        return self.rt.v108

    @property
    def wants_notify(self) -> bool:
        return self.v108 or bool(self.recv_flags & _NOTIFY)

    def owns_key(self, key: bytes) -> bool:
        return self.rt.keys.owns(key)

    def candidate_keys(self) -> list[bytes]:
        """Context-3 keys a frame from this client may use (the world key, then its own)."""
        return self.rt.keys.candidate_keys()

    def reflectable(self, raw: RawFrame) -> bool:
        return self.rt.reflectable(raw)

    # --- incoming -------------------------------------------------------------------------------
    def sample_udp_log(self, raw: RawFrame, now: float) -> bool:
        """Log this UDP game frame if the second's sample has room; True when it was logged."""
        if now >= self._udp_log_until:
            self._udp_log_until = now + 1.0
            self._udp_log_left = UDP_LOG_PER_SECOND
        if self._udp_log_left <= 0:
            self._udp_log_skipped += 1
            return False
        self._udp_log_left -= 1
        skipped, self._udp_log_skipped = self._udp_log_skipped, 0
        self.link.log_unopened(raw, "recv", "relayed", True, f"skipped={skipped}" if skipped else "")
        return True

    def open_udp(self, raw: RawFrame) -> Frame:
        """Plaintext of a frame that came over aux UDP (logged; CryptoError if it fails)."""
        return self.link.open(raw, extra="udp")

    def _dispatch(self, f: Frame, now: float) -> None:
        rid = f.id
        if rid == RT.CLIENT_TIMEBASE_QUERY:
            self.send_tcp(RT.SERVER_TIMEBASE_QUERY_NOTIFY, self.timebase_answer(f.payload, now))
        elif rid == RT.CLIENT_SET_RECV_FLAG:
            self._set_recv_flag(f.payload)
        elif rid == RT.CLIENT_SET_AGG_TIME:
            ms = rtm.ClientSetAggTime.decode(f.payload, self.version).agg_time_ms
            self.agg = min(max(ms, 0), MAX_AGG_MS) / 1000.0
        elif rid in (RT.CLIENT_FLUSH_ALL, RT.CLIENT_FLUSH_SINGLE):
            self.flush_request(f)
        elif rid == RT.CLIENT_APP_TOSERVER:
            log.debug("%s: Medius message to the DME ignored (%d bytes)", self.label, len(f.payload))
        else:
            self.manager.refusals(
                None, self.peer[0], now, "%s: ignored %s (%d bytes)", self.label, rt_name(rid), len(f.payload)
            )

    def _set_recv_flag(self, payload: bytes) -> None:
        if self.v108:  # 1.08 clients take everything (Horizon's reading); its 2 bytes are not needed
            self.recv_flags = ALL_FLAGS
        else:
            self.recv_flags = rtm.ClientSetRecvFlag.decode(payload, self.version).flags & ALL_FLAGS

    def timebase_answer(self, payload: bytes, now: float) -> bytes:
        q = rtm.ClientTimebaseQuery.decode(payload, self.version)
        world_ms = self.world.timer_ms(now) if self.world is not None else 0
        return rtm.ServerTimebaseQueryNotify(client_time=q.client_time, server_time=world_ms).encode(
            self.version
        )

    # --- the DME's half of the handshake --------------------------------------------------------
    def _on_connect(self, req: rtm.ClientConnectTcpAuxUdp, now: float) -> None:
        self.app_id = req.app_id
        refusal = self.manager.bind(self, req, now)
        if refusal is not None:
            self.manager.refusals(
                lh.FORGED_SESSION,
                self.peer[0],
                now,
                "%s: connect refused: %s",
                self.label,
                refusal,
                level=logging.WARNING,
            )
            self.close(refusal)
            return
        world = self.world
        assert world is not None
        title = title_for_app_id(req.app_id)
        if Quirk.OLD_DME_FORMAT in title.quirks:  # (said once the access key proved it a player)
            log.warning(
                "%s: %s speaks an older DME packet format than retail builds, which is not handled "
                "yet; its game may not work (please report how it goes)",
                self.label,
                title.name,
            )
        self.rt.accept_connect(self._accept_message, game_key=world.game_key, world_key=world.peer_key)

    def _accept_message(self) -> rtm.ServerConnectAcceptTcp:
        assert self.world is not None
        return rtm.ServerConnectAcceptTcp(
            player_id=self.index,
            scert_id=self.scert_id,
            player_count=self.world.connected_count(),
            client_ip=self.peer[0],
        )

    def _announce_aux_udp(self, recv_flag: int | None, now: float) -> None:
        """The TCP half is up: 1.09+ gets STARTUP_INFO first; then where to send the UDP connect."""
        if recv_flag is None:  # 1.08
            self.recv_flags = ALL_FLAGS
        else:
            self.recv_flags = recv_flag & ALL_FLAGS
            assert self.world is not None
            info = rtm.ServerStartupInfoNotify(
                game_host_type=wire.GAME_HOST_CLIENT_SERVER_AUX_UDP, timestamp=self.world.timer_ms(now)
            )
            self.link.send(RT.SERVER_STARTUP_INFO_NOTIFY, info.encode(self.version))
        m = self.manager
        self.link.send(
            RT.SERVER_INFO_AUX_UDP,
            rtm.ServerInfoAuxUdp(ip=m.advertised_ip, port=m.udp_port).encode(self.version),
        )
        self.manager.expect_udp_connect(self)

    def send_complete(self, now: float) -> None:
        """CONNECT_COMPLETE, the DME ServerVersion and (1.09+) a first SERVER_ECHO."""
        assert self.world is not None
        self.rt.complete(self.world.connected_count())
        self.joined_at = self.manager.wall_clock()
        # Sony sent the version under the game key (ctx 1) to UYA and under ctx 3 to Deadlocked.
        ctx: int | bool | None = True
        if self.v108 and self.link.send_ctx is not None:
            ctx = Ctx.RC_SERVER_SESSION
        self.link.send(RT.SERVER_APP, wire.server_version_payload(self.version), ctx)
        if not self.v108:
            self.send_server_echo()
            self.next_echo = now + self.manager.timeouts.dme_echo

    def _round_trip(self, sent: float) -> None:
        self.ping_ms = max(0.0, (self.manager.wall_clock() - sent) * 1000.0)

    def send_server_echo(self) -> None:
        self.rt.send_server_echo(self.manager.wall_clock())

    # --- UDP half -------------------------------------------------------------------------------
    def accept_udp(self, addr: tuple[str, int]) -> bytes:
        """SERVER_CONNECT_ACCEPT_AUX_UDP for a CONNECT_AUX_UDP from ``addr``, encoded."""
        assert self.world is not None
        msg = rtm.ServerConnectAcceptAuxUdp(
            player_id=self.index,
            scert_id=self.scert_id,
            player_count=self.world.connected_count(),
            client_ip=addr[0],
            client_port=addr[1],
        )
        return self.encode_udp(RT.SERVER_CONNECT_ACCEPT_AUX_UDP, msg.encode(self.version))

    def encode_udp(self, rt_id: int, payload: bytes) -> bytes:
        return self.link.encode(rt_id, payload, True, extra="udp")

    def on_udp_frame(self, f: Frame, now: float) -> None:
        """A non-app frame from the bound UDP endpoint."""
        rid = f.id
        if rid == RT.CLIENT_ECHO:
            self.send_udp_now(self.encode_udp(RT.CLIENT_ECHO, f.payload))
        elif rid == RT.CLIENT_TIMEBASE_QUERY:
            self.send_udp_now(
                self.encode_udp(RT.SERVER_TIMEBASE_QUERY_NOTIFY, self.timebase_answer(f.payload, now))
            )
        elif rid in (RT.CLIENT_FLUSH_ALL, RT.CLIENT_FLUSH_SINGLE):
            self.flush_request(f)
        elif rid == RT.SERVER_ECHO:
            sent = self.rt.take_echo(f.payload)
            if sent is not None:
                self._round_trip(sent)
        else:
            log.debug("%s: ignored %s over UDP (%d bytes)", self.label, rt_name(rid), len(f.payload))

    def flush_request(self, f: Frame) -> None:
        """FLUSH_ALL / FLUSH_SINGLE: "deliver what I sent now" (UYA sends FLUSH_ALL after a burst).
        The receivers' aggregation queues go out at once instead of at their agg time."""
        world = self.world
        if world is None or self.phase is not Phase.READY:
            return
        if f.id == RT.CLIENT_FLUSH_ALL:
            targets = world.members
        else:
            target = world.by_index.get(rtm.ClientFlushSingle.decode(f.payload, self.version).target)
            targets = [target] if target is not None else []
        for t in targets:
            if t.flush_at is not None:
                t.flush()

    # --- output ---------------------------------------------------------------------------------
    def send_tcp(self, rt_id: int, payload: bytes, ctx: int | bool | None = True) -> None:
        """A frame the server itself sends, after whatever relayed frames are waiting."""
        self.rt.send(rt_id, payload, ctx)

    def send_raw_tcp(self, frame: bytes) -> None:
        """Wire bytes made elsewhere (a reflected echo), after the waiting relayed frames."""
        if self.phase is not Phase.CLOSED:
            self.link.send_raw(frame)

    def send_udp_now(self, datagram_frame: bytes) -> None:
        if self.udp_addr is None:
            return
        if self.udp_q:  # after the relayed frames waiting, in as few datagrams as possible
            self._flush_udp(datagram_frame)
        else:
            self.manager.send_datagram(datagram_frame, self.udp_addr)

    def queue_tcp(self, frame: bytes, since: float, now: float) -> None:
        """Queue a frame that came no earlier than ``since``, to go out an aggregation time after
        that. One that has waited that long already (read late, or the first after a quiet spell)
        goes at once, with what is queued before it: sent by itself, without waking the UDP pump
        for a flush of every queue (the UDP queue keeps its own time)."""
        self.tcp_q.append(frame)
        self.tcp_q_bytes += len(frame)
        if self.tcp_q_bytes > QUEUE_LIMIT or since + self.agg <= now:
            self._flush_tcp()  # (the outbox bounds what a slow reader may hold)
        else:
            self.flush_by(since + self.agg)

    def queue_udp(self, frame: bytes, now: float) -> bool:
        if self.udp_q_bytes + len(frame) > QUEUE_LIMIT:
            return False
        self.udp_q.append(frame)
        self.udp_q_bytes += len(frame)
        self.flush_by(now + self.agg)
        return True

    def flush_by(self, deadline: float) -> None:
        """Flush the queues no later than ``deadline``: sooner than the flush already set when a
        frame the pump read late needs it (``DmeManager._deliver`` inlines this)."""
        if self.flush_at is None or deadline < self.flush_at:
            self.manager.schedule_flush(self, deadline)

    def flush(self) -> None:
        self.flush_at = None
        if self.tcp_q:
            self._flush_tcp()
        if self.udp_q:
            self._flush_udp()

    # (relayed frames are counted for the operator here, a queue at a time, not frame by frame)
    def _flush_tcp(self) -> None:
        q = self.tcp_q
        self.frames_out += len(q)
        self.bytes_out += self.tcp_q_bytes
        self.tcp_q = []
        self.tcp_q_bytes = 0
        self.outbox.push(q[0] if len(q) == 1 else b"".join(q))

    def _flush_udp(self, own: bytes | None = None) -> None:
        """Send the UDP queue (and then ``own``, a frame of the server's) in as few datagrams as
        possible."""
        q = self.udp_q
        size = self.udp_q_bytes
        self.udp_q = []
        self.udp_q_bytes = 0
        addr = self.udp_addr
        if addr is None:
            return
        self.frames_out += len(q)
        self.bytes_out += size
        if own is not None:
            q.append(own)
            size += len(own)
        if len(q) == 1 or size <= wire.MAX_DATAGRAM:
            self.manager.send_datagram(q[0] if len(q) == 1 else b"".join(q), addr)
            return
        for d in pack_datagrams(q, wire.MAX_DATAGRAM):
            self.manager.send_datagram(d, addr)

    def _flush_before_own(self) -> None:
        if self.tcp_q and self.phase is not Phase.CLOSED:
            self._flush_tcp()

    # --- closing --------------------------------------------------------------------------------
    def close(self, reason: str, code: int | None = None) -> None:
        """Leave the world now, tell the client why (FORCED_DISCONNECT when it had completed)
        and close once that is written."""
        if self.phase is Phase.CLOSED:
            return
        if self.tcp_q:
            self._flush_tcp()
        self.rt.close(reason, code)
        self.manager.detach(self, reason)
