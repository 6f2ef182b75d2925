"""Per-connection key recovery for a capture: which key decrypts each frame.

Pure logic (no I/O). A connection keeps one ``FrameCipher`` per direction. The client's
CRYPTKEY_PUBLIC is RSA-encrypted to the server key (normally the global MAS key, whose private
half is known) and carries the client modulus; when that modulus is a known client key pair, the
server's CRYPTKEY_PEER decrypts to the ctx-3 session key, and CRYPTKEY_GAME (ctx 3) to the ctx-1
key. Sony's MLS/DME had clients encrypt PUBLIC to a key nobody has; the PEER is still encrypted
to the client's key, so every known client key pair is tried on it.

Keys given by the user (``extra``) and keys this connection already learned are tried when a
frame's context has no key or its key fails; one that verifies becomes that context's key for the
direction. A failure counts as a hash failure when the context's own key was tried (or the hash
names a context no key uses), and as undecodable when there was no key to try.
"""

from __future__ import annotations

from dataclasses import dataclass

from clank_lan.dissect.model import RECV, Status
from clank_lan.protocol.crypto import keys as known_keys
from clank_lan.protocol.crypto import ps2_rc4, ps2_rsa
from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash, ps2_hash
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import Frame, FrameCipher
from clank_lan.protocol.framing import RawFrame
from clank_lan.protocol.rt_ids import RT
from clank_lan.rt.keys import KeySchedule, context_for

#: Keys of one repeated byte. Test and community servers hand these out (the UYA PAL login
#: capture's server sent 64 x 0x42): they are always tried on a PEER whose client key pair is
#: unknown. The frame's hash is checked first, so the 256 tries cost almost nothing.
FILL_KEYS = tuple(bytes([b]) * ps2_rsa.BLOCK for b in range(256))

#: The RC key slots a session fills (CRYPTKEY_GAME -> 1, CRYPTKEY_PEER -> 3).
SESSION_CONTEXTS = (Ctx.RC_SERVER_SESSION, Ctx.RC_CLIENT_SESSION)
#: Shortest payload whose successful decryption under a candidate key makes it the context's key.
MIN_ADOPT_LEN = 8


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    plain: Frame | None = None
    reason: str = ""
    key: bytes | None = None
    rsa: RsaKey | None = None


class Keyring:
    """Keys of one connection (a TCP connection; a DME's UDP flow borrows its TCP one's)."""

    def __init__(self, extra: tuple[bytes, ...] = ()) -> None:
        server_key = known_keys.global_mas_key()
        # c2s: what the client sends (RSA to the server key); s2c: what the server sends.
        self.c2s = FrameCipher(rsa_local=server_key)
        self.c2s.rsa_peer = server_key
        self.s2c = FrameCipher()
        self._c2s_keys = KeySchedule(self.c2s)
        self._s2c_keys = KeySchedule(self.s2c)
        self.client_modulus: int | None = None
        self.learned: list[bytes] = []  # session keys from PEER/GAME frames, in order
        self.extra = extra

    def decrypt(self, raw: RawFrame, direction: str) -> Outcome:
        cipher = self.c2s if direction == RECV else self.s2c
        h = raw.hash
        if h is None:
            return Outcome(Status.CLEAR, Frame(raw.id, raw.payload))
        if not h or is_null_hash(h):
            return Outcome(Status.NULL, cipher.decrypt(raw))
        ctx = hash_ctx(h)
        out = self._rsa(raw, cipher, direction) if ctx == Ctx.RSA_AUTH else self._rc(raw, cipher, ctx)
        if out.status is Status.DECRYPTED and out.plain is not None:
            self._learn(out.plain, direction)
        return out

    # -- RSA (ctx 7): CRYPTKEY_PUBLIC and the first CRYPTKEY_PEER --------------------------

    def _rsa(self, raw: RawFrame, cipher: FrameCipher, direction: str) -> Outcome:
        h = raw.hash or b""
        if direction == RECV:
            candidates = [cipher.rsa_local, *(k for k in known_keys.server_keys() if k.d is not None)]
            miss = "encrypted to a server RSA key whose private half is unknown"
        elif cipher.rsa_local is not None:
            candidates = [cipher.rsa_local]
            miss = "hash check failed with the client's RSA key"
        elif self.client_modulus is not None:
            return self._rsa_by_guess(raw, RsaKey(n=self.client_modulus))
        else:
            candidates = [k for k in known_keys.client_keys() if k.d is not None]
            miss = "no known client RSA key pair decrypts it"
        seen: set[int] = set()
        for key in candidates:
            if key is None or key.n in seen:
                continue
            seen.add(key.n)
            plain = ps2_rsa.decrypt(key, raw.payload, h)
            if plain is not None:
                cipher.rsa_local = cipher.rsa_peer = key
                return Outcome(Status.DECRYPTED, Frame(raw.id, plain, Ctx.RSA_AUTH), rsa=key)
        if direction != RECV and cipher.rsa_local is not None:
            return Outcome(Status.HASH_FAILURE, reason=miss)
        return Outcome(Status.UNDECODABLE, reason=miss)

    def _rsa_by_guess(self, raw: RawFrame, public: RsaKey) -> Outcome:
        """A PEER encrypted to a client modulus whose private half is unknown: a candidate RC key
        is its plaintext when it has the frame's hash and encrypts to the captured bytes."""
        h = raw.hash or b""
        for key in [*self._candidates(), *FILL_KEYS]:
            if (
                len(key) == len(raw.payload)
                and ps2_hash(key, Ctx.RSA_AUTH) == h
                and ps2_rsa.encrypt(public, key)[1] == raw.payload
            ):
                return Outcome(Status.DECRYPTED, Frame(raw.id, key, Ctx.RSA_AUTH), rsa=public)
        return Outcome(Status.UNDECODABLE, reason="client RSA key pair unknown (modulus in no key list)")

    # -- RC (ctx 1, 3, others) ---------------------------------------------------------------

    def _rc(self, raw: RawFrame, cipher: FrameCipher, ctx: int) -> Outcome:
        h = raw.hash or b""
        own = cipher.rc_keys.get(ctx)
        if own is not None:
            plain = ps2_rc4.decrypt(own, raw.payload, h)
            if plain is not None:
                return Outcome(Status.DECRYPTED, Frame(raw.id, plain, ctx), key=own)
        tried = 0
        for key in dict.fromkeys(self._candidates()):
            if key == own:
                continue
            tried += 1
            plain = ps2_rc4.decrypt(key, raw.payload, h)
            if plain is not None:
                # A short payload verifies under about one key in 256 (its hash pins the
                # plaintext, not the key), so only a longer frame decides the context's key.
                if len(raw.payload) >= MIN_ADOPT_LEN:
                    cipher.set_key(ctx, key)
                return Outcome(Status.DECRYPTED, Frame(raw.id, plain, ctx), key=key)
        if own is not None:
            return Outcome(Status.HASH_FAILURE, reason=f"hash check failed under the context-{ctx} key")
        if ctx not in SESSION_CONTEXTS:
            return Outcome(Status.HASH_FAILURE, reason=f"hash names context {ctx}, which no key uses")
        given = f"; none of {tried} other keys decrypts it" if tried else ""
        return Outcome(Status.UNDECODABLE, reason=f"no key for context {ctx}{given}")

    def _candidates(self) -> list[bytes]:
        return [*self.learned, *self.c2s.rc_keys.values(), *self.s2c.rc_keys.values(), *self.extra]

    # -- key delivery ------------------------------------------------------------------------

    def _learn(self, plain: Frame, direction: str) -> None:
        payload = plain.payload
        if plain.id == RT.CLIENT_CRYPTKEY_PUBLIC and direction == RECV and len(payload) == ps2_rsa.BLOCK:
            self.client_modulus = ps2_rsa.to_int(payload)
            pair = known_keys.key_for_modulus(self.client_modulus)
            self.s2c.rsa_peer = pair or RsaKey(n=self.client_modulus)
            self.s2c.rsa_local = pair if pair is not None and pair.d is not None else None
        elif direction != RECV and len(payload) == ps2_rc4.KEY_LEN and context_for(plain.id) is not None:
            # The endpoints' key schedule, applied to both directions (a second PEER, Sony's DME
            # world key, replaces context 3; the replaced key stays among the learned ones).
            if payload not in self.learned:
                self.learned.append(payload)
            self._c2s_keys.install(plain.id, payload)
            self._s2c_keys.install(plain.id, payload)
