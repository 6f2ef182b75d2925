"""The storm bench's CPU account: what the server, the consoles' simulation and the machine spent
while the logins ran, which says whether the login p99 waited for the server or for the machine."""

from __future__ import annotations

import os
import sys

import pytest

from bench._common import PhaseResult, chat_deliveries
from bench.storm import busy_note, cpu_mark, storm_cpu


def test_the_relay_share_is_taken_out_of_the_server_s_cpu_per_login():
    logins = PhaseResult(latencies=[1.0] * 200, cpu=1.5)
    marks = [(10.0, 4.0, (1_000, 10_000)), (12.0, 5.8, (1_940, 11_000))]  # 2 s; 940 of 1,000 ticks busy
    c = storm_cpu(marks, logins, {"relay_cpu": 0.2})
    assert c["relay"] == pytest.approx(0.4)  # 20 % of a core for 2 s
    assert c["server_ms"] == pytest.approx((1.8 - 0.4) * 1000 / 200)
    assert c["clients_ms"] == pytest.approx(7.5)
    assert c["busy"] == pytest.approx(0.94)
    assert (
        busy_note(c)
        == "; the machine 94% busy meanwhile: server 7.0 ms per login, the consoles' simulation 7.5"
    )


def test_without_the_machine_s_ticks_there_is_no_busy_figure():
    c = storm_cpu(
        [(0.0, 0.0, None), (1.0, 0.5, None)], PhaseResult(latencies=[0.5] * 10, cpu=0.1), {"relay_cpu": 0}
    )
    assert c["busy"] is None and busy_note(c) == ""
    assert c["server_ms"] == pytest.approx(50.0)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads Linux's /proc/stat and /proc/<pid>/stat"
)
def test_a_reading_of_this_process_counts_its_own_cpu_and_the_machine_s_ticks():
    t0, cpu0, machine0 = cpu_mark(os.getpid())
    sum(i * i for i in range(300_000))
    t1, cpu1, machine1 = cpu_mark(os.getpid())
    assert t1 >= t0 and cpu1 >= cpu0
    assert machine0 is not None and machine1 is not None
    assert 0 <= machine0[0] <= machine1[0] and machine0[1] <= machine1[1]
    assert machine1[0] - machine0[0] <= machine1[1] - machine0[1]


def test_chat_deliveries_count_what_the_listeners_should_have_heard_in_the_window():
    talk = PhaseResult(said=[(1.0, 0), (2.0, 5), (9.0, 1)], heard=[(2.0, 2.25), (1.0, 1.5), (9.0, 9.1)])
    # 3 listeners: a line of listener 0 reaches 2 of them, one of console 5 all 3
    assert chat_deliveries(talk, 3, 0.0, 5.0) == (2, 5, [0.25, 0.5])
    said, expected, delays = chat_deliveries(talk, 3)
    assert (said, expected) == (3, 7) and delays == pytest.approx([0.1, 0.25, 0.5])
