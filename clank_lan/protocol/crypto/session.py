"""Per-connection frame cipher: keys by context, chosen by the context bits of each hash.

Real clients and servers keep one key per context slot (3: the key from CRYPTKEY_PEER, 1: the key
from CRYPTKEY_GAME, 7: RSA) and decrypt each incoming frame with the key its hash names. This
object does the same for both ends (server, headless client, dissector).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from clank_lan.protocol.crypto import ps2_rc4, ps2_rsa, ps3_rcq
from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash, ps2_hash
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import RawFrame, encode_frame
from clank_lan.protocol.rt_ids import rt_name


class Suite(enum.Enum):
    PS2 = "ps2"  # SHA-1 hash, PS2 RC4 variant
    PS3 = "ps3"  # RCQ hash and cipher


class CryptoError(ProtocolError):
    """A flagged frame that cannot be decrypted (no key for its context, or hash mismatch)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame with its plaintext. ``ctx`` is None for a clear (unflagged) frame; ``null`` marks
    a flagged frame whose null hash means the payload travelled in clear."""

    id: int
    payload: bytes
    ctx: int | None = None
    null: bool = False

    @property
    def name(self) -> str:
        return rt_name(self.id)

    @property
    def encrypted(self) -> bool:
        return self.ctx is not None and not self.null


class FrameCipher:
    def __init__(self, suite: Suite = Suite.PS2, rsa_local: RsaKey | None = None) -> None:
        self.suite = suite
        self.rc_keys: dict[int, bytes] = {}
        self.rsa_local = rsa_local  # our key pair: decrypts ctx-7 frames sent to us
        self.rsa_peer: RsaKey | None = None  # their public key: encrypts ctx-7 frames we send

    def set_key(self, ctx: int, key: bytes) -> None:
        if len(key) != ps2_rc4.KEY_LEN:
            raise ProtocolError(f"session key must be 64 bytes, got {len(key)}", data=key)
        self.rc_keys[ctx] = bytes(key)

    @property
    def _hash_fn(self):
        return ps2_hash if self.suite is Suite.PS2 else ps3_rcq.rcq_hash

    def has_key(self, ctx: int) -> bool:
        if ctx == Ctx.RSA_AUTH:
            return self.rsa_local is not None
        return ctx in self.rc_keys

    def decrypt(self, raw: RawFrame) -> Frame:
        """Plaintext of a raw frame; raises CryptoError if a flagged frame does not verify."""
        h = raw.hash
        if h is None:
            return Frame(raw.id, raw.payload)
        if not h:  # flagged, zero length: nothing to decrypt
            return Frame(raw.id, b"", Ctx.RC_CLIENT_SESSION, null=True)
        ctx = hash_ctx(h)
        if is_null_hash(h):
            return Frame(raw.id, raw.payload, ctx, null=True)
        if ctx == Ctx.RSA_AUTH:
            if self.rsa_local is None:
                raise CryptoError(f"{raw.name}: RSA frame but no private key", data=raw.payload)
            plain = ps2_rsa.decrypt(self.rsa_local, raw.payload, h, self._hash_fn)
        else:
            key = self.rc_keys.get(ctx)
            if key is None:
                raise CryptoError(f"{raw.name}: no key for cipher context {ctx}", data=h + raw.payload)
            if self.suite is Suite.PS2:
                plain = ps2_rc4.decrypt(key, raw.payload, h)
            else:
                plain = ps3_rcq.decrypt(key, raw.payload, h)
        if plain is None:
            raise CryptoError(
                f"{raw.name}: hash check failed for context {ctx}", data=h + raw.payload[:60]
            )
        return Frame(raw.id, plain, ctx)

    def encrypt(self, rt_id: int, payload: bytes, ctx: int | None) -> bytes:
        """Wire bytes of a frame: clear when ``ctx`` is None or the payload is empty."""
        if ctx is None:
            return encode_frame(rt_id, payload)
        if not payload:
            return encode_frame(rt_id, b"", b"")
        if ctx == Ctx.RSA_AUTH:
            if self.rsa_peer is None:
                raise ProtocolError("no peer RSA key to encrypt to")
            h, body = ps2_rsa.encrypt(self.rsa_peer, payload, ctx, self._hash_fn)
        else:
            key = self.rc_keys.get(ctx)
            if key is None:
                raise ProtocolError(f"no key for cipher context {ctx}")
            if self.suite is Suite.PS2:
                h, body = ps2_rc4.encrypt(key, payload, ctx)
            else:
                h, body = ps3_rcq.encrypt(key, payload, ctx)
        return encode_frame(rt_id, body, h)

    def encode(self, frame: Frame) -> bytes:
        """Re-encode a decrypted frame exactly as it was sent (used to prove round trips)."""
        if frame.ctx is None:
            return encode_frame(frame.id, frame.payload)
        if frame.null:
            if not frame.payload:
                return encode_frame(frame.id, b"", b"")
            return encode_frame(frame.id, frame.payload, bytes((0, 0, 0, frame.ctx << 5)))
        return self.encrypt(frame.id, frame.payload, frame.ctx)
