"""What the TUI shows, computed from the engine: table rows and one-line event texts.

Pure reads of the engine's state (no Textual, no trio), so the screen logic is tested without a
terminal. Every table row carries a stable key (session key, channel id, game id, service name)
that the table keeps across refreshes, so the operator's selection stays on the same player.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clank_lan.events import DnsQuery, LogLine, ServiceState
from clank_lan.servers.lobby.service import ChatLine, PlayerStage

if TYPE_CHECKING:
    from clank_lan.engine import Engine, ServiceStatus
    from clank_lan.servers.lobby.state import Lobby, Session

#: How far a console got, in order; the Players table shows the furthest stage reached.
STAGE_ORDER = ("muis", "mas", "login", "mls", "game-created", "game-joined", "dme")

PLAYER_COLUMNS = ("Name", "Title", "IP", "Where", "Stage")
CHANNEL_COLUMNS = ("ID", "Channel", "Title group", "Players", "Members")
GAME_COLUMNS = ("ID", "Game", "Title group", "Status", "Players", "Host")
SERVICE_COLUMNS = ("Service", "Proto", "Port", "State", "Detail")


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    cells: tuple[str, ...]


def furthest_stage(stages: set[str]) -> str:
    reached = [s for s in STAGE_ORDER if s in stages]
    return reached[-1] if reached else "-"


def where(s: Session, lobby: Lobby) -> str:
    if s.game_id is not None and s.game_id in lobby.games:
        g = lobby.games[s.game_id]
        return f"game {g.id} {g.name}"
    if s.channel_id is not None and s.channel_id in lobby.channels:
        return f"channel {lobby.channels[s.channel_id].name}"
    return "lobby"


def player_rows(lobby: Lobby) -> list[Row]:
    """Logged-in players, by session key."""
    return [
        Row(s.session_key, (s.account_name, s.title_key, s.ip, where(s, lobby), furthest_stage(s.stage)))
        for s in lobby.sessions.values()
        if s.logged_in
    ]


def channel_rows(lobby: Lobby) -> list[Row]:
    return [
        Row(
            str(c.id),
            (
                str(c.id),
                c.name,
                c.group,
                f"{len(c.members)}/{c.max_players}",
                ", ".join(sorted(m.account_name for m in c.members)),
            ),
        )
        for c in lobby.channels.values()
    ]


def game_rows(lobby: Lobby) -> list[Row]:
    return [
        Row(
            str(g.id),
            (
                str(g.id),
                g.name,
                g.group,
                g.status.name.lower().replace("_", " "),
                f"{len(g.players)}/{g.max_players}",
                g.host.account_name if g.host is not None else "-",
            ),
        )
        for g in lobby.games.values()
    ]


def service_rows(services: dict[str, ServiceStatus]) -> list[Row]:
    return [
        Row(
            s.name,
            (s.name.upper().replace("_", " "), s.protocol, str(s.port), "up" if s.up else "DOWN", s.detail),
        )
        for s in services.values()
    ]


def uptime_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def summary(engine: Engine, now: float | None = None) -> str:
    lobby = engine.lobby.lobby
    online = sum(1 for s in lobby.sessions.values() if s.logged_in)
    now = engine.wall_clock() if now is None else now
    down = sum(1 for s in engine.services.values() if not s.up)

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    parts = [
        plural(online, "player"),
        plural(len(lobby.games), "game"),
        plural(len(lobby.channels), "channel"),
        f"up {uptime_text(now - engine.started_at)}",
    ]
    if down:
        parts.append(f"{down} service{'' if down == 1 else 's'} DOWN")
    return " · ".join(parts)


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def dns_text(ev: DnsQuery) -> str:
    title = f"  [{ev.title}]" if ev.title else ""
    return f"{clock(ev.ts)}  {ev.client:<21} {ev.qtype:<5} {ev.name} -> {ev.answer}{title}"


def chat_text(ev: ChatLine) -> str:
    """Time, channel, sender (and whisper target), text."""
    sender = ev.sender + (f" -> {ev.whisper_to}" if ev.whisper_to else "")
    return f"{clock(ev.ts)}  [{ev.channel or '-'}] {sender}: {ev.text}"


def stage_text(ev: PlayerStage) -> str:
    """A step of the connection doctor, for the log pane."""
    who = ev.account or "(not logged in)"
    return f"{ev.ip} {who} reached {ev.stage}" + (f": {ev.detail}" if ev.detail else "")


def service_text(ev: ServiceState) -> str:
    if ev.ok:
        return f"{ev.service.upper()} up on {ev.address}"
    return f"{ev.service.upper()} DOWN: {ev.detail}"


def logline_text(ev: LogLine) -> str:
    return ev.text
