"""In-order reassembly of one direction of a TCP connection, as a capture shows it.

Sequence numbers decide everything: bytes already delivered (retransmissions, duplicates,
overlaps) are dropped, segments beyond the next expected byte wait until the gap closes. A
capture may start mid-connection, so without a SYN the first data segment sets the origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MOD = 1 << 32


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in 32-bit sequence space."""
    d = (a - b) % MOD
    return d - MOD if d >= MOD // 2 else d


@dataclass
class TcpStream:
    """One direction of a connection. ``feed`` returns the bytes that became deliverable."""

    next_seq: int | None = None
    held: dict[int, bytes] = field(default_factory=dict)
    delivered: int = 0
    dropped: int = 0  # bytes of retransmitted/duplicate data discarded

    def syn(self, seq: int) -> None:
        if self.next_seq is None:
            self.next_seq = (seq + 1) % MOD

    def feed(self, seq: int, data: bytes) -> bytes:
        if not data:
            return b""
        if self.next_seq is None:
            self.next_seq = seq
        d = seq_diff(seq, self.next_seq)
        if d > 0:
            if len(data) > len(self.held.get(seq, b"")):
                self.held[seq] = data
            return b""
        if -d >= len(data):
            self.dropped += len(data)
            return b""
        self.dropped += -d
        out = [data[-d:]]
        self.next_seq = (self.next_seq + len(out[0])) % MOD
        self._drain(out)
        chunk = b"".join(out)
        self.delivered += len(chunk)
        return chunk

    def _drain(self, out: list[bytes]) -> None:
        while self.held:
            progressed = False
            for seq in list(self.held):
                d = seq_diff(seq, self.next_seq)
                if d > 0:
                    continue
                data = self.held.pop(seq)
                progressed = True
                if -d < len(data):
                    self.dropped += -d
                    out.append(data[-d:])
                    self.next_seq = (self.next_seq + len(data) + d) % MOD
                else:
                    self.dropped += len(data)
            if not progressed:
                return

    @property
    def held_bytes(self) -> int:
        return sum(len(v) for v in self.held.values())

    def skip_gap(self) -> tuple[int, bytes]:
        """Give up on missing bytes: jump to the earliest held segment and return
        (gap size, the bytes now deliverable). Used at the end of a capture."""
        if not self.held or self.next_seq is None:
            return 0, b""
        first = min(self.held, key=lambda s: seq_diff(s, self.next_seq))
        gap = seq_diff(first, self.next_seq)
        self.next_seq = first
        out: list[bytes] = []
        self._drain(out)
        chunk = b"".join(out)
        self.delivered += len(chunk)
        return gap, chunk
