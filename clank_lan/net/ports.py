"""Binding server ports, and explaining in plain words why a bind failed and how to fix it.

Port conflicts are the most common setup failure of DNS and Medius servers (systemd-resolved or
Internet Connection Sharing on 53, a second Medius server on 10075). ``diagnose_bind_failure`` is
pure; ``find_port_owner`` reads Linux's /proc to name the holder; ``bind_udp``/``bind_tcp`` raise
``PortUnavailable`` carrying that text, so startup can mark one service down and run the rest.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import trio

from clank_lan.ports import DME_UDP, FIXED_GAME_PORTS

_INUSE = {"linux": {98}, "darwin": {48}, "win32": {10048}}
_ACCES = {"linux": {1, 13}, "darwin": {1, 13}, "win32": {10013}}
_NOTAVAIL = {"linux": {99}, "darwin": {49}, "win32": {10049}}

#: Ports of the Medius family (and the DME's UDP range) a second server is likely to hold.
_MEDIUS_PORTS = range(10070, 10081)
_DME_UDP_PORTS = range(DME_UDP, DME_UDP + 1001)


class PortUnavailable(Exception):
    """A server port could not be bound; ``str(exc)`` is the full explanation with the fix."""

    def __init__(
        self, message: str, *, ip: str, port: int, protocol: str, err_no: int | None, owner: str | None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.ip = ip
        self.port = port
        self.protocol = protocol
        self.err_no = err_no
        self.owner = owner


@dataclass(frozen=True, slots=True)
class PortOwner:
    """Who holds a port, as far as /proc tells this user."""

    pid: int | None
    process: str | None
    uid: int | None
    user: str | None

    def describe(self) -> str:
        if self.pid is not None:
            return f"{self.process or 'a process'} (pid {self.pid})"
        who = f"user {self.user!r}" if self.user else f"uid {self.uid}"
        return f"a process of {who} (run as root to see which)"


def _platform_key(platform: str) -> str:
    if platform.startswith("linux"):
        return "linux"
    if platform == "darwin":
        return "darwin"
    if platform in ("win32", "cygwin"):
        return "win32"
    return platform


def _is(err_no: int | None, table: dict[str, set[int]], plat: str, here: int) -> bool:
    """errno match for ``plat``; the running platform's own constant also counts."""
    return err_no is not None and (err_no in table.get(plat, set()) or err_no == here)


def _likely_holders(port: int, protocol: str, plat: str) -> str:
    if port == 53:
        if plat == "linux":
            return (
                "On Linux this is usually systemd-resolved's stub listener (127.0.0.53), dnsmasq "
                "(libvirt, NetworkManager, Pi-hole) or another DNS server."
            )
        if plat == "win32":
            return (
                "On Windows this is usually Internet Connection Sharing (the SharedAccess service, also "
                "behind Mobile Hotspot and Hyper-V/WSL networking) or a DNS Server role."
            )
        if plat == "darwin":
            return "On macOS this is usually Internet Sharing's DNS proxy."
        return "Another DNS server is running."
    if port in _MEDIUS_PORTS or (protocol == "UDP" and port in _DME_UDP_PORTS):
        return (
            "Another Medius server is probably running: Horizon, Clank, Robo, MultiServer3, "
            "or a second copy of clank-lan."
        )
    return ""


def _find_holder_hint(port: int, protocol: str, plat: str) -> str:
    proto = protocol.lower()
    if plat == "linux":
        flag = "u" if proto == "udp" else "t"
        return f"See who holds it with: sudo ss -lpn{flag} 'sport = :{port}'"
    if plat == "darwin":
        return f"See who holds it with: sudo lsof -nP -i {proto}:{port}"
    if plat == "win32":
        return f"See who holds it with (elevated prompt): netstat -abno -p {proto.upper()} | findstr :{port}"
    return ""


def _fixes_in_use(port: int, plat: str, ip: str) -> list[str]:
    if port == 53:
        fixes = []
        if plat == "linux":
            if ip in ("0.0.0.0", ""):
                fixes.append(
                    "bind the DNS to this machine's LAN address instead of 0.0.0.0; it then coexists "
                    "with systemd-resolved, which only holds 127.0.0.53"
                )
            fixes.append(
                "set DNSStubListener=no in /etc/systemd/resolved.conf and run "
                "'sudo systemctl restart systemd-resolved'"
            )
            fixes.append("stop the other DNS server while clank-lan runs")
        elif plat == "win32":
            fixes.append(
                "stop 'Internet Connection Sharing (ICS)' in services.msc (or run 'net stop SharedAccess' "
                "in an elevated prompt) while clank-lan runs"
            )
        elif plat == "darwin":
            fixes.append("turn off Internet Sharing in System Settings > General > Sharing")
        else:
            fixes.append("stop the other DNS server")
        fixes.append("run without the DNS server and give PCSX2 a hosts file from 'clank-lan hosts-ini'")
        return fixes
    if port in FIXED_GAME_PORTS:
        return [
            f"stop the other server: the games dial {FIXED_GAME_PORTS[port]} on port {port} and "
            "cannot be pointed at another port"
        ]
    return ["stop the other program, or give this service another port in the configuration"]


def _fix_lines(fixes: list[str]) -> list[str]:
    return [f"Fix: {fixes[0]}."] + [f"  or {fix}." for fix in fixes[1:]]


def diagnose_bind_failure(
    port: int,
    protocol: str,
    err_no: int | None,
    *,
    ip: str = "0.0.0.0",
    service: str = "",
    owner: str | None = None,
    strerror: str = "",
    platform: str = sys.platform,
    executable: str = "",
    local_addresses: tuple[str, ...] = (),
) -> str:
    """The explanation for a failed bind of ``protocol`` (TCP/UDP) ``ip:port`` with ``err_no``.

    ``owner`` is the holder if known (``find_port_owner(...).describe()``); ``executable`` is
    the program to name in a ``setcap`` command; ``local_addresses`` lists valid bind addresses.
    """
    plat = _platform_key(platform)
    proto = protocol.upper()
    head = f"{service or 'clank-lan'} cannot listen on {proto} port {port} ({ip or '0.0.0.0'}:{port})"
    lines: list[str]
    if _is(err_no, _INUSE, plat, errno.EADDRINUSE):
        held = f": the port is already in use by {owner}." if owner else ": the port is already in use."
        lines = [head + held]
        if not owner:
            lines += [
                s for s in (_likely_holders(port, proto, plat), _find_holder_hint(port, proto, plat)) if s
            ]
        lines += _fix_lines(_fixes_in_use(port, plat, ip))
    elif _is(err_no, _ACCES, plat, errno.EACCES) or err_no == errno.EPERM:
        if plat == "linux" and port < 1024:
            target = executable or "<the clank-lan program or its Python>"
            lines = [
                head + ": ports below 1024 need privileges on Linux and this user has none.",
                "Choose one:",
                f"  1. grant the right once: sudo setcap cap_net_bind_service=+ep {target}",
                "     (on a Python interpreter this lets every script bind low ports; prefer the binary)",
                "  2. run clank-lan elevated (sudo)",
                "  3. allow low ports for everyone: sudo sysctl net.ipv4.ip_unprivileged_port_start=53",
                "  4. run without the DNS server; PCSX2 users import a hosts file from 'clank-lan hosts-ini'"
                if port == 53
                else "  4. use a port above 1023 in the configuration",
            ]
        elif plat == "win32":
            lines = [
                head + ": Windows refused access (WSAEACCES).",
                "Another program holds the port exclusively, or it lies in a range Windows reserves for "
                "Hyper-V, WSL or Docker; list those with: netsh interface ipv4 show excludedportrange "
                f"protocol={proto.lower()}",
            ]
            holders = _likely_holders(port, proto, plat)
            if holders:
                lines.append(holders)
            lines += _fix_lines(_fixes_in_use(port, plat, ip))
        else:
            lines = [head + ": permission denied.", "Fix: run clank-lan with the rights to open this port."]
    elif _is(err_no, _NOTAVAIL, plat, errno.EADDRNOTAVAIL):
        valid = ", ".join(local_addresses) if local_addresses else "see 'ip addr' / 'ipconfig'"
        lines = [
            head + f": {ip} is not an address of this machine (did the LAN address change?).",
            f"Fix: bind to 0.0.0.0 or to one of this machine's addresses ({valid}).",
        ]
    else:
        detail = strerror or (os.strerror(err_no) if err_no is not None else "unknown error")
        lines = [head + f": {detail} (errno {err_no})."]
        hint = _find_holder_hint(port, proto, plat)
        if hint:
            lines.append(hint)
    return "\n".join(lines)


# --- who holds a port (Linux /proc) ----------------------------------------------------------

_TCP_LISTEN = "0A"


_ANY = ("", "0.0.0.0", "::")


def proc_net_address(hex_addr: str) -> str:
    """The address of a /proc/net table's ``local_address`` (IPv4: 8 hex digits, one little-endian
    word; IPv6: 32, four such words); an IPv4-mapped IPv6 address as plain IPv4."""
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return socket.inet_ntoa(raw[::-1])
    if len(raw) != 16:
        raise ValueError(f"not an address: {hex_addr!r}")
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    if raw[:12] == bytes(10) + b"\xff\xff":
        return socket.inet_ntoa(raw[12:])
    return socket.inet_ntop(socket.AF_INET6, raw)


def _blocks(held: str, wanted: str) -> bool:
    """Does a socket bound to ``held`` keep us from binding ``wanted`` (same port)? Only when one
    of them is the wildcard address or they are the same address."""
    return held in _ANY or wanted in _ANY or held == wanted


def parse_proc_net(text: str, port: int, *, tcp: bool, ip: str = "") -> list[tuple[int, int]]:
    """(inode, uid) of sockets bound to ``port`` in a /proc/net/{tcp,udp}[6] table that would keep
    us from binding ``ip`` ("" or 0.0.0.0: any address) there.

    TCP counts only listening sockets (a TIME_WAIT entry has no owner and blocks nothing);
    entries with inode 0 are skipped. A holder on another address (systemd-resolved on
    127.0.0.53 when we bind the LAN address) is not a holder.
    """
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or ":" not in fields[1]:
            continue
        try:
            hex_addr, hex_port = fields[1].rsplit(":", 1)
            local_port = int(hex_port, 16)
            uid, inode = int(fields[7]), int(fields[9])
            held = proc_net_address(hex_addr)
        except ValueError:
            continue
        if local_port != port or inode == 0 or (tcp and fields[3] != _TCP_LISTEN):
            continue
        if not _blocks(held, ip):
            continue
        found.append((inode, uid))
    return found


def _pid_for_inodes(inodes: set[int], proc: Path) -> tuple[int, str] | None:
    targets = {f"socket:[{i}]" for i in inodes}
    try:
        pids = [p for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return None
    for pid_dir in pids:
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:  # not ours to look at, or gone
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    comm = (pid_dir / "comm").read_text().strip()
                    return int(pid_dir.name), comm
            except OSError:
                continue
    return None


def find_port_owner(
    port: int, protocol: str, *, ip: str = "", proc: str | os.PathLike[str] = "/proc"
) -> PortOwner | None:
    """Who holds ``protocol`` ``port`` in a way that blocks binding ``ip`` ("" = any address) on
    Linux, or None when /proc does not say (or not Linux)."""
    root = Path(proc)
    tcp = protocol.upper() == "TCP"
    entries: list[tuple[int, int]] = []
    for table in ("tcp", "tcp6") if tcp else ("udp", "udp6"):
        try:
            entries += parse_proc_net((root / "net" / table).read_text(), port, tcp=tcp, ip=ip)
        except OSError:
            continue
    if not entries:
        return None
    found = _pid_for_inodes({inode for inode, _ in entries}, root)
    uid = entries[0][1]
    if found is not None:
        return PortOwner(pid=found[0], process=found[1], uid=uid, user=_user_name(uid))
    return PortOwner(pid=None, process=None, uid=uid, user=_user_name(uid))


def _user_name(uid: int) -> str | None:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return None


# --- binding ----------------------------------------------------------------------------------


def _failure(err: OSError, ip: str, port: int, protocol: str, service: str) -> PortUnavailable:
    owner = None
    if sys.platform.startswith("linux") and err.errno == errno.EADDRINUSE:
        found = find_port_owner(port, protocol, ip=ip)
        owner = found.describe() if found else None
    message = diagnose_bind_failure(
        port,
        protocol,
        err.errno,
        ip=ip,
        service=service,
        owner=owner,
        strerror=err.strerror or "",
        executable=os.path.realpath(sys.executable),
    )
    return PortUnavailable(message, ip=ip, port=port, protocol=protocol, err_no=err.errno, owner=owner)


def _exclusive(sock: socket.socket) -> None:
    """Windows: refuse to share the port (SO_REUSEADDR there would let us steal it silently)."""
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows only; unverified on real Windows
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)


async def bind_udp(ip: str, port: int, *, service: str = "") -> trio.socket.SocketType:
    """A bound IPv4 UDP socket, or ``PortUnavailable`` explaining why not.

    No SO_REUSEADDR: on Linux it would let two servers share the port and split the traffic.
    On Windows, ICMP "port unreachable" is switched off so recvfrom does not raise
    ConnectionResetError (WSAECONNRESET) after a send to a gone client (unverified on Windows).
    """
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        _exclusive(raw)
        if hasattr(socket, "SIO_UDP_CONNRESET"):
            raw.ioctl(socket.SIO_UDP_CONNRESET, False)  # type: ignore[attr-defined]
        sock = trio.socket.from_stdlib_socket(raw)
        await sock.bind((ip, port))
    except OSError as err:
        raw.close()
        raise _failure(err, ip, port, "UDP", service) from err
    except BaseException:
        raw.close()  # cancelled (a stop during start-up): closed now, not when collected
        raise
    return sock


async def bind_tcp(ip: str, port: int, *, service: str = "", backlog: int = 1024) -> trio.SocketListener:
    """A listening IPv4 TCP socket wrapped as a trio listener, or ``PortUnavailable``."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
            _exclusive(raw)
        else:  # POSIX: allow a restart while old connections sit in TIME_WAIT
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock = trio.socket.from_stdlib_socket(raw)
        await sock.bind((ip, port))
        sock.listen(backlog)
    except OSError as err:
        raw.close()
        raise _failure(err, ip, port, "TCP", service) from err
    except BaseException:
        raw.close()
        raise
    return trio.SocketListener(sock)
