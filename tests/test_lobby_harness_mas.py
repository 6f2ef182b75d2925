"""Table-driven tests of the handlers both services share and of the MAS (request in, answers and
state out), on the in-memory harness."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from clank_lan import __version__
from clank_lan.db.records import PolicyKind
from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import lobby as ml
from clank_lan.protocol.medius import session as ms
from tests.test_lobby_harness import APP_DL, WALL, Console, Net, S, open_net


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


def names(answers) -> list[str]:
    return [type(a).__name__ for a in answers]


# --- shared handlers (MAS and MLS) -----------------------------------------------------------


@pytest.mark.parametrize("service", ["mas", "mls"])
def test_localization_sets_the_session_encoding(net: Net, service):
    c = Console(net)
    conn = c.begin() if service == "mas" else c.login("loc")
    s = conn.session
    answer = c.one(conn, ms.SetLocalizationParamsRequest(message_id="1", character_encoding=2, language=3))
    assert type(answer) is ms.SetLocalizationParamsResponse and answer.status == S.SUCCESS
    assert (s.encoding, s.language) == (2, 3)
    answer = c.one(conn, ms.SetLocalizationParamsRequest1(message_id="2", character_encoding=0, language=0))
    assert type(answer) is ms.SetLocalizationParamsResponse  # Lobby 0xA4, as Sony answered (issue 13 item 6)
    assert (s.encoding, s.language) == (2, 3)  # zero means "unchanged"
    answer = c.one(conn, ms.SetLocalizationParamsRequest2(message_id="3", character_encoding=1, language=1))
    assert answer.status == S.SUCCESS and s.encoding == 1


def test_localization_before_session_begin_is_answered(net: Net):
    c = Console(net)
    mas, _ = c.connect("mas")
    answer = c.one(mas, ms.SetLocalizationParamsRequest(message_id="1", character_encoding=2))
    assert answer.status == S.SUCCESS


def test_signature_posts_keep_the_machine_id_and_get_no_answer(net: Net):
    c = Console(net)
    mas = c.begin()
    s = mas.session
    assert c.send(mas, ms.MachineSignaturePost(message_id="1", machine_signature=b"MACH" + bytes(28))) == []
    assert s.machine_id == b"MACH"
    dnas = ms.DnasSignaturePost(message_id="2", dnas_signature_length=4, dnas_signature=b"DNAS" + bytes(28))
    assert c.send(mas, dnas) == []
    assert s.machine_id == b"DNAS"
    assert c.send(mas, ms.MachineSignaturePost(message_id="3", machine_signature=b"LATE")) == []
    assert s.machine_id == b"DNAS"  # the DNAS signature wins
    bare, _ = c.connect("mas")
    assert c.send(bare, dnas) == [] and c.send(bare, ms.MachineSignaturePost(message_id="4")) == []


def test_policy_comes_in_255_character_pieces(net: Net):
    net.db.policies.set("x" * 300, namespace="uya", kind=PolicyKind.USAGE)
    c = Console(net)
    mas = c.begin()
    answers = c.send(mas, ms.GetPolicyRequest(message_id="1", policy=0))
    assert [len(a.text) for a in answers] == [255, 45]
    assert [a.end_of_text for a in answers] == [False, True]
    (privacy,) = c.send(mas, ms.GetPolicyRequest(message_id="2", policy=1))
    assert privacy.text == net.config.lobby.eula[:255] and privacy.end_of_text
    bare, _ = c.connect("mas")
    assert c.send(bare, ms.GetPolicyRequest(message_id="3"))[-1].end_of_text


def test_announcements_latest_and_all(net: Net):
    net.db.announcements.add("from the database", namespace="uya", now=WALL)
    c = Console(net)
    mas = c.begin()
    (latest,) = c.send(mas, ms.GetAnnouncementsRequest(message_id="1"))
    assert latest.announcement == "from the database" and latest.end_of_list
    every = c.send(mas, ms.GetAllAnnouncementsRequest(message_id="2"))
    assert [a.announcement for a in every] == ["Welcome to clank-lan!", "from the database"]
    assert [a.end_of_list for a in every] == [False, True]
    bare, _ = c.connect("mas")
    (only,) = c.send(bare, ms.GetAllAnnouncementsRequest(message_id="3"))
    assert only.announcement == "Welcome to clank-lan!"


def test_no_announcements_is_no_result():
    for n in open_net("[lobby]\nannouncements = []\n"):
        c = Console(n)
        (answer,) = c.send(c.begin(), ms.GetAnnouncementsRequest(message_id="1"))
        assert answer.status == S.NO_RESULT and answer.end_of_list


def test_version_time_ip_locations_and_the_rest(net: Net, caplog):
    caplog.set_level(logging.INFO)
    c = Console(net)
    mas = c.begin()
    assert c.one(mas, ms.VersionServerRequest(message_id="1")).version_server == f"clank-lan {__version__}"
    assert c.one(mas, ms.GetServerTimeRequest(message_id="2")).gmt_time == int(WALL + net.clock.t)
    assert c.one(mas, ms.GetMyIPRequest(message_id="3")).ip == c.ip
    (loc,) = c.send(mas, ml.GetLocationsRequest(message_id="4"))
    assert (loc.location_id, loc.location_name, loc.end_of_list) == (40, "Aquatos", True)
    assert c.one(mas, ml.PickLocationRequest(message_id="5", location_id=40)).status == S.SUCCESS
    filtered = c.one(mas, ml.TextFilterRequest(message_id="6", text="hello"))
    assert (filtered.text, filtered.status) == ("hello", S.PASS)
    assert c.one(mas, ms.PostDebugInfoRequest(message_id="7", text="boom")).status == S.SUCCESS
    assert any("debug info from the console: boom" in r.getMessage() for r in caplog.records)


# --- MAS: sessions and accounts ----------------------------------------------------------------


@pytest.mark.parametrize(
    "begin",
    [
        ms.SessionBeginRequest(message_id="b", connection_class=2),
        ms.SessionBegin1Request(message_id="b", connection_class=2),
        ms.ExtendedSessionBeginRequest(message_id="b", connection_class=2),
    ],
    ids=lambda m: type(m).__name__,
)
def test_session_begin_creates_one_session(net: Net, begin):
    c = Console(net, app_id=APP_DL, version=110)
    mas, _ = c.connect("mas")
    answer = c.one(mas, begin)
    s = mas.session
    assert answer.session_key == s.session_key and s.connection_class == 2
    assert s.namespace == "dl" and s.created_at == net.clock.t
    again = c.one(mas, begin)
    assert again.session_key == s.session_key and len(net.svc.lobby.sessions) == 1


def test_session_end_on_the_mas_forgets_the_session(net: Net):
    c = Console(net)
    mas = c.begin()
    answer = c.one(mas, ms.SessionEndRequest(message_id="1"))
    assert answer.status == S.SUCCESS and not net.svc.lobby.sessions and mas.closed
    bare, _ = c.connect("mas")
    assert c.one(bare, ms.SessionEndRequest(message_id="2")).status == S.SUCCESS


def test_registration(net: Net):
    c = Console(net)
    mas = c.begin()
    ok = c.one(mas, ma.AccountRegistrationRequest(message_id="1", account_name="neo", password="pw"))
    assert ok.status == S.SUCCESS and ok.account_id == net.db.accounts.by_name("uya", "neo").id
    again = c.one(mas, ma.AccountRegistrationRequest(message_id="2", account_name="NEO", password="x"))
    assert again.status == S.ACCOUNT_ALREADY_EXISTS
    bad = c.one(mas, ma.AccountRegistrationRequest(message_id="3", account_name="", password="x"))
    assert bad.status == S.REGISTRATION_FAILED


def test_login_refusals(net: Net):
    net.db.accounts.create("uya", "owner", "secret")
    c = Console(net)
    mas = c.begin()
    wrong = c.one(mas, ma.AccountLoginRequest(message_id="1", username="owner", password="guess"))
    assert wrong.status == S.INVALID_PASSWORD and not mas.session.logged_in
    bad_name = c.one(mas, ma.AccountLoginRequest(message_id="2", username="", password="x"))
    assert bad_name.status == S.LOGIN_FAILED
    acct = net.db.accounts.by_name("uya", "owner")
    net.svc.ban("owner", 0, "cheating")
    banned = c.one(mas, ma.AccountLoginRequest(message_id="3", username="owner", password="secret"))
    assert banned.status == S.ACCOUNT_BANNED and acct is not None


def test_login_without_auto_create_needs_an_account():
    for n in open_net("[accounts]\nauto_create = false\n"):
        c = Console(n)
        answer = c.one(c.begin(), ma.AccountLoginRequest(message_id="1", username="nobody", password="x"))
        assert answer.status == S.ACCOUNT_NOT_FOUND


def test_a_second_login_of_a_live_account_is_refused_and_a_stale_one_replaced(net: Net):
    first = Console(net)
    first.login("twice")
    second = Console(net)
    mas = second.begin()
    answer = second.one(mas, ma.AccountLoginRequest(message_id="1", username="twice", password="pw"))
    assert answer.status == S.ACCOUNT_LOGGED_IN
    old = first.session
    net.close(first.mls, "console crashed")
    answer = second.one(mas, ma.AccountLoginRequest(message_id="2", username="twice", password="pw"))
    assert answer.status == S.SUCCESS and old.session_key not in net.svc.lobby.sessions


def test_anonymous_login(net: Net):
    c = Console(net)
    mas = c.begin()
    answer = c.one(mas, ma.AnonymousLoginRequest(message_id="1", display_name="ghost"))
    s = mas.session
    assert answer.status == S.SUCCESS and s.anonymous and s.account_name == "ghost"
    assert answer.account_id == 0x40000000 + s.number
    assert net.db.accounts.by_name("uya", "ghost") is None


def test_anonymous_login_can_be_switched_off():
    for n in open_net("[accounts]\nallow_anonymous = false\n"):
        c = Console(n)
        answer = c.one(c.begin(), ma.AnonymousLoginRequest(message_id="1", display_name="ghost"))
        assert answer.status == S.LOGIN_FAILED


def test_admission_refuses_a_login(net: Net, caplog):
    caplog.set_level(logging.INFO)

    class Roster:
        def check_login(self, account_name: str, ip: str) -> str | None:
            return None if account_name == "listed" else "not on the roster"

        def check_join(self, account_name, game):
            return None

    net.deps.admission = Roster()
    c = Console(net)
    mas = c.begin()
    answer = c.one(mas, ma.AccountLoginRequest(message_id="1", username="walk-in", password="pw"))
    assert answer.status == S.LOGIN_FAILED and not mas.session.logged_in
    assert any("not on the roster" in r.getMessage() for r in caplog.records)
    assert c.one(mas, ma.AccountLoginRequest(message_id="2", username="listed", password="pw")).status == 0


def test_logout_get_id_password_and_delete(net: Net):
    c = Console(net)
    c.login("acct", "old", drop_mas=False)
    mas = c.mas
    s = mas.session
    got = c.one(mas, ma.AccountGetIDRequest(message_id="1", account_name="acct"))
    assert got.status == S.SUCCESS and got.account_id == s.account_id
    assert c.one(mas, ma.AccountGetIDRequest(message_id="2", account_name="x")).status == S.ACCOUNT_NOT_FOUND
    bad = c.one(mas, ma.AccountUpdatePasswordRequest(message_id="3", old_password="no", new_password="n"))
    assert bad.status == S.INVALID_PASSWORD
    ok = c.one(mas, ma.AccountUpdatePasswordRequest(message_id="4", old_password="old", new_password="new"))
    assert ok.status == S.SUCCESS and net.db.accounts.verify_password(s.account_id, "new")
    wrong = c.one(mas, ma.AccountDeleteRequest(message_id="5", master_password="old"))
    assert wrong.status == S.INVALID_PASSWORD
    gone = c.one(mas, ma.AccountDeleteRequest(message_id="6", master_password="new"))
    assert gone.status == S.SUCCESS and not s.logged_in and net.db.accounts.get(s.account_id) is None
    late = c.one(mas, ma.AccountDeleteRequest(message_id="7", master_password="new"))
    assert late.status == S.INCORRECT_LOGIN_STEP
    late = c.one(mas, ma.AccountUpdatePasswordRequest(message_id="8", old_password="new"))
    assert late.status == S.INCORRECT_LOGIN_STEP
    assert c.one(mas, ma.AccountLogoutRequest(message_id="9")).status == S.SUCCESS
    bare, _ = c.connect("mas")
    assert c.one(bare, ma.AccountLogoutRequest(message_id="10")).status == S.SUCCESS


def test_logout_ends_the_login_but_keeps_the_session(net: Net):
    c = Console(net)
    c.login("out", drop_mas=False)
    s = c.session
    c.one(c.mas, ma.AccountLogoutRequest(message_id="1"))
    assert not s.logged_in and s.session_key in net.svc.lobby.sessions
