"""The exact setup text shown to users: what to type on a PS2 / in PCSX2, and which ports to forward.

Pure: the address and the port list come from the caller (the servers own their ports).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class PortRule:
    """One port (or inclusive range) a router must forward to this machine."""

    protocol: Literal["TCP", "UDP"]
    first: int
    last: int | None = None
    purpose: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.first <= 65535 or (self.last is not None and not self.first <= self.last <= 65535):
            raise ValueError(f"bad port rule {self.first}-{self.last}")

    @property
    def ports(self) -> str:
        return str(self.first) if self.last in (None, self.first) else f"{self.first}-{self.last}"


def primary_dns_line(address: str) -> str:
    return f"Primary DNS: {address}"


def ps2_setup_text(address: str) -> str:
    return "\n".join(
        [
            "PS2 console (network adaptor): in the game's online menu open the network settings "
            "(Network Configuration / Add Setting), choose your connection, set DNS to manual and enter:",
            f"    {primary_dns_line(address)}",
            "    Secondary DNS: leave empty (a public DNS there lets the console skip this machine)",
            "Keep IP address on automatic (DHCP), save to the memory card and connect.",
        ]
    )


def pcsx2_setup_text(address: str) -> str:
    return "\n".join(
        [
            "PCSX2 (2.x): Settings > Network & HDD: Ethernet enabled, Ethernet Device Type 'Sockets', "
            "Ethernet Device 'Auto'. Then either",
            "  a) in the game's own network settings set DNS to manual and enter:",
            f"         {primary_dns_line(address)}",
            "  b) or, on the 'Intercept DHCP' tab (enabled), set the DNS1 Address dropdown to 'Internal'",
            "     and on the 'Internal DNS' tab press Import and pick the file written by",
            f"         clank-lan hosts-ini --address {address} --output hosts.ini",
            "     then leave DNS on automatic in the game.",
        ]
    )


def port_forwarding_text(lan_address: str, rules: Sequence[PortRule]) -> str:
    """What the router in front of this machine must forward for players outside the LAN."""
    if not rules:
        return "Players outside this LAN: no ports to forward (no service is listening)."
    width = max(len(r.ports) for r in rules)
    lines = [f"Players outside this LAN: on the router in front of this machine, forward to {lan_address}:"]
    lines += [f"    {r.protocol} {r.ports:<{width}}  {r.purpose}".rstrip() for r in rules]
    if any(r.protocol == "UDP" and (r.first <= 53 <= (r.last or r.first)) for r in rules):
        lines.append(
            "Forwarding UDP 53 makes this DNS reachable from the whole internet: turn on DNS 'offline' "
            "mode first so it answers only the game names and is no open resolver."
        )
    lines.append(
        "Remote players then use your public address (shown by your router) as their Primary DNS "
        "(needs UDP 53 forwarded), or import a hosts file made with: "
        "clank-lan hosts-ini --address <public address>"
    )
    return "\n".join(lines)


def setup_text(address: str, rules: Sequence[PortRule]) -> str:
    """Everything a user needs, in the order they need it."""
    return "\n\n".join(
        [ps2_setup_text(address), pcsx2_setup_text(address), port_forwarding_text(address, rules)]
    )
