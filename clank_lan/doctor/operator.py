"""The tracker's hook into a running engine, and the ``consoles`` operator command.

``attach_tracker`` subscribes a ``ConsoleTracker`` to the engine's bus. The lobby reports the end
of a console's DME handshake as one "dme" stage; whether its aux UDP arrived too is read here
from the DME's world info, so the tracker can tell a firewall blocking UDP from a working game.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clank_lan.doctor.tracker import ConsoleTracker, render_consoles
from clank_lan.events import Event

if TYPE_CHECKING:
    from clank_lan.engine import Engine

#: Usage and help text for the command registry entry.
CONSOLES_USAGE = "consoles [IP]"
CONSOLES_HELP = "How far each console got (DNS, MUIS, MAS, MLS, game, DME) and what probably stopped it."


def dme_udp_endpoint(engine: Engine, ip: str) -> str:
    """The aux-UDP endpoint of a connected DME player whose TCP comes from ``ip``, or ""."""
    dme = getattr(engine, "dme", None)
    if dme is None:
        return ""
    for world_id in dme.world_ids():
        info = dme.world_info(world_id)
        for p in info.players if info is not None else ():
            if p.state == "connected" and p.udp_endpoint and p.tcp_peer.rsplit(":", 1)[0] == ip:
                return p.udp_endpoint
    return ""


def attach_tracker(engine: Engine) -> ConsoleTracker:
    """A tracker fed by ``engine``'s bus; also stored as ``engine.consoles`` for the command."""
    tracker = ConsoleTracker(engine.port)

    def on_event(ev: Event) -> None:
        tracker.feed(ev)
        if getattr(ev, "stage", None) == "dme":
            ip = getattr(ev, "ip", "")
            try:
                endpoint = dme_udp_endpoint(engine, ip)
            except Exception:  # never break the publisher
                endpoint = ""
            if endpoint:
                tracker.stage(ip, "dme-udp", ev.ts, detail=f"UDP from {endpoint}")

    engine.bus.add_callback(on_event)
    engine.consoles = tracker  # type: ignore[attr-defined]  # the lead may declare the field
    return tracker


def consoles_command(engine: Engine, args: list[str], actor: str) -> list[str]:
    """``consoles [IP]``: each console's stages and diagnosis (one console with an IP)."""
    tracker: ConsoleTracker | None = getattr(engine, "consoles", None)
    if tracker is None:
        return ["the console tracker is not running (attach_tracker was not called)"]
    now = engine.wall_clock()
    if args:
        status = tracker.status(args[0], now)
        if status is None:
            return [
                f"no console {args[0]} has contacted clank-lan",
                "If it is trying, its DNS is not this machine, or it connects to another address.",
            ]
        statuses = [status]
    else:
        statuses = tracker.snapshot(now)
    return render_consoles(statuses, now, dns_address=engine.addresses.advertised)
