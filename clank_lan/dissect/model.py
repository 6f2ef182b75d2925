"""What a dissection produces: one record per RT frame, notes about non-RT traffic, counts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import Frame, FrameCipher
from clank_lan.protocol.framing import RawFrame

#: Direction words, from the server's point of view (as our servers log).
RECV = "recv"  # client -> server
SEND = "send"  # server -> client


class Status(enum.StrEnum):
    CLEAR = "clear"  # no hash field: plaintext on the wire
    NULL = "null"  # flagged, null hash (or empty): plaintext on the wire
    DECRYPTED = "decrypted"  # decrypted and its hash verified
    HASH_FAILURE = "hash-failure"  # a key the session uses was tried and no hash matched
    UNDECODABLE = "undecodable"  # no key available for it


@dataclass(frozen=True, slots=True)
class DissectFrame:
    """One RT frame of the capture with its plaintext when it could be recovered."""

    number: int  # 1-based, in dissection order
    packet: int  # capture record number of the packet that completed the frame
    ts: float
    stream: str  # "t3" (TCP connection) or "u1" (UDP flow)
    transport: str  # "tcp" / "udp"
    service: str  # MUIS, MAS, MLS, MPS, DME
    client: tuple[str, int]
    server: tuple[str, int]
    direction: str  # RECV (client -> server) or SEND (server -> client)
    raw: RawFrame
    status: Status
    plain: Frame | None = None
    reason: str = ""
    key: bytes | None = None  # RC key that decrypted it
    rsa: RsaKey | None = None  # RSA key pair that decrypted it

    @property
    def peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}"

    @property
    def encrypted(self) -> bool:
        """Carries a real (non-null) hash, so the payload on the wire is ciphertext."""
        return self.status in (Status.DECRYPTED, Status.HASH_FAILURE, Status.UNDECODABLE)

    @property
    def plaintext(self) -> bytes | None:
        return self.plain.payload if self.plain is not None else None

    @property
    def ctx(self) -> int | None:
        h = self.raw.hash
        return h[3] >> 5 if h else None

    def reencode(self) -> bytes:
        """Encrypt the plaintext again with the key that decrypted it (``FrameCipher.encode``)."""
        if self.plain is None:
            raise ValueError(f"frame {self.number} was not decrypted")
        cipher = FrameCipher()
        if self.key is not None and self.plain.ctx is not None:
            cipher.set_key(self.plain.ctx, self.key)
        cipher.rsa_peer = self.rsa
        return cipher.encode(self.plain)


@dataclass(frozen=True, slots=True)
class Note:
    """Something on a Medius port that is not an RT frame (NAT packets, junk), or a stream event."""

    packet: int  # 0 for notes made at the end of the capture
    ts: float
    stream: str
    service: str
    kind: str  # "nat", "not-rt", "gap", "tail"
    text: str
    after: int = 0  # how many frames came before it


@dataclass(frozen=True, slots=True)
class Counts:
    frames: int = 0
    encrypted: int = 0
    decrypted: int = 0
    hash_failures: int = 0
    undecodable: int = 0

    def summary_line(self) -> str:
        return (
            f"frames: {self.frames}  encrypted: {self.encrypted}  decrypted: {self.decrypted}  "
            f"hash-failures: {self.hash_failures}  undecodable: {self.undecodable}"
        )


@dataclass
class DissectResult:
    frames: list[DissectFrame] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    packets: int = 0  # capture records read
    other_packets: int = 0  # records that are not TCP/UDP on a Medius port
    error: str | None = None  # the capture was damaged; everything before the damage is here

    @property
    def counts(self) -> Counts:
        by = {s: 0 for s in Status}
        for f in self.frames:
            by[f.status] += 1
        return Counts(
            frames=len(self.frames),
            encrypted=by[Status.DECRYPTED] + by[Status.HASH_FAILURE] + by[Status.UNDECODABLE],
            decrypted=by[Status.DECRYPTED],
            hash_failures=by[Status.HASH_FAILURE],
            undecodable=by[Status.UNDECODABLE],
        )

    @property
    def not_decrypted(self) -> list[DissectFrame]:
        return [f for f in self.frames if f.status in (Status.HASH_FAILURE, Status.UNDECODABLE)]
