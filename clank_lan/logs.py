"""Logging setup: operator-facing lines on the console, everything (every frame) in the log file.

Frames are written in the fixed hex format of ``protocol.hexlog``, so a log file from a real
session can be replayed as a test. Frame logging is on by default, so it must cost the event loop
next to nothing: a frame is queued as a tuple and one writer thread formats and writes it, in
batches, to the rotating file. The loop never waits on the disk. The writer has a CPU budget (a
share of what the event loop uses, plus a small floor) and sleeps between small chunks, because a
thread that keeps the GIL busy delays every socket call of the loop; when it falls behind, the
queue fills, further records are dropped and counted, and the writer says so in the file
(``frame log: 12,345 lines dropped (writer behind)``; a "line" there is one record, a frame or an
ordinary line). Ordinary log lines share the queue and are also bounded per second, so a flood of
warnings cannot fill the disk or starve the loop.

A message sent to many consoles at once (a channel's chat line) is one record naming every
console it went to (``gathered_frames``), not one record per console.

``shutdown_logging`` flushes and joins the writer (the appliance calls it on the way out; an
``atexit`` hook is the safety net). Without a log file (``--ephemeral``) frames are not logged;
when nothing was set up (tests), they go to the ``clank_lan.frames`` logger at DEBUG, formatted,
for whatever handler a test attaches to it.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from clank_lan.protocol.hexlog import format_frame
from clank_lan.ratelimit import TokenBucket

FRAMES = logging.getLogger("clank_lan.frames")
_FORMAT = "%(asctime)s %(levelname).1s %(message)s"

QUEUE_MAX = 16384  # queued records (frames or ordinary lines) before new ones are dropped
QUEUE_MAX_BYTES = 8 * 1024 * 1024  # ... or queued payload and text bytes
WAKE_AT = 2048  # a queue this long wakes the writer before its next tick
FLUSH_INTERVAL = 0.2  # seconds between the writer's batches when the queue stays short
LINES_PER_SECOND = 1000  # ordinary (non-frame) lines accepted per second; the rest are counted
FILE_MAX_BYTES = 50 * 1024 * 1024
FILE_BACKUPS = 5
JOIN_TIMEOUT = 10.0  # shutdown waits this long at most for the writer to drain
#: The writer's CPU budget: this share of the CPU the rest of the process uses (the event loop),
#: plus a floor so a quiet appliance logs everything; a busy one drops the excess and says so.
CPU_SHARE = 0.05
BUDGET_FLOOR = 0.02  # CPU seconds per wall second, always granted
BUDGET_MAX = 0.05  # CPU seconds that can be saved up
CHUNK = 32  # records formatted between two pauses (about 0.3 ms holding the GIL)
#: Frames with payloads up to this size are formatted once per distinct frame (the keepalive
#: echoes of idle consoles: the same record every second, only the timestamp differs).
FORMAT_CACHE_PAYLOAD = 64
FORMAT_CACHE_SIZE = 1024
DUTY = 0.25  # at most this share of wall time formatting, the rest asleep


class LogWriter:
    """One thread that owns the log file; producers only append tuples to a bounded deque.

    An item is ``(created, level_char, text)`` for an ordinary line, ``(created, level_char, text,
    stream)`` for a console line (``HH:MM:SS L text`` to ``stream``, not the file) or ``(created,
    service, peer, direction, rt_id, payload, ctx, null, extra)`` for a frame. ``deque.append``
    and ``len`` are atomic under the GIL, so producers take no lock; the drop counters are only approximate if
    several threads drop at the same instant, which is acceptable for a summary line.
    """

    def __init__(
        self,
        path: Path,
        *,
        capacity: int = QUEUE_MAX,
        capacity_bytes: int = QUEUE_MAX_BYTES,
        lines_per_second: int = LINES_PER_SECOND,
        cpu_share: float = CPU_SHARE,
        max_bytes: int = FILE_MAX_BYTES,
        backups: int = FILE_BACKUPS,
        start: bool = True,
    ) -> None:
        self.path = path
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        # Payload bytes queued = in - out; each counter has one writer thread (the loop, the
        # writer), so neither needs a lock (lines logged from worker threads are the exception,
        # and small).
        self._bytes_in = 0
        self._bytes_out = 0
        self.lines_per_second = lines_per_second
        self.cpu_share = cpu_share
        self._budget = BUDGET_MAX
        self._budget_wall = time.monotonic()
        self._others_cpu = time.process_time()
        self.queue: deque[tuple] = deque()
        self.dropped = 0  # lines refused because the queue was full (writer behind)
        self.throttled = 0  # ordinary lines refused by the per-second bound
        self.io_errors = 0
        self.written = 0  # records written to the file (a frame is a header plus its hex lines)
        # Ordinary lines: a second's worth may come at once, then lines_per_second on average.
        self._lines = TokenBucket(lines_per_second, max(1, lines_per_second), time.time())
        self._console_lines = TokenBucket(lines_per_second, max(1, lines_per_second), time.time())
        self._stamp_second = -1
        self._stamp = ""
        self._clock_second = -1
        self._clock = ""
        self._wake = threading.Event()
        self._stop = False
        #: Formatted records of small frames by everything but their time (writer thread only).
        self._formatted: dict[tuple, str] = {}
        # The stdlib handler only for its file opening and rollover; we write to its stream.
        self._file = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self._thread = threading.Thread(target=self._run, name="clank-lan log writer", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Start the writer thread (``start=False`` lets a test fill the queue first)."""
        self._thread.start()

    # --- producer side (any thread, usually the event loop) -------------------------------------
    def put(self, item: tuple, size: int) -> None:
        """Queue one record of ``size`` bytes (its payload or text), or count it dropped when the
        queue is full in records or bytes; never blocks."""
        q = self.queue
        n = len(q)
        if n >= self.capacity or self._bytes_in - self._bytes_out + size > self.capacity_bytes:
            self.dropped += 1
            return
        self._bytes_in += size
        q.append(item)
        if n == WAKE_AT:
            self._wake.set()

    def line(self, created: float, level: str, text: str) -> None:
        if not self._lines.allow(created):
            self.throttled += 1
            return
        self.put((created, level, text), len(text))

    def console(self, created: float, level: str, text: str, stream: TextIO) -> None:
        """A line for the operator's terminal, written by the thread in order with the rest."""
        if not self._console_lines.allow(created):
            self.throttled += 1
            return
        self.put((created, level, text, stream), len(text))

    # --- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        reported_dropped = reported_throttled = 0
        while True:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            stopping = self._stop
            self._write_batch(budgeted=not stopping)
            dropped, throttled = self.dropped, self.throttled
            notes = []
            if dropped != reported_dropped:
                notes.append(f"frame log: {dropped - reported_dropped:,} lines dropped (writer behind)")
                reported_dropped = dropped
            if throttled != reported_throttled:
                notes.append(
                    f"log: {throttled - reported_throttled:,} lines dropped "
                    f"(over {self.lines_per_second:,} lines/s)"
                )
                reported_throttled = throttled
            if notes:
                now = time.time()
                self._emit("".join(f"{self._prefix(now)} W {n}\n" for n in notes), len(notes))
            if stopping and not self.queue:
                break
        self._file.close()

    def _refill(self) -> None:
        """Earn CPU budget: a share of what the rest of the process used, plus a small floor."""
        process, mine, wall = time.process_time(), time.thread_time(), time.monotonic()
        others = (process - mine) - self._others_cpu
        self._budget = min(
            BUDGET_MAX, self._budget + self.cpu_share * others + BUDGET_FLOOR * (wall - self._budget_wall)
        )
        self._others_cpu, self._budget_wall = process - mine, wall

    def _write_batch(self, budgeted: bool = True) -> None:
        """Format and write what is queued now (not what arrives meanwhile: bounded work), in
        chunks, while the CPU budget lasts; what is left waits in the queue, and once that is
        full the producers drop. The GIL is handed back between chunks."""
        if not self.queue:
            return  # (an idle tick: the budget is earned all the same at the next refill)
        if budgeted:
            self._refill()
        pop = self.queue.popleft
        prefix = self._prefix
        todo = len(self.queue)
        while todo > 0 and (self._budget > 0 or not budgeted):
            started = time.thread_time()
            out: list[str] = []
            shown: dict[TextIO, list[str]] = {}
            done = 0
            count = min(todo, CHUNK)
            for _ in range(count):
                item = pop()
                n = len(item)
                if n == 3:
                    out.append(f"{prefix(item[0])} {item[1]} {item[2]}\n")
                    done += len(item[2])
                elif n == 4:
                    shown.setdefault(item[3], []).append(f"{self._clock_of(item[0])} {item[1]} {item[2]}\n")
                    done += len(item[2])
                else:
                    out.append(f"{prefix(item[0])} D {self._format(item)}\n")
                    done += len(item[5])
            self._bytes_out += done
            todo -= count
            if out:
                self._emit("".join(out), len(out))
            for stream, lines in shown.items():
                self._show(stream, "".join(lines))
            spent = time.thread_time() - started
            self._budget -= spent
            if budgeted and (todo > 0 or self._wake.is_set()):
                # Off the GIL for a while: a CPU-bound thread that only yields at the switch
                # interval makes every socket call of the event loop wait for it (the convoy).
                # (After the batch's last chunk the thread waits for the next tick anyway: one
                # wakeup fewer a tick, unless the queue is already calling it back.)
                time.sleep(spent * (1 / DUTY - 1))

    def _format(self, item: tuple) -> str:
        """``format_frame`` of a frame item; small frames from a cache (a pure function of all but
        the item's time)."""
        if len(item[5]) > FORMAT_CACHE_PAYLOAD:
            return format_frame(*item[1:])
        key = item[1:]
        text = self._formatted.get(key)
        if text is None:
            text = format_frame(*key)
            if len(self._formatted) >= FORMAT_CACHE_SIZE:
                self._formatted.clear()
            self._formatted[key] = text
        return text

    def _prefix(self, created: float) -> str:
        """``YYYY-mm-dd HH:MM:SS,mmm`` as ``logging`` writes it; the date part cached per second."""
        second = int(created)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        return f"{self._stamp},{int((created - second) * 1000):03d}"

    def _clock_of(self, created: float) -> str:
        """``HH:MM:SS``, the console's timestamp, cached per second."""
        second = int(created)
        if second != self._clock_second:
            self._clock_second = second
            self._clock = time.strftime("%H:%M:%S", time.localtime(created))
        return self._clock

    @staticmethod
    def _show(stream: TextIO, text: str) -> None:
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # a closed terminal must not stop the log file
            pass

    def _emit(self, text: str, records: int) -> None:
        handler = self._file
        try:
            stream = handler.stream  # doRollover reopens it (no ``delay``)
            stream.write(text)
            stream.flush()
            self.written += records
            if handler.maxBytes and stream.tell() >= handler.maxBytes:
                handler.doRollover()
        except OSError as exc:  # a full or vanished disk must not take the appliance down
            self.dropped += records
            self.io_errors += 1
            if self.io_errors == 1:  # once: a full disk must not flood the terminal either
                print(f"clank-lan: cannot write the log file {self.path}: {exc}", file=sys.stderr)

    # --- shutdown -------------------------------------------------------------------------------
    def close(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Write everything queued so far, then stop the thread (idempotent)."""
        self._stop = True
        self._wake.set()
        if not self._thread.is_alive() and self._thread.ident is None:
            self.start()  # never started: drain on the way out all the same
        self._thread.join(timeout)


def record_text(record: logging.LogRecord) -> str:
    """The message with its traceback, if any: all a queued line needs of the record."""
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text


class QueuedFileHandler(logging.Handler):
    """Hands ordinary records to the writer; formats only what the record alone can give."""

    def __init__(self, writer: LogWriter) -> None:
        super().__init__(logging.DEBUG)
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.line(record.created, record.levelname[:1], record_text(record))
        except Exception:
            self.handleError(record)


class QueuedConsoleHandler(logging.StreamHandler):
    """The operator's terminal lines, formatted and written by the log writer's thread: a line
    costs the event loop a tuple, not a format and a write to the terminal. A ``StreamHandler`` on
    ``stream`` all the same, so whatever mutes terminal handlers (the TUI) finds it."""

    def __init__(self, writer: LogWriter, stream: TextIO) -> None:
        super().__init__(stream)
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.writer.console(record.created, record.levelname[:1], record_text(record), self.stream)
        except Exception:
            self.handleError(record)


#: The writer frames go to while a log file is open with frame logging on.
_frame_writer: LogWriter | None = None
#: The writer of the log file, if any (ordinary lines; closed by ``shutdown_logging``).
_writer: LogWriter | None = None
#: While ``gathered_frames`` runs: the frames logged meanwhile by its thread, by everything but
#: their peer, with their peers in order; and that thread.
_gathering: dict[tuple, list[str]] | None = None
_gathering_thread = 0


@contextmanager
def gathered_frames() -> Iterator[None]:
    """Frames logged inside the block that are the same but for their peer (one message sent to
    many consoles) become one record whose peer names them all, comma-separated, in order; it is
    written when the block ends. Other frames of the block are written then too, unchanged. A
    block inside another is part of the outer one; other threads log as usual."""
    global _gathering, _gathering_thread
    if _gathering is not None:
        yield
        return
    _gathering, _gathering_thread = {}, threading.get_ident()
    try:
        yield
    finally:
        gathered, _gathering = _gathering, None
        for (service, direction, rt_id, payload, ctx, null, extra), peers in gathered.items():
            FrameLogger(service).frame(",".join(peers), direction, rt_id, payload, ctx, null, extra)


class FrameLogger:
    """Writes frames for one service; cheap to call whether frame logging is on or off."""

    __slots__ = ("service",)

    def __init__(self, service: str) -> None:
        self.service = service

    @staticmethod
    def enabled() -> bool:
        return _frame_writer is not None or FRAMES.isEnabledFor(logging.DEBUG)

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
        if _gathering is not None and threading.get_ident() == _gathering_thread:
            key = (self.service, direction, rt_id, bytes(payload), ctx, null, extra)
            _gathering.setdefault(key, []).append(peer)
            return
        writer = _frame_writer
        if writer is not None:
            if type(payload) is not bytes:  # a buffer may be reused before the writer formats it
                payload = bytes(payload)
            item = (time.time(), self.service, peer, direction, rt_id, payload, ctx, null, extra)
            writer.put(item, len(payload))
        elif FRAMES.isEnabledFor(logging.DEBUG):
            FRAMES.debug("%s", format_frame(self.service, peer, direction, rt_id, payload, ctx, null, extra))


def _not_a_frame(record: logging.LogRecord) -> bool:
    return not record.name.startswith("clank_lan.frames")


def _console_handler(stream: TextIO, level: int) -> logging.StreamHandler:
    """The terminal's lines written where they are logged (no writer thread)."""
    console = logging.StreamHandler(stream)
    console.setLevel(level)
    console.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
    console.addFilter(_not_a_frame)
    return console


def setup_logging(level: str = "info", log_dir: Path | None = None, frames: bool = True) -> Path | None:
    """Console at ``level``; a rotating file with everything (incl. frames) under ``log_dir``."""
    global _frame_writer, _writer
    shutdown_logging()
    root = logging.getLogger("clank_lan")
    console_level = getattr(logging, level.upper(), logging.INFO)
    # Records below every handler's level are never built; frames have their own logger level.
    root.setLevel(min(console_level, logging.INFO))
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
    # Frames bypass the logging module and go to the log file's writer. Without a file they would
    # only be formatted for the console, which filters them out: off (a test that wants them
    # attaches a handler to FRAMES and sets its level).
    FRAMES.setLevel(logging.INFO)
    FRAMES.disabled = False
    path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "clank-lan.log"
        _writer = LogWriter(path)
        if frames:
            _frame_writer = _writer
    # The console: through the writer's thread when there is one, else written where logged.
    if _writer is not None:
        console: logging.StreamHandler = QueuedConsoleHandler(_writer, sys.stdout)
        console.setLevel(console_level)
        console.addFilter(_not_a_frame)
    else:
        console = _console_handler(sys.stdout, console_level)
    root.addHandler(console)
    if _writer is not None:
        root.addHandler(QueuedFileHandler(_writer))
    return path


def shutdown_logging() -> None:
    """Flush the log file and join its writer; the frame logger falls back to ``FRAMES``."""
    global _frame_writer, _writer
    writer, _frame_writer, _writer = _writer, None, None
    if writer is None:
        return
    root = logging.getLogger("clank_lan")
    for h in list(root.handlers):
        if isinstance(h, QueuedFileHandler | QueuedConsoleHandler) and h.writer is writer:
            root.removeHandler(h)
        if isinstance(h, QueuedConsoleHandler) and h.writer is writer:
            root.addHandler(_console_handler(h.stream, h.level))  # the terminal still hears the last lines
    writer.close()


atexit.register(shutdown_logging)
