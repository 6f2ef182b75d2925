"""The DNAS gateway on a real socket with scapy's independent TLS and SSL 2.0 clients.

Scapy's TLS client automaton cannot end by itself in a test (when its list of data to send runs
out it reads more from standard input), so these drive the same steps by hand with scapy's own
record classes, session state and crypto.
"""

from __future__ import annotations

import os
import socket
import struct

import pytest
import trio

from clank_lan.dnas.events import DnasRequest
from clank_lan.dnas.gateway import DnasGateway
from clank_lan.dnas.settings import DnasSettings
from tests.test_dnas_answers import crafted_i_connect
from tests.test_dnas_service import (
    CLIENT_TIMEOUT,
    GAME,
    assert_personalised_answer,
    http_post,
    running,
)

pytest.importorskip("cryptography", reason="scapy's TLS layer needs the 'cryptography' package")

from scapy.layers.tls.crypto.suites import (
    TLS_RSA_WITH_3DES_EDE_CBC_SHA,
    TLS_RSA_WITH_RC4_128_MD5,
    TLS_RSA_WITH_RC4_128_SHA,
)
from scapy.layers.tls.handshake import (
    TLSClientHello,
    TLSClientKeyExchange,
    TLSFinished,
    TLSServerHelloDone,
)
from scapy.layers.tls.handshake_sslv2 import (
    SSLv2ClientFinished,
    SSLv2ClientHello,
    SSLv2ClientMasterKey,
    SSLv2ServerFinished,
)
from scapy.layers.tls.record import TLS, TLSAlert, TLSApplicationData, TLSChangeCipherSpec
from scapy.layers.tls.record_sslv2 import SSLv2
from scapy.layers.tls.session import tlsSession
from scapy.packet import Raw


@pytest.fixture(scope="module")
def gateway() -> DnasGateway:
    return DnasGateway.load(DnasSettings(), None)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def scapy_tls_exchange(
    port: int, version: int, suite, request: bytes, v2_hello: bool = False
) -> tuple[bytes, bytes]:
    """The steps of scapy's TLS client automaton, with scapy's own records and crypto.

    ``v2_hello``: open with an SSL 2.0-format hello that offers ``version`` (the compatible hello).
    Returns the answer and the certificate the server showed.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
    session = tlsSession(connection_end="client")
    session.advertised_tls_version = version

    def send(*msgs) -> None:
        records = (TLS(version=version, tls_session=session, msg=[m]).raw_stateful() for m in msgs)
        sock.sendall(b"".join(records))

    def receive() -> list:
        nonlocal session
        head = _recv_exact(sock, 5)
        packet = TLS(head + _recv_exact(sock, struct.unpack("!H", head[3:5])[0]), tls_session=session,
                     strict_integrity=True)
        session = packet.tls_session
        return list(packet.msg)

    try:
        if v2_hello:
            challenge = os.urandom(32)
            hello = SSLv2ClientHello(version=version, ciphers=[suite.val], challenge=challenge)
            sock.sendall(SSLv2(tls_session=session, msg=[hello]).raw_stateful())
            session.client_random = challenge  # scapy does not take it from an SSL 2.0 hello
        else:
            send(TLSClientHello(version=version, ciphers=[suite.val]))
        msgs: list = []
        for _ in range(10):
            msgs += receive()
            if any(isinstance(m, TLSServerHelloDone) for m in msgs):
                break
        send(TLSClientKeyExchange(), TLSChangeCipherSpec(), TLSFinished())
        msgs = []
        for _ in range(10):
            msgs += receive()
            if any(isinstance(m, TLSFinished) for m in msgs):
                break
        assert session.tls_version == version
        send(TLSApplicationData(data=request))
        data = b""
        try:
            for _ in range(100):
                for m in receive():
                    if isinstance(m, TLSApplicationData):
                        data += m.data
                    else:
                        assert isinstance(m, TLSAlert) and m.descr == 0  # close_notify
        except EOFError:
            pass
        return data, session.server_certs[0].der
    finally:
        sock.close()


def sslv2_records(sock: socket.socket, session):
    """Reads one SSL 2.0 record and parses it with scapy; returns (messages, session)."""
    head = _recv_exact(sock, 2)
    if head[0] & 0x80:
        raw = head + _recv_exact(sock, ((head[0] & 0x7F) << 8) | head[1])
    else:
        rest = _recv_exact(sock, 1 + (((head[0] & 0x3F) << 8) | head[1]))
        raw = head + rest
    packet = TLS(raw, tls_session=session, strict_integrity=True)
    return list(packet.msg), packet.tls_session


def scapy_sslv2_exchange(port: int, cipher: int, request: bytes) -> tuple[bytes, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT)
    session = tlsSession(connection_end="client")
    session.advertised_tls_version = 0x0002

    def send(*msgs) -> None:
        sock.sendall(SSLv2(tls_session=session, msg=list(msgs)).raw_stateful())

    try:
        send(SSLv2ClientHello(challenge=os.urandom(16), ciphers=[cipher]))
        _, session = sslv2_records(sock, session)  # SERVER-HELLO
        send(SSLv2ClientMasterKey())
        _, session = sslv2_records(sock, session)  # SERVER-VERIFY
        assert session.sslv2_server_verify_valid is True
        send(SSLv2ClientFinished())
        msgs, session = sslv2_records(sock, session)
        assert isinstance(msgs[0], SSLv2ServerFinished)
        send(Raw(request))
        data = b""
        try:
            for _ in range(100):
                msgs, session = sslv2_records(sock, session)
                data += b"".join(bytes(m) for m in msgs)
        except EOFError:
            pass
        return data, session.server_certs[0].der
    finally:
        sock.close()


@pytest.mark.parametrize("version", [0x0300, 0x0301], ids=["SSL3", "TLS1.0"])
@pytest.mark.parametrize(
    "suite", [TLS_RSA_WITH_RC4_128_MD5, TLS_RSA_WITH_RC4_128_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA],
    ids=lambda s: s.__name__,
)
async def test_scapy_tls_client_gets_the_personalised_answer(gateway, version, suite):
    body = crafted_i_connect(GAME, 12)
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data, certificate = await trio.to_thread.run_sync(
                scapy_tls_exchange, port, version, suite, http_post("/us-gw/v2.5_i-connect/", body))
    assert_personalised_answer(data, body)
    assert certificate == gateway.certificate
    assert [type(e) for e in events] == [DnasRequest]


async def test_ssl2_format_hello_offering_tls_is_served_by_tls(gateway):
    body = crafted_i_connect(GAME, 15)
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data, _ = await trio.to_thread.run_sync(
                scapy_tls_exchange, port, 0x0301, TLS_RSA_WITH_RC4_128_MD5,
                http_post("/us-gw/v2.5_i-connect", body), True)
    assert_personalised_answer(data, body)
    assert events[0].protocol == "TLS 1.0 TLS_RSA_WITH_RC4_128_MD5"


@pytest.mark.parametrize(("cipher", "name"), [(0x010080, "SSL_CK_RC4_128_WITH_MD5"),
                                              (0x0700C0, "SSL_CK_DES_192_EDE3_CBC_WITH_MD5")])
async def test_scapy_sslv2_client_gets_the_personalised_answer(gateway, cipher, name):
    body = crafted_i_connect(GAME, 13)
    async with running(gateway) as (port, events):
        with trio.fail_after(60):
            data, certificate = await trio.to_thread.run_sync(
                scapy_sslv2_exchange, port, cipher, http_post("/us-gw/v2.5_i-connect", body))
    assert_personalised_answer(data, body)
    assert certificate == gateway.certificate
    (event,) = events
    assert event.protocol == f"SSL 2.0 {name}"
    assert event.answered
