"""Attributing server messages to the client messages they answer (sans-IO; used for both the
recorded session and our server's answers, so both sides are judged by the same rule).

Rule: a server message of type T answers the earliest open request that T can answer (``pairs``)
and that has not yet had its final T (the item with ``end_of_list`` / ``end_of_text`` set, or any
non-list answer). Servers answer requests of one type in order, so FIFO per type is exact for
pipelined requests; a retried request re-opens its exchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius import CodecContext, Reassembler, decode_app
from clank_lan.replay.model import APP_IDS, MsgKey, Wire


@dataclass
class _Slot:
    candidates: frozenset[MsgKey]
    done: set[MsgKey] = field(default_factory=set)


class Attributor:
    def __init__(self) -> None:
        self._slots: dict[int, _Slot] = {}  # insertion order = request order

    def open(self, exchange: int, candidates: frozenset[MsgKey]) -> None:
        """A request was sent (again: a retry re-opens every answer type)."""
        slot = self._slots.pop(exchange, None)
        self._slots[exchange] = _Slot(candidates) if slot is None else _Slot(slot.candidates)

    def attribute(self, key: MsgKey, final: bool) -> int | None:
        """The exchange this message answers, or None when it answers nothing open."""
        for ex, slot in self._slots.items():
            if key in slot.candidates and key not in slot.done:
                if final:
                    slot.done.add(key)
                return ex
        return None


def is_final(wire: Wire, ctx: CodecContext) -> bool:
    """Whether a list answer is complete with this item (non-list answers always are)."""
    if wire.rt_id not in APP_IDS:
        return True
    try:
        msg = decode_app(wire.payload, ctx)
    except ProtocolError:
        return True
    for flag in ("end_of_list", "end_of_text"):
        if hasattr(msg, flag):
            return bool(getattr(msg, flag))
    return True


class Joiner:
    """Server APP payloads in, whole Medius messages out (PacketFragments joined)."""

    def __init__(self) -> None:
        self._reasm = Reassembler()
        self._pieces = 0

    def feed(self, rt_id: int, payload: bytes, source: str) -> Wire | None:
        if rt_id not in APP_IDS or payload[:2] != b"\x00\x02":
            return Wire(rt_id, payload, source)
        self._pieces += 1
        whole = self._reasm.feed(payload)
        if whole is None:
            return None
        pieces, self._pieces = self._pieces, 0
        return Wire(rt_id, whole, source, pieces)
