"""Plugging the tournament service into a running appliance (the engine calls these).

The service stays socket- and engine-free; this module is the one place that knows where the
engine keeps what it needs: the lobby's admission hook, the players' stored ladder stats, the
game table it follows once a second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import trio

from clank_lan.db.tournament import TournamentDb
from clank_lan.tournament.service import StatsReader, TournamentService

if TYPE_CHECKING:
    from clank_lan.engine import Engine

SYNC_INTERVAL = 1.0


def stats_reader(engine: Engine) -> StatsReader:
    """A logged-in player's title family and stored wide ladder stats, by account name."""

    def read(name: str) -> tuple[str, Sequence[int]] | None:
        s = engine.lobby.lobby.by_name(name)
        if s is None or not s.account_id:
            return None
        account = engine.db.accounts.get(s.account_id)
        return (s.namespace, account.wide) if account is not None else None

    return read


def attach_tournament(
    engine: Engine, db: TournamentDb, *, audit_hook: Callable[[str, str, str], None] | None = None
) -> TournamentService:
    """The tournament service on ``db``, installed as the lobby's admission policy.
    ``audit_hook(actor, action, detail)`` also gets every tournament audit entry."""
    svc = TournamentService(
        db,
        clock=engine.wall_clock,
        accounts=engine.db.accounts,
        stats_reader=stats_reader(engine),
        audit_hook=audit_hook,
    )
    engine.lobby.deps.admission = svc
    return svc


def sync_now(engine: Engine, svc: TournamentService) -> None:
    """One housekeeping step: follow the lobby's game table."""
    svc.sync_games(engine.lobby.lobby.games.values(), engine.wall_clock())


async def follow_games(
    engine: Engine, svc: TournamentService, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run ``sync_now`` every ``SYNC_INTERVAL`` seconds until cancelled (for ``engine.run(extra=...)``,
    if the engine's own housekeeping does not call ``sync_now``)."""
    task_status.started()
    while True:
        await trio.sleep(SYNC_INTERVAL)
        sync_now(engine, svc)
