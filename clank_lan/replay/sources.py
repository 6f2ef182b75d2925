"""Recorded sessions from every source we have, as ``Recorded`` frames in recording order.

- a capture (pcap/pcapng), decrypted by ``clank_lan.dissect``: source "frame N" is the dissector's
  frame number (the ``clank-lan dissect`` listing);
- our own frame log (``protocol.hexlog``, what the servers write to ``clank_lan.frames``): one
  connection per service and client address, source "line N";
- the hashsploit decrypted text dumps (``Client: [SUCCESS] ID:ID_xx LEN:0x.. PLAINTEXT:`` then hex
  lines): one MAS connection, source "line N".

``load_recording`` tells them apart by content.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from clank_lan.dissect import DissectResult, dissect_bytes
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import ID_MASK
from clank_lan.protocol.hexlog import parse_log
from clank_lan.replay.model import RECV, SEND, Recorded

#: First bytes of pcap (both byte orders, micro- and nanosecond) and pcapng files.
_CAPTURE_MAGIC = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x0a\x0d\x0d\x0a",
)

_DUMP_HEAD = re.compile(
    r"^(?P<who>Client|Server): \[(?P<status>\w+)\] ID:ID_(?P<id>[0-9A-Fa-f]{2}) "
    r"LEN:0x(?P<len>[0-9A-Fa-f]+) PLAINTEXT:",
    re.MULTILINE,
)
_DUMP_HEX = re.compile(r"^\s*(?:[0-9A-Fa-f]{2}\s+)*[0-9A-Fa-f]{2}\s*$")


@dataclass
class Recording:
    name: str
    frames: list[Recorded]
    notes: list[str]


def from_capture(result: DissectResult, name: str = "capture") -> Recording:
    """The TCP frames of a dissected capture (UDP flows and NAT are not lobby traffic)."""
    frames = []
    for f in result.frames:
        if f.transport != "tcp":
            continue
        rt_id = f.plain.id if f.plain is not None else f.raw.id & ID_MASK
        frames.append(
            Recorded(
                conn=f.stream,
                service=f.service,
                direction=f.direction,
                rt_id=rt_id,
                payload=f.plaintext,
                encrypted=f.encrypted,
                source=f"frame {f.number}",
            )
        )
    notes = [f"capture damaged: {result.error}"] if result.error else []
    return Recording(name, frames, notes)


def from_hexlog(text: str, name: str = "log") -> Recording:
    """Every TCP frame record of a frame log (the DME's aux-UDP records, tagged ``udp``, are game
    traffic, as in ``from_capture``); a record naming several peers (one message sent to many
    consoles) is the frame of each of their connections. ProtocolError on a record whose hex is
    inconsistent."""
    frames = [
        Recorded(
            conn=peer,
            service=r.service,
            direction=r.direction,
            rt_id=r.rt_id & ID_MASK,
            payload=r.payload,
            encrypted=r.encrypted,
            source=f"line {r.line}",
        )
        for r in parse_log(text)
        if "udp" not in r.tags
        for peer in r.peer.split(",")
    ]
    return Recording(name, frames, [])


def from_text_dump(text: str, name: str = "dump", service: str = "MAS") -> Recording:
    """A hashsploit-style decrypted dump of one connection (their files are MAS sessions)."""
    lines = text.splitlines()
    frames = []
    for lineno, line in enumerate(lines):
        m = _DUMP_HEAD.match(line)
        if m is None:
            continue
        length = int(m.group("len"), 16)
        data = bytearray()
        i = lineno + 1
        while len(data) < length and i < len(lines):
            if _DUMP_HEX.match(lines[i]):
                data += bytes.fromhex("".join(lines[i].split()))
            elif lines[i].strip():
                break  # the ASCII rendering line: the hex is over
            i += 1
        if len(data) != length:
            raise ProtocolError(f"line {lineno + 1}: LEN 0x{length:x} but {len(data)} bytes of hex")
        ok = m.group("status") == "SUCCESS"
        frames.append(
            Recorded(
                conn="c1",
                service=service,
                direction=RECV if m.group("who") == "Client" else SEND,
                rt_id=int(m.group("id"), 16) & ID_MASK,
                payload=bytes(data) if ok else None,
                encrypted=True,  # the dump is of an encrypted session, decrypted afterwards
                source=f"line {lineno + 1}",
            )
        )
    return Recording(name, frames, [])


def load_recording(source: str | os.PathLike | bytes, name: str | None = None) -> Recording:
    """A capture, a frame log or a text dump, from a path, raw bytes or text (told apart by content)."""
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and len(source) < 4096 and Path(source).is_file()
    ):
        path = Path(source)
        return load_recording(path.read_bytes(), name or path.name)
    if isinstance(source, bytes):
        if source[:4] in _CAPTURE_MAGIC:
            return from_capture(dissect_bytes(source), name or "capture")
        source = source.decode("utf-8", "replace")
    if _DUMP_HEAD.search(source):
        return from_text_dump(source, name or "dump")
    return from_hexlog(source, name or "log")
