"""Sub-structures shared by many messages (medius-messages.md §1.5)."""

from __future__ import annotations

from typing import Annotated

from clank_lan.protocol.medius.layout import (
    I32,
    U16,
    U32,
    Array,
    Bytes16,
    RsaKey,
    SessionKey,
    Str16,
    Str64,
    Str128,
    Sub,
    WireStruct,
)


class NetAddress(WireStruct):
    """24 bytes. ``address`` is dotted IPv4 text for the text types (External, Internal, NATService);
    the binary types are not interpreted (their bytes still round-trip through ``wire``)."""

    address_type: U32 = 0  # NetAddressType
    address: Str16 = ""
    port: U32 = 0


class NetAddressList(WireStruct):
    """48 bytes: two NetAddress. By convention [0] = the server to connect to, [1] = the NAT service."""

    addresses: Annotated[tuple[NetAddress, ...], Array(Sub(NetAddress), 2)] = (NetAddress(), NetAddress())


class NetConnectionInfo(WireStruct):
    """156 bytes: how the server tells a client "go connect there"."""

    connection_type: I32 = 0  # NetConnectionType
    address_list: Annotated[NetAddressList, Sub(NetAddressList)] = NetAddressList()
    target_world_id: I32 = 0  # world/channel id the client passes in RT CONNECT_TCP
    server_key: RsaKey = bytes(64)  # RSA modulus of the target (LE); zeros for UYA
    session_key: SessionKey = ""
    access_key: SessionKey = ""  # a.k.a. token


class PlayerOnlineState(WireStruct):
    """140 bytes: where a buddy / clan member is."""

    connect_status: I32 = 0  # PlayerStatus
    lobby_world_id: I32 = 0
    game_world_id: I32 = 0
    lobby_name: Str64 = ""
    game_name: Str64 = ""


class MediusFile(WireStruct):
    """172 bytes: a file of the Medius file service (checksum 16 bytes, confirmed by b41)."""

    filename: Str128 = ""
    server_checksum: Bytes16 = bytes(16)
    file_id: U32 = 0
    file_size: U32 = 0
    creation_time_stamp: U32 = 0
    owner_id: U32 = 0
    group_id: U32 = 0
    owner_permission_rwx: U16 = 0
    group_permission_rwx: U16 = 0
    global_permission_rwx: U16 = 0
    server_operation_id: U16 = 0


Address = Annotated[NetAddress, Sub(NetAddress)]
AddressList = Annotated[NetAddressList, Sub(NetAddressList)]
ConnectInfo = Annotated[NetConnectionInfo, Sub(NetConnectionInfo)]
OnlineState = Annotated[PlayerOnlineState, Sub(PlayerOnlineState)]
FileInfo = Annotated[MediusFile, Sub(MediusFile)]
