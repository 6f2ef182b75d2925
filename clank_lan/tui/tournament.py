"""What the Tournament tab shows, computed from the tournament service and the lobby.

Pure reads (no Textual widgets, no trio), like ``rows``: the bracket as one column per round
(each match with its two sides, the score and the winner), the matches ready to play, the lobby
games linked to matches, the round-robin standings, and the rows of the "Results to confirm"
table. The bracket comes from ``tournament_data`` (the same view the web board and the JSON
export show), so the console never disagrees with the big screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from clank_lan.tui.rows import Columns, Row, clock
from clank_lan.tui.wire import LiveGame

if TYPE_CHECKING:
    from clank_lan.servers.lobby.state import Lobby
    from clank_lan.tournament.service import TournamentService

PENDING_COLUMNS = Columns(
    ("Result", "Match", "Game", "Side A", "Side B", "Players", "Ended"),
    ("Result", "Match", "Side A", "Side B"),
)

HOW_TO_START = (
    "No tournament is running.",
    "",
    "Start one from the command line with a roster file (CSV or TOML, one player per line):",
    "  tournament new FILE single|double|rr [--best-of N]",
    "The bracket, the next matches, the games being played and the results to confirm show here.",
)

#: Order of the brackets of a double elimination, top to bottom.
_BRACKET_ORDER = {"W": 0, "RR": 0, "L": 1, "GF": 2, "GF2": 2}
_BRACKET_TITLES = {"W": "Bracket", "RR": "Rounds", "L": "Losers bracket", "GF": "Grand final"}


def _side(name: str | None) -> str:
    if name is None:
        return "?"
    return name or "(bye)"


def _match_cell(m: dict) -> Text:
    """Two lines: ``#1 amy    2`` over ``   ben    1``, the winner in bold, a live game in yellow."""
    text = Text()
    head = f"#{m['id']} "
    pad = " " * len(head)
    scored = m["wins_a"] or m["wins_b"] or m["winner"]
    for i, (who, wins) in enumerate(((m["a"], m["wins_a"]), (m["b"], m["wins_b"]))):
        if i:
            text.append("\n")
        text.append(head if i == 0 else pad, style="dim")
        won = m["winner"] is not None and who == m["winner"]
        text.append(_side(who), style="bold green" if won else ("dim" if m["winner"] else ""))
        if scored:
            text.append(f" {wins}", style="bold" if won else "")
    if m["status"] == "playing":
        text.append("\n" + pad + "playing", style="yellow")
    return text


def bracket_view(data: dict) -> Group:
    """Each bracket (winners, losers, grand final) as a grid with one column per round."""
    brackets: dict[str, dict[tuple[int, str], list[dict]]] = {}
    for m in data["matches"]:
        part = "GF" if m["bracket"] == "GF2" else m["bracket"]
        label = {"GF": "Final", "GF2": "Reset (if needed)"}.get(m["bracket"], f"R{m['round']}")
        brackets.setdefault(part, {}).setdefault((m["round"], label), []).append(m)
    parts: list[RenderableType] = []
    for part in sorted(brackets, key=lambda p: _BRACKET_ORDER.get(p, 3)):
        rounds = brackets[part]
        if len(brackets) > 1:
            parts.append(Text(_BRACKET_TITLES.get(part, part), style="bold underline"))
        grid = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, pad_edge=False)
        columns = sorted(rounds)
        for c in columns:
            # a single elimination's last round is the final; a double elimination has a grand final
            final = data["format"] == "single" and c == columns[-1]
            grid.add_column(Text("Final" if final else c[1], style="bold"), overflow="ellipsis")
        depth = max(len(ms) for ms in rounds.values())
        for i in range(depth):
            cells: list[RenderableType] = []
            for c in columns:
                ms = rounds[c]
                cells.append(_match_cell(ms[i]) if i < len(ms) else Text(""))
            grid.add_row(*cells)
        parts.append(grid)
    return Group(*parts)


def heading(data: dict) -> Text:
    text = Text()
    text.append(data["name"], style="bold")
    fmt = {"single": "single elimination", "double": "double elimination", "roundrobin": "round robin"}
    text.append(f"  {fmt.get(data['format'], data['format'])}, best of {data['best_of']}")
    text.append(f", {len(data['seeding'])} competitors")
    if data["champion"]:
        text.append(f"   CHAMPION: {data['champion']}", style="bold green")
    return text


def next_matches(data: dict) -> Text:
    by_id = {m["id"]: m for m in data["matches"]}
    text = Text("Next matches", style="bold underline")
    if data["champion"]:
        text.append(f"\n  none: {data['champion']} is the champion", style="")
        return text
    ready = [by_id[i] for i in data["next"] if i in by_id]
    if not ready:
        text.append("\n  none ready (waiting for results)", style="dim")
    for m in ready:
        line = f"\n  #{m['id']} {m['label']}: {_side(m['a'])} vs {_side(m['b'])}"
        text.append(line, style="")
        if m["wins_a"] or m["wins_b"]:
            text.append(f" ({m['wins_a']}-{m['wins_b']})", style="")
        if m["status"] == "playing":
            text.append("  playing", style="yellow")
    return text


def live_games(svc: TournamentService, lobby: Lobby) -> list[LiveGame]:
    """Lobby games linked to a match and still running, with who is in them (or was named)."""
    out = []
    for track in svc.tracks.values():
        if track.result_id is not None:
            continue
        game = lobby.games.get(track.game_id)
        players = (
            [s.session.account_name for s in game.players.values()] if game is not None else track.players
        )
        out.append(
            LiveGame(track.game_id, game.name if game is not None else "", list(players), track.match_id)
        )
    return out


def linked_games(live: list[LiveGame], data: dict) -> Text:
    """Lobby games linked to a match and still running: id, name, players, and the match."""
    by_id = {m["id"]: m for m in data["matches"]}
    text = Text("Games in progress", style="bold underline")
    if not live:
        text.append("\n  no game linked to a match is running", style="dim")
    for game in live:
        name = f" {game.name}" if game.name else ""
        m = by_id.get(game.match_id)
        match = f"#{game.match_id} {_side(m['a'])} vs {_side(m['b'])}" if m else f"#{game.match_id}"
        text.append(f"\n  game {game.game_id}{name}: {', '.join(game.players) or 'nobody yet'}", style="")
        text.append(f"  -> match {match}", style="cyan")
    return text


def standings(data: dict) -> Group | None:
    """Round robin only: played, won, lost and game difference, best first."""
    if data["format"] != "roundrobin":
        return None
    table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
    for name in ("#", "Competitor", "P", "W", "L", "+/-"):
        table.add_column(name, justify="left" if name == "Competitor" else "right", overflow="ellipsis")
    for i, s in enumerate(data["standings"], 1):
        diff = s["game_wins"] - s["game_losses"]
        table.add_row(
            str(i), Text(s["competitor"]), str(s["played"]), str(s["wins"]), str(s["losses"]), f"{diff:+d}"
        )
    return Group(Text("Standings", style="bold underline"), table)


def view_key(svc: TournamentService, lobby: Lobby) -> tuple:
    """Everything ``tournament_view`` depends on, cheap to compare: the view is redrawn only
    when this changes (the stored facts' version, and who is in each linked running game)."""
    live = []
    for t in svc.tracks.values():
        if t.result_id is None:
            game = lobby.games.get(t.game_id)
            seats = tuple(s.session.account_name for s in game.players.values()) if game is not None else ()
            live.append((t.game_id, t.match_id, tuple(t.players), game.name if game else "", seats))
    current = svc.current
    return (current.id if current is not None else None, svc.db.version, tuple(live))


def tournament_view(data: dict | None, live: list[LiveGame], *, wide: bool = True) -> RenderableType:
    """The whole scrollable part of the tab (the confirm table sits above it): on a wide terminal
    the bracket on the left, the next matches, linked games and standings on the right."""
    if data is None:
        return Text("\n".join(HOW_TO_START))
    side: list[RenderableType] = [next_matches(data), Text(""), linked_games(live, data)]
    table = standings(data)
    if table is not None:
        side = [table, Text(""), *side]
    if not wide:
        return Group(heading(data), bracket_view(data), Text(""), *side)
    grid = Table.grid(padding=(0, 3), expand=True)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(bracket_view(data), Group(*side))
    return Group(heading(data), grid)


def pending_rows(svc: TournamentService) -> list[Row]:
    """One row per result waiting for the operator, keyed by its result id."""
    return [
        Row(
            str(r.id),
            (
                str(r.id),
                f"#{r.match_id}",
                str(r.game_id) if r.game_id else "-",
                a,
                b,
                ", ".join(r.players) or "-",
                clock(r.recorded),
            ),
        )
        for r, a, b in svc.to_confirm()
    ]
