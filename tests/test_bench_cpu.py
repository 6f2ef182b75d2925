"""The benchmarks' CPU reading: per thread, to the microsecond, and robust to threads ending."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from bench._common import cpu_used, thread_cpu_seconds


def test_a_thread_that_ended_is_left_out_and_a_new_one_counts_from_zero():
    before = {"100": 5.0, "101": 3.0}
    after = {"100": 5.5, "102": 0.25}  # 101 ended (its 3 s went with it), 102 started
    assert cpu_used(before, after) == 0.75
    assert cpu_used(None, after) is None and cpu_used(before, None) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc/<pid>/task")
def test_the_reading_agrees_with_the_threads_own_clock():
    spent: list[float] = []

    def work() -> None:
        start = time.thread_time()
        while time.thread_time() - start < 0.05:
            pass
        spent.append(time.thread_time() - start)
        done.wait(5)

    done = threading.Event()
    before = thread_cpu_seconds(os.getpid())
    worker = threading.Thread(target=work)
    worker.start()
    while not spent:
        time.sleep(0.001)
    after = thread_cpu_seconds(os.getpid())
    done.set()
    worker.join()
    assert before is not None and after is not None
    new = set(after) - set(before)
    assert len(new) == 1  # the worker, counted from zero
    (tid,) = new
    assert abs(after[tid] - spent[0]) < 0.005
