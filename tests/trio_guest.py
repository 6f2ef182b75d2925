"""Trio as a guest of the running asyncio loop, for the console tests.

The operator console runs on asyncio (Textual) and talks to the engine over its line; the tests
run a fake engine's ``ConsoleHost`` as a trio guest of the test's own loop, so both share one
thread and a test reads the engine's state between Pilot steps. Rules kept here (from the trio
docs): one guest run per loop, quit by cancelling the root scope, and keep the host loop alive
until trio's ``done_callback`` has fired. ``call`` runs a plain function inside the trio run and
``run`` an async one in the guest's nursery; both hand back an asyncio future of the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio


class GuestNotRunning(RuntimeError):
    """The trio guest has not started yet, or has already finished."""


class TrioGuest:
    """One trio guest run inside the current asyncio loop."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self.outcome: outcome.Outcome | None = None
        self._scope = trio.CancelScope()
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Future] = set()
        self._on_done: list[Callable[[outcome.Outcome], object]] = []

    # lifecycle -------------------------------------------------------------------------------
    def start(self, main: Callable[[trio.Nursery], Awaitable[Any]]) -> None:
        """Start ``main(nursery)`` as the guest; must be called from inside the asyncio loop."""
        if self._loop is not None:
            raise RuntimeError("this guest was already started")
        self._loop = asyncio.get_running_loop()
        trio.lowlevel.start_guest_run(
            self._root,
            main,
            run_sync_soon_threadsafe=self._loop.call_soon_threadsafe,
            done_callback=self._finished,
            host_uses_signal_set_wakeup_fd=True,
        )

    def add_done_callback(self, fn: Callable[[outcome.Outcome], object]) -> None:
        """Called (in the asyncio loop) with the run's outcome once trio has finished."""
        self._on_done.append(fn)

    @property
    def running(self) -> bool:
        return self._token is not None and not self.done.is_set()

    async def _root(self, main: Callable[[trio.Nursery], Awaitable[Any]]) -> Any:
        self._token = trio.lowlevel.current_trio_token()
        with self._scope:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.started.set()
                result = await main(nursery)
                nursery.cancel_scope.cancel()  # helpers started with ``run`` end with ``main``
                return result
        return None  # the root scope was cancelled: a requested quit

    def _finished(self, result: outcome.Outcome) -> None:
        self.outcome = result
        self._nursery = None
        self.started.set()  # release anyone still waiting for a start that will never come
        self.done.set()
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(GuestNotRunning("the trio run finished first"))
                fut.exception()  # an abandoned future is expected here: no "never retrieved" noise
        self._pending.clear()
        for fn in self._on_done:
            fn(result)

    def cancel(self) -> None:
        """Cancel the whole trio run (everything in it stops at its next checkpoint)."""
        if self.running:
            assert self._token is not None
            try:
                self._token.run_sync_soon(self._scope.cancel)
            except trio.RunFinishedError:
                pass

    async def wait_done(self, timeout: float | None = None) -> outcome.Outcome | None:
        """Wait for the run to finish (never stop the host loop before that)."""
        if self._loop is None:
            return None
        await asyncio.wait_for(self.done.wait(), timeout)
        return self.outcome

    # host -> trio ----------------------------------------------------------------------------
    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run the synchronous ``fn(*args)`` inside the trio run; a future of its result."""
        fut = self._new_future()

        def job() -> None:
            if fut.done():
                return
            try:
                result = fn(*args)
            except Exception as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)
            finally:
                self._pending.discard(fut)

        self._schedule(job, fut)
        return fut

    def run(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> asyncio.Future:
        """Run ``await afn(*args)`` as a task of the guest's nursery; a future of its result.

        Its exception goes to the future, never into the nursery, so a failed operator action
        cannot take the servers down.
        """
        fut = self._new_future()

        def settle(exc: BaseException | None, result: Any = None) -> None:
            self._pending.discard(fut)
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

        async def task() -> None:
            try:
                result = await afn(*args)
            except Exception as exc:
                settle(exc)
            except BaseException:  # Cancelled: the run is ending under it
                settle(GuestNotRunning("the trio run was cancelled"))
                raise
            else:
                settle(None, result)

        def job() -> None:
            if self._nursery is None:
                settle(GuestNotRunning("the trio run is shutting down"))
            else:
                self._nursery.start_soon(task)

        self._schedule(job, fut)
        return fut

    def _new_future(self) -> asyncio.Future:
        loop = self._loop or asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.add(fut)
        return fut

    def _schedule(self, job: Callable[[], None], fut: asyncio.Future) -> None:
        if not self.running:
            self._pending.discard(fut)
            fut.set_exception(GuestNotRunning("the trio run is not running"))
            return
        assert self._token is not None
        try:
            self._token.run_sync_soon(job)
        except trio.RunFinishedError:
            self._pending.discard(fut)
            fut.set_exception(GuestNotRunning("the trio run finished"))
