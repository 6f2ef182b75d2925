"""What the operator console is sent of the engine: the answer to each of its polls.

Pure reads of the engine's state in the engine's process (no Textual, no I/O): rows, panel data
and the lines since the last poll, plain enough to cross a socket. The console draws them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from clank_lan.commands import audit_line
from clank_lan.events import ChatLine, DnsQuery, Event, PlayerStage
from clank_lan.tournament.export import tournament_data
from clank_lan.tui import rows
from clank_lan.tui import tournament as cup
from clank_lan.tui.feed import Inbox, LogRecordView
from clank_lan.tui.wire import Cup, PaneLine, Poll, Service, Styled, View

if TYPE_CHECKING:
    from clank_lan.engine import Engine

log = logging.getLogger("clank_lan.tui")

AUDIT_LINES = 8  # the newest operator actions, shown under the bans
#: Events and log lines in one poll that make it a storm (80 a second: 200 consoles logging in and
#: chatting). A poll that is not ``full`` gets the tables when something happened, but in a storm
#: only the console's once-a-second full poll does: building them is the engine's time.
STORM_EVENTS = 20


def pane_lines(events: list[Event]) -> tuple[list[PaneLine], list[LogRecordView]]:
    """Bus events as the DNS and Chat panes show them; a connection-doctor stage goes to the log
    pane. (ServiceState and LogLine also arrive as log records: the engine logs what it publishes.)"""
    lines: list[PaneLine] = []
    records: list[LogRecordView] = []
    for ev in events:
        if isinstance(ev, DnsQuery):
            failed = ev.answer in ("NXDOMAIN", "REFUSED", "SERVFAIL")
            style = "red" if failed else ("green" if ev.title else "")
            lines.append(PaneLine("dns", rows.dns_text(ev), style))
        elif isinstance(ev, ChatLine):
            lines.append(PaneLine("chat", rows.chat_text(ev)))
        elif isinstance(ev, PlayerStage):
            records.append(LogRecordView(ev.ts, "info", "stage", rows.stage_text(ev)))
    return lines, records


def tables_of(engine: Engine, now: float) -> dict[str, list[rows.Row]]:
    lobby = engine.lobby.lobby
    return {
        "players-table": rows.player_rows(lobby),
        "channels-table": rows.channel_rows(lobby),
        "games-table": rows.game_rows(lobby, now),
        "consoles-table": rows.console_rows(engine.consoles.snapshot(now)),
        "bans-table": rows.ban_rows(engine),
        "pending-table": cup.pending_rows(engine.tournament),
    }


def build_view(engine: Engine, poll: Poll, events: Inbox[Event], logs: Inbox[LogRecordView]) -> View:
    """One poll's answer: every table, the panels, and what the inboxes gathered since the last."""
    now = engine.wall_clock()
    lobby = engine.lobby.lobby
    lines, records = pane_lines(events.drain())
    records.extend(logs.drain())
    records.sort(key=lambda r: r.ts)  # stable: one source's order is kept
    news = len(lines) + len(records)
    tables = tables_of(engine, now) if poll.full or 0 < news < STORM_EVENTS else {}
    entries = engine.db.audit.recent(AUDIT_LINES)
    key = repr(cup.view_key(engine.tournament, lobby))
    return View(
        id=poll.id,
        now=now,
        tables=tables,
        services=[Service(s.name, s.protocol, s.port, s.up, s.detail) for s in engine.services.values()],
        address=engine.addresses.advertised,
        summary=rows.summary(engine, now),
        dropped=events.dropped + logs.dropped + engine.bus.dropped,
        online=sum(1 for s in lobby.sessions.values() if s.online),
        logged_in=sum(1 for s in lobby.sessions.values() if s.logged_in),
        detail=_detail(engine, poll, now),
        audit_newest=entries[-1].id if entries else 0,
        audit=[audit_line(e) for e in reversed(entries)],
        cup=None
        if key == poll.cup_key
        else Cup(key, tournament_data(engine.tournament), cup.live_games(engine.tournament, lobby)),
        lines=lines,
        records=records,
    )


def _detail(engine: Engine, poll: Poll, now: float) -> Styled | None:
    """The detail panel under the Games or the Consoles table, for the tab in sight."""
    if poll.tab == "games" and poll.game is not None:
        known = poll.game.isascii() and poll.game.isdigit()
        game = engine.lobby.lobby.games.get(int(poll.game)) if known else None
        if game is None:
            return None
        world = engine.dme.world_info(game.dme_world_id) if game.dme_world_id is not None else None
        return Styled.of(rows.game_detail(game, world, now))
    if poll.tab == "consoles" and poll.console is not None:
        status = engine.consoles.status(poll.console, now)
        return Styled.of(rows.console_detail(status, now)) if status is not None else None
    return None
