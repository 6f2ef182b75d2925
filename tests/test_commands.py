"""The one command registry on a fake engine: bans, audit, export, status paths, consoles."""

from __future__ import annotations

import csv
import time

import pytest

from clank_lan import commands
from clank_lan.commands import REGISTRY, Paths, paths_of, run_command
from clank_lan.limit_hits import CHAT_RATE, LIMIT_HITS
from tests.tui_fake import FakeEngine, fixed_state


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_consoles_lives_in_the_registry_and_reads_the_engines_tracker():
    engine = fixed_state(FakeEngine())
    assert REGISTRY["consoles"].fn.__module__ == "clank_lan.commands"
    assert REGISTRY["doctor"] is REGISTRY["consoles"]
    out = run_command(engine, "consoles")
    assert out[0].startswith("192.168.1.30") and "did not log in" in "\n".join(out)
    assert run_command(engine, "consoles 10.9.9.9")[0] == "no console 10.9.9.9 has contacted clank-lan"
    assert "consoles [IP]" in "\n".join(run_command(engine, "help"))


def test_bans_lists_who_banned_and_accounts_marks_the_banned():
    engine = fixed_state(FakeEngine())
    run_command(engine, "ban ben 30 team killing", actor="opal", origin="lobby chat from 192.168.1.40")
    lines = run_command(engine, "bans")
    assert len(lines) == 2
    assert "pest (uya)" in lines[0] and "until forever" in lines[0]
    assert "by tui (operator console (TUI))" in lines[0]
    assert "ben (uya)" in lines[1] and "until 2027-01-15 09:32:05" in lines[1]
    assert "by opal (lobby chat from 192.168.1.40)" in lines[1] and lines[1].endswith(": team killing")
    accounts = run_command(engine, "accounts")
    assert [a for a in accounts if "BANNED" in a] == [a for a in accounts if " pest" in a or " ben" in a]
    assert run_command(engine, "ban amy -5")[0].startswith("error: minutes must be between")
    assert run_command(engine, "ban amy nan")[0].startswith("error: minutes")
    assert run_command(engine, "unban ben")[0] == "lifted 1 ban(s) on ben"
    assert run_command(engine, "unban ben")[0] == "lifted 0 ban(s) on ben"
    assert [e.action for e in engine.db.audit.recent()] == ["ban", "ban", "unban"]  # not the no-op
    assert run_command(engine, "audit 2")[-1].endswith("unban ben: lifted 1 ban(s) on ben")
    assert run_command(engine, "audit 0")[0].startswith("error: COUNT")
    [pest] = engine.db.bans.listing()
    assert run_command(engine, "unban #999")[0] == "error: no ban #999"
    assert run_command(engine, f"unban #{pest.id}") == [f"lifted ban #{pest.id} on pest (uya)"]
    assert engine.db.bans.listing() == [] and engine.db.audit.recent(1)[0].target == "pest (uya)"


def test_export_writes_the_audit_trail_and_the_bans_while_running(tmp_path):
    engine = fixed_state(FakeEngine(data_dir=tmp_path))
    run_command(engine, "kick amy bye", actor="console")
    out = run_command(engine, "export")
    assert out[0].startswith("wrote 2 audit entries to ") and out[1].startswith("wrote 1 bans to ")
    [audit_file] = (tmp_path / "exports").glob("audit-*.csv")
    with audit_file.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["action"], r["actor"], r["origin"], r["target"]) for r in rows] == [
        ("ban", "tui", "operator console (TUI)", "pest"),
        ("kick", "console", "stdin console", "amy"),
    ]
    [bans_file] = (tmp_path / "exports").glob("bans-*.csv")
    with bans_file.open(encoding="utf-8") as f:
        [ban] = list(csv.DictReader(f))
    assert (ban["account"], ban["expires"], ban["banned_by"]) == ("pest (uya)", "forever", "tui")


def test_status_says_where_the_config_data_and_log_are():
    engine = FakeEngine()
    text = "\n".join(run_command(engine, "status"))
    assert "config:  /srv/clank/clank-lan.toml" in text
    assert "log:     /srv/clank/data/logs/clank-lan.log" in text
    del engine.paths  # an engine that was not told: what it knows, and no false "none"
    engine.data_dir = None
    assert paths_of(engine) == Paths(config=None, data=None, log=None, known=False)
    text = "\n".join(run_command(engine, "status"))
    assert "data:    none (in memory only)" in text
    assert "log:     not known (see the lines printed at start-up)" in text


def test_every_audited_action_names_its_origin():
    engine = fixed_state(FakeEngine())
    run_command(engine, "broadcast doors close", actor="tui")
    run_command(engine, "endgame 1", actor="console")
    run_command(engine, "kick dan", actor="opal")
    assert [(e.action, e.origin) for e in engine.db.audit.recent(3)] == [
        ("broadcast", commands.ORIGINS["tui"]),
        ("endgame", "stdin console"),
        ("kick", "lobby chat"),
    ]
    assert engine.db.audit.recent(1)[0].detail == "kicked by opal"


def test_status_lists_the_limits_that_were_hit():
    """Issue 10 item 10: every limit hit is counted and visible to the operator."""
    engine = FakeEngine()
    LIMIT_HITS.clear()
    assert "  limits hit: none" in run_command(engine, "status")
    LIMIT_HITS.hit(CHAT_RATE)
    LIMIT_HITS.hit(CHAT_RATE)
    out = run_command(engine, "status")
    assert "  limits hit: 1 kinds (see [limits])" in out and any(
        CHAT_RATE in line and ": 2" in line for line in out
    )
    LIMIT_HITS.clear()
