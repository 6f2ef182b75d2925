"""The messages between the operator console and the engine, and their framing (no I/O here).

The console (Textual) runs in a process of its own and reads the engine only through these: a
``Poll`` a few times a second answered by a ``View`` (the tables' rows, the panels' data, the
log and pane lines since the last poll), ``Run`` for a registry command line, ``Stop`` for the
quit. A dialog names what the rows it was opened on say, so it opens at the key press. Each
frame is a 4-byte big-endian length and a msgpack body; a frame over its side's limit ends the
link (the engine's side accepts small requests only).
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from rich.text import Span, Text

from clank_lan.tui.feed import LogRecordView
from clank_lan.tui.rows import Row

HEADER = struct.Struct(">I")
#: A request from the console is a short line; a view of 200 players and 2,000 log lines is well
#: under a megabyte.
MAX_REQUEST = 64 * 1024
MAX_VIEW = 16 * 1024 * 1024
LINK_FILE = "console.link"  # in the data folder, for ``clank-lan attach``
LINK_ENV = "CLANK_LAN_LINK"  # the console that ``serve`` starts gets its address here
CONSOLE_LOGGER = "clank_lan.tui.console"  # where the engine logs the console's own records


@dataclass(frozen=True)
class LinkAddress:
    """Where a console finds the engine, and the token it must show."""

    host: str
    port: int
    token: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LinkAddress:
        """The address in a link file or the environment; ``ValueError`` says what is wrong."""
        try:
            data = json.loads(text)
            address = cls(str(data["host"]), int(data["port"]), str(data["token"]))
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise ValueError(f"not a console link ({type(exc).__name__}: {exc})") from None
        if not 0 < address.port < 65536:
            raise ValueError(f"not a console link (port {address.port})")
        return address


class LinkError(Exception):
    """The other side broke the framing or the protocol; the link ends."""


# console -> engine ---------------------------------------------------------------------------
class Hello(msgspec.Struct, tag="hello"):
    token: str


class Poll(msgspec.Struct, tag="poll"):
    """What the console shows: the tab in sight and its selection, and the tournament view it has."""

    id: int
    tab: str = "players"
    game: str | None = None
    console: str | None = None
    cup_key: str = ""
    full: bool = True  # every table now (else only when a few events came: see view.build_view)


class Run(msgspec.Struct, tag="run"):
    id: int
    line: str


class Stop(msgspec.Struct, tag="stop"):
    """Goodbye to every console, then the engine ends (the operator's quit)."""

    id: int


class Record(msgspec.Struct, tag="record"):
    """A log record of the console's own (its failure's traceback) for the engine's log file."""

    level: str
    text: str


ToEngine = Hello | Poll | Run | Stop | Record


# engine -> console ---------------------------------------------------------------------------
class Welcome(msgspec.Struct, tag="welcome"):
    version: str
    paths: list[tuple[str, str]]  # Paths.lines()
    setup: str  # what to type on the consoles and forward on a router (the help screen)
    log: str | None = None  # the log file, for the short terminal's strip


class Refused(msgspec.Struct, tag="refused"):
    reason: str


class Service(msgspec.Struct, array_like=True):
    """A service's state as the Services panel shows it (the engine's ``ServiceStatus``)."""

    name: str
    protocol: str
    port: int
    up: bool
    detail: str = ""


class Styled(msgspec.Struct, array_like=True):
    """A Rich ``Text`` exactly: its characters, its base style and its styled spans."""

    plain: str
    style: str = ""
    spans: list[tuple[int, int, str]] = []

    @classmethod
    def of(cls, text: Text) -> Styled:
        return cls(text.plain, str(text.style), [(s.start, s.end, str(s.style)) for s in text.spans])

    def text(self) -> Text:
        return Text(self.plain, style=self.style, spans=[Span(*s) for s in self.spans])


class PaneLine(msgspec.Struct, array_like=True):
    pane: str  # "dns" or "chat"
    text: str
    style: str = ""


class LiveGame(msgspec.Struct, array_like=True):
    """A lobby game linked to a tournament match and still running."""

    game_id: int
    name: str
    players: list[str]
    match_id: int


class Cup(msgspec.Struct):
    """The tournament tab's view, sent only when its key differs from the console's."""

    key: str
    data: dict[str, Any] | None  # tournament.export.tournament_data, or None: none running
    live: list[LiveGame] = []


class View(msgspec.Struct, tag="view"):
    id: int
    now: float
    tables: dict[str, list[Row]]  # by table id, the pending results included
    services: list[Service]
    address: str
    summary: str
    dropped: int  # events and log lines the console never got (the engine's bounded inboxes)
    online: int = 0  # sessions with a connection (what a broadcast reaches)
    logged_in: int = 0
    detail: Styled | None = None  # the game or console detail of the tab in sight
    audit_newest: int = 0
    audit: list[str] = []  # newest first
    cup: Cup | None = None
    lines: list[PaneLine] = []
    records: list[LogRecordView] = []


class Lines(msgspec.Struct, tag="lines"):
    id: int
    lines: list[str]


ToConsole = Welcome | Refused | View | Lines

_encoder = msgspec.msgpack.Encoder()
ENGINE_DECODER = msgspec.msgpack.Decoder(ToEngine)
CONSOLE_DECODER = msgspec.msgpack.Decoder(ToConsole)


def encode(msg: msgspec.Struct) -> bytes:
    body = _encoder.encode(msg)
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Bytes in, whole frame bodies out; a frame longer than ``limit`` is a ``LinkError``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buf)
            if size > self.limit:
                raise LinkError(f"a frame of {size} bytes (at most {self.limit})")
            end = HEADER.size + size
            if len(self._buf) < end:
                break
            out.append(bytes(self._buf[HEADER.size : end]))
            del self._buf[:end]
        return out


def decode_request(body: bytes) -> ToEngine:
    try:
        return ENGINE_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise LinkError(f"not a console request: {exc}") from None


def decode_reply(body: bytes) -> ToConsole:
    try:
        return CONSOLE_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise LinkError(f"not an engine reply: {exc}") from None
