"""The DME side of the headless client: a console joining a game world over TCP and aux UDP.

``DmeClientCore`` is sans-IO and plays the console's half of the DME handshake in ``rt.endpoint`` (1.08
without HELLO, 1.09+ with it; encrypted with a known client key pair, or clear). After the lobby's
JoinGame it needs a ``DmeParams``. Bytes go in through ``feed_tcp``/``feed_udp``; what to send is
in ``outbox`` (TCP) and ``udp_out`` (datagrams for ``udp_server``). ``connect_dme`` is the trio
shell: it also asks the NAT service for the public UDP endpoint first, as a console does.

App frames are sent the way the consoles do: UYA encrypts them under the world key (context 3,
the second CRYPTKEY_PEER), Deadlocked flags them with a null hash; the index or mask in front
stays clear (``dme.wire``). Received relays are opened the same way.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from clank_lan.dme import wire
from clank_lan.logs import FrameLogger
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import CryptoError, Frame
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import RawFrame, split_datagram
from clank_lan.protocol.rt_ids import RT
from clank_lan.rt.endpoint import (
    AppFrame,
    AuxUdpInfo,
    Established,
    FrameIn,
    PeerClosed,
    RawApp,
    Role,
    RtEndpoint,
    Variant,
)
from clank_lan.servers import nat

log = logging.getLogger("clank_lan.client.dme")

UDP_CONNECT_RETRY = 0.5
UDP_CONNECT_TRIES = 10
#: What Deadlocked asks for in CONNECT_READY_TCP, and then with SET_RECV_FLAG.
READY_TCP_RECV_FLAG = 5
ALL_RECV_FLAGS = 0x0F


@dataclass(frozen=True)
class DmeParams:
    """What the lobby's JoinGame hands a console for its DME connection."""

    host: str
    tcp_port: int
    world_id: int
    access_key: str
    session_key: str
    version: int
    encrypt: bool
    app_id: int
    nat: tuple[str, int] | None = None


# --- events -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Joined:
    """CONNECT_COMPLETE: we are in the world."""

    index: int
    player_count: int
    scert_id: int
    client_ip: str


@dataclass(frozen=True, slots=True)
class AppReceived:
    """A relayed app message (always APP_SINGLE from the server, ``source`` = sender's index)."""

    source: int
    payload: bytes
    udp: bool
    encrypted: bool


@dataclass(frozen=True, slots=True)
class UdpAccepted:
    public_ip: str
    public_port: int


@dataclass(frozen=True, slots=True)
class PeerConnected:
    index: int
    ip: str


@dataclass(frozen=True, slots=True)
class PeerDisconnected:
    index: int
    ip: str


@dataclass(frozen=True, slots=True)
class EchoReturned:
    value: int
    udp: bool


@dataclass(frozen=True, slots=True)
class TimebaseAnswer:
    client_time: int
    server_time: int


@dataclass(frozen=True, slots=True)
class ServerVersion:
    text: str


@dataclass(frozen=True, slots=True)
class ServerMessage:
    payload: bytes


@dataclass(frozen=True, slots=True)
class ForcedDisconnect:
    reason: int


@dataclass(frozen=True, slots=True)
class OtherFrame:
    frame: Frame
    udp: bool


class DmeConnectError(Exception):
    """The DME closed the connection before the handshake completed (refused, or it failed)."""


class DmeClientCore:
    def __init__(
        self,
        params: DmeParams,
        *,
        client_key: RsaKey | None = None,
        server_key: RsaKey | None = None,
        recv_flags: int = ALL_RECV_FLAGS,
        agg_time_ms: int | None = None,
        app_crypt: str = "auto",
        key_exchange: bool = True,
        log_frames: bool = False,
    ) -> None:
        self.params = params
        self.version = params.version
        self.v108 = rtm.is_v108(params.version)
        default_key = "client_uya_ps2_ntsc" if self.v108 else "client_dl_ps2_ntsc"
        self.rt = RtEndpoint(
            Role.CLIENT,
            Variant.DME,
            service="DMECLIENT",
            peer=(params.host, params.tcp_port),
            rsa_local=client_key or keys.all_keys()[default_key],
            rsa_peer=server_key or keys.global_mas_key(),
            version=params.version,
            encrypt=params.encrypt,
            key_exchange=key_exchange,
            frame_log=FrameLogger("DMECLIENT" if log_frames else "client"),
        )
        self.rt.connect_fields = dict(
            world_id=params.world_id,
            app_id=params.app_id,
            session_key=params.session_key,
            access_token=params.access_key,
        )
        self.link = self.rt.link
        self.outbox = self.rt.outbox
        self.udp_out: list[bytes] = []
        self.udp_server: tuple[str, int] | None = None
        if app_crypt == "auto":
            app_crypt = ("encrypted" if self.v108 else "null") if params.encrypt else "clear"
        if app_crypt not in ("encrypted", "null", "clear"):
            raise ValueError(f"app_crypt must be auto, encrypted, null or clear, not {app_crypt!r}")
        self.app_crypt = app_crypt
        self.recv_flags = recv_flags
        self.agg_time_ms = agg_time_ms
        self.udp_accept: rtm.ServerConnectAcceptAuxUdp | None = None
        self.closed = False
        self.undecryptable = 0
        self._udp_connect_frame: bytes | None = None
        self._udp_retry_at: float | None = None
        self._udp_tries = 0
        self._ready_aux_sent = False

    @property
    def accept(self) -> rtm.ServerConnectAcceptTcp | None:
        return self.rt.accept_msg

    @property
    def joined(self) -> bool:
        return self.rt.ready

    @property
    def peer_keys(self) -> list[bytes]:
        return self.rt.keys.peer_keys

    @property
    def game_key(self) -> bytes | None:
        return self.rt.keys.game_key

    @property
    def index(self) -> int | None:
        return self.accept.player_id if self.accept is not None else None

    # --- handshake --------------------------------------------------------------------------------
    def start(self) -> None:
        """Queue the opening frames: HELLO (1.09+), else CRYPTKEY_PUBLIC (or CONNECT in clear)."""
        self.rt.start()

    def feed_tcp(self, data: bytes, now: float) -> list[object]:
        events: list[object] = []
        for ev in self.rt.receive(data):
            if isinstance(ev, RawApp):
                relayed = self._open_relay(ev.raw, udp=False)
                if relayed is not None:
                    events.append(relayed)
            elif isinstance(ev, FrameIn):
                events.extend(self._on_tcp(ev.frame))
            elif isinstance(ev, AppFrame):
                text = wire.parse_server_version(ev.frame.payload)
                events.append(ServerVersion(text) if text is not None else ServerMessage(ev.frame.payload))
            elif isinstance(ev, AuxUdpInfo):
                self.udp_server = (ev.ip, ev.port)
                self._start_udp_connect(now)
            elif isinstance(ev, Established):
                self._udp_retry_at = None
                self._after_complete()
                a = ev.accept
                events.append(Joined(a.player_id, a.player_count, a.scert_id, a.client_ip))
            elif isinstance(ev, PeerClosed) and ev.code is not None:
                events.append(ForcedDisconnect(ev.code))
        return events

    def _on_tcp(self, f: Frame) -> list[object]:
        rid = f.id
        v = self.version
        if rid == RT.CLIENT_ECHO:
            return [EchoReturned(f.payload[0] if f.payload else 0, False)]
        if rid == RT.SERVER_TIMEBASE_QUERY_NOTIFY:
            t = rtm.ServerTimebaseQueryNotify.decode(f.payload, v)
            return [TimebaseAnswer(t.client_time, t.server_time)]
        if rid == RT.SERVER_CONNECT_NOTIFY:
            n = rtm.ServerConnectNotify.decode(f.payload, v)
            return [PeerConnected(n.player_index, n.ip)]
        if rid == RT.SERVER_DISCONNECT_NOTIFY:
            d = rtm.ServerDisconnectNotify.decode(f.payload, v)
            return [PeerDisconnected(d.player_index, d.ip)]
        return [OtherFrame(f, False)]

    def _start_udp_connect(self, now: float) -> None:
        assert self.accept is not None and self.udp_server is not None
        msg = rtm.ClientConnectAuxUdp(
            world_id=self.params.world_id,
            app_id=self.params.app_id,
            server_ip=self.udp_server[0],
            port=self.params.tcp_port,  # consoles put the DME's TCP port here
            player_id=self.accept.player_id,
            scert_id=self.accept.scert_id & 0xFFFF,
        )
        self._udp_connect_frame = self._encode_udp(RT.CLIENT_CONNECT_AUX_UDP, msg.encode(self.version))
        copies = 1 if self.v108 else 2  # Deadlocked sends it twice, UYA once
        self.udp_out.extend([self._udp_connect_frame] * copies)
        self._udp_tries = 1
        self._udp_retry_at = now + UDP_CONNECT_RETRY

    def _after_complete(self) -> None:
        v = self.version
        flags = rtm.ClientSetRecvFlag(flags=1) if self.v108 else rtm.ClientSetRecvFlag(flags=self.recv_flags)
        self.link.send(RT.CLIENT_SET_RECV_FLAG, flags.encode(v))
        if self.agg_time_ms is not None:
            self.link.send(
                RT.CLIENT_SET_AGG_TIME, rtm.ClientSetAggTime(agg_time_ms=self.agg_time_ms).encode(v)
            )

    def next_deadline(self) -> float | None:
        return self._udp_retry_at

    def on_timer(self, now: float) -> None:
        """Send the UDP connect again while no accept has come back."""
        if self._udp_retry_at is None or now < self._udp_retry_at or self._udp_connect_frame is None:
            return
        if self.udp_accept is not None or self._udp_tries >= UDP_CONNECT_TRIES:
            self._udp_retry_at = None
            return
        self.udp_out.append(self._udp_connect_frame)
        self._udp_tries += 1
        self._udp_retry_at = now + UDP_CONNECT_RETRY

    # --- UDP --------------------------------------------------------------------------------------
    def _encode_udp(self, rt_id: int, payload: bytes) -> bytes:
        return self.link.encode(rt_id, payload, True, extra="udp")

    def feed_udp(self, data: bytes, now: float) -> list[object]:
        events: list[object] = []
        try:
            frames = split_datagram(data)
        except ProtocolError as exc:
            log.info("DME client: bad datagram from the DME: %s", exc)
            return events
        for raw in frames:
            if raw.id == wire.SINGLE:
                ev = self._open_relay(raw, udp=True)
                if ev is not None:
                    events.append(ev)
                continue
            try:
                f = self.link.open(raw, extra="udp")
            except CryptoError as exc:
                self.undecryptable += 1
                log.info("DME client: undecryptable %s over UDP: %s", raw.name, exc.reason)
                continue
            if f.id == RT.SERVER_CONNECT_ACCEPT_AUX_UDP:
                first = self.udp_accept is None
                self.udp_accept = rtm.ServerConnectAcceptAuxUdp.decode(f.payload, self.version)
                if first:
                    events.append(UdpAccepted(self.udp_accept.client_ip, self.udp_accept.client_port))
                if not self._ready_aux_sent:
                    self._ready_aux_sent = True
                    self.link.send(RT.CLIENT_CONNECT_READY_AUX_UDP, b"")
            elif f.id == RT.CLIENT_ECHO:
                events.append(EchoReturned(f.payload[0] if f.payload else 0, True))
            elif f.id == RT.SERVER_TIMEBASE_QUERY_NOTIFY:
                t = rtm.ServerTimebaseQueryNotify.decode(f.payload, self.version)
                events.append(TimebaseAnswer(t.client_time, t.server_time))
            else:
                events.append(OtherFrame(f, True))
        return events

    def _open_relay(self, raw: RawFrame, udp: bool) -> AppReceived | None:
        try:
            head, body, enc = wire.open_app(self.link.cipher, raw)
        except CryptoError as exc:
            self.undecryptable += 1
            log.info("DME client: undecryptable relayed frame: %s", exc.reason)
            return None
        if len(head) < 2:
            self.undecryptable += 1
            return None
        return AppReceived(int.from_bytes(head, "little", signed=True), body, udp, enc)

    # --- sending ----------------------------------------------------------------------------------
    def _send_app(self, rt_id: int, head: bytes, body: bytes, udp: bool) -> None:
        frame = wire.seal_app(self.link.cipher, rt_id, head, body, self.app_crypt)
        if udp:
            self.udp_out.append(frame)
        else:
            self.outbox.push(frame)

    def send_broadcast(self, payload: bytes, udp: bool = False) -> None:
        self._send_app(wire.BROADCAST, b"", payload, udp)

    def send_single(self, target: int, payload: bytes, udp: bool = False) -> None:
        self._send_app(wire.SINGLE, struct.pack("<h", target), payload, udp)

    def send_list(self, targets: Iterable[int], payload: bytes, udp: bool = False) -> None:
        msg = rtm.ClientAppList.to(targets, b"")
        self._send_app(wire.LIST, bytes((len(msg.mask),)) + msg.mask, payload, udp)

    def echo(self, udp: bool = False, value: int = 0xA5) -> None:
        if udp:
            self.udp_out.append(self._encode_udp(RT.CLIENT_ECHO, bytes((value,))))
        else:
            self.link.send(RT.CLIENT_ECHO, bytes((value,)))

    def flush_all(self, udp: bool = False) -> None:
        """CLIENT_FLUSH_ALL: ask the DME to deliver what we sent without waiting (UYA does this)."""
        if udp:
            self.udp_out.append(self._encode_udp(RT.CLIENT_FLUSH_ALL, b""))
        else:
            self.link.send(RT.CLIENT_FLUSH_ALL, b"")

    def timebase_query(self, client_time_ms: int) -> None:
        q = rtm.ClientTimebaseQuery(client_time=client_time_ms & 0xFFFFFFFF)
        self.link.send(RT.CLIENT_TIMEBASE_QUERY, q.encode(self.version))

    def set_recv_flag(self, flags: int) -> None:
        self.recv_flags = flags
        self.link.send(RT.CLIENT_SET_RECV_FLAG, rtm.ClientSetRecvFlag(flags=flags).encode(self.version))

    def set_agg_time(self, ms: int) -> None:
        self.link.send(RT.CLIENT_SET_AGG_TIME, rtm.ClientSetAggTime(agg_time_ms=ms).encode(self.version))

    def disconnect(self) -> None:
        if not self.closed:
            self.closed = True
            self.link.send(
                RT.CLIENT_DISCONNECT_WITH_REASON, rtm.ClientDisconnectWithReason().encode(self.version)
            )


# === trio shell =======================================================================================
class DmeClient:
    """A DME client over real sockets; create with ``connect_dme``."""

    def __init__(
        self, core: DmeClientCore, stream: trio.SocketStream, udp: trio.socket.SocketType, event_capacity: int
    ) -> None:
        self.core = core
        self.stream = stream
        self.udp = udp
        self._send_ev, self.events = trio.open_memory_channel[object](event_capacity)
        self.events_dropped = 0
        self.joined = trio.Event()
        self.settled = trio.Event()  # joined, or the TCP connection ended
        self.join_info: Joined | None = None
        self.nat_endpoint: tuple[str, int] | None = None
        self._nat_event = trio.Event()
        self._wake = trio.Event()
        self.closed_reason: str | None = None
        self._ended = False  # the TCP connection is over and ``events`` closed
        core.outbox.notify = self.kick

    @property
    def index(self) -> int | None:
        return self.core.index

    def kick(self) -> None:
        self._wake.set()

    def send_broadcast(self, payload: bytes, udp: bool = False) -> None:
        self.core.send_broadcast(payload, udp)
        self.kick()

    def send_single(self, target: int, payload: bytes, udp: bool = False) -> None:
        self.core.send_single(target, payload, udp)
        self.kick()

    def send_list(self, targets: Iterable[int], payload: bytes, udp: bool = False) -> None:
        self.core.send_list(targets, payload, udp)
        self.kick()

    def echo(self, udp: bool = False) -> None:
        self.core.echo(udp)
        self.kick()

    def timebase_query(self, client_time_ms: int) -> None:
        self.core.timebase_query(client_time_ms)
        self.kick()

    def set_recv_flag(self, flags: int) -> None:
        self.core.set_recv_flag(flags)
        self.kick()

    def set_agg_time(self, ms: int) -> None:
        self.core.set_agg_time(ms)
        self.kick()

    async def next_event(self, timeout: float = 5.0) -> object:
        with trio.fail_after(timeout):
            return await self.events.receive()

    def _emit(self, events: list[object]) -> None:
        """Hand events to ``events``; after the TCP connection ended (the channel is closed)
        what still comes in over UDP is dropped, not raised into the UDP reader."""
        if self._ended:
            self.events_dropped += len(events)
            return
        for ev in events:
            if isinstance(ev, Joined):
                self.join_info = ev
                self.joined.set()
                self.settled.set()
            try:
                self._send_ev.send_nowait(ev)
            except trio.WouldBlock:
                self.events_dropped += 1

    async def _tcp_reader(self) -> None:
        try:
            while True:
                data = await self.stream.receive_some(65536)
                if not data:
                    self.closed_reason = "server closed the connection"
                    break
                self._emit(self.core.feed_tcp(data, trio.current_time()))
                self.kick()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ProtocolError) as exc:
            self.closed_reason = f"TCP: {exc}"
        self.settled.set()
        self._ended = True
        self._send_ev.close()

    async def _udp_reader(self) -> None:
        while True:
            try:
                data, addr = await self.udp.recvfrom(65536)
            except (ConnectionResetError, ConnectionRefusedError):
                continue
            addr = addr[:2]
            if self.core.params.nat is not None and addr == self._nat_addr and len(data) == nat.REPLY_LEN:
                self.nat_endpoint = nat.decode_reply(data)
                self._nat_event.set()
                continue
            if self.core.udp_server is None or addr != self._udp_server_addr:
                continue
            self._emit(self.core.feed_udp(data, trio.current_time()))
            self.kick()

    async def _writer(self) -> None:
        core = self.core
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            data = core.outbox.take()
            if data:
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self.closed_reason = self.closed_reason or f"TCP: {exc}"
                    self.settled.set()
                    return
            if core.udp_out and core.udp_server is not None:
                out, core.udp_out = core.udp_out, []
                for d in out:
                    try:
                        await self.udp.sendto(d, self._udp_server_addr)
                    except OSError as exc:
                        log.debug("DME client: UDP send failed: %s", exc)

    async def _timer(self) -> None:
        core = self.core
        while True:
            deadline = core.next_deadline()
            await trio.sleep_until(deadline if deadline is not None else trio.current_time() + 0.25)
            if deadline is not None:
                core.on_timer(trio.current_time())
                self.kick()

    @property
    def _udp_server_addr(self) -> tuple[str, int]:
        assert self.core.udp_server is not None
        host, port = self.core.udp_server
        if host in ("", "0.0.0.0"):
            host = self.core.params.host
        return (host, port)

    @property
    def _nat_addr(self) -> tuple[str, int] | None:
        return self.core.params.nat

    async def query_nat(self, timeout: float = 2.0) -> tuple[str, int] | None:
        """Ask the NAT service which endpoint our UDP socket has (retried every 0.5 s)."""
        nat_addr = self.core.params.nat
        if nat_addr is None:
            return None
        with trio.move_on_after(timeout):
            while not self._nat_event.is_set():
                await self.udp.sendto(nat.UYA_REQUEST, nat_addr)
                with trio.move_on_after(0.5):
                    await self._nat_event.wait()
        return self.nat_endpoint


@asynccontextmanager
async def connect_dme(
    params: DmeParams,
    *,
    timeout: float = 10.0,
    local_ip: str = "0.0.0.0",
    event_capacity: int = 100_000,
    wait_joined: bool = True,
    **core_options,
) -> AsyncIterator[DmeClient]:
    """Connect to a DME (NAT query, TCP + UDP handshake) and yield the joined ``DmeClient``.

    Leaving the block sends DISCONNECT_WITH_REASON and closes both sockets.
    """
    core = DmeClientCore(params, **core_options)
    udp = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    try:
        await udp.bind((local_ip, 0))
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(params.host, params.tcp_port)
        failure: DmeConnectError | None = None
        try:
            client = DmeClient(core, stream, udp, event_capacity)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client._udp_reader)
                nursery.start_soon(client._writer)
                nursery.start_soon(client._timer)
                try:
                    if params.nat is not None:
                        await client.query_nat()
                    nursery.start_soon(client._tcp_reader)
                    core.start()
                    client.kick()
                    if wait_joined:
                        with trio.fail_after(timeout):
                            await client.settled.wait()
                    if wait_joined and not client.joined.is_set():
                        failure = DmeConnectError(client.closed_reason or "connection closed before joining")
                    else:
                        yield client
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(1.0):
                    if not core.closed:
                        core.disconnect()
                        pending = core.outbox.take()
                        if pending:
                            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                                await stream.send_all(pending)
                await stream.aclose()
    finally:
        udp.close()
    if failure is not None:
        raise failure
