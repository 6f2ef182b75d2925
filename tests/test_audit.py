"""The operator audit trail (clank_lan.db.audit): durable, bounded in memory, exportable."""

from __future__ import annotations

import sqlite3

import pytest

from clank_lan.db import Database, InvalidValue
from clank_lan.db import audit as audit_module
from clank_lan.db.schema import MIGRATIONS, migrate, schema_version
from clank_lan.db.store import DB_FILENAME


def test_entries_survive_a_restart_with_who_what_when_and_where(tmp_path):
    with Database.open(tmp_path, clock=lambda: 1000.0) as db:
        db.audit.record("kick", actor="tui", origin="operator console (TUI)", target="ben", detail="too loud")
        chat = "lobby chat from 10.0.0.4"
        db.audit.record("ban", actor="opal", origin=chat, target="dan", detail="ever", ref="ban:7", now=1001)
    with Database.open(tmp_path) as db:
        [kick, ban] = db.audit.recent()
        assert (kick.ts, kick.actor, kick.origin, kick.action, kick.target, kick.detail) == (
            1000.0, "tui", "operator console (TUI)", "kick", "ben", "too loud",
        )  # fmt: skip
        assert db.audit.for_ref("ban:7") == ban and ban.actor == "opal" and ban.ts == 1001.0
        assert db.audit.for_ref("ban:8") is None
        assert db.audit.recent(1) == [ban] and db.audit.recent(0) == []
        assert [e.id for e in db.audit.export()] == [kick.id, ban.id]


def test_only_operator_actions_are_recorded_and_fields_are_bounded():
    db = Database.open(None, ephemeral=True)
    with pytest.raises(InvalidValue):
        db.audit.record("delete_everything", actor="x", origin="y")
    e = db.audit.record("broadcast", actor="tui", origin="tui", target="everyone", detail="x" * 10_000)
    assert len(e.detail) == audit_module.FIELD_LIMIT and e.detail.endswith("…")
    assert db.audit.export() == [e]  # ephemeral: the export is what memory holds


def test_memory_keeps_the_newest_entries_and_the_file_keeps_all(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_module, "MEMORY_LIMIT", 3)
    with Database.open(tmp_path) as db:
        for i in range(5):
            db.audit.record("kick", actor="tui", origin="tui", target=f"p{i}")
        assert [e.target for e in db.audit.recent()] == ["p2", "p3", "p4"]
        assert [e.target for e in db.audit.export()] == [f"p{i}" for i in range(5)]
    with Database.open(tmp_path) as db:
        assert [e.target for e in db.audit.recent()] == ["p2", "p3", "p4"]


def test_a_version_1_file_gains_the_audit_table_and_keeps_its_data(tmp_path):
    conn = sqlite3.connect(tmp_path / DB_FILENAME, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO bans (id, kind, target, reason, created) VALUES (1, 'ip', '10.0.0.9/32', 'old', 5.0)"
    )
    conn.close()
    with Database.open(tmp_path) as db:
        assert db.bans.get(1).reason == "old" and db.audit.recent() == []
        db.audit.record("unban", actor="console", origin="stdin console", target="10.0.0.9")
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    assert schema_version(conn) == len(MIGRATIONS) >= 2
    assert conn.execute("SELECT action, origin FROM audit").fetchall() == [("unban", "stdin console")]
    conn.close()
