"""The thin trio shell around sans-IO stream protocols: accept, read, write, time out, close.

Every connection runs in its own task group; any error inside one (a malformed frame, a bug in a
handler) is logged with the client's address and closes only that connection. Cancellation still
propagates, so shutdown is clean.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Protocol

import trio

from clank_lan.protocol.errors import ProtocolError
from clank_lan.servers.outbox import Outbox

log = logging.getLogger("clank_lan.tcp")

READ_SIZE = 65536
#: Errors from accept() that mean "out of resources": wait and retry instead of dying.
_ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


class StreamProtocol(Protocol):
    outbox: Outbox

    def data_received(self, data: bytes, now: float) -> None: ...

    def next_deadline(self) -> float | None: ...

    def on_timer(self, now: float) -> None: ...

    def connection_lost(self, reason: str) -> None: ...


ProtocolFactory = Callable[[tuple[str, int], tuple[str, int]], StreamProtocol]


async def run_stream(stream: trio.SocketStream, proto: StreamProtocol, label: str) -> str:
    """Drive one connection until either side closes it; returns the reason it ended."""
    wake = trio.Event()
    reason = "closed"
    send_lock = trio.StrictFIFOLock()
    reading = False  # while the reader handles input it writes the replies itself

    def notify() -> None:
        if not reading:
            wake.set()

    proto.outbox.notify = notify

    async def flush() -> None:
        """Write everything queued (one write), or end the connection as the protocol asked."""
        if proto.outbox.overflowed:
            raise _Close("client is not reading (output buffer full)")
        async with send_lock:
            data = proto.outbox.take()
            if data:
                await stream.send_all(data)
        if proto.outbox.closing is not None and not len(proto.outbox):
            raise _Close(proto.outbox.closing)

    async def writer() -> None:
        """Writes what other connections and timers queue (a chat forward, a keepalive)."""
        nonlocal wake
        while True:
            await wake.wait()
            wake = trio.Event()
            await flush()

    async def timers() -> None:
        while True:
            deadline = proto.next_deadline()
            if deadline is None:
                await trio.sleep_forever()  # only a close (cancellation) ends this connection
            await trio.sleep_until(deadline)
            proto.on_timer(trio.current_time())

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            nursery.start_soon(timers)
            if len(proto.outbox) or proto.outbox.closing:
                wake.set()
            while True:
                data = await stream.receive_some(READ_SIZE)
                if not data:
                    raise _Close("peer closed the connection")
                reading = True
                try:
                    proto.data_received(data, trio.current_time())
                finally:
                    reading = False
                if len(proto.outbox) or proto.outbox.closing is not None or proto.outbox.overflowed:
                    await flush()
    except* _Close as group:
        reason = group.exceptions[0].reason  # type: ignore[attr-defined]
    except* ProtocolError as group:
        exc = group.exceptions[0]
        reason = f"protocol error: {exc}"
        log.warning("%s: protocol error, disconnecting: %s; offending bytes: %s", label, exc, exc.hexdump())  # type: ignore[attr-defined]
    except* (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as group:
        reason = f"connection lost: {group.exceptions[0]}"
    except* OSError as group:
        reason = f"socket error: {group.exceptions[0]}"
    except* Exception as group:
        reason = f"internal error: {group.exceptions[0]!r}"
        log.error("%s: internal error, closing this connection only", label, exc_info=group.exceptions[0])
    finally:
        with trio.CancelScope(shield=True):
            try:
                proto.connection_lost(reason)
            except Exception:
                log.exception("%s: error while cleaning up", label)
            with trio.move_on_after(1):
                await stream.aclose()
    return reason


class _Close(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def serve_tcp(
    name: str,
    listener: trio.SocketListener,
    factory: ProtocolFactory,
    *,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections on ``listener`` and run each through its own protocol object."""
    sock = listener.socket
    local = sock.getsockname()[:2]
    task_status.started(local[1])
    async with trio.open_nursery() as nursery:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno in _ACCEPT_RETRY:
                    log.error("%s: accept failed (%s); retrying in 100 ms", name, exc)
                    await trio.sleep(0.1)
                    continue
                raise
            nursery.start_soon(_handle, name, stream, local, factory)


async def _handle(name: str, stream: trio.SocketStream, local, factory: ProtocolFactory) -> None:
    try:
        peer = stream.socket.getpeername()[:2]
    except OSError:
        await stream.aclose()
        return
    label = f"{name} {peer[0]}:{peer[1]}"
    try:
        proto = factory(peer, local)
    except Exception:
        log.exception("%s: could not set up the connection", label)
        await stream.aclose()
        return
    reason = await run_stream(stream, proto, label)
    log.debug("%s: disconnected: %s", label, reason)
