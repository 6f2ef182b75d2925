"""Dissection of synthetic sessions built with our own cipher: key recovery, hash checks, TCP
disorder, DME UDP, NAT and damaged streams."""

from __future__ import annotations

import random

import pytest

from clank_lan.dissect import Status, dissect_bytes, synth
from clank_lan.dissect.model import RECV, SEND
from clank_lan.dissect.packets import TCP_ACK, TCP_FIN, TCP_SYN
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.hashing import null_hash
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import FrameCipher
from clank_lan.protocol.framing import encode_frame
from clank_lan.protocol.rt_ids import RT

CLIENT = ("192.168.1.50", 40001)
MAS = ("10.1.1.1", 10075)
DME = ("10.1.1.1", 10079)
DME_UDP = ("10.1.1.1", 51000)  # outside Sony's 50000-50100 range: found only from INFO_AUX_UDP
CLIENT_UDP = ("192.168.1.50", 6000)
NAT = ("10.1.1.2", 10070)

CLIENT_PAIR = next(k for k in keys.client_keys() if k.name == "client_dl_ps2_ntsc")
UNKNOWN_KEY = RsaKey(n=(1 << 511) | 0x1234567)  # a modulus nobody has the private half of
K3 = bytes(range(1, 65))
K1 = bytes(range(100, 164))
K3_DME = bytes(range(200, 256)) + bytes(8)


class Session:
    """Writes of a connection in time order, encrypted the way client and server do it."""

    def __init__(self, server_key: RsaKey, client_key: RsaKey) -> None:
        self.c = FrameCipher()
        self.c.rsa_peer = server_key
        self.s = FrameCipher()
        self.s.rsa_peer = RsaKey(n=client_key.n)
        self.client_key = client_key
        self.writes: list[tuple[str, bytes]] = []
        self.expect: list[tuple[str, int, bytes]] = []  # direction, id, plaintext

    def send(self, side: str, rt_id: int, payload: bytes, ctx: int | None, coalesce: bool = False) -> None:
        cipher = self.c if side == "c" else self.s
        wire = cipher.encrypt(rt_id, payload, ctx)
        if coalesce and self.writes and self.writes[-1][0] == side:
            self.writes[-1] = (side, self.writes[-1][1] + wire)
        else:
            self.writes.append((side, wire))
        self.expect.append((RECV if side == "c" else SEND, rt_id, payload))

    def raw(self, side: str, wire: bytes, rt_id: int, payload: bytes) -> None:
        self.writes.append((side, wire))
        self.expect.append((RECV if side == "c" else SEND, rt_id, payload))

    def keys(self, ctx: int, key: bytes) -> None:
        for cipher in (self.c, self.s):
            cipher.set_key(ctx, key)

    def handshake(self) -> None:
        self.send("c", RT.CLIENT_HELLO, bytes.fromhex("02006e006d0001000100"), None)
        self.send("s", RT.SERVER_HELLO, bytes.fromhex("6e000100"), None)
        self.send("c", RT.CLIENT_CRYPTKEY_PUBLIC, self.client_key.modulus_le, 7)
        self.send("s", RT.SERVER_CRYPTKEY_PEER, K3, 7)
        self.keys(3, K3)
        self.send("c", RT.CLIENT_CONNECT_TCP, bytes(range(72)), 3)
        self.send("s", RT.SERVER_CONNECT_REQUIRE, b"\x02\x48\x02", 3)
        self.send("c", RT.CLIENT_CONNECT_READY_REQUIRE, b"\x00", 3)
        self.send("s", RT.SERVER_CRYPTKEY_GAME, K1, 3)
        self.keys(1, K1)
        self.send("s", RT.SERVER_CONNECT_ACCEPT_TCP, b"\0" * 8 + b"192.168.1.50".ljust(16, b"\0"), 3, True)

    def lobby(self) -> None:
        self.send("c", RT.CLIENT_CONNECT_READY_TCP, b"\x0e\x01", 3)
        self.send("s", RT.SERVER_CONNECT_COMPLETE, b"\x01\x00", 3)
        self.send("c", RT.CLIENT_APP_TOSERVER, b"\x01\x07" + bytes(range(100)), 3)
        self.send("s", RT.SERVER_APP, b"\x04\x11" + bytes(i % 251 for i in range(600)), 1)  # spans segments
        self.raw("c", encode_frame(RT.CLIENT_APP_BROADCAST, b"plain!", null_hash(3)), RT.CLIENT_APP_BROADCAST,
                 b"plain!")  # fmt: skip
        self.raw("c", b"\x97\x00\x00", RT.CLIENT_CONNECT_READY_AUX_UDP, b"")
        self.send("c", RT.CLIENT_ECHO, b"\xa5", 3, coalesce=True)
        self.send("c", RT.CLIENT_DISCONNECT, b"", None)


def tcp_records(writes, client, server, t0=0.0, rng: random.Random | None = None, drop: int | None = None):
    """Capture records of a TCP connection carrying ``writes``; ``rng`` reorders, duplicates and
    re-segments; ``drop`` leaves out the n-th data segment."""
    isn = {"c": 1_000_000, "s": 4_294_967_000}  # the server's sequence numbers wrap
    ends = {"c": (client, server), "s": (server, client)}
    stream = {"c": b"", "s": b""}
    recs = []
    t = t0

    def emit(side, offset, chunk, flags=TCP_ACK):
        nonlocal t
        t += 0.001
        src, dst = ends[side]
        recs.append((t, synth.ethernet(synth.tcp_packet(src, dst, isn[side] + offset, chunk, flags))))

    emit("c", -1, b"", TCP_SYN)
    emit("s", -1, b"", TCP_SYN | TCP_ACK)
    n = 0
    for side, data in writes:
        start = len(stream[side])
        stream[side] += data
        chunks = [(start + i, data[i : i + 200]) for i in range(0, len(data), 200)]
        if rng is not None:
            how = rng.choice(["plain", "reverse", "dup", "overlap"])
            if how == "reverse":
                chunks.reverse()
            elif how == "dup":
                chunks = chunks + chunks[:1]
            elif how == "overlap" and start >= 3:
                chunks = [(start - 3, stream[side][start - 3 : start + 5]), *chunks]
        for off, chunk in chunks:
            n += 1
            if n != drop:
                emit(side, off, chunk)
    emit("c", len(stream["c"]), b"", TCP_FIN | TCP_ACK)
    return recs


def frames_of(result):
    return [(f.direction, f.raw.id, f.plaintext) for f in result.frames]


def lobby_session(server_key=None, client_key=CLIENT_PAIR) -> Session:
    s = Session(server_key or keys.global_mas_key(), client_key)
    s.handshake()
    s.lobby()
    return s


def test_clean_session_decrypts_everything():
    s = lobby_session()
    res = dissect_bytes(synth.pcap(tcp_records(s.writes, CLIENT, MAS)))
    assert res.error is None
    assert frames_of(res) == s.expect
    c = res.counts
    assert (c.frames, c.encrypted, c.decrypted, c.hash_failures, c.undecodable) == (17, 12, 12, 0, 0)
    assert {f.service for f in res.frames} == {"MAS"}
    assert {f.stream for f in res.frames} == {"t1"}
    statuses = [f.status for f in res.frames]
    assert statuses.count(Status.CLEAR) == 3 and statuses.count(Status.NULL) == 2
    ctx1 = [f for f in res.frames if f.raw.id == RT.SERVER_APP]
    assert ctx1[0].plain.ctx == 1 and ctx1[0].key == K1
    for f in res.frames:
        assert f.reencode() == f.raw.encode()
    assert not res.notes


@pytest.mark.parametrize("seed", range(8))
def test_reordered_duplicated_resegmented_tcp_gives_the_same_frames(seed):
    s = lobby_session()
    res = dissect_bytes(synth.pcap(tcp_records(s.writes, CLIENT, MAS, rng=random.Random(seed))))
    assert frames_of(res) == s.expect
    assert res.counts.decrypted == 12
    assert not res.notes


def test_public_to_unknown_server_key_is_undecodable_but_peer_still_decrypts():
    s = lobby_session(server_key=UNKNOWN_KEY)
    res = dissect_bytes(synth.pcap(tcp_records(s.writes, CLIENT, MAS)))
    (bad,) = res.not_decrypted
    assert bad.raw.id == RT.CLIENT_CRYPTKEY_PUBLIC and bad.status is Status.UNDECODABLE
    assert "private half is unknown" in bad.reason
    assert res.counts.decrypted == 11
    peer = next(f for f in res.frames if f.raw.id == RT.SERVER_CRYPTKEY_PEER)
    assert peer.plaintext == K3 and peer.rsa.n == CLIENT_PAIR.n


def test_unknown_client_key_pair_needs_a_given_key():
    client = RsaKey(n=(1 << 511) | 0xABCDEF)  # public only: PEER cannot be RSA-decrypted
    s = lobby_session(client_key=client)
    blob = synth.pcap(tcp_records(s.writes, CLIENT, MAS))
    res = dissect_bytes(blob)
    c = res.counts
    assert (c.decrypted, c.hash_failures, c.undecodable) == (1, 0, 11)  # only the PUBLIC
    peer = next(f for f in res.frames if f.raw.id == RT.SERVER_CRYPTKEY_PEER)
    assert "client RSA key pair unknown" in peer.reason
    assert "no key for context 3" in res.frames[4].reason

    # K3 as a given key: the PEER is recognised by re-encrypting it to the client modulus,
    # and GAME then delivers K1.
    res = dissect_bytes(blob, [bytes(64), K3])
    assert res.counts.decrypted == 12
    assert frames_of(res) == s.expect
    peer = next(f for f in res.frames if f.raw.id == RT.SERVER_CRYPTKEY_PEER)
    assert peer.reencode() == peer.raw.encode()


def test_given_keys_decrypt_a_capture_without_handshake():
    s = lobby_session()
    start = next(i for i, (side, w) in enumerate(s.writes) if w[0] & 0x7F == RT.CLIENT_CONNECT_READY_TCP)
    blob = synth.pcap(tcp_records(s.writes[start:], CLIENT, MAS))
    assert dissect_bytes(blob).counts.undecodable == 5
    res = dissect_bytes(blob, [K1, K3])
    c = res.counts
    assert (c.encrypted, c.decrypted, c.hash_failures, c.undecodable) == (5, 5, 0, 0)
    for f in res.frames:
        assert f.reencode() == f.raw.encode()


def test_corrupted_ciphertext_is_a_hash_failure():
    s = lobby_session()
    i = next(i for i, (_side, w) in enumerate(s.writes) if w[0] & 0x7F == RT.CLIENT_APP_TOSERVER)
    side, wire = s.writes[i]
    s.writes[i] = (side, wire[:20] + bytes([wire[20] ^ 0x01]) + wire[21:])
    res = dissect_bytes(synth.pcap(tcp_records(s.writes, CLIENT, MAS)))
    (bad,) = res.not_decrypted
    assert bad.status is Status.HASH_FAILURE and bad.raw.id == RT.CLIENT_APP_TOSERVER
    assert "hash check failed under the context-3 key" in bad.reason
    assert res.counts.hash_failures == 1 and res.counts.decrypted == 11


def test_lost_segment_resynchronises_and_is_reported():
    s = lobby_session()
    res = dissect_bytes(synth.pcap(tcp_records(s.writes, CLIENT, MAS, drop=9)))
    kinds = [n.kind for n in res.notes]
    assert "gap" in kinds
    assert len(res.frames) < len(s.expect)
    assert res.error is None


def test_incomplete_frame_at_end_is_reported():
    s = lobby_session()
    side, wire = s.writes[-1]
    s.writes[-1] = (side, wire + b"\x8b\x40\x00\x01\x02")
    res = dissect_bytes(synth.pcap(tcp_records(s.writes, CLIENT, MAS)))
    (tail,) = [n for n in res.notes if n.kind == "tail"]
    assert "5 bytes of an incomplete frame" in tail.text
    assert res.counts.frames == 17


def dme_capture():
    """A DME connection (TCP + UDP) with Sony's second, RC-encrypted PEER and NAT traffic."""
    s = Session(keys.global_mas_key(), CLIENT_PAIR)
    s.handshake()
    s.send("s", RT.SERVER_CRYPTKEY_PEER, K3_DME, 3, coalesce=True)  # sent under the old ctx-3 key
    s.keys(3, K3_DME)
    info = b"10.1.1.1".ljust(16, b"\0") + DME_UDP[1].to_bytes(2, "little")
    s.send("s", RT.SERVER_INFO_AUX_UDP, info, 3, coalesce=True)
    s.send("c", RT.CLIENT_CONNECT_READY_TCP, b"\x0e\x05", 3)
    recs = tcp_records(s.writes, CLIENT, DME)
    t = recs[-1][0]
    udp = []

    def dgram(src, dst, payload):
        nonlocal t
        t += 0.01
        recs.append((t, synth.ethernet(synth.udp_packet(src, dst, payload))))

    dgram(CLIENT_UDP, NAT, bytes.fromhex("a0e6e401"))
    dgram(NAT, CLIENT_UDP, bytes.fromhex("c0a80132") + (6000).to_bytes(2, "big"))
    dgram(CLIENT_UDP, NAT, bytes.fromhex("000000d4"))
    two = s.c.encrypt(RT.CLIENT_CONNECT_AUX_UDP, bytes(32), 3) + s.c.encrypt(RT.CLIENT_ECHO, b"\xa5", 3)
    dgram(CLIENT_UDP, DME_UDP, two)
    udp += [(RECV, RT.CLIENT_CONNECT_AUX_UDP, bytes(32)), (RECV, RT.CLIENT_ECHO, b"\xa5")]
    dgram(DME_UDP, CLIENT_UDP, s.s.encrypt(RT.SERVER_CONNECT_ACCEPT_AUX_UDP, bytes(26), 3))
    udp.append((SEND, RT.SERVER_CONNECT_ACCEPT_AUX_UDP, bytes(26)))
    dgram(CLIENT_UDP, DME_UDP, b"\x00\x01\x0a\x00\x99")  # not RT: a frame running past the datagram
    bcast = encode_frame(RT.CLIENT_APP_BROADCAST, b"\x02\x09" + bytes(30), null_hash(3))
    dgram(CLIENT_UDP, DME_UDP, bcast)
    udp.append((RECV, RT.CLIENT_APP_BROADCAST, b"\x02\x09" + bytes(30)))
    return s, recs, udp


def test_dme_second_peer_udp_keys_and_nat():
    s, recs, udp = dme_capture()
    res = dissect_bytes(synth.pcap(recs))
    assert frames_of(res) == s.expect + udp
    assert res.counts.hash_failures == 0 and res.counts.undecodable == 0
    udp_frames = [f for f in res.frames if f.transport == "udp"]
    assert {(f.service, f.stream) for f in udp_frames} == {("DME", "u2")}
    assert all(f.key == K3_DME for f in udp_frames if f.status is Status.DECRYPTED)
    nat = [n.text for n in res.notes if n.kind == "nat"]
    assert nat == [
        "NAT request a0e6e401",
        "NAT reply c0a801321770 = 192.168.1.50:6000",
        "NAT keep-alive 000000d4",
    ]
    (junk,) = [n for n in res.notes if n.kind == "not-rt"]
    assert junk.service == "DME" and "not RT" in junk.text
    for f in res.frames:
        assert f.reencode() == f.raw.encode()


def test_custom_port_table():
    s = lobby_session()
    recs = tcp_records(s.writes, CLIENT, ("10.1.1.1", 12345))
    assert dissect_bytes(synth.pcap(recs)).counts.frames == 0
    res = dissect_bytes(synth.pcap(recs), ports={12345: "MLS"})
    assert res.counts.frames == 17 and res.frames[0].service == "MLS"
    assert res.other_packets == 0


def test_port_reuse_after_close_starts_a_new_connection():
    a = lobby_session()
    b = lobby_session()
    recs = tcp_records(a.writes, CLIENT, MAS) + tcp_records(b.writes, CLIENT, MAS, t0=10.0)
    res = dissect_bytes(synth.pcap(recs))
    assert [f.stream for f in res.frames] == ["t1"] * 17 + ["t2"] * 17
    assert res.counts.decrypted == 24
