"""The appliance: every server in one trio nursery, sharing the lobby state and the database.

``Engine.run`` is the one way to start the appliance (``serve``, the self-test and the tests all
use it): it binds each service's port (a taken port marks that service down with the diagnosis
and the rest still starts), starts each server, and the DNS redirector when the engine was given
DNS settings, with ``nursery.start`` so the bound ports are known before anything is advertised,
and runs housekeeping (orphaned sessions, idle games). Once all are up, the garbage collector
freezes the start-up objects, once per process (``clank_lan.gctune``: a full collection scanning
them stalled the relay during login storms). ``shutdown`` tells every console goodbye and cancels
with a grace deadline.

The lobby gets narrow dependencies (``LobbyDeps``), never the engine itself.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import trio

from clank_lan.commands import Paths, run_command
from clank_lan.config import Config
from clank_lan.db.database import Database
from clank_lan.db.files import FileStore
from clank_lan.db.store import CHECKPOINT_EVERY
from clank_lan.dme.manager import DmeManager
from clank_lan.dme.server import serve_dme
from clank_lan.dnas.gateway import DnasGateway
from clank_lan.dnas.service import serve_dnas
from clank_lan.dnas.settings import DnasSettings
from clank_lan.dns.server import serve_dns
from clank_lan.dns.settings import DnsSettings
from clank_lan.doctor.operator import attach_tracker
from clank_lan.events import EventBus, ServiceState
from clank_lan.gctune import tune_once
from clank_lan.net.ports import PortUnavailable, bind_tcp, bind_udp
from clank_lan.net.setup import PortRule
from clank_lan.protocol.crypto import keys
from clank_lan.servers.lobby.apps import lobby_apps
from clank_lan.servers.lobby.deps import LobbyDeps
from clank_lan.servers.lobby.service import LobbyService
from clank_lan.servers.nat import serve_nat
from clank_lan.servers.tcp import serve_tcp
from clank_lan.textfilter import TextFilter
from clank_lan.tournament.appliance import attach_tournament, sync_now
from clank_lan.web.server import serve_web
from clank_lan.web.source import EngineBoardSource

log = logging.getLogger("clank_lan.engine")

SHUTDOWN_GRACE = 2.0
HOUSEKEEPING_INTERVAL = 1.0


@dataclass
class ServiceStatus:
    name: str
    protocol: str
    port: int
    up: bool = False
    detail: str = ""


@dataclass
class Addresses:
    """``bind`` is where sockets listen; ``advertised`` is what consoles are told to dial."""

    bind: str
    advertised: str


@dataclass
class Engine:
    config: Config
    addresses: Addresses
    data_dir: Path | None = None
    ephemeral: bool = False
    bus: EventBus = field(default_factory=EventBus)
    rng: Callable[[int], bytes] = os.urandom
    wall_clock: Callable[[], float] = time.time
    #: The DNS redirector's settings; None runs no DNS (tests, ``--no-dns``).
    dns: DnsSettings | None = None
    #: Where the config, data and log files are, for ``status`` and the TUI (None: not said).
    paths: Paths | None = None

    def __post_init__(self) -> None:
        self.db = Database.open(self.data_dir, ephemeral=self.ephemeral)
        self.rsa_key = keys.global_mas_key()
        self.services: dict[str, ServiceStatus] = {}
        self.started_at = self.wall_clock()
        self._scert_ids = iter(range(1, 1 << 31))
        self.dme = DmeManager(
            advertised_ip=self.addresses.advertised,
            tcp_port=self.config.ports.dme_tcp,
            udp_port=self.config.ports.dme_udp,
            timeouts=self.config.timeouts,
            rng=self.rng,
            clock=trio.current_time,
            limits=self.config.limits,
        )
        self.lobby = LobbyService(
            LobbyDeps(
                config=self.config,
                db=self.db,
                publish=self.bus.publish,
                rng=self.rng,
                wall_clock=self.wall_clock,
                rsa_key=self.rsa_key,
                advertised_ip=self.addresses.advertised,
                port=self.port,
                dme=self.dme,
                dme_up=self._dme_up,
                run_command=lambda line, actor, origin: run_command(self, line, actor=actor, origin=origin),
                scert_ids=self.next_scert_id,
                files=FileStore.open(self.data_dir) if self._on_disk else FileStore.ephemeral(),
                text_filter=self._text_filter(),
            )
        )
        self.apps = lobby_apps(self.lobby)
        #: Tournament mode: installs itself as the lobby's admission policy (idle until started).
        self.tournament = attach_tournament(self, self.db.tournaments, audit_hook=self._audit_tournament)
        #: Per-console connection stages (the connection doctor's view of every console).
        self.consoles = attach_tracker(self)
        self._nursery: trio.Nursery | None = None
        self._bound: list[trio.SocketListener | trio.socket.SocketType] = []  # closed when run ends
        self.stopping = False

    @property
    def _on_disk(self) -> bool:
        return not self.ephemeral and self.data_dir is not None

    def _text_filter(self) -> TextFilter:
        """The lobby's word list: the config's words plus its word file (a bad file stops start-up)."""
        titles = self.config.titles
        words = list(titles.filter_words)
        if titles.filter_words_file:
            words += TextFilter.from_file(Path(titles.filter_words_file)).words
        return TextFilter(words)

    def _audit_tournament(self, actor: str, action: str, detail: str) -> None:
        self.db.audit.record("tournament", actor=actor, origin="tournament", target=action, detail=detail)

    # ports ---------------------------------------------------------------------------------
    def port(self, name: str) -> int:
        """The bound port of a service (the configured one until it is bound)."""
        s = self.services.get(name)
        return s.port if s is not None else getattr(self.config.ports, name)

    def next_scert_id(self) -> int:
        return next(self._scert_ids) & 0xFFFF

    def _dme_up(self) -> bool:
        s = self.services.get("dme_tcp")
        return s is not None and s.up

    def _extra_lobby_ports(self) -> list[tuple[str, int, object]]:
        """The unverified regional ports (``[titles]``), served only when configured (not 0)."""
        t = self.config.titles
        extra = [("muis_eu", t.muis_eu_port, self.apps.muis), ("muis_jp", t.muis_jp_port, self.apps.muis)]
        extra.append(("mas_kr", t.mas_kr_port, self.apps.mas))
        return [(name, port, app) for name, port, app in extra if port]

    def port_rules(self) -> list[PortRule]:
        """What a remote player's router must forward (for the setup text)."""
        p = self.config.ports
        return [
            PortRule("TCP", self.port("muis"), purpose="MUIS (universe info)"),
            PortRule("TCP", self.port("mas"), purpose="MAS (login)"),
            PortRule("TCP", self.port("mls"), purpose="MLS (lobby)"),
            PortRule("TCP", self.port("mps"), purpose="MPS (lobby, some titles)"),
            PortRule("TCP", self.port("dme_tcp"), purpose="DME (game relay)"),
            PortRule("UDP", self.port("dme_udp") or p.dme_udp, purpose="DME (game relay)"),
            PortRule("UDP", self.port("nat"), purpose="NAT address discovery"),
            *(
                [PortRule("TCP", self.port("dnas"), purpose="DNAS (disc check)")]
                if "dnas" in self.services
                else []
            ),
            *(
                PortRule("TCP", self.port(name), purpose=f"{name.upper()} (regional)")
                for name, _, _ in self._extra_lobby_ports()
            ),
        ]

    # running -------------------------------------------------------------------------------
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Start every service; ``task_status.started(self)`` once all are up (or marked down)."""
        ports = self.config.ports
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for name, service in (
                    ("muis", self.apps.muis),
                    ("mas", self.apps.mas),
                    ("mls", self.apps.mls),
                    ("mps", self.apps.mps),  # the lobby plus MGCL for console-hosted games
                ):
                    await self._start_tcp(nursery, name, getattr(ports, name), service)
                for name, port, service in self._extra_lobby_ports():
                    await self._start_tcp(nursery, name, port, service)
                udp = await self._bind("dme_udp", "UDP", ports.dme_udp)
                tcp = await self._bind("dme_tcp", "TCP", ports.dme_tcp)
                if udp is not None and tcp is not None:
                    self.dme.tcp_port = self.port("dme_tcp")
                    self.dme.udp_port = self.port("dme_udp")
                    await nursery.start(partial(serve_dme, self.dme, tcp, udp, limits=self.config.limits))
                    self._mark_up("dme_tcp")
                    self._mark_up("dme_udp")
                elif udp is not None or tcp is not None:
                    for s in (udp, tcp):
                        if s is not None:
                            await s.aclose() if hasattr(s, "aclose") else s.close()
                    self._mark_down("dme_tcp" if tcp is None else "dme_udp", "the DME needs both ports")
                nat = await self._bind("nat", "UDP", ports.nat)
                if nat is not None:
                    await nursery.start(partial(serve_nat, nat, limits=self.config.limits))
                    self._mark_up("nat")
                if self.dns is not None:
                    await self._start_dns(nursery, self.dns)
                if self.config.dnas.enabled:
                    await self._start_dnas(nursery, self.config.dnas)
                if self.config.web.enabled:
                    await self._start_web(nursery)
                nursery.start_soon(self._housekeeping)
                if self._on_disk:
                    nursery.start_soon(self._checkpoints)
                tune_once()  # start-up's objects are never scanned again (clank_lan/gctune.py)
                task_status.started(self)
        finally:
            self._nursery = None
            for sock in self._bound:  # the services stop serving them, but never close them
                (sock.socket if isinstance(sock, trio.SocketListener) else sock).close()
            self._bound.clear()
            self.db.close()

    async def _bind(self, name: str, proto: str, port: int):
        self.services[name] = ServiceStatus(name, proto, port)
        try:
            if proto == "TCP":
                sock = await bind_tcp(self.addresses.bind, port, service=name.upper())
                bound = sock.socket.getsockname()[1]
            else:
                sock = await bind_udp(self.addresses.bind, port, service=name.upper())
                bound = sock.getsockname()[1]
        except PortUnavailable as exc:
            self._mark_down(name, exc.message)
            return None
        self.services[name].port = bound
        self._bound.append(sock)
        return sock

    async def _start_tcp(self, nursery: trio.Nursery, name: str, port: int, app) -> None:
        listener = await self._bind(name, "TCP", port)
        if listener is None:
            return
        await nursery.start(
            partial(serve_tcp, limits=self.config.limits), name.upper(), listener, app.connection_factory
        )
        self._mark_up(name)

    def _mark_up(self, name: str) -> None:
        s = self.services[name]
        s.up = True
        address = f"{self.addresses.bind}:{s.port}/{s.protocol.lower()}"
        log.info("%s listening on %s", name.upper(), address)
        self.bus.publish(ServiceState(ts=self.wall_clock(), service=name, ok=True, address=address))

    def _mark_down(self, name: str, detail: str) -> None:
        s = self.services[name]
        s.up = False
        s.detail = detail
        log.error("%s is DOWN: %s", name.upper(), detail)
        self.bus.publish(ServiceState(ts=self.wall_clock(), service=name, ok=False, detail=detail))

    async def _start_dns(self, nursery: trio.Nursery, settings: DnsSettings) -> None:
        """The DNS redirector binds its own UDP and TCP sockets; it is recorded like the rest."""
        try:
            port = await nursery.start(
                partial(
                    serve_dns,
                    settings,
                    self.addresses.bind,
                    self.addresses.advertised,
                    self.bus,
                    external_ip=self.config.network.advertised_address,
                    limits=self.config.limits,
                )
            )
        except PortUnavailable as exc:
            self.services["dns"] = ServiceStatus("dns", "UDP", settings.port)
            self._mark_down("dns", exc.message)
            return
        self.services["dns"] = ServiceStatus("dns", "UDP", port)
        self._mark_up("dns")

    async def _start_dnas(self, nursery: trio.Nursery, settings: DnasSettings) -> None:
        """The built-in DNAS gateway; its key and certificates are made on first run (in a thread:
        a 1024-bit RSA key takes a fraction of a second)."""
        listener = await self._bind("dnas", "TCP", settings.port)
        if listener is None:
            return
        gateway = await trio.to_thread.run_sync(DnasGateway.load, settings, self.data_dir, self.rng)
        await nursery.start(
            partial(
                serve_dnas,
                listener,
                gateway,
                publish=self.bus.publish,
                wall_clock=self.wall_clock,
                rng=self.rng,
            )
        )
        self._mark_up("dnas")

    async def _start_web(self, nursery: trio.Nursery) -> None:
        """The web board (hypercorn binds its own socket; a taken port marks only it down)."""
        web = self.config.web
        self.services["web"] = ServiceStatus("web", "TCP", web.port)
        try:
            bound = await nursery.start(
                serve_web,
                EngineBoardSource(self, self.tournament),
                web.address or self.addresses.bind,
                web.port,
            )
        except PortUnavailable as exc:
            self._mark_down("web", exc.message)
            return
        self.services["web"].port = bound
        self._mark_up("web")

    async def _housekeeping(self) -> None:
        while True:
            await trio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                self.lobby.housekeeping(trio.current_time())
                sync_now(self, self.tournament)
            except Exception:
                log.exception("housekeeping failed")

    async def _checkpoints(self) -> None:
        """The database's checkpoints, in a worker thread while there are writes: a commit never
        runs one on the event loop (``clank_lan.db.store``). The last one is ``db.close``'s, once
        this task has ended."""
        failing = False
        while True:
            await trio.sleep(CHECKPOINT_EVERY)
            if not self.db.take_unchecked() and not failing:
                continue
            try:
                await trio.to_thread.run_sync(self.db.checkpoint)
            except sqlite3.Error as exc:  # the WAL keeps every commit: retried, said once
                if not failing:
                    log.warning(
                        "database checkpoint failed: %s (no write is lost: the database's log keeps"
                        " them; retried every %g s)",
                        exc,
                        CHECKPOINT_EVERY,
                    )
                failing = True
            else:
                if failing:
                    log.info("database checkpoints work again")
                failing = False

    async def shutdown(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Say goodbye to every console, then cancel everything after ``grace`` seconds."""
        if self._nursery is None or self.stopping:
            return
        self.stopping = True
        self.lobby.disconnect_all("server shutting down")
        for world_id in self.dme.world_ids():
            self.dme.end_world(world_id, brutal=True)
        nursery = self._nursery
        nursery.cancel_scope.deadline = trio.current_time() + grace
        await trio.sleep(min(0.2, grace))
        nursery.cancel_scope.cancel()
