"""Text output of a dissection: frame records in the fixed log format, then the frames that were
not decrypted, notes, and the one summary line other tools parse.

Each record is ``hexlog.format_frame`` output prefixed with ``#<frame> <time> <stream> `` (the log
parser ignores anything before the ``[``). Direction is from the server's point of view, as our
servers log: client -> server is ``recv``, server -> client is ``send``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache

from clank_lan.dissect.model import DissectFrame, DissectResult, Note
from clank_lan.protocol.hexlog import format_frame
from clank_lan.protocol.rt_ids import RT

_APP_IDS = (RT.SERVER_APP, RT.CLIENT_APP_TOSERVER)


@cache
def _medius_namer() -> Callable[[int, int], str] | None:
    """The Medius codec's ``message_name`` when that package is importable (it is optional)."""
    for module in ("clank_lan.protocol.medius", "clank_lan.protocol.medius.ids"):
        try:
            mod = __import__(module, fromlist=["message_name"])
            fn = getattr(mod, "message_name", None)
        except Exception:  # a missing or half-written codec must not break the dissector
            continue
        if callable(fn):
            return fn
    return None


def medius_name(payload: bytes) -> str:
    """Name of the Medius message carried by an app frame's plaintext (``class:0xTT`` if unknown)."""
    cls, typ = payload[0], payload[1]
    namer = _medius_namer()
    if namer is not None:
        try:
            name = namer(cls, typ)
        except Exception:
            name = None
        if isinstance(name, str) and name and not any(c.isspace() for c in name):
            return name
    return f"{cls}:0x{typ:02X}"


def frame_record(f: DissectFrame) -> str:
    """One frame in the fixed log format, plaintext when recovered, else the wire payload."""
    tags: list[str] = []
    if f.transport == "udp":
        tags.append("udp")
    if f.plain is not None:
        payload = f.plain.payload
        ctx = f.plain.ctx
        null = f.plain.null
        if f.raw.id in _APP_IDS and len(payload) >= 2:
            tags.append(f"medius={medius_name(payload)}")
    else:
        payload = f.raw.payload
        ctx = f.ctx
        null = False
        tags.append(f"hash={(f.raw.hash or b'').hex()}")
        tags.append(f"status={f.status.value}")
    text = format_frame(f.service, f.peer, f.direction, f.raw.id, payload, ctx, null, " ".join(tags))
    return f"#{f.number} {f.ts:.6f} {f.stream} {text}"


def note_line(n: Note) -> str:
    where = f"packet {n.packet} {n.ts:.6f}" if n.packet else "end of capture"
    return f"-- {where} {n.stream} [{n.service}] {n.kind}: {n.text}"


def failure_line(f: DissectFrame) -> str:
    return (
        f"  #{f.number} (packet {f.packet}) {f.stream} {f.service} {f.direction} {f.raw.name}: "
        f"{f.status.value}: {f.reason}"
    )


def render(result: DissectResult, frames: bool = True) -> Iterator[str]:
    """All output lines. With ``frames=False`` only the failures, notes and summary."""
    if frames:
        inline = sorted((n for n in result.notes if n.packet), key=lambda n: n.after)
        i = 0
        for f in result.frames:
            while i < len(inline) and inline[i].after < f.number:
                yield note_line(inline[i])
                i += 1
            yield frame_record(f)
        for n in inline[i:]:
            yield note_line(n)
    failed = result.not_decrypted
    if failed:
        yield f"not decrypted ({len(failed)}):"
        for f in failed:
            yield failure_line(f)
    tail = [n for n in result.notes if not n.packet]
    for n in tail:
        yield note_line(n)
    if not frames:
        kinds: dict[str, int] = {}
        for n in result.notes:
            if n.packet:
                kinds[n.kind] = kinds.get(n.kind, 0) + 1
        if kinds:
            yield "notes: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    yield result.counts.summary_line()
