"""The Deadlocked console of b41.pcap replayed against our DME, newserv style.

Every client frame of the DME session (TCP 10079 and UDP 50002), in capture order and with the
capture's timestamps as the clock, goes to our DME; our answers are decrypted the way the console
does and compared with what Sony's server sent: the same RT ids in the same writes, the same
cipher context, and the same bytes once the fields that must differ are masked (keys, scert ids,
addresses, times). Where the console had copied a server value into its own frames (world id,
access key, player and scert id, server address), ours is substituted.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import pytest

from clank_lan.config import TimeoutSettings
from clank_lan.dme import DmeManager
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import Frame, FrameCipher
from clank_lan.protocol.framing import RawFrame, TcpDeframer, encode_frame, split_datagram
from clank_lan.protocol.rt_ids import RT

SHARED = Path(__file__).resolve().parents[2] / "shared"
DECODED = SHARED / "captures" / "decoded" / "b41-decrypted.txt"
SONY_DME = "160.33.34.90"
CONSOLE_TCP = ("192.168.1.107", 7920)
CONSOLE_UDP = ("192.168.1.107", 6981)

_LINE = re.compile(
    r"^(?P<ts>[\d.]+) (?P<tr>TCP|UDP) (?P<src>[\d.]+):(?P<sport>\d+)->(?P<dst>[\d.]+):(?P<dport>\d+) "
    r"(?P<id>[0-9a-f]{2}) (?P<name>\S+) "
    r"(?:(?P<clear>clear)|(?P<enc0>enc0)|ctx=(?P<ctx>\d) h=(?P<h>[0-9a-f]{8})) "
    r"len=(?P<len>\d+)(?: (?P<status>ok|UNDECRYPTED))? ?(?P<hex>[0-9a-f]*)\s*$"
)


@dataclass(frozen=True)
class CapFrame:
    ts: float
    udp: bool
    from_client: bool
    id: int
    tag: str  # "clear", "enc0", "ctx=N"
    hash: bytes | None
    payload: bytes
    decrypted: bool


def load_capture() -> list[CapFrame]:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent: the decoded b41 capture lives there")
    out = []
    for line in DECODED.read_text().splitlines():
        m = _LINE.match(line)
        if m is None or (m["dport"] not in ("10079", "50002") and m["sport"] not in ("10079", "50002")):
            continue
        payload = bytes.fromhex(m["hex"])
        assert len(payload) == int(m["len"]), line
        tag = "clear" if m["clear"] else "enc0" if m["enc0"] else f"ctx={m['ctx']}"
        out.append(
            CapFrame(
                float(m["ts"]),
                m["tr"] == "UDP",
                m["src"] != SONY_DME,
                int(m["id"], 16),
                tag,
                bytes.fromhex(m["h"]) if m["h"] else None,
                payload,
                m["status"] != "UNDECRYPTED",
            )
        )
    return out


class Console:
    """The capture's console: its client key, and keys learnt the way the real one learns them."""

    def __init__(self) -> None:
        self.cipher = FrameCipher(rsa_local=keys.all_keys()["client_dl_ps2_ntsc"])
        self.cipher.rsa_peer = keys.global_mas_key()  # our DME's key, where Sony's was unknown
        self.peers: list[bytes] = []
        self.deframer = TcpDeframer()

    def read(self, raws: list[RawFrame]) -> list[tuple[Frame, bytes | None]]:
        out = []
        for raw in raws:
            f = self.cipher.decrypt(raw)
            if f.id == RT.SERVER_CRYPTKEY_PEER:
                self.peers.append(f.payload)
                self.cipher.set_key(Ctx.RC_CLIENT_SESSION, f.payload)
            elif f.id == RT.SERVER_CRYPTKEY_GAME:
                self.cipher.set_key(Ctx.RC_SERVER_SESSION, f.payload)
            out.append((f, raw.hash))
        return out


def ctx_tag(f: Frame) -> str:
    return "clear" if f.ctx is None else f"ctx={f.ctx}"


def mask(rt_id: int, payload: bytes) -> tuple:
    """The fields that must equal Sony's; keys, scert ids, addresses and times left out."""
    v = 110
    if rt_id in (RT.SERVER_CRYPTKEY_PEER, RT.SERVER_CRYPTKEY_GAME):
        return (len(payload),)
    if rt_id == RT.SERVER_CONNECT_ACCEPT_TCP:
        m = rtm.ServerConnectAcceptTcp.decode(payload, v)
        return (m.player_id, m.player_count)
    if rt_id == RT.SERVER_CONNECT_ACCEPT_AUX_UDP:
        m = rtm.ServerConnectAcceptAuxUdp.decode(payload, v)
        return (m.player_id, m.player_count)
    if rt_id == RT.SERVER_STARTUP_INFO_NOTIFY:
        return (rtm.ServerStartupInfoNotify.decode(payload, v).game_host_type,)
    if rt_id == RT.SERVER_INFO_AUX_UDP:
        rtm.ServerInfoAuxUdp.decode(payload, v)
        return ()
    if rt_id == RT.SERVER_ECHO:
        return (len(payload),)
    if rt_id == RT.SERVER_TIMEBASE_QUERY_NOTIFY:
        return (rtm.ServerTimebaseQueryNotify.decode(payload, v).client_time,)
    return (payload,)  # HELLO, CONNECT_REQUIRE, COMPLETE, the ServerVersion app, CLIENT_ECHO: exact


def test_b41_dme_session_replayed():
    cap = load_capture()
    client = [f for f in cap if f.from_client]
    sony = [f for f in cap if not f.from_client]
    assert len(client) > 500 and len(sony) > 60

    dme = DmeManager(SONY_DME, 10079, 50002, TimeoutSettings(), os.urandom, lambda: client[0].ts)
    wid = dme.create_world(11184, 8, 110)
    _, access = dme.reserve_slot(wid, "13088", 1, "Badger41")
    conn = dme.tcp_protocol(CONSOLE_TCP, (SONY_DME, 10079), dme.clock())
    console = Console()
    replies: list[tuple[str, bool, list[tuple[Frame, bytes | None]]]] = []  # (request, udp, answers)

    for f in client:
        name = RT(f.id).name
        payload = f.payload
        if f.id == RT.CLIENT_CONNECT_TCP_AUX_UDP:
            req = rtm.ClientConnectTcpAuxUdp.decode(payload, 110)
            assert (req.app_id, req.session_key) == (11184, "13088")
            payload = struct.pack("<I", wid) + payload[4:-17] + access.encode().ljust(17, b"\0")
        elif f.id == RT.CLIENT_CONNECT_AUX_UDP:
            assert conn.world is not None
            req = rtm.ClientConnectAuxUdp.decode(payload, 110)
            assert (req.world_id, req.port, req.server_ip) == (3, 10079, SONY_DME)
            ours = rtm.ClientConnectAuxUdp(
                world_id=wid, app_id=req.app_id, server_ip=SONY_DME, port=10079,
                player_id=conn.index, scert_id=conn.scert_id,
            )  # fmt: skip
            payload = ours.encode(110)
        if f.id == RT.CLIENT_CRYPTKEY_PUBLIC:
            data = console.cipher.encrypt(f.id, console.cipher.rsa_local.modulus_le, Ctx.RSA_AUTH)
        elif f.tag == "clear":
            data = encode_frame(f.id, payload)
        elif f.tag == "enc0":
            data = encode_frame(f.id, b"", b"")
        elif not f.decrypted or f.hash == b"\x00\x00\x00\x60":
            data = encode_frame(f.id, payload, f.hash)  # as captured: null hash, or damaged
        else:
            data = console.cipher.encrypt(f.id, payload, int(f.tag[4:]))
        dme.clock = lambda ts=f.ts: ts
        dme.on_timer(f.ts)
        before = [] if f.udp else console.read(TcpDeframer().feed(conn.outbox.take()))
        if before:
            replies.append(("(timer)", False, before))
        if f.udp:
            dme.datagram_received(data, CONSOLE_UDP, f.ts)
        else:
            conn.data_received(data, f.ts)
        tcp = console.read(TcpDeframer().feed(conn.outbox.take()))
        sent = dme.take_datagrams()
        assert {addr for _, addr in sent} <= {CONSOLE_UDP}
        udp = [x for d, _ in sent for x in console.read(split_datagram(d))]
        if tcp:
            replies.append((name, False, tcp))
        if udp:
            replies.append((name, True, udp))

    # --- the handshake: Sony's writes (frames sharing a timestamp) against ours -----------------
    sony_tcp = [f for f in sony if not f.udp]
    sony_writes = [list(g) for _, g in groupby(sony_tcp, key=lambda f: f.ts)]
    handshake = sony_writes[:6]
    assert [[RT(f.id).name for f in w] for w in handshake] == [
        ["SERVER_HELLO"],
        ["SERVER_CRYPTKEY_PEER"],
        ["SERVER_CONNECT_REQUIRE"],
        ["SERVER_CRYPTKEY_GAME", "SERVER_CRYPTKEY_PEER", "SERVER_CONNECT_ACCEPT_TCP"],
        ["SERVER_STARTUP_INFO_NOTIFY", "SERVER_INFO_AUX_UDP"],
        ["SERVER_CONNECT_COMPLETE", "SERVER_APP", "SERVER_ECHO"],
    ]
    ours = [(req, ans) for req, udp, ans in replies if not udp][:6]  # the first six TCP answers
    assert [req for req, _ in ours] == [
        "CLIENT_HELLO",
        "CLIENT_CRYPTKEY_PUBLIC",
        "CLIENT_CONNECT_TCP_AUX_UDP",
        "CLIENT_CONNECT_READY_REQUIRE",
        "CLIENT_CONNECT_READY_TCP",
        "CLIENT_CONNECT_READY_AUX_UDP",
    ]
    for sony_write, (req, answer) in zip(handshake, ours):
        assert [(f.id, f.tag, mask(f.id, f.payload)) for f in sony_write] == [
            (f.id, ctx_tag(f), mask(f.id, f.payload)) for f, _ in answer
        ], req
    # the values that had to differ are still consistent with each other
    hs = {f.id: f for _, ans in ours for f, _ in ans}
    accept = rtm.ServerConnectAcceptTcp.decode(hs[RT.SERVER_CONNECT_ACCEPT_TCP].payload, 110)
    assert accept.scert_id == conn.scert_id and accept.client_ip == CONSOLE_TCP[0]
    assert rtm.ServerInfoAuxUdp.decode(hs[RT.SERVER_INFO_AUX_UDP].payload, 110) == rtm.ServerInfoAuxUdp(
        ip=SONY_DME, port=50002
    )
    assert len(console.peers) == 2 and console.peers[0] != console.peers[1]
    # the DME predicted the console's encrypted UDP connect exactly (found by its checksum)
    assert (dme.stats.udp_connects_indexed, dme.stats.udp_connects_searched) == (2, 0)

    # --- UDP: one accept per connect (the console sent two), then echo answers ---------------
    sony_udp = [f for f in sony if f.udp]
    our_udp = [(req, f, h) for req, udp, ans in replies if udp for f, h in ans]
    assert [RT(f.id).name for f in sony_udp[:2]] == ["SERVER_CONNECT_ACCEPT_AUX_UDP"] * 2
    assert [(req, f.id) for req, f, _ in our_udp[:2]] == [
        ("CLIENT_CONNECT_AUX_UDP", f.id) for f in sony_udp[:2]
    ]
    for s, (_, f, _) in zip(sony_udp[:2], our_udp[:2]):
        assert (s.tag, mask(s.id, s.payload)) == (ctx_tag(f), mask(f.id, f.payload))
        aux = rtm.ServerConnectAcceptAuxUdp.decode(f.payload, 110)
        assert (aux.client_ip, aux.client_port, aux.scert_id) == (*CONSOLE_UDP, conn.scert_id)
    sony_echo_udp = sony_udp[2:]
    our_echo_udp = our_udp[2:]
    valid_echoes = sum(1 for f in client if f.udp and f.id == RT.CLIENT_ECHO and f.decrypted)
    assert len(our_echo_udp) == valid_echoes >= len(sony_echo_udp) >= valid_echoes - 1
    for s, (req, f, h) in zip(sony_echo_udp, our_echo_udp):
        assert req == "CLIENT_ECHO" and (s.id, s.tag, s.hash, s.payload) == (f.id, ctx_tag(f), h, f.payload)

    # --- steady state on TCP: an echo answer per echo, a timebase answer per query ------------
    tcp_replies = [(req, ans) for req, udp, ans in replies if not udp]
    rest = [(req, f, h) for req, ans in tcp_replies[6:] for f, h in ans]
    ours_by_id = {
        k: [x for x in rest if x[1].id == k] for k in (RT.CLIENT_ECHO, RT.SERVER_TIMEBASE_QUERY_NOTIFY)
    }
    sony_rest = [f for w in sony_writes[6:] for f in w]
    sony_echo = [f for f in sony_rest if f.id == RT.CLIENT_ECHO]
    assert (
        len(ours_by_id[RT.CLIENT_ECHO])
        == len(sony_echo)
        == sum(1 for f in client if not f.udp and f.id == RT.CLIENT_ECHO)
    )
    for s, (req, f, h) in zip(sony_echo, ours_by_id[RT.CLIENT_ECHO]):
        assert req == "CLIENT_ECHO" and (s.tag, s.hash, s.payload) == (ctx_tag(f), h, f.payload)
    sony_tb = [f for f in sony_rest if f.id == RT.SERVER_TIMEBASE_QUERY_NOTIFY]
    our_tb = ours_by_id[RT.SERVER_TIMEBASE_QUERY_NOTIFY]
    queries = [rtm.ClientTimebaseQuery.decode(f.payload, 110).client_time for f in client if f.id == 0x2D]
    assert [mask(f.id, f.payload)[0] for _, f, _ in our_tb] == queries
    assert [mask(s.id, s.payload)[0] for s in sony_tb] == queries[: len(sony_tb)]
    assert all(s.tag == ctx_tag(f) == "ctx=3" for s, (_, f, _) in zip(sony_tb, our_tb))
    server_times = [rtm.ServerTimebaseQueryNotify.decode(f.payload, 110).server_time for _, f, _ in our_tb]
    assert server_times == sorted(server_times) and server_times[0] < 2000  # the world timer, in ms
    # Sony's unsolicited SERVER_ECHO has our layout; we send one every dme_echo seconds
    assert {len(f.payload) for f in sony_rest if f.id == RT.SERVER_ECHO} == {8}
    assert {len(f.payload) for _, f, _ in rest if f.id == RT.SERVER_ECHO} == {8}
    # nothing else: no relays (the console was alone), no answers to broadcasts or flags
    allowed = {RT.CLIENT_ECHO, RT.SERVER_TIMEBASE_QUERY_NOTIFY, RT.SERVER_ECHO}
    assert {RT(f.id).name for _, f, _ in rest} <= {RT(i).name for i in allowed}
    assert {RT(f.id).name for f in sony_rest} <= {RT(i).name for i in allowed}
    assert conn.world is not None and conn.world.members == [conn]
