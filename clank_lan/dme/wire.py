"""DME wire facts: server constants and the byte rewrite of relayed app frames.

How a relayed frame's hash and encryption relate to the player index (our reading of the UYA
captures ``JoinPjs.pcap``/``Created.pcap``, verified by decrypting every app frame in them):

* ``CLIENT_APP_SINGLE`` (0x03) is ``i16 index`` + body, and the index is **outside** both the
  hash and the cipher: the hash is the checksum of the body alone and only the body is
  RC-encrypted. A console sent one message to players 0 and 2 as two frames with the same hash
  and ciphertext; only the two clear index bytes differ. Frames the server relayed to us (index =
  source) decrypt the same way.
* ``CLIENT_APP_BROADCAST`` (0x02) has no index; hash and cipher cover the whole payload, which is
  exactly the body of the 0x03 it becomes.
* ``CLIENT_APP_LIST`` (0x04) is in no capture. By analogy its ``u8 maskLen, mask`` head is the
  clear addressing part and the hash covers the body after it; we relay that body unchanged.

So the relay never decrypts: BROADCAST/LIST become ``03 | hash | i16 source | body`` and SINGLE
gets its index swapped, keeping hash, flag and ciphertext byte for byte. Null hashes (Deadlocked's
``00 00 00 60`` broadcasts) and clear frames pass the same way.

Which key: those frames carry context 3 and decrypt with the key of the **second**
SERVER_CRYPTKEY_PEER the DME sends (ctx-3 encrypted, right after CRYPTKEY_GAME, in both the UYA and
the Deadlocked handshake). From the frame after it (CONNECT_ACCEPT_TCP) that key replaces the
connection's context-3 key in both directions. Frames relayed from other players decrypt with the
receiver's own copy, so it is one key per world. Our DME therefore gives every player of a world
the same second-PEER key (ctx 3) and the same CRYPTKEY_GAME key (ctx 1), and a ciphertext one
console made decrypts at every other console.
"""

from __future__ import annotations

import struct

from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import ps2_rc4
from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash, null_hash
from clank_lan.protocol.crypto.session import CryptoError, FrameCipher
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import FLAG, ID_MASK, UDP_MAX_DATAGRAM, RawFrame, encode_frame
from clank_lan.protocol.rt_ids import RT
from clank_lan.rt.endpoint import DME_APP_IDS

BROADCAST = int(RT.CLIENT_APP_BROADCAST)
SINGLE = int(RT.CLIENT_APP_SINGLE)
LIST = int(RT.CLIENT_APP_LIST)
#: The app ids the DME relays without looking inside (one set, the endpoint's).
APP_IDS = DME_APP_IDS

#: Largest datagram the DME sends (Sony's MaxUdpPacketSize).
MAX_DATAGRAM = UDP_MAX_DATAGRAM
#: Largest frame payload accepted from a DME client (Horizon's DME decoder limit).
MAX_FRAME_PAYLOAD = 2048

#: SERVER_STARTUP_INFO_NOTIFY.gameHostType: client/server with aux UDP (4 seen from Sony).
GAME_HOST_CLIENT_SERVER_AUX_UDP = 4
#: The DME version strings Sony's servers sent after CONNECT_COMPLETE (UYA, Deadlocked).
SERVER_VERSION_V108 = "1.22.0141"
SERVER_VERSION_V109 = "2.10.1143227940"
#: The ServerVersion message: Medius class 0 (DME), type 0, then a char[16] version.
_VERSION = struct.Struct("<BB16s")

_INDEX = struct.Struct("<h")
_CLEAR_HEAD = struct.Struct("<BHh")  # id, length, index
_FLAGGED_HEAD = struct.Struct("<BH")


def server_version_payload(version: int) -> bytes:
    """SERVER_APP body of the DME ServerVersion message (18 bytes, as both captures show)."""
    text = SERVER_VERSION_V108 if rtm.is_v108(version) else SERVER_VERSION_V109
    return _VERSION.pack(0, 0, text.encode("ascii"))


def parse_server_version(payload: bytes) -> str | None:
    """The version text of a ServerVersion SERVER_APP body, None if it is another message."""
    if len(payload) != _VERSION.size or payload[0] != 0 or payload[1] != 0:
        return None
    return payload[2:].split(b"\0", 1)[0].decode("latin-1")


def relay_frame(source: int, body: bytes, h: bytes | None) -> bytes:
    """The APP_SINGLE frame a receiver gets: ``source`` index in clear, hash and body unchanged.

    ``h`` is the 4-byte hash of the incoming frame (None for a clear frame; ``b""`` for a flagged
    frame without payload, which has no hash to keep and is relayed clear).
    """
    if h:
        return _FLAGGED_HEAD.pack(SINGLE | FLAG, len(body) + 2) + h + _INDEX.pack(source) + body
    return _CLEAR_HEAD.pack(SINGLE, len(body) + 2, source) + body


def relay_raw(frame: bytes) -> RawFrame:
    """A frame made by ``relay_frame`` as a ``RawFrame`` (for the frame log), without parsing."""
    if frame[0] & FLAG and len(frame) > _FLAGGED_HEAD.size:
        return RawFrame(
            SINGLE, frame[_FLAGGED_HEAD.size + 4 :], frame[_FLAGGED_HEAD.size : _FLAGGED_HEAD.size + 4]
        )
    return RawFrame(SINGLE, frame[_FLAGGED_HEAD.size :], b"" if frame[0] & FLAG else None)


def one_frame(data: bytes, max_payload: int = MAX_FRAME_PAYLOAD) -> RawFrame | None:
    """The frame of a datagram that is exactly one well-formed frame (a console's movement
    datagram, the common case), else None: ``split_datagram`` then takes it apart or says why not."""
    n = len(data)
    if n < 3:
        return None
    rid = data[0]
    length = data[1] | data[2] << 8
    if length > max_payload:
        return None
    if rid & FLAG and length:
        return RawFrame(rid & ID_MASK, data[7:], data[3:7]) if n == 7 + length else None
    return RawFrame(rid & ID_MASK, data[3:], b"" if rid & FLAG else None) if n == 3 + length else None


def single_target(payload: bytes) -> tuple[int, bytes]:
    """(target index, body) of a client APP_SINGLE payload."""
    if len(payload) < 2:
        raise ProtocolError("APP_SINGLE without a player index", data=payload)
    return _INDEX.unpack_from(payload)[0], payload[2:]


def list_targets(payload: bytes) -> tuple[tuple[int, ...], bytes]:
    """(target indexes ascending, body) of a client APP_LIST payload."""
    if not payload or len(payload) < 1 + payload[0]:
        raise ProtocolError("APP_LIST mask runs past the payload", data=payload)
    n = payload[0]
    targets = tuple(8 * b + i for b in range(n) for i in range(8) if payload[1 + b] >> i & 1)
    return targets, payload[1 + n :]


def app_head_len(rt_id: int, payload: bytes) -> int:
    """Bytes of clear addressing in front of an app frame's body (index or mask)."""
    if rt_id == SINGLE:
        return 2
    if rt_id == LIST:
        return 1 + payload[0] if payload else 0
    return 0


def seal_app(cipher: FrameCipher, rt_id: int, head: bytes, body: bytes, mode: str) -> bytes:
    """A client app frame: ``head`` (index or mask) clear, ``body`` as ``mode`` says.

    ``mode``: "encrypted" (ctx 3, the world key), "null" (flagged with a null hash, as
    Deadlocked sends its broadcasts) or "clear" (no flag).
    """
    if mode == "clear" or (not body and mode != "encrypted"):
        return encode_frame(rt_id, head + body)
    if mode == "null":
        return encode_frame(rt_id, head + body, null_hash(Ctx.RC_CLIENT_SESSION))
    if not body:
        return encode_frame(rt_id, head)
    key = cipher.rc_keys.get(Ctx.RC_CLIENT_SESSION)
    if key is None:
        raise ProtocolError("no context-3 key to encrypt an app frame with")
    h, ct = ps2_rc4.encrypt(key, body, Ctx.RC_CLIENT_SESSION)
    return encode_frame(rt_id, head + ct, h)


def open_body(keys: list[bytes], body: bytes, h: bytes) -> bytes | None:
    """Plaintext of an app frame's body under the first of ``keys`` that verifies, else None."""
    for key in keys:
        plain = ps2_rc4.decrypt(key, body, h)
        if plain is not None:
            return plain
    return None


def seal_body(key: bytes, body: bytes) -> tuple[bytes | None, bytes]:
    """(hash, ciphertext) of an app frame's body under the world key (context 3); an empty body
    stays clear (no hash, as ``relay_frame`` writes it)."""
    if not body:
        return None, body
    return ps2_rc4.encrypt(key, body, Ctx.RC_CLIENT_SESSION)


def open_app(cipher: FrameCipher, raw: RawFrame) -> tuple[bytes, bytes, bool]:
    """(head, plaintext body, was encrypted) of an app frame; CryptoError if it does not verify."""
    payload = raw.payload
    n = app_head_len(raw.id, payload)
    head, body = payload[:n], payload[n:]
    h = raw.hash
    if not h or is_null_hash(h):
        return head, body, False
    key = cipher.rc_keys.get(hash_ctx(h))
    if key is None:
        raise CryptoError(f"{raw.name}: no key for cipher context {hash_ctx(h)}", data=h + payload[:32])
    plain = ps2_rc4.decrypt(key, body, h)
    if plain is None:
        raise CryptoError(f"{raw.name}: hash check failed", data=h + payload[:32])
    return head, plain, True
