"""The engine's end of the operator console's line: a loopback listener that serves one console.

Why a line at all: Textual's layout and drawing took 15-50 ms of the one thread the servers ran
on, and in a login storm each step of a key press waited behind the servers' work (keys p99
300-650 ms). The console now runs in a process of its own (``clank-lan serve`` starts it, see
``spawn``) or attaches to a headless appliance (``clank-lan attach``), and asks the engine for
what it shows a few times a second (``view.build_view``): the engine's share is building rows.

Only this machine may attach (127.0.0.1) and only with the token: it is unguessable, given to the
spawned console in its environment and written for ``attach`` to a file only this user can read.
One console at a time; a second is refused with the reason. A console that breaks the protocol is
logged and dropped; the servers never wait for one (the inboxes are bounded, see ``feed``).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from clank_lan import __version__
from clank_lan.commands import paths_of, run_command
from clank_lan.net.setup import setup_text
from clank_lan.tui.feed import EVENT_CAPACITY, LOG_CAPACITY, Inbox, LogRecordView
from clank_lan.tui.view import build_view
from clank_lan.tui.wire import (
    CONSOLE_LOGGER,
    MAX_REQUEST,
    FrameReader,
    Hello,
    Lines,
    LinkAddress,
    LinkError,
    Poll,
    Record,
    Refused,
    Run,
    Stop,
    ToEngine,
    Welcome,
    decode_request,
    encode,
)

if TYPE_CHECKING:
    from clank_lan.engine import Engine
    from clank_lan.events import Event

log = logging.getLogger("clank_lan.tui")

ACTOR = "tui"  # who the audit trail says acted
HELLO_TIMEOUT = 5.0
MAX_WAITING = 8  # connections waiting to show their token; more are closed at once
READ_SIZE = 65536
LEVELS = logging.getLevelNamesMapping()  # "CRITICAL": 50, ... (the console sends them lower-case)


def write_link(path: Path, address: LinkAddress) -> None:
    """The link file, readable by this user only (on Windows the folder's own rights apply)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(address.to_json())


class ConsoleHost:
    """Answers the console's polls and commands from the engine's state, and its quit."""

    def __init__(
        self, engine: Engine, *, link_file: Path | None = None, logs: Inbox[LogRecordView] | None = None
    ) -> None:
        self.engine = engine
        self.link_file = link_file
        self.token = secrets.token_urlsafe(32)
        self.events: Inbox[Event] = Inbox(EVENT_CAPACITY)
        self.logs: Inbox[LogRecordView] = logs if logs is not None else Inbox(LOG_CAPACITY)
        self.address: LinkAddress | None = None
        self.attached = False
        self.waiting = 0  # connections that have not shown their token yet
        self.turned_away = 0  # closed at once: ``MAX_WAITING`` were waiting
        # a callback, not a subscription: a bus event costs an append, not a task's wake-up
        engine.bus.add_callback(self.events.put)

    async def run(self, host: str = "127.0.0.1", *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen on an ephemeral loopback port until cancelled; ``started`` with the address."""
        listeners = await trio.open_tcp_listeners(0, host=host)
        port = listeners[0].socket.getsockname()[1]
        self.address = LinkAddress(host, port, self.token)
        if self.link_file is not None:
            try:
                write_link(self.link_file, self.address)
            except OSError as exc:
                log.warning(
                    "could not write %s (%s): 'clank-lan attach' will not find this appliance",
                    self.link_file,
                    exc,
                )
                self.link_file = None
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._serve, listeners)
                task_status.started(self.address)
        finally:
            for listener in listeners:  # serve_listeners closes them, unless cancelled before it ran
                listener.socket.close()
            if self.link_file is not None:
                with suppress(OSError):
                    self.link_file.unlink()

    async def _serve(self, stream: trio.SocketStream) -> None:
        async with stream:
            if self.waiting >= MAX_WAITING:
                self.turned_away += 1  # a local flood of connections: each closed at once, not logged
                return
            frames = _Frames(stream)
            try:
                self.waiting += 1
                try:
                    admitted = await self._hello(stream, frames)
                finally:
                    self.waiting -= 1
                if admitted:
                    await self._attached(stream, frames)
            except (LinkError, trio.BrokenResourceError) as exc:
                log.warning("the operator console was dropped: %s", exc)

    async def _hello(self, stream: trio.SocketStream, frames: _Frames) -> bool:
        """The token within ``HELLO_TIMEOUT``, and nobody else attached; else the reason, and False."""
        hello: ToEngine | None = None
        with trio.move_on_after(HELLO_TIMEOUT) as waited:
            hello = await frames.next()
        if waited.cancelled_caught:
            log.warning("a connection to the console port said nothing within %g s", HELLO_TIMEOUT)
            return False
        if hello is None:
            log.debug("a connection to the console port closed without a word")
            return False
        # bytes: compare_digest refuses str with characters beyond ASCII
        token = hello.token.encode("utf-8", "replace") if isinstance(hello, Hello) else b""
        if not hmac.compare_digest(token, self.token.encode()):
            log.warning("an operator console without the right token was refused")
            await stream.send_all(encode(Refused("wrong token")))
            return False
        if self.attached:
            await stream.send_all(encode(Refused("another operator console is attached")))
            return False
        self.attached = True
        return True

    async def _attached(self, stream: trio.SocketStream, frames: _Frames) -> None:
        paths = paths_of(self.engine)
        log_file = str(paths.log) if paths.log is not None else None
        log.info("the operator console attached")
        try:
            setup = setup_text(self.engine.addresses.advertised, self.engine.port_rules())
            await stream.send_all(encode(Welcome(__version__, paths.lines(), setup, log_file)))
            while (msg := await frames.next()) is not None:
                reply = await self.handle(msg)
                if reply is not None:
                    await stream.send_all(encode(reply))
        finally:
            self.attached = False
            log.info("the operator console detached")

    async def handle(self, msg: ToEngine) -> object:
        """One request's answer (None: it wants none). A bug answers with an error line."""
        try:
            if isinstance(msg, Poll):
                return build_view(self.engine, msg, self.events, self.logs)
            if isinstance(msg, Run):
                return Lines(msg.id, run_command(self.engine, msg.line, ACTOR))
            if isinstance(msg, Stop):
                await self.engine.shutdown()
                return Lines(msg.id, [])
            if isinstance(msg, Record):
                level = LEVELS.get(msg.level.upper(), logging.ERROR)
                logging.getLogger(CONSOLE_LOGGER).log(level, "%s", msg.text)
                return None
            raise LinkError(f"a {type(msg).__name__} after the hello")
        except LinkError:
            raise
        except Exception as exc:
            log.exception("the operator console's %s failed", type(msg).__name__)
            return Lines(getattr(msg, "id", 0), [f"error: {type(exc).__name__}: {exc}"])


class _Frames:
    """The requests of one connection, read in bounded frames."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.reader = FrameReader(MAX_REQUEST)
        self.pending: list[bytes] = []

    async def next(self) -> ToEngine | None:
        while not self.pending:
            data = await self.stream.receive_some(READ_SIZE)
            if not data:
                return None
            self.pending = self.reader.feed(data)
        return decode_request(self.pending.pop(0))
