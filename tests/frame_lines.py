"""The frame log's records as text, for tests that compare what was logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from clank_lan import logs


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def frame_lines() -> Iterator[list[str]]:
    """Every frame record logged meanwhile, formatted, in order: with no log file open the frame
    logger falls back to ``logs.FRAMES``, which is caught here at debug level and restored after."""
    saved_writer, saved_level, saved_disabled = logs._frame_writer, logs.FRAMES.level, logs.FRAMES.disabled
    logs._frame_writer = None
    handler = _Lines()
    logs.FRAMES.addHandler(handler)
    logs.FRAMES.setLevel(logging.DEBUG)
    logs.FRAMES.disabled = False
    try:
        yield handler.lines
    finally:
        logs.FRAMES.removeHandler(handler)
        # setLevel, not an assignment: the logging module caches isEnabledFor per logger and only
        # setLevel clears that cache (a stale "debug on" leaked frame records into later tests).
        logs.FRAMES.setLevel(saved_level)
        logs._frame_writer, logs.FRAMES.disabled = saved_writer, saved_disabled
