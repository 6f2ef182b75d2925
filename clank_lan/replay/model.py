"""The replay's data: recorded frames from any source, the script built from them, and its events.

Every source (a capture, our own frame log, a decrypted text dump) becomes a list of ``Recorded``
frames in recording order; ``script.build_script`` turns those into per-connection scripts:
CONNECT (the RT handshake, re-derived by our client), SEND (a client frame, replayed with its
plaintext re-encrypted under the new session) and DISCONNECT, plus what the recorded server
answered to each client message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clank_lan.protocol.medius import message_name
from clank_lan.protocol.rt_ids import RT, rt_name

#: (RT id, Medius class, Medius type); class and type are -1 for frames that carry no Medius message.
MsgKey = tuple[int, int, int]

#: The RT frames whose payload is one Medius message.
APP_IDS = frozenset({RT.SERVER_APP, RT.CLIENT_APP_TOSERVER})

RECV = "recv"  # client -> server (the servers' log word)
SEND = "send"  # server -> client


def key_of(rt_id: int, payload: bytes) -> MsgKey:
    if rt_id in APP_IDS and len(payload) >= 2:
        return (rt_id, payload[0], payload[1])
    return (rt_id, -1, -1)


def key_name(key: MsgKey) -> str:
    rt_id, cls, typ = key
    if cls < 0:
        return rt_name(rt_id)
    return message_name(cls, typ)


def key_label(key: MsgKey) -> str:
    """Name with the numbers: ``AccountLoginResponse (SERVER_APP 1/0x08)``."""
    rt_id, cls, typ = key
    if cls < 0:
        return f"{rt_name(rt_id)} (0x{rt_id:02X})"
    return f"{message_name(cls, typ)} ({rt_name(rt_id)} {cls}/0x{typ:02X})"


@dataclass(frozen=True, slots=True)
class Recorded:
    """One RT frame of a recorded session; ``payload`` is the plaintext, None if it was not recovered."""

    conn: str  # which connection: a capture stream ("t3") or a log peer ("127.0.0.1:40123")
    service: str  # MUIS, MAS, MLS (other services are not replayed)
    direction: str  # RECV or SEND
    rt_id: int  # without the 0x80 flag
    payload: bytes | None
    encrypted: bool  # travelled encrypted (a real hash), as opposed to clear or null-hashed
    source: str  # where it is in the recording: "frame 42", "line 120"


@dataclass(frozen=True, slots=True)
class Wire:
    """One message as compared: an RT frame, or a whole Medius message (PacketFragments joined)."""

    rt_id: int
    payload: bytes
    source: str = ""
    pieces: int = 1  # how many PacketFragments carried it (1 = not fragmented)

    @property
    def key(self) -> MsgKey:
        return key_of(self.rt_id, self.payload)

    @property
    def name(self) -> str:
        return key_name(self.key)

    @property
    def size(self) -> int:
        return len(self.payload)

    def describe(self, hex_bytes: int = 48) -> str:
        head = self.payload[:hex_bytes].hex()
        more = "..." if len(self.payload) > hex_bytes else ""
        frag = f", {self.pieces} fragments" if self.pieces > 1 else ""
        where = f" [{self.source}]" if self.source else ""
        return f"{key_label(self.key)} {self.size} bytes{frag}{where}: {head}{more}"


@dataclass
class Exchange:
    """A client message and what the server answered: the unit of comparison.

    A client that repeats an unanswered request byte for byte (a retry after a timeout) makes one
    exchange with several ``requests``; what answered any of them is compared as one set.
    """

    index: int
    conn: int
    requests: list[Wire]
    candidates: frozenset[MsgKey]  # message types that can answer it (``pairs.answers_to``)
    expected: list[Wire] = field(default_factory=list)  # what the recorded server answered

    @property
    def source(self) -> str:
        return "+".join(w.source for w in self.requests)

    @property
    def what(self) -> str:
        names = [w.name for w in self.requests]
        return names[0] if len(set(names)) == 1 and len(names) == 1 else f"{names[0]} x{len(names)}"


@dataclass
class ConnScript:
    """One recorded connection: how to reconnect it, and its recorded server frames."""

    index: int
    label: str  # "MLS t3" / "MAS 127.0.0.1:40123"
    service: str
    version: int = 108  # CLIENT_HELLO version; 108 when the client sent no HELLO
    app_id: int = 0
    world_id: int = 0
    encrypt: bool = True
    modulus: bytes | None = None  # the client's RSA modulus (little-endian) when it was recovered
    session_key: str | None = None  # as recorded in CONNECT_TCP (MLS: the MAS's keys)
    access_token: str | None = None
    connect_source: str = ""
    handshake: list[Wire] = field(default_factory=list)  # recorded server handshake frames
    unsolicited: list[Wire] = field(default_factory=list)  # recorded server frames answering nothing
    exchanges: list[Exchange] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # client frames not replayed, by name


@dataclass(frozen=True, slots=True)
class Connect:
    conn: int


@dataclass(frozen=True, slots=True)
class Send:
    conn: int
    exchange: int  # index into ReplayScript.exchanges
    wire: Wire


@dataclass(frozen=True, slots=True)
class Disconnect:
    conn: int
    wire: Wire | None  # the recorded CLIENT_DISCONNECT frame, None when the recording just ends


Event = Connect | Send | Disconnect


@dataclass
class ReplayScript:
    name: str
    conns: list[ConnScript] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
