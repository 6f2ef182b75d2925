"""DME relaying, aggregation, receive flags, notifications, timeouts and the lobby API (sans-IO)."""

from __future__ import annotations

import dataclasses
import logging
import struct

import pytest

from clank_lan.client.dme_client import (
    EchoReturned,
    ForcedDisconnect,
    PeerConnected,
    PeerDisconnected,
    TimebaseAnswer,
)
from clank_lan.config import LimitSettings, TimeoutSettings
from clank_lan.dme import DmeError, wire
from clank_lan.dme.conn import QUEUE_LIMIT, Phase
from clank_lan.protocol.crypto.hashing import null_hash
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import HEADER, encode_frame, split_datagram
from clank_lan.protocol.rt_ids import RT
from clank_lan.protocol.rt_messages import DisconnectReason
from tests.test_dme_harness import Net, Player, frames

AGG = 0.020


def room(
    n: int, version: int = 110, encrypt: bool = True, limits: LimitSettings | None = None, **kw
) -> tuple[Net, int, list[Player]]:
    net = Net(limits=limits)
    wid = net.world(version)
    players = [net.connect(wid, version=version, encrypt=encrypt, **kw) for _ in range(n)]
    for p in players:
        p.take()
    return net, wid, players


def sources(p: Player, udp: bool) -> list[tuple[int, bytes]]:
    return sorted((e.source, e.payload) for e in p.apps(udp))


@pytest.mark.parametrize(("version", "encrypt"), [(108, True), (110, True), (110, False)])
def test_broadcast_reaches_every_other_player_stamped_with_the_sender(version, encrypt):
    net, _, players = room(4, version, encrypt)
    for p in players:
        p.core.send_broadcast(b"\x02\x09udp-from-%d" % p.index, udp=True)
        p.core.send_broadcast(b"\x00\x03tcp-from-%d" % p.index)
    net.pump()
    net.advance(AGG)
    for p in players:
        others = [q.index for q in players if q is not p]
        assert sources(p, True) == [(i, b"\x02\x09udp-from-%d" % i) for i in others]
        assert sources(p, False) == [(i, b"\x00\x03tcp-from-%d" % i) for i in others]


def test_encrypted_relay_rewrites_only_the_index():
    """UYA-style frames: hash and ciphertext go through untouched, the clear index changes."""
    net, _, (a, b, c) = room(3, 108, True)
    a.core.send_single(c.index, b"\x00\x16" + bytes(range(40)))
    sent_single = a.core.outbox.take()
    a.core.send_broadcast(b"\x02\x09" + bytes(range(30)), udp=True)
    sent_bcast = a.core.udp_out[0]
    a.conn.data_received(sent_single, net.clock())
    net.pump()
    net.advance(AGG)
    got_single = frames(c.tcp_wire[-1])[0]
    out = frames(sent_single)[0]
    assert out.hash is not None and got_single.hash == out.hash
    assert got_single.payload == struct.pack("<h", a.index) + out.payload[2:]
    got_b = split_datagram(b.udp_wire[-1])[0]
    raw_b = split_datagram(sent_bcast)[0]
    assert got_b.id == RT.CLIENT_APP_SINGLE and got_b.hash == raw_b.hash
    assert got_b.payload == struct.pack("<h", a.index) + raw_b.payload
    assert [e.payload for e in c.apps()] == [b"\x00\x16" + bytes(range(40)), b"\x02\x09" + bytes(range(30))]
    assert all(e.encrypted for e in c.apps())


def test_null_hash_broadcast_keeps_its_hash():
    net, _, (a, b) = room(2, 110, True)
    assert a.core.app_crypt == "null"
    a.conn.data_received(encode_frame(RT.CLIENT_APP_BROADCAST, b"\x02\x09plain", null_hash()), net.clock())
    net.advance(AGG)
    f = frames(b.tcp_wire[-1])[0]
    assert f.hash == b"\x00\x00\x00\x60" and f.payload == struct.pack("<h", a.index) + b"\x02\x09plain"
    assert [(e.payload, e.encrypted) for e in b.apps()] == [(b"\x02\x09plain", False)]


@pytest.mark.parametrize("udp", [False, True])
def test_list_and_single_reach_exactly_their_targets(udp):
    net, _, ps = room(5, 108, True)
    ps[0].core.send_list([1, 3], b"list", udp=udp)
    ps[2].core.send_single(4, b"single", udp=udp)
    ps[2].core.send_single(7, b"nobody", udp=udp)  # no such player: dropped
    net.pump()
    net.advance(AGG)
    got = {p.index: sources(p, udp) for p in ps}
    assert got == {0: [], 1: [(0, b"list")], 2: [], 3: [(0, b"list")], 4: [(2, b"single")]}


def test_receive_flags_are_honoured():
    net, wid, (a, b) = room(2, 110, True)
    b.core.set_recv_flag(0x04 | 0x08)  # singles and notifications only
    net.pump()
    a.core.send_broadcast(b"bcast", udp=True)
    a.core.send_list([b.index], b"list")
    a.core.send_single(b.index, b"single")
    net.pump()
    net.advance(AGG)
    assert [e.payload for e in b.apps()] == [b"single"]
    b.take()
    b.core.set_recv_flag(0x01)  # broadcasts only: no notifications either
    net.pump()
    net.connect(wid)
    a.core.send_single(b.index, b"single")
    a.core.send_broadcast(b"bcast")
    net.pump()
    net.advance(AGG)
    assert [e.payload for e in b.apps()] == [b"bcast"] and not b.of(PeerConnected)
    assert a.of(PeerConnected)  # a asked for everything (0x0F)


def test_ready_tcp_flags_apply_until_set_recv_flag():
    """Deadlocked's CONNECT_READY_TCP asks for 5 (broadcast + single): no notifications yet."""
    net = Net()
    wid = net.world(110)
    a = net.connect(wid, recv_flags=5)
    net.connect(wid)
    assert not a.of(PeerConnected)
    a.core.set_recv_flag(0x0F)
    net.pump()
    c = net.connect(wid)
    assert [e.index for e in a.of(PeerConnected)] == [c.index]


def test_v108_clients_get_everything_whatever_they_ask():
    net, wid, (a, b) = room(2, 108, True)
    b.core.set_recv_flag(0)
    net.pump()
    a.core.send_broadcast(b"bcast")
    net.pump()
    c = net.connect(wid, version=108)
    net.advance(AGG)
    assert [e.payload for e in b.apps()] == [b"bcast"]
    assert [e.index for e in b.of(PeerConnected)] == [c.index]


def test_output_waits_for_the_aggregation_time_then_goes_in_one_write():
    net, _, (a, b) = room(2, 110, False)
    before_tcp, before_udp = len(b.tcp_wire), len(b.udp_wire)
    for i in range(5):
        a.core.send_broadcast(b"\x02\x09m%d" % i, udp=True)
        a.core.send_broadcast(b"\x00\x03t%d" % i)
    net.pump()
    net.advance(AGG - 0.001)
    assert len(b.tcp_wire) == before_tcp and len(b.udp_wire) == before_udp
    net.advance(0.001)
    assert len(b.tcp_wire) == before_tcp + 1 and len(b.udp_wire) == before_udp + 1
    assert len(frames(b.tcp_wire[-1])) == 5 and len(split_datagram(b.udp_wire[-1])) == 5
    assert [e.payload for e in b.apps(True)] == [b"\x02\x09m%d" % i for i in range(5)]


def test_set_agg_time_is_honoured():
    net, _, (a, b) = room(2, 110, False, agg_time_ms=50)
    a.core.send_broadcast(b"x", udp=True)
    net.pump()
    net.advance(0.049)
    assert not b.apps()
    net.advance(0.001)
    assert len(b.apps()) == 1


@pytest.mark.parametrize("udp", [False, True])
def test_flush_all_delivers_at_once(udp):
    net, _, (a, b, c) = room(3, 108, True)
    a.core.send_broadcast(b"burst-1", udp=udp)
    a.core.send_single(c.index, b"burst-2", udp=udp)
    a.core.flush_all(udp=udp)
    net.pump()  # no time passes
    assert [e.payload for e in b.apps()] == [b"burst-1"]
    assert [e.payload for e in c.apps()] == [b"burst-1", b"burst-2"]


def test_datagrams_are_at_most_584_bytes_and_as_few_as_possible():
    net, _, ps = room(8, 110, False)
    for p in ps[1:]:
        for i in range(12):
            p.core.send_broadcast(b"\x02\x09" + bytes([i]) * 38, udp=True)
    net.pump()
    n0 = len(ps[0].udp_wire)
    net.advance(AGG)
    dgrams = ps[0].udp_wire[n0:]
    assert len(ps[0].apps(True)) == 7 * 12
    assert all(len(d) <= wire.MAX_DATAGRAM for d in dgrams)
    total = sum(len(d) for d in dgrams)
    frame_len = HEADER.size + 2 + 40
    assert len(dgrams) == -(-total // (wire.MAX_DATAGRAM // frame_len * frame_len))
    for d in dgrams[:-1]:
        assert len(d) + frame_len > wire.MAX_DATAGRAM, "two datagrams could have been one"


def test_a_receivers_udp_queue_is_bounded():
    unlimited = LimitSettings(relay_frames_per_second=1e6, relay_burst=1_000_000)
    net, _, (a, b) = room(2, 110, False, limits=unlimited)
    for i in range(2000):  # ~90 KB for b within one aggregation window
        a.core.send_broadcast(b"\x02\x09" + i.to_bytes(2, "little") + bytes(36), udp=True)
    net.pump()
    net.advance(AGG)
    got = len(b.apps(True))
    assert got * (HEADER.size + 2 + 40) <= QUEUE_LIMIT < (got + 1) * (HEADER.size + 2 + 40)
    assert net.dme.stats.dropped_queue_full == 2000 - got
    assert all(len(d) <= wire.MAX_DATAGRAM for d in b.udp_wire)


def test_echo_and_timebase():
    net, _, (a,) = room(1, 110, True)
    net.advance(1.5)
    a.take()
    a.core.echo(udp=False, value=0x5A)
    a.core.echo(udp=True, value=0xA5)
    a.core.timebase_query(123456)
    net.pump()
    assert set(a.of(EchoReturned)) == {EchoReturned(0x5A, False), EchoReturned(0xA5, True)}
    (tb,) = a.of(TimebaseAnswer)
    assert tb.client_time == 123456 and 1500 <= tb.server_time <= 1510


def test_server_echo_every_five_seconds_only_for_v109():
    net = Net()
    new, old = net.world(110), net.world(108)
    a = net.connect(new)
    b = net.connect(old, version=108)
    a.tcp_wire.clear()
    b.tcp_wire.clear()
    net.advance(5.3)
    assert [f.id for w in a.tcp_wire for f in frames(w)].count(RT.SERVER_ECHO) == 1
    assert not any(f.id == RT.SERVER_ECHO for w in b.tcp_wire for f in frames(w))


def test_join_and_leave_are_notified_and_the_slot_is_freed():
    net, wid, (a,) = room(1, 110, True)
    b = net.connect(wid)
    assert [e.index for e in a.of(PeerConnected)] == [b.index]
    b.core.disconnect()
    net.pump()
    assert not b.alive and b.conn.phase is Phase.CLOSED
    assert [e.index for e in a.of(PeerDisconnected)] == [b.index]
    sk = b.core.params.session_key
    assert net.lobby.left == [(wid, b.index, sk, "client disconnected")]
    assert net.dme.reserve_slot(wid, "newcomer", 9, "n")[0] == b.index


def test_host_leaving_notifies_everybody_and_relaying_goes_on():
    net, wid, (host, b, c) = room(3, 108, True)
    net.drop(host)
    net.pump()
    for p in (b, c):
        assert [e.index for e in p.of(PeerDisconnected)] == [0]
    assert net.lobby.left[0][:3] == (wid, 0, host.core.params.session_key)
    info = net.dme.world_info(wid)
    assert info is not None and info.host_left and [p.index for p in info.players] == [1, 2]
    b.core.send_broadcast(b"still here", udp=True)
    net.pump()
    net.advance(AGG)
    assert [(e.source, e.payload) for e in c.apps()] == [(1, b"still here")]
    assert net.dme.reserve_slot(wid, "late", 5, "late")[0] == 3  # index 0 is not handed out again


# --- the lobby API ----------------------------------------------------------------------------


def test_reservations():
    net = Net()
    wid = net.world(110, max_players=2)
    first = net.dme.reserve_slot(wid, "a", 1, "a")
    assert first[0] == 0 and len(first[1]) == 16
    assert net.dme.reserve_slot(wid, "a", 1, "a") == first
    assert net.dme.reserve_slot(wid, "b", 2, "b")[0] == 1
    with pytest.raises(DmeError, match="full"):
        net.dme.reserve_slot(wid, "c", 3, "c")
    assert net.dme.release_slot(wid, "a") and not net.dme.release_slot(wid, "a")
    assert net.dme.reserve_slot(wid, "c", 3, "c")[0] == 0
    with pytest.raises(DmeError, match="no world"):
        net.dme.reserve_slot(999, "x", 1, "x")
    with pytest.raises(DmeError):
        net.dme.create_world(1, 0, 110)
    assert net.lobby.left == []


def test_release_slot_disconnects_the_player_quietly():
    net, wid, (a, b) = room(2, 110, True)
    assert net.dme.release_slot(wid, b.core.params.session_key)
    net.pump()
    assert b.of(ForcedDisconnect) == [ForcedDisconnect(DisconnectReason.END_SESSION)] and not b.alive
    assert [e.index for e in a.of(PeerDisconnected)] == [b.index]
    assert net.lobby.left == []  # the lobby asked for it


def test_end_world_brutal_kicks_everybody_now():
    net, wid, ps = room(3, 110, True)
    assert net.dme.end_world(wid, brutal=True)
    net.pump()
    assert all(p.of(ForcedDisconnect) == [ForcedDisconnect(DisconnectReason.END_GAME)] for p in ps)
    assert all(not p.alive for p in ps)
    assert net.dme.world_info(wid) is None and wid not in net.dme.world_ids()
    assert net.lobby.left == [] and net.lobby.removed == []
    assert not net.dme.end_world(wid, brutal=True)


def test_end_world_gently_waits_for_the_last_player():
    net, wid, (a, b) = room(2, 110, True)
    net.dme.end_world(wid, brutal=False)
    with pytest.raises(DmeError, match="closing"):
        net.dme.reserve_slot(wid, "late", 1, "late")
    a.core.send_broadcast(b"still playing")
    net.pump()
    net.advance(AGG)
    assert [e.payload for e in b.apps()] == [b"still playing"]
    net.drop(a)
    assert net.dme.world_info(wid) is not None
    net.drop(b)
    assert net.dme.world_info(wid) is None
    assert net.lobby.removed == [(wid, "game ended and its last player left")]


def test_callbacks_may_call_back_into_the_dme():
    net, wid, (a, b) = room(2, 108, True)
    net.dme.events.on_player_left = lambda w, index, sk, reason, now: net.dme.end_world(w, brutal=True)
    net.drop(a)
    net.pump()
    assert net.dme.world_info(wid) is None and not b.alive


# --- timeouts ---------------------------------------------------------------------------------


def test_silent_client_is_dropped_after_25_s():
    net, _, (a, b) = room(2, 110, True)
    b.mute = True
    for _ in range(30):
        a.core.echo()
        net.pump()
        net.advance(1.0)
    assert b.of(ForcedDisconnect) == [ForcedDisconnect(DisconnectReason.TIMEOUT)] and not b.alive
    assert a.alive and [e.index for e in a.of(PeerDisconnected)] == [b.index]
    assert net.lobby.left[0][1:] == (b.index, b.core.params.session_key, "no traffic for 25 s")


def test_udp_traffic_keeps_a_client_alive():
    net, _, (a,) = room(1, 110, True)
    for _ in range(30):
        a.core.echo(udp=True)
        net.pump()
        net.advance(1.0)
    assert a.alive


def test_empty_world_is_removed_after_15_s():
    net, wid, (a,) = room(1, 110, True)
    left_at = net.clock()
    net.drop(a)
    net.advance(14.9)
    assert net.dme.world_info(wid) is not None
    net.advance(0.3)
    assert net.dme.world_info(wid) is None
    assert net.lobby.removed == [(wid, "empty for 15 s")]
    # every callback carries the DME's time: the leave at once, the removal 15 s (one tick) later
    assert net.lobby.times[-2] == left_at and 15.0 <= net.lobby.times[-1] - left_at <= 15.25


def test_world_nobody_connects_to_is_removed_after_15_s():
    net = Net()
    wid = net.world(110)
    net.dme.reserve_slot(wid, "host", 1, "host")
    net.advance(15.3)
    assert net.dme.world_info(wid) is None
    assert net.lobby.removed == [(wid, "nobody connected for 15 s")] and net.lobby.left == []


def test_unused_reservation_expires_after_the_client_timeout():
    net, wid, (a,) = room(1, 110, True)
    net.dme.reserve_slot(wid, "ghost", 7, "ghost")
    for _ in range(27):
        a.core.echo()
        net.pump()
        net.advance(1.0)
    assert net.lobby.left == [(wid, 1, "ghost", "never connected")]
    info = net.dme.world_info(wid)
    assert info is not None and [p.index for p in info.players] == [0]


def test_unfinished_handshake_times_out(caplog):
    net = Net(TimeoutSettings(handshake=3.0))
    wid = net.world(110)
    p = net.connect(wid, join=False)
    p.core.start()
    p.conn.data_received(p.core.outbox.take(), net.clock())  # HELLO, then the console hangs
    p.mute = True
    net.pump()
    with caplog.at_level(logging.INFO, logger="clank_lan.dme"):
        net.advance(3.3)
    assert not p.alive and "dropped: handshake not completed in 3 s" in caplog.text
    assert net.dme.connection_count == 0


# --- bad input --------------------------------------------------------------------------------


def test_unknown_access_key_is_refused_and_logged(caplog):
    net, wid, (a,) = room(1, 110, True)
    with caplog.at_level(logging.WARNING, logger="clank_lan.dme"):
        bad = net.connect(wid, access_key="AAAAAAAAAAAAAAAA")
    assert not bad.alive
    assert "unknown access key 'AAAAAAAAAAAAAAAA'" in caplog.text
    info = net.dme.world_info(wid)
    assert info is not None and {p.state for p in info.players} == {"connected"}
    assert a.alive and net.lobby.left == []


def test_spoofed_and_garbage_datagrams_are_dropped_and_logged(caplog):
    net, _, (a, b) = room(2, 110, True)
    spoof = ("192.168.1.66", 4444)
    with caplog.at_level(logging.WARNING, logger="clank_lan.dme"):
        net.dme.datagram_received(encode_frame(RT.CLIENT_APP_BROADCAST, b"\x02\x09fake"), spoof, net.clock())
        net.dme.datagram_received(b"\xff\xff\xff garbage", spoof, net.clock())
        # a copy of a's own UDP connect, replayed from another endpoint, must not steal a's binding
        assert a.core._udp_connect_frame is not None
        net.dme.datagram_received(a.core._udp_connect_frame, spoof, net.clock())
    net.pump()
    net.advance(AGG)
    assert "not a connected player's endpoint" in caplog.text
    assert "dropped 11 bytes from 192.168.1.66:4444" in caplog.text
    assert f"is bound to {a.addr[0]}:{a.addr[1]}" in caplog.text
    assert not b.apps() and a.conn.udp_addr == a.addr
    a.core.send_broadcast(b"real", udp=True)
    net.pump()
    net.advance(AGG)
    assert [(e.source, e.payload) for e in b.apps()] == [(a.index, b"real")]


def test_udp_connect_for_another_player_is_refused(caplog):
    net = Net()
    wid = net.world(110)
    a = net.connect(wid)
    b = net.connect(wid, join=False)
    b.core.start()
    net.pump()
    # b has finished TCP and sent its UDP connect; now a connect naming b but with a's scert id
    msg = struct.pack("<Ii16sHHHH", wid, 11184, b"10.0.0.1", 10079, b.index, a.conn.scert_id, 0)
    with caplog.at_level(logging.WARNING, logger="clank_lan.dme"):
        net.dme.datagram_received(
            encode_frame(RT.CLIENT_CONNECT_AUX_UDP, msg), ("192.168.1.66", 1), net.clock()
        )
    assert "is clear from an encrypted session" in caplog.text
    assert b.conn.udp_addr == b.addr


def test_udp_connect_with_unexpected_fields_is_still_found():
    """A console that puts another port in its CONNECT_AUX_UDP misses the predicted checksum; the
    DME then tries the waiting players' keys."""
    net = Net()
    wid = net.world(110)
    net.connect(wid)
    p = net.connect(wid, join=False)
    p.core.params = dataclasses.replace(p.core.params, tcp_port=1234)
    p.core.start()
    net.pump()
    assert p.conn.phase is Phase.READY and p.conn.udp_addr == p.addr
    # the first player's two copies and this one's repeat (its endpoint is known by then) were
    # looked up; this player's first copy needed the search
    assert (net.dme.stats.udp_connects_indexed, net.dme.stats.udp_connects_searched) == (3, 1)


def test_dropped_datagram_log_is_rate_limited(caplog):
    net = Net()
    with caplog.at_level(logging.WARNING, logger="clank_lan.dme"):
        for i in range(50):
            net.dme.datagram_received(b"\x00", ("192.168.1.66", i), net.clock())
        net.advance(11.0)
        net.dme.datagram_received(b"\x00", ("192.168.1.66", 99), net.clock())
    lines = [r.getMessage() for r in caplog.records]
    per_address = net.dme.limits.log_lines_per_peer
    assert sum("dropped 1 bytes" in m for m in lines) == per_address + 1
    assert f"192.168.1.66: … {50 - per_address} more suppressed in 10 s" in caplog.text


def test_malformed_tcp_frame_is_a_protocol_error_for_that_connection_only():
    net, _, (a, b) = room(2, 110, True)
    with pytest.raises(ProtocolError, match=r"ClientSetAggTime \(v110\) needs 2 bytes"):
        a.conn.data_received(encode_frame(RT.CLIENT_SET_AGG_TIME, b"\x01"), net.clock())
    net.drop(a, "protocol error")  # what the shell does with it
    net.pump()
    assert [e.index for e in b.of(PeerDisconnected)] == [a.index] and b.alive
    c = net.connect(net.dme.world_ids()[0])
    b.core.send_broadcast(b"fine")
    net.pump()
    net.advance(AGG)
    assert [(e.source, e.payload) for e in c.apps()] == [(b.index, b"fine")]
