"""The RT key schedule: which session key goes in which cipher context, in one place.

Every end of a connection (lobby server and client, DME server and client) and the capture
dissector follow the same rule, as Sony's servers and the consoles did:

* the first SERVER_CRYPTKEY_PEER is the context-3 key (RC, both directions);
* SERVER_CRYPTKEY_GAME is the context-1 key;
* a second CRYPTKEY_PEER (the DME's world key, sent under the first) replaces context 3 from the
  next frame on; the replaced key stays as a fallback, because the peer may have sent frames under
  it before it read the new one.
"""

from __future__ import annotations

from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import CryptoError, Frame, FrameCipher
from clank_lan.protocol.framing import RawFrame
from clank_lan.protocol.rt_ids import RT

#: The context slot each key-delivering frame fills.
KEY_CONTEXT: dict[int, int] = {
    int(RT.SERVER_CRYPTKEY_PEER): Ctx.RC_CLIENT_SESSION,
    int(RT.SERVER_CRYPTKEY_GAME): Ctx.RC_SERVER_SESSION,
}


def context_for(rt_id: int) -> int | None:
    """The cipher context a key delivered by frame ``rt_id`` belongs to (None: it delivers none)."""
    return KEY_CONTEXT.get(rt_id)


class KeySchedule:
    """The session keys of one connection, installed by the frames that deliver them."""

    __slots__ = ("cipher", "fallback", "peer_keys")

    def __init__(self, cipher: FrameCipher) -> None:
        self.cipher = cipher
        self.fallback: FrameCipher | None = None  # the replaced context-3 key
        self.peer_keys: list[bytes] = []  # every CRYPTKEY_PEER key, in order

    def install(self, rt_id: int, key: bytes) -> None:
        """Apply the key a PEER or GAME frame carried (sent by us or received)."""
        ctx = context_for(rt_id)
        if ctx is None:
            raise ValueError(f"frame {rt_id:#x} delivers no key")
        if ctx == Ctx.RC_CLIENT_SESSION:
            old = self.cipher.rc_keys.get(ctx)
            if old is not None and old != key:
                fb = FrameCipher(self.cipher.suite)
                fb.set_key(ctx, old)
                self.fallback = fb
            self.peer_keys.append(bytes(key))
        self.cipher.set_key(ctx, key)

    @property
    def game_key(self) -> bytes | None:
        return self.cipher.rc_keys.get(Ctx.RC_SERVER_SESSION)

    def decrypt(self, raw: RawFrame) -> Frame:
        """Plaintext of a frame; one still under the replaced context-3 key is accepted too."""
        try:
            return self.cipher.decrypt(raw)
        except CryptoError:
            if self.fallback is None:
                raise
            return self.fallback.decrypt(raw)

    def candidate_keys(self) -> list[bytes]:
        """Context-3 keys a frame from the peer may use: the current one, then the replaced one."""
        keys = [self.cipher.rc_keys.get(Ctx.RC_CLIENT_SESSION)]
        if self.fallback is not None:
            keys.append(self.fallback.rc_keys.get(Ctx.RC_CLIENT_SESSION))
        return [k for k in keys if k]

    def owns(self, key: bytes) -> bool:
        return key in self.candidate_keys()
