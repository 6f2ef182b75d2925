"""A stand-in for the engine with exactly what the operator console reads, on a fixed clock.

The TUI tests drive the real app, the real command registry, the real database (in memory), the
real console tracker and the lobby's real state objects, but no sockets and no servers: a fake
``lobby`` service does what the operator commands ask (kick, ban, broadcast, end game) on that
state. Times are fixed, so screenshots are the same on every run.
"""

from __future__ import annotations

import asyncio
import gc
import html
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio
from textual import _wait as textual_wait
from textual.pilot import Pilot

from clank_lan.commands import Paths
from clank_lan.db import BanKind, Database
from clank_lan.doctor.tracker import ConsoleTracker
from clank_lan.engine import Addresses, ServiceStatus
from clank_lan.events import DnsQuery, EventBus, PlayerStage
from clank_lan.net.setup import PortRule
from clank_lan.servers.lobby.state import Game, GamePlayer, Lobby, Session, WorldStatus
from clank_lan.titles import TITLES_BY_KEY
from clank_lan.tournament.formats import Format
from clank_lan.tournament.roster import Roster, RosterEntry
from clank_lan.tournament.service import TournamentService
from clank_lan.tui.app import ClankApp
from clank_lan.tui.host import ConsoleHost
from clank_lan.tui.link import EngineLink
from tests.trio_guest import TrioGuest

#: Allocations between two young-generation collections while an app runs (CPython's default: 700).
APP_RUN_GC_THRESHOLD = 10_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect the young generation every 10,000 allocations instead of 700 while an app runs.

    A console test allocates 100,000 and more tracked objects, nearly all of them alive until
    the app ends (widgets, styles, strips), so most young collections found nothing to free
    and only moved them on, and every tenth of those walked the older generation too. The
    default comes back when the run ends, for the rest of the process.
    """
    old = gc.get_threshold()
    gc.set_threshold(APP_RUN_GC_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


#: 2027-01-15 08:00:00 UTC: every wall-clock time the fake engine shows starts here.
T0 = 1_800_000_000.0
PORTS = {"muis": 10071, "mas": 10075, "mls": 10078, "mps": 10077, "dme_tcp": 10079, "dme_udp": 50000}


@dataclass
class FakeConn:
    """A console's connection: what it was told, and whether it was dropped."""

    messages: list[str] = field(default_factory=list)
    dropped: str = ""

    def send_app(self, payload: bytes, shared: bool = False) -> None:
        pass

    def send_system_message(self, text: str) -> None:
        self.messages.append(text)

    def disconnect(self, reason: str, code: int = 0) -> None:
        self.dropped = reason


class FakeLobbyService:
    """The operator actions of the lobby service, on real lobby state."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.lobby = Lobby(rng=random.Random(1).randbytes)
        self.broadcasts: list[str] = []

    def kick(self, name: str, reason: str) -> bool:
        s = self.lobby.by_name(name)
        if s is None:
            return False
        for c in s.connections:
            c.send_system_message(reason)
            c.disconnect(reason)
        if s.game_id is not None and s.game_id in self.lobby.games:
            self.lobby.games[s.game_id].players.pop(s.session_key, None)
        self.lobby.remove_session(s)
        return True

    def ban(self, name: str, minutes: float, reason: str) -> str:
        found = [a for a in self.engine.db.accounts.listing() if a.name.lower() == name.lower()]
        if not found:
            return f"no account named {name!r}"
        now = self.engine.wall_clock()
        for a in found:
            expires = now + minutes * 60 if minutes > 0 else None
            self.engine.db.bans.add(BanKind.ACCOUNT, a.id, reason=reason, expires=expires, now=now)
        self.kick(name, f"banned: {reason}")
        span = f"for {minutes:g} minutes" if minutes > 0 else "forever"
        return f"banned {name} {span}: {reason}"

    def unban(self, name: str) -> str:
        ids = {str(a.id) for a in self.engine.db.accounts.listing() if a.name.lower() == name.lower()}
        bans = [b for b in self.engine.db.bans.listing() if b.kind == BanKind.ACCOUNT and b.target in ids]
        return f"lifted {sum(self.engine.db.bans.remove(b.id) for b in bans)} ban(s) on {name}"

    def broadcast(self, text: str) -> int:
        self.broadcasts.append(text)
        n = 0
        for s in self.lobby.sessions.values():
            for c in s.connections:
                c.send_system_message(text)
                n += 1
        return n

    def end_game(self, game_id: int) -> bool:
        g = self.lobby.games.get(game_id)
        if g is None:
            return False
        g.status = WorldStatus.CLOSED
        self.lobby.remove_game(g)
        return True

    def describe_players(self) -> list[str]:
        return [f"{s.account_name} {s.title_key} {s.ip}" for s in self.lobby.sessions.values() if s.logged_in]

    def describe_games(self) -> list[str]:
        return [f"{g.id} {g.name!r}" for g in self.lobby.games.values()]

    def describe_channels(self) -> list[str]:
        return [f"{c.id} {c.name}" for c in self.lobby.channels.values()]


class FakeDme:
    def world_info(self, world_id: int) -> None:
        return None


class FakeEngine:
    """What the TUI and the command registry read of an engine."""

    def __init__(self, *, advertised: str = "192.168.1.50", data_dir: Path | None = None) -> None:
        self.now = T0 + 3725.0  # up 1:02:05
        self.started_at = T0
        self.addresses = Addresses(bind=advertised, advertised=advertised)
        self.bus = EventBus()
        self.db = Database.open(None, ephemeral=True, clock=self.wall_clock)
        self.lobby = FakeLobbyService(self)
        self.consoles = ConsoleTracker(PORTS)
        self.bus.add_callback(self.consoles.feed)
        self.dme = FakeDme()
        # the real service on the in-memory database, on the fixed clock (as attach_tournament does)
        self.tournament = TournamentService(
            self.db.tournaments, clock=self.wall_clock, accounts=self.db.accounts
        )
        self.data_dir = data_dir
        self.paths = Paths(
            config=Path("/srv/clank/clank-lan.toml"),
            data=data_dir or Path("/srv/clank/data"),
            log=Path("/srv/clank/data/logs/clank-lan.log"),
        )
        self.services = {
            name: ServiceStatus(name, "UDP" if name == "dme_udp" else "TCP", port, up=True)
            for name, port in PORTS.items()
        }
        self.services["nat"] = ServiceStatus("nat", "UDP", 10070, up=True)
        self.services["dns"] = ServiceStatus(
            "dns",
            "UDP",
            53,
            up=False,
            detail="port 53 on 192.168.1.50 is taken by systemd-resolved (pid 412): stop it with "
            "'sudo systemctl stop systemd-resolved', or bind clank-lan's DNS to the LAN address only "
            "([network] address), or give the consoles a hosts file instead (clank-lan hosts-ini)",
        )
        self.shutdown_called = False
        self.stopped: trio.Event | None = None  # made by ``serving`` inside the trio run

    def wall_clock(self) -> float:
        return self.now

    def port(self, name: str) -> int:
        return PORTS.get(name, 0)

    def port_rules(self) -> list[PortRule]:
        return [PortRule("TCP", p, purpose=n.upper()) for n, p in PORTS.items()]

    async def shutdown(self, grace: float = 0.0) -> None:
        self.shutdown_called = True
        self.disconnect_all("server shutting down")
        if self.stopped is not None:
            self.stopped.set()

    def disconnect_all(self, reason: str) -> None:
        for s in self.lobby.lobby.sessions.values():
            for c in s.connections:
                c.disconnect(reason)

    # building a fixed state ---------------------------------------------------------------------
    def player(self, name: str, ip: str, *, title: str = "uya-ntsc", channel: str | None = "Main") -> Session:
        account = self.db.accounts.create("uya", name, "pw")  # the new id
        s = self.lobby.lobby.new_session(
            app_id=10684,
            title=TITLES_BY_KEY[title],
            group="uya",
            namespace="uya",
            medius_version=108,
            ip=ip,
            created_at=self.now - 600,
        )
        s.account_id, s.account_name, s.logged_in = account, name, True
        s.connections.append(FakeConn())
        s.stage |= {"muis", "mas", "login", "mls"}
        if channel is not None:
            ch = next((c for c in self.lobby.lobby.channels.values() if c.name == channel), None)
            if ch is None:
                ch = self.lobby.lobby.add_channel("uya", channel)
            self.lobby.lobby.join_channel(s, ch)
        return s

    def game(self, name: str, host: Session, *others: Session) -> Game:
        g = self.lobby.lobby.add_game(
            group="uya", app_id=10684, name=name, host_type=1, created_at=self.now - 300, max_players=8
        )
        g.host, g.status, g.started_at = host, WorldStatus.ACTIVE, self.now - 240
        for i, s in enumerate((host, *others)):
            g.players[s.session_key] = GamePlayer(session=s, index=i, access_key="k", connected=True)
            s.game_id, s.dme_index = g.id, i
        return g


def fixed_state(engine: FakeEngine) -> FakeEngine:
    """The state every screenshot shows: three players, a game, a stuck console, a ban, and a
    tournament with a linked game and a result to confirm (``cup_state``)."""
    amy = engine.player("amy", "192.168.1.21")
    ben = engine.player("ben", "192.168.1.22")
    engine.player("dan", "192.168.1.24")
    engine.game("LAN final", amy, ben)
    pest = engine.db.accounts.create("uya", "pest", "pw")
    ban = engine.db.bans.add(BanKind.ACCOUNT, pest, reason="spamming chat", now=engine.now - 900)
    engine.db.audit.record(
        "ban",
        actor="tui",
        origin="operator console (TUI)",
        target="pest",
        detail="forever: spamming chat",
        ref=f"ban:{ban.id}",
        now=engine.now - 900,
    )
    t = engine.now - 120
    engine.consoles.feed(
        DnsQuery(ts=t, client="192.168.1.30:5353", name="ratchet3-prod1.pdonline.scea.com",
                 qtype="A", answer="192.168.1.50", title="uya-ntsc")
    )  # fmt: skip
    engine.consoles.feed(PlayerStage(ts=t + 1, ip="192.168.1.30", stage="mas", title="uya-ntsc"))
    return cup_state(engine)


def cup_state(engine: FakeEngine) -> FakeEngine:
    """A 4-player single elimination: amy vs ben (their game "LAN final" is linked to it) and
    dan vs eve, whose game 7 ended without a readable winner (result 1, to confirm)."""
    seeds = {"amy": 1, "dan": 2, "eve": 3, "ben": 4}  # 1 meets 4, 2 meets 3
    roster = Roster(tuple(RosterEntry(name, seed=seed) for name, seed in seeds.items()))
    svc = engine.tournament
    svc.create("LAN Cup", roster, Format.SINGLE, actor="console")
    final = next(g for g in engine.lobby.lobby.games.values() if g.name == "LAN final")
    svc.on_game_created(final.id, "amy", engine.now - 240)
    for name in ("amy", "ben"):
        svc.on_player_joined(final.id, name)
    svc.on_game_created(7, "dan", engine.now - 900)
    for name in ("dan", "eve"):
        svc.on_player_joined(7, name)
    svc.on_game_removed(7, engine.now - 60)
    return engine


class Harness:
    """The fake engine served to the app as ``serve`` serves the real one (a ``ConsoleHost`` on a
    loopback port), run as a trio guest of the test's own asyncio loop: one thread, so a test
    reads the engine's state between Pilot steps without a race."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.host = ConsoleHost(engine)
        self.guest = TrioGuest()
        self.ready = asyncio.Event()

    async def connect(self) -> EngineLink:
        """``ClankApp``'s ``connect``: starts the guest on first use."""
        if not self.guest.started.is_set():
            self.guest.start(self._main)
        await self.ready.wait()
        assert self.host.address is not None
        return await EngineLink.connect(self.host.address)

    async def _main(self, nursery: trio.Nursery) -> None:
        self.engine.stopped = trio.Event()
        await nursery.start(self.host.run)
        self.ready.set()
        await self.engine.stopped.wait()

    async def stop(self) -> None:
        """One trio guest per loop: never leave one behind for the next test."""
        self.ready.set()  # a connect still waiting returns (and fails: the guest is gone)
        self.guest.cancel()
        await self.guest.wait_done(5)


async def wait_until(pilot: Pilot, cond: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Poll ``cond`` between Pilot pauses (bounded: the app itself runs on real time)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.02)


async def painted(pilot: Pilot, app, *needles: str, timeout: float = 5.0) -> str:
    """The screen's text once every needle is on it: a panel updated by a key press is drawn at the
    next repaint, which Pilot's idle check does not always wait for."""
    shown = ""

    def on_screen() -> bool:
        nonlocal shown
        shown = screen_text(app)
        return all(n in shown for n in needles)

    await wait_until(pilot, on_screen, " and ".join(repr(n) for n in needles), timeout)
    return shown


def run_app(app, scenario: Callable[..., Awaitable[None]], size: tuple[int, int] = (120, 40)) -> None:
    """Run ``scenario(app, pilot)`` once the fake servers are attached; bounded to 20 s."""

    async def main() -> None:
        try:
            async with app.run_test(size=size) as pilot:
                await wait_until(pilot, lambda: app.view is not None, "the fake engine's first view")
                await pilot.pause()
                await scenario(app, pilot)
        finally:
            await app.harness.stop()

    with fewer_collections(), quicker_idle_checks():
        asyncio.run(asyncio.wait_for(main(), 20))


#: How long Pilot sleeps between its checks that the app went idle (Textual's: 20 ms).
IDLE_CHECK = 0.005


@contextmanager
def quicker_idle_checks() -> Iterator[None]:
    """Pilot waits for the app to go idle after every key, by sleeping 20 ms at a time until a
    sleep passes with the process (nearly) idle: at least 40 ms of wall time per key. The same
    check in 5 ms steps (the same idle share, 5 % of the step) lets a test wait a quarter as long;
    the tests wait for what they assert anyway (``wait_until``)."""
    old = textual_wait.SLEEP_GRANULARITY, textual_wait.SLEEP_IDLE
    textual_wait.SLEEP_GRANULARITY, textual_wait.SLEEP_IDLE = IDLE_CHECK, IDLE_CHECK / 20
    try:
        yield
    finally:
        textual_wait.SLEEP_GRANULARITY, textual_wait.SLEEP_IDLE = old


_SVG_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#[\w-]+-line-(\d+)\)">(.*?)</text>'
)


def screen_text(app) -> str:
    """What the terminal shows, as plain lines (from the SVG screenshot Textual exports)."""
    lines: dict[int, list[tuple[float, str]]] = {}
    for m in _SVG_TEXT.finditer(app.export_screenshot()):
        text = html.unescape(m.group(3)).replace("\xa0", " ")
        lines.setdefault(int(m.group(2)), []).append((float(m.group(1)), text))
    out = []
    for n in sorted(lines):
        row = ""
        for x, text in sorted(lines[n]):
            row = row.ljust(round(x / 12.2)) + text  # Rich's SVG: 12.2 px per cell
        out.append(row.rstrip())
    return "\n".join(out)


def make_app(engine: FakeEngine | None = None) -> tuple[ClankApp, FakeEngine]:
    """The operator console on a fake engine (its fixed state unless one is given)."""
    engine = engine or fixed_state(FakeEngine())
    harness = Harness(engine)
    app = ClankApp(harness.connect, forward_logs=False, show_clock=False)
    app.harness = harness
    return app, engine
