"""SSL 2.0, SSL 3.0 and TLS 1.0 clients (on a socket; SSL 2.0 also in memory) made of scapy's
own records, session state and crypto.

Scapy's TLS client automaton cannot end by itself in a test (when its list of data to send runs
out it reads more from standard input), so these drive the same steps by hand. Importing scapy's TLS
layer takes 1.5 s: only tests/test_dnas_scapy.py loads this module, when its tests run.
"""

from __future__ import annotations

import os
import socket
import struct

from scapy.layers.tls.crypto import suites
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
    SSLv2ServerHello,
    SSLv2ServerVerify,
)
from scapy.layers.tls.record import TLS, TLSAlert, TLSApplicationData, TLSChangeCipherSpec
from scapy.layers.tls.record_sslv2 import SSLv2
from scapy.layers.tls.session import tlsSession
from scapy.packet import Raw

from clank_lan.dnas.sslv2 import Sslv2Server
from tests.test_dnas_service import CLIENT_TIMEOUT


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def scapy_tls_exchange(
    port: int, version: int, suite_name: str, request: bytes, v2_hello: bool = False
) -> tuple[bytes, bytes]:
    """The steps of scapy's TLS client automaton, with scapy's own records and crypto.

    ``suite_name``: one of scapy's cipher suites (``TLS_RSA_WITH_RC4_128_MD5``). ``v2_hello``:
    open with an SSL 2.0-format hello that offers ``version`` (the compatible hello). Returns
    the answer and the certificate the server showed.
    """
    suite = getattr(suites, suite_name)
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


def split_records(data: bytes) -> list[bytes]:
    out = []
    while data:
        header = 2 if data[0] & 0x80 else 3
        n = header + (((data[0] & (0x7F if header == 2 else 0x3F)) << 8) | data[1])
        out.append(data[:n])
        data = data[n:]
    return out


class ScapySslv2Client:
    """Scapy's SSL 2.0 message classes and session state, the automaton's steps by hand."""

    def __init__(self) -> None:
        self.session = tlsSession(connection_end="client")
        self.session.advertised_tls_version = 0x0002

    def record(self, *msgs) -> bytes:
        return SSLv2(tls_session=self.session, msg=list(msgs)).raw_stateful()

    def parse(self, data: bytes) -> list:
        out = []
        for raw in split_records(data):
            packet = TLS(raw, tls_session=self.session, strict_integrity=True)
            self.session = packet.tls_session
            out += packet.msg
        return out


def handshake(server: Sslv2Server, cipher_code: int) -> ScapySslv2Client:
    client = ScapySslv2Client()
    server.receive(client.record(SSLv2ClientHello(challenge=os.urandom(16), ciphers=[cipher_code])))
    (hello,) = client.parse(server.take())
    assert isinstance(hello, SSLv2ServerHello)
    server.receive(client.record(SSLv2ClientMasterKey()))
    (verify,) = client.parse(server.take())
    assert isinstance(verify, SSLv2ServerVerify)
    assert client.session.sslv2_server_verify_valid is True  # our SERVER-VERIFY echoes its challenge
    server.receive(client.record(SSLv2ClientFinished()))
    (finished,) = client.parse(server.take())
    assert isinstance(finished, SSLv2ServerFinished)
    return client
