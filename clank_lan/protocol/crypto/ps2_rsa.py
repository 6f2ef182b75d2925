"""PS2 "textbook" RSA: 512-bit modulus, e = 17, no padding, integers little-endian.

The plaintext is often itself a 512-bit modulus and may exceed N, in which case decryption
gives ``m mod N``; the receiver tries ``m`` and ``m + N`` and keeps the one whose hash matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd

from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash, ps2_hash
from clank_lan.protocol.errors import ProtocolError

BLOCK = 64


def to_int(le: bytes) -> int:
    return int.from_bytes(le, "little")


def to_le(value: int, size: int = BLOCK) -> bytes:
    return value.to_bytes(size, "little")


def factors(n: int, e: int, d: int) -> tuple[int, int] | None:
    """The primes of ``n``, found from a private exponent: ``e * d - 1`` is a multiple of the
    group's order, so for most bases g some ``g ** (k / 2**i)`` is a square root of 1 other than
    +-1, and its gcd with n is a factor. None when ``d`` does not fit ``n`` and ``e``."""
    k = e * d - 1
    if k <= 0 or n < 4:
        return None
    t = (k & -k).bit_length() - 1  # k = r * 2**t with r odd
    r = k >> t
    for g in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47):
        x = pow(g, r, n)
        if x in (1, n - 1):
            continue
        for _ in range(t):
            y = x * x % n
            if y == 1:
                p = gcd(x - 1, n)
                if 1 < p < n:
                    return min(p, n // p), max(p, n // p)
                break
            if y == n - 1:
                break
            x = y
    return None


@dataclass(frozen=True, slots=True)
class RsaKey:
    """A key pair (``d`` may be None for a public-only key). ``p``/``q`` enable CRT: two
    half-size exponentiations instead of one full one, about 2.5x faster; their exponents and
    the recombination coefficient are computed once, here. A pair given without them (the known
    client keys are n, e and d) gets them from ``d`` (``factors``)."""

    n: int
    e: int = 17
    d: int | None = None
    p: int | None = None
    q: int | None = None
    name: str = ""
    _crt: tuple[int, int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.d is not None and self.p is None and self.q is None:
            pq = factors(self.n, self.e, self.d)
            if pq is not None:
                object.__setattr__(self, "p", pq[0])
                object.__setattr__(self, "q", pq[1])
        if self.d is not None and self.p is not None and self.q is not None:
            if self.p * self.q != self.n:
                raise ProtocolError(f"RSA key {self.name or hex(self.n)[:18]}: p * q is not n")
            crt = (self.d % (self.p - 1), self.d % (self.q - 1), pow(self.q, -1, self.p))
            object.__setattr__(self, "_crt", crt)

    @property
    def modulus_le(self) -> bytes:
        """The public modulus as CRYPTKEY_PUBLIC carries it."""
        return to_le(self.n)

    @classmethod
    def from_modulus_le(cls, payload: bytes, e: int = 17) -> RsaKey:
        if len(payload) != BLOCK:
            raise ProtocolError(f"RSA modulus must be {BLOCK} bytes, got {len(payload)}", data=payload)
        n = to_int(payload)
        if n < (1 << 500):
            raise ProtocolError("RSA modulus too small", data=payload)
        return cls(n=n, e=e)

    def raw_encrypt(self, m: int) -> int:
        return pow(m, self.e, self.n)

    def raw_decrypt(self, c: int) -> int:
        if self.d is None:
            raise ProtocolError(f"no private key for RSA key {self.name or hex(self.n)[:18]}")
        if self._crt is not None:
            p, q, (dp, dq, q_inv) = self.p, self.q, self._crt
            assert p is not None and q is not None  # _crt is only set with both
            mp = pow(c % p, dp, p)
            mq = pow(c % q, dq, q)
            return mq + (q_inv * (mp - mq)) % p * q
        return pow(c, self.d, self.n)


def encrypt(key: RsaKey, plain: bytes, ctx: int = Ctx.RSA_AUTH, hash_fn=ps2_hash) -> tuple[bytes, bytes]:
    """Return (hash, ciphertext) for ``plain`` (<= 64 bytes) encrypted to ``key``."""
    if len(plain) > BLOCK:
        raise ProtocolError(f"RSA plaintext of {len(plain)} bytes exceeds {BLOCK}")
    h = hash_fn(plain, ctx)
    c = key.raw_encrypt(to_int(plain) % key.n)
    return h, to_le(c, max(len(plain), BLOCK))


#: Textbook RSA is deterministic and every console of a title sends the same CRYPTKEY_PUBLIC,
#: so a server sees the same few ciphertexts over and over: remember their plaintexts.
_DECRYPTED: dict[tuple[int, bytes, bytes], bytes] = {}
_DECRYPTED_MAX = 1024


def decrypt(key: RsaKey, cipher: bytes, h: bytes, hash_fn=ps2_hash) -> bytes | None:
    """Plaintext of an RSA frame, trying m and m+N against the hash; None if neither fits."""
    if is_null_hash(h):
        return bytes(cipher)
    if len(cipher) != BLOCK:
        return None
    memo = (key.n, bytes(cipher), bytes(h))
    plain = _DECRYPTED.get(memo)
    if plain is None:
        plain = _decrypt(key, cipher, h, hash_fn)
        if plain is not None:
            if len(_DECRYPTED) >= _DECRYPTED_MAX:
                del _DECRYPTED[next(iter(_DECRYPTED))]
            _DECRYPTED[memo] = plain
    return plain


def _decrypt(key: RsaKey, cipher: bytes, h: bytes, hash_fn) -> bytes | None:
    m = key.raw_decrypt(to_int(cipher) % key.n)
    ctx = hash_ctx(h)
    for cand in (m, m + key.n):
        if cand >> (8 * BLOCK):
            continue
        plain = to_le(cand, len(cipher))
        if hash_fn(plain, ctx) == h:
            return plain
    return None
