"""One end of an RT connection, sans-IO: framing, the cipher, frame logging and the outbox.

Both servers and the headless client build on this. Incoming bytes become decrypted ``Frame``s
(checked hash, key chosen by the context bits); outgoing frames are logged in plaintext and then
encrypted under the context the connection uses, or sent clear when the peer speaks clear.
"""

from __future__ import annotations

from clank_lan.logs import FrameLogger
from clank_lan.protocol.crypto.session import Frame, FrameCipher
from clank_lan.protocol.framing import (
    DEFAULT_MAX_PAYLOAD,
    MEDIUS_MESSAGE_MAXLEN,
    RawFrame,
    TcpDeframer,
    split_frames,
)
from clank_lan.protocol.rt_ids import RT
from clank_lan.servers.outbox import Outbox


class RtLink:
    """Frame I/O for one TCP connection. ``send_ctx`` None means "send clear"."""

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
    ) -> None:
        self.service = service
        self.peer = peer
        self.peer_label = f"{peer[0]}:{peer[1]}"
        self.cipher = cipher
        self.frame_log = frame_log
        self.recv_dir = recv_dir
        self.send_dir = send_dir
        self.deframer = TcpDeframer(max_payload)
        self.outbox = Outbox()
        self.send_ctx: int | None = None
        self._memo: dict[tuple[int, bytes, int | None], bytes] = {}

    def frames_from(self, data: bytes) -> list[Frame]:
        """Decrypt everything that arrived; multi-app containers are opened into their frames."""
        out: list[Frame] = []
        for raw in self.deframer.feed(data):
            out.extend(self._open(raw))
        return out

    def _open(self, raw: RawFrame) -> list[Frame]:
        frame = self.cipher.decrypt(raw)
        if self.frame_log.enabled():
            self.frame_log.frame(
                self.peer_label, self.recv_dir, frame.id, frame.payload, frame.ctx, frame.null
            )
        if frame.id in (RT.CLIENT_MULTI_APP_TOSERVER, RT.SERVER_MULTI_APP_TOCLIENT):
            inner = split_frames(frame.payload)
            return [Frame(f.id, f.payload, frame.ctx) for f in inner]
        return [frame]

    def send(self, rt_id: int, payload: bytes = b"", ctx: int | bool | None = True) -> None:
        """Queue one frame. ``ctx`` True = the connection's context, None = clear, int = that one."""
        use = self.send_ctx if ctx is True else ctx
        if self.frame_log.enabled():
            self.frame_log.frame(self.peer_label, self.send_dir, rt_id, payload, use)
        self.outbox.push(self.cipher.encrypt(rt_id, payload, use))

    def send_repeated(self, rt_id: int, payload: bytes) -> None:
        """Like ``send`` for small frames a connection sends again and again (echo replies):
        the cipher is deterministic, so the wire bytes are computed once. Only for use once the
        session keys are settled."""
        memo = (rt_id, payload, self.send_ctx)
        wire = self._memo.get(memo)
        if wire is None:
            if len(self._memo) >= 16:
                self._memo.clear()
            wire = self._memo[memo] = self.cipher.encrypt(rt_id, payload, self.send_ctx)
        if self.frame_log.enabled():
            self.frame_log.frame(self.peer_label, self.send_dir, rt_id, payload, self.send_ctx)
        self.outbox.push(wire)

    def send_app_payload(self, rt_id: int, payload: bytes, fragment) -> None:
        """Send a Medius message, split into PacketFragments when it exceeds 512 bytes."""
        if len(payload) <= MEDIUS_MESSAGE_MAXLEN:
            self.send(rt_id, payload)
            return
        for piece in fragment(payload, MEDIUS_MESSAGE_MAXLEN):
            self.send(rt_id, piece)
