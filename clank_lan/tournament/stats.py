"""Reading a game's outcome from what the titles send: end-game reports and ladder-stat updates.

Up Your Arsenal and Deadlocked keep each player's career figures in the 100-int "wide" ladder
stats (UpdateLadderStatsWide) and send the new totals after a game. The positions below are
those the Horizon community tracker (Horizon-Private-Server/horizon-tracker, ``uya_stats`` and
``deadlocked_stats`` stat maps) reads from the same array; the difference between a player's
totals before and after the game is that game's figures, and a win counter that went up names
the winner. Other titles' stats, and the 256-byte world stats of every title, have no public
layout: they are kept as raw bytes for the operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Title family -> figure -> index into the 100-int wide ladder stats.
WIDE_STATS: dict[str, dict[str, int]] = {
    "uya": {"wins": 2, "losses": 3, "kills": 5, "deaths": 6, "suicides": 7, "games": 11},
    "dl": {"wins": 3, "losses": 4, "disconnects": 5, "kills": 6, "deaths": 7, "games": 8},
}
WIDE_LEN = 100


def ladder_delta(family: str, before: Sequence[int], after: Sequence[int]) -> dict[str, int] | None:
    """The figures one game added to a player's totals; None when the title's layout is unknown
    or the arrays are not 100 ints."""
    layout = WIDE_STATS.get(family)
    if layout is None or len(before) != WIDE_LEN or len(after) != WIDE_LEN:
        return None
    return {name: int(after[i]) - int(before[i]) for name, i in layout.items()}


def won(delta: dict[str, int]) -> bool | None:
    """True/False when the win/loss counters say so; None when they did not move (or both did)."""
    wins, losses = delta.get("wins", 0) > 0, delta.get("losses", 0) > 0
    if wins == losses:
        return None
    return wins


@dataclass(frozen=True, slots=True)
class EndGame:
    """The fields of a Medius EndGameReport, as sent."""

    winning_team: str
    winning_player: str
    final_score: int

    def raw(self) -> bytes:
        """A readable record of what was sent, kept with a result the winner could not be read from."""
        text = (
            f"winning_team={self.winning_team!r} winning_player={self.winning_player!r} "
            f"score={self.final_score}"
        )
        return text.encode("utf-8", "replace")
