"""Choosing the upstream resolver, and exchanging with it."""

from __future__ import annotations

import socket

import pytest
import trio
from dnslib import DNSRecord

from clank_lan.dns.upstream import (
    Upstream,
    choose_upstream,
    exchange,
    is_self,
    parse_resolv_conf,
    parse_upstream,
)


@pytest.mark.parametrize(
    ("text", "ip", "port"),
    [
        ("1.1.1.1", "1.1.1.1", 53),
        (" 192.168.1.1:5353 ", "192.168.1.1", 5353),
        ("::1", "::1", 53),
        ("[2001:db8::1]:853", "2001:db8::1", 853),
        ("[::1]", "::1", 53),
    ],
)
def test_upstream_forms(text: str, ip: str, port: int) -> None:
    up = parse_upstream(text)
    assert (up.ip, up.port, up.source) == (ip, port, "configured")


@pytest.mark.parametrize("text", ["dns.google", "1.1.1.1:0", "1.1.1.1:99999", "[::1]x", "", "1.2.3:53"])
def test_bad_upstreams_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_upstream(text)


def test_upstream_text_form() -> None:
    assert str(Upstream("::1", 53)) == "[::1]:53" and str(Upstream("10.0.0.1", 5353)) == "10.0.0.1:5353"
    assert Upstream("::1").family == socket.AF_INET6


def test_resolv_conf_parsing() -> None:
    text = """
# comment nameserver 9.9.9.9
nameserver 127.0.0.53
options edns0 trust-ad
nameserver fe80::1%eth0
nameserver 2001:db8::53 ; trailing comment
nameserver not-an-ip
search lan
nameserver 10.0.0.1
"""
    assert parse_resolv_conf(text) == ["127.0.0.53", "2001:db8::53", "10.0.0.1"]


def test_self_detection() -> None:
    local = ["192.168.1.5", "127.0.0.1"]
    assert is_self(Upstream("127.0.0.1", 53), "0.0.0.0", 53, local)
    assert is_self(Upstream("127.0.0.53", 53), "0.0.0.0", 53, local)  # wildcard bind owns all of 127/8
    assert is_self(Upstream("192.168.1.5", 53), "0.0.0.0", 53, local)
    assert not is_self(Upstream("192.168.1.1", 53), "0.0.0.0", 53, local)
    assert not is_self(Upstream("127.0.0.53", 53), "192.168.1.5", 53, local)  # systemd-resolved beside us
    assert is_self(Upstream("192.168.1.5", 53), "192.168.1.5", 53, local)
    assert not is_self(Upstream("127.0.0.1", 5353), "0.0.0.0", 53, local)


def test_choosing_an_upstream() -> None:
    kw = {"bind_ip": "192.168.1.5", "port": 53, "local_addresses": ["192.168.1.5"]}
    up, why = choose_upstream("9.9.9.9", **kw)
    assert up == Upstream("9.9.9.9", 53, "configured") and "9.9.9.9:53 (configured)" in why
    up, why = choose_upstream("192.168.1.5", **kw)
    assert up is None and "this DNS server itself" in why
    up, why = choose_upstream("", **kw, system=(["192.168.1.5", "127.0.0.53"], "/etc/resolv.conf"))
    assert up == Upstream("127.0.0.53", 53, "/etc/resolv.conf") and "from /etc/resolv.conf" in why
    up, why = choose_upstream("", **kw, system=([], "/etc/resolv.conf"))
    assert up is None and "no upstream resolver" in why and "dns.upstream" in why
    up, why = choose_upstream("", **kw, system=(["192.168.1.5"], "/etc/resolv.conf"))
    assert up is None and "only this server itself (192.168.1.5)" in why


async def test_exchange_with_nobody_listening_fails_fast() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    query = DNSRecord.question("www.example.org").pack()
    start = trio.current_time()
    assert await exchange(bytes(query), Upstream("127.0.0.1", port), 5.0) is None
    assert trio.current_time() - start < 5.0


async def test_exchange_ignores_unrelated_datagrams_and_times_out() -> None:
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
        await upstream.bind(("127.0.0.1", 0))
        query = bytes(DNSRecord.question("www.example.org").pack())

        async def noisy() -> None:
            data, addr = await upstream.recvfrom(512)
            await upstream.sendto(b"\x00\x00\x81\x80" + data[4:], addr)  # wrong id
            await upstream.sendto(data, addr)  # the query itself, QR clear

        async with trio.open_nursery() as nursery:
            nursery.start_soon(noisy)
            with trio.fail_after(3):
                assert await exchange(query, Upstream("127.0.0.1", upstream.getsockname()[1]), 0.3) is None
