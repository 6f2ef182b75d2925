"""The PS3 "RCQ" word cipher and its checksum (clients of RT version >= 112).

A 128-bit state of four 32-bit words; data is processed as little-endian words, the last one
zero-padded. Only the first 16 bytes of the 64-byte session key are used.
"""

from __future__ import annotations

import struct

from clank_lan.protocol.crypto.hashing import hash_ctx, is_null_hash
from clank_lan.protocol.errors import ProtocolError

M32 = 0xFFFFFFFF
A = 0x5B3AA654
B = 0x75970A4D
_W4 = struct.Struct("<4I")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & M32


def _round(s0: int, s1: int, s2: int, s3: int) -> tuple[int, int, int, int]:
    s3 ^= A
    s2 = _rotl((s2 + s0 + s3) & M32, 7)
    s1 = _rotl((s1 + s3 + s2) & M32, 11)
    s2 ^= B
    s0 = _rotl((s0 + s2 + s1) & M32, 17)  # rotate right by 15
    t = (s0 & s1) | (s2 & ~s1 & M32)
    s1 = ~s1 & M32
    s3 = (s3 + t) & M32
    s0 = ~s0 & M32
    return s0, s1, s2, s3


def _words(data: bytes) -> list[int]:
    pad = (-len(data)) % 4
    padded = bytes(data) + b"\0" * pad
    return list(struct.unpack(f"<{len(padded) // 4}I", padded))


def _absorb(s: tuple[int, int, int, int], words) -> tuple[int, int, int, int]:
    s0, s1, s2, s3 = s
    for w in words:
        s0, s1, s2, s3 = _round(s0, s1, s2, s3)
        s3 ^= w
    return s0, s1, s2, s3


_IV = _absorb((0, 0, 0, 0), (0, 0, 0, 0))


def rcq_hash(data: bytes, ctx: int) -> bytes:
    s = _absorb(_IV, _words(data))
    v = (sum(s) & 0x1FFFFFFF) | (ctx << 29)
    return v.to_bytes(4, "little")


def _seed(key: bytes, h: bytes) -> tuple[int, int, int, int]:
    if len(key) < 16:
        raise ProtocolError("RCQ key needs at least 16 bytes")
    s = _absorb(_W4.unpack(key[:16]), (int.from_bytes(h, "little"),))
    return _absorb(s, _W4.unpack(_W4.pack(*s)))


def encrypt(key: bytes, plain: bytes, ctx: int) -> tuple[bytes, bytes]:
    h = rcq_hash(plain, ctx)
    s0, s1, s2, s3 = _seed(key, h)
    out = []
    for w in _words(plain):
        s0, s1, s2, s3 = _round(s0, s1, s2, s3)
        s3 ^= w
        out.append(s3)
    return h, struct.pack(f"<{len(out)}I", *out)[: len(plain)]


def decrypt(key: bytes, cipher: bytes, h: bytes) -> bytes | None:
    if is_null_hash(h):
        return bytes(cipher)
    s0, s1, s2, s3 = _seed(key, h)
    out = []
    for c in _words(cipher):
        s0, s1, s2, s3 = _round(s0, s1, s2, s3)
        p = c ^ s3
        s3 ^= p
        out.append(p)
    plain = struct.pack(f"<{len(out)}I", *out)[: len(cipher)]
    return plain if rcq_hash(plain, hash_ctx(h)) == h else None
