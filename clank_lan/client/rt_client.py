"""Client side of an RT connection (sans-IO), behaving as a PS2 of a chosen title does.

``RtClient`` plays the console's half of the handshakes in ``servers.lobby_conn`` (and, for the
DME, the TCP half of the aux-UDP connect): 1.08 without HELLO or 1.09+ with HELLO, encrypted with
a known client key pair (the server encrypts CRYPTKEY_PEER to our modulus) or entirely clear.
Events come out of ``feed``; the trio layer only moves bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from clank_lan.logs import FrameLogger
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import Frame, FrameCipher, Suite
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.rt_ids import RT
from clank_lan.servers.rt_link import RtLink


@dataclass(frozen=True)
class Connected:
    """The handshake finished (CONNECT_COMPLETE arrived)."""

    accept: rtm.ServerConnectAcceptTcp


@dataclass(frozen=True)
class AppMessage:
    """A Medius message from the server (SERVER_APP body)."""

    payload: bytes


@dataclass(frozen=True)
class OtherFrame:
    frame: Frame


@dataclass(frozen=True)
class Disconnected:
    reason: str


class RtClient:
    def __init__(
        self,
        *,
        service: str,
        peer: tuple[str, int],
        version: int,
        app_id: int,
        world_id: int = 0,
        encrypt: bool = True,
        client_key: RsaKey | None = None,
        server_key: RsaKey | None = None,
        session_key: str | None = None,
        access_token: str | None = None,
        aux_udp: bool = False,
        log_frames: bool = False,
    ) -> None:
        self.version = version
        self.app_id = app_id
        self.world_id = world_id
        self.encrypt = encrypt
        self.session_key = session_key
        self.access_token = access_token
        self.aux_udp = aux_udp
        self.client_key = client_key or keys.all_keys()["client_dl_ps2_ntsc"]
        cipher = FrameCipher(Suite.PS2, rsa_local=self.client_key)
        cipher.rsa_peer = server_key or keys.global_mas_key()
        self.link = RtLink(
            service=service,
            peer=peer,
            cipher=cipher,
            frame_log=FrameLogger(service if log_frames else "client"),
            recv_dir="recv",
            send_dir="send",
        )
        self.outbox = self.link.outbox
        self.connected = False
        self.accept: rtm.ServerConnectAcceptTcp | None = None
        self.game_key: bytes | None = None
        self.peer_keys: list[bytes] = []

    def start(self) -> None:
        """Queue the opening frames (HELLO for 1.09+, then CRYPTKEY_PUBLIC or CONNECT_TCP)."""
        if not rtm.is_v108(self.version):
            hello = rtm.ClientHello(params=(2, self.version, self.version - 1, 1, 1))
            self.link.send(RT.CLIENT_HELLO, hello.encode(self.version), None)
            return  # PUBLIC follows SERVER_HELLO
        self._send_public()

    def _send_public(self) -> None:
        modulus = self.client_key.modulus_le
        if self.encrypt:
            self.link.send(RT.CLIENT_CRYPTKEY_PUBLIC, modulus, Ctx.RSA_AUTH)
        else:
            self.link.send(RT.CLIENT_CRYPTKEY_PUBLIC, modulus, None)

    def _send_connect(self) -> None:
        cls = rtm.ClientConnectTcpAuxUdp if self.aux_udp else rtm.ClientConnectTcp
        msg = cls(
            world_id=self.world_id,
            app_id=self.app_id,
            key=bytes(64),
            session_key=self.session_key,
            access_token=self.access_token,
        )
        self.link.send(msg.RT_ID, msg.encode(self.version))

    def feed(self, data: bytes) -> list[object]:
        events: list[object] = []
        for f in self.link.frames_from(data):
            events.extend(self._on_frame(f))
        return events

    def _on_frame(self, f: Frame) -> list[object]:
        rid = f.id
        if rid == RT.SERVER_HELLO:
            self._send_public()
        elif rid == RT.SERVER_CRYPTKEY_PEER:
            if self.accept is None and not self.peer_keys:
                self.link.cipher.set_key(Ctx.RC_CLIENT_SESSION, f.payload)
                self.link.send_ctx = Ctx.RC_CLIENT_SESSION if self.encrypt else None
                self._send_connect()
            self.peer_keys.append(f.payload)
        elif rid == RT.SERVER_CONNECT_REQUIRE:
            self.link.send(
                RT.CLIENT_CONNECT_READY_REQUIRE, rtm.ClientConnectReadyRequire().encode(self.version)
            )
        elif rid == RT.SERVER_CRYPTKEY_GAME:
            self.game_key = f.payload
            self.link.cipher.set_key(Ctx.RC_SERVER_SESSION, f.payload)
        elif rid == RT.SERVER_CONNECT_ACCEPT_TCP:
            self.accept = rtm.ServerConnectAcceptTcp.decode(f.payload, self.version)
            if not rtm.is_v108(self.version):
                ready = rtm.ClientConnectReadyTcp(start_opt=0x0E, recv_flag=5 if self.aux_udp else 1)
                self.link.send(RT.CLIENT_CONNECT_READY_TCP, ready.encode(self.version))
        elif rid == RT.SERVER_CONNECT_COMPLETE:
            if self.accept is None:
                raise ProtocolError("CONNECT_COMPLETE before CONNECT_ACCEPT_TCP")
            self.connected = True
            return [Connected(self.accept)]
        elif rid == RT.SERVER_ECHO:
            self.link.send(RT.SERVER_ECHO, f.payload)
        elif rid == RT.SERVER_APP:
            return [AppMessage(f.payload)]
        elif rid == RT.SERVER_FORCED_DISCONNECT:
            reason = rtm.ServerForcedDisconnect.decode(f.payload, self.version).reason
            return [Disconnected(f"server forced disconnect (reason {reason})")]
        else:
            return [OtherFrame(f)]
        return []

    # sending ---------------------------------------------------------------------------------
    def send_app(self, payload: bytes) -> None:
        self.link.send(RT.CLIENT_APP_TOSERVER, payload)

    def echo(self) -> None:
        self.link.send(RT.CLIENT_ECHO, b"\xa5")

    def disconnect(self) -> None:
        self.link.send(RT.CLIENT_DISCONNECT_WITH_REASON, b"\x01")
