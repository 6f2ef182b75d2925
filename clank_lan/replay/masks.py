"""Byte-for-byte comparison of a recorded answer with ours, under a default mask per message type
(newserv's ``apply_default_mask``): keys, ids, addresses and times legitimately differ on every
run and are not compared; every other field is, and the fields that differ are named. Alignment
pads belong to no field and are not compared either: Sony's servers left stack garbage in them.
"""

from __future__ import annotations

from dataclasses import dataclass

from clank_lan.protocol.medius import CodecContext, message_type
from clank_lan.protocol.medius.layout import has_variants, plan_for
from clank_lan.protocol.rt_ids import RT
from clank_lan.replay.model import Wire

#: Fields masked in every Medius message: keys, ids handed out by the server, addresses, times.
DEFAULT_MASK = frozenset(
    {
        # keys and where to connect
        "session_key",
        "access_key",
        "access_token",
        "server_key",
        "connect_info",
        # ids a server allocates
        "account_id",
        "originator_account_id",
        "leader_account_id",
        "target_account_id",
        "ignore_account_id",
        "player_account_id",
        "account_id_or_clan_id",
        "world_id",
        "target_world_id",
        "lobby_world_id",
        "game_world_id",
        "clan_id",
        "challenger_clan_id",
        "against_clan_id",
        "clan_invitation_id",
        "clan_message_id",
        "clan_challenge_id",
        "announcement_id",
        "filter_id",
        "universe_id",
        "file_id",
        # addresses
        "ip",
        "dns",
        "port",
        "address",
        "address_list",
        # times
        "time_stamp",
        "gmt_time",
        "time_zone",
        "response_time",
        "creation_time_stamp",
    }
)

#: Extra masked fields of particular messages (by type name).
TYPE_MASKS: dict[str, frozenset[str]] = {
    "UniverseVariableInformationResponse": frozenset({"universe_name", "description", "user_count"}),
    "UniverseStatusListResponse": frozenset({"universe_name", "description", "user_count"}),
}

#: Masked byte ranges of RT frames (name, start, end) for v108 and v109+ layouts.
_KEY = (("key", 0, 64),)
RT_MASKS: dict[int, tuple[tuple[tuple[str, int, int], ...], tuple[tuple[str, int, int], ...]]] = {
    RT.SERVER_CRYPTKEY_PEER: (_KEY, _KEY),
    RT.SERVER_CRYPTKEY_GAME: (_KEY, _KEY),
    # v108: prefix[3] player_id count ip[16]; v109: player_id scert_id count ip[16]
    RT.SERVER_CONNECT_ACCEPT_TCP: ((("client_ip", 7, 23),), (("scert_id", 2, 6), ("client_ip", 8, 24))),
}


@dataclass(frozen=True)
class ByteCheck:
    name: str
    compared: bool
    equal: bool = False
    differing: tuple[str, ...] = ()
    note: str = ""

    def text(self) -> str:
        if not self.compared:
            return f"{self.name}: not compared byte-wise ({self.note})"
        if self.equal:
            return f"{self.name}: identical outside the mask"
        return f"{self.name}: differs in {', '.join(self.differing)}"


def _plan(cls: type, ctx: CodecContext, body_len: int):
    """The layout a body of this length was decoded with (without the optional tail if short)."""
    _, has_optional = has_variants(cls)
    plan = plan_for(cls, ctx.v109, True)
    if has_optional and body_len < plan.size:
        plan = plan_for(cls, ctx.v109, False)
    return plan


def field_ranges(cls: type, ctx: CodecContext, body_len: int) -> list[tuple[str, int, int]] | None:
    """(field, start, end) of each top-level field of a fixed-layout message, offsets in the body."""
    plan = _plan(cls, ctx, body_len)
    out = []
    off = 0
    for f in plan.fields:
        off += -off % (1 if cls.PACKED else f.kind.align)
        out.append((f.name, off, off + f.kind.size))
        off += f.kind.size
    if not 0 <= plan.size - off < plan.align:  # our arithmetic must agree with the compiled layout
        return None
    return out


def _ranges(w: Wire, ctx: CodecContext) -> tuple[list[tuple[str, int, int]], frozenset[str]] | str:
    """Named byte ranges of the whole payload and which names are masked, or why not comparable."""
    rt_id, cls_id, typ = w.key
    if cls_id < 0:
        masked = RT_MASKS.get(rt_id, ((), ()))[0 if ctx.medius_version <= 108 else 1]
        ranges = list(masked)
        covered = sorted((s, e) for _, s, e in masked)
        pos = 0
        for s, e in [*covered, (w.size, w.size)]:
            if s > pos:
                ranges.append((f"bytes {pos}-{s - 1}", pos, s))
            pos = max(pos, e)
        return ranges, frozenset(n for n, _, _ in masked)
    cls = message_type(cls_id, typ)
    if cls is None:
        return "no typed layout"
    if cls.VARIABLE:
        return "variable layout"
    fields = field_ranges(cls, ctx, w.size - 2)
    if fields is None:
        return "layout offsets unknown"
    ranges = [("header", 0, 2)] + [(n, s + 2, e + 2) for n, s, e in fields]
    end = 2 + _plan(cls, ctx, w.size - 2).size  # the struct's tail padding is a pad too
    if w.size > end:
        ranges.append(("trailing bytes", end, w.size))
    return ranges, DEFAULT_MASK | TYPE_MASKS.get(cls.__name__, frozenset())


def compare_bytes(expected: Wire, actual: Wire, ctx: CodecContext) -> ByteCheck:
    """Compare two answers of the same type byte for byte outside the default mask."""
    name = expected.name
    if expected.size != actual.size:
        return ByteCheck(name, False, note=f"sizes differ: {expected.size} vs {actual.size}")
    got = _ranges(expected, ctx)
    if isinstance(got, str):
        return ByteCheck(name, False, note=got)
    ranges, masked = got
    differing = tuple(
        n for n, s, e in ranges if n not in masked and expected.payload[s:e] != actual.payload[s:e]
    )
    return ByteCheck(name, True, not differing, differing)
