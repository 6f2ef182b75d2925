"""Hostile byte streams against one lobby or DME connection, through the real trio shell on memory
streams with a fake clock: log floods, slow drip, handshake probes before any RSA work."""

from __future__ import annotations

import logging
import os

import pytest
import trio
import trio.testing

from clank_lan import limit_hits as lh
from clank_lan.client.rt_client import Connected, RtClient
from clank_lan.config import LimitSettings, TimeoutSettings
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import FrameCipher, Suite
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import encode_frame
from clank_lan.protocol.rt_ids import RT
from clank_lan.rt.link import FRAME_DEADLINE
from clank_lan.servers import tcp
from clank_lan.servers.lobby_conn import LobbyConnection, Phase

from .test_dme_harness import Net
from .test_lobby_handshake import EchoApp

PEER = ("10.6.6.6", 40000)
LIMITS = LimitSettings()


def lobby_server(app: EchoApp, hits: lh.LimitHits, now: float = 0.0) -> LobbyConnection:
    return LobbyConnection(
        app,
        PEER,
        ("127.0.0.1", 10075),
        rsa_key=keys.global_mas_key(),
        rng=os.urandom,
        wall_clock=lambda: 1_700_000_000.0,
        now=now,
        timeouts=TimeoutSettings(),
        refusals=lh.Refusals(logging.getLogger("clank_lan.lobby"), LIMITS.log_limiter(), hits),
    )


async def handshake(stream: trio.abc.Stream, version: int = 108) -> RtClient:
    """A clear console's handshake over ``stream`` (bounded: a handful of round trips)."""
    client = RtClient(
        service="MAS", peer=PEER, version=version, app_id=10684, encrypt=False, key_exchange=False
    )
    client.start()
    for _ in range(10):
        await stream.send_all(client.outbox.take())
        if any(isinstance(e, Connected) for e in client.feed(await stream.receive_some(65536))):
            return client
    raise AssertionError("no CONNECT_COMPLETE")


async def test_ten_thousand_empty_frames_write_a_bounded_log(autojump_clock, caplog):
    caplog.set_level(logging.INFO, "clank_lan")
    hits = lh.LimitHits()
    app = EchoApp()
    ours, theirs = trio.testing.memory_stream_pair()
    server = lobby_server(app, hits, trio.current_time())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, server, "MAS 10.6.6.6:40000")
        await handshake(theirs)
        caplog.clear()
        empty = encode_frame(RT.CLIENT_SET_RECV_FLAG, b"")
        assert len(empty) == 3
        for _ in range(10):  # 10,000 frames in 10 writes of 3,000 bytes
            await theirs.send_all(empty * 1000)
            await trio.sleep(0.01)
        await trio.sleep(1.0)
        assert server.phase is Phase.READY  # ignoring frames is no offence; it is only not logged
        nursery.cancel_scope.cancel()
    lines = [r.getMessage() for r in caplog.records if "10.6.6.6" in r.getMessage()]
    assert 1 <= len(lines) <= LIMITS.log_lines_per_peer
    assert hits[lh.LOG_SUPPRESSED] == 10_000 - len(lines)
    # after the interval, the next line brings one summary of what was left out
    server.refusals(None, PEER[0], trio.current_time() + LIMITS.log_interval, "later")
    summary = [r.getMessage() for r in caplog.records if "more suppressed" in r.getMessage()]
    assert summary == [f"10.6.6.6: … {10_000 - len(lines):,} more suppressed in {LIMITS.log_interval:g} s"]


async def test_a_slow_drip_after_the_handshake_is_dropped(autojump_clock, caplog):
    """One byte a second into a 16 KiB frame: only whole frames are traffic, and a frame must be
    whole within ``FRAME_DEADLINE``; before, every byte reset the idle timer."""
    caplog.set_level(logging.INFO, "clank_lan")
    hits = lh.LimitHits()
    app = EchoApp()
    ours, theirs = trio.testing.memory_stream_pair()
    server = lobby_server(app, hits, trio.current_time())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, server, "MAS 10.6.6.6:40000")
        await handshake(theirs)
        started = trio.current_time()
        frame = encode_frame(RT.CLIENT_APP_TOSERVER, bytes(16_000))
        sent = 0
        with trio.move_on_after(60):  # bounded: the server must end it long before
            for b in frame:
                try:
                    await theirs.send_all(bytes([b]))
                except trio.BrokenResourceError:  # the server closed the connection
                    break
                sent += 1
                await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    assert server.phase is Phase.CLOSED
    assert server.close_reason == f"a frame did not arrive whole within {FRAME_DEADLINE:g} s"
    assert sent <= FRAME_DEADLINE + 2  # dropped about FRAME_DEADLINE seconds after its first byte
    assert app.closed and trio.current_time() - started < 60
    assert hits[lh.UNFINISHED_FRAME] == 1
    assert "dropped: a frame did not arrive whole" in caplog.text


def test_whole_frames_keep_a_connection_alive_and_bytes_alone_do_not():
    app = EchoApp()
    server = lobby_server(app, lh.LimitHits())
    client = RtClient(service="MAS", peer=PEER, version=108, app_id=10684, encrypt=False, key_exchange=False)
    client.start()
    server.data_received(client.outbox.take(), 0.0)
    assert server.phase is Phase.READY and server.last_rx == 0.0
    echo = encode_frame(RT.CLIENT_ECHO, b"\xa5")
    server.data_received(echo, 5.0)
    assert server.last_rx == 5.0 and server.link.frame_deadline() is None
    server.data_received(echo[:2], 6.0)  # half a frame: no activity, and its clock starts
    assert server.last_rx == 5.0 and server.link.frame_deadline() == 6.0 + FRAME_DEADLINE
    server.data_received(echo[2:] + echo[:1], 7.0)  # the rest, and the start of the next
    assert server.last_rx == 7.0 and server.link.frame_deadline() == 7.0 + FRAME_DEADLINE


def _rsa_frame(rt_id: int, payload: bytes) -> bytes:
    """A frame encrypted to the server's key, as a console's CRYPTKEY_PUBLIC is."""
    cipher = FrameCipher(Suite.PS2)
    cipher.rsa_peer = keys.global_mas_key()
    return cipher.encrypt(rt_id, payload, Ctx.RSA_AUTH)


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        ([encode_frame(RT.CLIENT_CRYPTKEY_PUBLIC, bytes(63))], "CLIENT_CRYPTKEY_PUBLIC of 63 bytes"),
        ([encode_frame(RT.CLIENT_CRYPTKEY_PUBLIC, bytes(200))], "CLIENT_CRYPTKEY_PUBLIC of 200 bytes"),
        ([_rsa_frame(RT.CLIENT_ECHO, b"\xa5")], "CLIENT_ECHO under the RSA context"),
        (
            [_rsa_frame(RT.CLIENT_CRYPTKEY_PUBLIC, keys.global_mas_key().modulus_le)] * 2,
            "CLIENT_CRYPTKEY_PUBLIC out of order",
        ),
    ],
)
def test_probes_are_refused_before_any_rsa_work(frames, error, monkeypatch):
    app = EchoApp()
    server = lobby_server(app, lh.LimitHits())
    decrypts: list[object] = []
    real = server.link.cipher.decrypt

    def counting(raw):
        decrypts.append(raw)
        return real(raw)

    monkeypatch.setattr(server.link.cipher, "decrypt", counting)
    with pytest.raises(ProtocolError, match=error):
        server.data_received(b"".join(frames), 0.0)
    assert len(decrypts) == len(frames) - 1  # a second CRYPTKEY_PUBLIC is refused unopened


def test_dme_slow_drip_and_ignored_frames_are_bounded(caplog):
    caplog.set_level(logging.INFO, "clank_lan.dme")
    hits = lh.LimitHits()
    net = Net(hits=hits)
    wid = net.world(110)
    p = net.connect(wid)
    assert p.alive and p.conn.phase.name == "READY"
    for _ in range(1000):
        p.conn.data_received(encode_frame(RT.CLIENT_TOKEN_MESSAGE, b""), net.clock())
    ignored = [r for r in caplog.records if "ignored" in r.getMessage()]
    assert 1 <= len(ignored) <= LIMITS.log_lines_per_peer
    p.mute = True  # the console goes quiet but for one byte a second into a big frame
    frame = encode_frame(RT.CLIENT_APP_BROADCAST, bytes(1000))
    for i in range(30):
        if p.conn.phase.name == "CLOSED":
            break
        p.conn.data_received(frame[i : i + 1], net.clock())
        net.advance(1.0)
    assert p.conn.close_reason == f"a frame did not arrive whole within {FRAME_DEADLINE:g} s"
    assert i <= FRAME_DEADLINE + 1
    assert hits[lh.UNFINISHED_FRAME] == 1


def test_limit_hits_are_one_table_for_the_operator(caplog):
    hits = lh.LimitHits()
    refusals = lh.Refusals(logging.getLogger("clank_lan.test"), LimitSettings().log_limiter(), hits)
    for _ in range(3):
        refusals(lh.CHAT_RATE, "10.0.0.9", 0.0, "chat line dropped")
    refusals(lh.NAT_RATE, "10.0.0.9", 0.0, "a %s %d", "format", 5)
    assert hits.snapshot() == {lh.CHAT_RATE: 3, lh.NAT_RATE: 1}
    assert hits.lines() == [f"{lh.NAT_RATE}: 1", f"{lh.CHAT_RATE}: 3"]  # sorted by name
    hits.clear()
    assert hits.snapshot() == {} and hits[lh.CHAT_RATE] == 0
