"""Finding this machine's LAN address without sending a single packet.

The address is what consoles must use as their Primary DNS and what the servers announce. On
Linux it is the address of the interface that carries the default route (/proc/net/route plus
the SIOCGIFADDR ioctl). Elsewhere a UDP socket is ``connect()``ed to a public address: for UDP
that only asks the kernel to choose a route and a source address, nothing goes on the wire.
The non-Linux paths use only portable socket calls but are unverified on Windows and macOS.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

#: Any routable address serves the connect() probe (TEST-NET-1; no packet is sent to it).
_PROBE_ADDRESS = ("192.0.2.1", 9)
_SIOCGIFADDR = 0x8915  # Linux
_RTF_UP = 0x0001
_IFREQ = struct.Struct("16s240x")  # ifr_name, then the ifr_addr union (sockaddr_in at +16)


@dataclass(frozen=True, slots=True)
class Interface:
    name: str  # "" when the platform gives addresses without interface names
    address: str


@dataclass(frozen=True, slots=True)
class LanAddress:
    address: str
    interface: str | None
    method: str  # "default-route", "route-probe", "first-interface" or "loopback"

    @property
    def usable(self) -> bool:
        """False when only loopback was found: consoles cannot reach 127.0.0.1."""
        return not ipaddress.IPv4Address(self.address).is_loopback


def parse_default_route(text: str) -> str | None:
    """Interface of the best (lowest metric) IPv4 default route in /proc/net/route text."""
    best: tuple[int, str] | None = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, destination, flags, metric, mask = fields[0], fields[1], fields[3], fields[6], fields[7]
        try:
            if int(destination, 16) != 0 or int(mask, 16) != 0 or not int(flags, 16) & _RTF_UP:
                continue
            rank = int(metric)
        except ValueError:
            continue
        if best is None or rank < best[0]:
            best = (rank, iface)
    return best[1] if best else None


def interface_address(name: str) -> str | None:
    """IPv4 address of a Linux interface (its primary one), via the SIOCGIFADDR ioctl."""
    try:
        import fcntl
    except ImportError:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            reply = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, _IFREQ.pack(name.encode()[:15]))
        except OSError:  # no IPv4 address, or no such interface
            return None
    return socket.inet_ntoa(reply[20:24])


def route_probe_address() -> str | None:
    """Source address the kernel would use towards the internet (connect() on UDP sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(_PROBE_ADDRESS)
            address = sock.getsockname()[0]
        except OSError:  # no route at all
            return None
    return None if address == "0.0.0.0" else address


def list_ipv4_interfaces() -> list[Interface]:
    """Every IPv4 address of this machine, loopback included (first address per interface on Linux)."""
    found: list[Interface] = []
    if sys.platform.startswith("linux") and Path("/proc/net/route").exists():
        for _, name in socket.if_nameindex():
            address = interface_address(name)
            if address:
                found.append(Interface(name, address))
        return found
    # Windows/macOS (unverified): the host name resolves to the adapters' addresses.
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        infos = []
    addresses = dict.fromkeys(str(info[4][0]) for info in infos)
    probe = route_probe_address()
    if probe:
        addresses = {probe: None, **addresses}
    addresses.setdefault("127.0.0.1", None)
    return [Interface("", a) for a in addresses]


def detect_lan_address(route_file: str = "/proc/net/route") -> LanAddress:
    """The address consoles on the LAN should use to reach this machine."""
    route = Path(route_file)
    if route.exists():
        try:
            iface = parse_default_route(route.read_text())
        except OSError:
            iface = None
        address = interface_address(iface) if iface else None
        if iface and address:
            return LanAddress(address, iface, "default-route")
    probe = route_probe_address()
    if probe and not ipaddress.IPv4Address(probe).is_loopback:
        return LanAddress(probe, None, "route-probe")
    for interface in list_ipv4_interfaces():
        if not ipaddress.IPv4Address(interface.address).is_loopback:
            return LanAddress(interface.address, interface.name or None, "first-interface")
    return LanAddress("127.0.0.1", None, "loopback")
