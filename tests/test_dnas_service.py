"""The DNAS gateway on a real socket (127.0.0.1, ephemeral port): tlslite-ng's client, raw bad
input, limits and timeouts. Scapy's clients are in test_dnas_scapy.py."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import asynccontextmanager
from functools import partial

import msgspec
import pytest
import trio
from tlslite.api import HandshakeSettings, TLSConnection

from clank_lan.dnas.answers import ASSET_DIR
from clank_lan.dnas.events import DnasRefused, DnasRequest
from clank_lan.dnas.gateway import DnasGateway
from clank_lan.dnas.service import serve_dnas
from clank_lan.dnas.settings import DnasSettings
from tests.test_dnas_answers import crafted_i_connect, expected_answer

GAME = "0044d711bb7bfb3a_01080000"  # a recorded us-gw i-connect answer
RECORDED = (ASSET_DIR / "us-gw" / "packets" / GAME).read_bytes()
CLIENT_TIMEOUT = 20  # seconds a client socket waits; the tests' own bound is trio.fail_after


@pytest.fixture(scope="module")
def gateway() -> DnasGateway:
    return DnasGateway.load(DnasSettings(), None)


@asynccontextmanager
async def running(gateway: DnasGateway, **changes):
    if changes:
        settings = msgspec.structs.replace(gateway.settings, **changes)
        gateway = DnasGateway(settings, gateway.book, gateway.identity)
    events: list = []
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    async with listener, trio.open_nursery() as nursery:  # the caller owns the listener
        port = await nursery.start(partial(serve_dnas, listener, gateway, publish=events.append))
        yield port, events
        nursery.cancel_scope.cancel()


def http_post(path: str, body: bytes, version: str = "HTTP/1.0") -> bytes:
    head = f"POST {path} {version}\r\nHost: gate1.us.dnas.playstation.org\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def split_response(data: bytes) -> tuple[bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


# --- clients (blocking; run in a worker thread) ---


def tlslite_exchange(port: int, version: tuple[int, int], cipher: str, mac: str, request: bytes):
    sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
    conn = TLSConnection(sock)
    settings = HandshakeSettings()
    settings.minVersion = settings.maxVersion = version
    settings.cipherNames, settings.macNames, settings.keyExchangeNames = [cipher], [mac], ["rsa"]
    conn.handshakeClientCert(settings=settings)
    negotiated = (conn.version, conn.getCipherName(), bytes(conn.session.serverCertChain.x509List[0].bytes))
    conn.write(request)
    data = b""
    try:
        while chunk := conn.read():
            data += chunk
    except Exception as exc:  # the server closed without an answer
        return data, negotiated, exc
    finally:
        sock.close()
    return data, negotiated, None


def assert_personalised_answer(data: bytes, request_body: bytes) -> None:
    head, body = split_response(data)
    assert head == b"HTTP/1.0 200 OK\r\nContent-Type: image/gif\r\nContent-Length: 328"
    assert body == expected_answer(RECORDED, request_body)


# --- handshakes with independent clients ---


@pytest.mark.parametrize(
    ("version", "cipher", "mac", "suite"),
    [
        ((3, 0), "rc4", "md5", "TLS_RSA_WITH_RC4_128_MD5"),
        ((3, 0), "3des", "sha", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        ((3, 1), "rc4", "sha", "TLS_RSA_WITH_RC4_128_SHA"),
        ((3, 1), "3des", "sha", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    ],
)
async def test_tlslite_client_gets_the_personalised_answer(gateway, version, cipher, mac, suite):
    body = crafted_i_connect(GAME, 11)
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data, negotiated, error = await trio.to_thread.run_sync(
                tlslite_exchange, port, version, cipher, mac, http_post("/us-gw/v2.5_i-connect", body)
            )
    assert error is None
    assert negotiated[:2] == (version, cipher)
    assert_personalised_answer(data, body)
    (event,) = events
    assert isinstance(event, DnasRequest)
    assert (event.region, event.query, event.answered) == ("us", "i-connect", True)
    assert (event.game_id, event.query_type) == tuple(GAME.split("_"))
    assert event.protocol == {(3, 0): "SSL 3.0 ", (3, 1): "TLS 1.0 "}[version] + suite
    assert event.client.startswith("127.0.0.1:")


@pytest.mark.parametrize("region", ["us", "jp"])
async def test_certificate_region_chooses_the_certificate_every_console_sees(gateway, region):
    async with running(gateway, certificate_region=region) as (port, _):
        with trio.fail_after(60):
            _, negotiated, _ = await trio.to_thread.run_sync(
                tlslite_exchange, port, (3, 1), "rc4", "sha", http_post("/us-gw/v2.5_others", bytes(64))
            )
    assert negotiated[2] == gateway.identity.certificates[region]
    assert f"gate1.{region}.dnas.playstation.org".encode() in negotiated[2]


async def test_others_query_and_unknown_game(gateway, caplog):
    others = bytearray(64)
    others[0:4] = bytes.fromhex("01088008")
    others[0x1B:0x23] = bytes.fromhex("00ffb3a380eec009")
    unknown = crafted_i_connect("feedfacecafebeef_01080000", 14)
    caplog.set_level(logging.INFO, "clank_lan.dnas")
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data_others, _, _ = await trio.to_thread.run_sync(
                tlslite_exchange, port, (3, 1), "rc4", "sha", http_post("/us-gw/v2.5_others", bytes(others))
            )
            data_unknown, _, _ = await trio.to_thread.run_sync(
                tlslite_exchange, port, (3, 1), "rc4", "sha", http_post("/eu-gw/v2.5_i-connect", unknown)
            )
    recorded = (ASSET_DIR / "us-gw" / "packets" / "00ffb3a380eec009_01088008").read_bytes()
    assert split_response(data_others)[1] == recorded
    assert split_response(data_unknown)[1] == (ASSET_DIR / "eu-gw" / "error.raw").read_bytes()
    summary = [(e.query, e.region, e.answered) for e in events]
    assert summary == [("others", "us", True), ("i-connect", "eu", False)]
    assert any("feedfacecafebeef" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


# --- bad input: a log line and a clean close, never a traceback ---


async def raw_exchange(port: int, data: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        if data:
            await stream.send_all(data)
        received = b""
        for _ in range(100):
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            received += chunk
        return received


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GET /us-gw/v2.5_i-connect HTTP/1.0\r\n\r\n", "not an SSL/TLS hello"),
        (bytes(range(64)), "not an SSL/TLS hello"),
        (b"\x80\x05\x02\x00\x02\x00\x00", "not an SSL/TLS hello"),  # SSL 2.0 record but not a hello
        (b"\x80\x05\x01\x00\x02\x00\x00", "SSL 2.0: CLIENT-HELLO is truncated"),
        (b"\x16\x03\x01\x00\x04\x01\x00\x00\x00", "TLS handshake failed"),  # an empty ClientHello
        (b"\x16\x03", "peer closed during the TLS handshake"),
        (b"\x80", "closed in the middle of its hello"),
        (b"", "closed before sending a hello"),
    ],
)
async def test_garbage_instead_of_a_hello_is_closed_with_a_reason(gateway, caplog, data, reason):
    async with running(gateway) as (port, events):
        with trio.fail_after(30):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            if data:
                await stream.send_all(data)
            await stream.send_eof()
            for _ in range(100):
                if not await stream.receive_some(65536):
                    break
            await stream.aclose()
            while not events:
                await trio.sleep(0.01)
    (event,) = events
    assert isinstance(event, DnasRefused)
    assert reason in event.reason
    assert not any(r.exc_info for r in caplog.records)
    assert any(reason in r.getMessage() for r in caplog.records if r.name == "clank_lan.dnas")


async def test_sslv2_hello_without_a_common_cipher_gets_the_error_message(gateway):
    # CLIENT-HELLO, version 2, one cipher spec (RC2-128-MD5), no session id, 16-byte challenge.
    body = b"\x01\x00\x02\x00\x03\x00\x00\x00\x10" + b"\x02\x00\x80" + os.urandom(16)
    hello = (0x8000 | len(body)).to_bytes(2, "big") + body
    async with running(gateway) as (port, events):
        with trio.fail_after(30):
            reply = await raw_exchange(port, hello)
            while not events:
                await trio.sleep(0.01)
    assert reply == b"\x80\x03\x00\x00\x01"
    assert "neither" in events[0].reason


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (http_post("/us-gw/v2.5_i-connect", crafted_i_connect(GAME, 1), "HTTP/1.1"), "HTTP/1.1 request"),
        (http_post("/us-gw/v2.5_index", b"x"), "unknown path"),
        (http_post("/xx-gw/v2.5_others", b"x"), "unknown path"),
        (b"GET /us-gw/v2.5_others HTTP/1.0\r\n\r\n", "method GET refused"),
        (http_post("/us-gw/v2.5_i-connect", crafted_i_connect(GAME, 1)[:0x100]), "needs at least"),
        (b"POST /us-gw/v2.5_others HTTP/1.0\r\n\r\n", "without a Content-Length"),
        (b"POST /us-gw/v2.5_others HTTP/1.0\r\nContent-Length: 99999999\r\n\r\n", "larger than"),
        (b"\xff\xfe garbage\r\n\r\n", "not ASCII"),
        (b"x" * 5000, "longer than"),
    ],
)
async def test_bad_requests_over_tls_are_closed_without_an_answer(gateway, request_bytes, reason):
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data, _, error = await trio.to_thread.run_sync(
                tlslite_exchange, port, (3, 1), "rc4", "sha", request_bytes
            )
            while not events:
                await trio.sleep(0.01)
    assert data == b""
    assert error is None or "close" in repr(error).lower() or "abrupt" in repr(error).lower()
    (event,) = events
    assert isinstance(event, DnasRefused)
    assert reason in event.reason


async def test_disabled_region_is_refused():
    body = crafted_i_connect(GAME, 2)
    only_us = DnasGateway.load(DnasSettings(regions=("us",)), None)
    async with running(only_us) as (port, events):
        with trio.fail_after(60):
            data, _, _ = await trio.to_thread.run_sync(
                tlslite_exchange, port, (3, 1), "rc4", "sha", http_post("/gai-gw/v2.5_i-connect", body)
            )
            while not events:
                await trio.sleep(0.01)
    assert data == b""
    assert "region jp is not enabled" in events[0].reason


async def test_request_cut_short_is_closed(gateway):
    body = crafted_i_connect(GAME, 3)
    partial = http_post("/us-gw/v2.5_i-connect", body)[:-100]

    def cut_short(port: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
        conn = TLSConnection(sock)
        settings = HandshakeSettings()
        settings.minVersion = settings.maxVersion = (3, 1)
        settings.cipherNames, settings.keyExchangeNames = ["rc4"], ["rsa"]
        conn.handshakeClientCert(settings=settings)
        conn.write(partial)
        sock.close()

    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            await trio.to_thread.run_sync(cut_short, port)
            while not events:
                await trio.sleep(0.01)
    (event,) = events
    assert isinstance(event, DnasRefused)
    assert event.reason == "peer closed during the TLS read"


async def test_silent_client_times_out(gateway, autojump_clock):
    async with running(gateway, timeout=5.0) as (port, events):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        with trio.fail_after(30):
            start = trio.current_time()
            assert await stream.receive_some(100) == b""
            assert trio.current_time() - start == pytest.approx(5.0, abs=0.1)
            while not events:
                await trio.sleep(0.01)
        await stream.aclose()
    assert events[0].reason == "no complete request within 5 s"


async def test_connections_over_the_limit_are_closed_and_the_service_keeps_serving(gateway):
    body = crafted_i_connect(GAME, 4)
    async with running(gateway, max_connections=1) as (port, events):
        with trio.fail_after(60):
            idle = await trio.open_tcp_stream("127.0.0.1", port)
            await trio.sleep(0.05)
            assert await raw_exchange(port, b"") == b""  # over the limit: closed at once
            assert events == []
            await idle.aclose()
            while not events:
                await trio.sleep(0.01)
            data, _, _ = await trio.to_thread.run_sync(
                tlslite_exchange, port, (3, 0), "rc4", "md5", http_post("/us-gw/v2.5_i-connect", body)
            )
    assert_personalised_answer(data, body)
    assert [type(e) for e in events] == [DnasRefused, DnasRequest]
