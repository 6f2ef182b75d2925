"""One player's DME connection, sans-IO: the TCP handshake, its aux-UDP half, and its output.

Handshakes as the captures show them (S->C frames on one line went out in one write)::

    1.08 (UYA, no HELLO)                         1.09+ (Deadlocked)
    C CRYPTKEY_PUBLIC      -> S PEER             C HELLO -> S HELLO
    C CONNECT_TCP_AUX_UDP  -> S GAME, PEER#2,    C CRYPTKEY_PUBLIC -> S PEER
                              ACCEPT_TCP,        C CONNECT_TCP_AUX_UDP -> S CONNECT_REQUIRE
                              INFO_AUX_UDP       C READY_REQUIRE -> S GAME, PEER#2, ACCEPT_TCP
    udp C CONNECT_AUX_UDP  -> S ACCEPT_AUX_UDP   C READY_TCP -> S STARTUP_INFO, INFO_AUX_UDP
    C READY_AUX_UDP        -> S COMPLETE,        udp C CONNECT_AUX_UDP (x2) -> S ACCEPT_AUX_UDP (x2)
                              SERVER_APP version C READY_AUX_UDP -> S COMPLETE, SERVER_APP version,
                                                                        SERVER_ECHO

PEER#2 carries the world's context-3 key, which replaces the connection's own from ACCEPT_TCP on
(see ``dme.wire``). Encryption follows the client: an encrypted CRYPTKEY_PUBLIC gets all of this
encrypted; a clear one gets it clear; a client that skips the key exchange (tools such as the UYA
bot) gets no key frames at all, as on Horizon.

Relayed output is not written at once: it waits in per-transport queues until the player's
aggregation time has passed since the first queued frame, then leaves as one TCP write and as
few datagrams of at most 584 bytes as possible. Anything the server itself says (echo answers,
notifications) first flushes the TCP queue, so order is kept.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING

from clank_lan.dme import wire
from clank_lan.logs import FrameLogger
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash
from clank_lan.protocol.crypto.session import CryptoError, Frame, FrameCipher, Suite
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import RawFrame, pack_datagrams, split_frames
from clank_lan.protocol.rt_ids import RT, rt_name
from clank_lan.protocol.rt_messages import RecvFlag
from clank_lan.servers.rt_link import RtLink

if TYPE_CHECKING:
    from clank_lan.dme.manager import DmeManager
    from clank_lan.dme.world import Slot, World

log = logging.getLogger("clank_lan.dme")

#: Relayed bytes one player may have waiting per transport before we drop (UDP) or write now (TCP).
QUEUE_LIMIT = 64 * 1024
ALL_FLAGS = int(RecvFlag.BROADCAST | RecvFlag.LIST | RecvFlag.SINGLE | RecvFlag.NOTIFICATION)
#: Before CONNECT_READY_TCP/SET_RECV_FLAG a 1.09+ client gets singles and lists (Horizon's default).
DEFAULT_FLAGS = int(RecvFlag.SINGLE | RecvFlag.LIST)
MAX_AGG_MS = 500
_ECHO = int(RT.CLIENT_ECHO)
_NOTIFY = int(RecvFlag.NOTIFICATION)


class Phase(enum.IntEnum):
    NEW = 0
    KEYED = 1  # CRYPTKEY_PUBLIC answered
    CONNECTING = 2  # 1.09+: CONNECT_REQUIRE sent
    ACCEPTED = 3  # 1.09+: ACCEPT_TCP sent, waiting for READY_TCP
    TCP_READY = 4  # INFO_AUX_UDP sent, waiting for the UDP connect and READY_AUX_UDP
    COMPLETE = 5
    CLOSED = 6


class DmeConnection:
    """Server side of one player (a ``servers.tcp.StreamProtocol``); the manager owns the rest."""

    def __init__(
        self, manager: DmeManager, peer: tuple[str, int], local: tuple[str, int], now: float
    ) -> None:
        self.manager = manager
        self.peer = peer
        self.local = local
        self.link = RtLink(
            service="DME",
            peer=peer,
            cipher=FrameCipher(Suite.PS2, rsa_local=manager.rsa_key),
            frame_log=FrameLogger("DME"),
            max_payload=wire.MAX_FRAME_PAYLOAD,
        )
        self.outbox = self.link.outbox
        self.phase = Phase.NEW
        self.version = rtm.V108
        self.encrypted: bool | None = None  # None until the client shows how it talks
        self.key_exchange = False
        self._old_cipher: FrameCipher | None = None  # the connection's own ctx-3 key, as fallback
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
        self.next_echo: float | None = None
        self.close_reason: str | None = None

    # --- StreamProtocol ------------------------------------------------------------------------
    def data_received(self, data: bytes, now: float) -> None:
        self.last_rx = now
        try:
            for raw in self.link.deframer.feed(data):
                if self.phase is Phase.CLOSED:
                    break
                self._on_raw(raw, now)
        finally:
            self.manager.dispatch_events()

    def next_deadline(self) -> float | None:
        return None  # timeouts, echoes and flushes are the manager's (one timer for all players)

    def on_timer(self, now: float) -> None:
        return None

    def connection_lost(self, reason: str) -> None:
        self.manager.connection_lost(self, self.close_reason or reason)

    # --- properties -----------------------------------------------------------------------------
    @property
    def label(self) -> str:
        where = f"world {self.world.world_id} #{self.index}" if self.world is not None else "unbound"
        return f"DME {self.peer[0]}:{self.peer[1]} ({where})"

    @property
    def v108(self) -> bool:
        return self.version <= rtm.V108

    @property
    def wants_notify(self) -> bool:
        return self.v108 or bool(self.recv_flags & _NOTIFY)

    def owns_key(self, key: bytes) -> bool:
        if self.link.cipher.rc_keys.get(Ctx.RC_CLIENT_SESSION) == key:
            return True
        return self._old_cipher is not None and self._old_cipher.rc_keys.get(Ctx.RC_CLIENT_SESSION) == key

    def candidate_keys(self) -> list[bytes]:
        """Context-3 keys a frame from this client may use (the world key, then its own)."""
        keys = [self.link.cipher.rc_keys.get(Ctx.RC_CLIENT_SESSION)]
        if self._old_cipher is not None:
            keys.append(self._old_cipher.rc_keys.get(Ctx.RC_CLIENT_SESSION))
        return [k for k in keys if k]

    def reflectable(self, raw: RawFrame) -> bool:
        """A CLIENT_ECHO can go back as it came: the answer Sony sent is the same frame, byte for
        byte (same key, same plaintext, so same hash and ciphertext), and nothing in it needs
        reading. Only after the key switch, and only under a context we have a key for."""
        if self.phase is not Phase.COMPLETE:
            return False
        h = raw.hash
        return not h or is_null_hash(h) or hash_ctx(h) in self.link.cipher.rc_keys

    # --- incoming -------------------------------------------------------------------------------
    def decrypt(self, raw: RawFrame) -> Frame:
        """Plaintext of a frame; a frame still under the connection's first key is accepted too
        (the client may have sent it before it read PEER#2)."""
        try:
            return self.link.cipher.decrypt(raw)
        except CryptoError:
            if self._old_cipher is None:
                raise
            return self._old_cipher.decrypt(raw)

    def _on_raw(self, raw: RawFrame, now: float) -> None:
        rid = raw.id
        if rid in wire.APP_IDS:
            self._log_raw(raw, "recv")
            if self.phase is Phase.COMPLETE:
                self.manager.relay(self, raw, False, now)
            else:
                log.debug("%s: %s before the handshake completed, dropped", self.label, raw.name)
            return
        if rid == _ECHO and self.reflectable(raw):
            self._log_raw(raw, "recv", "reflected")
            self.send_raw_tcp(raw.encode())
            return
        frame = self.decrypt(raw)
        if self.link.frame_log.enabled():
            self.link.frame_log.frame(
                self.link.peer_label, "recv", frame.id, frame.payload, frame.ctx, frame.null
            )
        if frame.id == RT.CLIENT_MULTI_APP_TOSERVER:
            for inner in split_frames(frame.payload):
                self._on_raw(inner, now)
            return
        self._dispatch(frame, now)

    def _dispatch(self, f: Frame, now: float) -> None:
        rid = f.id
        if rid == RT.CLIENT_ECHO:
            self.send_tcp(RT.CLIENT_ECHO, f.payload)
        elif rid == RT.CLIENT_TIMEBASE_QUERY:
            self.send_tcp(RT.SERVER_TIMEBASE_QUERY_NOTIFY, self.timebase_answer(f.payload, now))
        elif rid == RT.SERVER_ECHO:
            pass  # our echo coming back: liveness only
        elif rid == RT.CLIENT_SET_RECV_FLAG:
            self._set_recv_flag(f.payload)
        elif rid == RT.CLIENT_SET_AGG_TIME:
            ms = rtm.ClientSetAggTime.decode(f.payload, self.version).agg_time_ms
            self.agg = min(max(ms, 0), MAX_AGG_MS) / 1000.0
        elif rid in (RT.CLIENT_FLUSH_ALL, RT.CLIENT_FLUSH_SINGLE):
            self.flush_request(f)
        elif rid in (RT.CLIENT_DISCONNECT, RT.CLIENT_DISCONNECT_WITH_REASON):
            self.close("client disconnected")
        elif rid == RT.CLIENT_HELLO:
            self._on_hello(f)
        elif rid == RT.CLIENT_CRYPTKEY_PUBLIC:
            self._on_public(f)
        elif rid == RT.CLIENT_CONNECT_TCP_AUX_UDP:
            self._on_connect(f, now)
        elif rid == RT.CLIENT_CONNECT_READY_REQUIRE:
            self._require(Phase.CONNECTING, f)
            self._send_keys_and_accept()
            self.phase = Phase.ACCEPTED
        elif rid == RT.CLIENT_CONNECT_READY_TCP:
            self._require(Phase.ACCEPTED, f)
            ready = rtm.ClientConnectReadyTcp.decode(f.payload, self.version)
            self.recv_flags = ready.recv_flag & ALL_FLAGS
            assert self.world is not None
            info = rtm.ServerStartupInfoNotify(
                game_host_type=wire.GAME_HOST_CLIENT_SERVER_AUX_UDP, timestamp=self.world.timer_ms(now)
            )
            self.link.send(RT.SERVER_STARTUP_INFO_NOTIFY, info.encode(self.version))
            self._send_info_aux_udp()
            self.phase = Phase.TCP_READY
            self.manager.expect_udp_connect(self)
        elif rid == RT.CLIENT_CONNECT_READY_AUX_UDP:
            if self.phase is Phase.COMPLETE:
                log.debug("%s: repeated CONNECT_READY_AUX_UDP ignored", self.label)
                return
            self._require(Phase.TCP_READY, f)
            self.manager.complete(self, now)
        elif rid == RT.CLIENT_APP_TOSERVER:
            log.debug("%s: Medius message to the DME ignored (%d bytes)", self.label, len(f.payload))
        else:
            log.info("%s: ignored %s (%d bytes)", self.label, rt_name(rid), len(f.payload))

    def _require(self, phase: Phase, f: Frame) -> None:
        if self.phase is not phase:
            raise ProtocolError(f"{f.name} out of order (connection is {self.phase.name})", data=f.payload)

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

    # --- handshake ------------------------------------------------------------------------------
    def _on_hello(self, f: Frame) -> None:
        if self.phase is not Phase.NEW:
            raise ProtocolError("CLIENT_HELLO after the handshake started", data=f.payload)
        hello = rtm.ClientHello.decode(f.payload, self.version)
        self.version = hello.version
        self.link.send(RT.SERVER_HELLO, rtm.ServerHello().encode(self.version), None)

    def _on_public(self, f: Frame) -> None:
        if self.phase is not Phase.NEW:
            raise ProtocolError("second CRYPTKEY_PUBLIC", data=f.payload)
        pub = rtm.ClientCryptkeyPublic.decode(f.payload, self.version)
        self.encrypted = f.encrypted
        self.key_exchange = True
        own = self.manager.rng(64)
        cipher = self.link.cipher
        cipher.set_key(Ctx.RC_CLIENT_SESSION, own)
        if self.encrypted:
            cipher.rsa_peer = pub.rsa_key()
            self.link.send(RT.SERVER_CRYPTKEY_PEER, own, Ctx.RSA_AUTH)
            self.link.send_ctx = Ctx.RC_CLIENT_SESSION
        else:
            self.link.send(RT.SERVER_CRYPTKEY_PEER, own, None)
            self.link.send_ctx = None
        self.phase = Phase.KEYED

    def _on_connect(self, f: Frame, now: float) -> None:
        if self.phase not in (Phase.NEW, Phase.KEYED):
            raise ProtocolError("CONNECT_TCP_AUX_UDP out of order", data=f.payload)
        if self.phase is Phase.NEW:  # no key exchange: a clear session
            self.encrypted = False
            self.link.send_ctx = None
        req = rtm.ClientConnectTcpAuxUdp.decode(f.payload, self.version)
        self.app_id = req.app_id
        refusal = self.manager.bind(self, req, now)
        if refusal is not None:
            log.warning("%s: connect refused: %s", self.label, refusal)
            self.close(refusal)
            return
        if self.v108:
            self._send_keys_and_accept()
            self._send_info_aux_udp()
            self.recv_flags = ALL_FLAGS
            self.phase = Phase.TCP_READY
            self.manager.expect_udp_connect(self)
        else:
            self.link.send(RT.SERVER_CONNECT_REQUIRE, wire.CONNECT_REQUIRE.encode(self.version))
            self.phase = Phase.CONNECTING

    def _send_keys_and_accept(self) -> None:
        world = self.world
        assert world is not None
        if self.key_exchange:
            cipher = self.link.cipher
            self.link.send(RT.SERVER_CRYPTKEY_GAME, world.game_key)
            self.link.send(RT.SERVER_CRYPTKEY_PEER, world.peer_key)
            old = FrameCipher(Suite.PS2)
            old.set_key(Ctx.RC_CLIENT_SESSION, cipher.rc_keys[Ctx.RC_CLIENT_SESSION])
            self._old_cipher = old
            cipher.set_key(Ctx.RC_CLIENT_SESSION, world.peer_key)
            cipher.set_key(Ctx.RC_SERVER_SESSION, world.game_key)
        accept = rtm.ServerConnectAcceptTcp(
            player_id=self.index,
            scert_id=self.scert_id,
            player_count=world.connected_count(),
            client_ip=self.peer[0],
        )
        self.link.send(RT.SERVER_CONNECT_ACCEPT_TCP, accept.encode(self.version))

    def _send_info_aux_udp(self) -> None:
        m = self.manager
        self.link.send(
            RT.SERVER_INFO_AUX_UDP,
            rtm.ServerInfoAuxUdp(ip=m.advertised_ip, port=m.udp_port).encode(self.version),
        )

    def send_complete(self, now: float) -> None:
        """CONNECT_COMPLETE, the DME ServerVersion and (1.09+) a first SERVER_ECHO."""
        assert self.world is not None
        count = self.world.connected_count()
        self.link.send(
            RT.SERVER_CONNECT_COMPLETE, rtm.ServerConnectComplete(client_count=count).encode(self.version)
        )
        # Sony sent the version under the game key (ctx 1) to UYA and under ctx 3 to Deadlocked.
        ctx: int | bool | None = True
        if self.v108 and self.link.send_ctx is not None:
            ctx = Ctx.RC_SERVER_SESSION
        self.link.send(RT.SERVER_APP, wire.server_version_payload(self.version), ctx)
        if not self.v108:
            self.send_server_echo()
            self.next_echo = now + self.manager.timeouts.dme_echo
        self.phase = Phase.COMPLETE

    def send_server_echo(self) -> None:
        t = self.manager.wall_clock()
        echo = rtm.ServerEcho(unix_time=int(t) & 0xFFFFFFFF, microseconds=int((t % 1) * 1_000_000))
        self.send_tcp(RT.SERVER_ECHO, echo.encode(self.version))

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
        ctx = self.link.send_ctx
        if self.link.frame_log.enabled():
            self.link.frame_log.frame(self.link.peer_label, "send", rt_id, payload, ctx, extra="udp")
        return self.manager.encrypt_cached(self.link.cipher, rt_id, payload, ctx)

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
            pass
        else:
            log.debug("%s: ignored %s over UDP (%d bytes)", self.label, rt_name(rid), len(f.payload))

    def flush_request(self, f: Frame) -> None:
        """FLUSH_ALL / FLUSH_SINGLE: "deliver what I sent now" (UYA sends FLUSH_ALL after a burst).
        The receivers' aggregation queues go out at once instead of at their agg time."""
        world = self.world
        if world is None or self.phase is not Phase.COMPLETE:
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
        if self.phase is Phase.CLOSED:
            return
        if self.tcp_q:
            self._flush_tcp()
        use = self.link.send_ctx if ctx is True else ctx
        if self.link.frame_log.enabled():
            self.link.frame_log.frame(self.link.peer_label, "send", rt_id, payload, use)
        self.outbox.push(self.manager.encrypt_cached(self.link.cipher, rt_id, payload, use))

    def send_raw_tcp(self, frame: bytes) -> None:
        """Wire bytes made elsewhere (a reflected echo), after the waiting relayed frames."""
        if self.phase is Phase.CLOSED:
            return
        if self.tcp_q:
            self._flush_tcp()
        self.outbox.push(frame)

    def send_udp_now(self, datagram_frame: bytes) -> None:
        if self.udp_addr is None:
            return
        if self.udp_q:
            self.udp_q.append(datagram_frame)
            self.udp_q_bytes += len(datagram_frame)
            self._flush_udp()
        else:
            self.manager.send_datagram(datagram_frame, self.udp_addr)

    def queue_tcp(self, frame: bytes, now: float) -> None:
        self.tcp_q.append(frame)
        self.tcp_q_bytes += len(frame)
        if self.tcp_q_bytes > QUEUE_LIMIT:
            self._flush_tcp()  # the outbox bounds what a slow reader may hold
        elif self.flush_at is None:
            self.manager.schedule_flush(self, now + self.agg)

    def queue_udp(self, frame: bytes, now: float) -> bool:
        if self.udp_q_bytes + len(frame) > QUEUE_LIMIT:
            return False
        self.udp_q.append(frame)
        self.udp_q_bytes += len(frame)
        if self.flush_at is None:
            self.manager.schedule_flush(self, now + self.agg)
        return True

    def flush(self) -> None:
        self.flush_at = None
        if self.tcp_q:
            self._flush_tcp()
        if self.udp_q:
            self._flush_udp()

    def _flush_tcp(self) -> None:
        data = self.tcp_q[0] if len(self.tcp_q) == 1 else b"".join(self.tcp_q)
        self.tcp_q = []
        self.tcp_q_bytes = 0
        self.outbox.push(data)

    def _flush_udp(self) -> None:
        q = self.udp_q
        self.udp_q = []
        self.udp_q_bytes = 0
        addr = self.udp_addr
        if addr is None:
            return
        if len(q) == 1 or sum(map(len, q)) <= wire.MAX_DATAGRAM:
            self.manager.send_datagram(q[0] if len(q) == 1 else b"".join(q), addr)
            return
        for d in pack_datagrams(q, wire.MAX_DATAGRAM):
            self.manager.send_datagram(d, addr)

    def _log_raw(self, raw: RawFrame, direction: str, note: str = "relayed") -> None:
        """Log a frame passed on without opening it (the payload may be ciphertext)."""
        if self.link.frame_log.enabled():
            h = raw.hash
            extra = f"hash={h.hex()} note={note}-unopened" if h else f"note={note}"
            ctx = h[3] >> 5 if h else None
            self.link.frame_log.frame(self.link.peer_label, direction, raw.id, raw.payload, ctx, extra=extra)

    # --- closing --------------------------------------------------------------------------------
    def close(self, reason: str, code: int | None = None) -> None:
        """Leave the world now, tell the client why (FORCED_DISCONNECT when it had completed)
        and close once that is written."""
        if self.phase is Phase.CLOSED:
            return
        if code is not None and self.phase is Phase.COMPLETE:
            self.send_tcp(
                RT.SERVER_FORCED_DISCONNECT, rtm.ServerForcedDisconnect(reason=code).encode(self.version)
            )
        elif self.tcp_q:
            self._flush_tcp()
        self.phase = Phase.CLOSED
        self.close_reason = reason
        self.manager.detach(self, reason)
        self.outbox.close(reason)
