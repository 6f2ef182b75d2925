"""The NAT wire format (dme-nat-muis-dns.md §B) in its one home, and the service on loopback."""

from __future__ import annotations

import logging
import socket
from functools import partial

import pytest
import trio

from clank_lan import limit_hits as lh
from clank_lan.config import LimitSettings
from clank_lan.servers import nat

LOCAL = "127.0.0.1"


def test_the_documented_reply_decodes_and_encodes_back():
    example = bytes.fromhex("60f2582417a1")  # 96.242.88.36:6049, the reference's example
    assert nat.decode_reply(example) == ("96.242.88.36", 6049)
    assert nat.encode_reply("96.242.88.36", 6049) == example


@pytest.mark.parametrize("request_", [nat.UYA_REQUEST, nat.DL_REQUEST, b"\x01\x02\x03\x04"])
def test_a_four_byte_request_is_answered_with_the_senders_address(request_):
    assert nat.is_request(request_)
    reply = nat.NatService().answer(request_, ("192.168.1.7", 50123), 0.0)
    assert reply == socket.inet_aton("192.168.1.7") + bytes([0xC3, 0xCB])


@pytest.mark.parametrize(
    "data", [nat.KEEPALIVE, bytes.fromhex("010000d4"), b"", b"\x00" * 3, b"\x00" * 5, b"\x00" * 600]
)
def test_keepalives_and_other_lengths_get_nothing(data):
    assert not nat.is_request(data) and nat.NatService().answer(data, ("10.0.0.1", 1), 0.0) is None


@pytest.mark.parametrize(
    ("ip", "port"), [("::1", 10), ("not an address", 10), ("10.0.0.1", -1), ("10.0.0.1", 70000)]
)
def test_what_the_wire_cannot_carry_is_not_encoded(ip, port):
    assert nat.encode_reply(ip, port) is None


@pytest.mark.parametrize("data", [b"", b"\x00" * 5, b"\x00" * 7])
def test_only_six_bytes_decode(data):
    assert nat.decode_reply(data) is None


async def test_the_service_answers_twice_and_ignores_keepalives():
    server = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await server.bind((LOCAL, 0))
    async with trio.open_nursery() as nursery:
        port = await nursery.start(nat.serve_nat, server)
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind((LOCAL, 0))
            mine = sock.getsockname()[1]
            await sock.sendto(nat.KEEPALIVE, (LOCAL, port))
            await sock.sendto(b"\x00" * 9, (LOCAL, port))
            await sock.sendto(nat.UYA_REQUEST, (LOCAL, port))
            with trio.fail_after(5):
                replies = [(await sock.recvfrom(64))[0] for _ in range(nat.REPLY_COPIES)]
        nursery.cancel_scope.cancel()
    server.close()
    # loopback keeps order: had the keep-alive or the 9 bytes been answered, that came first
    assert [nat.decode_reply(r) for r in replies] == [(LOCAL, mine)] * nat.REPLY_COPIES


def test_queries_over_the_rate_of_one_address_are_dropped_and_counted(caplog):
    caplog.set_level(logging.INFO, "clank_lan.nat")
    hits = lh.LimitHits()
    service = nat.NatService(LimitSettings(nat_queries_per_second=10.0), hits)
    flood = [service.answer(nat.UYA_REQUEST, ("10.0.0.66", 1000 + i), 5.0) for i in range(1000)]
    assert sum(r is not None for r in flood) == 10  # the burst, then nothing in the same instant
    assert hits[lh.NAT_RATE] == 990
    # another address is answered meanwhile, and the flooder again once it slows down
    assert nat.decode_reply(service.answer(nat.DL_REQUEST, ("10.0.0.7", 5000), 5.0)) == ("10.0.0.7", 5000)
    assert service.answer(nat.UYA_REQUEST, ("10.0.0.66", 1), 5.5) is not None
    dropped = [r for r in caplog.records if "asks more than 10 a second" in r.getMessage()]
    assert 1 <= len(dropped) <= LimitSettings().log_lines_per_peer


def test_without_limits_everybody_is_answered():
    service = nat.NatService()
    assert all(service.answer(nat.UYA_REQUEST, ("10.0.0.66", 1), 0.0) for _ in range(1000))


async def test_a_flood_does_not_starve_a_console_on_real_sockets():
    """A flooder at 127.0.0.2 sends as fast as it can; the console at 127.0.0.1 is answered."""
    server = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await server.bind((LOCAL, 0))
    async with trio.open_nursery() as nursery:
        port = await nursery.start(partial(nat.serve_nat, limits=LimitSettings()), server)

        async def flood() -> None:
            with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                await sock.bind(("127.0.0.2", 0))
                for _ in range(20_000):  # bounded; yields every datagram
                    await sock.sendto(nat.UYA_REQUEST, (LOCAL, port))

        nursery.start_soon(flood)
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind((LOCAL, 0))
            mine = sock.getsockname()[1]
            with trio.fail_after(5):
                while True:  # as a console does: ask again every 0.5 s until answered
                    await sock.sendto(nat.UYA_REQUEST, (LOCAL, port))
                    with trio.move_on_after(0.5):
                        reply = (await sock.recvfrom(64))[0]
                        break
        assert nat.decode_reply(reply) == (LOCAL, mine)
        nursery.cancel_scope.cancel()
    server.close()
