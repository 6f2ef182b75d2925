"""The dispatch table: every client-to-server Medius id has a decision, each decision is what a
console gets, and each service's login gate runs before any handler."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from clank_lan.protocol.medius import UnknownMessage, message_type
from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import lobby as ml
from clank_lan.protocol.medius import social as mso
from clank_lan.protocol.medius.ids import REGISTRY, Direction, MessageClass, message_name
from clank_lan.servers.lobby.app import message_key
from clank_lan.servers.lobby.apps import SERVICES, handled_ids
from clank_lan.servers.lobby.dispatch import (
    DECISIONS,
    MESSAGE_ID_LEN,
    Fail,
    Ignore,
    client_to_server_ids,
    decision_counts,
    failure_response,
)
from clank_lan.servers.lobby.dispatch import _parse as dispatch_parse
from tests.test_lobby_harness import APP_DL, Console, Net, S, open_net


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


FAILS = sorted(k for k, d in DECISIONS.items() if isinstance(d, Fail))
IGNORES = sorted(k for k, d in DECISIONS.items() if isinstance(d, Ignore))


def _label(key: tuple[int, int]) -> str:
    return f"{MessageClass(key[0]).name}-0x{key[1]:02X}-{message_name(*key)}"


def request_for(key: tuple[int, int], message_id: str = "req-7"):
    """A request with this (class, type): typed with its defaults when we model it, else the
    message id followed by zeros (every request starts with its MessageID)."""
    cls = message_type(*key)
    if cls is not None:
        fields = set(cls.__struct_fields__)
        return cls(message_id=message_id) if "message_id" in fields else cls()
    body = message_id.encode().ljust(MESSAGE_ID_LEN, b"\0") + bytes(64)
    return UnknownMessage(key[0], key[1], body)


def test_every_client_to_server_id_has_exactly_one_decision():
    handled = handled_ids()
    undecided = [message_name(*k) for k in client_to_server_ids() if k not in handled and k not in DECISIONS]
    assert not undecided, f"ids without a decision (add them to dispatch._TABLE): {undecided}"
    both = [message_name(*k) for k in DECISIONS if k in handled]
    assert not both, f"handled ids that also have a written decision: {both}"
    stale = [k for k in DECISIONS if REGISTRY[k].direction is not Direction.TO_SERVER]
    assert not stale


def test_every_handler_is_for_a_client_to_server_id():
    for app in SERVICES:
        for key in app.handled_ids():
            assert REGISTRY[key].direction is Direction.TO_SERVER, (app.name, message_name(*key))


def test_the_decision_counts(capsys):
    counts = decision_counts(handled_ids())
    lobby_ids = [k for k in client_to_server_ids() if k[0] != MessageClass.MGCL]
    assert len(lobby_ids) == 212
    assert counts["undecided"] == 0
    assert sum(counts.values()) == len(client_to_server_ids())
    with capsys.disabled():
        print(f"\nclient-to-server ids by decision: {counts}")


def test_every_decision_has_a_reason():
    assert all(len(d.reason) > 10 for d in DECISIONS.values())


@pytest.mark.parametrize("key", FAILS, ids=_label)
def test_an_unserved_request_gets_a_failure_of_its_response_type(net: Net, key):
    c = Console(net)
    mls = c.login("prober")
    answers = c.send(mls, request_for(key))
    decision = DECISIONS[key]
    assert len(answers) == 1, answers
    (answer,) = answers
    got = (
        (answer.msg_class, answer.msg_type)
        if isinstance(answer, UnknownMessage)
        else (
            answer.MSG_CLASS,
            answer.MSG_TYPE,
        )
    )
    assert got == decision.response
    if isinstance(answer, UnknownMessage):  # the generic status body
        assert answer.body[:MESSAGE_ID_LEN].rstrip(b"\0") == b"req-7"
        assert int.from_bytes(answer.body[24:28], "little", signed=True) == decision.status
        assert len(answer.body) == 28
    else:
        assert answer.message_id == "req-7" and answer.status == decision.status
        assert getattr(answer, "end_of_list", True) is True


@pytest.mark.parametrize("key", IGNORES, ids=_label)
def test_an_ignored_request_gets_no_answer_and_a_log_line(net: Net, key, caplog):
    caplog.set_level(logging.INFO)
    c = Console(net)
    mls = c.login("prober")
    assert c.send(mls, request_for(key)) == []
    assert any(DECISIONS[key].reason in r.getMessage() for r in caplog.records)
    assert mls.closed is None


def test_a_failure_echoes_a_long_message_id_cut_to_its_field():
    decision = DECISIONS[(1, 0x0B)]
    answer = failure_response(decision, UnknownMessage(1, 0x0B, b"x" * 40))
    assert answer.body[:MESSAGE_ID_LEN] == b"x" * 20 + b"\0"


def test_the_mas_answers_unserved_requests_too(net: Net):
    c = Console(net)
    mas = c.begin()
    (answer,) = c.send(mas, request_for((4, 0x58)))  # TicketLogin
    assert message_key(answer) == (4, 0x59)


def test_a_message_for_another_service_gets_silence_as_sony_gave(net: Net, caplog):
    """b41 frame 33: Deadlocked sends GetBuddyList_ExtraInfo to the MAS before SessionBegin and
    Sony's MAS sends nothing back."""
    caplog.set_level(logging.INFO)
    c = Console(net, app_id=APP_DL, version=110)
    mas, _ = c.connect("mas")
    assert c.send(mas, mso.GetBuddyListExtraInfoRequest(message_id="1")) == []
    assert any("another service handles it" in r.getMessage() for r in caplog.records)
    muis, _ = c.connect("muis")
    assert c.send(muis, ml.ChannelListRequest(message_id="2")) == []


def test_the_mls_gate_drops_everything_before_login(net: Net, caplog):
    caplog.set_level(logging.INFO)
    c = Console(net)
    c.login("leaver")
    s = c.session
    s.logged_in = False  # logged out on the MAS, still connected to the MLS
    assert c.send(c.mls, ml.ChannelListRequest(message_id="2")) == []
    assert c.send(c.mls, request_for((1, 0x0B))) == []  # not even the generic failure
    assert any("not logged in" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("request_", "response", "status"),
    [
        (
            ma.AccountLoginRequest(message_id="1", username="a"),
            ma.AccountLoginResponse,
            S.INCORRECT_LOGIN_STEP,
        ),
        (
            ma.AccountRegistrationRequest(message_id="1", account_name="a"),
            ma.AccountRegistrationResponse,
            S.INCORRECT_LOGIN_STEP,
        ),
        (ma.AnonymousLoginRequest(message_id="1"), ma.AnonymousLoginResponse, S.LOGIN_FAILED),
        (
            ma.AccountGetIDRequest(message_id="1", account_name="a"),
            ma.AccountGetIDResponse,
            S.ACCOUNT_NOT_FOUND,
        ),
        (
            ma.AccountUpdatePasswordRequest(message_id="1"),
            ma.AccountUpdatePasswordStatusResponse,
            S.INCORRECT_LOGIN_STEP,
        ),
        (ma.AccountDeleteRequest(message_id="1"), ma.AccountDeleteResponse, S.INCORRECT_LOGIN_STEP),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, int) else str(v),
)
def test_the_mas_gate_refuses_account_requests_before_session_begin(net: Net, request_, response, status):
    c = Console(net)
    mas, _ = c.connect("mas")
    answer = c.one(mas, request_)
    assert type(answer) is response and answer.status == status and answer.message_id == "1"
    assert not net.svc.lobby.sessions


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ("L 0B fail 0C FAIL x\nL 0B ignore twice", "two decisions"),
        ("L 0B fail 0B FAIL the request itself", "not a server-to-client message"),
        ("L 0B fail 4:7F FAIL another class", None),
    ],
)
def test_the_table_is_checked_as_it_is_read(table, error):
    if error is None:
        assert dispatch_parse(table)[(1, 0x0B)].response == (4, 0x7F)
        return
    with pytest.raises(AssertionError, match=error):
        dispatch_parse(table)


def test_an_id_without_a_decision_is_counted_as_undecided():
    handled = handled_ids() - {(1, 0x07)}
    assert decision_counts(handled)["undecided"] == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x01\xfe" + bytes(30), "not in the registry; not modelled"),
        (b"\x01\x04" + bytes(30), "a server-to-client message"),  # SessionBeginResponse
    ],
)
def test_messages_no_service_serves_are_dropped_with_the_reason(net: Net, caplog, payload, reason):
    caplog.set_level(logging.INFO)
    c = Console(net)
    mls = c.login("odd")
    mls.app.on_app(mls, payload, net.clock())
    assert mls.take() == [] and mls.closed is None
    assert any(reason in r.getMessage() for r in caplog.records)


HANDLED = sorted(
    {(app.name, t) for app in SERVICES for t in app._handlers},
    key=lambda pair: (pair[0], pair[1].MSG_CLASS, pair[1].MSG_TYPE),
)


@pytest.mark.parametrize(("service", "cls"), HANDLED, ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_every_handler_runs_on_a_request_of_defaults(net: Net, monkeypatch, service, cls):
    """Each handler is reached through the dispatch table and copes with an all-defaults request
    (zero ids, empty names) without an exception: hostile input is normal input."""
    c = Console(net, app_id=APP_DL, version=110)
    c.login("everyone", drop_mas=False)
    conn = {"MUIS": None, "MAS": c.mas, "MLS": c.mls}[service]
    if conn is None:
        conn, _ = c.connect("muis")
    app = conn.app
    calls = []
    real = app._handlers[cls]
    monkeypatch.setitem(type(app)._handlers, cls, lambda *a: (calls.append(a[2]), real(*a)))
    fields = set(cls.__struct_fields__)
    c.send(conn, cls(message_id="d") if "message_id" in fields else cls())
    assert len(calls) == 1 and type(calls[0]) is cls
