"""Cross-region lobbies: which app ids share channels, player lists and game lists.

Medius keys everything by application id, so without grouping an NTSC-U and a PAL copy of Up
Your Arsenal never see each other although the discs play together (they do on the other
community servers). A *family* is a set of titles known to interoperate; a family that is on
makes its app ids one lobby: the lobby keys its channels and games by ``key(app_id)`` instead of
the raw id. Facts that differ per title (Medius version, quirks, DNAS) stay with each session's
own ``Title``; a game keeps its host's app id, and ``can_join_game`` refuses a join between
titles whose DME traffic differs (the UYA betas speak an older DME format than retail).

Families on by default are the ones reported working together on other servers: UYA (NTSC-U,
PAL, Korean, public beta, prototype) and Deadlocked / Gladiator. Jak X is listed but off: no
server is known to host its games. The operator can switch grouping off, turn a family off, add
an app id to a family (the Korean UYA's id is unknown: when its log line shows the id, add it
here) or declare a new group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from clank_lan.titles import TITLES_BY_KEY, Quirk, title_for_app_id

#: Bounds on the operator's additions (a hostile or mistyped configuration stays small).
MAX_GROUPS = 64
MAX_GROUP_SIZE = 64
_APP_ID_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Family:
    key: str
    name: str
    title_keys: tuple[str, ...]
    on_by_default: bool
    note: str  # why it is on or off: the evidence, in one sentence


FAMILIES: tuple[Family, ...] = (
    Family(
        key="uya",
        name="Ratchet & Clank: Up Your Arsenal / Ratchet & Clank 3",
        title_keys=("uya-ntsc", "uya-pal", "uya-kr", "uya-beta", "uya-prototype"),
        on_by_default=True,
        note="NTSC-U and PAL consoles play together on the Horizon and Clank servers.",
    ),
    Family(
        key="dl",
        name="Ratchet: Deadlocked / Ratchet: Gladiator",
        title_keys=("dl-ntsc", "dl-pal"),
        on_by_default=True,
        note="Deadlocked and Gladiator share lobbies on the Horizon server.",
    ),
    Family(
        key="jakx",
        name="Jak X: Combat Racing",
        title_keys=("jakx-ntsc", "jakx-pal"),
        on_by_default=False,
        note="No server is known to host Jak X games, so nothing says the regions interoperate.",
    ),
)
FAMILIES_BY_KEY: dict[str, Family] = {f.key: f for f in FAMILIES}


class GroupingError(ValueError):
    """A grouping configuration that cannot be used; the message says which entry and why."""


class LobbyGroups:
    """The app id -> lobby key map. ``LobbyGroups()`` is the default (known families on)."""

    def __init__(
        self,
        *,
        cross_region: bool = True,
        families_off: Iterable[str] = (),
        families_on: Iterable[str] = (),
        extra_app_ids: Mapping[str, Iterable[int]] | None = None,
        extra_groups: Iterable[Iterable[int]] = (),
    ) -> None:
        off, on = set(families_off), set(families_on)
        for key in off | on | set(extra_app_ids or {}):
            if key not in FAMILIES_BY_KEY:
                raise GroupingError(f"unknown title family {key!r} (known: {', '.join(FAMILIES_BY_KEY)})")
        if off & on:
            raise GroupingError(f"families both on and off: {', '.join(sorted(off & on))}")
        groups: list[tuple[str, frozenset[int]]] = []
        if cross_region:
            for fam in FAMILIES:
                if fam.key in off or (not fam.on_by_default and fam.key not in on):
                    continue
                ids = {a for k in fam.title_keys for a in TITLES_BY_KEY[k].app_ids}
                ids |= {_app_id(a, fam.key) for a in (extra_app_ids or {}).get(fam.key, ())}
                groups.append((fam.key, frozenset(ids)))
            for n, raw in enumerate(extra_groups):
                if n >= MAX_GROUPS:
                    raise GroupingError(f"more than {MAX_GROUPS} extra groups")
                ids = [_app_id(a, f"group {n + 1}") for a in raw]
                if len(ids) > MAX_GROUP_SIZE:
                    raise GroupingError(f"group {n + 1}: more than {MAX_GROUP_SIZE} app ids")
                groups.append((f"group-{n + 1}", frozenset(ids)))
        self._key: dict[int, int] = {}
        self._members: dict[int, frozenset[int]] = {}
        self._name: dict[int, str] = {}
        for name, ids in groups:
            if len(ids) < 2:
                continue
            for a in ids:
                if a in self._name:
                    raise GroupingError(f"app id {a} is in both {self._name[a]} and {name}")
                self._name[a] = name
            lobby = min(ids)
            for a in ids:
                self._key[a] = lobby
                self._members[a] = ids

    def key(self, app_id: int) -> int:
        """The lobby key of ``app_id``: the smallest app id of its group, or itself."""
        return self._key.get(app_id, app_id)

    def members(self, app_id: int) -> frozenset[int]:
        """Every app id sharing ``app_id``'s lobby (itself included)."""
        return self._members.get(app_id, frozenset((app_id,)))

    def group_name(self, app_id: int) -> str | None:
        """The family key (``uya``) or ``group-N`` of ``app_id``; ``None`` when it is alone."""
        return self._name.get(app_id)

    def same_lobby(self, a: int, b: int) -> bool:
        return self.key(a) == self.key(b)

    def can_join_game(self, player_app_id: int, game_app_id: int) -> bool:
        """Whether a console of ``player_app_id`` may see and join a game hosted by
        ``game_app_id``: same lobby, and the same DME packet format."""
        if not self.same_lobby(player_app_id, game_app_id):
            return False
        return _old_dme(player_app_id) == _old_dme(game_app_id)

    def describe(self) -> list[str]:
        """One line per group, for the startup log and the operator console."""
        seen: dict[int, frozenset[int]] = {}
        for a, ids in self._members.items():
            seen.setdefault(self._key[a], ids)
        return [
            f"{self._name[k]}: app ids {', '.join(str(a) for a in sorted(ids))} share one lobby"
            for k, ids in sorted(seen.items())
        ]


def _old_dme(app_id: int) -> bool:
    return Quirk.OLD_DME_FORMAT in title_for_app_id(app_id).quirks


def _app_id(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _APP_ID_MAX:
        raise GroupingError(f"{where}: {value!r} is not an app id (1..{_APP_ID_MAX})")
    return value
