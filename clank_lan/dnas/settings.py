"""Settings of the built-in DNAS gateway (the ``[dnas]`` table of the configuration)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from clank_lan import ports

#: Region name -> the gateway path prefix the console uses (Japan's is "gai"). Here and not with
#: the recorded answers, so that reading the configuration does not load their DES code.
REGION_GATEWAYS: Mapping[str, str] = {"us": "us-gw", "eu": "eu-gw", "jp": "gai-gw"}


class DnasSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    #: Answer DNAS here. Off: point the gate1 names elsewhere (``[dns] dnas_address``) or use
    #: DNAS-patched discs / PCSX2 patches.
    enabled: bool = True
    port: int = ports.DNAS
    #: Gateways answered: "us" (gate1.us, /us-gw), "eu" (gate1.eu, /eu-gw), "jp" (gate1.jp, /gai-gw).
    regions: tuple[str, ...] = ("us", "eu", "jp")
    #: Whose certificate a console gets; consoles send no server name, so one is shown to all.
    certificate_region: str = "us"
    #: Seconds one connection may take from accept to answer (handshake included).
    timeout: float = 15.0
    #: Connections served at once; more are closed at accept with a log line.
    max_connections: int = 32

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port: {self.port} is not 0-65535")
        unknown = [r for r in self.regions if r not in REGION_GATEWAYS]
        if unknown or not self.regions:
            known = sorted(REGION_GATEWAYS)
            raise ValueError(f"regions: must be some of {known}, not {list(self.regions)}")
        if self.certificate_region not in self.regions:
            raise ValueError(f"certificate_region: {self.certificate_region!r} is not one of the regions")
        if not 0 < self.timeout <= 120:
            raise ValueError(f"timeout: {self.timeout} is not in (0, 120] seconds")
        if not 1 <= self.max_connections <= 1024:
            raise ValueError(f"max_connections: {self.max_connections} is not 1-1024")
