"""Settings of the DNS redirector (one frozen struct, decoded from the config file's ``[dns]``).

Every value is checked when the config is read, so a bad upstream or name stops the start with
the key and the line instead of surfacing later as a warning or a refused query.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from clank_lan import ports

DNS_PORT = ports.DNS
#: Wildcards answered by default: Sony's PS2 online domains and DNAS. Sony's servers are gone,
#: so sending every name under them here costs nothing and lets the MAS log titles we lack.
DEFAULT_WILDCARDS = ("*.pdonline.scea.com", "*.online.scee.com", "*.dnas.playstation.org")
#: RFC 1035 2.3.4: 63 bytes per label, 255 per name on the wire (253 characters in text form).
MAX_LABEL = 63
MAX_NAME_TEXT = 253
_LABEL_RE = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?")


@dataclass(frozen=True, slots=True)
class Upstream:
    ip: str
    port: int = DNS_PORT
    source: str = ""  # where it came from, for the log ("configured", "/etc/resolv.conf", ...)

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.ip else socket.AF_INET


def parse_upstream(text: str, source: str = "configured") -> Upstream:
    """Parse "1.1.1.1", "1.1.1.1:5353", "::1" or "[::1]:5353"; ValueError on anything else."""
    text = text.strip()
    port_text = ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad upstream {text!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    port = DNS_PORT
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
            raise ValueError(f"bad upstream port in {text!r}")
        port = int(port_text)
    address = ipaddress.ip_address(host)  # ValueError for names: an upstream must be an address
    if not 0 < port <= 65535:
        raise ValueError(f"bad upstream port in {text!r}")
    return Upstream(str(address), port, source)


def check_hostname(name: str) -> str | None:
    """Why ``name`` is not a usable host name (None when it is): LDH labels, RFC 1035 lengths."""
    text = name.strip().rstrip(".").lower()
    if not text:
        return "empty name"
    if len(text) > MAX_NAME_TEXT:
        return f"name longer than {MAX_NAME_TEXT} characters"
    for label in text.split("."):
        if len(label) > MAX_LABEL:
            return f"label {label[:16]!r}... longer than {MAX_LABEL} characters"
        if not _LABEL_RE.fullmatch(label):
            return f"label {label!r} is not letters, digits, '-' and '_'"
    return None


class DnsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    #: Run the redirector at all (PCSX2-only setups can use ``clank-lan hosts-ini`` instead).
    enabled: bool = True
    port: int = DNS_PORT
    #: Where to listen. "lan": the LAN address (``[network] address``, or the detected one), which
    #: leaves 127.0.0.53 to systemd-resolved; "any": every address (0.0.0.0); or one IPv4 address.
    bind: str = "lan"
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
    extra_names: Annotated[tuple[str, ...], msgspec.Meta(max_length=4096)] = ()
    #: "*.domain" patterns answered with the appliance address (any depth below ``domain``).
    wildcards: Annotated[tuple[str, ...], msgspec.Meta(max_length=256)] = DEFAULT_WILDCARDS
    #: Where DNAS gateway names point; empty = the appliance itself. Set it to a public DNAS
    #: replacement to let unpatched NTSC-U discs pass DNAS while games still come here.
    dnas_address: str = ""

    def __post_init__(self) -> None:
        # Checked here rather than with msgspec.Meta so that code-built settings (``--dns-port``,
        # tests) are checked too. Messages start with the field name: the config loader turns it
        # into the key it reports.
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port: {self.port} is not 0-65535")
        if not 0 <= self.ttl <= 86400:
            raise ValueError(f"ttl: {self.ttl} is not 0-86400 seconds")
        if not 0 < self.upstream_timeout <= 30:  # also false for nan
            raise ValueError(f"upstream_timeout: {self.upstream_timeout} is not in (0, 30] seconds")
        if self.bind not in ("lan", "any"):
            _ipv4("bind", self.bind, "'lan', 'any' or an IPv4 address")
        if self.upstream:
            try:
                parse_upstream(self.upstream)
            except ValueError:
                raise ValueError(
                    f"upstream: {self.upstream!r} is not 'ip' or 'ip:port' (an address, not a name)"
                ) from None
        for name in self.extra_names:
            why = check_hostname(name)
            if why:
                raise ValueError(f"extra_names: {name[:80]!r}: {why}")
        for pattern in self.wildcards:
            shape = "must look like '*.example.com'"
            why = check_hostname(pattern[2:]) if pattern.startswith("*.") else shape
            if why:
                raise ValueError(f"wildcards: {pattern[:80]!r}: {why}")
        if self.dnas_address:
            _ipv4("dnas_address", self.dnas_address, "an IPv4 address")


def _ipv4(field: str, value: str, wanted: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{field}: {value[:80]!r} is not {wanted}") from None
