"""The frame log shows the game (issue 9, item 9): the DME's UDP game frames as they arrive and
the relayed frames it sends out, over both transports, in the hex format the tools read back."""

from __future__ import annotations

import logging

from clank_lan.dme.conn import UDP_LOG_PER_SECOND
from clank_lan.protocol.framing import split_datagram
from clank_lan.protocol.hexlog import parse_log
from clank_lan.protocol.rt_ids import RT
from clank_lan.replay.sources import from_hexlog
from tests.test_dme_harness import Net


def test_udp_game_frames_and_relays_are_logged(caplog):
    net = Net()
    wid = net.world(108)
    a = net.connect(wid, version=108)
    b = net.connect(wid, version=108)
    with caplog.at_level(logging.DEBUG, logger="clank_lan.frames"):
        a.core.send_broadcast(b"\x02\x09MOVE", udp=True)
        a.core.send_broadcast(b"\x00\x16STATE")
        net.pump()
        net.advance(0.05)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "clank_lan.frames")
    records = [r for r in parse_log(text) if r.service == "DME"]
    a_peer = f"{a.conn.peer[0]}:{a.conn.peer[1]}"
    seen = {
        (r.peer, r.direction, r.rt_id, "udp" in r.tags, r.tags.get("note"), r.tags.get("to")) for r in records
    }
    # what a sent, as it arrived: over UDP and over TCP
    assert (a_peer, "recv", RT.CLIENT_APP_BROADCAST, True, "relayed-unopened", None) in seen
    assert (a_peer, "recv", RT.CLIENT_APP_BROADCAST, False, "relayed-unopened", None) in seen
    # what went out for it: one record per relayed frame, naming the receivers
    to_b = str(b.index)
    assert (a_peer, "send", RT.CLIENT_APP_SINGLE, True, "relayed-unopened", to_b) in seen
    assert (a_peer, "send", RT.CLIENT_APP_SINGLE, False, "relayed-unopened", to_b) in seen
    # the relayed frame in the log is the frame on the wire (source index in front, then the body)
    (sent,) = [r for r in records if r.direction == "send" and "udp" in r.tags and r.tags.get("to")]
    (on_wire,) = [f for d in b.udp_wire for f in split_datagram(d) if f.id == RT.CLIENT_APP_SINGLE]
    assert sent.payload == on_wire.payload and sent.payload[:2] == a.index.to_bytes(2, "little")
    assert sent.tags["hash"] == on_wire.hash.hex()
    # a replay built from the log takes the TCP records only (UDP is game traffic, as in captures)
    every = parse_log(text)
    assert any("udp" in r.tags for r in every)
    assert len(from_hexlog(text).frames) == sum(1 for r in every if "udp" not in r.tags)


def test_udp_game_frames_are_sampled_with_a_count_of_the_rest(caplog):
    """15 Hz from every player would cost more to log than to relay: a few per player and second
    are written (with what went out for them), the others counted into the next record."""
    net = Net()
    wid = net.world(110)
    a = net.connect(wid)
    b = net.connect(wid)
    with caplog.at_level(logging.DEBUG, logger="clank_lan.frames"):
        for _second in range(2):
            for i in range(10):
                a.core.send_broadcast(b"\x02\x09MOVE%d" % i, udp=True)
                net.pump()
            net.advance(1.0)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "clank_lan.frames")
    udp_apps = [r for r in parse_log(text) if "udp" in r.tags and r.rt_id in (2, 3)]
    recv = [r for r in udp_apps if r.direction == "recv"]
    sent = [r for r in udp_apps if r.direction == "send"]
    assert len(recv) == len(sent) == 2 * UDP_LOG_PER_SECOND
    n = UDP_LOG_PER_SECOND
    assert [r.tags.get("skipped") for r in recv] == [None] * n + [str(10 - n)] + [None] * (n - 1)
    assert len(b.apps(udp=True)) == 20  # every frame was relayed all the same
