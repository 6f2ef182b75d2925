"""Frame I/O of one RT connection, sans-IO: framing, the key schedule, frame logging, the outbox.

Every end builds on this one receive/decrypt/log path and one send/encrypt/log path. Incoming
bytes become raw frames (``raws``) that ``open`` decrypts with the key the hash's context names
(falling back to a replaced context-3 key, see ``rt.keys``) and logs; outgoing frames are logged
in plaintext and encrypted under the context the connection uses, or sent clear when the peer
speaks clear.
"""

from __future__ import annotations

from collections.abc import Callable

from clank_lan.logs import FrameLogger
from clank_lan.protocol.crypto.hashing import Ctx
from clank_lan.protocol.crypto.session import Frame, FrameCipher, Suite
from clank_lan.protocol.framing import (
    DEFAULT_MAX_PAYLOAD,
    MEDIUS_MESSAGE_MAXLEN,
    RawFrame,
    TcpDeframer,
    encode_frame,
)
from clank_lan.rt.keys import KeySchedule
from clank_lan.rt.outbox import Outbox

#: Seconds a frame may take from its first byte to its last. Only whole frames are activity: a
#: peer dribbling one byte a second into a 16 KiB frame would otherwise hold its connection
#: forever. The largest frame (16 KiB on a lobby) takes under 3 s even at 56 kbit/s.
FRAME_DEADLINE = 10.0
#: Encrypted frames with payloads up to this size are cached per key (echo answers).
CACHED_PAYLOAD = 2
FRAME_CACHE_SIZE = 4096


class FrameCache:
    """Wire bytes of server frames, shared by the connections of one server.

    The cipher is deterministic (the keystream depends only on key and hash), so a frame that is
    sent again and again (an echo answer) is encrypted once per key. The last frame encrypted is
    also kept, whatever its size: a broadcast sends the same frame under the same shared key
    (an MLS channel's chat line, ``servers.lobby_conn``) to every member one after another, and
    each member after the first then costs no cipher work.
    """

    __slots__ = ("_cache", "_last")

    def __init__(self) -> None:
        self._cache: dict[tuple[Suite, bytes | None, int, int, bytes], bytes] = {}
        self._last: tuple[Suite, bytes | None, int, int, bytes, bytes] | None = None

    def encrypt(self, cipher: FrameCipher, rt_id: int, payload: bytes, ctx: int | None) -> bytes:
        if ctx is None:
            return encode_frame(rt_id, payload)
        if ctx == Ctx.RSA_AUTH:
            return cipher.encrypt(rt_id, payload, ctx)
        k = (cipher.suite, cipher.rc_keys.get(ctx), ctx, rt_id, payload)
        if len(payload) > CACHED_PAYLOAD:
            last = self._last
            if last is not None and last[:5] == k:
                return last[5]
            frame = cipher.encrypt(rt_id, payload, ctx)
            self._last = (*k, frame)
            return frame
        frame = self._cache.get(k)
        if frame is None:
            frame = cipher.encrypt(rt_id, payload, ctx)
            if len(self._cache) >= FRAME_CACHE_SIZE:
                self._cache.clear()
            self._cache[k] = frame
        return frame


def _nothing() -> None:
    return None


class RtLink:
    """Frame I/O for one TCP connection (and its aux UDP). ``send_ctx`` None means "send clear"."""

    def __init__(
        self,
        *,
        service: str,
        peer: tuple[str, int],
        cipher: FrameCipher,
        frame_log: FrameLogger,
        recv_dir: str = "recv",
        send_dir: str = "send",
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        frame_cache: FrameCache | None = None,
    ) -> None:
        self.service = service
        self.peer = peer
        self.peer_label = f"{peer[0]}:{peer[1]}"
        self.cipher = cipher
        self.keys = KeySchedule(cipher)
        self.frame_log = frame_log
        self.recv_dir = recv_dir
        self.send_dir = send_dir
        self.deframer = TcpDeframer(max_payload)
        self.outbox = Outbox()
        self.send_ctx: int | None = None
        self.cache = frame_cache if frame_cache is not None else FrameCache()
        #: Called before a frame of our own is queued (the DME flushes relayed frames first).
        self.before_send: Callable[[], None] = _nothing
        #: Whole frames received so far, and since when an unfinished one has been arriving.
        self.frames_in = 0
        self.partial_since: float | None = None

    # --- receiving ------------------------------------------------------------------------------
    def raws(self, data: bytes) -> list[RawFrame]:
        frames = self.deframer.feed(data)
        self.frames_in += len(frames)
        return frames

    def whole_frame(self, size: int) -> None:
        """A whole frame of ``size`` bytes was taken without the deframer (``receive_echo``),
        with nothing buffered before or after: count it as ``raws`` would have."""
        self.frames_in += 1
        self.deframer.skip(size)
        self.partial_since = None

    def progress(self, frames_before: int, now: float) -> bool:
        """After the bytes that arrived at ``now`` were handled: did a whole frame arrive (more
        than ``frames_before``)? Starts or stops the clock of an unfinished frame."""
        completed = self.frames_in != frames_before
        if not self.deframer.pending:
            self.partial_since = None
        elif completed or self.partial_since is None:
            self.partial_since = now
        return completed

    def frame_deadline(self) -> float | None:
        """When the frame now arriving must be whole, or None when none is under way."""
        return None if self.partial_since is None else self.partial_since + FRAME_DEADLINE

    def frames_from(self, data: bytes) -> list[Frame]:
        """Every frame that arrived, opened (for tools and tests; containers stay closed)."""
        return [self.open(raw) for raw in self.deframer.feed(data)]

    def open(self, raw: RawFrame, extra: str = "") -> Frame:
        """Decrypt (CryptoError if it does not verify) and log one frame."""
        frame = self.keys.decrypt(raw)
        if self.frame_log.enabled():
            self.frame_log.frame(
                self.peer_label, self.recv_dir, frame.id, frame.payload, frame.ctx, frame.null, extra=extra
            )
        return frame

    def log_unopened(
        self, raw: RawFrame, direction: str, note: str, udp: bool = False, tags: str = ""
    ) -> None:
        """Log a frame passed on without opening it (its payload may be ciphertext); ``tags``
        are more ``key=value`` words for the header line."""
        if self.frame_log.enabled():
            h = raw.hash
            extra = f"hash={h.hex()} note={note}-unopened" if h else f"note={note}"
            if udp:
                extra = f"udp {extra}"
            if tags:
                extra = f"{extra} {tags}"
            ctx = h[3] >> 5 if h else None
            self.frame_log.frame(self.peer_label, direction, raw.id, raw.payload, ctx, extra=extra)

    # --- sending --------------------------------------------------------------------------------
    def encode(self, rt_id: int, payload: bytes, ctx: int | bool | None = True, extra: str = "") -> bytes:
        """Log one frame and return its wire bytes. ``ctx`` True = the connection's context,
        None = clear, an int = that context."""
        use = self.send_ctx if ctx is True else ctx
        if self.frame_log.enabled():
            self.frame_log.frame(self.peer_label, self.send_dir, rt_id, payload, use, extra=extra)
        return self.cache.encrypt(self.cipher, rt_id, payload, use)

    def send(
        self, rt_id: int, payload: bytes = b"", ctx: int | bool | None = True, later: bool = False
    ) -> None:
        """Queue one frame of our own on the TCP connection (``later``: it may wait ``LATER`` s
        for company, see ``Outbox.push_later``)."""
        self.before_send()
        wire = self.encode(rt_id, payload, ctx)
        if later:
            self.outbox.push_later(wire)
        else:
            self.outbox.push(wire)

    def send_raw(self, wire: bytes) -> None:
        """Queue wire bytes made elsewhere (a reflected echo) in order with our own frames."""
        self.before_send()
        self.outbox.push(wire)

    def send_app_payload(
        self, rt_id: int, payload: bytes, fragment, ctx: int | bool | None = True, later: bool = False
    ) -> None:
        """Send a Medius message, split into PacketFragments when it exceeds 512 bytes; ``ctx`` as
        for ``encode``, ``later`` as for ``send``."""
        if len(payload) <= MEDIUS_MESSAGE_MAXLEN:
            self.send(rt_id, payload, ctx, later)
            return
        for piece in fragment(payload, MEDIUS_MESSAGE_MAXLEN):
            self.send(rt_id, piece, ctx, later)
