"""Password hashing off the event loop: same results as the pure functions, in worker threads,
never more of them at once than ``HASH_THREADS``."""

from __future__ import annotations

import threading

import trio

from clank_lan.db import passwords
from clank_lan.db.passwords import HASH_THREADS, PasswordHash, make_off_loop, off_loop, verify_off_loop

SALT = bytes(range(16))


async def test_make_and_verify_off_loop_agree_with_the_pure_functions() -> None:
    hashed = await make_off_loop("hunter2", SALT, 50)
    assert hashed.encode() == PasswordHash.make("hunter2", SALT, 50).encode()
    assert await verify_off_loop(hashed, "hunter2")
    assert not await verify_off_loop(hashed, "hunter3")
    assert await verify_off_loop(PasswordHash.decode(hashed.encode()), b"hunter2")


async def test_the_hash_runs_in_a_worker_thread() -> None:
    loop_thread = threading.get_ident()
    assert await off_loop(threading.get_ident) != loop_thread


async def test_no_more_than_hash_threads_hash_at_once() -> None:
    lock = threading.Lock()
    release = threading.Event()
    state = {"active": 0, "most": 0, "done": 0}

    def slow_hash() -> None:
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
        release.wait(10)
        with lock:
            state["active"] -= 1
            state["done"] += 1

    async with trio.open_nursery() as nursery:
        for _ in range(3 * HASH_THREADS):
            nursery.start_soon(off_loop, slow_hash)
        for _ in range(500):  # bounded wait for the pool to fill
            if state["active"] == HASH_THREADS:
                break
            await trio.sleep(0.01)
        assert state["active"] == HASH_THREADS
        assert passwords._limiter().borrowed_tokens == HASH_THREADS
        assert passwords._limiter().statistics().tasks_waiting == 2 * HASH_THREADS
        release.set()
    assert state == {"active": 0, "most": HASH_THREADS, "done": 3 * HASH_THREADS}
