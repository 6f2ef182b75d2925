"""Per-connection output buffer shared by the sans-IO protocol objects and the trio shell.

Protocol code (and other connections' handlers, e.g. a chat forward) push encoded frames here;
the shell is told through ``notify`` and writes everything queued in one write. The buffer is
bounded: a client that stops reading is marked ``overflowed`` and disconnected by the shell
rather than letting memory grow.

Work the event loop must not do (a password hash) leaves the same way: ``defer(work, done)``
asks the shell to run ``work()`` in a worker thread and to call ``done(result, now)`` back on the
loop, unless the connection ended meanwhile. Protocol code stays sans-IO; tests run the work
themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DEFAULT_LIMIT = 256 * 1024

#: ``(work, done)``: ``work()`` off the event loop, then ``done(result, now)`` on it.
Deferred = tuple[Callable[[], Any], Callable[[Any, float], None]]


class Outbox:
    __slots__ = ("_chunks", "_size", "closing", "deferred", "limit", "notify", "overflowed")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self.limit = limit
        self.overflowed = False
        self.closing: str | None = None  # reason, once the protocol decided to close after flushing
        self.deferred: list[Deferred] = []  # taken by the shell (``take_deferred``)
        self.notify: Callable[[], None] = _noop

    def push(self, data: bytes) -> None:
        if self.overflowed or not data:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self.limit:
            self.overflowed = True
        self.notify()

    def take(self) -> bytes:
        if not self._chunks:
            return b""
        out = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        return out

    def defer(self, work: Callable[[], Any], done: Callable[[Any, float], None]) -> None:
        """Have ``work()`` run off the event loop and ``done(result, now)`` called with its result."""
        self.deferred.append((work, done))
        self.notify()

    def take_deferred(self) -> list[Deferred]:
        out, self.deferred = self.deferred, []
        return out

    def close(self, reason: str) -> None:
        """Ask the shell to close the connection once what is queued has been written."""
        if self.closing is None:
            self.closing = reason
        self.notify()

    def __len__(self) -> int:
        return self._size


def _noop() -> None:
    return None
