"""Configuration: one commented TOML file decoded into frozen structs, checked before anything starts.

Every key has a default, so an empty file (or none) runs the appliance on its defaults. Types,
ranges (the wire type a value ends up in) and enums are checked at decode time, so a bad file
stops the start with one ``ConfigError`` naming the file, the line and the key, never a
traceback and never after some servers have started.
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from clank_lan import ports
from clank_lan.dnas.settings import DnasSettings
from clank_lan.dns.settings import DnsSettings
from clank_lan.ratelimit import KeyedLimiter, LogLimiter

#: A config file is a few KiB; refusing huge ones bounds the parser's time and memory.
MAX_CONFIG_BYTES = 1 << 20

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
#: Seconds; a day is far beyond any sensible timeout, and it keeps ``inf`` and ``nan`` out.
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86400)]
PerSecond = Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


def _check_ipv4(field: str, value: str, alternative: str = "") -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{field}: {value[:80]!r} is not an IPv4 address{alternative}") from None


class NetworkSettings(_Section):
    #: Address to listen on and to hand to consoles; "auto" = the LAN address of the default route.
    address: str = "auto"
    #: Address consoles are told to connect to, when it differs from ``address`` (port forwarding).
    advertised_address: str = ""

    def __post_init__(self) -> None:
        if self.address != "auto":
            _check_ipv4("address", self.address, ' or "auto"')
        if self.advertised_address:
            _check_ipv4("advertised_address", self.advertised_address)


class PortSettings(_Section):
    muis: Port = ports.MUIS
    mas: Port = ports.MAS
    mls: Port = ports.MLS
    mps: Port = ports.MPS
    dme_tcp: Port = ports.DME_TCP
    dme_udp: Port = ports.DME_UDP
    nat: Port = ports.NAT


class WebSettings(_Section):
    """The live web board and its JSON API (tournament mode, who is online, the setup line)."""

    enabled: bool = True
    #: 0 = any free port.
    port: Port = ports.WEB
    #: Address to listen on; "" = the appliance's listening address.
    address: Annotated[str, msgspec.Meta(max_length=64)] = ""

    def __post_init__(self) -> None:
        if self.address:
            _check_ipv4("address", self.address)


class AccountSettings(_Section):
    #: Create an account on the first login with an unknown name (what a LAN wants).
    auto_create: bool = True
    #: Accept anonymous logins from titles that offer them.
    allow_anonymous: bool = True


class ChannelSettings(_Section, kw_only=True):
    #: Shown in the games' channel lists (a 64-byte field on the wire, NUL included).
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
    #: Title key (e.g. "uya-ntsc") or family ("uya", "dl"); "*" = every title.
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "*"
    max_players: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 64
    password: Annotated[str, msgspec.Meta(max_length=31)] = ""


_Text = Annotated[str, msgspec.Meta(max_length=1000)]
_Name = Annotated[str, msgspec.Meta(max_length=64)]


class LobbySettings(_Section):
    eula: Annotated[str, msgspec.Meta(max_length=16384)] = (
        "Welcome to clank-lan, a LAN server for PlayStation 2 online games. Be kind to each other."
    )
    announcements: Annotated[list[_Text], msgspec.Meta(max_length=64)] = msgspec.field(
        default_factory=lambda: ["Welcome to clank-lan!"]
    )
    channels: Annotated[list[ChannelSettings], msgspec.Meta(max_length=256)] = msgspec.field(
        default_factory=list
    )
    #: Prefix of operator chat commands typed in lobby chat (by accounts listed in ``operators``).
    command_prefix: Annotated[str, msgspec.Meta(min_length=1, max_length=4)] = "!"
    operators: Annotated[list[_Name], msgspec.Meta(max_length=256)] = msgspec.field(default_factory=list)


class TimeoutSettings(_Section):
    #: Lobby: drop a client after this many seconds without any frame.
    client: Seconds = 30.0
    #: Lobby: seconds between our SERVER_ECHO pings to 1.09+ clients.
    server_echo: Seconds = 20.0
    #: Lobby: how long a logged-in session survives without a connection (MAS -> MLS hop).
    keepalive_grace: Seconds = 8.0
    #: Handshake: seconds a new connection has to finish the RT handshake.
    handshake: Seconds = 10.0
    #: DME: seconds between SERVER_ECHO pings, client silence limit, empty-world lifetime.
    dme_echo: Seconds = 5.0
    dme_client: Seconds = 25.0
    dme_empty_world: Seconds = 15.0


LogLevel = Literal["debug", "info", "warning", "error"]


class LogSettings(_Section):
    #: Console log level: debug, info, warning, error.
    level: LogLevel = "info"
    #: Write every frame (plaintext, before encryption) to the log file in the fixed hex format.
    frames: bool = True


class LimitSettings(_Section):
    """Bounds on what one peer may cost. The defaults are far above what a LAN party, or a few
    remote players sharing one router (one address), ever do; they only stop floods. Each hit is
    logged (rate-limited) and counted for the operator."""

    #: Open TCP connections from one address, counted per service (MUIS, MAS, MLS, DME, NAT).
    #: A console holds at most two or three; 32 covers a dozen consoles behind one router.
    connections_per_address: Count = 32
    #: New connections per second from one address, per service, with bursts up to
    #: ``accept_burst``; stops handshake floods before any RSA work is spent on them.
    accepts_per_second: PerSecond = 5.0
    accept_burst: Count = 20
    #: New connections in their RT handshake (RSA key exchange to CONNECT_COMPLETE) at once,
    #: every service together; the others wait their turn (a console further along its login
    #: first, then first come first served), up to 10 s. A tournament start (hundreds of consoles
    #: at once) then cannot flood the event loop that relays games. 8 measured best in
    #: ``bench/storm.py`` (2 cores): fewer stretch the logins under the operator console past the
    #: consoles' 10 s handshake timeout; more let the relay's latency grow.
    handshakes_at_once: Count = 8
    #: Lobby chat lines per second per session (bursts up to ``chat_burst``); a person types <1/s.
    chat_lines_per_second: PerSecond = 2.0
    chat_burst: Count = 10
    #: Games one session may create per minute (a console creates one and plays it).
    game_creations_per_minute: Count = 10
    #: Accounts auto-created per address per hour (one per player; a router may hide a dozen).
    account_creations_per_hour: Count = 30
    #: Game relay frames per second one player may send, with bursts up to ``relay_burst``.
    #: A UYA player sends about 15/s plus echoes (protocol notes, DME sizing).
    relay_frames_per_second: PerSecond = 200.0
    relay_burst: Count = 400
    #: NAT (address discovery) queries per second per address; a console sends a handful per login.
    nat_queries_per_second: PerSecond = 10.0
    #: DNS over TCP connections held at once from one address (64 in total for everyone).
    dns_tcp_per_address: Count = 8
    #: Log lines about one peer (address:port) per ``log_interval``; then one summary line
    #: ("… 4,000 more suppressed") per interval. ``log_lines_total`` bounds all peers together.
    log_lines_per_peer: Count = 10
    log_interval: Seconds = 10.0
    log_lines_total: Count = 200
    #: Addresses (or sessions) tracked per limiter; the least recently seen are forgotten first.
    tracked_peers: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 4096

    def log_limiter(self) -> LogLimiter:
        """A per-peer log limiter with these limits (one per service)."""
        return LogLimiter(
            self.log_lines_per_peer, self.log_interval, self.tracked_peers, self.log_lines_total
        )

    def keyed(self, rate: float, burst: float) -> KeyedLimiter:
        """A per-address (or per-session) token bucket table, e.g. ``keyed(l.chat_lines_per_second,
        l.chat_burst)``; ``game_creations_per_minute / 60`` and ``account_creations_per_hour / 3600``
        are rates per second too."""
        return KeyedLimiter(rate, burst, self.tracked_peers)


AppId = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
_FamilyKey = Annotated[str, msgspec.Meta(pattern="^[a-z0-9-]{1,16}$")]
_FilterWord = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class TitleSettings(_Section):
    """Per-title behaviour the operator can change (issue 13): cross-region lobbies, the text
    filter's word list and the unconfirmed extra ports. Checked in depth where they are used
    (``lobby_groups``, ``textfilter``); here only types and sizes."""

    #: Let title families known to play together share lobbies (UYA regions and betas;
    #: Deadlocked and Gladiator). Off: every app id is its own lobby, as before.
    cross_region: bool = True
    #: Families to keep apart although grouped by default ("uya", "dl"), or to group although
    #: not by default ("jakx").
    families_off: Annotated[list[_FamilyKey], msgspec.Meta(max_length=16)] = msgspec.field(
        default_factory=list
    )
    families_on: Annotated[list[_FamilyKey], msgspec.Meta(max_length=16)] = msgspec.field(
        default_factory=list
    )
    #: App ids to add to a family, e.g. ``uya = [12345]`` once the Korean disc's id is known.
    extra_app_ids: Annotated[
        dict[_FamilyKey, Annotated[list[AppId], msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=16)
    ] = msgspec.field(default_factory=dict)
    #: Further groups of app ids that share a lobby.
    extra_groups: Annotated[
        list[Annotated[list[AppId], msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=64)
    ] = msgspec.field(default_factory=list)
    #: The text filter's words or phrases (TextFilter requests); empty passes every text.
    filter_words: Annotated[list[_FilterWord], msgspec.Meta(max_length=10_000)] = msgspec.field(
        default_factory=list
    )
    #: A file of further words, one per line ("" = none).
    filter_words_file: Annotated[str, msgspec.Meta(max_length=4096)] = ""
    #: Regional MUIS ports seen in one community fork only (unverified): 0 = not served.
    muis_eu_port: Port = 0
    muis_jp_port: Port = 0
    #: The second MAS port another community server opened for the Korean UYA: 0 = not served.
    mas_kr_port: Port = 0


class Config(_Section):
    network: NetworkSettings = msgspec.field(default_factory=NetworkSettings)
    ports: PortSettings = msgspec.field(default_factory=PortSettings)
    accounts: AccountSettings = msgspec.field(default_factory=AccountSettings)
    lobby: LobbySettings = msgspec.field(default_factory=LobbySettings)
    timeouts: TimeoutSettings = msgspec.field(default_factory=TimeoutSettings)
    logging: LogSettings = msgspec.field(default_factory=LogSettings)
    dns: DnsSettings = msgspec.field(default_factory=DnsSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    titles: TitleSettings = msgspec.field(default_factory=TitleSettings)
    dnas: DnasSettings = msgspec.field(default_factory=DnasSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)


def with_any_free_ports(config: Config) -> Config:
    """``config`` with every listening port 0, so the OS picks free ones (self-test, tests)."""
    zero = PortSettings(muis=0, mas=0, mls=0, mps=0, dme_tcp=0, dme_udp=0, nat=0)
    return msgspec.structs.replace(
        config,
        ports=zero,
        dnas=msgspec.structs.replace(config.dnas, port=0),
        web=msgspec.structs.replace(config.web, port=0),
    )


class ConfigError(Exception):
    """A config file problem, phrased for the operator (file, line, key)."""


# --- where a problem is: key path and line ------------------------------------------------------

#: msgspec's location suffix: "- at `$.a.b[0]`", or "- at `key` in `$.a.b`" for a table's key;
#: ``[...]`` stands for the value of a table key it does not name.
_PATH_RE = re.compile(r" - at (`key` in )?`\$((?:\.[A-Za-z0-9_]+|\[\d+\]|\[\.\.\.\])*)`$")
_STEP_RE = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+|\.\.\.)\]")
#: ``__post_init__`` checks start their message with the field name: "address: ...".
_FIELD_PREFIX_RE = re.compile(r"([a-z_]+): (.*)", re.S)
_HEADER_RE = re.compile(r"(\[\[?)\s*([A-Za-z0-9_.\s\"-]+?)\s*\]\]?")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = r"(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)"
_KEY_RE = re.compile(rf"({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")

KeyPath = list[str | int]


def _split_key(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in text.split(".")]


def _line_of(text: str, path: KeyPath) -> int | None:
    """Best-effort line number of a key path (array indices included) in TOML text."""
    lines = text.splitlines()
    table: KeyPath = []
    seen: dict[tuple[str, ...], int] = {}
    for no, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        m = _HEADER_RE.fullmatch(line)
        if m:
            names = _split_key(m.group(2))
            table = list(names)
            if m.group(1) == "[[":
                index = seen.get(tuple(names), -1) + 1
                seen[tuple(names)] = index
                table.append(index)
            if table == path:
                return no
            continue
        m = _KEY_RE.match(line)
        if m and [*table, *_split_key(m.group(1))] == path:
            return no
    names = [p for p in path if isinstance(p, str)]
    if names:  # fall back to the first mention of the last key (inline tables, odd quoting)
        pattern = re.compile(rf"(^|[\s{{,.]){re.escape(names[-1])}\s*=")
        for no, raw in enumerate(lines, 1):
            if pattern.search(raw.split("#", 1)[0]):
                return no
        if len(names) == 1 or len(path) == 1:  # a section: its header
            for no, raw in enumerate(lines, 1):
                m = _HEADER_RE.fullmatch(raw.split("#", 1)[0].strip())
                if m and _split_key(m.group(2))[: len(names)] == names:
                    return no
    return None


def _field_type(path: KeyPath) -> object:
    """The declared type at a key path of ``Config`` (None when the path leaves the structs)."""
    tp: object = Config
    for step in path:
        while typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
        if isinstance(step, int):
            args = typing.get_args(tp)
            tp = args[0] if args else None
            continue
        if not (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
            return None
        tp = typing.get_type_hints(tp, include_extras=True).get(step)
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _value_at(data: object, path: KeyPath) -> object:
    for step in path:
        in_list = isinstance(step, int) and isinstance(data, list) and step < len(data)
        if not (in_list or (isinstance(data, dict) and step in data)):
            return None
        data = data[step]  # type: ignore[index]
    return data


def _key_text(step: str | int) -> str:
    """One step of a key path as TOML would spell it (quoted when not a bare key)."""
    if isinstance(step, int):
        return f"[{step}]"
    return step if _BARE_KEY_RE.fullmatch(step) else json.dumps(step)


def _explain(exc: msgspec.ValidationError, data: object, text: str, source: str) -> ConfigError:
    msg = str(exc)
    m = _PATH_RE.search(msg)
    reason = msg[: m.start()] if m else msg
    path: KeyPath = []
    if m:
        for name, index in _STEP_RE.findall(m.group(2)):
            if index == "...":  # a value in a table of our own keys: name the table
                reason += " (in one of its entries)"
                break
            path.append(int(index) if index else name)
        if m.group(1):
            reason = f"a key of this table: {reason}"
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", reason, re.S)
    field = None
    if unknown:
        path.append(unknown.group(1))
        reason = "unknown key (a typo, or a key from another section?)"
    else:
        field = _FIELD_PREFIX_RE.fullmatch(reason)
        if field:
            path.append(field.group(1))
            reason = field.group(2)
    value = _value_at(data, path)
    if isinstance(value, int | float) and not (unknown or field) and ", got" not in reason:
        reason += f", got {value!r}"
    tp = _field_type(path)
    if typing.get_origin(tp) is Literal:
        reason += " (allowed: " + ", ".join(repr(a) for a in typing.get_args(tp)) + ")"
    key = ".".join(_key_text(p) for p in path).replace(".[", "[") or "(top level)"
    line = _line_of(text, path) if path else None
    where = f"{source}, line {line}" if line else source
    return ConfigError(f"{where}: key '{key}': {reason}")


def parse_config(text: str, source: str = "<config>") -> Config:
    """Decode and check a config text; ``ConfigError`` (naming ``source``) on any problem."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text):,} characters is too large for a config file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid TOML: arrays or tables nested too deeply") from None
    try:
        return msgspec.convert(data, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise _explain(exc, data, text, source) from None


def load_config(path: Path | None) -> Config:
    """Read and check a config file (None: the defaults)."""
    if path is None:
        return Config()
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; is this the config file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    return parse_config(text, str(path))
