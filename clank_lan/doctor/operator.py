"""The tracker's hook into a running engine (the ``consoles`` command lives in ``commands``).

``attach_tracker`` subscribes a ``ConsoleTracker`` to the engine's bus. The lobby reports the end
of a console's DME handshake as the DME TCP stage; whether its aux UDP arrived too is read here
from the DME's world info, so the tracker can tell a firewall blocking UDP from a working game.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clank_lan.doctor.tracker import ConsoleTracker
from clank_lan.events import Event
from clank_lan.stages import Stage

if TYPE_CHECKING:
    from clank_lan.engine import Engine


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
    """A tracker fed by ``engine``'s bus; the engine keeps it as ``engine.consoles``."""
    tracker = ConsoleTracker(engine.port)

    def on_event(ev: Event) -> None:
        tracker.feed(ev)
        if getattr(ev, "stage", None) == Stage.DME_TCP:
            ip = getattr(ev, "ip", "")
            try:
                endpoint = dme_udp_endpoint(engine, ip)
            except Exception:  # never break the publisher
                endpoint = ""
            if endpoint:
                tracker.stage(
                    ip,
                    Stage.DME_UDP,
                    ev.ts,
                    account=getattr(ev, "account", ""),
                    session=getattr(ev, "session", ""),
                    detail=f"UDP from {endpoint}",
                )

    engine.bus.add_callback(on_event)
    return tracker
