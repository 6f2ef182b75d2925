"""The fixed text format in which every frame is logged, and its parser.

Servers, the headless client and the dissector all write frames this way, plaintext and before
encryption, so a real session log can be replayed as a test (newserv's model). One record::

    [MAS] C-3 recv CLIENT_APP_TOSERVER(0x0B) len=12 enc=3
    0000 | 0b 0c 00 01 a3 ...                               | ...

The first line is the header: ``[<service>] <peer> <send|recv> <NAME>(0xID) len=N <tags>``; a
frame sent to many consoles at once (a channel's chat line) is one record whose ``<peer>`` lists
them all, comma-separated. A
tag is ``enc=<ctx>`` (encrypted under that context), ``null=<ctx>`` (flagged, null hash) or
``clear``; further ``key=value`` tags may follow (``udp``, ``hash=...``, ``note=...``). The hex
lines hold the plaintext frame as ``[id][len LE16][payload]`` (id without the 0x80 flag), 16
bytes a line. Anything before the ``[`` of the header (a timestamp, a level) is ignored by the
parser, so the same parser reads raw log files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import HEADER
from clank_lan.protocol.rt_ids import rt_name

_HEADER_RE = re.compile(
    r"\[(?P<service>[A-Za-z0-9_.:-]+)\] (?P<peer>\S+) (?P<dir>send|recv) "
    r"(?P<name>[A-Za-z0-9_]+)\(0x(?P<id>[0-9A-Fa-f]{2})\) len=(?P<len>[0-9]+)(?P<tags>(?: \S+)*)\s*$"
)
_CTX_VALUES = frozenset("01234567")
_HEX_RE = re.compile(r"^\s*(?P<off>[0-9a-f]{4,8}) \| (?P<hex>(?:[0-9a-f]{2} ?)+)")


def tag_for(ctx: int | None, null: bool = False) -> str:
    if ctx is None:
        return "clear"
    return f"{'null' if null else 'enc'}={ctx}"


#: ``NAME(0xID)`` of every id a frame header can carry (its 7 bits plus the flag bit).
_NAMED = tuple(f"{rt_name(i)}(0x{i:02X})" for i in range(256))
#: Printable ASCII stays, every other byte shows as "." (one C-level translate per frame).
_SHOWN = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))
WIDTH = 16  # bytes per hex line
_PAD = WIDTH * 3 - 1  # characters of a full line's hex
#: ``"0010 | "``: the offset column of every line a frame can have (64 KiB payload + header).
_OFFSETS = tuple(f"{off:04x} | " for off in range(0, 0x10000 + 2 * WIDTH, WIDTH))


def hex_lines(data: bytes) -> list[str]:
    """``offset | hex | text`` lines, 16 bytes each. The hex and text of the whole frame are made
    once and sliced, and full lines are joined without format specs: formatting is the log
    writer's main cost when every frame is logged."""
    hexed = data.hex(" ")
    shown = data.translate(_SHOWN).decode("ascii")
    full, rest = divmod(len(data), WIDTH)
    offsets = _OFFSETS if full < len(_OFFSETS) else [f"{k * WIDTH:04x} | " for k in range(full + 1)]
    lines = [
        offsets[k] + hexed[k * 3 * WIDTH : k * 3 * WIDTH + _PAD] + " | " + shown[k * WIDTH : (k + 1) * WIDTH]
        for k in range(full)
    ]
    if rest:
        lines.append(offsets[full] + hexed[full * 3 * WIDTH :].ljust(_PAD) + " | " + shown[full * WIDTH :])
    return lines


def format_frame(
    service: str,
    peer: str,
    direction: str,
    rt_id: int,
    payload: bytes,
    ctx: int | None = None,
    null: bool = False,
    extra: str = "",
) -> str:
    """One record: header line plus hex lines, joined by newlines (no trailing newline)."""
    head = f"[{service}] {peer} {direction} {_NAMED[rt_id]} len={len(payload)} {tag_for(ctx, null)}"
    if extra:
        head += " " + extra
    return "\n".join([head, *hex_lines(HEADER.pack(rt_id, len(payload)) + payload)])


@dataclass
class LogRecord:
    service: str
    peer: str
    direction: str
    rt_id: int
    payload: bytes
    tags: dict[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def ctx(self) -> int | None:
        for k in ("enc", "null"):
            if k in self.tags:
                return int(self.tags[k])
        return None

    @property
    def encrypted(self) -> bool:
        return "enc" in self.tags


def parse_log(text: str) -> list[LogRecord]:
    """Every frame record in a log; other lines are ignored. Raises ProtocolError on a record
    whose hex does not match its header."""
    records: list[LogRecord] = []
    cur: LogRecord | None = None
    declared = 0  # the header's len=, checked against the hex (never used to allocate)
    buf = bytearray()

    def finish() -> None:
        nonlocal cur
        if cur is None:
            return
        data = bytes(buf)
        if len(data) < HEADER.size:
            raise ProtocolError(f"log line {cur.line}: record has no frame bytes")
        rid, length = HEADER.unpack_from(data)
        if rid != cur.rt_id or length != len(data) - HEADER.size or length != declared:
            raise ProtocolError(f"log line {cur.line}: hex does not match the header")
        cur.payload = data[HEADER.size :]
        records.append(cur)
        cur = None

    for lineno, line in enumerate(text.splitlines(), 1):
        if cur is not None:
            m = _HEX_RE.match(line)
            if m and int(m.group("off"), 16) == len(buf):
                buf += bytes.fromhex(m.group("hex").replace(" ", ""))
                continue
            finish()
        idx = line.find("[")
        m = _HEADER_RE.search(line, idx if idx >= 0 else 0) if idx >= 0 else None
        if m:
            tags = {}
            for t in m.group("tags").split():
                k, _, v = t.partition("=")
                if k in ("enc", "null") and v not in _CTX_VALUES:
                    raise ProtocolError(f"log line {lineno}: {k}={v[:12]} is not a cipher context")
                tags[k] = v
            cur = LogRecord(
                m.group("service"),
                m.group("peer"),
                m.group("dir"),
                int(m.group("id"), 16),
                b"",
                tags,
                lineno,
            )
            digits = m.group("len")
            if len(digits) > 5 or int(digits) > 0xFFFF:
                raise ProtocolError(f"log line {lineno}: len={digits[:12]} exceeds a frame")
            declared = int(digits)
            buf = bytearray()
    finish()
    return records
