"""The RT handshake of a lobby connection, both ends sans-IO, joined back to back in memory."""

from __future__ import annotations

import gc
import os
import weakref

import pytest

from clank_lan.client.rt_client import AppMessage, Connected, RtClient
from clank_lan.config import TimeoutSettings
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import TcpDeframer
from clank_lan.protocol.rt_ids import RT
from clank_lan.servers.lobby_conn import LobbyConnection, Phase
from clank_lan.titles import title_for_app_id


class EchoApp:
    """A Medius service that answers every app message with the same bytes."""

    name = "TEST"

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.connects: list[rtm.ClientConnectTcp] = []
        self.ready = 0
        self.closed: list[str] = []
        self.times: list[tuple[str, float]] = []

    def on_connect(self, conn, req, now):
        self.connects.append(req)
        self.times.append(("connect", now))
        return self.refuse

    def on_ready(self, conn, now):
        self.ready += 1
        self.times.append(("ready", now))

    def on_app(self, conn, payload, now):
        self.times.append(("app", now))
        conn.send_app(payload)

    def on_close(self, conn, reason, now):
        self.times.append(("close", now))
        self.closed.append(reason)


def make_pair(version: int, encrypt: bool, app: EchoApp | None = None):
    app = app or EchoApp()
    server = LobbyConnection(
        app,
        ("127.0.0.1", 40000),
        ("127.0.0.1", 10075),
        rsa_key=keys.global_mas_key(),
        rng=os.urandom,
        wall_clock=lambda: 1_700_000_000.25,
        now=0.0,
        timeouts=TimeoutSettings(),
    )
    client = RtClient(
        service="MAS",
        peer=("127.0.0.1", 10075),
        version=version,
        app_id=10684 if version == 108 else 11184,
        encrypt=encrypt,
    )
    return app, server, client


def pump(server, client, limit: int = 20):
    """Move bytes both ways until quiet; returns the client's events."""
    events = []
    for _ in range(limit):
        c2s = client.outbox.take()
        if c2s:
            server.data_received(c2s, 0.0)
        s2c = server.outbox.take()
        if s2c:
            events.extend(client.feed(s2c))
        if not c2s and not s2c:
            return events
    raise AssertionError("handshake did not settle")


@pytest.mark.parametrize("version", [108, 110])
@pytest.mark.parametrize("encrypt", [True, False])
def test_handshake_and_app_round_trip(version, encrypt):
    app, server, client = make_pair(version, encrypt)
    client.start()
    events = pump(server, client)
    assert [type(e) for e in events] == [Connected]
    assert server.phase is Phase.READY and app.ready == 1
    assert server.version == version and server.encrypted is encrypt
    assert app.connects[0].app_id == client.app_id
    assert events[0].accept.client_ip == "127.0.0.1"
    client.send_app(b"\x01\x07hello")
    assert pump(server, client) == [AppMessage(b"\x01\x07hello")]


@pytest.mark.parametrize("version", [108, 110])
def test_an_ended_connection_is_freed_at_once_not_by_a_full_collection(version):
    """No cycle holds a connection once its handshake is done: it goes when its last reference
    does. (The endpoint kept the connection's accept builder, a method of the connection: each
    ended one waited for a full collection, a login storm's 1,200 of them in every collection of
    the old generation meanwhile.)"""
    app, server, client = make_pair(version, True)
    client.start()
    pump(server, client)
    client.send_app(b"\x01\x07hello")
    pump(server, client)
    server.connection_lost("closed", 1.0)
    gone = weakref.ref(server)
    gc.disable()
    try:
        del server
        assert gone() is None
    finally:
        gc.enable()
    assert app.closed == ["closed"]


def test_a_line_for_many_may_wait_for_company_and_everything_else_goes_at_once():
    _app, server, client = make_pair(108, True)
    client.start()
    pump(server, client)
    told: list[str] = []
    server.outbox.notify = lambda: told.append("now")
    server.outbox.notify_later = lambda: told.append("later")
    server.send_app(b"\x01\x07for the channel", shared=True)  # a chat line for everyone in it
    server.send_app(b"\x01\x07for you", shared=False)
    assert told == ["later", "now"]
    assert pump(server, client) == [AppMessage(b"\x01\x07for the channel"), AppMessage(b"\x01\x07for you")]


def test_encrypted_session_puts_no_plaintext_on_the_wire():
    _app, server, client = make_pair(110, True)
    client.start()
    pump(server, client)
    client.send_app(b"\x01\x07" + b"SECRETSECRET")
    wire = client.outbox.take()
    assert b"SECRET" not in wire
    frames = TcpDeframer().feed(wire)
    assert frames[0].id == RT.CLIENT_APP_TOSERVER and frames[0].hash is not None


def test_clear_session_sends_everything_clear():
    _app, server, client = make_pair(110, False)
    client.start()
    server.data_received(client.outbox.take(), 0.0)  # HELLO
    out = TcpDeframer().feed(server.outbox.take())
    assert [f.id for f in out] == [RT.SERVER_HELLO] and out[0].hash is None


def test_refused_connect_closes():
    _app, server, client = make_pair(108, True, EchoApp(refuse="unknown title"))
    client.start()
    pump(server, client)
    assert server.outbox.closing == "unknown title"
    assert server.phase is Phase.CLOSED


def test_app_message_before_connect_is_a_protocol_error():
    _app, server, _client = make_pair(108, False)
    with pytest.raises(ProtocolError):
        server.data_received(bytes([RT.CLIENT_APP_TOSERVER, 2, 0, 1, 7]), 0.0)


def test_echo_answered_and_idle_timeout():
    _app, server, client = make_pair(110, True)
    client.start()
    pump(server, client)
    client.echo()
    server.data_received(client.outbox.take(), 1.0)
    ids = [f.id for f in client.link.frames_from(server.outbox.take())]
    assert ids == [RT.CLIENT_ECHO]
    deadline = server.next_deadline()
    assert deadline is not None and deadline <= 1.0 + TimeoutSettings().client
    server.on_timer(1.0 + TimeoutSettings().client)
    assert server.phase is Phase.CLOSED and "no traffic" in server.outbox.closing


def test_every_app_callback_gets_the_time_it_happened_at():
    app, server, client = make_pair(110, True)
    client.start()
    pump(server, client)
    client.send_app(b"\x01\x07x")
    server.data_received(client.outbox.take(), 7.5)
    server.connection_lost("peer closed", 9.0)  # the shell says when
    assert app.times == [("connect", 0.0), ("ready", 0.0), ("app", 7.5), ("close", 9.0)]
    app2, server2, _ = make_pair(108, False)
    server2.on_timer(3.0)
    server2.connection_lost("peer closed", 4.25)
    assert app2.times == [("close", 4.25)] and app2.closed == ["peer closed"]


@pytest.mark.parametrize("version", [108, 110])
def test_client_without_key_exchange_gets_a_clear_session(version):
    """A tool that talks clear (the UYA bot) sends CONNECT_TCP first; everything stays clear."""
    app, server, _ = make_pair(version, False)
    client = RtClient(
        service="MLS",
        peer=("127.0.0.1", 10078),
        version=version,
        app_id=10684,
        encrypt=False,
        key_exchange=False,
    )
    client.start()
    events = pump(server, client)
    assert [type(e) for e in events] == [Connected] and server.phase is Phase.READY
    assert server.encrypted is False and client.peer_keys == [] and app.ready == 1
    client.send_app(b"\x01\x07plain")
    wire = client.outbox.take()
    assert b"plain" in wire
    server.data_received(wire, 1.0)
    assert b"plain" in server.outbox.take()


class TitledApp(EchoApp):
    """Resolves the title on CONNECT, as the Medius services do."""

    def on_connect(self, conn, req, now):
        conn.title = title_for_app_id(req.app_id)
        return super().on_connect(conn, req, now)


@pytest.mark.parametrize(("app_id", "sends_complete"), [(10274, False), (10684, True)])
def test_socom_gets_no_connect_complete_from_a_108_lobby(app_id, sends_complete):
    """Issue 13 item 7: SOCOM I expects no RT CONNECT_COMPLETE; every other 1.08 title gets it."""
    app = TitledApp()
    server = LobbyConnection(
        app,
        ("127.0.0.1", 40000),
        ("127.0.0.1", 10075),
        rsa_key=keys.global_mas_key(),
        rng=os.urandom,
        wall_clock=lambda: 1_700_000_000.25,
        now=0.0,
        timeouts=TimeoutSettings(),
    )
    client = RtClient(service="MAS", peer=("127.0.0.1", 10075), version=108, app_id=app_id, encrypt=False)
    client.start()
    sent: list[int] = []
    deframer = TcpDeframer()
    for _ in range(10):
        data = client.outbox.take()
        if data:
            server.data_received(data, 0.0)
        out = server.outbox.take()
        if out:
            sent += [f.id for f in deframer.feed(out)]
            client.feed(out)
    assert RT.SERVER_CONNECT_ACCEPT_TCP in sent
    assert (RT.SERVER_CONNECT_COMPLETE in sent) is sends_complete
    assert server.phase is Phase.READY and app.ready == 1  # ready either way
