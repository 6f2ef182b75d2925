"""Settings of the DNS redirector (one frozen struct, decoded from the config file by the lead)."""

from __future__ import annotations

import ipaddress
from typing import Literal

import msgspec

#: Wildcards answered by default: Sony's PS2 online domains and DNAS. Sony's servers are gone,
#: so sending every name under them here costs nothing and lets the MAS log titles we lack.
DEFAULT_WILDCARDS = ("*.pdonline.scea.com", "*.online.scee.com", "*.dnas.playstation.org")


class DnsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    #: Run the redirector at all (PCSX2-only setups can use ``clank-lan hosts-ini`` instead).
    enabled: bool = True
    port: int = 53
    #: Resolver for every other name: "ip" or "ip:port" ("[v6]:port"). Empty: the machine's own
    #: (first ``nameserver`` of /etc/resolv.conf on Unix; the adapters' DNS servers from the
    #: registry on Windows).
    upstream: str = ""
    upstream_timeout: float = 2.0
    #: Never forward: names outside the table get NXDOMAIN (a LAN without internet, or a DNS
    #: reachable from the internet that must not be an open resolver).
    offline: bool = False
    #: What a client gets when forwarding fails (timeout, unreachable, no upstream known).
    upstream_failure: Literal["nxdomain", "servfail", "drop"] = "nxdomain"
    ttl: int = 60
    #: More names answered with the appliance address (exact names, any case).
    extra_names: tuple[str, ...] = ()
    #: "*.domain" patterns answered with the appliance address (any depth below ``domain``).
    wildcards: tuple[str, ...] = DEFAULT_WILDCARDS
    #: Where DNAS gateway names point; empty = the appliance itself. Set it to a public DNAS
    #: replacement to let unpatched NTSC-U discs pass DNAS while games still come here.
    dnas_address: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"dns port {self.port} is not 0-65535")
        if not 0 <= self.ttl <= 86400:
            raise ValueError(f"dns ttl {self.ttl} is not 0-86400 seconds")
        if not 0 < self.upstream_timeout <= 30:
            raise ValueError(f"dns upstream_timeout {self.upstream_timeout} is not in (0, 30] seconds")
        for pattern in self.wildcards:
            if not pattern.startswith("*.") or len(pattern) < 3 or "*" in pattern[1:]:
                raise ValueError(f"dns wildcard {pattern!r} must look like '*.example.com'")
        if self.dnas_address:
            ipaddress.IPv4Address(self.dnas_address)  # raises ValueError with the bad text
