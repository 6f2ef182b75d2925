"""Logging setup: operator-facing lines on the console, everything (every frame) in the log file.

Frames go to the ``clank_lan.frames`` logger at DEBUG in the fixed hex format of
``protocol.hexlog``, so a log file from a real session can be replayed as a test.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from clank_lan.protocol.hexlog import format_frame

FRAMES = logging.getLogger("clank_lan.frames")
_FORMAT = "%(asctime)s %(levelname).1s %(message)s"


class FrameLogger:
    """Writes frames for one service; cheap to call when frame logging is off."""

    __slots__ = ("service",)

    def __init__(self, service: str) -> None:
        self.service = service

    @staticmethod
    def enabled() -> bool:
        return FRAMES.isEnabledFor(logging.DEBUG)

    def frame(
        self,
        peer: str,
        direction: str,
        rt_id: int,
        payload: bytes,
        ctx: int | None = None,
        null: bool = False,
        extra: str = "",
    ) -> None:
        if FRAMES.isEnabledFor(logging.DEBUG):
            FRAMES.debug("%s", format_frame(self.service, peer, direction, rt_id, payload, ctx, null, extra))


def setup_logging(level: str = "info", log_dir: Path | None = None, frames: bool = True) -> Path | None:
    """Console at ``level``; a rotating file with everything (incl. frames) under ``log_dir``."""
    root = logging.getLogger("clank_lan")
    console_level = getattr(logging, level.upper(), logging.INFO)
    # Records below every handler's level are never built; frames have their own logger level.
    root.setLevel(min(console_level, logging.INFO))
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
    console = logging.StreamHandler(sys.stdout)
    console.setLevel(console_level)
    console.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
    console.addFilter(lambda r: not r.name.startswith("clank_lan.frames"))
    root.addHandler(console)
    FRAMES.setLevel(logging.DEBUG if frames else logging.INFO)
    if log_dir is None:
        if not frames:
            FRAMES.disabled = True
        return None
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "clank-lan.log"
    file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=50 * 1024 * 1024, backupCount=5)
    file_handler.setLevel(logging.DEBUG)
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(file_handler)
    return path
