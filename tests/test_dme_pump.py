"""What the UDP pump of ``dme.server`` relies on (sans-IO): datagrams in batches, flushes that
share a wake-up, aggregation counted from when the pump looked away, counters kept per flush."""

from __future__ import annotations

import logging

import pytest

from clank_lan.dme import wire
from clank_lan.dme.conn import DmeConnection
from clank_lan.dme.manager import HOUSEKEEPING_INTERVAL
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import encode_frame, split_datagram
from tests.test_dme_harness import Net, Player

AGG = 0.020


def room(n: int) -> tuple[Net, list[Player]]:
    net = Net()
    wid = net.world(110)
    players = [net.connect(wid, version=110, encrypt=False) for _ in range(n)]
    for p in players:
        p.take()
    net.dme.take_datagrams()
    return net, players


def movement(p: Player, tag: bytes) -> bytes:
    """A client UDP broadcast datagram, as ``p`` would send it."""
    p.core.send_broadcast(b"\x02\x09" + tag, udp=True)
    (d,) = p.core.udp_out
    p.core.udp_out.clear()
    return d


def delivered(net: Net) -> dict[tuple[str, int], list[bytes]]:
    """Relayed bodies per receiver address among the datagrams the DME has to send."""
    out: dict[tuple[str, int], list[bytes]] = {}
    for data, addr in net.dme.take_datagrams():
        out.setdefault(addr, []).extend(f.payload[2:] for f in split_datagram(data))
    return out


def test_a_batch_relays_like_single_datagrams():
    net, (a, b, c) = room(3)
    batch = [(movement(a, b"a1"), a.addr), (movement(b, b"b1"), b.addr), (movement(a, b"a2"), a.addr)]
    net.dme.datagrams_received(batch, net.clock())
    assert net.dme.stats.datagrams_in >= 3 and net.dme.stats.delivered_udp == 6
    net.clock.t += AGG
    net.dme.on_timer(net.clock())
    got = delivered(net)
    assert got[c.addr] == [b"\x02\x09a1", b"\x02\x09b1", b"\x02\x09a2"]
    assert got[b.addr] == [b"\x02\x09a1", b"\x02\x09a2"] and got[a.addr] == [b"\x02\x09b1"]


def test_a_failing_datagram_is_logged_and_the_batch_goes_on(monkeypatch, caplog):
    net, (a, b) = room(2)
    real = net.dme._on_datagram

    def on_datagram(data, addr, now, since=None):
        if data == b"boom":
            raise RuntimeError("bug")
        real(data, addr, now, since)

    monkeypatch.setattr(net.dme, "_on_datagram", on_datagram)
    with caplog.at_level(logging.ERROR, logger="clank_lan.dme"):
        net.dme.datagrams_received([(b"boom", a.addr), (movement(a, b"ok"), a.addr)], net.clock())
    assert "datagram from 192.168.1.50" in caplog.text
    net.clock.t += AGG
    net.dme.on_timer(net.clock())
    assert delivered(net)[b.addr] == [b"\x02\x09ok"]


def test_flushes_due_within_early_share_the_wake_up():
    net, (a, b, c) = room(3)
    t0 = net.clock()
    net.dme.datagrams_received([(movement(a, b"1"), a.addr)], t0)  # b and c: due at t0 + AGG
    net.dme.datagrams_received([(movement(b, b"2"), b.addr)], t0 + 0.003)  # a: due 3 ms later
    net.dme.on_timer(t0 + AGG - 0.001, 0.0)
    assert delivered(net) == {}
    net.dme.on_timer(t0 + AGG, 0.004)  # a's flush goes 3 ms early, with the others
    assert sorted(delivered(net)) == sorted([a.addr, b.addr, c.addr])
    net.dme.on_timer(t0 + AGG + 0.003)
    assert delivered(net) == {}


def test_aggregation_counts_from_when_the_pump_looked_away():
    net, (a, b) = room(2)
    t0 = net.clock()
    net.dme.datagrams_received([(movement(a, b"late"), a.addr)], t0 + 0.008, since=t0)
    net.dme.on_timer(t0 + AGG - 0.001)
    assert delivered(net) == {}
    net.dme.on_timer(t0 + AGG)
    assert delivered(net)[b.addr] == [b"\x02\x09late"]


def test_a_frame_read_late_brings_its_receivers_flush_forward():
    """The pump read a datagram late (it looked away since ``t0``) after a TCP frame had set the
    receiver's flush an aggregation time from its own arrival: the datagram still leaves within
    the aggregation time of when it could have arrived, and takes the TCP frame along."""
    net, (a, b) = room(2)
    t0 = net.clock()
    a.conn.data_received(b"", t0 + 0.012)  # a's connection was read then (nothing came)
    a.core.send_broadcast(b"\x00\x03state")
    a.conn.data_received(a.core.outbox.take(), t0 + 0.015)  # b's flush: t0 + 12 + 20 ms
    net.dme.datagrams_received([(movement(a, b"late"), a.addr)], t0 + 0.019, since=t0)
    net.dme.on_timer(t0 + AGG - 0.001)
    assert delivered(net) == {} and not b.conn.outbox.take()
    net.dme.on_timer(t0 + AGG)
    assert delivered(net)[b.addr] == [b"\x02\x09late"]
    assert b.conn.outbox.take()  # the TCP frame went with it, 5 ms early
    net.dme.on_timer(t0 + 0.035)
    assert delivered(net) == {}  # nothing is left for the flush that was superseded


def test_a_tcp_frame_counts_from_when_its_connection_was_last_read():
    """As a datagram counts from when the UDP socket was emptied, a frame on a player's TCP
    connection counts from the previous read of it: read late (the event loop busy), it does not
    wait a whole aggregation time more, and after a quiet spell it goes at once."""
    net, (a, b) = room(2)
    t0 = net.clock()
    a.conn.data_received(b"", t0 + 1.0)  # a quiet second: the connection was read at its end
    a.core.send_broadcast(b"\x00\x03soon")
    a.conn.data_received(a.core.outbox.take(), t0 + 1.005)
    net.dme.on_timer(t0 + 1.005 + AGG - 0.006)
    assert not b.conn.outbox.take()  # came after t0 + 1.0: due then + 20 ms
    net.dme.on_timer(t0 + 1.0 + AGG)
    assert b.conn.outbox.take()
    b.core.send_broadcast(b"\x02\x09moving", udp=True)  # a's UDP queue: due in 20 ms
    net.dme.datagrams_received([(b.core.udp_out.pop(), b.addr)], t0 + 3.0)
    a.core.send_broadcast(b"\x00\x03after-a-quiet-spell")
    a.conn.data_received(a.core.outbox.take(), t0 + 3.0)
    # at once (it may have waited in the socket for two seconds), by itself: the UDP queues keep
    # their time, and nothing is due before it
    assert b.conn.outbox.take()
    net.dme.on_timer(t0 + 3.0 + AGG - 0.001)
    assert delivered(net) == {}
    net.dme.on_timer(t0 + 3.0 + AGG)
    assert delivered(net) == {a.addr: [b"\x02\x09moving"]}


def test_relayed_frames_are_counted_when_they_leave():
    net, (a, b) = room(2)
    conn: DmeConnection = next(p.conn for p in net.players if p is b)
    for i in range(3):
        net.dme.datagrams_received([(movement(a, b"%d" % i), a.addr)], net.clock())
    assert conn.frames_out == 0  # still aggregating
    net.clock.t += AGG
    net.dme.on_timer(net.clock())
    assert conn.frames_out == 3
    assert conn.bytes_out == 3 * len(wire.relay_frame(a.index, b"\x02\x090", None))
    # an echo answered over UDP leaves after the queue and is no relayed frame
    net.dme.datagrams_received([(movement(a, b"9"), a.addr)], net.clock())
    b.core.echo(udp=True)
    net.dme.datagrams_received([(d, b.addr) for d in b.core.udp_out], net.clock())
    b.core.udp_out.clear()
    assert conn.frames_out == 4


@pytest.mark.parametrize("n", [1, 40])
def test_one_encoding_per_frame_for_every_receiver(n):
    """The relayed bytes are made once and shared by every receiver's queue."""
    net, players = room(4)
    a = players[0]
    for i in range(n):
        net.dme.datagrams_received([(movement(a, b"%02d" % i), a.addr)], net.clock())
    queues = [p.conn.udp_q for p in players[1:]]
    assert all(len(q) == n for q in queues)
    assert all(q[i] is queues[0][i] for q in queues for i in range(n))


@pytest.mark.parametrize(
    "data",
    [
        encode_frame(0x02, b"\x02\x09" + bytes(38), b"\x00\x00\x00\x60"),
        encode_frame(0x02, b"clear"),
        encode_frame(0x02, b"", b"\x00\x00\x00\x60"),  # flagged and empty: no hash on the wire
        encode_frame(0x0B, b"\x01"),
        encode_frame(0x02, b"a") + encode_frame(0x02, b"b"),  # two frames: the slow path
        encode_frame(0x02, b"abc")[:-1],  # truncated
        encode_frame(0x02, bytes(wire.MAX_FRAME_PAYLOAD + 1)),  # over the limit
        b"\x02\x00",
        b"",
    ],
)
def test_the_one_frame_fast_path_agrees_with_split_datagram(data):
    one = wire.one_frame(data)
    try:
        frames = split_datagram(data, wire.MAX_FRAME_PAYLOAD)
    except ProtocolError:
        frames = None
    if one is not None:
        assert frames == [one]
    else:
        assert frames is None or len(frames) > 1


def test_with_nothing_to_watch_the_dme_wakes_only_for_its_summaries():
    """No world, no connection: the next housekeeping is a log interval away, not 0.25 s; a world
    (or a connection) brings the short interval back and tells the shell at once."""
    net = Net()
    woken: list[float] = []
    net.dme.set_wakeup(lambda: woken.append(net.clock()))
    net.dme.next_deadline()  # the shell armed itself for the first housekeeping
    net.advance(HOUSEKEEPING_INTERVAL)
    assert net.dme.next_deadline() == net.clock() + net.dme.limits.log_interval
    net.clock.t += 1.0
    net.world(110)
    assert net.dme.next_deadline() == net.clock() + HOUSEKEEPING_INTERVAL and woken == [net.clock()]
    net.advance(HOUSEKEEPING_INTERVAL)
    assert net.dme.next_deadline() == net.clock() + HOUSEKEEPING_INTERVAL  # a world to watch
