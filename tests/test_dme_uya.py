"""The UYA (Medius 1.08) DME handshake of Created.pcap and JoinPjs.pcap, replayed with encryption
off: our answers come in the same writes with the same RT ids as Sony's, the player index and
counts match the capture's world, and the console's own app frames (decrypted from the capture
with the world key of its second CRYPTKEY_PEER) reach the players they were addressed to.
"""

from __future__ import annotations

import struct
from itertools import groupby
from pathlib import Path

import pytest

from clank_lan.dissect import DissectFrame, Status, dissect
from clank_lan.dme import wire
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import FrameCipher
from clank_lan.protocol.framing import TcpDeframer, encode_frame, split_datagram
from clank_lan.protocol.rt_ids import RT
from tests.test_dme_harness import DME_IP, Net

FIXTURES = Path(__file__).parent / "fixtures" / "uya"
CONSOLE = ("192.168.0.50", 27213)
CONSOLE_UDP = ("192.168.0.50", 6992)


def dme_frames(name: str) -> list[DissectFrame]:
    return [f for f in dissect(FIXTURES / name).frames if f.service == "DME"]


def replay_payload(f: DissectFrame, world_key: bytes) -> bytes | None:
    """The plaintext the console sent (app frames opened with the world key, index left clear)."""
    if f.status is not Status.HASH_FAILURE:
        return f.plaintext
    cipher = FrameCipher()
    cipher.set_key(Ctx.RC_CLIENT_SESSION, world_key)
    head, body, _ = wire.open_app(cipher, f.raw)
    return head + body


@pytest.mark.parametrize(("capture", "index", "count"), [("Created.pcap", 0, 1), ("JoinPjs.pcap", 1, 3)])
def test_uya_handshake_shape_in_clear(capture, index, count):
    cap = dme_frames(capture)
    sony = [f for f in cap if f.direction == "send"]
    world_key = [f.plaintext for f in sony if f.raw.id == RT.SERVER_CRYPTKEY_PEER][1]
    assert world_key is not None

    net = Net()
    wid = net.world(108)
    others = {}
    for i in range(count):
        if i == index:
            _, access = net.dme.reserve_slot(wid, "console", 99, "console")
        else:
            others[i] = net.connect(wid, version=108, encrypt=False)
    assert sorted(others) == [i for i in range(count) if i != index]
    for p in others.values():
        p.take()
    conn = net.dme.tcp_protocol(CONSOLE, (DME_IP, 10079), net.clock())
    writes: list[tuple[str, list]] = []

    handshake_done = False
    for f in cap:
        if f.direction != "recv":
            continue
        rid = f.raw.id
        if rid == RT.CLIENT_CRYPTKEY_PUBLIC:
            payload = keys.all_keys()["client_uya_ps2_ntsc"].modulus_le
        else:
            payload = replay_payload(f, world_key)
            assert payload is not None, f"frame {f.number} was not recovered"
        if rid == RT.CLIENT_CONNECT_TCP_AUX_UDP:
            req = rtm.ClientConnectTcpAuxUdp.decode(payload, 108)
            assert (req.prefix, req.app_id) == (b"\x01\x08\x01", 10684)
            payload = payload[:3] + struct.pack("<H", wid) + payload[5:-17] + access.encode().ljust(17, b"\0")
        elif rid == RT.CLIENT_CONNECT_AUX_UDP:
            req = rtm.ClientConnectAuxUdp.decode(payload, 108)
            assert req.player_id == index  # the index Sony gave this console
            payload = rtm.ClientConnectAuxUdp(
                world_id=wid, app_id=req.app_id, server_ip=DME_IP, port=10079, player_id=conn.index
            ).encode(108)
        data = encode_frame(rid, payload)  # encryption off
        if f.transport == "udp":
            net.dme.datagram_received(data, CONSOLE_UDP, net.clock())
        else:
            conn.data_received(data, net.clock())
        out = conn.outbox.take()
        if out:
            writes.append(("tcp", [x.id for x in TcpDeframer().feed(out)]))
        for d, addr in net.dme.take_datagrams():
            if addr == CONSOLE_UDP:
                writes.append(("udp", [x.id for x in split_datagram(d)]))
            else:  # a flush request delivered the console's frames to a player right away
                (p,) = [p for p in others.values() if p.addr == addr]
                p.events.extend(p.core.feed_udp(d, net.clock()))
        handshake_done = handshake_done or rid == RT.CLIENT_CONNECT_READY_AUX_UDP
        net.pump()
    net.advance(0.05)

    sony_writes = []
    for _, grp in groupby(sony, key=lambda x: (x.ts, x.transport)):
        group = list(grp)
        if group[0].raw.id != RT.CLIENT_APP_SINGLE:  # relays from the other players come later
            sony_writes.append((group[0].transport, [x.raw.id for x in group]))
    expected = [
        ("tcp", [RT.SERVER_CRYPTKEY_PEER]),
        (
            "tcp",
            [
                RT.SERVER_CRYPTKEY_GAME,
                RT.SERVER_CRYPTKEY_PEER,
                RT.SERVER_CONNECT_ACCEPT_TCP,
                RT.SERVER_INFO_AUX_UDP,
            ],
        ),
        ("udp", [RT.SERVER_CONNECT_ACCEPT_AUX_UDP]),
        ("tcp", [RT.SERVER_CONNECT_COMPLETE, RT.SERVER_APP]),
    ]
    assert sony_writes == expected  # what the capture shows
    assert handshake_done and writes[:4] == expected  # and what we send

    def sony_msg(rid, cls):
        return cls.decode(next(f.plaintext for f in sony if f.raw.id == rid), 108)

    accept = sony_msg(RT.SERVER_CONNECT_ACCEPT_TCP, rtm.ServerConnectAcceptTcp)
    complete = sony_msg(RT.SERVER_CONNECT_COMPLETE, rtm.ServerConnectComplete)
    assert (accept.player_id, accept.player_count, complete.client_count) == (index, count, count)
    info = net.dme.world_info(wid)
    assert info is not None and info.players[index].state == "connected" and conn.index == index
    assert (conn.world.connected_count(), len(conn.world.members)) == (count, count)

    # the console's app frames, in clear now, reach exactly their targets stamped with its index
    sent = [(f.raw.id, f.transport, replay_payload(f, world_key)) for f in cap if f.direction == "recv"]
    for i, p in others.items():
        wanted = sorted(
            (udp == "udp", body if rid == RT.CLIENT_APP_BROADCAST else body[2:])
            for rid, udp, body in sent
            if rid == RT.CLIENT_APP_BROADCAST
            or (rid == RT.CLIENT_APP_SINGLE and body[:2] == struct.pack("<h", i))
        )
        got = sorted((e.udp, e.payload) for e in p.apps())
        assert got == wanted and wanted
        assert {e.source for e in p.apps()} == {index}
