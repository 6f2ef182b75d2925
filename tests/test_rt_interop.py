"""Liberal in what a real client sends (issue 9, items 1-3), with the bytes an independently
written UYA client (clear, written from PS2 captures) sent when it failed against us."""

from __future__ import annotations

import logging
import os

import pytest

from clank_lan.config import TimeoutSettings
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import TcpDeframer, split_datagram
from clank_lan.protocol.rt_ids import RT
from clank_lan.servers.lobby_conn import LobbyConnection, Phase
from tests.test_dme_harness import DME_IP, DME_TCP, Net
from tests.test_lobby_handshake import EchoApp

APP_UYA = bytes.fromhex("BC 29 00 00")  # 10684
KEY64 = bytes(range(64))
SESSION_KEY = b"2" + bytes(16)  # the 17-byte session key "32 00 ..."
TOKEN16 = bytes.fromhex("39 31 32 6e 35 41 52 58 45 4e 56 65 77 30 71 52")  # no NUL after it

#: Its MLS CLIENT_CONNECT_TCP: 106 bytes (a PS2 sends 107, the token with its NUL).
MLS_CONNECT_106 = b"\x01\x08\x01" + b"\x01\x00" + APP_UYA + KEY64 + SESSION_KEY + TOKEN16


def frame(rt_id: int, payload: bytes) -> bytes:
    return bytes((rt_id,)) + len(payload).to_bytes(2, "little") + payload


def test_fixture_is_the_reported_frame():
    wire = frame(RT.CLIENT_CONNECT_TCP, MLS_CONNECT_106)
    assert len(MLS_CONNECT_106) == 106 and wire[:3] == b"\x00\x6a\x00"


@pytest.mark.parametrize("cls", [rtm.ClientConnectTcp, rtm.ClientConnectTcpAuxUdp])
@pytest.mark.parametrize("token_len", [1, 16, 17])
@pytest.mark.parametrize("nul", [False, True])
def test_connect_takes_an_access_token_of_1_to_17_bytes_nul_optional(cls, token_len, nul):
    token = b"T" * token_len
    if nul and token_len < 17:
        token = token[:-1] + b"\0"
    payload = b"\x01\x08\x01\x01\x00" + APP_UYA + KEY64 + SESSION_KEY + token
    msg = cls.decode(payload, 108)
    assert msg.session_key == "2" and msg.access_token == token.rstrip(b"\0").decode()
    assert (msg.world_id, msg.app_id, msg.key) == (1, 10684, KEY64)


@pytest.mark.parametrize("tail", [1, 17, 35])
def test_connect_tail_without_a_token_or_too_long_is_refused(tail):
    payload = b"\x01\x08\x01\x01\x00" + APP_UYA + KEY64 + b"x" * tail
    with pytest.raises(ProtocolError, match="expected 0 or 18 to 34"):
        rtm.ClientConnectTcp.decode(payload, 108)


def test_mls_connect_of_106_bytes_is_accepted_by_a_lobby_service():
    app = EchoApp()
    conn = LobbyConnection(
        app,
        ("127.0.0.2", 40000),
        ("127.0.0.1", 10079),
        rsa_key=keys.global_mas_key(),
        rng=os.urandom,
        wall_clock=lambda: 1_700_000_000.0,
        now=5.0,
        timeouts=TimeoutSettings(),
    )
    conn.data_received(frame(RT.CLIENT_CONNECT_TCP, MLS_CONNECT_106), 5.0)
    assert app.connects[0].access_token == "912n5ARXENVew0qR" and app.connects[0].session_key == "2"
    out = TcpDeframer().feed(conn.outbox.take())
    assert [f.id for f in out] == [
        RT.SERVER_CRYPTKEY_GAME,
        RT.SERVER_CONNECT_ACCEPT_TCP,
        RT.SERVER_CONNECT_COMPLETE,
    ]
    assert all(f.hash is None for f in out)  # it talks clear, so do we
    assert conn.phase is Phase.READY and app.times == [("connect", 5.0), ("ready", 5.0)]


def _clear_dme_player(net: Net, wid: int, index_wanted: int):
    """Reserve slots up to ``index_wanted``; the last one's access key."""
    key = ""
    for i in range(index_wanted + 1):
        _, key = net.dme.reserve_slot(wid, f"s{i}", i, f"p{i}")
    return key


def test_dme_short_token_connect_world_mismatch_and_udp_naming_another_world(caplog):
    """The whole failed DME join, replayed: TCP connect of 106 bytes naming world 1 (our world
    1), then CONNECT_AUX_UDP naming world 2; both now bind to the waiting player."""
    net = Net()
    wid = net.world(108)
    assert wid == 1
    access = _clear_dme_player(net, wid, 1).encode()
    assert len(access) == 16
    tcp_connect = b"\x01\x08\x01" + b"\x01\x00" + APP_UYA + KEY64 + SESSION_KEY + access
    wire = frame(RT.CLIENT_CONNECT_TCP_AUX_UDP, tcp_connect)
    assert wire[:10] == bytes.fromhex("15 6A 00 01 08 01 01 00 BC 29")
    conn = net.dme.tcp_protocol(("127.0.0.2", 40000), (DME_IP, DME_TCP), net.clock())
    with caplog.at_level(logging.INFO, logger="clank_lan.dme"):
        conn.data_received(wire, net.clock())
        out = TcpDeframer().feed(conn.outbox.take())
        assert [f.id for f in out] == [RT.SERVER_CONNECT_ACCEPT_TCP, RT.SERVER_INFO_AUX_UDP]
        accept = rtm.ServerConnectAcceptTcp.decode(out[0].payload, 108)
        assert accept.player_id == 1

        udp_connect = (
            bytes.fromhex("16 1D 00 01 08 01 02 00 BC 29 00 00")
            + b"127.0.0.2".ljust(16, b"\0")
            + bytes.fromhex("50 C3 01 00")
        )
        addr = ("127.0.0.2", 40001)
        net.dme.datagram_received(udp_connect, addr, net.clock())
        ((dgram, to),) = net.dme.take_datagrams()
        assert to == addr
        (acc,) = split_datagram(dgram)
        assert acc.id == RT.SERVER_CONNECT_ACCEPT_AUX_UDP and acc.hash is None
        conn.data_received(frame(RT.CLIENT_CONNECT_READY_AUX_UDP, b""), net.clock())
    assert conn.phase is Phase.READY and conn.udp_addr == addr
    assert net.lobby.connected == [(wid, 1, "s1")]
    assert "matched by address and index" in caplog.text
    assert "dropped" not in caplog.text


def test_dme_connect_naming_world_0_for_world_1_warns_and_goes_on(caplog):
    net = Net()
    wid = net.world(110)
    _, key = net.dme.reserve_slot(wid, "s", 1, "p")
    with caplog.at_level(logging.WARNING, logger="clank_lan.dme"):
        p = net.connect(0, access_key=key, session_key="s")
    assert p.alive and p.conn.phase is Phase.READY and p.conn.world is not None
    assert p.conn.world.world_id == wid
    assert f"naming world 0 with an access key of world {wid}; going on" in caplog.text


def test_udp_connect_from_an_unknown_address_still_needs_the_named_world():
    """Matching by address and index does not let a stranger bind: from another IP the world
    and index it names must be a waiting player (the old rule), or it is dropped."""
    net = Net()
    wid = net.world(108)
    key = _clear_dme_player(net, wid, 0)
    conn = net.dme.tcp_protocol(("127.0.0.2", 40000), (DME_IP, DME_TCP), net.clock())
    connect = b"\x01\x08\x01\x01\x00" + APP_UYA + KEY64 + SESSION_KEY + key.encode()
    conn.data_received(frame(RT.CLIENT_CONNECT_TCP_AUX_UDP, connect), net.clock())
    conn.outbox.take()
    wrong_world = (
        bytes.fromhex("16 1D 00 01 08 01 07 00 BC 29 00 00")
        + b"127.0.0.2".ljust(16, b"\0")
        + bytes.fromhex("50 C3 00 00")
    )
    net.dme.datagram_received(wrong_world, ("10.9.9.9", 5000), net.clock())
    assert net.dme.take_datagrams() == [] and conn.udp_addr is None
    right_world = wrong_world[:6] + b"\x01\x00" + wrong_world[8:]
    net.dme.datagram_received(right_world, ("10.9.9.9", 5000), net.clock())
    assert [to for _, to in net.dme.take_datagrams()] == [("10.9.9.9", 5000)]


def test_encrypted_udp_connect_naming_the_wrong_world_binds_the_player_whose_key_opens_it():
    """Two consoles behind one address, both index 0 in two worlds; the second numbers worlds
    its own way in both connects. The key that opens its CONNECT_AUX_UDP decides, not the id."""
    net = Net()
    w1, w2 = net.world(110), net.world(110)
    a = net.connect(w1)
    _, key2 = net.dme.reserve_slot(w2, "s2", 2, "p2")
    c = net.connect(w1, access_key=key2, session_key="s2")  # names world 1, holds a world-2 key
    assert a.conn.peer[0] == c.conn.peer[0] and a.index == c.index == 0
    assert c.conn.world is not None and c.conn.world.world_id == w2
    assert c.conn.phase is Phase.READY and c.conn.udp_addr == c.addr
    assert a.conn.udp_addr == a.addr  # a's binding untouched
