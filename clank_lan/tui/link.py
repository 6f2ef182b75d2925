"""The operator console's end of its line to the engine (asyncio: Textual's loop).

``EngineLink.connect`` shows the token and waits for the welcome; ``request`` sends one message
with a fresh id and returns the engine's answer to it. When the engine goes away (it stopped, or
the operator's quit ended it), every waiting request fails with ``LinkClosed`` and ``closed`` is set.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import msgspec

from clank_lan.logs import record_text
from clank_lan.tui.wire import (
    CONSOLE_LOGGER,
    HEADER,
    MAX_VIEW,
    Hello,
    LinkAddress,
    LinkError,
    Record,
    Refused,
    ToConsole,
    Welcome,
    decode_reply,
    encode,
)

log = logging.getLogger("clank_lan.tui")

CONNECT_TIMEOUT = 10.0


class LinkClosed(ConnectionError):
    """The engine is gone (or refused this console: the reason is the message)."""


class EngineLink:
    """One attached console's requests and the engine's answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, welcome: Welcome) -> None:
        self.reader = reader
        self.writer = writer
        self.welcome = welcome
        self.closed = asyncio.Event()
        self.reason = ""
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, address: LinkAddress, timeout: float = CONNECT_TIMEOUT) -> EngineLink:
        """Attach to the engine at ``address``; ``LinkClosed`` says why it could not."""
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(address.host, address.port)
                writer.write(encode(Hello(address.token)))
                first = await _read_frame(reader)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, LinkError) as exc:
            if writer is not None:
                writer.close()
            raise LinkClosed(
                f"no appliance answers at {address.host}:{address.port} ({type(exc).__name__}: {exc})"
            ) from None
        if isinstance(first, Refused):
            writer.close()
            raise LinkClosed(f"the appliance refused this console: {first.reason}")
        if not isinstance(first, Welcome):
            writer.close()
            raise LinkClosed(f"the appliance answered a {type(first).__name__} to the hello")
        return cls(reader, writer, first)

    async def request(self, make: Callable[[int], msgspec.Struct]) -> ToConsole:
        """Send ``make(id)`` and wait for the answer with that id."""
        if self.closed.is_set():
            raise LinkClosed(self.reason or "the engine is gone")
        msg_id = next(self._ids)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = fut
        try:
            self.writer.write(encode(make(msg_id)))
            return await fut
        finally:
            self._waiting.pop(msg_id, None)

    def record(self, level: str, text: str) -> None:
        """A log record of the console's own, for the engine's log file (no answer)."""
        if not self.closed.is_set():
            self.writer.write(encode(Record(level, text)))

    async def close(self) -> None:
        self._task.cancel()
        self._end("the console left")
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass

    async def _read(self) -> None:
        try:
            while True:
                msg = await _read_frame(self.reader)
                fut = self._waiting.get(getattr(msg, "id", -1))
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._end(f"the engine closed the line ({type(exc).__name__})")
        except LinkError as exc:
            log.warning("the engine's line broke: %s", exc)
            self._end(str(exc))

    def _end(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.reason = reason
        self.closed.set()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(LinkClosed(reason))
                fut.exception()  # a request abandoned with the link is expected: no "never retrieved"


class _Forward(logging.Handler):
    """Sends each record over the line (the engine's log file keeps it)."""

    def __init__(self, link: EngineLink) -> None:
        super().__init__(logging.INFO)
        self.link = link

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == CONSOLE_LOGGER:
            return  # the engine's copy of a forwarded record (one process: the tests)
        try:
            self.link.record(record.levelname.lower(), record_text(record))
        except Exception:
            self.handleError(record)


@contextmanager
def forward_records(link: EngineLink, logger_name: str = "clank_lan") -> Iterator[None]:
    """The console's own log records (its failure's traceback) go to the engine's log file and
    from there to the Logs pane: the console process writes no file of its own."""
    logger = logging.getLogger(logger_name)
    handler = _Forward(link)
    logger.addHandler(handler)
    previous = logger.level
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def _read_frame(reader: asyncio.StreamReader) -> ToConsole:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if size > MAX_VIEW:
        raise LinkError(f"a frame of {size} bytes (at most {MAX_VIEW})")
    return decode_reply(await reader.readexactly(size))
