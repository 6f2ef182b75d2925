"""Hostile input through the dispatch table: random bodies for every handled message, from a
logged-in console, never raise anything but the codec's ``ProtocolError`` (which the shell turns
into a logged disconnect), and never leave state that breaks the lists other consoles ask for."""

from __future__ import annotations

import random
from collections.abc import Iterator

import msgspec
import pytest

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius import decode_app
from clank_lan.protocol.medius import game as mg
from clank_lan.protocol.medius import lobby as ml
from clank_lan.servers.lobby.app import codec_context
from clank_lan.servers.lobby.apps import SERVICES
from tests.test_lobby_harness import APP_DL, Console, Net, open_net

HANDLED = sorted(
    {(app.name, t) for app in SERVICES for t in app._handlers},
    key=lambda pair: (pair[0], pair[1].MSG_CLASS, pair[1].MSG_TYPE),
)
ROUNDS = 25


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


@pytest.mark.parametrize("version", [108, 110])
@pytest.mark.parametrize(("service", "cls"), HANDLED, ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_random_bodies_never_crash_a_handler(net: Net, service, cls, version):
    rng = random.Random(f"{service}{cls.__name__}{version}")
    app_id = 10684 if version == 108 else APP_DL
    c = Console(net, app_id=app_id, version=version)
    c.login("fuzzer", drop_mas=False)
    other = Console(net, app_id=app_id, version=version)
    other.login("victim")
    conn = {"MAS": c.mas, "MLS": c.mls, "MUIS": None}[service] or c.connect("muis")[0]
    size = cls.SIZE or 64
    for _ in range(ROUNDS):
        body = bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 1, size // 2, size, size + 7))))
        try:
            conn.app.on_app(conn, bytes((cls.MSG_CLASS, cls.MSG_TYPE)) + body, net.clock())
        except ProtocolError:
            pass  # undecodable: the shell logs it and drops the connection
        conn.take()
    # whatever was stored, the lists other consoles ask for still encode
    for req in (
        mg.GameListRequest(message_id="l", page_id=1, page_size=0),
        mg.GameListExtraInfo0Request(message_id="l", page_id=1, page_size=0),
        mg.GameListExtraInfoRequest(message_id="l", page_id=1, page_size=0),
        ml.ChannelListExtraInfoRequest(message_id="l", page_id=1, page_size=0),
        ml.LobbyWorldPlayerListRequest(message_id="l"),
    ):
        assert other.send(other.mls, req)
    for g in list(net.svc.lobby.games.values()):
        for cls_ in (mg.GameInfo0Request, mg.GameInfoRequest):
            assert other.send(other.mls, cls_(message_id="i", world_id=g.id))


@pytest.mark.parametrize(("cls", "version"), [(mg.WorldReport0, 108), (mg.WorldReport, 110)])
def test_random_world_reports_from_a_host_never_poison_the_lists(net: Net, cls, version):
    rng = random.Random(cls.__name__)
    app_id = 10684 if version == 108 else APP_DL
    host, other = Console(net, app_id=app_id, version=version), Console(net, app_id=app_id, version=version)
    host.login("host")
    other.login("other")
    made = host.one(host.mls, mg.CreateGameRequest(message_id="c", game_name="Target", max_players=8))
    for _ in range(ROUNDS * 4):
        body = bytes(rng.getrandbits(8) for _ in range(cls.SIZE))
        report = decode_app(bytes((cls.MSG_CLASS, cls.MSG_TYPE)) + body, codec_context(host.mls))
        report = msgspec.structs.replace(report, world_id=made.world_id, wire=None)
        host.send(host.mls, report)
        if made.world_id not in net.svc.lobby.games:  # a random CLOSED status ended it
            made = host.one(host.mls, mg.CreateGameRequest(message_id="c", game_name="Target", max_players=8))
        for req in (
            mg.GameListExtraInfo0Request(message_id="l", page_id=1, page_size=0),
            mg.GameListExtraInfoRequest(message_id="l", page_id=1, page_size=0),
            mg.GameInfoRequest(message_id="i", world_id=made.world_id),
        ):
            assert other.send(other.mls, req)
