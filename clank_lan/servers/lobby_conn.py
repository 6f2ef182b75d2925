"""Server side of an RT connection to MUIS, MAS or MLS (sans-IO): the handshake and keepalive.

Handshakes, as the captures show them::

    1.08 (UYA, no HELLO)                  1.09+ (Deadlocked)
    C CRYPTKEY_PUBLIC  -> S PEER          C HELLO -> S HELLO
    C CONNECT_TCP      -> S GAME,         C CRYPTKEY_PUBLIC -> S PEER
                          ACCEPT_TCP,     C CONNECT_TCP -> S CONNECT_REQUIRE
                          COMPLETE        C READY_REQUIRE -> S GAME, ACCEPT_TCP
                                          C READY_TCP -> S COMPLETE, SERVER_ECHO

Encryption follows the client: a console encrypts CRYPTKEY_PUBLIC to the server key and gets
everything encrypted under context 3; a tool that sends CRYPTKEY_PUBLIC (or its first frame) in
clear gets the same flow in clear. The Medius layer above is a ``LobbyApp``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Protocol

from clank_lan.config import TimeoutSettings
from clank_lan.logs import FrameLogger
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import Frame, FrameCipher, Suite
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius import fragment_app
from clank_lan.protocol.rt_ids import RT, rt_name
from clank_lan.servers.rt_link import RtLink

log = logging.getLogger("clank_lan.lobby")

#: Sony's lobby CONNECT_REQUIRE: password flag 2, max packet 584.
LOBBY_MAX_PACKET = 584
LOBBY_MAX_FRAME = 16 * 1024


class LobbyApp(Protocol):
    """The Medius service behind a lobby connection (MUIS, MAS or MLS)."""

    name: str

    def on_connect(self, conn: LobbyConnection, req: rtm.ClientConnectTcp) -> str | None:
        """Accept (None) or refuse (a reason) a CONNECT_TCP."""

    def on_ready(self, conn: LobbyConnection) -> None: ...

    def on_app(self, conn: LobbyConnection, payload: bytes) -> None: ...

    def on_close(self, conn: LobbyConnection, reason: str) -> None: ...


class Phase(enum.Enum):
    NEW = "new"
    KEYED = "keyed"
    CONNECTING = "connecting"  # CONNECT_TCP seen, 1.09+ handshake in progress
    READY = "ready"
    CLOSED = "closed"


class LobbyConnection:
    def __init__(
        self,
        app: LobbyApp,
        peer: tuple[str, int],
        local: tuple[str, int],
        *,
        rsa_key: RsaKey,
        rng: Callable[[int], bytes],
        wall_clock: Callable[[], float],
        now: float,
        timeouts: TimeoutSettings,
        scert_id: int = 0,
    ) -> None:
        self.app = app
        self.peer = peer
        self.local = local
        self.rng = rng
        self.wall_clock = wall_clock
        self.timeouts = timeouts
        self.scert_id = scert_id
        self.link = RtLink(
            service=app.name,
            peer=peer,
            cipher=FrameCipher(Suite.PS2, rsa_local=rsa_key),
            frame_log=FrameLogger(app.name),
            max_payload=LOBBY_MAX_FRAME,
        )
        self.outbox = self.link.outbox
        self.phase = Phase.NEW
        self.version = rtm.V108
        self.hello_seen = False
        self.encrypted: bool | None = None
        self.app_id = 0
        self.world_id = 0
        self.connect_req: rtm.ClientConnectTcp | None = None
        self.created = now
        self.last_rx = now
        self.next_echo: float | None = None
        self.session = None  # set by the Medius service (a lobby Session)
        self.close_reason: str | None = None
        self._game_key = b""

    # StreamProtocol --------------------------------------------------------------------------
    def data_received(self, data: bytes, now: float) -> None:
        self.last_rx = now
        for frame in self.link.frames_from(data):
            self._dispatch(frame, now)

    def next_deadline(self) -> float | None:
        if self.phase is Phase.CLOSED:
            return None
        deadlines = [self.last_rx + self.timeouts.client]
        if self.phase is not Phase.READY:
            deadlines.append(self.created + self.timeouts.handshake)
        if self.next_echo is not None:
            deadlines.append(self.next_echo)
        return min(deadlines)

    def on_timer(self, now: float) -> None:
        if self.phase is Phase.CLOSED:
            return
        if self.phase is not Phase.READY and now >= self.created + self.timeouts.handshake:
            self.disconnect("handshake not completed in time", rtm.DisconnectReason.TIMEOUT)
        elif now >= self.last_rx + self.timeouts.client:
            self.disconnect(f"no traffic for {self.timeouts.client:g} s", rtm.DisconnectReason.TIMEOUT)
        elif self.next_echo is not None and now >= self.next_echo:
            self._send_server_echo()
            self.next_echo = now + self.timeouts.server_echo

    def connection_lost(self, reason: str) -> None:
        if self.phase is Phase.CLOSED and self.close_reason is not None:
            reason = self.close_reason
        self.phase = Phase.CLOSED
        self.app.on_close(self, reason)

    # AppSink ---------------------------------------------------------------------------------
    def send_app(self, payload: bytes) -> None:
        if self.phase is Phase.CLOSED:
            return
        self.link.send_app_payload(RT.SERVER_APP, payload, fragment_app)

    def send_system_message(self, text: str) -> None:
        if self.phase is Phase.CLOSED:
            return
        msg = rtm.ServerSystemMessage(text=text.encode("latin-1", "replace").decode("latin-1"))
        self.link.send(RT.SERVER_SYSTEM_MESSAGE, msg.encode(self.version))

    def disconnect(self, reason: str, code: int = rtm.DisconnectReason.NONE) -> None:
        """Tell the client why (FORCED_DISCONNECT) and close once that is written."""
        if self.phase is Phase.CLOSED:
            return
        if self.phase is Phase.READY:
            self.link.send(
                RT.SERVER_FORCED_DISCONNECT, rtm.ServerForcedDisconnect(reason=code).encode(self.version)
            )
        self.phase = Phase.CLOSED
        self.close_reason = reason
        self.outbox.close(reason)

    @property
    def peer_label(self) -> str:
        return self.link.peer_label

    # handshake -------------------------------------------------------------------------------
    def _dispatch(self, f: Frame, now: float) -> None:
        if self.phase is Phase.CLOSED:
            return
        rid = f.id
        if rid == RT.CLIENT_HELLO:
            hello = rtm.ClientHello.decode(f.payload, self.version)
            self.version = hello.version
            self.hello_seen = True
            self.link.send(RT.SERVER_HELLO, rtm.ServerHello().encode(self.version), None)
        elif rid == RT.CLIENT_CRYPTKEY_PUBLIC:
            self._on_public(f)
        elif rid == RT.CLIENT_CONNECT_TCP:
            self._on_connect(f)
        elif rid == RT.CLIENT_CONNECT_READY_REQUIRE:
            self._require_phase(Phase.CONNECTING, f)
            self._send_keys_and_accept()
        elif rid == RT.CLIENT_CONNECT_READY_TCP:
            self._require_phase(Phase.CONNECTING, f)
            self._complete(now)
        elif rid == RT.CLIENT_ECHO:
            if self.phase is Phase.READY:
                self.link.send_repeated(RT.CLIENT_ECHO, f.payload)
            else:
                self.link.send(RT.CLIENT_ECHO, f.payload)
        elif rid == RT.SERVER_ECHO:
            pass  # the client returning our echo: liveness only
        elif rid == RT.CLIENT_APP_TOSERVER:
            if self.phase is not Phase.READY:
                raise ProtocolError(
                    f"{self.app.name}: Medius message before the connection was set up", data=f.payload
                )
            self.app.on_app(self, f.payload)
        elif rid in (RT.CLIENT_DISCONNECT, RT.CLIENT_DISCONNECT_WITH_REASON):
            self.phase = Phase.CLOSED
            self.close_reason = "client disconnected"
            self.outbox.close("client disconnected")
        elif rid == RT.SERVER_CHEAT_QUERY:
            pass  # answers to cheat queries we never send
        else:
            log.info(
                "%s %s: ignored %s (%d bytes)", self.app.name, self.peer_label, rt_name(rid), len(f.payload)
            )

    def _require_phase(self, phase: Phase, f: Frame) -> None:
        if self.phase is not phase:
            raise ProtocolError(f"{f.name} out of order (connection is {self.phase.value})", data=f.payload)

    def _on_public(self, f: Frame) -> None:
        if self.phase is not Phase.NEW:
            raise ProtocolError("second CRYPTKEY_PUBLIC", data=f.payload)
        pub = rtm.ClientCryptkeyPublic.decode(f.payload, self.version)
        self.encrypted = f.encrypted
        cipher = self.link.cipher
        k3 = self.rng(64)
        k1 = self.rng(64)
        cipher.set_key(Ctx.RC_CLIENT_SESSION, k3)
        cipher.set_key(Ctx.RC_SERVER_SESSION, k1)
        self._game_key = k1
        if self.encrypted:
            cipher.rsa_peer = pub.rsa_key()
            self.link.send(RT.SERVER_CRYPTKEY_PEER, k3, Ctx.RSA_AUTH)
            self.link.send_ctx = Ctx.RC_CLIENT_SESSION
        else:
            self.link.send(RT.SERVER_CRYPTKEY_PEER, k3, None)
            self.link.send_ctx = None
        self.phase = Phase.KEYED

    def _on_connect(self, f: Frame) -> None:
        if self.phase not in (Phase.NEW, Phase.KEYED):
            raise ProtocolError("CONNECT_TCP out of order", data=f.payload)
        if self.phase is Phase.NEW:  # no key exchange: a clear session
            self.encrypted = False
            self.link.send_ctx = None
            self._game_key = self.rng(64)
        req = rtm.ClientConnectTcp.decode(f.payload, self.version)
        self.connect_req = req
        self.app_id = req.app_id
        self.world_id = req.world_id
        refusal = self.app.on_connect(self, req)
        if refusal is not None:
            log.warning("%s %s: connection refused: %s", self.app.name, self.peer_label, refusal)
            self.phase = Phase.CLOSED
            self.close_reason = refusal
            self.outbox.close(refusal)
            return
        if rtm.is_v108(self.version):
            self._send_keys_and_accept()
            self._complete(None)
        else:
            self.phase = Phase.CONNECTING
            self.link.send(
                RT.SERVER_CONNECT_REQUIRE,
                rtm.ServerConnectRequire(req_server_password=2, max_packet_size=LOBBY_MAX_PACKET).encode(
                    self.version
                ),
            )

    def _send_keys_and_accept(self) -> None:
        v = self.version
        self.link.send(RT.SERVER_CRYPTKEY_GAME, self._game_key)
        accept = rtm.ServerConnectAcceptTcp(
            player_id=0, scert_id=self.scert_id, player_count=1, client_ip=self.peer[0]
        )
        self.link.send(RT.SERVER_CONNECT_ACCEPT_TCP, accept.encode(v))

    def _complete(self, now: float | None) -> None:
        self.link.send(
            RT.SERVER_CONNECT_COMPLETE, rtm.ServerConnectComplete(client_count=1).encode(self.version)
        )
        if not rtm.is_v108(self.version):
            self._send_server_echo()
            if now is not None:
                self.next_echo = now + self.timeouts.server_echo
        self.phase = Phase.READY
        self.app.on_ready(self)

    def _send_server_echo(self) -> None:
        t = self.wall_clock()
        echo = rtm.ServerEcho(unix_time=int(t) & 0xFFFFFFFF, microseconds=int((t % 1) * 1_000_000))
        self.link.send(RT.SERVER_ECHO, echo.encode(self.version))
