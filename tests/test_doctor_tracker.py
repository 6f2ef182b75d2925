"""The console tracker from synthetic events: stages per console, attempts, and the diagnosis at
every point a console can stop."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from clank_lan.doctor.operator import attach_tracker, consoles_command
from clank_lan.doctor.tracker import (
    STAGES,
    ConsoleTracker,
    State,
    render_consoles,
)
from clank_lan.events import DnsQuery, EventBus, LogLine
from clank_lan.servers.lobby.service import PlayerStage

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
    stage("dme", T0 + 12, account="alice"),  # the lobby's name for the finished DME handshake
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
    assert [m.stage for m in s.stages] == [x for x in STAGES if x != "muis"][:n_events]
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


def test_render_lists_stages_with_offsets_and_the_diagnosis():
    t = fed(*UYA_FLOW[:3])
    lines = render_consoles(t.snapshot(T0 + 62), T0 + 62)
    assert lines[0].startswith(IP) and "uya-ntsc" in lines[0] and "alice" in lines[0]
    assert "(seen 60 s ago)" in lines[0]
    assert lines[1] == "  reached: DNS > MAS session +1.0s > MAS login +2.0s"
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


def test_consoles_command_before_and_after_attaching():
    engine = _fake_engine()
    assert "not running" in consoles_command(engine, [], "console")[0]
    tracker = attach_tracker(engine)
    assert engine.consoles is tracker
    assert "no console" in consoles_command(engine, [], "console")[0]
    for ev in UYA_FLOW[:4]:
        engine.bus.publish(ev)
    lines = consoles_command(engine, [], "console")
    assert lines[0].startswith(IP) and lines[2] == "  OK: in the lobby: login and lobby work."
    assert consoles_command(engine, [IP], "console") == lines
    assert consoles_command(engine, ["10.9.9.9"], "tui")[0] == "no console 10.9.9.9 has contacted clank-lan"


def test_the_hook_adds_dme_udp_when_the_dme_saw_the_consoles_udp():
    player = SimpleNamespace(state="connected", tcp_peer=f"{IP}:40000", udp_endpoint=f"{IP}:6049")
    other = SimpleNamespace(state="connected", tcp_peer="10.0.0.7:40000", udp_endpoint="")
    worlds = {1: SimpleNamespace(players=(other, player))}
    engine = _fake_engine()
    engine.dme = SimpleNamespace(world_ids=lambda: list(worlds), world_info=worlds.get)
    tracker = attach_tracker(engine)
    for ev in UYA_FLOW[:7]:  # up to the lobby's "dme"
        engine.bus.publish(ev)
    s = tracker.status(IP, T0 + 100)
    assert s.furthest == "dme-udp" and s.stages[-1].detail == f"UDP from {IP}:6049"
    engine.bus.publish(stage("dme", T0 + 20, ip="10.0.0.7"))  # this one's UDP never arrived
    s = tracker.status("10.0.0.7", T0 + 100)
    assert s.furthest == "dme-tcp" and "no UDP arrived" in s.diagnosis
