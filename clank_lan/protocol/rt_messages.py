"""Typed payloads of the SCE-RT messages whose byte layout is known.

Each message is a frozen ``msgspec.Struct`` with ``decode(payload, version)`` and
``encode(version)``. ``version`` is the client's RT/Medius version as an int: 108 and below
selects the Medius 1.08 layouts (UYA, and titles that send no CLIENT_HELLO), 109 and above the
1.09+ layouts (Deadlocked sends 110, PS3 112+). Where the two differ, the struct carries the
fields of both; a field that one layout lacks keeps its default there and is not written.

Layouts come from the protocol reference (rt-and-crypto.md section 2, dme-nat-muis-dns.md
"Byte layouts") and were checked against the decrypted Deadlocked and UYA captures.
Decoders are strict about sizes, so a payload of the other version's layout is rejected rather
than misread, and raise only ``ProtocolError``. Text fields are fixed, NUL-padded char arrays:
decoding stops at the first NUL, so ``decode(x, v).encode(v) == x`` whenever the padding is all
NUL (it was in every captured frame). ``RT_LAYOUTS`` maps each modelled RT id to its struct;
``decode_message`` dispatches through it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Self

import msgspec

from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import HASH_LEN, HEADER, RawFrame, encode_frame, split_frames
from clank_lan.protocol.rt_ids import RT, rt_name

#: The Medius 1.08 layouts (UYA): every version <= V108.
V108 = 108
#: The first version with the 1.09+ layouts (Deadlocked PS2 reports 110).
V109 = 109

Payload = bytes | bytearray | memoryview


def is_v108(version: int) -> bool:
    """True when ``version`` uses the Medius 1.08 layouts (the split Horizon makes, ``<= 108``)."""
    return version <= V108


class RecvFlag(enum.IntFlag):
    """What a DME client wants relayed to it (CLIENT_SET_RECV_FLAG, CONNECT_READY_TCP)."""

    BROADCAST = 1
    LIST = 2
    SINGLE = 4
    NOTIFICATION = 8


class DisconnectReason(enum.IntEnum):
    """SERVER_FORCED_DISCONNECT reasons (values from Horizon's model)."""

    NONE = 0
    ERROR = 1
    SHUTDOWN = 2
    END_SESSION = 3
    END_GAME = 4
    TIMEOUT = 5
    BAD_PERFORMANCE = 6
    BANNED = 7


def _cstr(raw: bytes) -> str:
    """A fixed char array as text: up to the first NUL, latin-1 so that no byte can fail."""
    return raw.split(b"\0", 1)[0].decode("latin-1")


class _Layout:
    """A fixed run of little-endian fields compiled once into a ``struct.Struct``.

    Field codes are ``struct`` codes, plus ``Nz`` for an N-byte NUL-padded text field (a str on
    the Python side). ``Ns`` fields are raw bytes that must be exactly N long when encoding.
    """

    __slots__ = ("_raw", "_struct", "_text", "names", "size")

    def __init__(self, *fields: tuple[str, str]) -> None:
        codes = []
        self.names: tuple[str, ...] = tuple(name for name, _ in fields)
        self._text: dict[str, int] = {}
        self._raw: dict[str, int] = {}
        for name, code in fields:
            if code.endswith("z"):
                self._text[name] = int(code[:-1])
                code = code[:-1] + "s"
            elif code.endswith("s"):
                self._raw[name] = int(code[:-1])
            codes.append(code)
        self._struct = struct.Struct("<" + "".join(codes))
        self.size: int = self._struct.size

    def unpack(self, buf: Payload, offset: int = 0) -> dict[str, Any]:
        values = dict(zip(self.names, self._struct.unpack_from(buf, offset), strict=True))
        for name in self._text:
            values[name] = _cstr(values[name])
        return values

    def pack(self, msg: RtMessage) -> bytes:
        values = []
        for name in self.names:
            value = getattr(msg, name)
            if name in self._text:
                value = _text_field(value, self._text[name], msg, name)
            elif name in self._raw and len(value) != self._raw[name]:
                raise ProtocolError(
                    f"{type(msg).__name__}.{name} must be {self._raw[name]} bytes, got {len(value)}"
                )
            values.append(value)
        try:
            return self._struct.pack(*values)
        except struct.error as exc:
            raise ProtocolError(f"{type(msg).__name__}: {exc}") from None


def _text_field(value: str, width: int, msg: object, name: str) -> bytes:
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raise ProtocolError(f"{type(msg).__name__}.{name}: {value!r} is not latin-1 text") from None
    if len(raw) > width:
        raise ProtocolError(f"{type(msg).__name__}.{name}: {value!r} does not fit {width} bytes")
    return raw


_EMPTY = _Layout()


class RtMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every typed RT payload.

    ``SIZE_108``/``SIZE_109`` are the bytes of the fixed layout in each version; a message with
    ``VARIABLE`` set may carry more after it (an optional tail or a free payload).
    """

    RT_ID: ClassVar[RT]
    SIZE_108: ClassVar[int]
    SIZE_109: ClassVar[int]
    LAYOUT_108: ClassVar[_Layout]
    LAYOUT_109: ClassVar[_Layout]
    VARIABLE: ClassVar[bool] = False

    @classmethod
    def layout(cls, version: int) -> _Layout:
        return cls.LAYOUT_108 if version <= V108 else cls.LAYOUT_109

    @classmethod
    def decode(cls, payload: Payload, version: int) -> Self:
        """Parse a plaintext payload; raise ProtocolError if it does not fit the layout."""
        lay = cls.layout(version)
        n = lay.size
        if len(payload) < n:
            raise ProtocolError(
                f"{cls.__name__} (v{version}) needs {n} bytes, got {len(payload)}",
                offset=len(payload),
                data=bytes(payload),
            )
        fields = lay.unpack(payload)
        if len(payload) > n:
            if not cls.VARIABLE:
                raise ProtocolError(
                    f"{cls.__name__} (v{version}) is {n} bytes, got {len(payload)}",
                    offset=n,
                    data=bytes(payload),
                )
            fields.update(cls._decode_tail(bytes(payload[n:]), n, version))
        elif cls.VARIABLE:
            fields.update(cls._decode_tail(b"", n, version))
        return cls(**fields)

    def encode(self, version: int) -> bytes:
        """The payload bytes in the layout of ``version``."""
        return self.layout(version).pack(self) + self._encode_tail(version)

    @classmethod
    def _decode_tail(cls, tail: bytes, offset: int, version: int) -> dict[str, Any]:
        return {}

    def _encode_tail(self, version: int) -> bytes:
        return b""


# --- connection set-up ------------------------------------------------------------------------


class _ConnectTcpBase(RtMessage, frozen=True, kw_only=True):
    """Shared layout of CLIENT_CONNECT_TCP and CLIENT_CONNECT_TCP_AUX_UDP: the one CONNECT
    decoder of every service (MUIS, MAS, MLS and the DME).

    v108: ``u8[3] prefix (01 08 01)``, ``u16 worldId``, ``i32 appId``, ``u8[64] key`` (73);
    v109+: ``u32 worldId``, ``i32 appId``, ``u8[64] key`` (72). Both may end with
    ``char[17] sessionKey`` ``char[17] accessToken`` (MLS and DME connects: 107 / 106 bytes).
    Horizon reads the v108 world as ``u8 world, u8 0``; as a u16 it is the same bytes.
    The 64-byte ``key`` differs on every connection; its meaning is unknown.

    Liberal in what it takes: a PS2 sends the access token's 17 bytes with their NUL padding, but
    a client written from captures sent a 16-byte token and stopped (MLS connect of 106 bytes on
    a v108 title), so any token of 1 to 17 bytes is read up to a NUL or the end of the frame.
    """

    world_id: int = 0
    app_id: int = 0
    key: bytes = bytes(64)
    session_key: str | None = None
    access_token: str | None = None
    prefix: bytes = b"\x01\x08\x01"

    SIZE_108 = 73
    SIZE_109 = 72
    VARIABLE = True
    LAYOUT_108 = _Layout(("prefix", "3s"), ("world_id", "H"), ("app_id", "i"), ("key", "64s"))
    LAYOUT_109 = _Layout(("world_id", "I"), ("app_id", "i"), ("key", "64s"))
    TAIL = _Layout(("session_key", "17z"), ("access_token", "17z"))
    SESSION_KEY_LEN = 17
    TOKEN_LEN = 17

    @classmethod
    def _decode_tail(cls, tail: bytes, offset: int, version: int) -> dict[str, Any]:
        if not tail:
            return {}
        n = len(tail) - cls.SESSION_KEY_LEN
        if not 1 <= n <= cls.TOKEN_LEN:
            raise ProtocolError(
                f"{cls.__name__}: {len(tail)} bytes after the key, expected 0 or "
                f"{cls.SESSION_KEY_LEN + 1} to {cls.TAIL.size} (session key and access token)",
                offset=offset,
                data=tail,
            )
        return {
            "session_key": _cstr(tail[: cls.SESSION_KEY_LEN]),
            "access_token": _cstr(tail[cls.SESSION_KEY_LEN :]),
        }

    def _encode_tail(self, version: int) -> bytes:
        if self.session_key is None and self.access_token is None:
            return b""
        filled = msgspec.structs.replace(
            self, session_key=self.session_key or "", access_token=self.access_token or ""
        )
        return self.TAIL.pack(filled)


class ClientConnectTcp(_ConnectTcpBase, frozen=True, kw_only=True):
    """0x00 C->S: the first encrypted frame of a MUIS/MAS/MLS connection (appId names the title)."""

    RT_ID = RT.CLIENT_CONNECT_TCP


class ClientConnectTcpAuxUdp(_ConnectTcpBase, frozen=True, kw_only=True):
    """0x15 C->S: DME connect; the access token is the one the MLS handed out for the world."""

    RT_ID = RT.CLIENT_CONNECT_TCP_AUX_UDP


class ClientCryptkeyPublic(RtMessage, frozen=True, kw_only=True):
    """0x12 C->S: the client's 512-bit RSA modulus, little-endian (sent RSA-encrypted, ctx 7)."""

    key: bytes

    RT_ID = RT.CLIENT_CRYPTKEY_PUBLIC
    SIZE_108 = SIZE_109 = 64
    LAYOUT_108 = LAYOUT_109 = _Layout(("key", "64s"))

    def rsa_key(self) -> RsaKey:
        """The client's public key (e = 17); ProtocolError if the modulus is implausibly small."""
        return RsaKey.from_modulus_le(self.key)


class ServerCryptkeyPeer(RtMessage, frozen=True, kw_only=True):
    """0x13 S->C: the ctx-3 RC key, RSA-encrypted to the client's modulus."""

    key: bytes

    RT_ID = RT.SERVER_CRYPTKEY_PEER
    SIZE_108 = SIZE_109 = 64
    LAYOUT_108 = LAYOUT_109 = _Layout(("key", "64s"))


class ServerCryptkeyGame(RtMessage, frozen=True, kw_only=True):
    """0x14 S->C: the ctx-1 RC key, sent RC-encrypted under ctx 3."""

    key: bytes

    RT_ID = RT.SERVER_CRYPTKEY_GAME
    SIZE_108 = SIZE_109 = 64
    LAYOUT_108 = LAYOUT_109 = _Layout(("key", "64s"))


class ServerConnectRequire(RtMessage, frozen=True, kw_only=True):
    """0x22 S->C (v109+ handshakes): ``u8 reqServerPassword``, ``i16 maxPacketSize`` and, from a
    DME, ``i16 maxUdpPacketSize``. Sony sent ``02 48 02`` (MAS/MLS/MUIS), ``06 48 02 48 02`` (DME)."""

    req_server_password: int = 2
    max_packet_size: int = 584
    max_udp_packet_size: int | None = None

    RT_ID = RT.SERVER_CONNECT_REQUIRE
    SIZE_108 = SIZE_109 = 3
    VARIABLE = True
    LAYOUT_108 = LAYOUT_109 = _Layout(("req_server_password", "B"), ("max_packet_size", "h"))
    _UDP = struct.Struct("<h")

    @classmethod
    def _decode_tail(cls, tail: bytes, offset: int, version: int) -> dict[str, Any]:
        if not tail:
            return {}
        if len(tail) != cls._UDP.size:
            raise ProtocolError(
                f"ServerConnectRequire is 3 or 5 bytes, got {offset + len(tail)}", offset=offset, data=tail
            )
        return {"max_udp_packet_size": cls._UDP.unpack(tail)[0]}

    def _encode_tail(self, version: int) -> bytes:
        if self.max_udp_packet_size is None:
            return b""
        try:
            return self._UDP.pack(self.max_udp_packet_size)
        except struct.error as exc:
            raise ProtocolError(f"ServerConnectRequire: {exc}") from None


class ClientConnectReadyRequire(RtMessage, frozen=True, kw_only=True):
    """0x23 C->S: answer to CONNECT_REQUIRE (``00`` seen)."""

    value: int = 0

    RT_ID = RT.CLIENT_CONNECT_READY_REQUIRE
    SIZE_108 = SIZE_109 = 1
    LAYOUT_108 = LAYOUT_109 = _Layout(("value", "B"))


class ServerConnectAcceptTcp(RtMessage, frozen=True, kw_only=True):
    """0x07 S->C. v108: ``u8[3] prefix``, ``u16 playerId``, ``u16 playerCount``, ``char[16] ip``
    (23); v109+: ``u16 playerId``, ``u32 scertId``, ``u16 playerCount``, ``char[16] ip`` (24).
    ``client_ip`` is the address the server sees. The v108 prefix was ``01 08 10`` from a test
    server and ``01 08 d3`` from Sony's."""

    player_id: int = 0
    scert_id: int = 0
    player_count: int = 1
    client_ip: str = ""
    prefix: bytes = b"\x01\x08\x10"

    RT_ID = RT.SERVER_CONNECT_ACCEPT_TCP
    SIZE_108 = 23
    SIZE_109 = 24
    LAYOUT_108 = _Layout(("prefix", "3s"), ("player_id", "H"), ("player_count", "H"), ("client_ip", "16z"))
    LAYOUT_109 = _Layout(("player_id", "H"), ("scert_id", "I"), ("player_count", "H"), ("client_ip", "16z"))


class ClientConnectReadyTcp(RtMessage, frozen=True, kw_only=True):
    """0x21 C->S: ``u8 startOpt`` (0x0E seen), ``u8 recvFlag`` (1 on lobbies, 5 on the DME)."""

    start_opt: int = 0x0E
    recv_flag: int = 1

    RT_ID = RT.CLIENT_CONNECT_READY_TCP
    SIZE_108 = SIZE_109 = 2
    LAYOUT_108 = LAYOUT_109 = _Layout(("start_opt", "B"), ("recv_flag", "B"))


class ServerConnectComplete(RtMessage, frozen=True, kw_only=True):
    """0x1A S->C: ``u16 clientCount`` (1 on lobbies, the world's count on the DME)."""

    client_count: int = 1

    RT_ID = RT.SERVER_CONNECT_COMPLETE
    SIZE_108 = SIZE_109 = 2
    LAYOUT_108 = LAYOUT_109 = _Layout(("client_count", "H"))


class _Hello(RtMessage, frozen=True, kw_only=True):
    """Up to ``PARAMS`` leading u16 words, then anything else verbatim in ``extra``."""

    params: tuple[int, ...] = ()
    extra: bytes = b""

    SIZE_108 = SIZE_109 = 4
    VARIABLE = True
    LAYOUT_108 = LAYOUT_109 = _EMPTY
    PARAMS: ClassVar[int]

    @classmethod
    def decode(cls, payload: Payload, version: int) -> Self:
        if len(payload) < cls.SIZE_109:
            raise ProtocolError(
                f"{cls.__name__} of {len(payload)} bytes carries no version",
                offset=len(payload),
                data=bytes(payload),
            )
        n = min(cls.PARAMS, len(payload) // 2)
        return cls(params=struct.unpack_from(f"<{n}H", payload), extra=bytes(payload[2 * n :]))

    def encode(self, version: int) -> bytes:
        if len(self.params) < 2 or len(self.params) > self.PARAMS:
            raise ProtocolError(f"{type(self).__name__} needs 2 to {self.PARAMS} parameters")
        try:
            return struct.pack(f"<{len(self.params)}H", *self.params) + self.extra
        except struct.error as exc:
            raise ProtocolError(f"{type(self).__name__}: {exc}") from None


class ClientHello(_Hello, frozen=True, kw_only=True):
    """0x24 C->S, always clear: a list of u16, element 1 the version (DL PS2: [2, 110, 109, 1, 1]).

    PS3 clients append an X.509 certificate; whatever follows the first five words is kept
    verbatim in ``extra``. UYA sends no HELLO at all (that means v108).
    """

    params: tuple[int, ...] = (2, 110, 109, 1, 1)

    RT_ID = RT.CLIENT_HELLO
    PARAMS = 5

    @property
    def version(self) -> int:
        """The RT version the client reports (selects the message layouts)."""
        return self.params[1]


class ServerHello(_Hello, frozen=True, kw_only=True):
    """0x25 S->C, always clear. PS2: ``u16 110``, ``u16 1`` (Sony sent ``6e 00 01 00``); the PS3
    form is a certificate blob, kept whole after the first two words in ``extra``."""

    params: tuple[int, ...] = (110, 1)

    RT_ID = RT.SERVER_HELLO
    PARAMS = 2

    @property
    def version(self) -> int:
        """The RT version the server answers with."""
        return self.params[0]


class ServerStartupInfoNotify(RtMessage, frozen=True, kw_only=True):
    """0x26 S->C (DME): ``u8 gameHostType`` (4 = client/server aux UDP), ``u32 timestamp``."""

    game_host_type: int = 4
    timestamp: int = 0

    RT_ID = RT.SERVER_STARTUP_INFO_NOTIFY
    SIZE_108 = SIZE_109 = 5
    LAYOUT_108 = LAYOUT_109 = _Layout(("game_host_type", "B"), ("timestamp", "I"))


class ServerInfoAuxUdp(RtMessage, frozen=True, kw_only=True):
    """0x18 S->C (DME, TCP): where to send the aux-UDP connect: ``char[16] ip``, ``u16 port``."""

    ip: str = ""
    port: int = 0

    RT_ID = RT.SERVER_INFO_AUX_UDP
    SIZE_108 = SIZE_109 = 18
    LAYOUT_108 = LAYOUT_109 = _Layout(("ip", "16z"), ("port", "H"))


class ClientConnectAuxUdp(RtMessage, frozen=True, kw_only=True):
    """0x16 C->S over UDP (sent twice by DL). v108: ``u8[3] prefix``, ``u16 worldId``,
    ``i32 appId``, ``char[16] serverIp``, ``u16 port``, ``u16 playerId`` (29); v109+:
    ``u32 worldId``, ``i32 appId``, ``char[16]``, ``u16 port``, ``u16 playerId``, ``u16 scertId``,
    ``u16 unknown`` (32). ``port`` held the DME's TCP port in every capture."""

    world_id: int = 0
    app_id: int = 0
    server_ip: str = ""
    port: int = 0
    player_id: int = 0
    scert_id: int = 0
    unknown: int = 0
    prefix: bytes = b"\x01\x08\x01"

    RT_ID = RT.CLIENT_CONNECT_AUX_UDP
    SIZE_108 = 29
    SIZE_109 = 32
    LAYOUT_108 = _Layout(
        ("prefix", "3s"),
        ("world_id", "H"),
        ("app_id", "i"),
        ("server_ip", "16z"),
        ("port", "H"),
        ("player_id", "H"),
    )
    LAYOUT_109 = _Layout(
        ("world_id", "I"),
        ("app_id", "i"),
        ("server_ip", "16z"),
        ("port", "H"),
        ("player_id", "H"),
        ("scert_id", "H"),
        ("unknown", "H"),
    )


class ServerConnectAcceptAuxUdp(RtMessage, frozen=True, kw_only=True):
    """0x19 S->C over UDP (Sony sent it twice): the client's public UDP endpoint as the server saw
    it. v108: ``u8[3] prefix``, ``u16 playerId``, ``u16 playerCount``, ``char[16] ip``,
    ``u16 port`` (25); v109+: ``u16 playerId``, ``u32 scertId``, ``u16 playerCount``,
    ``char[16] ip``, ``u16 port`` (26)."""

    player_id: int = 0
    scert_id: int = 0
    player_count: int = 1
    client_ip: str = ""
    client_port: int = 0
    prefix: bytes = b"\x01\x08\x10"

    RT_ID = RT.SERVER_CONNECT_ACCEPT_AUX_UDP
    SIZE_108 = 25
    SIZE_109 = 26
    LAYOUT_108 = _Layout(
        ("prefix", "3s"),
        ("player_id", "H"),
        ("player_count", "H"),
        ("client_ip", "16z"),
        ("client_port", "H"),
    )
    LAYOUT_109 = _Layout(
        ("player_id", "H"),
        ("scert_id", "I"),
        ("player_count", "H"),
        ("client_ip", "16z"),
        ("client_port", "H"),
    )


class _Empty(RtMessage, frozen=True, kw_only=True):
    SIZE_108 = SIZE_109 = 0
    LAYOUT_108 = LAYOUT_109 = _EMPTY


class ClientConnectReadyAuxUdp(_Empty, frozen=True, kw_only=True):
    """0x17 C->S (DME, TCP): empty; DL sends it flagged as ``97 00 00``. After it the client counts
    as joined."""

    RT_ID = RT.CLIENT_CONNECT_READY_AUX_UDP


class ClientDisconnect(_Empty, frozen=True, kw_only=True):
    """0x01 C->S: empty (UYA sends it clear, ``01 00 00``, even mid-session)."""

    RT_ID = RT.CLIENT_DISCONNECT


class ClientFlushAll(_Empty, frozen=True, kw_only=True):
    """0x0F C->S: "send now" hint; empty and clear in the UYA DME captures."""

    RT_ID = RT.CLIENT_FLUSH_ALL


class ClientDisconnectWithReason(RtMessage, frozen=True, kw_only=True):
    """0x20 C->S: ``u8 reason`` (1 seen)."""

    reason: int = 1

    RT_ID = RT.CLIENT_DISCONNECT_WITH_REASON
    SIZE_108 = SIZE_109 = 1
    LAYOUT_108 = LAYOUT_109 = _Layout(("reason", "B"))


class ServerForcedDisconnect(RtMessage, frozen=True, kw_only=True):
    """0x11 S->C: ``u8 reason`` (see ``DisconnectReason``)."""

    reason: int = DisconnectReason.NONE

    RT_ID = RT.SERVER_FORCED_DISCONNECT
    SIZE_108 = SIZE_109 = 1
    LAYOUT_108 = LAYOUT_109 = _Layout(("reason", "B"))


class ServerConnectNotify(RtMessage, frozen=True, kw_only=True):
    """0x08 S->C (DME): another player joined. v108: ``i16 playerIndex``, ``char[16] ip``,
    ``u8[64] key`` (82); v109+: ``i16 playerIndex``, ``i16 scertId``, ``i16 unknown``,
    ``char[16] ip``, ``u8[64] key`` (86). From Horizon's model; no capture shows one."""

    player_index: int = 0
    scert_id: int = 0
    unknown: int = 0
    ip: str = ""
    key: bytes = bytes(64)

    RT_ID = RT.SERVER_CONNECT_NOTIFY
    SIZE_108 = 82
    SIZE_109 = 86
    LAYOUT_108 = _Layout(("player_index", "h"), ("ip", "16z"), ("key", "64s"))
    LAYOUT_109 = _Layout(
        ("player_index", "h"), ("scert_id", "h"), ("unknown", "h"), ("ip", "16z"), ("key", "64s")
    )


class ServerDisconnectNotify(RtMessage, frozen=True, kw_only=True):
    """0x09 S->C (DME): a player left; CONNECT_NOTIFY without the key (18 / 22 bytes). Index 0
    leaving ends a UYA game."""

    player_index: int = 0
    scert_id: int = 0
    unknown: int = 0
    ip: str = ""

    RT_ID = RT.SERVER_DISCONNECT_NOTIFY
    SIZE_108 = 18
    SIZE_109 = 22
    LAYOUT_108 = _Layout(("player_index", "h"), ("ip", "16z"))
    LAYOUT_109 = _Layout(("player_index", "h"), ("scert_id", "h"), ("unknown", "h"), ("ip", "16z"))


# --- keepalive and time -----------------------------------------------------------------------


class ClientEcho(RtMessage, frozen=True, kw_only=True):
    """0x05 both ways: ``u8`` (PS2 clients send 0xA5 every ~0.7-1 s); answer with the same."""

    value: int = 0xA5

    RT_ID = RT.CLIENT_ECHO
    SIZE_108 = SIZE_109 = 1
    LAYOUT_108 = LAYOUT_109 = _Layout(("value", "B"))


class ServerEcho(RtMessage, frozen=True, kw_only=True):
    """0x1F both ways: ``u32 unixTime``, ``u32 microseconds``; the client returns it unchanged."""

    unix_time: int = 0
    microseconds: int = 0

    RT_ID = RT.SERVER_ECHO
    SIZE_108 = SIZE_109 = 8
    LAYOUT_108 = LAYOUT_109 = _Layout(("unix_time", "I"), ("microseconds", "I"))


class ClientTimebaseQuery(RtMessage, frozen=True, kw_only=True):
    """0x2D C->S (DME, ~1/s): ``u32 clientTime`` in ms."""

    client_time: int = 0

    RT_ID = RT.CLIENT_TIMEBASE_QUERY
    SIZE_108 = SIZE_109 = 4
    LAYOUT_108 = LAYOUT_109 = _Layout(("client_time", "I"))


class ServerTimebaseQueryNotify(RtMessage, frozen=True, kw_only=True):
    """0x2E S->C: ``u32 clientTime`` (echoed), ``u32 serverTime`` (ms of the world timer)."""

    client_time: int = 0
    server_time: int = 0

    RT_ID = RT.SERVER_TIMEBASE_QUERY_NOTIFY
    SIZE_108 = SIZE_109 = 8
    LAYOUT_108 = LAYOUT_109 = _Layout(("client_time", "I"), ("server_time", "I"))


# --- DME relay controls -----------------------------------------------------------------------


class ClientSetRecvFlag(RtMessage, frozen=True, kw_only=True):
    """0x0D C->S: which relayed messages the client wants (``RecvFlag``). v109+: ``u8 flags``
    (DL sends 0x0F); v108: two bytes ``02 01``, read as a prefix byte and then the flags, so that
    ``01`` means broadcast on, as Horizon treats it."""

    flags: int = RecvFlag.SINGLE | RecvFlag.LIST
    prefix: bytes = b"\x02"

    RT_ID = RT.CLIENT_SET_RECV_FLAG
    SIZE_108 = 2
    SIZE_109 = 1
    LAYOUT_108 = _Layout(("prefix", "1s"), ("flags", "B"))
    LAYOUT_109 = _Layout(("flags", "B"))


class ClientSetAggTime(RtMessage, frozen=True, kw_only=True):
    """0x0E C->S: ``i16`` aggregation time in ms (30 seen)."""

    agg_time_ms: int = 20

    RT_ID = RT.CLIENT_SET_AGG_TIME
    SIZE_108 = SIZE_109 = 2
    LAYOUT_108 = LAYOUT_109 = _Layout(("agg_time_ms", "h"))


# --- application payloads ---------------------------------------------------------------------


class _Opaque(RtMessage, frozen=True, kw_only=True):
    """A fixed head followed by a payload that is passed through untouched."""

    payload: bytes = b""

    VARIABLE = True

    @classmethod
    def _decode_tail(cls, tail: bytes, offset: int, version: int) -> dict[str, Any]:
        return {"payload": tail}

    def _encode_tail(self, version: int) -> bytes:
        return bytes(self.payload)


class ClientAppBroadcast(_Opaque, frozen=True, kw_only=True):
    """0x02 C->S: a game payload for every other player of the DME world."""

    RT_ID = RT.CLIENT_APP_BROADCAST
    SIZE_108 = SIZE_109 = 0
    LAYOUT_108 = LAYOUT_109 = _EMPTY


class _Targeted(_Opaque, frozen=True, kw_only=True):
    target: int = 0

    SIZE_108 = SIZE_109 = 2
    LAYOUT_108 = LAYOUT_109 = _Layout(("target", "h"))


class ClientAppSingle(_Targeted, frozen=True, kw_only=True):
    """0x03 both ways: ``i16`` player index + payload. C->S the index is the target; S->C (every
    relayed app message) it is the source."""

    RT_ID = RT.CLIENT_APP_SINGLE


class ClientFlushSingle(_Targeted, frozen=True, kw_only=True):
    """0x10 C->S: ``i16 target`` (+ payload in Horizon's model; UYA sent just the index)."""

    RT_ID = RT.CLIENT_FLUSH_SINGLE


class ClientAppList(RtMessage, frozen=True, kw_only=True):
    """0x04 C->S: ``u8 maskLen``, ``u8[maskLen]`` player bitmask (bit i of byte b = player
    8b+i), payload."""

    mask: bytes = b""
    payload: bytes = b""

    RT_ID = RT.CLIENT_APP_LIST
    SIZE_108 = SIZE_109 = 1
    VARIABLE = True
    LAYOUT_108 = LAYOUT_109 = _EMPTY

    @classmethod
    def decode(cls, payload: Payload, version: int) -> Self:
        if not payload:
            raise ProtocolError("ClientAppList without a mask length")
        n = payload[0]
        if len(payload) < 1 + n:
            raise ProtocolError(
                f"ClientAppList mask of {n} bytes, only {len(payload) - 1} present",
                offset=len(payload),
                data=bytes(payload),
            )
        return cls(mask=bytes(payload[1 : 1 + n]), payload=bytes(payload[1 + n :]))

    def encode(self, version: int) -> bytes:
        if len(self.mask) > 255:
            raise ProtocolError(f"ClientAppList mask of {len(self.mask)} bytes does not fit a u8 length")
        return bytes((len(self.mask),)) + self.mask + self.payload

    @property
    def targets(self) -> tuple[int, ...]:
        """Player indexes whose bit is set, ascending."""
        return tuple(8 * b + i for b, byte in enumerate(self.mask) for i in range(8) if byte >> i & 1)

    @classmethod
    def to(cls, targets: Iterable[int], payload: bytes) -> ClientAppList:
        """A list message for these player indexes, with the shortest mask that holds them."""
        idx = sorted(set(targets))
        if idx and (idx[0] < 0 or idx[-1] >= 8 * 255):
            raise ProtocolError(f"player index out of range: {idx}")
        mask = bytearray((idx[-1] // 8 + 1) if idx else 0)
        for i in idx:
            mask[i // 8] |= 1 << (i % 8)
        return cls(mask=bytes(mask), payload=payload)


class _AppMessage(RtMessage, frozen=True, kw_only=True):
    """A Medius message: ``u8 msgClass``, ``u8 msgType``, body (class 0 DME, 1 Lobby,
    2 Application, 3 LobbyReport, 4 LobbyExt, 5 LobbyAuthentication)."""

    msg_class: int = 0
    msg_type: int = 0
    body: bytes = b""

    SIZE_108 = SIZE_109 = 2
    VARIABLE = True
    LAYOUT_108 = LAYOUT_109 = _Layout(("msg_class", "B"), ("msg_type", "B"))

    @classmethod
    def _decode_tail(cls, tail: bytes, offset: int, version: int) -> dict[str, Any]:
        return {"body": tail}

    def _encode_tail(self, version: int) -> bytes:
        return bytes(self.body)


class ServerApp(_AppMessage, frozen=True, kw_only=True):
    """0x0A S->C: a Medius message (at most 512 bytes on PS2; bigger ones are fragmented)."""

    RT_ID = RT.SERVER_APP


class ClientAppToServer(_AppMessage, frozen=True, kw_only=True):
    """0x0B C->S: a Medius message."""

    RT_ID = RT.CLIENT_APP_TOSERVER


# --- server pushes ----------------------------------------------------------------------------


class ServerSystemMessage(RtMessage, frozen=True, kw_only=True):
    """0x1C S->C: ``u8 severity``, ``u8 encoding``, ``u8 language``, ``u8 endOfMessage`` and
    NUL-terminated text. Encoding 2 is UTF-8; anything else is read as latin-1."""

    severity: int = 0
    encoding: int = 1
    language: int = 0
    end_of_message: bool = True
    text: str = ""

    RT_ID = RT.SERVER_SYSTEM_MESSAGE
    SIZE_108 = SIZE_109 = 4
    VARIABLE = True
    LAYOUT_108 = LAYOUT_109 = _Layout(
        ("severity", "B"), ("encoding", "B"), ("language", "B"), ("end_of_message", "?")
    )
    UTF8: ClassVar[int] = 2

    @classmethod
    def decode(cls, payload: Payload, version: int) -> Self:
        msg = super().decode(payload, version)
        raw = bytes(payload[cls.SIZE_109 :]).split(b"\0", 1)[0]
        try:
            text = raw.decode("utf-8" if msg.encoding == cls.UTF8 else "latin-1")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"ServerSystemMessage text is not UTF-8: {exc.reason}",
                offset=cls.SIZE_109 + exc.start,
                data=bytes(payload),
            ) from None
        return msgspec.structs.replace(msg, text=text)

    def _encode_tail(self, version: int) -> bytes:
        try:
            raw = self.text.encode("utf-8" if self.encoding == self.UTF8 else "latin-1")
        except UnicodeEncodeError:
            raise ProtocolError(
                f"ServerSystemMessage: {self.text!r} does not fit encoding {self.encoding}"
            ) from None
        if b"\0" in raw:
            raise ProtocolError("ServerSystemMessage text contains a NUL")
        return raw + b"\0"


class ServerCheatQuery(_Opaque, frozen=True, kw_only=True):
    """0x1D both ways: ``u8 queryType``, ``i32 sequenceId``, ``u32 address``, ``i32 length``, data
    (``payload``).
    Sony's DL MLS sent type 5 (salted SHA-1 over ``length`` bytes at ``address``) with a 16-byte
    salt as data; the client answers with the same id, type, sequence and address, length 16 and
    the 16 result bytes as data."""

    query_type: int = 0
    sequence_id: int = 0
    address: int = 0
    length: int = 0

    RT_ID = RT.SERVER_CHEAT_QUERY
    SIZE_108 = SIZE_109 = 13
    LAYOUT_108 = LAYOUT_109 = _Layout(
        ("query_type", "B"), ("sequence_id", "i"), ("address", "I"), ("length", "i")
    )


class ServerMemoryPoke(RtMessage, frozen=True, kw_only=True):
    """0x1E S->C: ``u32 address``, ``i32 length``, ``u8[length]`` written to client memory
    (patches; Horizon sends them unencrypted in pieces of at most 512 bytes)."""

    address: int = 0
    data: bytes = b""

    RT_ID = RT.SERVER_MEMORY_POKE
    SIZE_108 = SIZE_109 = 8
    VARIABLE = True
    LAYOUT_108 = LAYOUT_109 = _EMPTY
    _HEAD = struct.Struct("<Ii")

    @classmethod
    def decode(cls, payload: Payload, version: int) -> Self:
        if len(payload) < cls._HEAD.size:
            raise ProtocolError(
                f"ServerMemoryPoke needs 8 bytes, got {len(payload)}",
                offset=len(payload),
                data=bytes(payload),
            )
        address, length = cls._HEAD.unpack_from(payload)
        if length != len(payload) - cls._HEAD.size:
            raise ProtocolError(
                f"ServerMemoryPoke declares {length} bytes but carries {len(payload) - cls._HEAD.size}",
                offset=4,
                data=bytes(payload),
            )
        return cls(address=address, data=bytes(payload[cls._HEAD.size :]))

    def encode(self, version: int) -> bytes:
        try:
            return self._HEAD.pack(self.address, len(self.data)) + self.data
        except struct.error as exc:
            raise ProtocolError(f"ServerMemoryPoke: {exc}") from None


# --- multi-message containers -----------------------------------------------------------------


class _MultiApp(RtMessage, frozen=True, kw_only=True):
    """A run of inner frames ``[id][len LE16][payload]``, never hashed (the container itself is
    the encrypted frame). Seen only from PS3 clients and servers."""

    frames: tuple[RawFrame, ...] = ()

    SIZE_108 = SIZE_109 = 0
    VARIABLE = True
    LAYOUT_108 = LAYOUT_109 = _EMPTY

    @classmethod
    def decode(cls, payload: Payload, version: int) -> Self:
        frames = split_frames(bytes(payload))
        pos = 0
        for f in frames:
            if f.hash is not None:
                raise ProtocolError(
                    f"{cls.__name__}: inner frame {f.name} has the hash flag set",
                    offset=pos,
                    data=bytes(payload[pos : pos + HEADER.size + HASH_LEN]),
                )
            pos += f.wire_size
        return cls(frames=tuple(frames))

    def encode(self, version: int) -> bytes:
        return b"".join(encode_frame(f.id, f.payload) for f in self.frames)

    @classmethod
    def of(cls, messages: Iterable[RtMessage], version: int) -> Self:
        """A container of typed messages, encoded in the layout of ``version``."""
        return cls(frames=tuple(RawFrame(m.RT_ID, m.encode(version)) for m in messages))

    def messages(self, version: int) -> list[RtMessage | RawFrame]:
        """The inner frames decoded; frames of ids without a layout stay raw."""
        return [RT_LAYOUTS[f.id].decode(f.payload, version) if f.id in RT_LAYOUTS else f for f in self.frames]


class ClientMultiAppToServer(_MultiApp, frozen=True, kw_only=True):
    """0x3B C->S: several client messages in one frame."""

    RT_ID = RT.CLIENT_MULTI_APP_TOSERVER


class ServerMultiAppToClient(_MultiApp, frozen=True, kw_only=True):
    """0x3C S->C: several server messages in one frame (Sony's PS3 MAS: GAME + ACCEPT_TCP)."""

    RT_ID = RT.SERVER_MULTI_APP_TOCLIENT


# --- registry ---------------------------------------------------------------------------------

_MESSAGES: tuple[type[RtMessage], ...] = (
    ClientConnectTcp,
    ClientDisconnect,
    ClientAppBroadcast,
    ClientAppSingle,
    ClientAppList,
    ClientEcho,
    ServerConnectAcceptTcp,
    ServerConnectNotify,
    ServerDisconnectNotify,
    ServerApp,
    ClientAppToServer,
    ClientSetRecvFlag,
    ClientSetAggTime,
    ClientFlushAll,
    ClientFlushSingle,
    ServerForcedDisconnect,
    ClientCryptkeyPublic,
    ServerCryptkeyPeer,
    ServerCryptkeyGame,
    ClientConnectTcpAuxUdp,
    ClientConnectAuxUdp,
    ClientConnectReadyAuxUdp,
    ServerInfoAuxUdp,
    ServerConnectAcceptAuxUdp,
    ServerConnectComplete,
    ServerSystemMessage,
    ServerCheatQuery,
    ServerMemoryPoke,
    ServerEcho,
    ClientDisconnectWithReason,
    ClientConnectReadyTcp,
    ServerConnectRequire,
    ClientConnectReadyRequire,
    ClientHello,
    ServerHello,
    ServerStartupInfoNotify,
    ClientTimebaseQuery,
    ServerTimebaseQueryNotify,
    ClientMultiAppToServer,
    ServerMultiAppToClient,
)

#: RT id -> the struct of its payload, for every id whose layout is known.
RT_LAYOUTS: Mapping[int, type[RtMessage]] = MappingProxyType({cls.RT_ID: cls for cls in _MESSAGES})


def decode_message(rt_id: int, payload: Payload, version: int) -> RtMessage:
    """The typed payload of a plaintext frame; ProtocolError for an id without a known layout."""
    cls = RT_LAYOUTS.get(rt_id)
    if cls is None:
        raise ProtocolError(f"no payload layout for {rt_name(rt_id)}", data=bytes(payload))
    return cls.decode(payload, version)
