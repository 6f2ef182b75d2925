"""The one RT endpoint: its transition table, both roles back to back in memory for every
variant, family and way of talking, and the key schedule shared with the dissector."""

from __future__ import annotations

import itertools
import logging
import os

import pytest

from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys as known_keys
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import CryptoError, FrameCipher, Suite
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import TcpDeframer, encode_frame
from clank_lan.protocol.hexlog import parse_log
from clank_lan.protocol.rt_ids import RT
from clank_lan.rt import endpoint as ep
from clank_lan.rt.endpoint import (
    TRANSITIONS,
    Accepted,
    AppFrame,
    AuxUdpInfo,
    CompleteRequest,
    ConnectRequest,
    Established,
    Family,
    Phase,
    Role,
    RtEndpoint,
    TcpReady,
    Variant,
)
from clank_lan.rt.keys import KeySchedule, context_for
from clank_lan.rt.link import FrameCache

WORLD_KEY = bytes([0x42]) * 64
GAME_KEY = bytes([0x17]) * 64


def test_every_transition_has_a_step_and_every_end_a_table():
    for role, variant, family in itertools.product(Role, Variant, Family):
        moves = TRANSITIONS[(role, variant, family)]
        steps = ep._SERVER_STEPS if role is Role.SERVER else ep._CLIENT_STEPS
        assert moves and all(rt_id in steps for (_, rt_id) in moves)
        # nothing leaves CLOSED and only the handshake's last frame reaches READY
        assert all(src is not Phase.CLOSED for (src, _) in moves)
    assert len(ep.HANDSHAKE_IDS) == len(ep._SERVER_STEPS) + len(ep._CLIENT_STEPS)


def server(variant: Variant) -> RtEndpoint:
    return RtEndpoint(
        Role.SERVER,
        variant,
        service="TEST",
        peer=("127.0.0.1", 40000),
        rsa_local=known_keys.global_mas_key(),
        rng=os.urandom,
    )


def client(variant: Variant, version: int, encrypt: bool, key_exchange: bool) -> RtEndpoint:
    c = RtEndpoint(
        Role.CLIENT,
        variant,
        service="TESTCLIENT",
        peer=("127.0.0.1", 10075),
        rsa_local=known_keys.all_keys()["client_dl_ps2_ntsc"],
        rsa_peer=known_keys.global_mas_key(),
        version=version,
        encrypt=encrypt,
        key_exchange=key_exchange,
    )
    c.connect_fields = dict(world_id=1, app_id=11184, session_key="SK", access_token="AK")
    return c


class Owner:
    """The smallest application layer over a server endpoint."""

    def __init__(self, s: RtEndpoint) -> None:
        self.s = s
        self.seen: list[type] = []

    def feed(self, data: bytes) -> None:
        s = self.s
        for ev in s.receive(data):
            self.seen.append(type(ev))
            if isinstance(ev, ConnectRequest):
                accept = rtm.ServerConnectAcceptTcp(
                    player_id=3, scert_id=9, player_count=1, client_ip="1.2.3.4"
                )
                world = WORLD_KEY if s.variant is Variant.DME else None
                s.accept_connect(lambda a=accept: a, game_key=GAME_KEY, world_key=world)
            elif isinstance(ev, TcpReady):
                s.send(
                    RT.SERVER_INFO_AUX_UDP, rtm.ServerInfoAuxUdp(ip="10.0.0.1", port=50000).encode(s.version)
                )
            elif isinstance(ev, CompleteRequest):
                s.complete(client_count=1)
            elif isinstance(ev, AppFrame):
                s.send(RT.SERVER_APP, ev.frame.payload)


def pump(owner: Owner, c: RtEndpoint) -> list[object]:
    events: list[object] = []
    for _ in range(20):
        up = c.outbox.take()
        if up:
            owner.feed(up)
        down = owner.s.outbox.take()
        if down:
            for ev in c.receive(down):
                events.append(ev)
                if isinstance(ev, AuxUdpInfo):  # (the UDP connect is the DME's business)
                    c.send(RT.CLIENT_CONNECT_READY_AUX_UDP, b"")
        if not up and not down:
            return events
    raise AssertionError("did not settle")


@pytest.mark.parametrize("variant", list(Variant))
@pytest.mark.parametrize("version", [108, 110])
@pytest.mark.parametrize(
    ("encrypt", "key_exchange"), [(True, True), (False, True), (False, False)], ids=["enc", "clear", "nokx"]
)
def test_client_and_server_meet_in_every_combination(variant, version, encrypt, key_exchange):
    owner = Owner(server(variant))
    c = client(variant, version, encrypt, key_exchange)
    c.start()
    events = pump(owner, c)
    s = owner.s
    assert s.phase is Phase.READY and c.phase is Phase.READY
    assert [type(e) for e in events if isinstance(e, Accepted | Established)] == [Accepted, Established]
    assert s.version == version and s.encrypted is encrypt and s.key_exchange is key_exchange
    assert ConnectRequest in owner.seen and CompleteRequest in owner.seen
    assert (TcpReady in owner.seen) is (variant is Variant.DME)
    if key_exchange:
        # both ends hold the same keys; the DME's world key replaced the first PEER at both ends
        want3 = WORLD_KEY if variant is Variant.DME else c.keys.peer_keys[0]
        for end in (s, c):
            assert end.link.cipher.rc_keys[Ctx.RC_CLIENT_SESSION] == want3
            assert end.link.cipher.rc_keys[Ctx.RC_SERVER_SESSION] == GAME_KEY
        assert (c.keys.fallback is not None) is (variant is Variant.DME)
    # an app round trip, in the way the client talks
    if variant is Variant.LOBBY:
        c.send(RT.CLIENT_APP_TOSERVER, b"\x01\x07hi")
        wire = c.outbox.take()
        assert (b"hi" in wire) is not encrypt
        owner.feed(wire)
        back = [e for e in c.receive(s.outbox.take()) if isinstance(e, AppFrame)]
        assert [e.frame.payload for e in back] == [b"\x01\x07hi"]


def test_out_of_order_handshake_frame_is_a_protocol_error():
    s = server(Variant.LOBBY)
    with pytest.raises(ProtocolError, match="out of order"):
        list(s.receive(encode_frame(RT.CLIENT_CONNECT_READY_TCP, b"\x0e\x00\x01")))
    s = server(Variant.DME)
    hello = encode_frame(RT.CLIENT_HELLO, rtm.ClientHello(params=(2, 110, 109, 1, 1)).encode(110))
    list(s.receive(hello))
    with pytest.raises(ProtocolError, match="second CLIENT_HELLO"):
        list(s.receive(hello))
    public = encode_frame(RT.CLIENT_CRYPTKEY_PUBLIC, known_keys.all_keys()["client_dl_ps2_ntsc"].modulus_le)
    list(s.receive(public))
    assert s.phase is Phase.KEYED
    with pytest.raises(ProtocolError, match="CLIENT_CRYPTKEY_PUBLIC out of order"):
        list(s.receive(public))
    with pytest.raises(ProtocolError, match="CLIENT_HELLO out of order"):
        list(s.receive(hello))


def test_a_frame_of_the_other_variant_is_not_part_of_this_handshake():
    """A lobby server does not run the DME's READY_AUX_UDP step: it is just another frame."""
    s = server(Variant.LOBBY)
    (ev,) = list(s.receive(encode_frame(RT.CLIENT_CONNECT_READY_AUX_UDP, b"")))
    assert isinstance(ev, ep.FrameIn) and s.phase is Phase.NEW


def test_connect_request_must_be_answered():
    s = server(Variant.LOBBY)
    connect = rtm.ClientConnectTcp(world_id=0, app_id=10684).encode(108)
    with pytest.raises(RuntimeError, match="neither accepted nor refused"):
        list(s.receive(encode_frame(RT.CLIENT_CONNECT_TCP, connect)))


def test_refusal_stops_reading_the_rest_of_the_segment():
    """CONNECT and READY_REQUIRE in one segment: a refused CONNECT closes before READY_REQUIRE
    is looked at (it would be out of order), because events are produced lazily."""
    s = server(Variant.LOBBY)
    s.version = 110
    connect = rtm.ClientConnectTcp(world_id=0, app_id=11184).encode(110)
    data = encode_frame(RT.CLIENT_CONNECT_TCP, connect) + encode_frame(
        RT.CLIENT_CONNECT_READY_REQUIRE, b"\x00"
    )
    seen = []
    for ev in s.receive(data):
        seen.append(ev)
        if isinstance(ev, ConnectRequest):
            s.close("unknown title")
    assert len(seen) == 1 and s.phase is Phase.CLOSED and s.outbox.closing == "unknown title"
    assert s.outbox.take() == b""


def test_forced_disconnect_only_once_ready():
    s = server(Variant.LOBBY)
    s.close("early", code=rtm.DisconnectReason.TIMEOUT)
    assert s.outbox.take() == b"" and s.close_reason == "early"
    owner = Owner(server(Variant.LOBBY))
    c = client(Variant.LOBBY, 108, True, True)
    c.start()
    pump(owner, c)
    owner.s.close("bye", code=rtm.DisconnectReason.END_SESSION)
    (ev,) = list(c.receive(owner.s.outbox.take()))
    assert isinstance(ev, ep.PeerClosed) and ev.code == rtm.DisconnectReason.END_SESSION


# --- the key schedule --------------------------------------------------------------------------


def test_key_schedule_second_peer_replaces_context_3_and_keeps_the_old_as_fallback():
    first, second = bytes([1]) * 64, bytes([2]) * 64
    sender, receiver = FrameCipher(), FrameCipher()
    ks_send, ks_recv = KeySchedule(sender), KeySchedule(receiver)
    for ks in (ks_send, ks_recv):
        ks.install(RT.SERVER_CRYPTKEY_PEER, first)
    late = TcpDeframer().feed(sender.encrypt(RT.CLIENT_ECHO, b"late", Ctx.RC_CLIENT_SESSION))[0]
    for ks in (ks_send, ks_recv):
        ks.install(RT.SERVER_CRYPTKEY_PEER, second)
        ks.install(RT.SERVER_CRYPTKEY_GAME, GAME_KEY)
    assert receiver.rc_keys == {Ctx.RC_CLIENT_SESSION: second, Ctx.RC_SERVER_SESSION: GAME_KEY}
    assert ks_recv.peer_keys == [first, second] and ks_recv.candidate_keys() == [second, first]
    assert ks_recv.decrypt(late).payload == b"late"  # sent under the first key before the switch
    with pytest.raises(CryptoError):
        receiver.decrypt(late)  # the plain cipher alone has forgotten it
    assert ks_recv.owns(first) and ks_recv.owns(second) and not ks_recv.owns(GAME_KEY)
    with pytest.raises(ValueError):
        ks_recv.install(RT.SERVER_APP, first)
    assert (
        context_for(RT.SERVER_CRYPTKEY_GAME) == Ctx.RC_SERVER_SESSION and context_for(RT.SERVER_APP) is None
    )


def test_the_same_peer_key_twice_leaves_no_fallback():
    ks = KeySchedule(FrameCipher())
    ks.install(RT.SERVER_CRYPTKEY_PEER, WORLD_KEY)
    ks.install(RT.SERVER_CRYPTKEY_PEER, WORLD_KEY)
    assert ks.fallback is None and ks.candidate_keys() == [WORLD_KEY]


def test_multi_app_container_is_opened_and_logged_once(caplog):
    """Its frames are handled one by one; the log holds the container only (a replay of the log
    unpacks it, so logging the inner frames too would send them twice)."""
    owner = Owner(server(Variant.LOBBY))
    c = client(Variant.LOBBY, 110, True, True)
    c.start()
    pump(owner, c)
    inner = encode_frame(RT.CLIENT_APP_TOSERVER, b"\x01\x07one") + encode_frame(
        RT.CLIENT_APP_TOSERVER, b"\x01\x07two"
    )
    c.send(RT.CLIENT_MULTI_APP_TOSERVER, inner)
    with caplog.at_level(logging.DEBUG, logger="clank_lan.frames"):
        owner.feed(c.outbox.take())
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "clank_lan.frames")
    recv = [r for r in parse_log(text) if r.direction == "recv"]
    assert [r.rt_id for r in recv] == [RT.CLIENT_MULTI_APP_TOSERVER] and recv[0].payload == inner
    answers = [e.frame.payload for e in c.receive(owner.s.outbox.take()) if isinstance(e, AppFrame)]
    assert answers == [b"\x01\x07one", b"\x01\x07two"]


def test_frame_cache_encrypts_a_frame_sent_to_many_under_one_key_once(monkeypatch):
    """The same frame under the same key (a broadcast) is encrypted once; a change of key, suite,
    context, id or payload is encrypted afresh, and every frame still opens with its own key."""
    calls = []
    real = FrameCipher.encrypt

    def counting(self, rt_id, payload, ctx):
        calls.append((rt_id, payload))
        return real(self, rt_id, payload, ctx)

    monkeypatch.setattr(FrameCipher, "encrypt", counting)
    cache = FrameCache()
    shared = [FrameCipher() for _ in range(3)]
    for c in shared:
        c.set_key(Ctx.RC_SERVER_SESSION, GAME_KEY)
        c.set_key(Ctx.RC_CLIENT_SESSION, os.urandom(64))
    own = FrameCipher()
    own.set_key(Ctx.RC_SERVER_SESSION, WORLD_KEY)
    ps3 = FrameCipher(Suite.PS3)
    ps3.set_key(Ctx.RC_SERVER_SESSION, GAME_KEY)
    line = b"a chat line for the whole channel"
    wires = [cache.encrypt(c, RT.SERVER_APP, line, Ctx.RC_SERVER_SESSION) for c in shared]
    assert len(set(wires)) == 1 and len(calls) == 1
    for cipher, rt_id, payload, ctx in (
        (own, RT.SERVER_APP, line, Ctx.RC_SERVER_SESSION),  # another key
        (ps3, RT.SERVER_APP, line, Ctx.RC_SERVER_SESSION),  # the same key, another cipher
        (shared[0], RT.SERVER_APP, line, Ctx.RC_CLIENT_SESSION),  # the connection's own key
        (shared[0], RT.SERVER_SYSTEM_MESSAGE, line, Ctx.RC_SERVER_SESSION),
        (shared[0], RT.SERVER_APP, line + b"!", Ctx.RC_SERVER_SESSION),
    ):
        before = len(calls)
        wire = cache.encrypt(cipher, rt_id, payload, ctx)
        assert len(calls) == before + 1 and wire not in wires
        (raw,) = TcpDeframer().feed(wire)
        assert cipher.decrypt(raw).payload == payload
        wires.append(wire)
