"""Password hashing leaves the event loop: the MAS asks its connection to run PBKDF2 elsewhere
(``Link.defer``) and answers the login when the result comes back. In the harness the deferred
work waits until the test runs it (``Conn.hold``), so the order of things can be checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clank_lan.protocol.medius import account as ma
from tests.test_lobby_harness import Console, Net, S, open_net


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


def _gone(net: Net, c: Console) -> None:
    """The console left the lobby (its account is free to log in again)."""
    assert c.mls is not None
    net.close(c.mls, "client disconnected")


def _login(c: Console, name: str, password: str = "pw") -> list:
    c.begin()
    assert c.mas is not None
    c.mas.hold = True
    return c.send(c.mas, ma.AccountLoginRequest(message_id=c.mid(), username=name, password=password))


def test_a_first_login_is_answered_once_the_hash_is_made(net: Net):
    c = Console(net)
    assert _login(c, "newbie") == []  # nothing yet: the hash is being made
    assert net.db.accounts.by_name("uya", "newbie") is None
    assert c.mas is not None and c.mas.run_deferred(net.clock()) == 1
    (answer,) = c.mas.take()
    assert answer.status == S.SUCCESS
    assert net.db.accounts.by_name("uya", "newbie") is not None


def test_a_returning_login_needs_no_hash(net: Net):
    first = Console(net)
    first.login("regular", "secret")
    _gone(net, first)
    c = Console(net)
    (answer,) = _login(c, "regular", "secret")
    assert answer.status == S.SUCCESS and c.mas is not None and not c.mas.deferred


def test_a_password_not_checked_since_the_start_is_checked_off_the_loop(net: Net):
    first = Console(net)
    first.login("veteran", "right")
    _gone(net, first)
    net.db.accounts._verified.clear()  # as after a restart: only the stored PBKDF2 hash is known
    c = Console(net)
    assert _login(c, "veteran", "wrong") == []
    assert c.mas is not None and c.mas.run_deferred(net.clock()) == 1
    assert [a.status for a in c.mas.take()] == [S.INVALID_PASSWORD]
    d = Console(net)
    assert _login(d, "veteran", "right") == []
    assert d.mas is not None and d.mas.run_deferred(net.clock()) == 1
    assert [a.status for a in d.mas.take()] == [S.SUCCESS]


def test_a_console_gone_before_the_hash_is_done_gets_nothing_and_creates_nothing(net: Net):
    c = Console(net)
    _login(c, "quitter")
    assert c.mas is not None
    net.close(c.mas, "client disconnected")
    assert c.mas.run_deferred(net.clock()) == 1  # the work ran (it cannot be taken back) ...
    assert c.mas.take() == [] and net.db.accounts.by_name("uya", "quitter") is None  # ... unused


def test_two_first_logins_to_one_name_create_it_once(net: Net):
    a, b = Console(net), Console(net)
    _login(a, "twin", "one")
    _login(b, "twin", "two")
    assert a.mas is not None and b.mas is not None
    a.mas.run_deferred(net.clock())
    assert [x.status for x in a.mas.take()] == [S.SUCCESS]
    b.mas.run_deferred(net.clock())  # created meanwhile: its password is checked like any login
    assert [x.status for x in b.mas.take()] == [S.INVALID_PASSWORD]
    assert net.db.accounts.count("uya") == 1


def test_a_registration_is_answered_once_the_hash_is_made(net: Net):
    c = Console(net)
    c.begin()
    assert c.mas is not None
    c.mas.hold = True
    req = ma.AccountRegistrationRequest(message_id=c.mid(), account_name="signup", password="pw")
    assert c.send(c.mas, req) == []
    c.mas.run_deferred(net.clock())
    (answer,) = c.mas.take()
    assert answer.status == S.SUCCESS and net.db.accounts.by_name("uya", "signup") is not None


def test_a_password_change_is_checked_and_hashed_off_the_loop(net: Net):
    c = Console(net)
    c.login("changer", "old", drop_mas=False)
    assert c.mas is not None
    c.mas.hold = True
    req = ma.AccountUpdatePasswordRequest(message_id=c.mid(), old_password="old", new_password="new")
    assert c.send(c.mas, req) == []
    assert c.mas.run_deferred(net.clock()) == 1  # one piece of work: the check, then the new hash
    assert [a.status for a in c.mas.take()] == [S.SUCCESS]
    account = net.db.accounts.by_name("uya", "changer")
    assert account is not None and net.db.accounts.password_known(account.id, "new")
