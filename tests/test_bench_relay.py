"""The relay bench times a relayed datagram by the kernel's arrival stamp, not by when its own
load generator got round to reading it (on 2 cores in a login storm that was up to 10 ms later)."""

from __future__ import annotations

import select
import socket
import sys
import time

import pytest

from bench.relay import Bot, Load, arrived

LOCAL = "127.0.0.1"


@pytest.mark.skipif(sys.platform != "linux", reason="SO_TIMESTAMPNS is Linux's (elsewhere: the read time)")
def test_a_datagram_is_timed_by_its_arrival_not_by_its_reading():
    bot = Bot(0, 1, 0)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert bot.stamped
        to = bot.udp.getsockname()
        sender.sendto(b"warm-up", to)  # the kernel turns its stamping on lazily, at the first
        assert select.select([bot.udp], [], [], 5.0)[0]
        Load.drain_udp(bot)
        sent = time.time()
        sender.sendto(b"frame", to)
        assert select.select([bot.udp], [], [], 5.0)[0]
        time.sleep(0.02)  # a load generator held back by the scheduler
        read = time.time()
        [(data, at)] = Load.drain_udp(bot)
    finally:
        sender.close()
        bot.udp.close()
    assert data == b"frame" and at is not None
    assert sent <= at < read  # (the order only: no duration is asserted)


def test_without_a_stamp_there_is_no_arrival_time():
    assert arrived([]) is None
    assert arrived([(socket.SOL_SOCKET, 1234, b"\0" * 16)]) is None

