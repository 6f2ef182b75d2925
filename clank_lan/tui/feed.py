"""Bounded inboxes between the engine and its operator console: bus events and log records.

The engine's bus and the ``clank_lan`` loggers fill these from trio tasks (or any thread, for
logging); each poll of the console drains them (``view.build_view``). Both are bounded deques
that drop the oldest entry when full and count what they dropped, so a busy server never waits
for the screen.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

EVENT_CAPACITY = 2000
LOG_CAPACITY = 2000

T = TypeVar("T")


class Inbox(Generic[T]):
    """A bounded, thread-safe FIFO: ``put`` never blocks, ``drain`` takes everything."""

    def __init__(self, capacity: int) -> None:
        self._items: deque[T] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)

    def drain(self) -> list[T]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class LogRecordView:
    """What the log pane shows of one record."""

    ts: float
    level: str
    source: str
    text: str


class InboxLogHandler(logging.Handler):
    """A logging handler that posts records into the console's bounded log inbox."""

    def __init__(self, inbox: Inbox[LogRecordView], level: int = logging.INFO) -> None:
        super().__init__(level)
        self.inbox = inbox
        self.addFilter(lambda r: not r.name.startswith("clank_lan.frames"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            source = record.name.removeprefix("clank_lan.").removeprefix("clank_lan")
            self.inbox.put(LogRecordView(record.created, record.levelname.lower(), source or "main", text))
        except Exception:
            self.handleError(record)


def _is_terminal_handler(h: logging.Handler) -> bool:
    """A handler writing to the terminal (which the console owns while it runs), not to a file."""
    return (
        isinstance(h, logging.StreamHandler)
        and not isinstance(h, logging.FileHandler)
        and getattr(h, "stream", None) in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    )


def terminal_level(logger_name: str = "clank_lan") -> int:
    """The level the terminal shows (what the console's log pane shows too)."""
    handlers = [h for h in logging.getLogger(logger_name).handlers if _is_terminal_handler(h)]
    return min((h.level for h in handlers), default=logging.INFO) or logging.INFO


@contextmanager
def logs_to_inbox(inbox: Inbox[LogRecordView], level: int, logger_name: str = "clank_lan") -> Iterator[None]:
    """While the engine runs: its records at ``level`` and above also go to the console's inbox."""
    logger = logging.getLogger(logger_name)
    handler = InboxLogHandler(inbox, level)
    logger.addHandler(handler)
    previous = logger.level
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@contextmanager
def terminal_quiet(logger_name: str = "clank_lan") -> Iterator[None]:
    """While the console owns the terminal, the log lines meant for it are not printed over it
    (they reach the console's log pane; file handlers are untouched)."""
    logger = logging.getLogger(logger_name)
    muted = [h for h in logger.handlers if _is_terminal_handler(h)]
    for h in muted:
        logger.removeHandler(h)
    try:
        yield
    finally:
        for h in muted:
            logger.addHandler(h)
