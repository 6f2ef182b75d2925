"""Per-connection output buffer shared by the sans-IO protocol objects and the trio shell.

Protocol code (and other connections' handlers, e.g. a chat forward) push encoded frames here;
the shell is told through ``notify`` and writes everything queued in one write. The buffer is
bounded: a client that stops reading is marked ``overflowed`` and disconnected by the shell
rather than letting memory grow.

Output that may wait a little (``push_later``: a chat line for a whole channel) is written by the
shell within ``LATER`` seconds, together with whatever else comes for that connection meanwhile:
with 200 consoles chatting in one channel, each console gets a line every few tens of
milliseconds, and one ``send`` a line per console was most of the server's work.

Work the event loop must not do (a password hash) leaves the same way: ``defer(work, done)``
asks the shell to run ``work()`` in a worker thread and to call ``done(result, now)`` back on the
loop, unless the connection ended meanwhile. Protocol code stays sans-IO; tests run the work
themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DEFAULT_LIMIT = 256 * 1024
LATER = 0.1  # seconds output pushed with ``push_later`` may wait for company before it is written

#: ``(work, done)``: ``work()`` off the event loop, then ``done(result, now)`` on it.
Deferred = tuple[Callable[[], Any], Callable[[Any, float], None]]


class Outbox:
    __slots__ = ("_chunks", "_size", "closing", "deferred", "limit", "notify", "notify_later", "overflowed")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self.limit = limit
        self.overflowed = False
        self.closing: str | None = None  # reason, once the protocol decided to close after flushing
        self.deferred: list[Deferred] = []  # taken by the shell (``take_deferred``)
        self.notify: Callable[[], None] = _noop
        #: Output that may wait ``LATER`` was queued: a shell that can wait installs its own; any
        #: other owner of the outbox is told as for any output.
        self.notify_later: Callable[[], None] = self._notify_now

    def push(self, data: bytes) -> None:
        if self._queue(data):
            self.notify()

    def push_later(self, data: bytes) -> None:
        """Queue ``data`` to be written within ``LATER`` seconds (at once with anything pushed
        meanwhile); an overflow is told at once."""
        if self._queue(data):
            if self.overflowed:
                self.notify()
            else:
                self.notify_later()

    def _queue(self, data: bytes) -> bool:
        """Append ``data``; False when nothing was queued (empty, or the outbox overflowed before)."""
        if self.overflowed or not data:
            return False
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self.limit:
            self.overflowed = True
        return True

    def _notify_now(self) -> None:
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
