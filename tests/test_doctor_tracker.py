"""The console tracker from synthetic events: stages per console, attempts, and the diagnosis at
every point a console can stop."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from clank_lan.dnas.events import DnasRefused, DnasRequest
from clank_lan.doctor.operator import attach_tracker
from clank_lan.doctor.tracker import (
    ConsoleTracker,
    State,
    render_consoles,
)
from clank_lan.events import DnsQuery, EventBus, LogLine, PlayerStage
from clank_lan.stages import STAGES, Stage, stage_of

IP = "192.168.1.23"
T0 = 1_000_000.0
UYA_NAME = "ratchet3-prod1.pdonline.scea.com"
DL_NAME = "ratchetdl-prod.pdonline.scea.com"


def dns(
    name: str, ts: float = T0, *, ip: str = IP, title: str | None = "uya-ntsc", answer: str = "192.168.1.50"
):
    return DnsQuery(ts=ts, client=f"{ip}:5353", name=name, qtype="A", answer=answer, title=title)


def stage(name: str, ts: float, *, ip: str = IP, account: str = "", title: str = "", detail: str = ""):
    return PlayerStage(ts=ts, ip=ip, stage=name, account=account, title=title, detail=detail)


def fed(*events, ports=None) -> ConsoleTracker:
    t = ConsoleTracker(ports)
    for ev in events:
        t.feed(ev)
    return t


UYA_FLOW = [
    dns(UYA_NAME, T0),
    stage("mas", T0 + 1, title="uya-ntsc"),
    stage("login", T0 + 2, account="alice", title="uya-ntsc"),
    stage("mls", T0 + 3, account="alice", title="uya-ntsc"),
    stage("game-created", T0 + 10, account="alice"),
    stage("game-joined", T0 + 11, account="alice"),
    stage("dme-tcp", T0 + 12, account="alice"),  # the finished DME handshake
    stage("dme-udp", T0 + 12.5, account="alice"),
]


@pytest.mark.parametrize(
    ("n_events", "furthest", "state", "words"),
    [
        (1, "dns", State.STUCK, ["never connected to the MAS on TCP 10075", "answered 192.168.1.50"]),
        (2, "mas", State.STUCK, ["did not log in", "auto_create"]),
        (3, "login", State.STUCK, ["never reached the MLS on TCP 10078", "advertised_address"]),
        (4, "mls", State.OK, ["in the lobby"]),
        (5, "game-created", State.STUCK, ["never joined"]),
        (6, "game-joined", State.STUCK, ["never reached the DME on TCP 10079"]),
        (7, "dme-tcp", State.STUCK, ["no UDP arrived on UDP 50000", "firewall"]),
        (8, "dme-udp", State.OK, ["DME TCP and UDP connected"]),
    ],
)
def test_diagnosis_at_each_stop_point_of_a_uya_console(n_events, furthest, state, words):
    t = fed(*UYA_FLOW[:n_events])
    (s,) = t.snapshot(now=T0 + 100)
    assert (s.ip, s.furthest, s.state) == (IP, furthest, state)
    assert [m.stage for m in s.stages] == [x for x in STAGES if x not in ("muis", "dnas")][:n_events]
    for w in words:
        assert w in s.diagnosis, (w, s.diagnosis)
    assert s.title == "uya-ntsc"
    assert s.account == ("alice" if n_events >= 3 else "")


def test_a_muis_title_is_told_to_check_the_muis_port_and_then_the_mas_port():
    t = fed(dns(DL_NAME, title="dl-ntsc"), ports={"muis": 10171, "mas": 10175})
    (s,) = t.snapshot(T0 + 60)
    assert "never connected to the MUIS on TCP 10171" in s.diagnosis
    t.feed(stage("muis", T0 + 61))
    (s,) = t.snapshot(T0 + 200)
    assert s.furthest == "muis" and "never reached the MAS on TCP 10175" in s.diagnosis


def test_ports_come_from_a_callable_like_engine_port():
    ports = {"mls": 20078}
    t = fed(*UYA_FLOW[:3], ports=ports.__getitem__)
    assert "TCP 20078" in t.snapshot(T0 + 100)[0].diagnosis


def test_recent_progress_is_in_progress_and_becomes_stuck_after_the_stall_time():
    t = fed(*UYA_FLOW[:2])
    assert t.snapshot(T0 + 1 + 5)[0].state == State.IN_PROGRESS
    assert t.snapshot(T0 + 1 + 20)[0].state == State.STUCK


def test_only_dnas_names_means_dnas_did_not_pass():
    t = fed(dns("gate1.us.dnas.playstation.org", title=None))
    (s,) = t.snapshot(T0 + 60)
    assert s.furthest == "dns" and "DNAS" in s.diagnosis and "dnas_address" in s.diagnosis


def test_forwarded_lookups_of_other_names_are_not_consoles():
    t = fed(
        dns("www.example.org", title=None, answer="forwarded"),
        dns("pool.ntp.org", title=None, answer="NXDOMAIN"),
    )
    assert t.snapshot(T0) == []
    t.feed(dns("unknown-game.pdonline.scea.com", title=None, answer="192.168.1.50"))  # a wildcard hit
    assert [s.ip for s in t.snapshot(T0)] == [IP]


def test_a_console_that_never_asked_our_dns_gets_a_note():
    t = fed(stage("mas", T0), stage("login", T0 + 1, account="bob"))
    (s,) = t.snapshot(T0 + 60)
    assert s.furthest == "login" and "never asked this DNS server" in s.diagnosis


def test_coming_back_to_an_earlier_stage_starts_a_new_attempt():
    t = fed(*UYA_FLOW)
    t.feed(stage("mls", T0 + 50, account="alice"))  # back in the lobby after the game
    (s,) = t.snapshot(T0 + 60)
    assert [m.stage for m in s.stages] == ["dns", "mas", "login", "mls"]
    assert s.state == State.OK
    t.feed(stage("mas", T0 + 70))  # a fresh login: the old lobby stage is no longer current
    (s,) = t.snapshot(T0 + 100)
    assert s.furthest == "mas" and s.first_seen == T0 and s.last_seen == T0 + 70
    mas = s.stages[1]
    assert (mas.first, mas.last) == (T0 + 1, T0 + 70)


def test_dns_repeats_do_not_reset_and_keep_the_names_asked():
    t = fed(*UYA_FLOW[:4], dns(UYA_NAME, T0 + 30), dns("gate1.us.dnas.playstation.org", T0 + 31, title=None))
    (s,) = t.snapshot(T0 + 40)
    assert s.furthest == "mls"
    assert s.dns_names == (UYA_NAME, "gate1.us.dnas.playstation.org")
    assert s.dns_answer == "192.168.1.50"
    assert s.stages[0].first == T0 and s.stages[0].last == T0 + 31


def test_consoles_are_separate_and_listed_most_recent_first():
    t = fed(
        dns(UYA_NAME, T0, ip="10.0.0.2"),
        dns(UYA_NAME, T0 + 5, ip="10.0.0.3"),
        stage("mas", T0 + 1, ip="10.0.0.2"),
    )
    assert [s.ip for s in t.snapshot(T0 + 10)] == ["10.0.0.3", "10.0.0.2"]
    assert t.status("10.0.0.2", T0 + 10).furthest == "mas"
    assert t.status("10.0.0.9", T0 + 10) is None
    assert t.forget("10.0.0.2") and not t.forget("10.0.0.2")


def test_the_console_seen_longest_ago_is_forgotten_first():
    t = ConsoleTracker(max_consoles=3)
    for i in range(5):
        t.feed(stage("mas", T0 + i, ip=f"10.0.0.{i}"))
    assert sorted(s.ip for s in t.snapshot(T0 + 10)) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]


def test_unknown_stages_and_other_events_are_ignored_and_never_raise():
    t = fed(
        LogLine(ts=T0, level="info", source="x", text="hello"),
        stage("teleported", T0),
        SimpleNamespace(ts=T0, ip=None, stage="mas"),
        SimpleNamespace(stage="mas"),  # no ts: a broken event must not reach the publisher
    )
    assert t.snapshot(T0) == []


def test_render_lists_stages_with_clock_times_and_the_diagnosis():
    t = fed(*UYA_FLOW[:3])
    lines = render_consoles(t.snapshot(T0 + 62), T0 + 62)
    assert lines[0].startswith(IP) and "uya-ntsc" in lines[0] and "alice" in lines[0]
    assert "(seen 60 s ago)" in lines[0]
    clock = [time.strftime("%H:%M:%S", time.localtime(T0 + dt)) for dt in (0, 1, 2)]
    assert lines[1] == f"  reached: DNS {clock[0]} > MAS session {clock[1]} > MAS login {clock[2]}"
    assert "+-" not in lines[1]
    assert lines[2].startswith("  STUCK: logged in but never reached the MLS")
    assert len(lines) == 3


def test_render_with_nobody_says_the_dns_is_not_this_machine():
    lines = render_consoles([], T0, dns_address="192.168.1.50")
    assert "no console" in lines[0]
    assert "DNS is not this machine" in lines[1] and "192.168.1.50" in lines[1]


def _fake_engine():
    return SimpleNamespace(
        bus=EventBus(),
        port={"mls": 10078, "mas": 10075, "dme_tcp": 10079, "dme_udp": 50000}.__getitem__,
        wall_clock=lambda: T0 + 100,
        addresses=SimpleNamespace(advertised="192.168.1.50"),
        dme=None,
    )


def test_the_attached_tracker_follows_the_bus():
    """(The ``consoles`` command itself moved to commands.py and is tested with it.)"""
    engine = _fake_engine()
    tracker = attach_tracker(engine)
    assert "no console" in render_consoles(tracker.snapshot(T0 + 100), T0 + 100)[0]
    for ev in UYA_FLOW[:4]:
        engine.bus.publish(ev)
    lines = render_consoles(tracker.snapshot(T0 + 100), T0 + 100)
    assert lines[0].startswith(IP) and lines[2] == "  OK: in the lobby: login and lobby work."


def test_the_hook_adds_dme_udp_when_the_dme_saw_the_consoles_udp():
    player = SimpleNamespace(state="connected", tcp_peer=f"{IP}:40000", udp_endpoint=f"{IP}:6049")
    other = SimpleNamespace(state="connected", tcp_peer="10.0.0.7:40000", udp_endpoint="")
    worlds = {1: SimpleNamespace(players=(other, player))}
    engine = _fake_engine()
    engine.dme = SimpleNamespace(world_ids=lambda: list(worlds), world_info=worlds.get)
    tracker = attach_tracker(engine)
    for ev in UYA_FLOW[:7]:  # up to the DME TCP stage
        engine.bus.publish(ev)
    s = tracker.status(IP, T0 + 100)
    assert s.furthest == "dme-udp" and s.stages[-1].detail == f"UDP from {IP}:6049"
    engine.bus.publish(stage("dme-tcp", T0 + 20, ip="10.0.0.7"))  # this one's UDP never arrived
    s = tracker.status("10.0.0.7", T0 + 100)
    assert s.furthest == "dme-tcp" and "no UDP arrived" in s.diagnosis


def test_a_prerelease_build_stopping_at_the_dme_is_told_the_dme_format_is_not_handled():
    t = fed(
        stage("mls", T0, account="tester", title="uya-beta"),
        stage("game-joined", T0 + 5, account="tester"),
    )
    s = t.status(IP, T0 + 100)
    assert s.state == State.STUCK and "older DME packet format" in s.diagnosis
    retail = fed(stage("mls", T0, title="uya-ntsc"), stage("game-joined", T0 + 5)).status(IP, T0 + 100)
    assert "older DME" not in retail.diagnosis and "TCP 10079" in retail.diagnosis


def test_the_stage_vocabulary_is_one_enum_with_the_lobbys_alias():
    assert stage_of("dme-tcp") is Stage.DME_TCP and stage_of("mls") is Stage.MLS
    assert stage_of("dme") is None and stage_of("nope") is None
    assert list(STAGES) == [s.value for s in Stage]


def _dnas(ts: float, *, answered: bool = True, game_id: str = "0123456789abcdef") -> DnasRequest:
    return DnasRequest(
        ts=ts,
        client=f"{IP}:5000",
        region="us",
        query="i-connect",
        game_id=game_id,
        query_type="00000001",
        answered=answered,
        protocol="SSL 2.0 RC4-128-MD5",
    )


def test_dnas_is_a_stage_between_dns_and_the_mas():
    t = fed(dns(UYA_NAME, T0), _dnas(T0 + 1))
    (s,) = t.snapshot(now=T0 + 100)
    assert s.furthest == "dnas" and s.state == State.STUCK
    assert "passed DNAS but never connected to the MAS on TCP 10075" in s.diagnosis
    assert "game 0123456789abcdef: answered" in s.stages[-1].detail
    t.feed(stage("mas", T0 + 2, title="uya-ntsc"))
    assert [m.stage for m in t.snapshot(T0 + 3)[0].stages] == ["dns", "dnas", "mas"]


def test_an_unknown_dnas_game_is_named_for_a_report():
    gate = dns("gate1.us.dnas.playstation.org", T0, title=None)
    t = fed(gate, _dnas(T0 + 1, answered=False, game_id="ffff"))
    (s,) = t.snapshot(now=T0 + 100)
    assert "no recorded answer for game id ffff" in s.diagnosis and "report" in s.diagnosis


def test_a_failed_dnas_connection_is_the_diagnosis_when_nothing_else_happened():
    t = fed(dns("gate1.us.dnas.playstation.org", T0, title=None))
    assert "never reached our DNAS gateway on TCP 443" in t.snapshot(T0 + 100)[0].diagnosis
    t.feed(DnasRefused(ts=T0 + 1, client=f"{IP}:5001", reason="garbage instead of a hello"))
    assert "garbage instead of a hello" in t.snapshot(T0 + 100)[0].diagnosis


def _session_stage(name, ts, *, session, account="", port=40000):
    return PlayerStage(
        ts=ts, ip=IP, port=port, stage=name, account=account, title="uya-ntsc", session=session
    )


def test_two_consoles_behind_one_router_are_two_rows_with_their_endpoints():
    t = fed(
        dns(UYA_NAME, T0),
        _session_stage("mas", T0 + 1, session="s1", port=50001),
        _session_stage("login", T0 + 2, session="s1", account="alice", port=50001),
        _session_stage("mls", T0 + 3, session="s1", account="alice", port=50002),
        dns(UYA_NAME, T0 + 10),  # the second console, same public address
        _session_stage("mas", T0 + 11, session="s2", port=50010),
        _session_stage("login", T0 + 12, session="s2", account="bob", port=50010),
    )
    rows = {s.account: s for s in t.snapshot(T0 + 30)}
    assert set(rows) == {"alice", "bob"}
    assert rows["alice"].furthest == "mls" and rows["alice"].endpoint == f"{IP}:50002"
    assert rows["bob"].furthest == "login" and rows["bob"].endpoint == f"{IP}:50010"
    assert rows["alice"].key != rows["bob"].key and rows["alice"].ip == rows["bob"].ip == IP
    assert t.status(rows["bob"].key, T0 + 30).account == "bob"
    assert render_consoles([rows["bob"]], T0 + 30)[0].startswith(f"{IP}:50010")


def test_a_new_session_of_the_same_account_is_the_same_console():
    t = fed(
        _session_stage("mas", T0, session="s1"),
        _session_stage("login", T0 + 1, session="s1", account="alice"),
        _session_stage("mls", T0 + 2, session="s1", account="alice"),
        _session_stage("mas", T0 + 50, session="s9"),  # logs in again later
        _session_stage("login", T0 + 51, session="s9", account="Alice"),
    )
    (s,) = t.snapshot(T0 + 60)
    assert s.furthest == "login" and [m.stage for m in s.stages] == ["mas", "login"]
