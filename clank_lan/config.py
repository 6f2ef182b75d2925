"""Configuration: one commented TOML file decoded into frozen structs.

Every key has a default, so an empty file (or none) runs the appliance on its defaults. A bad
file gives a ``ConfigError`` naming the key and the line, never a traceback.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import msgspec

from clank_lan.dns.settings import DnsSettings


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class NetworkSettings(_Section):
    #: Address to listen on and to hand to consoles; "auto" = the LAN address of the default route.
    address: str = "auto"
    #: Address consoles are told to connect to, when it differs from ``address`` (port forwarding).
    advertised_address: str = ""


class PortSettings(_Section):
    muis: int = 10071
    mas: int = 10075
    mls: int = 10078
    mps: int = 10077
    dme_tcp: int = 10079
    dme_udp: int = 50000
    nat: int = 10070


class AccountSettings(_Section):
    #: Create an account on the first login with an unknown name (what a LAN wants).
    auto_create: bool = True
    #: Accept anonymous logins from titles that offer them.
    allow_anonymous: bool = True


class ChannelSettings(_Section, kw_only=True):
    name: str
    #: Title key (e.g. "uya-ntsc") or family ("uya", "dl"); "*" = every title.
    title: str = "*"
    max_players: int = 64
    password: str = ""


class LobbySettings(_Section):
    eula: str = "Welcome to clank-lan, a LAN server for PlayStation 2 online games. Be kind to each other."
    announcements: list[str] = msgspec.field(default_factory=lambda: ["Welcome to clank-lan!"])
    channels: list[ChannelSettings] = msgspec.field(default_factory=list)
    #: Prefix of operator chat commands typed in lobby chat (by accounts listed in ``operators``).
    command_prefix: str = "!"
    operators: list[str] = msgspec.field(default_factory=list)


class TimeoutSettings(_Section):
    #: Lobby: drop a client after this many seconds without any frame.
    client: float = 30.0
    #: Lobby: seconds between our SERVER_ECHO pings to 1.09+ clients.
    server_echo: float = 20.0
    #: Lobby: how long a logged-in session survives without a connection (MAS -> MLS hop).
    keepalive_grace: float = 8.0
    #: Handshake: seconds a new connection has to finish the RT handshake.
    handshake: float = 10.0
    #: DME: seconds between SERVER_ECHO pings, client silence limit, empty-world lifetime.
    dme_echo: float = 5.0
    dme_client: float = 25.0
    dme_empty_world: float = 15.0


class LogSettings(_Section):
    #: Console log level: debug, info, warning, error.
    level: str = "info"
    #: Write every frame (plaintext, before encryption) to the log file in the fixed hex format.
    frames: bool = True


class Config(_Section):
    network: NetworkSettings = msgspec.field(default_factory=NetworkSettings)
    ports: PortSettings = msgspec.field(default_factory=PortSettings)
    accounts: AccountSettings = msgspec.field(default_factory=AccountSettings)
    lobby: LobbySettings = msgspec.field(default_factory=LobbySettings)
    timeouts: TimeoutSettings = msgspec.field(default_factory=TimeoutSettings)
    logging: LogSettings = msgspec.field(default_factory=LogSettings)
    dns: DnsSettings = msgspec.field(default_factory=DnsSettings)


class ConfigError(Exception):
    """A config file problem, phrased for the operator (file, line, key)."""


_PATH_RE = re.compile(r"at `\$((?:\.[A-Za-z0-9_]+|\[\d+\])*)`")


def _line_of(text: str, path: list[str]) -> int | None:
    """Best-effort line number of a dotted key path in TOML text."""
    lines = text.splitlines()
    table: list[str] = []
    for no, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        m = re.fullmatch(r"\[\[?\s*([A-Za-z0-9_.\s]+?)\s*\]\]?", line)
        if m:
            table = [p.strip() for p in m.group(1).split(".")]
            if table == path:
                return no
            continue
        m = re.match(r"([A-Za-z0-9_\"]+)\s*=", line)
        if m and [*table, m.group(1).strip('"')] == path:
            return no
    for no, raw in enumerate(lines, 1):  # fall back to the first mention of the last key
        if path and re.match(rf"\s*{re.escape(path[-1])}\s*=", raw):
            return no
    return None


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return msgspec.toml.decode(text.encode("utf-8"), type=Config)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        m = _PATH_RE.search(msg)
        keys = [k for k in re.findall(r"\.([A-Za-z0-9_]+)", m.group(1))] if m else []
        unknown = re.search(r"unknown field `([^`]+)`", msg)
        if unknown:
            keys.append(unknown.group(1))
        key = ".".join(keys) or "(top level)"
        line = _line_of(text, keys) if keys else None
        where = f"{source}, line {line}" if line else source
        reason = msg.split(" - at ")[0]
        raise ConfigError(f"{where}: key '{key}': {reason}") from None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    return parse_config(text, str(path))
