"""One SCE-RT connection end, sans-IO: bytes in, events out, the handshake as one table.

``RtEndpoint`` is both ends (``Role``) of both kinds of connection (``Variant``: a lobby service,
MUIS/MAS/MLS; or the DME, TCP plus aux UDP), in both layout families (Medius 1.08 without HELLO,
1.09+ with it). The handshakes, as the captures show them (frames on one line went out in one
write)::

    lobby 1.08 (UYA)            lobby 1.09+ (Deadlocked)        DME 1.08 / 1.09+
    C PUBLIC   -> S PEER        C HELLO -> S HELLO              (C HELLO -> S HELLO)
    C CONNECT  -> S GAME,       C PUBLIC -> S PEER              C PUBLIC -> S PEER
                  ACCEPT_TCP,   C CONNECT -> S CONNECT_REQUIRE  C CONNECT_TCP_AUX_UDP -> ...
                  COMPLETE      C READY_REQUIRE -> S GAME,        1.08: S GAME, PEER#2, ACCEPT_TCP,
                                                 ACCEPT_TCP             INFO_AUX_UDP
                                C READY_TCP -> S COMPLETE, ECHO   1.09+: S CONNECT_REQUIRE;
                                                                  C READY_REQUIRE -> S GAME, PEER#2,
                                                                  ACCEPT_TCP; C READY_TCP ->
                                                                  S STARTUP_INFO, INFO_AUX_UDP
                                                                udp C CONNECT_AUX_UDP -> S ACCEPT_AUX
                                                                C READY_AUX_UDP -> S COMPLETE, ...

``TRANSITIONS`` says which frame is legal in which phase and where it leads; anything else in the
handshake is out of order (a ``ProtocolError``, which the shell turns into a logged disconnect).
Encryption follows the client: an encrypted CRYPTKEY_PUBLIC gets everything encrypted under
context 3, a clear one the same flow in clear, and a client that skips the key exchange (tools such
as the UYA bot) gets a clear session. Keys are installed by ``rt.keys``.

Iterating ``receive`` is lazy on purpose: the owner handles each event before the next frame is
read, so a ``ConnectRequest`` is answered (``accept_connect`` or ``close``) before a READY_REQUIRE
that arrived in the same segment is looked at.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from clank_lan.logs import FrameLogger
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import Frame, FrameCipher, Suite
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import DEFAULT_MAX_PAYLOAD, FLAG, HASH_LEN, ID_MASK, RawFrame, split_frames
from clank_lan.protocol.rt_ids import RT
from clank_lan.rt.link import FrameCache, RtLink

log = logging.getLogger("clank_lan.rt")


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class Variant(enum.Enum):
    LOBBY = "lobby"  # MUIS, MAS, MLS: CLIENT_CONNECT_TCP
    DME = "dme"  # CLIENT_CONNECT_TCP_AUX_UDP, then the aux-UDP connect


class Phase(enum.Enum):
    NEW = "new"
    KEYED = "keyed"  # CRYPTKEY_PUBLIC answered (server)
    CONNECTING = "connecting"  # CONNECT sent or accepted; 1.09+: CONNECT_REQUIRE on its way
    ACCEPTED = "accepted"  # CONNECT_ACCEPT_TCP sent or seen; 1.09+: waiting for READY_TCP
    TCP_READY = "tcp_ready"  # DME: INFO_AUX_UDP sent or seen, the aux-UDP connect is next
    READY = "ready"  # CONNECT_COMPLETE: the application layer runs
    CLOSED = "closed"


class Family(enum.Enum):
    V108 = "1.08"
    V109 = "1.09+"


_BOTH_V = (Variant.LOBBY, Variant.DME)
_BOTH_F = (Family.V108, Family.V109)
_START = (Phase.NEW, Phase.KEYED)


def _rows() -> Iterator[tuple[Role, tuple[Variant, ...], tuple[Family, ...], tuple[Phase, ...], RT, Phase]]:
    S, C = Role.SERVER, Role.CLIENT
    L, D = (Variant.LOBBY,), (Variant.DME,)
    V8, V9 = (Family.V108,), (Family.V109,)
    P = Phase
    # role, variants, families (of the version known when the frame arrives), from, frame, to
    yield S, _BOTH_V, _BOTH_F, (P.NEW,), RT.CLIENT_HELLO, P.NEW
    yield S, _BOTH_V, _BOTH_F, (P.NEW,), RT.CLIENT_CRYPTKEY_PUBLIC, P.KEYED
    yield S, L, V8, _START, RT.CLIENT_CONNECT_TCP, P.READY
    yield S, L, V9, _START, RT.CLIENT_CONNECT_TCP, P.CONNECTING
    yield S, D, V8, _START, RT.CLIENT_CONNECT_TCP_AUX_UDP, P.TCP_READY
    yield S, D, V9, _START, RT.CLIENT_CONNECT_TCP_AUX_UDP, P.CONNECTING
    yield S, _BOTH_V, V9, (P.CONNECTING,), RT.CLIENT_CONNECT_READY_REQUIRE, P.ACCEPTED
    yield S, L, V9, (P.ACCEPTED,), RT.CLIENT_CONNECT_READY_TCP, P.READY
    yield S, D, V9, (P.ACCEPTED,), RT.CLIENT_CONNECT_READY_TCP, P.TCP_READY
    yield S, D, _BOTH_F, (P.TCP_READY, P.READY), RT.CLIENT_CONNECT_READY_AUX_UDP, P.READY
    yield C, _BOTH_V, V9, (P.NEW,), RT.SERVER_HELLO, P.NEW
    yield C, _BOTH_V, _BOTH_F, (P.NEW,), RT.SERVER_CRYPTKEY_PEER, P.CONNECTING
    yield C, _BOTH_V, V9, (P.CONNECTING,), RT.SERVER_CONNECT_REQUIRE, P.CONNECTING
    yield C, _BOTH_V, _BOTH_F, (P.CONNECTING,), RT.SERVER_CRYPTKEY_GAME, P.CONNECTING
    yield C, D, _BOTH_F, (P.CONNECTING,), RT.SERVER_CRYPTKEY_PEER, P.CONNECTING  # the world key
    yield C, _BOTH_V, _BOTH_F, (P.CONNECTING,), RT.SERVER_CONNECT_ACCEPT_TCP, P.ACCEPTED
    yield C, D, V9, (P.ACCEPTED,), RT.SERVER_STARTUP_INFO_NOTIFY, P.ACCEPTED
    yield C, D, _BOTH_F, (P.ACCEPTED,), RT.SERVER_INFO_AUX_UDP, P.TCP_READY
    yield C, L, _BOTH_F, (P.ACCEPTED,), RT.SERVER_CONNECT_COMPLETE, P.READY
    yield C, D, _BOTH_F, (P.TCP_READY,), RT.SERVER_CONNECT_COMPLETE, P.READY


def _compile() -> dict[tuple[Role, Variant, Family], dict[tuple[Phase, int], Phase]]:
    table: dict[tuple[Role, Variant, Family], dict[tuple[Phase, int], Phase]] = {}
    for role, variants, families, sources, rt_id, target in _rows():
        for v in variants:
            for fam in families:
                for src in sources:
                    table.setdefault((role, v, fam), {})[(src, int(rt_id))] = target
    return table


#: The handshake: (role, variant, family) -> {(phase, frame id): next phase}.
TRANSITIONS = _compile()
#: Frame ids that belong to the handshake of some end (checked against the table).
HANDSHAKE_IDS = frozenset(rt_id for moves in TRANSITIONS.values() for (_, rt_id) in moves)
#: Per end, the frames of its own handshake in either family: out of order unless the table allows.
_OWN_IDS = {
    (role, variant): frozenset(rt_id for fam in Family for (_, rt_id) in TRANSITIONS[(role, variant, fam)])
    for role in Role
    for variant in Variant
}

#: The largest CLIENT_ECHO payload ``receive_echo`` remembers (consoles send one byte).
ECHO_MEMO_PAYLOAD = 16
_CLIENT_ECHO = int(RT.CLIENT_ECHO)
#: App frames a DME relays without opening them (``dme.wire`` says how it rewrites them).
DME_APP_IDS = frozenset((int(RT.CLIENT_APP_BROADCAST), int(RT.CLIENT_APP_SINGLE), int(RT.CLIENT_APP_LIST)))
_MULTI = frozenset((int(RT.CLIENT_MULTI_APP_TOSERVER), int(RT.SERVER_MULTI_APP_TOCLIENT)))
#: Sony's lobby CONNECT_REQUIRE: password flag 2, max packet 584.
LOBBY_CONNECT_REQUIRE = rtm.ServerConnectRequire(req_server_password=2, max_packet_size=584)
#: Sony's DME CONNECT_REQUIRE: ``06 48 02 48 02`` (password flag 6, TCP and UDP max 584).
DME_CONNECT_REQUIRE = rtm.ServerConnectRequire(
    req_server_password=6, max_packet_size=584, max_udp_packet_size=584
)


# --- events ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """Server: a CONNECT; answer with ``accept_connect`` or ``close`` before reading on."""

    req: rtm.ClientConnectTcp | rtm.ClientConnectTcpAuxUdp


@dataclass(frozen=True, slots=True)
class TcpReady:
    """DME server: the TCP half is set up (``recv_flag`` from 1.09+ READY_TCP); announce aux UDP."""

    recv_flag: int | None


@dataclass(frozen=True, slots=True)
class CompleteRequest:
    """Server: the client is ready; the owner calls ``complete`` (and adds its own frames)."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """Client: CONNECT_ACCEPT_TCP arrived."""

    accept: rtm.ServerConnectAcceptTcp


@dataclass(frozen=True, slots=True)
class AuxUdpInfo:
    """DME client: where to send the aux-UDP connect."""

    ip: str
    port: int


@dataclass(frozen=True, slots=True)
class Established:
    """Client: CONNECT_COMPLETE arrived."""

    accept: rtm.ServerConnectAcceptTcp


@dataclass(frozen=True, slots=True)
class AppFrame:
    """A frame of the application layer, opened (lobby SERVER_APP / CLIENT_APP_TOSERVER)."""

    frame: Frame


@dataclass(frozen=True, slots=True)
class RawApp:
    """A DME app frame, unopened (relayed byte for byte, or opened by the owner)."""

    raw: RawFrame


@dataclass(frozen=True, slots=True)
class PeerClosed:
    """The other end said it is going (CLIENT_DISCONNECT or SERVER_FORCED_DISCONNECT)."""

    reason: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class FrameIn:
    """Any other frame, opened: the application layer's to interpret."""

    frame: Frame


Event = (
    ConnectRequest
    | TcpReady
    | CompleteRequest
    | Accepted
    | AuxUdpInfo
    | Established
    | AppFrame
    | RawApp
    | PeerClosed
    | FrameIn
)


class RtEndpoint:
    """One end of one RT connection. The owner feeds ``receive`` and acts on the events."""

    def __init__(
        self,
        role: Role,
        variant: Variant,
        *,
        service: str,
        peer: tuple[str, int],
        rsa_local: RsaKey | None,
        rsa_peer: RsaKey | None = None,
        rng: Callable[[int], bytes] | None = None,
        version: int = rtm.V108,
        encrypt: bool = True,
        key_exchange: bool = True,
        frame_log: FrameLogger | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        frame_cache: FrameCache | None = None,
    ) -> None:
        self.role = role
        self.variant = variant
        self.rng = rng
        cipher = FrameCipher(Suite.PS2, rsa_local=rsa_local)
        cipher.rsa_peer = rsa_peer
        self.link = RtLink(
            service=service,
            peer=peer,
            cipher=cipher,
            frame_log=frame_log or FrameLogger(service),
            max_payload=max_payload,
            frame_cache=frame_cache,
        )
        self.keys = self.link.keys
        self.outbox = self.link.outbox
        self.phase = Phase.NEW
        self._echo_out: tuple[bytes, float] | None = None  # our last SERVER_ECHO and when it left
        #: When the SERVER_ECHO the client just returned had left (None: none returned since read).
        self.echo_returned: float | None = None
        self.version = version
        self.hello_seen = False
        #: Server: None until the client shows how it talks. Client: whether we encrypt.
        self.encrypted: bool | None = None if role is Role.SERVER else encrypt
        self.key_exchange = key_exchange if role is Role.CLIENT else False
        self.accept_msg: rtm.ServerConnectAcceptTcp | None = None
        self.close_reason: str | None = None
        self.connect_fields: dict[str, object] = {}  # client: what CONNECT carries
        self._answered = False
        self._accept_fn: Callable[[], rtm.ServerConnectAcceptTcp] | None = None
        self._game_key = b""
        self._world_key: bytes | None = None
        #: Called with every opened frame before it is handled (the replay judges them all).
        self.on_frame: Callable[[Frame], None] | None = None
        #: ``receive_echo``'s last echo: (wire bytes in, the frame opened, the keys then, the send
        #: context then, wire bytes out).
        self._echo_memo: tuple[bytes, Frame, dict[int, bytes], int | None, bytes] | None = None

    # --- shared ---------------------------------------------------------------------------------
    @property
    def family(self) -> Family:
        return Family.V108 if rtm.is_v108(self.version) else Family.V109

    @property
    def v108(self) -> bool:
        return rtm.is_v108(self.version)

    @property
    def ready(self) -> bool:
        return self.phase is Phase.READY

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    def receive(self, data: bytes) -> Iterator[Event]:
        """Events for the bytes that arrived, lazily (see the module docstring)."""
        for raw in self.link.raws(data):
            if self.phase is Phase.CLOSED:
                return
            yield from self._raw(raw)

    def receive_echo(self, data: bytes) -> bool:
        """The idle fast path of a ready lobby server connection: when ``data`` is exactly one
        CLIENT_ECHO frame (and nothing is left of an earlier segment), handle it as ``receive``
        would (the same two frames logged, the same answer queued, no event) and return True;
        anything else returns False untouched, for ``receive``.

        A console sends the same echo bytes every time (the keystream depends only on key and
        plaintext), so the frame is opened and its answer sealed once: later echoes are compared
        with the remembered one, as long as the keys and the send context are still the same."""
        link = self.link
        if self.phase is not Phase.READY or self.on_frame is not None or link.deframer.pending:
            return False
        memo = self._echo_memo
        if (
            memo is not None
            and data == memo[0]
            and memo[3] == link.send_ctx
            and memo[2] == link.cipher.rc_keys
        ):
            frame = memo[1]
            link.whole_frame(len(data))
            log = link.frame_log
            logging_on = log.enabled()
            if logging_on:
                log.frame(link.peer_label, link.recv_dir, _CLIENT_ECHO, frame.payload, frame.ctx, frame.null)
            link.before_send()
            if logging_on:
                log.frame(link.peer_label, link.send_dir, _CLIENT_ECHO, frame.payload, memo[3])
            link.outbox.push(memo[4])
            return True
        if (
            self.role is not Role.SERVER
            or self.variant is not Variant.LOBBY
            or type(data) is not bytes  # (remembered: it must not change)
            or len(data) < 3
        ):
            return False
        first = data[0]
        size = data[1] | data[2] << 8
        if first & ID_MASK != _CLIENT_ECHO or size > ECHO_MEMO_PAYLOAD:
            return False
        if len(data) != 3 + size + (HASH_LEN if first & FLAG and size else 0):
            return False
        # Once per console: the general path, spelled out (``_raw``, ``handle``, ``_server_frame``).
        (raw,) = link.raws(data)
        self._cheap_checks(raw)
        frame = link.open(raw)
        keys = dict(link.cipher.rc_keys)
        ctx = link.send_ctx
        link.before_send()
        wire = link.encode(_CLIENT_ECHO, frame.payload, ctx)
        link.outbox.push(wire)
        self._echo_memo = (data, frame, keys, ctx, wire)
        return True

    def _raw(self, raw: RawFrame, inner: bool = False) -> Iterator[Event]:
        """Events for one raw frame. The frames inside a MULTI_APP container are handled one by
        one but not logged again: the container's record holds them (and a replay of the log
        unpacks it)."""
        rid = raw.id
        if self.variant is Variant.DME and rid in DME_APP_IDS:
            if not inner:
                self.link.log_unopened(raw, self.link.recv_dir, "relayed")
            yield RawApp(raw)
            return
        if self._reflect(raw):
            if not inner:
                self.link.log_unopened(raw, self.link.recv_dir, "reflected")
            self.link.send_raw(raw.encode())
            return
        if self.role is Role.SERVER:
            self._cheap_checks(raw)
        frame = self.keys.decrypt(raw) if inner else self.link.open(raw)
        if rid in _MULTI:
            for part in split_frames(frame.payload):
                if self.phase is Phase.CLOSED:
                    return
                yield from self._raw(part, inner=True)
            return
        yield from self.handle(frame)

    def _cheap_checks(self, raw: RawFrame) -> None:
        """Refuse, before any RSA work, what can only be a probe: an RSA-encrypted frame other
        than the one CRYPTKEY_PUBLIC a connection starts with, or one of the wrong size. Each
        connection then costs at most one private-key operation, and the shell bounds how
        many connections an address may open."""
        h = raw.hash
        rsa = bool(h) and not is_null_hash(h) and hash_ctx(h) == Ctx.RSA_AUTH
        if raw.id == RT.CLIENT_CRYPTKEY_PUBLIC:
            if self.phase is not Phase.NEW:
                why = f"CLIENT_CRYPTKEY_PUBLIC out of order (connection is {self.phase.value})"
                raise ProtocolError(why, data=raw.payload)
            if len(raw.payload) != rtm.ClientCryptkeyPublic.SIZE_108:
                raise ProtocolError(
                    f"CLIENT_CRYPTKEY_PUBLIC of {len(raw.payload)} bytes, not 64", data=raw.payload[:64]
                )
        elif rsa:
            why = f"{raw.name} under the RSA context (only CRYPTKEY_PUBLIC may be)"
            raise ProtocolError(why, data=raw.payload)

    def _reflect(self, raw: RawFrame) -> bool:
        """A DME's CLIENT_ECHO goes back as it came: Sony's answer is the same frame byte for byte
        (same key and plaintext, so the same hash and ciphertext). Only once the keys are settled
        and only under a context we have a key for."""
        if self.variant is not Variant.DME or self.role is not Role.SERVER or raw.id != RT.CLIENT_ECHO:
            return False
        if self.phase is not Phase.READY:
            return False
        h = raw.hash
        return not h or is_null_hash(h) or hash_ctx(h) in self.link.cipher.rc_keys

    def reflectable(self, raw: RawFrame) -> bool:
        return self._reflect(raw)

    def handle(self, f: Frame) -> Iterator[Event]:
        """Events for one opened frame (TCP, or a DME's aux UDP)."""
        if self.on_frame is not None:
            self.on_frame(f)
        rid = f.id
        if rid in HANDSHAKE_IDS:
            target = TRANSITIONS[(self.role, self.variant, self.family)].get((self.phase, rid))
            if target is None:
                if rid in _OWN_IDS[(self.role, self.variant)]:
                    raise ProtocolError(
                        f"{f.name} out of order (connection is {self.phase.value})", data=f.payload
                    )
            else:
                yield from self._step(f, target)
                return
        if self.role is Role.SERVER:
            yield from self._server_frame(f)
        else:
            yield from self._client_frame(f)

    def _step(self, f: Frame, target: Phase) -> Iterator[Event]:
        step = _SERVER_STEPS if self.role is Role.SERVER else _CLIENT_STEPS
        yield from step[f.id](self, f, target)

    # --- sending ----------------------------------------------------------------------------------
    def send(self, rt_id: int, payload: bytes = b"", ctx: int | bool | None = True) -> None:
        if self.phase is Phase.CLOSED:
            return
        self.link.send(rt_id, payload, ctx)

    def send_server_echo(self, wall_time: float) -> None:
        echo = rtm.ServerEcho(unix_time=int(wall_time) & 0xFFFFFFFF, microseconds=int((wall_time % 1) * 1e6))
        payload = echo.encode(self.version)
        self._echo_out = (payload, wall_time)
        self.send(RT.SERVER_ECHO, payload)

    def take_echo(self, payload: bytes) -> float | None:
        """The wall time our last SERVER_ECHO left, if ``payload`` is the client returning it (the
        owner turns it into a round-trip time with its own clock)."""
        out = self._echo_out
        if out is None or payload != out[0]:
            return None
        self._echo_out = None
        return out[1]

    def close(self, reason: str, code: int | None = None) -> None:
        """Tell the peer why (FORCED_DISCONNECT, server, once ready) when ``code`` is given, and
        close once that is written."""
        if self.phase is Phase.CLOSED:
            return
        if code is not None and self.phase is Phase.READY and self.role is Role.SERVER:
            self.link.send(
                RT.SERVER_FORCED_DISCONNECT, rtm.ServerForcedDisconnect(reason=code).encode(self.version)
            )
        self.phase = Phase.CLOSED
        self.close_reason = reason
        self._answered = True
        self.outbox.close(reason)

    # === server ===================================================================================
    def _server_hello(self, f: Frame, target: Phase) -> Iterator[Event]:
        if self.hello_seen:
            raise ProtocolError("second CLIENT_HELLO", data=f.payload)
        self.version = rtm.ClientHello.decode(f.payload, self.version).version
        self.hello_seen = True
        self.link.send(RT.SERVER_HELLO, rtm.ServerHello().encode(self.version), None)
        self.phase = target
        return iter(())

    def _server_public(self, f: Frame, target: Phase) -> Iterator[Event]:
        pub = rtm.ClientCryptkeyPublic.decode(f.payload, self.version)
        assert self.rng is not None
        self.encrypted = f.encrypted
        self.key_exchange = True
        own = self.rng(64)
        if self.variant is Variant.LOBBY:
            self._game_key = self.rng(64)
        if self.encrypted:
            self.link.cipher.rsa_peer = pub.rsa_key()
            self.link.send(RT.SERVER_CRYPTKEY_PEER, own, Ctx.RSA_AUTH)
        else:
            self.link.send(RT.SERVER_CRYPTKEY_PEER, own, None)
        self.keys.install(RT.SERVER_CRYPTKEY_PEER, own)
        self.link.send_ctx = Ctx.RC_CLIENT_SESSION if self.encrypted else None
        self.phase = target
        return iter(())

    def _server_connect(self, f: Frame, target: Phase) -> Iterator[Event]:
        if self.phase is Phase.NEW:  # no key exchange: a clear session
            self.encrypted = False
            self.link.send_ctx = None
            if self.variant is Variant.LOBBY:
                assert self.rng is not None
                self._game_key = self.rng(64)
        cls = rtm.ClientConnectTcp if self.variant is Variant.LOBBY else rtm.ClientConnectTcpAuxUdp
        req = cls.decode(f.payload, self.version)
        self._answered = False
        yield ConnectRequest(req)
        if self.phase is Phase.CLOSED:
            return  # refused
        if not self._answered:
            raise RuntimeError("ConnectRequest was neither accepted nor refused")
        if self.v108:
            self._send_keys_and_accept()
            self.phase = target
            if self.variant is Variant.LOBBY:
                yield CompleteRequest()
            else:
                yield TcpReady(None)
        else:
            self.link.send(
                RT.SERVER_CONNECT_REQUIRE,
                (LOBBY_CONNECT_REQUIRE if self.variant is Variant.LOBBY else DME_CONNECT_REQUIRE).encode(
                    self.version
                ),
            )
            self.phase = target

    def accept_connect(
        self,
        accept: Callable[[], rtm.ServerConnectAcceptTcp],
        *,
        game_key: bytes = b"",
        world_key: bytes | None = None,
    ) -> None:
        """Answer a ``ConnectRequest`` with yes. ``accept`` builds the CONNECT_ACCEPT_TCP when it
        is sent (the player count may change meanwhile); a DME gives the world's keys."""
        self._answered = True
        self._accept_fn = accept
        if game_key:
            self._game_key = game_key
        self._world_key = world_key

    def _send_keys_and_accept(self) -> None:
        if self.variant is Variant.LOBBY or self.key_exchange:
            self.link.send(RT.SERVER_CRYPTKEY_GAME, self._game_key)
            self.keys.install(RT.SERVER_CRYPTKEY_GAME, self._game_key)
            if self._world_key is not None:
                self.link.send(RT.SERVER_CRYPTKEY_PEER, self._world_key)
                self.keys.install(RT.SERVER_CRYPTKEY_PEER, self._world_key)
        if self._accept_fn is not None:  # built once, then let go: it is a method of the
            self.accept_msg = self._accept_fn()  # connection that owns this endpoint (a cycle
            self._accept_fn = None  # that kept every ended connection until a full collection)
        assert self.accept_msg is not None
        self.link.send(RT.SERVER_CONNECT_ACCEPT_TCP, self.accept_msg.encode(self.version))

    def _server_ready_require(self, f: Frame, target: Phase) -> Iterator[Event]:
        self._send_keys_and_accept()
        self.phase = target
        return iter(())

    def _server_ready_tcp(self, f: Frame, target: Phase) -> Iterator[Event]:
        self.phase = target
        if self.variant is Variant.LOBBY:
            yield CompleteRequest()
        else:
            yield TcpReady(rtm.ClientConnectReadyTcp.decode(f.payload, self.version).recv_flag)

    def _server_ready_aux_udp(self, f: Frame, target: Phase) -> Iterator[Event]:
        if self.phase is Phase.READY:
            log.debug(
                "%s %s: repeated CONNECT_READY_AUX_UDP ignored", self.link.service, self.link.peer_label
            )
            return
        yield CompleteRequest()

    def complete(self, client_count: int, *, send: bool = True) -> None:
        """Server: CONNECT_COMPLETE (``send`` False: a title that expects none); the connection
        is ready."""
        if send:
            self.link.send(
                RT.SERVER_CONNECT_COMPLETE,
                rtm.ServerConnectComplete(client_count=client_count).encode(self.version),
            )
        self.phase = Phase.READY

    def _server_frame(self, f: Frame) -> Iterator[Event]:
        rid = f.id
        if rid == RT.CLIENT_ECHO:
            self.send(RT.CLIENT_ECHO, f.payload)
        elif rid == RT.SERVER_ECHO:  # the client returning our echo: liveness, and its round trip
            sent = self.take_echo(f.payload)
            if sent is not None:
                self.echo_returned = sent
        elif rid in (RT.CLIENT_DISCONNECT, RT.CLIENT_DISCONNECT_WITH_REASON):
            yield PeerClosed("client disconnected")
        elif rid == RT.CLIENT_APP_TOSERVER and self.variant is Variant.LOBBY:
            if self.phase is not Phase.READY:
                raise ProtocolError(
                    f"{self.link.service}: Medius message before the connection was set up", data=f.payload
                )
            yield AppFrame(f)
        else:
            yield FrameIn(f)

    # === client ===================================================================================
    def start(self) -> None:
        """Queue the opening frames: HELLO (1.09+), else CRYPTKEY_PUBLIC (or CONNECT in clear)."""
        if not self.v108:
            hello = rtm.ClientHello(params=(2, self.version, self.version - 1, 1, 1))
            self.link.send(RT.CLIENT_HELLO, hello.encode(self.version), None)
        else:
            self._open_session()

    def _open_session(self) -> None:
        if not self.key_exchange:
            self.link.send_ctx = None
            self._send_connect()
            return
        modulus = self.link.cipher.rsa_local.modulus_le  # type: ignore[union-attr]
        self.link.send(RT.CLIENT_CRYPTKEY_PUBLIC, modulus, Ctx.RSA_AUTH if self.encrypted else None)

    def _send_connect(self) -> None:
        cls = rtm.ClientConnectTcp if self.variant is Variant.LOBBY else rtm.ClientConnectTcpAuxUdp
        msg = cls(**self.connect_fields)  # type: ignore[arg-type]
        self.link.send(msg.RT_ID, msg.encode(self.version))
        self.phase = Phase.CONNECTING

    def _client_hello(self, f: Frame, target: Phase) -> Iterator[Event]:
        self.phase = target
        self._open_session()
        return iter(())

    def _client_peer(self, f: Frame, target: Phase) -> Iterator[Event]:
        first = not self.keys.peer_keys
        self.keys.install(RT.SERVER_CRYPTKEY_PEER, f.payload)
        if first:
            self.link.send_ctx = Ctx.RC_CLIENT_SESSION if self.encrypted else None
            self._send_connect()
        self.phase = target
        return iter(())

    def _client_require(self, f: Frame, target: Phase) -> Iterator[Event]:
        self.link.send(RT.CLIENT_CONNECT_READY_REQUIRE, rtm.ClientConnectReadyRequire().encode(self.version))
        return iter(())

    def _client_game(self, f: Frame, target: Phase) -> Iterator[Event]:
        self.keys.install(RT.SERVER_CRYPTKEY_GAME, f.payload)
        return iter(())

    def _client_accept(self, f: Frame, target: Phase) -> Iterator[Event]:
        self.accept_msg = rtm.ServerConnectAcceptTcp.decode(f.payload, self.version)
        self.phase = target
        if not self.v108:
            flag = 5 if self.variant is Variant.DME else 1
            ready = rtm.ClientConnectReadyTcp(start_opt=0x0E, recv_flag=flag)
            self.link.send(RT.CLIENT_CONNECT_READY_TCP, ready.encode(self.version))
        yield Accepted(self.accept_msg)

    def _client_startup(self, f: Frame, target: Phase) -> Iterator[Event]:
        return iter(())

    def _client_info_aux_udp(self, f: Frame, target: Phase) -> Iterator[Event]:
        info = rtm.ServerInfoAuxUdp.decode(f.payload, self.version)
        self.phase = target
        yield AuxUdpInfo(info.ip, info.port)

    def _client_complete(self, f: Frame, target: Phase) -> Iterator[Event]:
        assert self.accept_msg is not None
        self.phase = target
        yield Established(self.accept_msg)

    def _client_frame(self, f: Frame) -> Iterator[Event]:
        rid = f.id
        if rid == RT.SERVER_ECHO:
            self.send(RT.SERVER_ECHO, f.payload)
        elif rid == RT.SERVER_APP:
            yield AppFrame(f)
        elif rid == RT.SERVER_FORCED_DISCONNECT:
            code = rtm.ServerForcedDisconnect.decode(f.payload, self.version).reason
            yield PeerClosed(f"server forced disconnect (reason {code})", code)
        else:
            yield FrameIn(f)


_Step = Callable[[RtEndpoint, Frame, Phase], Iterator[Event]]
#: What each handshake frame does; ``TRANSITIONS`` decides whether it may.
_SERVER_STEPS: dict[int, _Step] = {
    int(RT.CLIENT_HELLO): RtEndpoint._server_hello,
    int(RT.CLIENT_CRYPTKEY_PUBLIC): RtEndpoint._server_public,
    int(RT.CLIENT_CONNECT_TCP): RtEndpoint._server_connect,
    int(RT.CLIENT_CONNECT_TCP_AUX_UDP): RtEndpoint._server_connect,
    int(RT.CLIENT_CONNECT_READY_REQUIRE): RtEndpoint._server_ready_require,
    int(RT.CLIENT_CONNECT_READY_TCP): RtEndpoint._server_ready_tcp,
    int(RT.CLIENT_CONNECT_READY_AUX_UDP): RtEndpoint._server_ready_aux_udp,
}
_CLIENT_STEPS: dict[int, _Step] = {
    int(RT.SERVER_HELLO): RtEndpoint._client_hello,
    int(RT.SERVER_CRYPTKEY_PEER): RtEndpoint._client_peer,
    int(RT.SERVER_CONNECT_REQUIRE): RtEndpoint._client_require,
    int(RT.SERVER_CRYPTKEY_GAME): RtEndpoint._client_game,
    int(RT.SERVER_CONNECT_ACCEPT_TCP): RtEndpoint._client_accept,
    int(RT.SERVER_STARTUP_INFO_NOTIFY): RtEndpoint._client_startup,
    int(RT.SERVER_INFO_AUX_UDP): RtEndpoint._client_info_aux_udp,
    int(RT.SERVER_CONNECT_COMPLETE): RtEndpoint._client_complete,
}
