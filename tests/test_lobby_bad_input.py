"""Hostile or broken input over real sockets: each bad connection is logged and dropped, and the
server keeps serving everybody else."""

from __future__ import annotations

import logging

import pytest
import trio

from clank_lan.client.lobby import ClientError, LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import FrameCipher
from clank_lan.protocol.framing import encode_frame
from clank_lan.protocol.rt_ids import RT
from tests.conftest import ports_of, running_engine


async def _send_and_wait_closed(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes; return what the server sent until it closed the connection."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    got = bytearray()
    with trio.fail_after(timeout):
        await stream.send_all(data)
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break
            if not chunk:
                break
            got += chunk
    await stream.aclose()
    return bytes(got)


def _public_to(key) -> bytes:
    """A CLIENT_CRYPTKEY_PUBLIC encrypted to ``key`` (the wrong key when not the server's)."""
    cipher = FrameCipher(rsa_local=keys.all_keys()["client_uya_ps2_ntsc"])
    cipher.rsa_peer = key
    return cipher.encrypt(
        RT.CLIENT_CRYPTKEY_PUBLIC, keys.all_keys()["client_uya_ps2_ntsc"].modulus_le, Ctx.RSA_AUTH
    )


BAD_INPUTS = {
    "garbage": bytes(range(200, 256)) * 4,
    "oversized length": encode_frame(RT.CLIENT_APP_TOSERVER, b"")[:1]
    + (60000).to_bytes(2, "little")
    + b"x" * 32,
    "wrong server key": _public_to(keys.all_keys()["dme_server"]),
    "app message before connect": encode_frame(RT.CLIENT_APP_TOSERVER, b"\x01\x07" + bytes(100)),
    "encrypted frame without keys": encode_frame(RT.CLIENT_CONNECT_TCP, bytes(72), b"\x12\x34\x56\x78"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
async def test_bad_input_is_logged_and_dropped_while_others_play(name, caplog):
    caplog.set_level(logging.INFO, logger="clank_lan")
    async with running_engine() as engine:
        ports = ports_of(engine)
        async with LobbyClient.open("127.0.0.1", profile("dl"), ports) as good:
            await good.login("good", "pw")
            for service in ("mas", "mls", "muis"):
                caplog.clear()
                await _send_and_wait_closed(engine.port(service), BAD_INPUTS[name])
                messages = [r.getMessage() for r in caplog.records]
                assert any(("protocol error" in m or "refused" in m) for m in messages), messages
            # the well-behaved console is still served
            assert await good.create_game(f"still here {name}") > 0
            assert await good.channels()


async def test_truncated_frame_then_close_is_a_clean_disconnect(caplog):
    caplog.set_level(logging.DEBUG, logger="clank_lan")
    async with running_engine() as engine:
        stream = await trio.open_tcp_stream("127.0.0.1", engine.port("mas"))
        await stream.send_all(bytes([RT.CLIENT_HELLO, 10, 0, 2, 0]))  # 5 of 13 bytes
        await stream.aclose()
        with trio.fail_after(5):
            while not any("disconnected" in r.getMessage() for r in caplog.records):
                await trio.sleep(0.02)
        async with LobbyClient.open("127.0.0.1", profile("uya"), ports_of(engine)) as c:
            assert (await c.login("after", "pw")).account_id > 0


async def test_mls_refuses_unknown_session(caplog):
    caplog.set_level(logging.INFO, logger="clank_lan")
    async with running_engine() as engine:
        prof = profile("uya")
        async with LobbyClient.open("127.0.0.1", prof, ports_of(engine)) as c:
            with pytest.raises(ClientError):
                await c._link("MLS", engine.port("mls"), session_key="99", access_token="not-a-real-key!")
        assert any("unknown session" in r.getMessage() for r in caplog.records)


async def test_undecodable_medius_message_is_ignored_not_fatal(caplog):
    caplog.set_level(logging.INFO, logger="clank_lan")
    async with running_engine() as engine:
        async with LobbyClient.open("127.0.0.1", profile("uya"), ports_of(engine)) as c:
            await c.login("odd", "pw")
            c.mls.rt.send_app(b"\x01\xfe" + b"\x00" * 10)  # an id no Medius class has
            await c.mls._flush()
            assert await c.channels()  # the connection survived
        assert any("not modelled" in r.getMessage() for r in caplog.records)
