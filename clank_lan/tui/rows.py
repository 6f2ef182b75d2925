"""What the TUI shows, computed from the engine: table rows, detail panels and event texts.

Pure reads of the engine's state into plain strings or Rich renderables (no Textual widgets, no
trio), so the screen logic is tested without a terminal. Every table row carries a stable key
(session key, channel id, game id, console address, ban id) that the table keeps across
refreshes, so the operator's selection stays on the same player. Times are wall-clock times
(``HH:MM:SS``) or rounded durations, never offsets such as ``+-23.4s``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from clank_lan.commands import ban_target_text, when_text
from clank_lan.events import ChatLine, DnsQuery, PlayerStage
from clank_lan.stages import STAGE_LABELS, STAGES, stage_of

if TYPE_CHECKING:
    from clank_lan.dme.world import PlayerInfo, WorldInfo
    from clank_lan.doctor.tracker import ConsoleStatus
    from clank_lan.engine import Engine
    from clank_lan.servers.lobby.state import Game, Lobby, Session
    from clank_lan.tui.wire import Service


@dataclass(frozen=True, slots=True)
class Columns:
    """A table's columns, and the ones kept when the terminal is narrow (most important first)."""

    full: tuple[str, ...]
    narrow: tuple[str, ...]

    def shown(self, narrow: bool) -> tuple[str, ...]:
        return self.narrow if narrow else self.full


PLAYER_COLUMNS = Columns(("Name", "Title", "IP", "Where", "Stage"), ("Name", "Where", "IP"))
CHANNEL_COLUMNS = Columns(
    ("ID", "Channel", "Title group", "Players", "Members"), ("Channel", "Players", "Members")
)
GAME_COLUMNS = Columns(
    ("ID", "Game", "Title", "Status", "Players", "Host", "Age"), ("ID", "Game", "Status", "Players", "Host")
)
CONSOLE_COLUMNS = Columns(
    ("Console", "Account", "Title", "Stuck at", "State", "First seen", "Last seen"),
    ("Console", "Stuck at", "State", "Last seen"),
)
BAN_COLUMNS = Columns(
    ("ID", "Banned", "Kind", "Until", "Reason", "By", "From", "When"), ("Banned", "Until", "Reason", "By")
)


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    cells: tuple[str, ...]
    alert: frozenset[int] = frozenset()  # cells shown in red (a figure over its limit)


def furthest_stage(stages: set[str]) -> str:
    """The label of the furthest stage in a session's set of published stage names."""
    known = {stage_of(name) for name in stages}
    reached = [s for s in STAGES if s in known]
    return STAGE_LABELS[reached[-1]] if reached else "-"


def ago(seconds: float) -> str:
    """A duration as an operator reads it: 42 s, 3 min, 2 h 05 min."""
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


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


def occupancy(count: int, limit: int) -> str:
    """``n/max``; a count over the limit says so instead of passing for a normal figure."""
    text = f"{count}/{limit}"
    return f"{text} OVER LIMIT" if count > limit else text


def count_of(occupancy_text: str) -> int:
    """The count of an ``occupancy`` cell."""
    head = occupancy_text.split("/", 1)[0]
    return int(head) if head.isdigit() else 0


def channel_rows(lobby: Lobby) -> list[Row]:
    """Channels with the members actually connected (a dropped session is not a player)."""
    rows = []
    for c in lobby.channels.values():
        present = sorted(m.account_name for m in c.members if m.logged_in and m.online)
        alert = frozenset({3}) if len(present) > c.max_players else frozenset()
        rows.append(
            Row(
                str(c.id),
                (str(c.id), c.name, c.group, occupancy(len(present), c.max_players), ", ".join(present)),
                alert,
            )
        )
    return rows


def game_status(g: Game) -> str:
    return g.status.name.lower().replace("_", " ")


def game_rows(lobby: Lobby, now: float) -> list[Row]:
    return [
        Row(
            str(g.id),
            (
                str(g.id),
                g.name,
                g.host.title_key if g.host is not None else g.group,
                game_status(g),
                occupancy(len(g.players), g.max_players),
                g.host.account_name if g.host is not None else "-",
                ago(now - g.created_at),
            ),
            frozenset({4}) if len(g.players) > g.max_players else frozenset(),
        )
        for g in lobby.games.values()
    ]


def traffic(info: PlayerInfo, now: float) -> str:
    """A player's time in the game, round trip and relayed traffic rates (averaged since it got in)."""
    if info.joined_at is None:
        return ""
    seconds = max(now - info.joined_at, 1.0)
    ping = f"ping {info.ping_ms:.0f} ms" if info.ping_ms is not None else "ping -"
    rate_in = f"in {info.frames_in / seconds:.1f}/s {info.bytes_in / seconds / 1024:.1f} KiB/s"
    rate_out = f"out {info.frames_out / seconds:.1f}/s {info.bytes_out / seconds / 1024:.1f} KiB/s"
    return f"  in game {ago(now - info.joined_at)} · {ping} · {rate_in} · {rate_out}"


def game_detail(g: Game, world: WorldInfo | None, now: float) -> Text:
    """The selected game: who is in it, at which DME index, connected how, for how long, with what
    round trip and traffic."""
    text = Text()
    host = g.host.account_name if g.host is not None else "-"
    title = g.host.title_key if g.host is not None else g.group
    text.append(f"Game {g.id} ", style="bold")
    text.append(g.name, style="bold")
    text.append(f"  {title} · {game_status(g)} · host {host} · created {when_text(g.created_at)}")
    if g.started_at is not None:
        text.append(f" · playing for {ago(now - g.started_at)}")
    slots = {p.session_key: p for p in world.players} if world is not None else {}
    for p in sorted(g.players.values(), key=lambda p: p.index):
        info = slots.get(p.session.session_key)
        state = info.state if info is not None else ("connected" if p.connected else "joining")
        where = info.tcp_peer if info is not None and info.tcp_peer else p.session.ip
        udp = f"  UDP {info.udp_endpoint}" if info is not None and info.udp_endpoint else ""
        text.append(f"\n  #{p.index:<2} {p.session.account_name:<16} {state:<11} {where}{udp}")
        if info is not None and info.joined_at is not None:
            text.append("\n      " + traffic(info, now).strip(), style="dim")
    if not g.players:
        text.append("\n  no players", style="dim")
    return text


def console_rows(statuses: list[ConsoleStatus]) -> list[Row]:
    """One row per console the tracker saw, at any stage; times as clock times."""
    rows = []
    for s in statuses:
        furthest = s.furthest
        rows.append(
            Row(
                s.key,
                (
                    s.endpoint or s.ip,
                    s.account or "-",
                    s.title or "?",
                    STAGE_LABELS.get(furthest, furthest) if furthest else "nothing yet",
                    s.state,
                    clock(s.first_seen),
                    clock(s.last_seen),
                ),
            )
        )
    return rows


#: What the Consoles tab says before any console has shown up.
NO_CONSOLES = (
    "No console has contacted clank-lan yet.",
    "One trying to connect is not using this machine as its DNS: set its Primary DNS to the address "
    "above, or import a hosts file in PCSX2 ('clank-lan hosts-ini').",
)


def console_detail(s: ConsoleStatus, now: float) -> Text:
    """The selected console: its path with clock times, and what to do about where it stopped."""
    text = Text()
    text.append(f"{s.ip}  {s.title or 'unknown title'}  {s.account}".rstrip(), style="bold")
    text.append(f"  (last heard {ago(now - s.last_seen)} ago)")
    path = " > ".join(f"{STAGE_LABELS.get(m.stage, m.stage)} {clock(m.first)}" for m in s.stages)
    text.append(f"\nreached: {path or 'nothing yet'}")
    style = "green" if s.state == "ok" else "yellow" if s.state == "in progress" else "bold red"
    text.append(f"\n{s.state.upper()}: ", style=style)
    text.append(s.diagnosis)
    return text


def ban_rows(engine: Engine) -> list[Row]:
    """Active bans, with who made each one (from the audit trail)."""
    rows = []
    for b in engine.db.bans.listing():
        made = engine.db.audit.for_ref(f"ban:{b.id}")
        rows.append(
            Row(
                str(b.id),
                (
                    str(b.id),
                    ban_target_text(engine, b.kind, b.target),
                    str(b.kind),
                    when_text(b.expires, "forever"),
                    b.reason,
                    made.actor if made is not None else "?",
                    made.origin if made is not None else "?",
                    when_text(b.created),
                ),
            )
        )
    return rows


def services_table(services: Sequence[Service]) -> Group:
    """Each service's state in two columns, then every down one's reason in full (wrapped, never
    cut off: it says which program holds the port and how to free it)."""
    grid = Table.grid(padding=(0, 2), expand=True)
    for _ in range(2):
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
    cells = [
        (
            Text(s.name.upper().replace("_", " "), style="bold"),
            Text(f"{s.protocol} {s.port}"),
            Text("up", style="bold green") if s.up else Text("DOWN", style="bold red"),
        )
        for s in services
    ]
    half = (len(cells) + 1) // 2
    for left, right in zip(cells[:half], [*cells[half:], (Text(""), Text(""), Text(""))]):
        grid.add_row(*left, *right)
    reasons = []
    for s in services:
        if not s.up:
            reason = Text(f"{s.name.upper()} DOWN: ", style="bold red")
            reason.append(s.detail or "no reason given")
            reasons.append(reason)
    return Group(grid, *reasons)


def services_strip(services: Sequence[Service]) -> Text:
    """The services on one line (short terminals), every down one with its whole reason."""
    text = Text()
    up = [s.name.upper().replace("_", " ") for s in services if s.up]
    text.append("up: ", style="bold green")
    text.append(" ".join(up) or "none")
    for s in services:
        if not s.up:
            text.append(f"\n{s.name.upper()} DOWN: ", style="bold red")
            text.append(s.detail)
    return text


def paths_text(lines: Sequence[tuple[str, str]]) -> Text:
    """``Paths.lines()`` under the setup panel."""
    text = Text()
    for name, where in lines:
        text.append(f"\n{name}: ", style="bold")
        text.append(where)
    return text


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
    """A wall-clock time of today, local: what the operator's watch says."""
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
    stage = stage_of(ev.stage)
    label = STAGE_LABELS[stage] if stage is not None else ev.stage
    return f"{ev.ip} {who} reached {label}" + (f": {ev.detail}" if ev.detail else "")
