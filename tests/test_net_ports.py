"""Bind failures: the explanation text, the /proc owner lookup, and the bind helpers."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

import pytest
import trio

from clank_lan import ports
from clank_lan.client import cli as client_cli
from clank_lan.client.doctor import Target
from clank_lan.client.lobby import Ports
from clank_lan.config import Config, PortSettings
from clank_lan.doctor.tracker import ConsoleTracker
from clank_lan.net.ports import (
    PortOwner,
    PortUnavailable,
    bind_tcp,
    bind_udp,
    diagnose_bind_failure,
    find_port_owner,
    parse_proc_net,
    proc_net_address,
)
from clank_lan.ports import DEFAULT_PORTS, FIXED_GAME_PORTS
from clank_lan.titles import TITLES_BY_KEY

LINUX = sys.platform.startswith("linux")
IN_USE = {"linux": 98, "win32": 10048, "darwin": 48}


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_port_53_in_use_names_the_usual_holders_and_the_fixes(platform: str) -> None:
    text = diagnose_bind_failure(53, "udp", IN_USE[platform], service="DNS", platform=platform)
    assert text.startswith("DNS cannot listen on UDP port 53 (0.0.0.0:53): the port is already in use.")
    assert "hosts-ini" in text
    expected = {
        "linux": ["systemd-resolved", "dnsmasq", "DNSStubListener=no", "LAN address", "ss -lpnu"],
        "win32": ["Internet Connection Sharing", "SharedAccess", "netstat -abno -p UDP"],
        "darwin": ["Internet Sharing", "lsof -nP -i udp:53"],
    }[platform]
    for phrase in expected:
        assert phrase in text, phrase


def test_a_known_owner_replaces_the_guesswork() -> None:
    text = diagnose_bind_failure(53, "UDP", 98, platform="linux", owner="systemd-resolved (pid 512)")
    assert "already in use by systemd-resolved (pid 512)." in text
    assert "usually" not in text and "ss -lpnu" not in text
    assert "DNSStubListener=no" in text  # the fixes stay


def test_the_lan_address_fix_is_offered_only_when_bound_to_every_address() -> None:
    assert "LAN address" in diagnose_bind_failure(53, "UDP", 98, platform="linux", ip="0.0.0.0")
    assert "LAN address" not in diagnose_bind_failure(53, "UDP", 98, platform="linux", ip="192.168.1.5")


@pytest.mark.parametrize(("port", "proto"), [(10075, "TCP"), (10078, "TCP"), (10070, "UDP"), (50003, "UDP")])
def test_medius_ports_in_use_point_at_another_medius_server(port: int, proto: str) -> None:
    text = diagnose_bind_failure(port, proto, 98, service="MAS", platform="linux")
    assert f"port {port}" in text
    for name in ("Horizon", "Clank", "Robo", "MultiServer3"):
        assert name in text
    if port == 10075:
        assert "cannot be pointed at another port" in text


def test_port_53_without_privileges_on_linux_lists_the_choices() -> None:
    text = diagnose_bind_failure(53, "udp", 13, platform="linux", executable="/opt/clank-lan/clank-lan")
    assert "ports below 1024 need privileges" in text
    assert "sudo setcap cap_net_bind_service=+ep /opt/clank-lan/clank-lan" in text
    assert "sudo" in text and "hosts-ini" in text and "ip_unprivileged_port_start" in text


def test_windows_access_denied_mentions_reserved_ranges() -> None:
    text = diagnose_bind_failure(10075, "tcp", 10013, platform="win32")
    assert "excludedportrange protocol=tcp" in text and "port 10075" in text


def test_an_address_not_on_this_machine() -> None:
    text = diagnose_bind_failure(
        53, "udp", 99, ip="10.9.9.9", platform="linux", local_addresses=("192.168.1.5",)
    )
    assert "10.9.9.9 is not an address of this machine" in text and "192.168.1.5" in text


def test_other_errors_keep_the_system_text() -> None:
    text = diagnose_bind_failure(8080, "tcp", 22, strerror="Invalid argument", platform="linux")
    assert "clank-lan cannot listen on TCP port 8080" in text and "Invalid argument (errno 22)" in text


UDP_TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref
  1: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 17445 2 0 0
  2: 00000000:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 99999 2 0 0
  3: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 0 2 0 0
garbage line
"""
TCP_TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
  0: 00000000:275B 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1 0
  1: 0100007F:275B 0100007F:D431 06 00000000:00000000 03:00000F3E 00000000     0        0 0 3 0
  2: 0100007F:275B 0100007F:D432 01 00000000:00000000 00:00000000 00000000  1000        0 556 1 0
"""


def test_proc_net_tables_are_parsed() -> None:
    assert parse_proc_net(UDP_TABLE, 53, tcp=False) == [(17445, 101)]  # inode 0 skipped
    assert parse_proc_net(UDP_TABLE, 8080, tcp=False) == [(99999, 1000)]
    assert parse_proc_net(TCP_TABLE, 10075, tcp=True) == [(555, 1000)]  # only the LISTEN entry
    assert parse_proc_net(UDP_TABLE, 5353, tcp=False) == []
    any6 = "0" * 32
    v6 = f"hdr\n  0: {any6}:0035 {any6}:0000 07 00000000:00000000 00:00000000 00000000 0 0 321 2\n"
    assert parse_proc_net(v6, 53, tcp=False) == [(321, 0)]


def _fake_proc(root: Path, *, with_fd: bool) -> Path:
    (root / "net").mkdir(parents=True)
    (root / "net" / "udp").write_text(UDP_TABLE)
    (root / "net" / "tcp").write_text(TCP_TABLE)
    pid = root / "512"
    (pid / "fd").mkdir(parents=True)
    (pid / "comm").write_text("systemd-resolve\n")
    (root / "self-is-not-a-pid").mkdir()
    if with_fd:
        os.symlink("socket:[17445]", pid / "fd" / "12")
    os.symlink("/dev/null", pid / "fd" / "0")
    return root


def test_owner_found_through_a_fake_proc(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, with_fd=True)
    owner = find_port_owner(53, "udp", proc=proc)
    assert owner is not None and (owner.pid, owner.process, owner.uid) == (512, "systemd-resolve", 101)
    assert owner.describe() == "systemd-resolve (pid 512)"
    assert find_port_owner(10075, "TCP", proc=proc).uid == 1000
    assert find_port_owner(1234, "UDP", proc=proc) is None


def test_owner_without_visible_fds_is_named_by_user(tmp_path: Path) -> None:
    owner = find_port_owner(53, "UDP", proc=_fake_proc(tmp_path, with_fd=False))
    assert owner is not None and owner.pid is None and owner.uid == 101
    assert "run as root to see which" in owner.describe()
    assert (
        PortOwner(None, None, 0, "root").describe() == "a process of user 'root' (run as root to see which)"
    )


@pytest.mark.skipif(not LINUX, reason="/proc/net and /proc/<pid>/fd exist on Linux only")
def test_owner_of_a_real_socket_is_this_process() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        owner = find_port_owner(held.getsockname()[1], "UDP")
    assert owner is not None and owner.pid == os.getpid()


async def test_bind_udp_conflict_raises_port_unavailable_naming_port_and_holder() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        with pytest.raises(PortUnavailable) as caught:
            await bind_udp("127.0.0.1", port, service="NAT")
    err = caught.value
    assert (err.ip, err.port, err.protocol) == ("127.0.0.1", port, "UDP")
    assert str(err).startswith(f"NAT cannot listen on UDP port {port}")
    if LINUX:
        assert err.owner is not None and f"(pid {os.getpid()})" in err.owner


async def test_bind_tcp_conflict_and_success() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(PortUnavailable, match=f"TCP port {port}"):
            await bind_tcp("127.0.0.1", port, service="MAS")
    listener = await bind_tcp("127.0.0.1", 0)
    async with listener:
        assert listener.socket.getsockname()[0] == "127.0.0.1"


async def test_bind_udp_does_not_share_the_port() -> None:
    sock = await bind_udp("127.0.0.1", 0)
    with sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
        with pytest.raises(PortUnavailable):
            await bind_udp("127.0.0.1", sock.getsockname()[1])


@pytest.mark.parametrize("bind", [bind_udp, bind_tcp])
async def test_a_bind_cancelled_by_a_stop_closes_its_socket_at_once(bind, monkeypatch) -> None:
    """A stop during start-up cancels the bind: the socket it made is closed there, not left
    for the garbage collector (seen as an unclosed socket after a signal stopped ``serve``)."""
    made: list[socket.socket] = []

    class Recorded(socket.socket):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(socket, "socket", Recorded)  # what ``bind_*`` calls
    with trio.CancelScope() as scope:
        scope.cancel()
        await bind("127.0.0.1", 0)
    assert scope.cancelled_caught
    assert len(made) == 1 and made[0].fileno() == -1


def test_every_default_port_comes_from_the_one_table():
    """clank_lan/ports.py is the one place the numbers are written (issue 8: six copies before)."""
    assert DEFAULT_PORTS["mas"] == 10075 and DEFAULT_PORTS["muis"] == 10071
    assert dict(FIXED_GAME_PORTS) == {DEFAULT_PORTS["muis"]: "MUIS", DEFAULT_PORTS["mas"]: "MAS"}
    assert (Ports().muis, Ports().mas, Ports().mls) == (ports.MUIS, ports.MAS, ports.MLS)
    target = Target(host="10.0.0.1", title=TITLES_BY_KEY["uya-ntsc"], profile=None)
    assert (target.dns_port, target.nat_port, target.dme_port) == (ports.DNS, ports.NAT, ports.DME_TCP)
    assert ConsoleTracker().port("dme_udp") == ports.DME_UDP
    parser = argparse.ArgumentParser()
    client_cli.configure(parser)
    args = parser.parse_args(["doctor", "10.0.0.1"])
    assert (args.mas_port, args.nat_port, args.dme_port) == (ports.MAS, ports.NAT, ports.DME_TCP)
    settings = PortSettings()
    elsewhere = ("dns", "dnas", "web")  # their own config sections
    assert {name: getattr(settings, name) for name in DEFAULT_PORTS if name not in elsewhere} == {
        k: v for k, v in DEFAULT_PORTS.items() if k not in elsewhere
    }
    config = Config()
    assert (config.dnas.port, config.web.port) == (ports.DNAS, ports.WEB)


def test_proc_net_addresses_are_decoded() -> None:
    assert proc_net_address("3500007F") == "127.0.0.53"
    assert proc_net_address("00000000") == "0.0.0.0"
    assert proc_net_address("0" * 32) == "::"
    assert proc_net_address("0000000000000000FFFF00000100007F") == "127.0.0.1"  # v4-mapped
    with pytest.raises(ValueError):
        proc_net_address("abc")


def test_a_holder_on_another_address_is_not_named() -> None:
    """Issue 12 item 9: systemd-resolved on 127.0.0.53:53 does not hold 192.168.1.50:53."""
    assert parse_proc_net(UDP_TABLE, 53, tcp=False, ip="192.168.1.50") == []
    assert parse_proc_net(UDP_TABLE, 53, tcp=False, ip="127.0.0.53") == [(17445, 101)]
    assert parse_proc_net(UDP_TABLE, 53, tcp=False, ip="0.0.0.0") == [(17445, 101)]
    assert parse_proc_net(UDP_TABLE, 8080, tcp=False, ip="192.168.1.50") == [(99999, 1000)]  # wildcard holder


def test_owner_lookup_matches_the_address(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, with_fd=True)
    assert find_port_owner(53, "udp", ip="10.0.0.5", proc=proc) is None
    assert find_port_owner(53, "udp", ip="127.0.0.53", proc=proc).process == "systemd-resolve"
