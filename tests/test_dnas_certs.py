"""The gateway certificates: DER we write, parsed back by tlslite-ng, signature checked."""

from __future__ import annotations

import os
import ssl
import stat

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15
from tlslite.utils.asn1parser import ASN1Parser
from tlslite.x509 import X509

from clank_lan.dnas import certs


@pytest.fixture(scope="module")
def identity_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dnas")
    identity = certs.load_or_create(directory, ("us", "eu", "jp"))
    return directory, identity


def test_der_integers_and_lengths():
    assert certs.der_int(0) == b"\x02\x01\x00"
    assert certs.der_int(127) == b"\x02\x01\x7f"
    assert certs.der_int(128) == b"\x02\x02\x00\x80"  # a leading zero keeps it positive
    assert certs.der_int(256) == b"\x02\x02\x01\x00"
    long = certs.der_seq(bytes(200))
    assert long[:3] == b"\x30\x81\xc8"
    longer = certs.der_seq(bytes(300))
    assert longer[:4] == b"\x30\x82\x01\x2c"


def test_der_oids_match_their_known_encodings():
    assert certs.der_oid("2.5.4.3") == bytes.fromhex("0603550403")
    assert certs.der_oid("1.2.840.113549.1.1.11") == bytes.fromhex("06092a864886f70d01010b")


@pytest.mark.parametrize("region", ["us", "eu", "jp"])
def test_certificate_parses_and_its_signature_verifies(identity_dir, region):
    _, identity = identity_dir
    der = identity.certificates[region]
    cert = X509()
    cert.parseBinary(der)
    assert (int(cert.publicKey.n), int(cert.publicKey.e)) == (identity.key.n, identity.key.e)
    assert len(cert.publicKey) == 1024
    outer = ASN1Parser(bytearray(der))
    tbs = bytes(outer.getChildBytes(0))
    signature_bits = outer.getChild(2).value
    assert signature_bits[0] == 0  # no unused bits
    public = RSA.construct((identity.key.n, identity.key.e))
    pkcs1_15.new(public).verify(SHA256.new(tbs), bytes(signature_bits[1:]))  # raises if wrong


@pytest.mark.parametrize("region", ["us", "eu", "jp"])
def test_names_and_validity_are_shaped_like_the_community_certificates(identity_dir, region):
    _, identity = identity_dir
    der = identity.certificates[region]
    host = f"gate1.{region}.dnas.playstation.org".encode()
    assert host in der
    assert b"VeriSign, Inc." in der and b"Class 3 Public Primary Certification Authority" in der
    tbs = ASN1Parser(bytearray(der)).getChild(0)
    # Version 1: no [0] version field, so the serial number comes first.
    assert tbs.getChildBytes(0)[0] == 0x02
    validity = tbs.getChild(3)
    assert bytes(validity.getChild(0).value) == b"000101000000Z"
    assert bytes(validity.getChild(1).value) == b"20991231235959Z"
    assert bytes(validity.getChildBytes(1))[0] == 0x18  # GeneralizedTime for 2099


def test_second_run_reuses_key_and_certificates(identity_dir):
    directory, identity = identity_dir
    again = certs.load_or_create(directory, ("us", "eu", "jp"))
    assert again.certificates == identity.certificates
    assert again.key.n == identity.key.n
    mode = stat.S_IMODE(os.stat(directory / certs.KEY_FILE).st_mode)
    assert mode == 0o600


def test_certificate_for_another_key_is_replaced(tmp_path, identity_dir):
    directory, identity = identity_dir
    (tmp_path / certs.KEY_FILE).write_bytes((directory / certs.KEY_FILE).read_bytes())
    stranger = RSA.generate(1024)
    foreign = certs.make_certificate(stranger, certs.GATEWAY_HOSTS["us"], serial=7)
    (tmp_path / "gate1.us.dnas.playstation.org.crt").write_text(ssl.DER_cert_to_PEM_cert(foreign))
    (tmp_path / "gate1.eu.dnas.playstation.org.crt").write_text("not a certificate")
    fresh = certs.load_or_create(tmp_path, ("us", "eu"))
    for region in ("us", "eu"):
        cert = X509()
        cert.parseBinary(fresh.certificates[region])
        assert int(cert.publicKey.n) == identity.key.n


def test_unreadable_key_is_kept_aside_and_replaced(tmp_path):
    (tmp_path / certs.KEY_FILE).write_text("-----BEGIN RSA PRIVATE KEY-----\ngarbage\n")
    identity = certs.load_or_create(tmp_path, ("eu",))
    assert (tmp_path / (certs.KEY_FILE + ".unreadable")).read_text().startswith("-----BEGIN")
    assert RSA.import_key((tmp_path / certs.KEY_FILE).read_bytes()).n == identity.key.n


def test_ephemeral_run_writes_nothing(tmp_path):
    identity = certs.load_or_create(None, ("jp",))
    assert set(identity.certificates) == {"jp"}
    assert list(tmp_path.iterdir()) == []
