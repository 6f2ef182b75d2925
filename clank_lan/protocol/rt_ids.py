"""The one table of SCE-RT message ids (0x00-0x3C): name and direction.

Ids are a dense enum; 0x37-0x3A are unused. The wire byte carries the id in bits 0-6 and the
"encrypted/hashed" flag in bit 7 (see ``framing``).
"""

from __future__ import annotations

import enum


class Dir(enum.Enum):
    """Who sends a message."""

    C2S = "client to server"
    S2C = "server to client"
    BOTH = "both ways"
    NONE = "unused"


class RT(enum.IntEnum):
    CLIENT_CONNECT_TCP = 0x00
    CLIENT_DISCONNECT = 0x01
    CLIENT_APP_BROADCAST = 0x02
    CLIENT_APP_SINGLE = 0x03
    CLIENT_APP_LIST = 0x04
    CLIENT_ECHO = 0x05
    SERVER_CONNECT_REJECT = 0x06
    SERVER_CONNECT_ACCEPT_TCP = 0x07
    SERVER_CONNECT_NOTIFY = 0x08
    SERVER_DISCONNECT_NOTIFY = 0x09
    SERVER_APP = 0x0A
    CLIENT_APP_TOSERVER = 0x0B
    UDP_APP = 0x0C
    CLIENT_SET_RECV_FLAG = 0x0D
    CLIENT_SET_AGG_TIME = 0x0E
    CLIENT_FLUSH_ALL = 0x0F
    CLIENT_FLUSH_SINGLE = 0x10
    SERVER_FORCED_DISCONNECT = 0x11
    CLIENT_CRYPTKEY_PUBLIC = 0x12
    SERVER_CRYPTKEY_PEER = 0x13
    SERVER_CRYPTKEY_GAME = 0x14
    CLIENT_CONNECT_TCP_AUX_UDP = 0x15
    CLIENT_CONNECT_AUX_UDP = 0x16
    CLIENT_CONNECT_READY_AUX_UDP = 0x17
    SERVER_INFO_AUX_UDP = 0x18
    SERVER_CONNECT_ACCEPT_AUX_UDP = 0x19
    SERVER_CONNECT_COMPLETE = 0x1A
    CLIENT_CRYPTKEY_PEER = 0x1B
    SERVER_SYSTEM_MESSAGE = 0x1C
    SERVER_CHEAT_QUERY = 0x1D
    SERVER_MEMORY_POKE = 0x1E
    SERVER_ECHO = 0x1F
    CLIENT_DISCONNECT_WITH_REASON = 0x20
    CLIENT_CONNECT_READY_TCP = 0x21
    SERVER_CONNECT_REQUIRE = 0x22
    CLIENT_CONNECT_READY_REQUIRE = 0x23
    CLIENT_HELLO = 0x24
    SERVER_HELLO = 0x25
    SERVER_STARTUP_INFO_NOTIFY = 0x26
    CLIENT_PEER_QUERY = 0x27
    SERVER_PEER_QUERY_NOTIFY = 0x28
    CLIENT_PEER_QUERY_LIST = 0x29
    SERVER_PEER_QUERY_LIST_NOTIFY = 0x2A
    CLIENT_WALLCLOCK_QUERY = 0x2B
    SERVER_WALLCLOCK_QUERY_NOTIFY = 0x2C
    CLIENT_TIMEBASE_QUERY = 0x2D
    SERVER_TIMEBASE_QUERY_NOTIFY = 0x2E
    CLIENT_TOKEN_MESSAGE = 0x2F
    SERVER_TOKEN_MESSAGE = 0x30
    CLIENT_SYSTEM_MESSAGE = 0x31
    CLIENT_APP_BROADCAST_QOS = 0x32
    CLIENT_APP_SINGLE_QOS = 0x33
    CLIENT_APP_LIST_QOS = 0x34
    CLIENT_MAX_MSGLEN = 0x35
    SERVER_MAX_MSGLEN = 0x36
    CLIENT_MULTI_APP_TOSERVER = 0x3B
    SERVER_MULTI_APP_TOCLIENT = 0x3C


DIRECTION: dict[RT, Dir] = {
    rt: (
        Dir.BOTH
        if rt in (RT.CLIENT_APP_SINGLE, RT.CLIENT_ECHO, RT.SERVER_ECHO, RT.SERVER_CHEAT_QUERY)
        else Dir.NONE
        if rt is RT.UDP_APP
        else Dir.C2S
        if rt.name.startswith("CLIENT_")
        else Dir.S2C
    )
    for rt in RT
}

#: Largest id in the table; the wire byte masks with 0x7F.
MAX_ID = max(RT)


def rt_name(rt_id: int) -> str:
    """Name of an RT id, or ``UNKNOWN_0x..`` for ids outside the table (never raises)."""
    try:
        return RT(rt_id).name
    except ValueError:
        return f"UNKNOWN_0x{rt_id:02X}"
