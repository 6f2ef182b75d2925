"""Salted password hashes: PBKDF2-HMAC-SHA256 with a per-account random salt.

Cost: PBKDF2 runs about 300 ns per iteration here (AMD EPYC, OpenSSL via hashlib), so
``ITERATIONS = 4000`` makes one check ~1.2 ms — 300 logins/s use about a third of one core, and
hashlib releases the GIL, so two worker threads check ~1500/s on 2 cores. scrypt was measured too:
its cheapest memory-hard setting (n=2**10, r=8) already costs 2.5 ms, too much to run on the event
loop. The game sends passwords of at most 31 characters in plaintext over the LAN anyway; this
hash protects the data file at rest, it is not the main line of defence.

The encoded form names the algorithm and iteration count, so raising the cost later keeps old
hashes verifiable. Pure functions: the salt is passed in. The event loop must not spend a
millisecond per login hashing, so ``make_off_loop`` / ``verify_off_loop`` / ``off_loop`` run the
hash in a trio worker thread, at most ``HASH_THREADS`` at once (more threads than cores only queue
inside the kernel, and a login storm must not start hundreds of threads).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from typing import TypeVar

import trio

from clank_lan.db.errors import InvalidValue

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 4000
SALT_SIZE = 16
DIGEST_SIZE = 32
HASH_THREADS = max(1, min(4, os.cpu_count() or 1))

T = TypeVar("T")
_LIMITER: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("clank_lan.password_threads")


class PasswordHash:
    """A parsed stored hash; ``verify`` does a constant-time compare."""

    __slots__ = ("digest", "iterations", "salt")

    def __init__(self, iterations: int, salt: bytes, digest: bytes) -> None:
        self.iterations = iterations
        self.salt = salt
        self.digest = digest

    @classmethod
    def make(cls, password: str | bytes, salt: bytes, iterations: int | None = None) -> PasswordHash:
        """A new hash; ``iterations`` defaults to ``ITERATIONS`` as it is when called (the test
        suite lowers it: a lobby test creates accounts to play, not to measure hashing)."""
        iterations = ITERATIONS if iterations is None else iterations
        if len(salt) < 8:
            raise InvalidValue("a password salt must be at least 8 bytes")
        digest = hashlib.pbkdf2_hmac("sha256", _raw(password), salt, iterations, DIGEST_SIZE)
        return cls(iterations, bytes(salt), digest)

    def verify(self, password: str | bytes) -> bool:
        got = hashlib.pbkdf2_hmac("sha256", _raw(password), self.salt, self.iterations, len(self.digest))
        return hmac.compare_digest(got, self.digest)

    def encode(self) -> str:
        return f"{ALGORITHM}${self.iterations}${self.salt.hex()}${self.digest.hex()}"

    @classmethod
    def decode(cls, text: str) -> PasswordHash:
        """Parse ``encode()``'s output; ValueError if it is not one."""
        algo, iterations, salt, digest = text.split("$")
        if algo != ALGORITHM or not iterations.isdigit() or int(iterations) < 1:
            raise ValueError(f"unknown password hash scheme {algo!r}")
        return cls(int(iterations), bytes.fromhex(salt), bytes.fromhex(digest))


def _raw(password: str | bytes) -> bytes:
    if isinstance(password, str):
        return password.encode("utf-8", "surrogatepass")
    if isinstance(password, bytes | bytearray):
        return bytes(password)
    raise InvalidValue("a password must be str or bytes")


def _limiter() -> trio.CapacityLimiter:
    """One limiter per trio run (a RunVar: tests run many loops in one process)."""
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = trio.CapacityLimiter(HASH_THREADS)
        _LIMITER.set(limiter)
        return limiter


async def off_loop(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in a password-hashing worker thread. For callables that hash and touch no
    SQLite, e.g. ``Accounts.verify_password`` when its fast cache misses. Not cancellable once
    started (the hash is short; abandoning it would only leave the thread running)."""
    return await trio.to_thread.run_sync(fn, *args, limiter=_limiter())


async def make_off_loop(password: str | bytes, salt: bytes, iterations: int | None = None) -> PasswordHash:
    """``PasswordHash.make`` in a worker thread: a new account's hash, computed before it is stored."""
    return await off_loop(PasswordHash.make, password, salt, iterations)


async def verify_off_loop(hashed: PasswordHash, password: str | bytes) -> bool:
    """``hashed.verify(password)`` in a worker thread."""
    return await off_loop(hashed.verify, password)
