"""Hostile input on the MPS port: random MGCL bodies from a game host and from a logged-in
console never raise out of a handler, and the lobby's game table stays consistent."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from clank_lan.mgcl_games import HANDLED_TYPES, MAX_GAMES
from tests.test_lobby_harness import Console, Net, open_net

ROUNDS = 40  # per message type: bounded, seeded


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


@pytest.mark.parametrize("cls", HANDLED_TYPES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("logged_in", [False, True], ids=["host-only", "console"])
def test_random_mgcl_bodies_never_crash(net: Net, cls, logged_in):
    rng = random.Random(f"{cls.__name__}{logged_in}")
    host = Console(net, app_id=10411)
    if logged_in:
        host.login("host")
        mps, _ = host.connect("mps", access_key=host.session.access_key, session_key=host.session.session_key)
    else:
        mps, _ = host.connect("mps")
    size = cls.SIZE or 64
    for _ in range(ROUNDS):
        body = bytes(rng.getrandbits(8) for _ in range(rng.choice((0, size // 2, size, size + 7))))
        mps.app.on_app(mps, bytes((cls.MSG_CLASS, cls.MSG_TYPE)) + body, net.clock())
    assert mps.closed is None
    hosted = net.svc.mgcl.games
    assert len(hosted) <= MAX_GAMES
    assert all(net.svc.lobby.games[w].hosted for w in hosted)
    net.close(mps, "done")
    assert not any(g.hosted for g in net.svc.lobby.games.values())
