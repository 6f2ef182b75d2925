"""The lobby against a hostile console, in memory (the lobby harness): forged and guessed session
keys, and the chat, game-creation and account-creation rates. Each attack is refused, logged a
bounded number of times and counted, and the victim (a well-behaved console) keeps playing."""

from __future__ import annotations

import logging
import os
import string

import pytest

from clank_lan import limit_hits as lh
from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import game as mg
from clank_lan.protocol.medius import lobby as ml
from clank_lan.protocol.medius import session as ms
from clank_lan.servers.lobby.state import Lobby
from clank_lan.titles import title_for_app_id

from .test_lobby_harness import Console, Net, S, open_net

ATTACKER_IP = "10.9.9.9"


@pytest.fixture
def net():
    yield from open_net()


@pytest.fixture
def hits(net: Net) -> lh.LimitHits:
    """The lobby's hit counters, fresh for the test."""
    counters = lh.LimitHits()
    net.svc.limits.refused.hits = counters
    return counters


def warnings_about(caplog, ip: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and ip in r.getMessage()]


def chat(c: Console, text: str) -> None:
    assert c.mls is not None
    c.send(c.mls, ml.ChatMessage(message_id=c.mid(), message_type=0, text=text))


def test_session_keys_are_random_full_width_and_not_sequential():
    lobby = Lobby(os.urandom)
    keys = [lobby.new_session(**_session_fields()).session_key for _ in range(200)]
    assert len(set(keys)) == 200
    assert all(len(k) == 16 for k in keys)  # the 17-byte field with its NUL
    assert not any(k.isdigit() for k in keys)
    alphabet = set("".join(keys))
    assert len(alphabet) > 50 and alphabet <= set(string.ascii_letters + string.digits + "+/")


def _session_fields() -> dict:
    return dict(
        app_id=10684,
        title=title_for_app_id(10684),
        group="uya",
        namespace="uya",
        medius_version=108,
        ip="10.0.0.2",
        created_at=0.0,
    )


def test_find_wants_the_exact_access_key_and_never_falls_back_to_the_session_key(net: Net):
    victim = Console(net)
    victim.login("victim")
    s = victim.session
    lobby = net.svc.lobby
    assert lobby.find(s.access_key, s.session_key) is s
    assert lobby.find(s.access_key) is s
    assert lobby.find("AAAAAAAAAAAAAAAA", s.session_key) is None
    assert lobby.find("", s.session_key) is None
    assert lobby.find(s.access_key.lower(), s.session_key) is None
    assert lobby.find(s.access_key, "not-its-session") is None


def test_forged_and_guessed_keys_on_mls_and_mas_are_refused_logged_and_the_victim_plays(
    net: Net, hits: lh.LimitHits, caplog
):
    caplog.set_level(logging.INFO, "clank_lan")
    victim = Console(net)
    victim.login("victim")
    s = victim.session
    attacker = Console(net, ip=ATTACKER_IP)
    attacker.begin()
    assert attacker.mas is not None
    attacker.one(attacker.mas, ma.AccountLoginRequest(message_id="x", username="evil", password="pw"))
    guesses = [str(n) for n in range(1, 201)] + [s.session_key]
    for guess in guesses:
        conn, refusal = attacker.connect("mls", access_key="AAAAAAAAAAAAAAAA", session_key=guess)
        assert refusal is not None and conn.session is None
        mas, refusal = attacker.connect("mas", access_key="AAAAAAAAAAAAAAAA", session_key=guess)
        assert refusal is None and mas.session is None  # a MAS connection may still begin its own
    # the victim's session is untouched and it keeps chatting and creating games
    assert s.account_name == "victim" and s in net.svc.lobby.sessions.values()
    assert all(c.session is s for c in s.connections)
    assert victim.mls is not None and victim.mls.closed is None
    answer = victim.one(victim.mls, mg.CreateGame1Request(message_id="g", game_name="mine", max_players=8))
    assert answer.status == S.SUCCESS
    assert hits[lh.FORGED_SESSION] == 2 * len(guesses)
    logged = warnings_about(caplog, ATTACKER_IP)
    assert logged and any("forged" in line for line in logged)
    limits = net.config.limits
    assert len(logged) <= limits.log_lines_per_peer  # one window: rate-limited per address


def test_a_session_end_on_a_forged_mas_connection_does_not_end_the_victim(net: Net):
    victim = Console(net)
    victim.login("victim")
    s = victim.session
    attacker = Console(net, ip=ATTACKER_IP)
    mas, _ = attacker.connect("mas", access_key="AAAAAAAAAAAAAAAA", session_key=s.session_key)
    attacker.send(mas, ms.SessionEndRequest(message_id="1"))
    assert s in net.svc.lobby.sessions.values() and victim.mls is not None and victim.mls.closed is None


def test_a_chat_flood_is_cut_to_the_rate_and_others_still_chat(net: Net, hits: lh.LimitHits, caplog):
    caplog.set_level(logging.INFO, "clank_lan")
    flooder, listener = Console(net, ip=ATTACKER_IP), Console(net)
    flooder.login("flooder")
    listener.login("listener")
    assert listener.mls is not None and flooder.mls is not None
    listener.mls.inbox.clear()
    for n in range(1000):  # all in the same instant
        chat(flooder, f"spam {n}")
    forwarded = [m for m in listener.mls.take() if isinstance(m, ml.ChatFwdMessage)]
    burst = net.config.limits.chat_burst
    assert len(forwarded) == burst
    assert hits[lh.CHAT_RATE] == 1000 - burst
    assert len([r for r in caplog.records if "chat line dropped" in r.getMessage()]) <= 10
    net.tick(5.0)  # the bucket refills: a person typing is never held back
    chat(listener, "hello")
    assert "hello" in [m.text for m in flooder.mls.take() if isinstance(m, ml.ChatFwdMessage)]
    chat(flooder, "sorry")
    assert "sorry" in [m.text for m in listener.mls.take() if isinstance(m, ml.ChatFwdMessage)]


def test_game_creation_is_limited_per_session(net: Net, hits: lh.LimitHits):
    c = Console(net, ip=ATTACKER_IP)
    c.login("maker")
    assert c.mls is not None
    per_minute = net.config.limits.game_creations_per_minute
    statuses = [
        c.one(c.mls, mg.CreateGame1Request(message_id=c.mid(), game_name=f"g{n}", max_players=8)).status
        for n in range(per_minute + 5)
    ]
    assert statuses[:per_minute] == [S.SUCCESS] * per_minute
    assert set(statuses[per_minute:]) == {S.EXCEEDS_MAX_WORLDS}
    assert hits[lh.GAME_CREATION_RATE] == 5
    assert len(net.svc.lobby.games) == per_minute  # nothing half-made is left behind


def test_account_auto_creation_is_limited_per_address(net: Net, hits: lh.LimitHits):
    net.db.accounts.create("uya", "regular", "pw")
    per_hour = net.config.limits.account_creations_per_hour
    statuses = []
    for n in range(per_hour + 3):
        c = Console(net, ip=ATTACKER_IP)
        mas = c.begin()
        answer = c.one(mas, ma.AccountLoginRequest(message_id="1", username=f"bot{n}", password="pw"))
        statuses.append(answer.status)
    assert statuses[:per_hour] == [S.SUCCESS] * per_hour
    assert set(statuses[per_hour:]) == {S.LOGIN_FAILED}
    assert hits[lh.ACCOUNT_CREATION_RATE] == 3
    other = Console(net)  # another address is not affected
    other.login("neighbour")
    # an existing account still logs in from the limited address
    again = Console(net, ip=ATTACKER_IP)
    mas = again.begin()
    answer = again.one(mas, ma.AccountLoginRequest(message_id="1", username="regular", password="pw"))
    assert answer.status == S.SUCCESS
