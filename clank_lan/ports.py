"""The appliance's default ports: the one place each number is written.

``config.PortSettings`` takes its defaults from here, and so do the headless client, the doctor
and the port diagnostics. The MUIS and MAS ports are dialled by the discs as fixed numbers; the
others are announced by the servers (the MAS names the MLS, JoinGame names the DME and NAT), so
they may move. Figures from Sony's servers in the captures (dme-nat-muis-dns.md).
"""

from __future__ import annotations

from types import MappingProxyType

DNS = 53
NAT = 10070
MUIS = 10071
MPS = 10077
MAS = 10075
MLS = 10078
DME_TCP = 10079
DME_UDP = 50000
DNAS = 443
WEB = 8080

#: Default port of each service, by the engine's service names.
DEFAULT_PORTS = MappingProxyType(
    {
        "dns": DNS,
        "nat": NAT,
        "muis": MUIS,
        "mas": MAS,
        "mps": MPS,
        "mls": MLS,
        "dme_tcp": DME_TCP,
        "dme_udp": DME_UDP,
        "dnas": DNAS,
        "web": WEB,
    }
)
#: Ports the games dial as fixed numbers (moving the service off them is not an option) -> service.
FIXED_GAME_PORTS = MappingProxyType({MUIS: "MUIS", MAS: "MAS"})
