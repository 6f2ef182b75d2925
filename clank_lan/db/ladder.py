"""Ladder rankings: one stat column of many accounts (or clans) sorted once, queried by bisection.

Competition ranking: equal values share a position and the next one skips (1, 2, 2, 4), so an
account's position is 1 + the number of entries strictly better. Pages list ties by ascending id.
A ``Ranking`` is immutable; owners cache one per (namespace, column, order) and drop the cache
when a stat in that namespace changes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from clank_lan.db.records import LadderEntry


class Ranking:
    __slots__ = ("_descending", "_ids", "_keys")

    def __init__(self, items: Iterable[tuple[int, int]], *, descending: bool) -> None:
        """``items`` are (id, value) pairs."""
        sign = -1 if descending else 1
        pairs = sorted((sign * value, ident) for ident, value in items)
        self._descending = descending
        self._keys = [k for k, _ in pairs]
        self._ids = [i for _, i in pairs]

    def __len__(self) -> int:
        return len(self._keys)

    def position(self, value: int) -> int:
        """1-based rank an entry with ``value`` holds."""
        return bisect_left(self._keys, -value if self._descending else value) + 1

    def page(self, start: int, count: int) -> list[LadderEntry]:
        """Entries at positions ``start`` (1-based) .. ``start + count - 1`` of the sorted list."""
        if start < 1 or count < 0:
            raise ValueError("a ladder page starts at 1 and has a non-negative size")
        sign = -1 if self._descending else 1
        keys, ids = self._keys, self._ids
        out: list[LadderEntry] = []
        rank = 0
        prev: int | None = None
        for i in range(start - 1, min(len(keys), start - 1 + count)):
            key = keys[i]
            if key != prev:
                rank = bisect_left(keys, key, 0, i + 1) + 1
                prev = key
            out.append(LadderEntry(position=rank, id=ids[i], value=sign * key))
        return out


class RankingCache:
    """Rankings per namespace, built on first use and dropped when that namespace's stats change."""

    __slots__ = ("_by_namespace",)

    def __init__(self) -> None:
        self._by_namespace: dict[str, dict[tuple[object, ...], Ranking]] = {}

    def get(
        self, namespace: str, column: tuple[object, ...], descending: bool, items: Iterable[tuple[int, int]]
    ) -> Ranking:
        """The ranking of ``column`` in ``namespace``; ``items`` is consumed only on a miss."""
        cache = self._by_namespace.setdefault(namespace, {})
        key = (*column, descending)
        ranking = cache.get(key)
        if ranking is None:
            ranking = cache[key] = Ranking(items, descending=descending)
        return ranking

    def invalidate(self, namespace: str) -> None:
        self._by_namespace.pop(namespace, None)
