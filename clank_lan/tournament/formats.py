"""Bracket shapes: single elimination, double elimination and round robin as graphs of match specs.

A format is generated once from the number of competitors and never stored: each match slot
says where its competitor comes from (a seed, or the winner or loser of an earlier match), so
the whole bracket state is a pure replay of the recorded results over this graph (``model``).
Match ids are numbered in generation order, which puts every match after the matches it
depends on; the same inputs always give the same ids, so stored results find their match again
after a restart.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass


class Format(enum.StrEnum):
    SINGLE = "single"
    DOUBLE = "double"
    ROUND_ROBIN = "roundrobin"


FORMAT_NAMES = {
    "single": Format.SINGLE,
    "se": Format.SINGLE,
    "double": Format.DOUBLE,
    "de": Format.DOUBLE,
    "roundrobin": Format.ROUND_ROBIN,
    "round-robin": Format.ROUND_ROBIN,
    "rr": Format.ROUND_ROBIN,
}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a slot's competitor comes from: ``seed`` (0-based), or a match's ``winner``/``loser``."""

    kind: str
    ref: int


@dataclass(frozen=True, slots=True)
class MatchSpec:
    id: int
    #: "W" winners bracket (or the only bracket), "L" losers bracket, "GF" grand final,
    #: "GF2" the grand-final reset (played only if the losers-bracket side wins "GF"), "RR".
    bracket: str
    round: int
    a: Source
    b: Source

    def label(self) -> str:
        names = {"W": "R", "L": "L", "RR": "RR"}
        if self.bracket in ("GF", "GF2"):
            return "Grand final" if self.bracket == "GF" else "Grand final (reset)"
        return f"{names[self.bracket]}{self.round}"


def seed_order(size: int) -> list[int]:
    """1-based seeds in bracket order for a power-of-two ``size``: 1 meets ``size``, 2 meets
    ``size - 1``..., and seeds 1 and 2 can only meet in the final."""
    order = [1]
    while len(order) < size:
        total = 2 * len(order) + 1
        order = [x for s in order for x in (s, total - s)]
    return order


def _bracket_size(n: int) -> int:
    size = 1
    while size < n:
        size *= 2
    return max(size, 2)


def _winners_bracket(n: int, specs: list[MatchSpec]) -> list[list[int]]:
    """Append the winners-bracket rounds; returns the match ids of each round."""
    size = _bracket_size(n)
    order = seed_order(size)
    rounds: list[list[int]] = []
    first = []
    for i in range(0, size, 2):
        mid = len(specs) + 1
        specs.append(MatchSpec(mid, "W", 1, Source("seed", order[i] - 1), Source("seed", order[i + 1] - 1)))
        first.append(mid)
    rounds.append(first)
    r = 2
    while len(rounds[-1]) > 1:
        prev = rounds[-1]
        cur = []
        for i in range(0, len(prev), 2):
            mid = len(specs) + 1
            specs.append(MatchSpec(mid, "W", r, Source("winner", prev[i]), Source("winner", prev[i + 1])))
            cur.append(mid)
        rounds.append(cur)
        r += 1
    return rounds


def single_elimination(n: int) -> list[MatchSpec]:
    if n < 2:
        raise ValueError("an elimination bracket needs at least 2 competitors")
    specs: list[MatchSpec] = []
    _winners_bracket(n, specs)
    return specs


def double_elimination(n: int) -> list[MatchSpec]:
    """Winners bracket, a losers bracket fed by each winners round, a grand final and its reset.

    The losers bracket alternates a round where the survivors meet the losers dropping from the
    winners bracket (taken in reverse order every other round, to put off rematches) with a
    round where the survivors meet each other.
    """
    if n < 2:
        raise ValueError("an elimination bracket needs at least 2 competitors")
    specs: list[MatchSpec] = []
    wb = _winners_bracket(n, specs)
    lround = 0
    survivors: list[Source] = []
    if len(wb) == 1:
        survivors = [Source("loser", wb[0][0])]
    else:
        lround = 1
        first = wb[0]
        for i in range(0, len(first), 2):
            mid = len(specs) + 1
            specs.append(
                MatchSpec(mid, "L", lround, Source("loser", first[i]), Source("loser", first[i + 1]))
            )
            survivors.append(Source("winner", mid))
        for r in range(1, len(wb)):
            dropping = [Source("loser", m) for m in wb[r]]
            if r % 2 == 1:
                dropping.reverse()
            lround += 1
            minor = []
            for surv, drop in zip(survivors, dropping, strict=True):
                mid = len(specs) + 1
                specs.append(MatchSpec(mid, "L", lround, surv, drop))
                minor.append(Source("winner", mid))
            survivors = minor
            if len(survivors) > 1:
                lround += 1
                major = []
                for i in range(0, len(survivors), 2):
                    mid = len(specs) + 1
                    specs.append(MatchSpec(mid, "L", lround, survivors[i], survivors[i + 1]))
                    major.append(Source("winner", mid))
                survivors = major
    gf = len(specs) + 1
    specs.append(MatchSpec(gf, "GF", lround + 1, Source("winner", wb[-1][0]), survivors[0]))
    specs.append(MatchSpec(gf + 1, "GF2", lround + 2, Source("winner", gf), Source("loser", gf)))
    return specs


def round_robin(n: int) -> list[MatchSpec]:
    """Everyone meets everyone once (the circle method: n-1 rounds, or n with an odd count)."""
    if n < 2:
        raise ValueError("a round robin needs at least 2 competitors")
    slots: list[int | None] = list(range(n)) + ([None] if n % 2 else [])
    m = len(slots)
    specs: list[MatchSpec] = []
    for r in range(m - 1):
        for i in range(m // 2):
            a, b = slots[i], slots[m - 1 - i]
            if a is None or b is None:
                continue
            specs.append(MatchSpec(len(specs) + 1, "RR", r + 1, Source("seed", a), Source("seed", b)))
        slots = [slots[0], slots[-1], *slots[1:-1]]
    return specs


@functools.lru_cache(maxsize=16)
def generate(fmt: Format, n: int) -> tuple[MatchSpec, ...]:
    """The match graph of a format (cached: specs are immutable and the same for the same inputs)."""
    if fmt is Format.SINGLE:
        return tuple(single_elimination(n))
    if fmt is Format.DOUBLE:
        return tuple(double_elimination(n))
    return tuple(round_robin(n))
