"""Server side of an RT connection to MUIS, MAS or MLS (sans-IO): the Medius layer's seat.

The handshake is ``rt.endpoint``'s (role server, variant lobby); what stays here is the
connection's life: timeouts, SERVER_ECHO on 1.09+, and handing CONNECT, readiness and Medius
messages to the ``LobbyApp`` (MUIS, MAS or MLS), each with the ``now`` it happened at.

Only whole frames count as traffic, and a frame must arrive whole within ``rt.link.FRAME_DEADLINE``:
a peer dribbling bytes cannot hold a connection. What a peer gets refused or ignored for is
logged through the service's ``Refusals`` (a bounded number of lines per address).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from clank_lan import limit_hits as lh
from clank_lan.config import TimeoutSettings
from clank_lan.logs import FrameLogger
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.medius import fragment_app
from clank_lan.protocol.rt_ids import RT, rt_name
from clank_lan.rt import link as rt_link
from clank_lan.rt.endpoint import (
    AppFrame,
    CompleteRequest,
    ConnectRequest,
    FrameIn,
    PeerClosed,
    Phase,
    Role,
    RtEndpoint,
    Variant,
)
from clank_lan.titles import Quirk, Title

__all__ = ["LOBBY_MAX_FRAME", "LobbyApp", "LobbyConnection", "Phase"]

log = logging.getLogger("clank_lan.lobby")

LOBBY_MAX_FRAME = 16 * 1024
#: Seconds of keepalive-only input after which a console counts as idle: its next input may then
#: wait up to ``servers.tcp.POLL_INTERVAL`` (once; a console browsing the lobby is never made to).
IDLE_AFTER = 3.0


class LobbyApp(Protocol):
    """The Medius service behind a lobby connection (MUIS, MAS or MLS)."""

    name: str

    def on_connect(self, conn: LobbyConnection, req: rtm.ClientConnectTcp, now: float) -> str | None:
        """Accept (None) or refuse (a reason) a CONNECT_TCP."""

    def on_ready(self, conn: LobbyConnection, now: float) -> None: ...

    def on_app(self, conn: LobbyConnection, payload: bytes, now: float) -> None: ...

    def on_close(self, conn: LobbyConnection, reason: str, now: float) -> None: ...


class LobbyConnection:
    #: A due turn of the DME's UDP pump runs before this connection's input (``servers.tcp.
    #: RelayTurn``): a console's login may take a millisecond longer, a game's frames must not.
    yields_to_relay = True

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
        refusals: lh.Refusals | None = None,
        shared_key: bytes = b"",
        frame_cache: rt_link.FrameCache | None = None,
    ) -> None:
        self.app = app
        self.peer = peer
        self.local = local
        self.rng = rng
        self.wall_clock = wall_clock
        self.timeouts = timeouts
        self.scert_id = scert_id
        self.refusals = refusals if refusals is not None else lh.Refusals(log)
        #: The GAME key (context 1) every connection of this service gets, so that a broadcast is
        #: encrypted once for all its receivers (``send_app``); empty: a fresh key per connection.
        self.shared_key = shared_key
        self.rt = RtEndpoint(
            Role.SERVER,
            Variant.LOBBY,
            service=app.name,
            peer=peer,
            rsa_local=rsa_key,
            rng=rng,
            frame_log=FrameLogger(app.name),
            max_payload=LOBBY_MAX_FRAME,
            frame_cache=frame_cache,
        )
        self.link = self.rt.link
        self.outbox = self.rt.outbox
        self.app_id = 0
        self.world_id = 0
        self.connect_req: rtm.ClientConnectTcp | None = None
        self.created = now
        self.last_rx = now
        self.now = now  # the latest time this connection was told
        self.next_echo: float | None = None
        self.session = None  # set by the Medius service (a lobby Session)
        self.title: Title | None = None  # resolved once, by the Medius service on CONNECT
        #: The console has sent nothing but keepalive echoes for ``IDLE_AFTER`` seconds: its next
        #: input may wait for the TCP shell's poll (``servers.tcp.POLL_INTERVAL``) instead of
        #: waking the loop at once. Any other input ends that until it is idle again.
        self.input_can_wait = False
        self.last_request = now

    @property
    def phase(self) -> Phase:
        return self.rt.phase

    @property
    def version(self) -> int:
        return self.rt.version

    @property
    def encrypted(self) -> bool | None:
        return self.rt.encrypted

    @property
    def hello_seen(self) -> bool:
        return self.rt.hello_seen

    @property
    def handshaking(self) -> bool:
        """Still in the RT handshake (the shell's ``HandshakeGate`` slot is held until not)."""
        return self.rt.phase is not Phase.READY and self.rt.phase is not Phase.CLOSED

    @property
    def close_reason(self) -> str | None:
        return self.rt.close_reason

    # StreamProtocol --------------------------------------------------------------------------
    def data_received(self, data: bytes, now: float) -> None:
        self.now = now
        if self.rt.receive_echo(data):  # an idle console's keepalive: the short way
            self.last_rx = now
            self.input_can_wait = now - self.last_request >= IDLE_AFTER
            return
        self.input_can_wait = False
        self.last_request = now
        before = self.link.frames_in
        for ev in self.rt.receive(data):
            if isinstance(ev, AppFrame):
                self.app.on_app(self, ev.frame.payload, now)
            elif isinstance(ev, ConnectRequest):
                self._on_connect(ev.req, now)  # type: ignore[arg-type]
            elif isinstance(ev, CompleteRequest):
                self._complete(now)
            elif isinstance(ev, PeerClosed):
                self.rt.close(ev.reason)
            elif isinstance(ev, FrameIn) and ev.frame.id != RT.SERVER_CHEAT_QUERY:
                # (answers to cheat queries we never send are dropped without a word)
                f = ev.frame
                self.refusals(
                    None,
                    self.peer[0],
                    now,
                    f"{self.app.name} {self.peer_label}: ignored {rt_name(f.id)} ({len(f.payload)} bytes)",
                )
        if self.link.progress(before, now):
            self.last_rx = now

    def next_deadline(self) -> float | None:
        phase = self.rt.phase
        if phase is Phase.READY and self.next_echo is None and self.link.partial_since is None:
            return self.last_rx + self.timeouts.client  # (every frame asks: the short way)
        if phase is Phase.CLOSED:
            return None
        deadlines = [self.last_rx + self.timeouts.client]
        if self.phase is not Phase.READY:
            deadlines.append(self.created + self.timeouts.handshake)
        if self.next_echo is not None:
            deadlines.append(self.next_echo)
        frame_due = self.link.frame_deadline()
        if frame_due is not None:
            deadlines.append(frame_due)
        return min(deadlines)

    def on_timer(self, now: float) -> None:
        self.now = now
        if self.phase is Phase.CLOSED:
            return
        frame_due = self.link.frame_deadline()
        if frame_due is not None and now >= frame_due:
            why = f"a frame did not arrive whole within {rt_link.FRAME_DEADLINE:g} s"
            self._drop(lh.UNFINISHED_FRAME, why, now)
        elif self.phase is not Phase.READY and now >= self.created + self.timeouts.handshake:
            self._drop(lh.HANDSHAKE_TIMEOUT, "handshake not completed in time", now)
        elif now >= self.last_rx + self.timeouts.client:
            self.disconnect(f"no traffic for {self.timeouts.client:g} s", rtm.DisconnectReason.TIMEOUT)
        elif self.next_echo is not None and now >= self.next_echo:
            self.rt.send_server_echo(self.wall_clock())
            self.next_echo = now + self.timeouts.server_echo

    def connection_lost(self, reason: str, now: float) -> None:
        """The shell closed the connection at ``now``."""
        self.now = now
        if self.phase is Phase.CLOSED and self.close_reason is not None:
            reason = self.close_reason
        self.rt.phase = Phase.CLOSED
        self.app.on_close(self, reason, now)

    # AppSink ---------------------------------------------------------------------------------
    def send_app(self, payload: bytes, shared: bool = False) -> None:
        """Queue a Medius message. ``shared``: the same message goes to many consoles (a channel's
        chat line): it is sent under the service's shared key (context 1, as Sony's UYA servers
        sent SERVER_APP), so the service's ``FrameCache`` encrypts it once for every receiver, and
        it may wait up to ``rt.outbox.LATER`` for company (one write for the lines of a busy
        channel, not one each). Everything else stays under the connection's own key and is
        written at once."""
        if self.phase is Phase.CLOSED:
            return
        ctx: int | bool = True
        if shared and self.shared_key and self.link.send_ctx is not None and self.link.keys.game_key:
            ctx = Ctx.RC_SERVER_SESSION
        self.link.send_app_payload(RT.SERVER_APP, payload, fragment_app, ctx, later=shared)

    def send_system_message(self, text: str) -> None:
        msg = rtm.ServerSystemMessage(text=text.encode("latin-1", "replace").decode("latin-1"))
        self.rt.send(RT.SERVER_SYSTEM_MESSAGE, msg.encode(self.version))

    def defer(self, work: Callable[[], Any], done: Callable[[Any, float], None]) -> None:
        """``work()`` off the event loop (a password hash), then ``done(result, now)`` back here;
        never called once the connection is gone."""

        def back(result: Any, now: float) -> None:
            self.now = now
            if self.phase is not Phase.CLOSED:
                done(result, now)

        self.outbox.defer(work, back)

    def disconnect(self, reason: str, code: int = rtm.DisconnectReason.NONE) -> None:
        """Tell the client why (FORCED_DISCONNECT) and close once that is written."""
        self.rt.close(reason, code)

    @property
    def peer_label(self) -> str:
        return self.link.peer_label

    def _drop(self, limit: str, reason: str, now: float) -> None:
        """End a connection that broke a deadline, saying so (rate-limited) at info."""
        self.refusals(limit, self.peer[0], now, f"{self.app.name} {self.peer_label}: dropped: {reason}")
        self.disconnect(reason, rtm.DisconnectReason.TIMEOUT)

    # the application's half of the handshake ---------------------------------------------------
    def _on_connect(self, req: rtm.ClientConnectTcp, now: float) -> None:
        self.connect_req = req
        self.app_id = req.app_id
        self.world_id = req.world_id
        refusal = self.app.on_connect(self, req, now)
        if refusal is not None:
            self.refusals(
                None,
                self.peer[0],
                now,
                f"{self.app.name} {self.peer_label}: connection refused: {refusal}",
                level=logging.WARNING,
            )
            self.rt.close(refusal)
            return
        self.rt.accept_connect(self._accept_message, game_key=self.shared_key)

    def _accept_message(self) -> rtm.ServerConnectAcceptTcp:
        return rtm.ServerConnectAcceptTcp(
            player_id=0, scert_id=self.scert_id, player_count=1, client_ip=self.peer[0]
        )

    def _complete(self, now: float) -> None:
        quiet = self.rt.v108 and self.title is not None and Quirk.NO_CONNECT_COMPLETE in self.title.quirks
        self.rt.complete(client_count=1, send=not quiet)
        if not self.rt.v108:
            self.rt.send_server_echo(self.wall_clock())
            self.next_echo = now + self.timeouts.server_echo
        self.app.on_ready(self, now)
