"""The audit trail: every operator action (kick, ban, unban, broadcast, end game) with who, what,
when and from where.

An organiser must be able to answer "who banned ben, and from which screen?" after the event, so
each action is one row written through to SQLite like the rest of the database. Entries are never
edited or deleted by the appliance. Memory holds only the newest ``MEMORY_LIMIT`` entries (what
the TUI and the ``audit`` command show); ``export`` reads the file for the full history.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from clank_lan.db.errors import InvalidValue
from clank_lan.db.store import Change, Store

#: Newest entries kept in memory; older ones stay in the file (``export`` reads them).
MEMORY_LIMIT = 5000
#: Longest text kept per field: a chat line or a broadcast can be long, a database row need not be.
FIELD_LIMIT = 512

ACTIONS = frozenset({"kick", "ban", "unban", "broadcast", "endgame", "tournament"})


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One operator action. ``ref`` links it to what it made ("ban:12"), "" when nothing."""

    id: int
    ts: float
    actor: str  # "tui", "console", or the operator's account name
    origin: str  # where it was typed: "tui", "stdin console", "lobby chat from 10.0.0.5"...
    action: str  # one of ACTIONS
    target: str  # account name, game id, "everyone"
    detail: str  # reason, message text, ban length, or the command's answer
    ref: str = ""


def _clip(text: str) -> str:
    return text if len(text) <= FIELD_LIMIT else text[: FIELD_LIMIT - 1] + "…"


class AuditTrail:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._recent: deque[AuditEntry] = deque(maxlen=MEMORY_LIMIT)

    def record(
        self,
        action: str,
        *,
        actor: str,
        origin: str,
        target: str = "",
        detail: str = "",
        ref: str = "",
        now: float | None = None,
    ) -> AuditEntry:
        """Write one entry (durable when this returns)."""
        if action not in ACTIONS:
            raise InvalidValue(f"{action!r} is not an audited action")
        entry = AuditEntry(
            id=self._store.new_id("audit"),
            ts=self._clock() if now is None else now,
            actor=_clip(actor),
            origin=_clip(origin),
            action=action,
            target=_clip(target),
            detail=_clip(detail),
            ref=_clip(ref),
        )
        change = Change()
        change.sql(
            "INSERT INTO audit (id, ts, actor, origin, action, target, detail, ref)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            entry.id,
            entry.ts,
            entry.actor,
            entry.origin,
            entry.action,
            entry.target,
            entry.detail,
            entry.ref,
        )
        self._store.commit(change)
        self._recent.append(entry)
        return entry

    def recent(self, limit: int | None = None) -> list[AuditEntry]:
        """The newest entries in memory, oldest first (at most ``limit``)."""
        items = list(self._recent)
        return items if limit is None else items[-limit:] if limit > 0 else []

    def for_ref(self, ref: str) -> AuditEntry | None:
        """The newest in-memory entry that made ``ref`` (who created ban 12)."""
        for entry in reversed(self._recent):
            if entry.ref == ref:
                return entry
        return None

    def export(self) -> list[AuditEntry]:
        """The whole trail: read from the file when there is one, else what memory holds."""
        conn = self._store.connection
        if conn is None:
            return list(self._recent)
        return [AuditEntry(*row) for row in conn.execute(_SELECT + " ORDER BY id")]

    def load(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(_SELECT + " ORDER BY id DESC LIMIT ?", (MEMORY_LIMIT,)).fetchall()
        self._recent.extend(AuditEntry(*row) for row in reversed(rows))


_SELECT = "SELECT id, ts, actor, origin, action, target, detail, ref FROM audit"
