"""The 4-byte frame hash: a checksum of the plaintext with the cipher context in its top bits.

Byte 3's top three bits name the key slot ("context") the sender used; the other 29 bits are
the checksum (SHA-1 on PS2, RCQ on PS3). A hash whose 29 checksum bits are all zero is the
"null hash": the payload is plaintext even though the frame is flagged.
"""

from __future__ import annotations

import enum
import hashlib


class Ctx(enum.IntEnum):
    """Cipher contexts seen on the wire."""

    ID_00 = 0
    RC_SERVER_SESSION = 1  # key from SERVER_CRYPTKEY_GAME
    ID_02 = 2
    RC_CLIENT_SESSION = 3  # key from SERVER_CRYPTKEY_PEER
    ID_04 = 4
    ID_05 = 5
    ID_06 = 6
    RSA_AUTH = 7  # CRYPTKEY_PUBLIC / CRYPTKEY_PEER


_sha1 = hashlib.sha1


def ps2_hash(plain: bytes, ctx: int) -> bytes:
    """SHA-1 of the plaintext, first 4 bytes, context in the top 3 bits of byte 3."""
    h = _sha1(plain).digest()
    return h[:3] + bytes(((h[3] & 0x1F) | (ctx << 5),))


def hash_ctx(h: bytes) -> int:
    return h[3] >> 5


def is_null_hash(h: bytes) -> bool:
    return h[0] == 0 and h[1] == 0 and h[2] == 0 and (h[3] & 0x1F) == 0


def null_hash(ctx: int = Ctx.RC_CLIENT_SESSION) -> bytes:
    """A null hash carrying a context (DL clients send ``00 00 00 60``)."""
    return bytes((0, 0, 0, ctx << 5))
