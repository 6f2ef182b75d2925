"""The DNAS gateways' key and certificates: made once, kept in the data directory.

Consoles accepted the community replacement's certificates: version 1, a 1024-bit RSA key, an
issuer named like VeriSign's old class 3 root, the gateway name as the subject's CN. The console
evidently does not check the issuer's signature (nobody has VeriSign's key), so we sign with the
gateway key itself. Validity spans 2000-2099 so that any console clock is inside it.

pycryptodome has no X.509 writer and the layout is fixed and tiny, so a small DER encoder here
builds the certificate; tests parse it back with tlslite-ng and check the signature.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15
from tlslite.x509 import X509

log = logging.getLogger("clank_lan.dnas")

KEY_BITS = 1024
GATEWAY_HOSTS = {
    "us": "gate1.us.dnas.playstation.org",
    "eu": "gate1.eu.dnas.playstation.org",
    "jp": "gate1.jp.dnas.playstation.org",
}
ISSUER = (
    ("2.5.4.6", "US"),
    ("2.5.4.10", "VeriSign, Inc."),
    ("2.5.4.11", "Class 3 Public Primary Certification Authority"),
)
SUBJECT_ORG = "clank-lan"
NOT_BEFORE = "000101000000Z"  # UTCTime: 2000-01-01
NOT_AFTER = "20991231235959Z"  # GeneralizedTime (years from 2050 on must be, RFC 5280 4.1.2.5)
OID_SHA256_RSA = "1.2.840.113549.1.1.11"
KEY_FILE = "gate1.key.pem"


# --- a DER encoder for the handful of types a certificate uses ---


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def der_seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def der_set(*items: bytes) -> bytes:
    return _der(0x31, b"".join(items))


def der_int(value: int) -> bytes:
    if value < 0:
        raise ValueError("only non-negative integers are needed")
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def der_printable(text: str) -> bytes:
    return _der(0x13, text.encode("ascii"))


def der_name(attributes: Iterable[tuple[str, str]]) -> bytes:
    return der_seq(*(der_set(der_seq(der_oid(oid), der_printable(value))) for oid, value in attributes))


def der_time(text: str) -> bytes:
    return _der(0x17 if len(text) == 13 else 0x18, text.encode("ascii"))


def der_bits(data: bytes) -> bytes:
    return _der(0x03, b"\x00" + data)


def make_certificate(key: RSA.RsaKey, host: str, serial: int) -> bytes:
    """A version-1 certificate (DER) for ``host`` with ``key``, signed by ``key``."""
    algorithm = der_seq(der_oid(OID_SHA256_RSA), _der(0x05, b""))
    subject = (("2.5.4.6", "US"), ("2.5.4.10", SUBJECT_ORG), ("2.5.4.3", host))
    tbs = der_seq(
        der_int(serial),
        algorithm,
        der_name(ISSUER),
        der_seq(der_time(NOT_BEFORE), der_time(NOT_AFTER)),
        der_name(subject),
        key.publickey().export_key("DER"),
    )
    signature = pkcs1_15.new(key).sign(SHA256.new(tbs))
    return der_seq(tbs, algorithm, der_bits(signature))


@dataclass(frozen=True)
class GatewayIdentity:
    """The key and the DER certificate of each gateway name, by region."""

    key: RSA.RsaKey
    certificates: dict[str, bytes]

    @property
    def key_pem(self) -> str:
        return self.key.export_key("PEM", pkcs=1).decode("ascii")


def new_key(rng: Callable[[int], bytes] = os.urandom) -> RSA.RsaKey:
    """A fresh gateway key: two 512-bit primes, 0.1-0.2 s of CPU (why ``load`` runs in a thread)."""
    return RSA.generate(KEY_BITS, randfunc=rng)


def load_or_create(
    directory: Path | None, regions: Iterable[str], rng: Callable[[int], bytes] = os.urandom
) -> GatewayIdentity:
    """Read the key and certificates from ``directory``, making what is missing.

    ``directory`` None (an ephemeral run) keeps everything in memory.
    """
    key_path = None if directory is None else directory / KEY_FILE
    key = None
    if key_path is not None and key_path.exists():
        try:
            key = RSA.import_key(key_path.read_bytes())
        except (ValueError, IndexError, TypeError):
            spoiled = key_path.with_name(KEY_FILE + ".unreadable")
            key_path.replace(spoiled)
            log.warning("DNAS: %s is not an RSA key; kept it as %s and made a new one", key_path, spoiled)
    if key is None:
        key = new_key(rng)
        if key_path is not None:
            key_path.parent.mkdir(parents=True, exist_ok=True)
            _write_private(key_path, key.export_key("PEM", pkcs=1))
            log.info("DNAS: made a new %d-bit gateway key in %s", KEY_BITS, key_path)
    certificates = {}
    for region in regions:
        host = GATEWAY_HOSTS[region]
        path = None if directory is None else directory / f"{host}.crt"
        if path is not None and path.exists():
            try:
                der = ssl.PEM_cert_to_DER_cert(path.read_text("ascii"))
            except (ValueError, UnicodeDecodeError):
                der = b""
            if _matches(der, key):
                certificates[region] = der
                continue
            log.warning("DNAS: %s does not match the gateway key; making a new one", path)
        der = make_certificate(key, host, serial=int.from_bytes(rng(8), "big") >> 1 or 1)
        if path is not None:
            path.write_text(ssl.DER_cert_to_PEM_cert(der), "ascii")
        certificates[region] = der
    return GatewayIdentity(key, certificates)


def _matches(certificate: bytes, key: RSA.RsaKey) -> bool:
    cert = X509()
    try:
        cert.parseBinary(certificate)
    except Exception:  # any unreadable file is simply replaced
        return False
    return (int(cert.publicKey.n), int(cert.publicKey.e)) == (key.n, key.e)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
