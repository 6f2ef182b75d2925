"""Client side of a lobby RT connection (sans-IO), behaving as a PS2 of a chosen title does.

The handshake is ``rt.endpoint``'s (role client): 1.08 without HELLO or 1.09+ with HELLO,
encrypted with a known client key pair (the server encrypts CRYPTKEY_PEER to our modulus) or
entirely clear. What stays here is the events the lobby client and the replay consume; the trio
layer only moves bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clank_lan.logs import FrameLogger
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import Frame
from clank_lan.protocol.rt_ids import RT
from clank_lan.rt.endpoint import AppFrame, Established, FrameIn, PeerClosed, Role, RtEndpoint, Variant


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
        key_exchange: bool = True,
        log_frames: bool = False,
        on_frame: Callable[[Frame], None] | None = None,
    ) -> None:
        self.version = version
        self.app_id = app_id
        self.world_id = world_id
        self.encrypt = encrypt
        self.session_key = session_key
        self.access_token = access_token
        self.aux_udp = aux_udp
        self.client_key = client_key or keys.all_keys()["client_dl_ps2_ntsc"]
        self.rt = RtEndpoint(
            Role.CLIENT,
            Variant.DME if aux_udp else Variant.LOBBY,
            service=service,
            peer=peer,
            rsa_local=self.client_key,
            rsa_peer=server_key or keys.global_mas_key(),
            version=version,
            encrypt=encrypt,
            key_exchange=key_exchange,
            frame_log=FrameLogger(service if log_frames else "client"),
        )
        self.rt.connect_fields = dict(
            world_id=world_id,
            app_id=app_id,
            key=bytes(64),
            session_key=session_key,
            access_token=access_token,
        )
        self.rt.on_frame = on_frame
        self.link = self.rt.link
        self.outbox = self.rt.outbox

    @property
    def connected(self) -> bool:
        return self.rt.ready

    @property
    def accept(self) -> rtm.ServerConnectAcceptTcp | None:
        return self.rt.accept_msg

    @property
    def game_key(self) -> bytes | None:
        return self.rt.keys.game_key

    @property
    def peer_keys(self) -> list[bytes]:
        return self.rt.keys.peer_keys

    def start(self) -> None:
        """Queue the opening frames (HELLO for 1.09+, then CRYPTKEY_PUBLIC, or CONNECT_TCP when
        ``key_exchange`` is off, as tools that talk clear do)."""
        self.rt.start()

    def feed(self, data: bytes) -> list[object]:
        events: list[object] = []
        for ev in self.rt.receive(data):
            if isinstance(ev, Established):
                events.append(Connected(ev.accept))
            elif isinstance(ev, AppFrame):
                events.append(AppMessage(ev.frame.payload))
            elif isinstance(ev, PeerClosed):
                events.append(Disconnected(ev.reason))
            elif isinstance(ev, FrameIn):
                events.append(OtherFrame(ev.frame))
        return events

    # sending ---------------------------------------------------------------------------------
    def send_app(self, payload: bytes) -> None:
        self.link.send(RT.CLIENT_APP_TOSERVER, payload)

    def echo(self) -> None:
        self.link.send(RT.CLIENT_ECHO, b"\xa5")

    def disconnect(self) -> None:
        """Say goodbye as the title does: 1.08 (UYA) sends CLIENT_DISCONNECT, empty and in clear
        (uya-pal-login, last frame); 1.09+ sends DISCONNECT_WITH_REASON 1 (b41)."""
        if self.rt.v108:
            self.link.send(RT.CLIENT_DISCONNECT, b"", None)
        else:
            self.link.send(RT.CLIENT_DISCONNECT_WITH_REASON, b"\x01")
