"""LAN address detection (no packet is ever sent) and the setup text shown to users."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

from clank_lan.net.lan import (
    LanAddress,
    detect_lan_address,
    interface_address,
    list_ipv4_interfaces,
    parse_default_route,
    route_probe_address,
)
from clank_lan.net.setup import (
    PortRule,
    pcsx2_setup_text,
    port_forwarding_text,
    primary_dns_line,
    ps2_setup_text,
    setup_text,
)

LINUX = sys.platform.startswith("linux")

ROUTES = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
tun0\t00000000\t00000000\t0000\t0\t0\t1\t00000000\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
broken line
"""


def test_default_route_with_the_lowest_metric_wins_and_down_routes_are_ignored() -> None:
    assert parse_default_route(ROUTES) == "eth0"
    assert parse_default_route(ROUTES.replace("\t100\t00000000", "\t900\t00000000")) == "wlan0"
    no_default = "\n".join(line for line in ROUTES.splitlines() if "\t00000000\t0" not in line[:20])
    assert parse_default_route(no_default) is None
    assert parse_default_route("") is None


@pytest.mark.skipif(not LINUX, reason="the SIOCGIFADDR ioctl and /proc/net/route are Linux's")
def test_detection_follows_the_default_route_interface(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(ROUTES.replace("eth0", "lo"))
    found = detect_lan_address(str(route))
    assert found == LanAddress("127.0.0.1", "lo", "default-route")
    assert not found.usable
    assert interface_address("lo") == "127.0.0.1"
    assert interface_address("no-such-if0") is None


def test_detection_on_this_machine_gives_an_ipv4_address() -> None:
    found = detect_lan_address()
    ipaddress.IPv4Address(found.address)
    assert found.method in ("default-route", "route-probe", "first-interface", "loopback")
    assert found.usable == (found.method != "loopback")


def test_interfaces_include_loopback_and_the_probe_sends_nothing_checkable() -> None:
    interfaces = list_ipv4_interfaces()
    assert "127.0.0.1" in {i.address for i in interfaces}
    probe = route_probe_address()  # a UDP connect(): picks a route, puts nothing on the wire
    assert probe is None or ipaddress.IPv4Address(probe)


def test_ps2_and_pcsx2_texts_carry_the_exact_primary_dns_line() -> None:
    line = primary_dns_line("192.168.1.50")
    assert line == "Primary DNS: 192.168.1.50"
    assert line in ps2_setup_text("192.168.1.50") and "Secondary DNS" in ps2_setup_text("192.168.1.50")
    pcsx2 = pcsx2_setup_text("192.168.1.50")
    assert line in pcsx2 and "Sockets" in pcsx2 and "Internal" in pcsx2
    assert "clank-lan hosts-ini --address 192.168.1.50" in pcsx2


def test_port_forwarding_text_lists_the_given_ports() -> None:
    rules = [
        PortRule("TCP", 10075, purpose="MAS (login)"),
        PortRule("UDP", 50000, 50015, "DME game traffic"),
        PortRule("UDP", 10070, purpose="NAT"),
    ]
    text = port_forwarding_text("192.168.1.50", rules)
    lines = text.splitlines()
    assert "192.168.1.50" in lines[0]
    assert lines[1:4] == [
        "    TCP 10075        MAS (login)",
        "    UDP 50000-50015  DME game traffic",
        "    UDP 10070        NAT",
    ]
    assert "open resolver" not in text
    assert "open resolver" in port_forwarding_text("x", [PortRule("UDP", 53, purpose="DNS")])
    assert "no ports" in port_forwarding_text("x", [])


def test_port_rules_are_validated_and_everything_joins_up() -> None:
    for first, last in [(0, None), (70000, None), (100, 99)]:
        with pytest.raises(ValueError):
            PortRule("TCP", first, last)
    assert PortRule("UDP", 5, 5).ports == "5"
    full = setup_text("10.0.0.2", [PortRule("TCP", 10071, purpose="MUIS")])
    assert full.count("Primary DNS: 10.0.0.2") == 2 and "TCP 10071  MUIS" in full
