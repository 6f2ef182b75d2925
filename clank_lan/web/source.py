"""What the web board may read: a narrow, read-only view of the appliance (``BoardSource``).

The board never touches the engine's objects directly; it asks a ``BoardSource`` for plain
records and builds one JSON-ready snapshot from them, which both the pages and the API serve. So
the board can be tested with a fake source, and the engine adapter (``EngineBoardSource``) is the
only code that knows where the lobby keeps its sessions and games.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from clank_lan.net.setup import primary_dns_line
from clank_lan.titles import title_for_app_id
from clank_lan.tournament.export import tournament_data
from clank_lan.tournament.service import TournamentService

if TYPE_CHECKING:
    from clank_lan.engine import Engine


@dataclass(frozen=True, slots=True)
class OnlinePlayer:
    name: str
    title: str  # the title's display name


@dataclass(frozen=True, slots=True)
class GameView:
    id: int
    name: str
    title: str
    status: str
    host: str
    players: tuple[str, ...]
    #: The tournament match this game is linked to, if any.
    match: int | None = None


class BoardSource(Protocol):
    def address(self) -> str:
        """The address consoles use (their Primary DNS, and what hosts.ini points at)."""
        ...

    def online(self) -> list[OnlinePlayer]: ...

    def games(self) -> list[GameView]: ...

    def tournament(self) -> TournamentService | None: ...


def setup_data(source: BoardSource) -> dict:
    address = source.address()
    return {"address": address, "line": primary_dns_line(address)}


def online_data(source: BoardSource) -> list[dict]:
    by_title: dict[str, list[str]] = {}
    for p in source.online():
        by_title.setdefault(p.title, []).append(p.name)
    return [{"title": t, "players": sorted(names, key=str.casefold)} for t, names in sorted(by_title.items())]


def games_data(source: BoardSource) -> list[dict]:
    return [
        {
            "id": g.id,
            "name": g.name,
            "title": g.title,
            "status": g.status,
            "host": g.host,
            "players": list(g.players),
            "match": g.match,
        }
        for g in source.games()
    ]


def tournament_part(source: BoardSource) -> dict | None:
    svc = source.tournament()
    return tournament_data(svc) if svc is not None else None


#: The API's parts, by name; ``snapshot`` is all of them.
PARTS = {"setup": setup_data, "online": online_data, "games": games_data, "tournament": tournament_part}


def snapshot(source: BoardSource) -> dict:
    """Everything the board shows, as JSON-ready data (the page and ``/api/board`` agree)."""
    data = {name: make(source) for name, make in PARTS.items()}
    data["online_count"] = sum(len(o["players"]) for o in data["online"])
    return data


class EngineBoardSource:
    """The running appliance as a board source (reads only)."""

    def __init__(self, engine: Engine, tournament: TournamentService | None = None) -> None:
        self._engine = engine
        self._tournament = tournament

    def address(self) -> str:
        return self._engine.addresses.advertised

    def online(self) -> list[OnlinePlayer]:
        return [
            OnlinePlayer(s.account_name, title_for_app_id(s.app_id).name)
            for s in self._engine.lobby.lobby.sessions.values()
            if s.logged_in and s.account_name
        ]

    def games(self) -> list[GameView]:
        svc = self._tournament
        return [
            GameView(
                id=g.id,
                name=g.name,
                title=title_for_app_id(g.app_id).name,
                status=g.status.name.lower(),
                host=g.host.account_name if g.host is not None else "",
                players=tuple(p.session.account_name for p in g.players.values()),
                match=svc.linked_match(g.id) if svc is not None else None,
            )
            for g in self._engine.lobby.lobby.games.values()
        ]

    def tournament(self) -> TournamentService | None:
        return self._tournament
