"""Which service a port belongs to, from the appliance's default ports (``config.PortSettings``),
which are also the ports Sony's servers used."""

from __future__ import annotations

from clank_lan.config import PortSettings

NAT = "NAT"
DME = "DME"

#: PortSettings field -> service name shown in the frame log.
_FIELD_SERVICE = {"muis": "MUIS", "mas": "MAS", "mls": "MLS", "mps": "MPS", "dme_tcp": DME, "nat": NAT}

#: Sony's DME answered UDP from ports in this range (50000, 50002, 50025 in the captures);
#: a DME's SERVER_INFO_AUX_UDP announces the exact one.
DME_UDP_RANGE = range(50000, 50101)


def default_ports() -> dict[int, str]:
    """TCP/UDP port -> service name for the well-known Medius ports."""
    ports = PortSettings()
    return {getattr(ports, f): name for f, name in _FIELD_SERVICE.items()}


def parse_port_spec(spec: str) -> tuple[int, str]:
    """``NAME=PORT`` (e.g. ``MLS=10078``) -> (port, NAME); raises ValueError when malformed."""
    name, sep, port = spec.partition("=")
    if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected SERVICE=PORT, got {spec!r}")
    return int(port), name.upper()
