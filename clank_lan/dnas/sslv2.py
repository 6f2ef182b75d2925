"""A sans-IO SSL 2.0 server, only ever used to answer the PS2's DNAS gateway requests.

Why this exists: SSL 2.0 is broken and every maintained TLS library refuses to serve it, yet a
console whose DNAS client sends an SSL 2.0-only hello would otherwise never reach our answers
(the community replacements ran a 2016 OpenSSL built with SSLv2 for this reason). It is the
smallest server that can work: RSA key exchange, RC4-128-MD5 or DES-192-EDE3-CBC-MD5, no session
resumption, no client certificates, bounded records. It carries nothing secret: DNAS answers
are recordings every console gets. Never use it for anything else.

Bytes in (``receive``), bytes out (``take``), plaintext out (``read``), plaintext in (``send``);
randomness comes from the caller. Malformed input raises ``Sslv2Error`` with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from Crypto.Cipher import ARC4, DES3, PKCS1_v1_5
from Crypto.PublicKey import RSA

# Message types (SSL 2.0 draft, "Protocol Messages").
MSG_ERROR = 0
MSG_CLIENT_HELLO = 1
MSG_CLIENT_MASTER_KEY = 2
MSG_CLIENT_FINISHED = 3
MSG_SERVER_HELLO = 4
MSG_SERVER_VERIFY = 5
MSG_SERVER_FINISHED = 6

ERROR_NO_CIPHER = 0x0001
CERT_TYPE_X509 = 1
VERSION = 0x0002
CONNECTION_ID_LEN = 16
SESSION_ID_LEN = 16
MAC_LEN = 16  # MD5
#: Largest record we accept or write (the 3-byte header's 14-bit length).
MAX_RECORD = 0x3FFF
#: Application data we buffer before the reader takes it.
MAX_PLAINTEXT_BUFFER = 1 << 16


@dataclass(frozen=True)
class CipherKind:
    code: int
    name: str
    key_len: int
    block: int  # 0 for the stream cipher
    key_arg_len: int


RC4_128_MD5 = CipherKind(0x010080, "SSL_CK_RC4_128_WITH_MD5", 16, 0, 0)
DES_192_EDE3_CBC_MD5 = CipherKind(0x0700C0, "SSL_CK_DES_192_EDE3_CBC_WITH_MD5", 24, 8, 8)
#: Our preference order.
CIPHERS = (RC4_128_MD5, DES_192_EDE3_CBC_MD5)


class Sslv2Error(Exception):
    """The peer broke the protocol; the connection must be closed."""


class State(Enum):
    HELLO = "hello"
    MASTER_KEY = "master key"
    FINISHED = "client finished"
    OPEN = "open"
    CLOSED = "closed"


def key_material(master: bytes, challenge: bytes, connection_id: bytes, length: int) -> bytes:
    """MD5(master, "0", challenge, connection id) || MD5(..."1"...) || ... cut to ``length``."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.md5(master + str(counter).encode() + challenge + connection_id).digest()
        counter += 1
    return out[:length]


def is_sslv2_only_hello(head: bytes) -> bool | None:
    """For the first bytes of a connection: True for an SSL 2.0 hello that offers only 2.0,
    False for anything else, None when more bytes are needed to tell."""
    if not head:
        return None
    if not head[0] & 0x80:
        return False
    if len(head) < 5:
        return None
    return head[2] == MSG_CLIENT_HELLO and int.from_bytes(head[3:5], "big") < 0x0300


class _Direction:
    """One direction's cipher, MAC secret and record sequence number."""

    def __init__(self) -> None:
        self.seq = 0
        self.secret = b""
        self.cipher = None

    def mac(self, data: bytes, padding: bytes) -> bytes:
        return hashlib.md5(self.secret + data + padding + (self.seq & 0xFFFFFFFF).to_bytes(4, "big")).digest()


class Sslv2Server:
    """One server side connection: handshake, then records of application data both ways."""

    def __init__(self, certificate: bytes, key: RSA.RsaKey, rng: Callable[[int], bytes] = os.urandom) -> None:
        self._certificate = certificate
        self._key = key
        self._rng = rng
        self._in = bytearray()
        self._out = bytearray()
        self._plain = bytearray()
        self._rx = _Direction()
        self._tx = _Direction()
        self.state = State.HELLO
        self.cipher: CipherKind | None = None
        self._offered: tuple[CipherKind, ...] = ()
        self._challenge = b""
        self._connection_id = b""

    # --- the caller's side ---

    @property
    def established(self) -> bool:
        return self.state is State.OPEN

    def receive(self, data: bytes) -> None:
        """Bytes from the peer; handles every complete record."""
        if self.state is State.CLOSED:
            return
        self._in += data
        while self.state is not State.CLOSED:
            record = self._next_record()
            if record is None:
                return
            self._handle(record)

    def take(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def read(self) -> bytes:
        plain = bytes(self._plain)
        self._plain.clear()
        return plain

    def send(self, data: bytes) -> None:
        if self.state is not State.OPEN:
            raise Sslv2Error("cannot send application data before the handshake is done")
        step = MAX_RECORD - MAC_LEN - 8
        for i in range(0, len(data), step):
            self._write(data[i : i + step])

    # --- records ---

    def _next_record(self) -> bytes | None:
        buf = self._in
        if len(buf) < 2:
            return None
        if buf[0] & 0x80:
            header, length, padding = 2, ((buf[0] & 0x7F) << 8) | buf[1], 0
        else:
            if buf[0] & 0x40:
                raise Sslv2Error("security escape records are not supported")
            if len(buf) < 3:
                return None
            header, length, padding = 3, ((buf[0] & 0x3F) << 8) | buf[1], buf[2]
        if length > MAX_RECORD + MAC_LEN:
            raise Sslv2Error(f"record of {length} bytes is larger than allowed")
        if len(buf) < header + length:
            return None
        body = bytes(buf[header : header + length])
        del buf[: header + length]
        rx = self._rx
        if rx.cipher is not None:
            if padding > length or (self.cipher and self.cipher.block and length % self.cipher.block):
                raise Sslv2Error("record padding does not fit the cipher")
            clear = rx.cipher.decrypt(body)
            if len(clear) < MAC_LEN + padding:
                raise Sslv2Error("encrypted record is shorter than its MAC")
            mac, rest = clear[:MAC_LEN], clear[MAC_LEN:]
            data, pad = rest[: len(rest) - padding], rest[len(rest) - padding :]
            if not hmac.compare_digest(rx.mac(data, pad), mac):
                raise Sslv2Error("record MAC does not match (wrong keys or altered data)")
            body = data
        elif padding:
            raise Sslv2Error("padding in a clear record")
        rx.seq += 1
        if not body:
            raise Sslv2Error("empty record")
        return body

    def _write(self, data: bytes) -> None:
        tx = self._tx
        if tx.cipher is None:
            self._out += (0x8000 | len(data)).to_bytes(2, "big") + data
        else:
            block = self.cipher.block if self.cipher else 0
            pad = b""
            if block:
                pad = bytes(-(MAC_LEN + len(data)) % block)
            body = tx.cipher.encrypt(tx.mac(data, pad) + data + pad)
            if pad:
                self._out += len(body).to_bytes(2, "big") + bytes((len(pad),)) + body
            else:
                self._out += (0x8000 | len(body)).to_bytes(2, "big") + body
        tx.seq += 1

    # --- handshake ---

    def _handle(self, msg: bytes) -> None:
        kind = msg[0]
        if self.state is State.OPEN:
            self._plain += msg
            if len(self._plain) > MAX_PLAINTEXT_BUFFER:
                raise Sslv2Error("too much application data buffered")
            return
        if kind == MSG_ERROR:
            code = int.from_bytes(msg[1:3], "big") if len(msg) >= 3 else -1
            self.state = State.CLOSED
            raise Sslv2Error(f"client sent SSL 2.0 error {code:#06x}")
        expected = {
            State.HELLO: MSG_CLIENT_HELLO,
            State.MASTER_KEY: MSG_CLIENT_MASTER_KEY,
            State.FINISHED: MSG_CLIENT_FINISHED,
        }[self.state]
        if kind != expected:
            raise Sslv2Error(f"message {kind} while waiting for {self.state.value}")
        if kind == MSG_CLIENT_HELLO:
            self._client_hello(msg)
        elif kind == MSG_CLIENT_MASTER_KEY:
            self._client_master_key(msg)
        else:
            self._client_finished(msg)

    def _client_hello(self, msg: bytes) -> None:
        if len(msg) < 9:
            raise Sslv2Error("CLIENT-HELLO is truncated")
        version, specs_len, session_len, challenge_len = (
            int.from_bytes(msg[i : i + 2], "big") for i in (1, 3, 5, 7)
        )
        if version < VERSION:
            raise Sslv2Error(f"CLIENT-HELLO version {version:#06x} is below SSL 2.0")
        if specs_len % 3 or session_len not in (0, 16) or not 16 <= challenge_len <= 32:
            raise Sslv2Error("CLIENT-HELLO field lengths are invalid")
        if len(msg) != 9 + specs_len + session_len + challenge_len:
            raise Sslv2Error("CLIENT-HELLO length does not match its fields")
        specs = msg[9 : 9 + specs_len]
        offered = {int.from_bytes(specs[i : i + 3], "big") for i in range(0, specs_len, 3)}
        self._challenge = msg[9 + specs_len + session_len :]
        self._offered = tuple(c for c in CIPHERS if c.code in offered)
        if not self._offered:
            self._write(bytes((MSG_ERROR,)) + ERROR_NO_CIPHER.to_bytes(2, "big"))
            self.state = State.CLOSED
            raise Sslv2Error("client offers neither RC4-128-MD5 nor DES-192-EDE3-CBC-MD5")
        self._connection_id = self._rng(CONNECTION_ID_LEN)
        our_specs = b"".join(c.code.to_bytes(3, "big") for c in self._offered)
        self._write(
            bytes((MSG_SERVER_HELLO, 0, CERT_TYPE_X509))
            + VERSION.to_bytes(2, "big")
            + len(self._certificate).to_bytes(2, "big")
            + len(our_specs).to_bytes(2, "big")
            + CONNECTION_ID_LEN.to_bytes(2, "big")
            + self._certificate
            + our_specs
            + self._connection_id
        )
        self.state = State.MASTER_KEY

    def _client_master_key(self, msg: bytes) -> None:
        if len(msg) < 10:
            raise Sslv2Error("CLIENT-MASTER-KEY is truncated")
        code = int.from_bytes(msg[1:4], "big")
        clear_len, enc_len, arg_len = (int.from_bytes(msg[i : i + 2], "big") for i in (4, 6, 8))
        if len(msg) != 10 + clear_len + enc_len + arg_len:
            raise Sslv2Error("CLIENT-MASTER-KEY length does not match its fields")
        cipher = next((c for c in self._offered if c.code == code), None)
        if cipher is None:
            raise Sslv2Error(f"client chose cipher {code:#08x}, which was not offered")
        if clear_len != 0 or arg_len != cipher.key_arg_len:
            raise Sslv2Error("CLIENT-MASTER-KEY clear key or key argument has the wrong length")
        clear = msg[10 : 10 + clear_len]
        encrypted = msg[10 + clear_len : 10 + clear_len + enc_len]
        key_arg = msg[10 + clear_len + enc_len :]
        # A padding failure gets a random secret, never a distinct error (Bleichenbacher): the
        # client's FINISHED then fails its MAC.
        size = self._key.size_in_bytes()
        if len(encrypted) != size:
            raise Sslv2Error(f"encrypted key is {len(encrypted)} bytes, the RSA key needs {size}")
        sentinel = self._rng(cipher.key_len)
        try:
            secret = PKCS1_v1_5.new(self._key).decrypt(encrypted, sentinel, expected_pt_len=cipher.key_len)
        except ValueError:  # a number not below the modulus: as wrong as bad padding
            secret = sentinel
        master = clear + secret
        material = key_material(master, self._challenge, self._connection_id, 2 * cipher.key_len)
        server_write, client_write = material[: cipher.key_len], material[cipher.key_len :]
        self.cipher = cipher
        self._tx.secret, self._tx.cipher = server_write, _cipher(cipher, server_write, key_arg)
        self._rx.secret, self._rx.cipher = client_write, _cipher(cipher, client_write, key_arg)
        self._write(bytes((MSG_SERVER_VERIFY,)) + self._challenge)
        self.state = State.FINISHED

    def _client_finished(self, msg: bytes) -> None:
        if msg[1:] != self._connection_id:
            raise Sslv2Error("CLIENT-FINISHED does not carry our connection id")
        self._write(bytes((MSG_SERVER_FINISHED,)) + self._rng(SESSION_ID_LEN))
        self.state = State.OPEN


def _cipher(kind: CipherKind, key: bytes, iv: bytes):
    if kind is RC4_128_MD5:
        return ARC4.new(key)
    try:
        return DES3.new(key, DES3.MODE_CBC, iv=iv)
    except ValueError as exc:  # a key triple that degenerates to single DES
        raise Sslv2Error(f"unusable 3DES key: {exc}") from exc
