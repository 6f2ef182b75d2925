"""The appliance: every server in one trio nursery, sharing the lobby state and the database.

``Engine.run`` binds each service's port (a taken port marks that service down with the
diagnosis and the rest still starts), starts each server with ``nursery.start`` so the bound
ports are known before anything is advertised, and runs housekeeping (orphaned sessions, idle
games). ``shutdown`` tells every console goodbye and cancels with a grace deadline.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import trio

from clank_lan.config import Config
from clank_lan.db.database import Database
from clank_lan.events import EventBus, ServiceState
from clank_lan.net.ports import PortUnavailable, bind_tcp, bind_udp
from clank_lan.net.setup import PortRule
from clank_lan.protocol.crypto import keys
from clank_lan.servers.nat import serve_nat
from clank_lan.servers.tcp import serve_tcp

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

    def __post_init__(self) -> None:
        from clank_lan.dme.manager import DmeManager
        from clank_lan.servers.lobby.service import LobbyServices

        self.db = Database.open(self.data_dir, ephemeral=self.ephemeral)
        self.rsa_key = keys.global_mas_key()
        self.services: dict[str, ServiceStatus] = {}
        self.started_at = self.wall_clock()
        self._scert_ids = iter(range(1, 1 << 31))
        self.lobby = LobbyServices(self)
        timeouts = self.config.timeouts
        self.dme = DmeManager(
            advertised_ip=self.addresses.advertised,
            tcp_port=self.config.ports.dme_tcp,
            udp_port=self.config.ports.dme_udp,
            timeouts=timeouts,
            rng=self.rng,
            clock=trio.current_time,
        )
        self.lobby.attach_dme(self.dme)
        from clank_lan.doctor.operator import attach_tracker

        #: Per-console connection stages (the connection doctor's view of every console).
        self.consoles = attach_tracker(self)
        self._nursery: trio.Nursery | None = None
        self.stopping = False

    # ports ---------------------------------------------------------------------------------
    def port(self, name: str) -> int:
        """The bound port of a service (the configured one until it is bound)."""
        s = self.services.get(name)
        return s.port if s is not None else getattr(self.config.ports, name)

    def next_scert_id(self) -> int:
        return next(self._scert_ids) & 0xFFFF

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
        ]

    # running -------------------------------------------------------------------------------
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED, extra=None) -> None:
        """Start every service; ``task_status.started(self)`` once all are up (or marked down)."""
        from clank_lan.dme.server import serve_dme

        ports = self.config.ports
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for name, service in (
                    ("muis", self.lobby.muis),
                    ("mas", self.lobby.mas),
                    ("mls", self.lobby.mls),
                    ("mps", self.lobby.mls),  # titles that dial the MPS port get the lobby there
                ):
                    await self._start_tcp(nursery, name, getattr(ports, name), service)
                udp = await self._bind("dme_udp", "UDP", ports.dme_udp)
                tcp = await self._bind("dme_tcp", "TCP", ports.dme_tcp)
                if udp is not None and tcp is not None:
                    self.dme.tcp_port = self.port("dme_tcp")
                    self.dme.udp_port = self.port("dme_udp")
                    await nursery.start(partial(serve_dme, self.dme, tcp, udp))
                    self._mark_up("dme_tcp")
                    self._mark_up("dme_udp")
                elif udp is not None or tcp is not None:
                    for s in (udp, tcp):
                        if s is not None:
                            await s.aclose() if hasattr(s, "aclose") else s.close()
                    self._mark_down("dme_tcp" if tcp is None else "dme_udp", "the DME needs both ports")
                nat = await self._bind("nat", "UDP", ports.nat)
                if nat is not None:
                    await nursery.start(serve_nat, nat)
                    self._mark_up("nat")
                if extra is not None:
                    await extra(self, nursery)
                nursery.start_soon(self._housekeeping)
                task_status.started(self)
        finally:
            self._nursery = None
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
        return sock

    async def _start_tcp(self, nursery: trio.Nursery, name: str, port: int, app) -> None:
        listener = await self._bind(name, "TCP", port)
        if listener is None:
            return
        await nursery.start(serve_tcp, name.upper(), listener, app.connection_factory)
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

    def mark_external(self, name: str, proto: str, port: int, up: bool, detail: str = "") -> None:
        """Record a service started outside ``run`` (the DNS redirector)."""
        self.services[name] = ServiceStatus(name, proto, port)
        if up:
            self._mark_up(name)
        else:
            self._mark_down(name, detail)

    async def _housekeeping(self) -> None:
        while True:
            await trio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                self.lobby.housekeeping(trio.current_time())
            except Exception:
                log.exception("housekeeping failed")

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
