"""In-memory lobby harness: consoles and the MUIS/MAS/MLS services joined without sockets, on a
fake clock, with an ephemeral database and the real (sans-IO) DME manager.

A ``Console`` opens in-memory connections to a service (``connect``), sends typed Medius
messages (``send``) and gets back the decoded answers of that one request; ``login`` runs the
MAS -> MLS path a real console takes. Other ``test_lobby_*`` modules import ``Net``/``Console``
from here. The tests in this module check the harness itself and the session life cycle.
"""

from __future__ import annotations

import ast
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from clank_lan.config import Config, parse_config
from clank_lan.db.database import Database
from clank_lan.dme import DmeManager
from clank_lan.events import Event
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.medius import MediusMessage, UnknownMessage, decode_app, encode_app
from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import session as ms
from clank_lan.protocol.medius import universe as mu
from clank_lan.protocol.medius.enums import CallbackStatus, UniverseInfo
from clank_lan.servers.lobby import service
from clank_lan.servers.lobby.app import MediusApp, codec_context
from clank_lan.servers.lobby.apps import LobbyApps, lobby_apps
from clank_lan.servers.lobby.deps import AllowAll, LobbyDeps
from clank_lan.servers.lobby.service import LobbyService
from clank_lan.servers.lobby.state import Session
from clank_lan.titles import Title

S = CallbackStatus
APP_UYA = 10684  # Medius 1.08
APP_DL = 11184  # Medius 1.10
LOBBY_IP = "10.0.0.1"
PORTS = {"muis": 10071, "mas": 10075, "mls": 10078, "mps": 10077, "nat": 10070, "dme_tcp": 10079}
WALL = 1_700_000_000.0


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Conn:
    """A console's connection to one service, as the lobby sees it (the ``Link`` protocol)."""

    def __init__(self, app: MediusApp, peer: tuple[str, int], version: int, app_id: int) -> None:
        self.app = app
        self.peer = peer
        self.version = version
        self.app_id = app_id
        self.session: Session | None = None
        self.title: Title | None = None
        self.inbox: list[bytes] = []
        self.system: list[str] = []
        self.closed: str | None = None
        #: Work the lobby deferred (password hashes); ``Console.send`` runs it unless ``hold``.
        self.deferred: list[tuple] = []
        self.hold = False
        #: Of ``inbox``, what was sent as one message to many (under the service's shared key).
        self.shared: list[bytes] = []

    @property
    def peer_label(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]}"

    def send_app(self, payload: bytes, shared: bool = False) -> None:
        if self.closed is None:
            self.inbox.append(payload)
            if shared:
                self.shared.append(payload)

    def send_system_message(self, text: str) -> None:
        if self.closed is None:
            self.system.append(text)

    def disconnect(self, reason: str, code: int = 0) -> None:
        if self.closed is None:
            self.closed = reason

    def defer(self, work, done) -> None:
        self.deferred.append((work, done))

    def run_deferred(self, now: float) -> int:
        """Do the deferred work as the shell would (``done`` only while connected); how many."""
        ran = 0
        while self.deferred:
            work, done = self.deferred.pop(0)
            result = work()
            ran += 1
            if self.closed is None:
                done(result, now)
        return ran

    def take(self) -> list[MediusMessage | UnknownMessage]:
        """Everything received since the last take, decoded."""
        out = [decode_app(p, codec_context(self)) for p in self.inbox]
        self.inbox.clear()
        self.shared.clear()
        return out


@dataclass
class Net:
    """The lobby with fake dependencies; ``events`` collects what it publishes."""

    config: Config = field(default_factory=lambda: parse_config(""))
    clock: FakeClock = field(default_factory=FakeClock)
    events: list[Event] = field(default_factory=list)
    commands: list[tuple[str, str]] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    dme_running: bool = True
    admission: object = field(default_factory=AllowAll)

    def __post_init__(self) -> None:
        counter = itertools.count(1)
        self.db = Database.open(None, ephemeral=True, clock=lambda: WALL)
        self.dme = DmeManager(
            advertised_ip=LOBBY_IP,
            tcp_port=PORTS["dme_tcp"],
            udp_port=50000,
            timeouts=self.config.timeouts,
            rng=lambda n: bytes((next(counter) + i) & 0xFF for i in range(n)),
            clock=self.clock,
            wall_clock=lambda: WALL,
        )
        rng_counter = itertools.count(1)
        self.deps = LobbyDeps(
            config=self.config,
            db=self.db,
            publish=self.events.append,
            rng=lambda n: next(rng_counter).to_bytes(4, "big").rjust(n, b"\x5a"),
            wall_clock=lambda: WALL + self.clock.t,
            rsa_key=keys.global_mas_key(),
            advertised_ip=LOBBY_IP,
            port=PORTS.__getitem__,
            dme=self.dme,
            dme_up=lambda: self.dme_running,
            run_command=self._command,
            admission=self.admission,  # type: ignore[arg-type]
        )
        self.svc = LobbyService(self.deps)
        self.apps: LobbyApps = lobby_apps(self.svc)
        self._ports = itertools.count(40000)

    def _command(self, line: str, actor: str, origin: str) -> list[str]:
        self.commands.append((line, actor))
        self.origins.append(origin)
        return [f"ran {line}"]

    def app(self, service: str) -> MediusApp:
        return getattr(self.apps, service)

    def open(self, service: str, ip: str, version: int, app_id: int) -> Conn:
        return Conn(self.app(service), (ip, next(self._ports)), version, app_id)

    def close(self, conn: Conn, reason: str = "closed") -> None:
        """The shell noticed the connection is gone (after a disconnect, or the peer left)."""
        conn.closed = conn.closed or reason
        conn.app.on_close(conn, conn.closed, self.clock())

    def settle(self) -> None:
        """Deliver ``on_close`` for every connection the lobby disconnected."""
        for s in list(self.svc.lobby.sessions.values()):
            for c in list(s.connections):
                if c.closed is not None:  # type: ignore[attr-defined]
                    self.close(c)  # type: ignore[arg-type]

    def tick(self, seconds: float) -> None:
        self.clock.t += seconds
        self.svc.housekeeping(self.clock())


class Console:
    _ips = itertools.count()

    def __init__(self, net: Net, app_id: int = APP_UYA, version: int = rtm.V108, ip: str | None = None):
        self.net = net
        self.app_id = app_id
        self.version = version
        n = next(self._ips)
        self.ip = ip or f"10.1.{n // 200}.{n % 200 + 2}"
        self.mas: Conn | None = None
        self.mls: Conn | None = None
        self._ids = itertools.count(1)

    def mid(self) -> str:
        return f"m{next(self._ids)}"

    def connect(
        self,
        service: str,
        *,
        access_key: str | None = None,
        session_key: str | None = None,
        world_id: int = 0,
    ) -> tuple[Conn, str | None]:
        conn = self.net.open(service, self.ip, self.version, self.app_id)
        req = rtm.ClientConnectTcp(
            world_id=world_id, app_id=self.app_id, session_key=session_key, access_token=access_key
        )
        refusal = conn.app.on_connect(conn, req, self.net.clock())
        if refusal is None:
            conn.app.on_ready(conn, self.net.clock())
        return conn, refusal

    def send(self, conn: Conn, msg: MediusMessage | UnknownMessage) -> list:
        conn.inbox.clear()
        conn.app.on_app(conn, encode_app(msg, codec_context(conn)), self.net.clock())
        if not conn.hold:
            conn.run_deferred(self.net.clock())
        return conn.take()

    def one(self, conn: Conn, msg: MediusMessage | UnknownMessage):
        (answer,) = self.send(conn, msg)
        return answer

    def begin(self) -> Conn:
        self.mas, refusal = self.connect("mas")
        assert refusal is None
        answer = self.one(self.mas, ms.SessionBeginRequest(message_id=self.mid(), connection_class=1))
        assert answer.status == S.SUCCESS
        return self.mas

    def login(self, name: str, password: str = "pw", *, drop_mas: bool = True) -> Conn:
        """SessionBegin and AccountLogin on the MAS, then the MLS connect with the access key."""
        mas = self.begin()
        answer = self.one(
            mas, ma.AccountLoginRequest(message_id=self.mid(), username=name, password=password)
        )
        assert answer.status == S.SUCCESS, answer
        info = answer.connect_info
        if drop_mas:
            self.net.close(mas, "client disconnected")
        self.mls, refusal = self.connect(
            "mls", access_key=info.access_key, session_key=info.session_key, world_id=answer.world_id
        )
        assert refusal is None
        return self.mls

    @property
    def session(self) -> Session:
        assert self.mls is not None and self.mls.session is not None
        return self.mls.session


def open_net(config_text: str = "") -> Iterator[Net]:
    """A fixture body: a fresh lobby, its database closed afterwards."""
    n = Net(config=parse_config(config_text))
    yield n
    n.db.close()


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


# --- the harness itself and the session life cycle -------------------------------------------


def test_a_console_logs_in_and_reaches_a_channel(net: Net):
    c = Console(net)
    mls = c.login("alice")
    s = c.session
    assert s.logged_in and s.account_name == "alice" and s.title.key.startswith("uya")
    assert s.channel_id is not None and s in net.svc.lobby.channels[s.channel_id].members
    assert mls.session is s and s.connections == [mls]  # the MAS connection was dropped
    stages = [e.stage for e in net.events if type(e).__name__ == "PlayerStage"]
    assert stages == ["mas", "login", "mls"]
    assert net.db.accounts.by_name("uya", "alice") is not None


def test_the_title_is_resolved_once_per_session(net: Net, monkeypatch):
    c = Console(net)
    c.begin()
    calls = []
    monkeypatch.setattr(service, "title_for_app_id", lambda app_id: calls.append(app_id))
    c.one(c.mas, ma.AccountLoginRequest(message_id="1", username="bob", password="pw"))
    assert calls == []


def test_an_unknown_app_id_is_served_with_defaults_and_reported_once(net: Net, caplog):
    c = Console(net, app_id=424242)
    c.login("stranger")
    Console(net, app_id=424242).login("other")
    assert c.session.title.known is False
    assert sum("unknown app id 424242" in r.getMessage() for r in caplog.records) == 1


def test_an_mls_connect_without_a_known_access_key_is_refused(net: Net):
    c = Console(net)
    _, refusal = c.connect("mls", access_key="AAAAAAAAAAAAAAAA")
    assert refusal is not None and "unknown session" in refusal


def test_an_mls_connect_to_a_channel_of_another_group_lands_in_the_default(net: Net):
    dl = Console(net, app_id=APP_DL, version=110)
    dl.login("dl-player")
    foreign = dl.session.channel_id
    c = Console(net)
    c.begin()
    answer = c.one(c.mas, ma.AccountLoginRequest(message_id="1", username="u", password="p"))
    info = answer.connect_info
    mls, _ = c.connect("mls", access_key=info.access_key, session_key=info.session_key, world_id=foreign)
    assert mls.session.channel_id != foreign


def test_an_mls_connect_with_another_app_id_is_logged_and_accepted(net: Net, caplog):
    caplog.set_level(logging.INFO)
    c = Console(net)
    c.begin()
    answer = c.one(c.mas, ma.AccountLoginRequest(message_id="1", username="u", password="p"))
    c.app_id = 10683
    info = answer.connect_info
    _, refusal = c.connect("mls", access_key=info.access_key, session_key=info.session_key)
    assert refusal is None and any("differs from the MAS login" in r.getMessage() for r in caplog.records)


def test_a_session_without_connections_ends_after_the_grace(net: Net):
    c = Console(net)
    c.login("gone")
    key = c.session.session_key
    net.close(c.mls, "client disconnected")
    grace = net.config.timeouts.keepalive_grace
    net.tick(grace - 0.5)
    assert key in net.svc.lobby.sessions
    net.tick(1.0)
    assert key not in net.svc.lobby.sessions


def test_a_console_coming_back_to_the_mas_with_its_keys_rejoins_its_session(net: Net):
    c = Console(net)
    c.login("again")
    s = c.session
    back, refusal = c.connect("mas", access_key=s.access_key, session_key=s.session_key)
    assert refusal is None and back.session is s and back in s.connections


def test_muis_answers_universe_information_with_the_mas_address(net: Net):
    c = Console(net, app_id=APP_DL, version=110)
    conn, refusal = c.connect("muis")
    assert refusal is None
    wanted = UniverseInfo.SVO_URL | UniverseInfo.NEWS | UniverseInfo.NAME | UniverseInfo.DNS | 1
    answers = c.send(conn, mu.GetUniverseInformationRequest(message_id="u1", info_type=wanted))
    assert [type(a).__name__ for a in answers] == [
        "UniverseSvoURLResponse",
        "UniverseVariableInformationResponse",
        "UniverseNewsResponse",
    ]
    info = answers[1]
    assert (info.dns, info.port) == (LOBBY_IP, PORTS["mas"]) and "Deadlocked" in info.universe_name
    plain = c.send(conn, mu.GetUniverseInformationRequest(message_id="u2", info_type=1))
    assert [type(a).__name__ for a in plain] == ["UniverseVariableInformationResponse"]
    assert any(getattr(e, "stage", "") == "muis" for e in net.events)


def test_muis_names_an_unknown_title_plainly(net: Net):
    c = Console(net, app_id=999, version=110)
    conn, _ = c.connect("muis")
    (info,) = c.send(conn, mu.GetUniverseInformationRequest(message_id="u", info_type=0x9))
    assert info.universe_name == "clank-lan"


def test_the_harness_uses_no_wall_clock(net: Net):
    c = Console(net)
    c.login("t")
    assert c.session.created_at == net.clock.t  # the ``now`` the shell passed in
    assert msgspec.structs.asdict(net.events[0])["ts"] == WALL + net.clock.t


def test_the_lobby_logic_reads_no_clock_and_imports_no_trio():
    """Handlers get ``now`` from the shell; timestamps come from the injected wall clock."""
    root = Path(service.__file__).parent
    for path in sorted(root.glob("*.py")):
        nodes = list(ast.walk(ast.parse(path.read_text("utf-8"))))
        imported = {a.name.split(".")[0] for n in nodes if isinstance(n, ast.Import) for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in nodes if isinstance(n, ast.ImportFrom)}
        assert not imported & {"trio", "time"}, path.name
        called = {n.attr for n in nodes if isinstance(n, ast.Attribute)}
        assert not called & {"current_time", "monotonic", "perf_counter"}, path.name


def test_default_dependencies_allow_everyone_and_run_no_commands(net: Net):
    deps = LobbyDeps(
        config=net.config,
        db=net.db,
        publish=net.events.append,
        rng=bytes,
        wall_clock=lambda: WALL,
        rsa_key=keys.global_mas_key(),
        advertised_ip=LOBBY_IP,
        port=PORTS.__getitem__,
    )
    assert deps.run_command("players", "x", "lobby chat") == ["commands are not available here"]
    assert deps.admission.check_login("anyone", "1.2.3.4") is None and not deps.dme_up()
    assert [deps.scert_ids() for _ in range(3)] == [1, 2, 3]
