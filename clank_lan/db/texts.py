"""Announcements and policy (EULA / privacy) texts, per namespace with a global default.

Announcements: a namespace sees the global ones (namespace ``GLOBAL``) and its own, oldest first.
Policies: a namespace's own text of a kind, else the global one, else "".
Texts are stored whole; splitting into wire-sized chunks is the handler's job.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from clank_lan.db.records import GLOBAL, Announcement, PolicyKind, check_text, coerce
from clank_lan.db.store import Change, Store


class Announcements:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._items: dict[int, Announcement] = {}

    def for_namespace(self, namespace: str) -> list[Announcement]:
        """Global and ``namespace`` announcements, oldest first (GetAllAnnouncements)."""
        return [a for a in self._items.values() if a.namespace in (GLOBAL, namespace)]

    def latest(self, namespace: str) -> Announcement | None:
        """The newest announcement ``namespace`` sees (GetAnnouncements)."""
        seen = self.for_namespace(namespace)
        return seen[-1] if seen else None

    def listing(self) -> list[Announcement]:
        """Every announcement of every namespace, oldest first."""
        return list(self._items.values())

    def add(self, text: str, *, namespace: str = GLOBAL, now: float | None = None) -> Announcement:
        check_text(text, None, "an announcement")
        created = self._clock() if now is None else now
        ann_id = self._store.new_id("announcements")
        change = Change()
        change.sql(
            "INSERT INTO announcements (id, namespace, text, created) VALUES (?, ?, ?, ?)",
            ann_id,
            namespace,
            text,
            created,
        )
        self._store.commit(change)
        ann = self._items[ann_id] = Announcement(id=ann_id, namespace=namespace, text=text, created=created)
        return ann

    def delete(self, announcement_id: int) -> bool:
        if announcement_id not in self._items:
            return False
        change = Change()
        change.sql("DELETE FROM announcements WHERE id = ?", announcement_id)
        self._store.commit(change)
        del self._items[announcement_id]
        return True

    def load(self, conn: sqlite3.Connection) -> None:
        for aid, ns, text, created in conn.execute(
            "SELECT id, namespace, text, created FROM announcements ORDER BY id"
        ):
            self._items[aid] = Announcement(id=aid, namespace=ns, text=text, created=created)


class Policies:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._texts: dict[tuple[str, PolicyKind], str] = {}

    def get(self, namespace: str, kind: PolicyKind = PolicyKind.USAGE) -> str:
        """The policy a client of ``namespace`` is shown."""
        kind = coerce(PolicyKind, kind)
        text = self._texts.get((namespace, kind))
        return self._texts.get((GLOBAL, kind), "") if text is None else text

    def listing(self) -> dict[tuple[str, PolicyKind], str]:
        """Every stored text by (namespace, kind)."""
        return dict(self._texts)

    def set(self, text: str, *, namespace: str = GLOBAL, kind: PolicyKind = PolicyKind.USAGE) -> None:
        kind = coerce(PolicyKind, kind)
        check_text(text, None, "a policy text")
        change = Change()
        change.sql(
            "INSERT INTO policies (namespace, kind, text) VALUES (?, ?, ?)"
            " ON CONFLICT (namespace, kind) DO UPDATE SET text = excluded.text",
            namespace,
            int(kind),
            text,
        )
        self._store.commit(change)
        self._texts[(namespace, kind)] = text

    def delete(self, *, namespace: str = GLOBAL, kind: PolicyKind = PolicyKind.USAGE) -> bool:
        """Remove a stored text (a namespace then falls back to the global one)."""
        kind = coerce(PolicyKind, kind)
        if (namespace, kind) not in self._texts:
            return False
        change = Change()
        change.sql("DELETE FROM policies WHERE namespace = ? AND kind = ?", namespace, int(kind))
        self._store.commit(change)
        del self._texts[(namespace, kind)]
        return True

    def load(self, conn: sqlite3.Connection) -> None:
        for ns, kind, text in conn.execute("SELECT namespace, kind, text FROM policies"):
            self._texts[(ns, PolicyKind(kind))] = text
