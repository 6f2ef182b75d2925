"""Sans-IO DME harness (server manager + headless client cores wired in memory) and the
handshake tests of both RT versions, encrypted and clear.

Other ``test_dme_*`` modules import ``Net``/``Player``/``FakeClock`` from here.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import pytest

from clank_lan.client.dme_client import (
    AppReceived,
    DmeClientCore,
    DmeParams,
    Joined,
    ServerVersion,
    UdpAccepted,
)
from clank_lan.config import TimeoutSettings
from clank_lan.dme import DmeEvents, DmeManager, wire
from clank_lan.dme.conn import DmeConnection, Phase
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.framing import RawFrame, TcpDeframer, split_datagram
from clank_lan.protocol.rt_ids import RT

APP_UYA = 10684
APP_DL = 11184
DME_IP = "10.0.0.1"
DME_TCP = 10079
DME_UDP = 50000


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Recorder:
    """The lobby's side of the callbacks."""

    connected: list[tuple] = field(default_factory=list)
    left: list[tuple] = field(default_factory=list)
    removed: list[tuple] = field(default_factory=list)
    #: The ``now`` of every callback, in order (each list above holds the other arguments).
    times: list[float] = field(default_factory=list)

    def events(self) -> DmeEvents:
        def into(record: list[tuple]):
            def callback(*args) -> None:
                record.append(args[:-1])
                self.times.append(args[-1])

            return callback

        return DmeEvents(
            on_player_connected=into(self.connected),
            on_player_left=into(self.left),
            on_world_removed=into(self.removed),
        )


@dataclass(eq=False)
class Player:
    core: DmeClientCore
    conn: DmeConnection
    addr: tuple[str, int]
    events: list[object] = field(default_factory=list)
    tcp_wire: list[bytes] = field(default_factory=list)  # every server->client TCP write
    udp_wire: list[bytes] = field(default_factory=list)  # every datagram the server sent it
    alive: bool = True
    mute: bool = False  # a console that hangs: what it would send never arrives

    @property
    def index(self) -> int:
        assert self.core.index is not None
        return self.core.index

    def apps(self, udp: bool | None = None) -> list[AppReceived]:
        return [e for e in self.events if isinstance(e, AppReceived) and (udp is None or e.udp is udp)]

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def take(self) -> list[object]:
        out, self.events = self.events, []
        return out


class Net:
    """A DME and its clients, bytes moved by hand; the clock only moves in ``advance``."""

    def __init__(
        self, timeouts: TimeoutSettings | None = None, clock: FakeClock | None = None, **manager_options
    ) -> None:
        self.clock = clock or FakeClock()
        self.lobby = Recorder()
        self.dme = DmeManager(
            DME_IP,
            DME_TCP,
            DME_UDP,
            timeouts or TimeoutSettings(),
            os.urandom,
            self.clock,
            self.lobby.events(),
            wall_clock=lambda: 1_336_367_869.25,
            **manager_options,
        )
        self.players: list[Player] = []
        self._ports = itertools.count(30000)

    def world(self, version: int = 110, max_players: int = 8, app_id: int | None = None, **kw) -> int:
        return self.dme.create_world(
            app_id or (APP_UYA if version <= 108 else APP_DL), max_players, version, **kw
        )

    def connect(
        self,
        world_id: int,
        *,
        version: int = 110,
        encrypt: bool = True,
        session_key: str | None = None,
        access_key: str | None = None,
        join: bool = True,
        app_id: int | None = None,
        **core_options,
    ) -> Player:
        """Reserve a slot (unless ``access_key`` is given) and run the handshake."""
        session_key = session_key or f"SK{next(self._ports)}"
        if access_key is None:
            _, access_key = self.dme.reserve_slot(world_id, session_key, 1, session_key)
        app = app_id or (APP_UYA if version <= 108 else APP_DL)
        params = DmeParams(DME_IP, DME_TCP, world_id, access_key, session_key, version, encrypt, app)
        port = next(self._ports)
        conn = self.dme.tcp_protocol(("192.168.1.50", port), (DME_IP, DME_TCP), self.clock())
        player = Player(DmeClientCore(params, **core_options), conn, ("192.168.1.50", port + 1))
        self.players.append(player)
        if join:
            player.core.start()
            self.pump()
        return player

    def pump(self, limit: int = 100) -> None:
        """Move TCP bytes and datagrams until nothing moves (no time passes)."""
        for _ in range(limit):
            moved = False
            for p in self.players:
                if not p.alive or p.mute:
                    continue
                data = p.core.outbox.take()
                if data:
                    moved = True
                    p.conn.data_received(data, self.clock())
                if p.core.udp_out:
                    moved = True
                    out, p.core.udp_out = p.core.udp_out, []
                    for d in out:
                        self.dme.datagram_received(d, p.addr, self.clock())
            for p in self.players:
                if not p.alive:
                    continue
                data = p.conn.outbox.take()
                if data:
                    moved = True
                    p.tcp_wire.append(data)
                    p.events.extend(p.core.feed_tcp(data, self.clock()))
                if p.conn.outbox.closing is not None and not len(p.conn.outbox):
                    self.drop(p, p.conn.outbox.closing)
            for data, addr in self.dme.take_datagrams():
                moved = True
                for p in self.players:
                    if p.alive and p.addr == addr:
                        p.udp_wire.append(data)
                        p.events.extend(p.core.feed_udp(data, self.clock()))
            if not moved:
                return
        raise AssertionError("traffic did not settle")

    def advance(self, dt: float) -> None:
        """Let ``dt`` seconds pass, running the DME's timers as the shell would."""
        end = self.clock.t + dt
        while True:
            nxt = min(self.dme.next_deadline(), end)
            self.clock.t = max(self.clock.t, nxt)
            self.dme.on_timer(self.clock.t)
            self.pump()
            if self.clock.t >= end:
                return

    def drop(self, p: Player, reason: str = "peer closed the connection") -> None:
        """The TCP connection ends (the shell calls connection_lost)."""
        if p.alive:
            p.alive = False
            p.conn.connection_lost(reason, self.clock())


def frames(data: bytes) -> list[RawFrame]:
    return TcpDeframer().feed(data)


def ids(data: bytes) -> list[int]:
    return [f.id for f in frames(data)]


# --- handshake tests --------------------------------------------------------------------------

HANDSHAKE_V108 = [
    [RT.SERVER_CRYPTKEY_PEER],
    [RT.SERVER_CRYPTKEY_GAME, RT.SERVER_CRYPTKEY_PEER, RT.SERVER_CONNECT_ACCEPT_TCP, RT.SERVER_INFO_AUX_UDP],
    [RT.SERVER_CONNECT_COMPLETE, RT.SERVER_APP],
]
HANDSHAKE_V109 = [
    [RT.SERVER_HELLO],
    [RT.SERVER_CRYPTKEY_PEER],
    [RT.SERVER_CONNECT_REQUIRE],
    [RT.SERVER_CRYPTKEY_GAME, RT.SERVER_CRYPTKEY_PEER, RT.SERVER_CONNECT_ACCEPT_TCP],
    [RT.SERVER_STARTUP_INFO_NOTIFY, RT.SERVER_INFO_AUX_UDP],
    [RT.SERVER_CONNECT_COMPLETE, RT.SERVER_APP, RT.SERVER_ECHO],
]


@pytest.mark.parametrize("version", [108, 110])
@pytest.mark.parametrize("encrypt", [True, False])
def test_handshake_shape_and_events(version, encrypt):
    net = Net()
    wid = net.world(version)
    p = net.connect(wid, version=version, encrypt=encrypt)
    writes = [ids(w) for w in p.tcp_wire]
    assert writes == (HANDSHAKE_V108 if version == 108 else HANDSHAKE_V109)
    # one CONNECT_ACCEPT_AUX_UDP per CONNECT_AUX_UDP: UYA sends one, Deadlocked two
    assert [ids(d) for d in p.udp_wire] == [[RT.SERVER_CONNECT_ACCEPT_AUX_UDP]] * (1 if version == 108 else 2)
    joined = p.of(Joined)
    assert len(joined) == 1 and joined[0].index == 0 and joined[0].player_count == 1
    assert joined[0].client_ip == "192.168.1.50"
    assert p.of(UdpAccepted) == [UdpAccepted("192.168.1.50", p.addr[1])]
    expected = wire.SERVER_VERSION_V108 if version == 108 else wire.SERVER_VERSION_V109
    assert p.of(ServerVersion) == [ServerVersion(expected)]
    assert p.conn.phase is Phase.READY and p.conn.encrypted is encrypt
    # flagged frames exactly when encrypted (HELLO is always clear; the first PEER is RSA)
    flagged = [f.hash is not None for w in p.tcp_wire for f in frames(w) if f.id != RT.SERVER_HELLO]
    assert all(flagged) if encrypt else not any(flagged)
    assert net.lobby.connected == [(wid, 0, p.core.params.session_key)]
    copies = 1 if version == 108 else 2
    assert net.dme.stats.udp_connects_indexed == (copies if encrypt else 0)
    assert net.dme.stats.udp_connects_searched == 0
    info = net.dme.world_info(wid)
    assert info is not None and info.players[0].state == "connected"
    assert info.players[0].udp_endpoint == f"{p.addr[0]}:{p.addr[1]}"


def test_encrypted_keys_are_per_world_and_switch_context_3():
    net = Net()
    w1, w2 = net.world(110), net.world(110)
    a = net.connect(w1)
    b = net.connect(w1)
    c = net.connect(w2)
    # each connection has its own RSA-delivered key, then the world's GAME and PEER#2
    assert a.core.peer_keys[0] != b.core.peer_keys[0]
    assert a.core.peer_keys[1] == b.core.peer_keys[1] != c.core.peer_keys[1]
    assert a.core.game_key == b.core.game_key != c.core.game_key
    # from CONNECT_ACCEPT_TCP on, context 3 is the world key at both ends
    for p in (a, b):
        assert p.core.link.cipher.rc_keys[Ctx.RC_CLIENT_SESSION] == p.core.peer_keys[1]
        assert p.conn.link.cipher.rc_keys[Ctx.RC_CLIENT_SESSION] == p.core.peer_keys[1]
        assert p.conn.link.cipher.rc_keys[Ctx.RC_SERVER_SESSION] == p.core.game_key


def test_clear_client_without_key_exchange_gets_accept_first():
    """A tool that skips CRYPTKEY_PUBLIC (the UYA bot) expects ACCEPT_TCP as the first answer."""
    net = Net()
    wid = net.world(108)
    p = net.connect(wid, version=108, encrypt=False, key_exchange=False)  # CONNECT first, clear
    first = frames(p.tcp_wire[0])
    assert [f.id for f in first] == [RT.SERVER_CONNECT_ACCEPT_TCP, RT.SERVER_INFO_AUX_UDP]
    assert all(f.hash is None for f in first)
    assert p.of(Joined) and p.conn.key_exchange is False


def test_encrypted_session_keeps_app_plaintext_off_the_wire():
    net = Net()
    wid = net.world(108)
    a = net.connect(wid, version=108)
    b = net.connect(wid, version=108)
    a.core.send_broadcast(b"\x02\x09SECRET-MOVEMENT", udp=True)
    a.core.send_single(b.index, b"\x00\x16SECRET-SINGLE")
    net.pump()
    net.advance(0.05)
    assert b"SECRET" not in b"".join(b.tcp_wire + b.udp_wire)
    got = {(e.source, e.udp, e.payload, e.encrypted) for e in b.apps()}
    assert got == {
        (a.index, True, b"\x02\x09SECRET-MOVEMENT", True),
        (a.index, False, b"\x00\x16SECRET-SINGLE", True),
    }


def test_datagram_ids_of_udp_connect_duplicates_are_idempotent():
    net = Net()
    wid = net.world(110)
    p = net.connect(wid)
    frame = p.core._udp_connect_frame
    assert frame is not None
    for _ in range(3):
        net.dme.datagram_received(frame, p.addr, net.clock())
    out = net.dme.take_datagrams()
    assert [addr for _, addr in out] == [p.addr] * 3
    assert all([f.id for f in split_datagram(d)] == [RT.SERVER_CONNECT_ACCEPT_AUX_UDP] for d, _ in out)
    assert p.conn.udp_addr == p.addr and p.conn.phase is Phase.READY


def test_world_info_reports_time_in_game_round_trip_and_traffic():
    """Issue 12 item 6: the operator sees each player's ping, time in game and relayed traffic."""
    net = Net()
    wall = [1_336_367_869.25]
    net.dme.wall_clock = lambda: wall[0]
    wid = net.world(110)
    a = net.connect(wid, version=110)
    b = net.connect(wid, version=110)
    a.core.send_broadcast(b"\x02\x09" + bytes(30), udp=True)
    a.core.send_single(b.index, b"\x00\x16" + bytes(10))
    net.pump()
    net.advance(0.05)
    info = {p.index: p for p in net.dme.world_info(wid).players}
    assert info[a.index].joined_at == wall[0] and info[b.index].joined_at == wall[0]
    assert (info[a.index].frames_in, info[a.index].frames_out) == (2, 0)
    assert (info[b.index].frames_in, info[b.index].frames_out) == (0, 2)
    assert info[a.index].bytes_in > 40 and info[b.index].bytes_out >= info[a.index].bytes_in
    # a SERVER_ECHO that comes back 40 ms later gives the round trip
    conn = next(p.conn for p in net.players if p.conn.index == b.index)
    conn.send_server_echo()
    echo = conn.outbox.take()  # the client returns it as it came (same key, same bytes)
    wall[0] += 0.040
    conn.data_received(echo, net.clock())
    info = {p.index: p for p in net.dme.world_info(wid).players}
    assert info[b.index].ping_ms == pytest.approx(40.0, abs=1.0)
    assert info[a.index].ping_ms == 0.0  # returned the first echo (at completion) with no time passing
