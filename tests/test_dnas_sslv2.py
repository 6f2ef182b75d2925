"""The SSL 2.0 server, in memory: scapy's independent SSL 2.0 client and hand-made bad input."""

from __future__ import annotations

import hashlib
import importlib
import os
from types import ModuleType

import pytest
from Crypto.Cipher import ARC4

from clank_lan.dnas import certs
from clank_lan.dnas.sslv2 import (
    DES_192_EDE3_CBC_MD5,
    RC4_128_MD5,
    Sslv2Error,
    Sslv2Server,
    State,
    is_sslv2_only_hello,
    key_material,
)


@pytest.fixture(scope="module")
def identity():
    return certs.load_or_create(None, ("us",))


@pytest.fixture(scope="module")
def scapy() -> ModuleType:
    """Scapy's SSL 2.0 client (tests/scapy_clients.py), loaded when these tests run rather than
    when every test worker collects (scapy's TLS layer takes 1.5 s to import)."""
    pytest.importorskip("cryptography", reason="scapy's TLS layer needs the 'cryptography' package")
    return importlib.import_module("tests.scapy_clients")


@pytest.mark.parametrize("cipher", [RC4_128_MD5, DES_192_EDE3_CBC_MD5], ids=lambda c: c.name)
def test_scapy_client_completes_the_handshake_and_exchanges_data(identity, cipher, scapy):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    client = scapy.handshake(server, cipher.code)
    assert server.established and server.cipher is cipher
    server.receive(client.record(scapy.Raw(b"POST /us-gw/v2.5_others HTTP/1.0\r\n")))
    server.receive(client.record(scapy.Raw(b"Content-Length: 0\r\n\r\n")))
    assert server.read() == b"POST /us-gw/v2.5_others HTTP/1.0\r\nContent-Length: 0\r\n\r\n"
    # More than one record. (Scapy takes a decrypted record that starts with a byte below 9 for
    # handshake messages, so every byte here is above that, as in an HTTP answer.)
    reply = b"HTTP/1.0 200 OK\r\n\r\n" + bytes(40 + i % 200 for i in range(50000))
    server.send(reply)
    wire = server.take()
    assert len(scapy.split_records(wire)) > 1
    got = b"".join(bytes(m.load) for m in client.parse(wire))
    assert got == reply


def test_server_hello_carries_our_certificate_and_only_common_ciphers(identity, scapy):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    client = scapy.ScapySslv2Client()
    server.receive(client.record(scapy.SSLv2ClientHello(challenge=os.urandom(16),
                                                  ciphers=[0x020080, 0x0700C0, 0x010080])))
    (hello,) = client.parse(server.take())
    assert hello.cert.der == identity.certificates["us"]
    assert hello.ciphers == [RC4_128_MD5.code, DES_192_EDE3_CBC_MD5.code]
    assert hello.version == 0x0002


def test_no_common_cipher_gets_the_ssl2_error_message(identity, scapy):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    client = scapy.ScapySslv2Client()
    with pytest.raises(Sslv2Error, match="neither"):
        hello = scapy.SSLv2ClientHello(challenge=os.urandom(16), ciphers=[0x020080])
        server.receive(client.record(hello))
    assert server.take() == b"\x80\x03\x00\x00\x01"  # ERROR, NO-CIPHER-ERROR
    assert server.state is State.CLOSED


def test_tampered_record_fails_its_mac(identity, scapy):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    client = scapy.handshake(server, RC4_128_MD5.code)
    record = bytearray(client.record(scapy.Raw(b"POST / HTTP/1.0\r\n\r\n")))
    record[-1] ^= 1
    with pytest.raises(Sslv2Error, match="MAC"):
        server.receive(bytes(record))


@pytest.mark.parametrize("encrypted", [os.urandom(128), b"\xff" * 128], ids=["random", "above-modulus"])
def test_wrong_master_key_fails_at_client_finished(identity, encrypted, scapy):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    client = scapy.ScapySslv2Client()
    hello = scapy.SSLv2ClientHello(challenge=os.urandom(16), ciphers=[RC4_128_MD5.code])
    server.receive(client.record(hello))
    server.take()
    # A CLIENT-MASTER-KEY whose encrypted key is not a PKCS#1 block for our key.
    bogus = bytes((2,)) + RC4_128_MD5.code.to_bytes(3, "big") + b"\x00\x00\x00\x80\x00\x00" + encrypted
    server.receive((0x8000 | len(bogus)).to_bytes(2, "big") + bogus)
    server.take()
    finished = bytes((3,)) + bytes(16)
    rc4 = ARC4.new(os.urandom(16))
    body = rc4.encrypt(hashlib.md5(finished).digest() + finished)
    with pytest.raises(Sslv2Error, match="MAC"):
        server.receive((0x8000 | len(body)).to_bytes(2, "big") + body)


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (b"\x80\x05\x01\x00\x02\x00\x00", "truncated"),  # CLIENT-HELLO too short
        (b"\x80\x0b\x01\x00\x02\x00\x02\x00\x00\x00\x10\x01\x00", "lengths"),  # specs not a multiple of 3
        (b"\x80\x0c\x01\x00\x02\x00\x03\x00\x00\x00\x10\x01\x00\x80", "does not match"),  # challenge missing
        (b"\x80\x03\x02\x00\x00", "waiting for hello"),  # MASTER-KEY first
        (b"\x80\x03\x00\x00\x01", "error 0x0001"),  # the client gives up
        (b"\x40\x03\x00abc", "escape"),
        (b"\x80\x00", "empty"),
        (b"\xff\xff", "larger"),
    ],
)
def test_malformed_input_raises_with_a_reason(identity, wire, match):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    with pytest.raises(Sslv2Error, match=match):
        server.receive(wire)


def test_encrypted_key_of_the_wrong_size_is_refused(identity, scapy):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    client = scapy.ScapySslv2Client()
    hello = scapy.SSLv2ClientHello(challenge=os.urandom(16), ciphers=[RC4_128_MD5.code])
    server.receive(client.record(hello))
    server.take()
    bogus = bytes((2,)) + RC4_128_MD5.code.to_bytes(3, "big") + b"\x00\x00\x00\x10\x00\x00" + bytes(16)
    with pytest.raises(Sslv2Error, match="encrypted key is 16 bytes"):
        server.receive((0x8000 | len(bogus)).to_bytes(2, "big") + bogus)


def test_partial_records_wait_for_more_bytes(identity, scapy):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    hello_msg = scapy.SSLv2ClientHello(challenge=os.urandom(16), ciphers=[RC4_128_MD5.code])
    hello = scapy.ScapySslv2Client().record(hello_msg)
    for i in range(len(hello) - 1):
        server.receive(hello[i : i + 1])
        assert server.take() == b""
    server.receive(hello[-1:])
    assert server.state is State.MASTER_KEY and server.take()


def test_application_data_before_the_handshake_cannot_be_sent(identity):
    server = Sslv2Server(identity.certificates["us"], identity.key)
    with pytest.raises(Sslv2Error):
        server.send(b"x")


def test_key_material_is_md5_of_master_counter_challenge_connection_id():
    master, challenge, conn = b"m" * 16, b"c" * 16, b"i" * 16
    expected = b"".join(hashlib.md5(master + d + challenge + conn).digest() for d in (b"0", b"1", b"2"))
    assert key_material(master, challenge, conn, 48) == expected
    assert key_material(master, challenge, conn, 32) == expected[:32]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"", None),
        (b"\x80", None),
        (b"\x80\x2e\x01\x00\x02", True),  # SSL 2.0-only hello
        (b"\x80\x2e\x01\x03\x01", False),  # compatible hello offering TLS 1.0
        (b"\x16\x03\x01", False),
        (b"GET /", False),
    ],
)
def test_hello_classification(head, expected):
    assert is_sslv2_only_hello(head) is expected

