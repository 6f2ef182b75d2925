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
        # Linux turns its arrival stamping on in a deferred work item once the first socket of the
        # machine asks for it; until then a datagram is stamped when it is read. Warm up until one
        # is stamped on arrival (bounded): a busy machine ran that work late (a failure in one
        # full suite run, the other test processes' stamped sockets coming and going).
        for _ in range(100):
            sender.sendto(b"warm-up", to)
            assert select.select([bot.udp], [], [], 5.0)[0]
            time.sleep(0.002)
            before_read = time.time()
            [(_, warm_at)] = Load.drain_udp(bot)
            if warm_at is not None and warm_at < before_read:
                break
        else:
            pytest.fail("the kernel never stamped a datagram on arrival")
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
