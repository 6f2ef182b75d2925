"""The upstream resolver: which one to use, and one query/answer exchange with it.

Default upstream: the first ``nameserver`` of /etc/resolv.conf on Unix (Linux, macOS, BSD);
on Windows the DNS servers of the network adapters, read from the registry (Tcpip
``NameServer`` / ``DhcpNameServer``; unverified on real Windows). An upstream that is this very
server (the machine's DNS set to itself) is refused, since forwarding there would loop.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Iterable
from pathlib import Path

import trio

from clank_lan.dns.redirect import is_reply_to
from clank_lan.dns.settings import DNS_PORT, Upstream, parse_upstream

MAX_MESSAGE = 65535
_TC = 0x02  # in header byte 2


def parse_resolv_conf(text: str) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf, in order (link-local IPv6 with a zone skipped)."""
    found = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver" and "%" not in fields[1]:
            try:
                found.append(str(ipaddress.ip_address(fields[1])))
            except ValueError:
                continue
    return found


def _windows_nameservers() -> list[str]:  # pragma: no cover - Windows only, unverified
    import winreg  # type: ignore[import-not-found]

    found: list[str] = []
    base = r"SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"

    def values(key: object) -> None:
        for value_name in ("NameServer", "DhcpNameServer"):
            try:
                raw, _ = winreg.QueryValueEx(key, value_name)
            except OSError:
                continue
            found.extend(a for a in str(raw).replace(",", " ").split() if a)

    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, base) as key:
            values(key)
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, base + r"\Interfaces") as interfaces:
            index = 0
            while True:
                try:
                    name = winreg.EnumKey(interfaces, index)
                except OSError:
                    break
                index += 1
                with winreg.OpenKey(interfaces, name) as key:
                    values(key)
    except OSError:
        pass
    return list(dict.fromkeys(found))


def system_nameservers(resolv_conf: str = "/etc/resolv.conf") -> tuple[list[str], str]:
    """The machine's own resolvers and where they were read from."""
    if sys.platform == "win32":  # pragma: no cover
        return _windows_nameservers(), "Windows adapter settings"
    try:
        return parse_resolv_conf(Path(resolv_conf).read_text()), resolv_conf
    except OSError:
        return [], resolv_conf


def is_self(upstream: Upstream, bind_ip: str, port: int, local_addresses: Iterable[str]) -> bool:
    """Would ``upstream`` be this DNS server itself (bound to ``bind_ip``:``port``)?"""
    if upstream.port != port:
        return False
    ip = ipaddress.ip_address(upstream.ip)
    if bind_ip in ("0.0.0.0", ""):
        return ip.is_loopback or ip.is_unspecified or upstream.ip in set(local_addresses)
    return upstream.ip == bind_ip


def choose_upstream(
    configured: str,
    *,
    bind_ip: str,
    port: int,
    local_addresses: Iterable[str],
    system: tuple[list[str], str] | None = None,
) -> tuple[Upstream | None, str]:
    """The upstream to forward to (or None) and one sentence for the log saying why."""
    local = list(local_addresses)
    if configured:
        upstream = parse_upstream(configured)
        if is_self(upstream, bind_ip, port, local):
            return None, f"configured upstream {upstream} is this DNS server itself; not forwarding"
        return upstream, f"forwarding other names to {upstream} (configured)"
    candidates, source = system if system is not None else system_nameservers()
    skipped = []
    for address in candidates:
        upstream = Upstream(address, DNS_PORT, source)
        if is_self(upstream, bind_ip, port, local):
            skipped.append(address)
            continue
        return upstream, f"forwarding other names to {upstream} (from {source})"
    why = f"only this server itself ({', '.join(skipped)})" if skipped else "none"
    return None, f"no upstream resolver: {source} lists {why}; set dns.upstream to forward other names"


async def _udp_exchange(query: bytes, upstream: Upstream, timeout: float) -> bytes | None:
    with trio.socket.socket(upstream.family, socket.SOCK_DGRAM) as sock:
        await sock.connect((upstream.ip, upstream.port))  # only the upstream's answers get through
        await sock.send(query)
        with trio.move_on_after(timeout):
            while True:
                try:
                    reply = await sock.recv(MAX_MESSAGE)
                except ConnectionRefusedError:  # ICMP port unreachable: nobody there
                    return None
                if is_reply_to(query, reply):
                    return reply
    return None


async def _receive_exactly(stream: trio.abc.ReceiveStream, count: int) -> bytes | None:
    data = bytearray()
    while len(data) < count:
        chunk = await stream.receive_some(count - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


async def _tcp_exchange(query: bytes, upstream: Upstream, timeout: float) -> bytes | None:
    with trio.move_on_after(timeout):
        stream = await trio.open_tcp_stream(upstream.ip, upstream.port)
        async with stream:
            await stream.send_all(len(query).to_bytes(2, "big") + query)
            size = await _receive_exactly(stream, 2)
            reply = await _receive_exactly(stream, int.from_bytes(size, "big")) if size else None
            return reply if reply is not None and is_reply_to(query, reply) else None
    return None


async def exchange(
    query: bytes, upstream: Upstream, timeout: float, *, over_tcp: bool = False
) -> bytes | None:
    """The upstream's answer to ``query``, or None on timeout or error.

    Always asks over UDP first; a truncated answer is retried over TCP when the client itself
    came over TCP (a UDP client gets the truncated answer and retries over TCP on its own).
    """
    try:
        reply = await _udp_exchange(query, upstream, timeout)
        if reply is not None and over_tcp and reply[2] & _TC:
            reply = await _tcp_exchange(query, upstream, timeout)
    except OSError:
        return None
    return reply
