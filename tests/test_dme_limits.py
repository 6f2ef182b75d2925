"""The DME under hostile or unusual input: limits, early drops and operator warnings."""

from __future__ import annotations

import logging

from clank_lan import limit_hits as lh
from clank_lan.config import LimitSettings
from clank_lan.dme import manager
from clank_lan.protocol.framing import encode_frame
from clank_lan.protocol.rt_ids import RT

from .test_dme_harness import Net
from .test_dme_relay import room

APP_UYA_BETA = 10680  # titles.py: the public beta, Quirk.OLD_DME_FORMAT


def test_a_title_with_the_old_dme_format_is_warned_about(caplog):
    caplog.set_level(logging.WARNING, "clank_lan.dme")
    net = Net()
    wid = net.world(108, app_id=APP_UYA_BETA)
    p = net.connect(wid, version=108, app_id=APP_UYA_BETA)
    assert p.alive
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("older DME packet format" in w and "beta" in w for w in warnings)


def test_a_retail_title_gets_no_such_warning(caplog):
    caplog.set_level(logging.WARNING, "clank_lan.dme")
    net = Net()
    net.connect(net.world(108), version=108)
    assert "older DME packet format" not in caplog.text


def test_scert_ids_are_freed_when_players_leave():
    """Before, every connection kept its scert id for good: after 65,535 joins no player could
    bind any more (a soak finds it; a busy weekend would)."""
    net = Net()
    wid = net.world(110, max_players=8)
    for _ in range(20):
        p = net.connect(wid)
        assert p.alive and p.conn.scert_id in net.dme._scerts
        net.drop(p)
    assert net.dme._scerts == set()


def test_relay_frames_over_a_players_rate_are_dropped_and_counted(caplog):
    caplog.set_level(logging.INFO, "clank_lan.dme")
    hits = lh.LimitHits()
    limits = LimitSettings(relay_frames_per_second=100.0, relay_burst=200)
    net, _, (a, b) = room(2, 110, False, limits=limits)
    net.dme.refusals.hits = hits
    for i in range(1000):  # all in one instant, over UDP
        a.core.send_broadcast(b"\x02\x09" + i.to_bytes(2, "little"), udp=True)
    net.pump()
    net.advance(0.05)
    assert len(b.apps(True)) == 200
    assert net.dme.stats.dropped_relay_rate == 800 and hits[lh.RELAY_RATE] == 800
    over = [r for r in caplog.records if "relay frames a second" in r.getMessage()]
    assert 1 <= len(over) <= limits.log_lines_per_peer
    b.take()
    net.advance(1.0)  # a second later the player may send again, and b still gets it
    a.core.send_broadcast(b"\x02\x09late", udp=True)
    net.pump()
    net.advance(0.05)
    assert [e.payload for e in b.apps(True)] == [b"\x02\x09late"]


def test_a_flood_from_a_stranger_is_dropped_unread_and_a_joiner_still_connects():
    """Datagrams from a source that is no player: a small rate each, and all strangers together
    another, checked before anything is parsed; a joining console's connect always gets in."""
    net = Net()
    wid = net.world(110)
    junk = encode_frame(RT.CLIENT_CONNECT_AUX_UDP, bytes(64))
    for _ in range(5000):
        net.dme.datagram_received(junk, ("10.66.66.66", 4444), net.clock())
    assert net.dme.stats.dropped_stranger_rate == 5000 - 2 * manager.STRANGER_RATE
    for port in range(3000):  # many sources: the total for strangers holds
        net.dme.datagram_received(junk, ("10.66.66.66", 10000 + port), net.clock())
    assert net.dme.stats.dropped_bad <= 2 * manager.STRANGER_RATE + manager.STRANGERS_TOTAL_RATE
    p = net.connect(wid)  # meanwhile a console joins (its TCP address is expected on UDP)
    assert p.alive and p.conn.udp_addr is not None
