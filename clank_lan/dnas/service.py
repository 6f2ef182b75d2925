"""The trio shell of the DNAS gateway: accept, pick SSL 2.0 or SSL 3.0/TLS 1.0, answer one request.

Both SSL families share one port, as on Sony's gateways: an SSL 2.0 record starts with a byte
whose high bit is set, so the first bytes of a connection say which engine gets it. An SSL 2.0
hello that offers 3.0 or TLS (the compatible hello) goes to tlslite-ng, which understands it;
only a 2.0-only hello goes to our own SSL 2.0 server.

Each connection is one request and one answer, bounded in time as a whole; a bad client gets a
log line with its address and the reason, and a close. Nothing it sends can end the service.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable

import trio
from tlslite.constants import CipherSuite
from tlslite.errors import BaseTLSException, TLSAbruptCloseError
from tlslite.tlsconnection import TLSConnection

from clank_lan.dnas.answers import BadRequest, Query
from clank_lan.dnas.events import DnasRefused, DnasRequest
from clank_lan.dnas.gateway import DnasGateway
from clank_lan.dnas.http import HttpError, Request, parse_request
from clank_lan.dnas.sslv2 import Sslv2Error, Sslv2Server, is_sslv2_only_hello
from clank_lan.dnas.tls import WANT_READ, MemorySocket
from clank_lan.events import Event

log = logging.getLogger("clank_lan.dnas")

READ_SIZE = 16384
_ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
#: tlslite-ng's errors for a peer that breaks the protocol (its parsers also raise these).
_TLS_FAILURES = (BaseTLSException, SyntaxError, ValueError, AssertionError, IndexError, OSError)
_TLS_VERSIONS = {(3, 0): "SSL 3.0", (3, 1): "TLS 1.0"}
_QUERY_NAMES = {Query.I_CONNECT: "i-connect", Query.OTHERS: "others"}


class _Refused(Exception):
    """Ends one connection with a log line; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _ignore(_event: Event) -> None:
    pass


async def serve_dnas(
    listener: trio.SocketListener,
    gateway: DnasGateway,
    *,
    publish: Callable[[Event], None] = _ignore,
    wall_clock: Callable[[], float] = time.time,
    rng: Callable[[int], bytes] = os.urandom,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve DNAS on ``listener`` until cancelled; ``task_status.started`` gets the bound port."""
    settings = gateway.settings
    task_status.started(listener.socket.getsockname()[1])
    active = 0

    async def handle(stream: trio.SocketStream) -> None:
        nonlocal active
        active += 1
        try:
            await _connection(stream, gateway, publish, wall_clock, rng)
        finally:
            active -= 1

    async with trio.open_nursery() as nursery:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno in _ACCEPT_RETRY:
                    log.error("DNAS: accept failed (%s); retrying in 100 ms", exc)
                    await trio.sleep(0.1)
                    continue
                raise
            if active >= settings.max_connections:
                log.warning("DNAS: %d connections open (the limit); closing a new one", active)
                with trio.move_on_after(1):
                    await stream.aclose()
                continue
            nursery.start_soon(handle, stream)


async def _connection(
    stream: trio.SocketStream,
    gateway: DnasGateway,
    publish: Callable[[Event], None],
    wall_clock: Callable[[], float],
    rng: Callable[[int], bytes],
) -> None:
    try:
        ip, port = stream.socket.getpeername()[:2]
    except OSError:
        await stream.aclose()
        return
    client = f"{ip}:{port}"
    reason = None
    timeout = gateway.settings.timeout
    try:
        with trio.move_on_after(timeout) as scope:
            await _exchange(stream, gateway, client, publish, wall_clock, rng)
        if scope.cancelled_caught:
            reason = f"no complete request within {timeout:g} s"
    except _Refused as exc:
        reason = exc.reason
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError) as exc:
        reason = f"connection lost: {exc}"
    except OSError as exc:
        reason = f"socket error: {exc}"
    except Exception as exc:
        reason = f"internal error: {exc!r}"
        log.error("DNAS %s: internal error, closing this connection only", client, exc_info=exc)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await stream.aclose()
    if reason is not None:
        log.warning("DNAS %s: closed without an answer: %s", client, reason)
        publish(DnasRefused(ts=wall_clock(), client=client, reason=reason))


async def _exchange(
    stream: trio.SocketStream,
    gateway: DnasGateway,
    client: str,
    publish: Callable[[Event], None],
    wall_clock: Callable[[], float],
    rng: Callable[[int], bytes],
) -> None:
    head = bytearray()
    while (sslv2 := _classify(head)) is None:
        data = await stream.receive_some(READ_SIZE)
        if not data:
            raise _Refused("closed in the middle of its hello" if head else "closed before sending a hello")
        head += data
    channel: _Channel
    if sslv2:
        channel = await _Sslv2Channel.open(stream, bytes(head), gateway, rng)
    else:
        channel = await _TlsChannel.open(stream, bytes(head), gateway)
    request = await _read_request(channel)
    try:
        reply, answer = gateway.respond(request)
    except (HttpError, BadRequest) as exc:
        raise _Refused(str(exc)) from None
    query = _QUERY_NAMES[request.query]
    if answer.known:
        log.info(
            "DNAS %s: %s %s, game %s query %s: answered (%s)",
            client,
            request.region,
            query,
            answer.game_id,
            answer.query_type,
            channel.protocol,
        )
    else:
        log.warning(
            "DNAS %s: game id %s (query type %s, %s %s) is not in the recorded answers; sent the "
            "error answer. Please report this line.",
            client,
            answer.game_id,
            answer.query_type,
            request.region,
            query,
        )
    publish(
        DnasRequest(
            ts=wall_clock(),
            client=client,
            region=request.region,
            query=query,
            game_id=answer.game_id,
            query_type=answer.query_type,
            answered=answer.known,
            protocol=channel.protocol,
        )
    )
    await channel.write(reply)
    await channel.close()


def _classify(head: bytes) -> bool | None:
    """True: an SSL 2.0-only hello; False: SSL 3.0/TLS (or a compatible hello); None: need more."""
    if not head:
        return None
    if head[0] == 0x16:
        return False
    if head[0] & 0x80:
        only = is_sslv2_only_hello(head)
        if only is None:
            return None
        if only or head[2] == 1:
            return only
    raise _Refused(f"not an SSL/TLS hello (first bytes {bytes(head[:16]).hex()})")


async def _read_request(channel: _Channel) -> Request:
    buffer = b""
    while True:
        try:
            request = parse_request(buffer)
        except HttpError as exc:
            raise _Refused(str(exc)) from None
        if request is not None:
            return request
        data = await channel.read()
        if not data:
            raise _Refused(f"closed after {len(buffer)} bytes of an incomplete HTTP request")
        buffer += data


class _Channel:
    """Plaintext read/write over one of the two SSL engines."""

    protocol: str

    async def read(self) -> bytes:
        raise NotImplementedError

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _TlsChannel(_Channel):
    def __init__(self, stream: trio.SocketStream, sock: MemorySocket, conn: TLSConnection) -> None:
        self._stream = stream
        self._sock = sock
        self._conn = conn
        suite = CipherSuite.ietfNames.get(conn.session.cipherSuite, str(conn.session.cipherSuite))
        self.protocol = f"{_TLS_VERSIONS.get(tuple(conn.version), str(conn.version))} {suite}"

    @classmethod
    async def open(cls, stream: trio.SocketStream, head: bytes, gateway: DnasGateway) -> _TlsChannel:
        sock = MemorySocket(head)
        conn = TLSConnection(sock)  # type: ignore[arg-type]
        await _drive(stream, sock, gateway.tls.handshake(conn), "handshake")
        return cls(stream, sock, conn)

    async def read(self) -> bytes:
        return bytes(await _drive(self._stream, self._sock, self._conn.readAsync(), "read"))

    async def write(self, data: bytes) -> None:
        await _drive(self._stream, self._sock, self._conn.writeAsync(data), "write")

    async def close(self) -> None:
        await _drive(self._stream, self._sock, self._conn.closeAsync(), "close")


async def _drive(stream: trio.SocketStream, sock: MemorySocket, steps, stage: str):
    """Run one tlslite-ng generator to its end: send what it wrote, feed it what arrives."""
    result = b""
    try:
        for step in steps:
            out = sock.take()
            if out:
                await stream.send_all(out)
            if isinstance(step, int):
                if step == WANT_READ:
                    sock.feed(await stream.receive_some(READ_SIZE))
                continue
            result = step
            break
    except TLSAbruptCloseError:
        raise _Refused(f"peer closed during the TLS {stage}") from None
    except _TLS_FAILURES as exc:
        pending = sock.take()  # an alert tlslite-ng wrote before giving up
        if pending:
            with trio.move_on_after(1):
                await stream.send_all(pending)
        raise _Refused(f"TLS {stage} failed: {exc!r}") from None
    out = sock.take()
    if out:
        await stream.send_all(out)
    return result


class _Sslv2Channel(_Channel):
    def __init__(self, stream: trio.SocketStream, server: Sslv2Server) -> None:
        self._stream = stream
        self._server = server
        cipher = server.cipher
        self.protocol = f"SSL 2.0 {cipher.name if cipher else '?'}"

    @classmethod
    async def open(
        cls, stream: trio.SocketStream, head: bytes, gateway: DnasGateway, rng: Callable[[int], bytes]
    ) -> _Sslv2Channel:
        server = Sslv2Server(gateway.certificate, gateway.identity.key, rng)
        await cls._feed(stream, server, head)
        while not server.established:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                raise _Refused(f"closed during the SSL 2.0 handshake ({server.state.value})")
            await cls._feed(stream, server, data)
        return cls(stream, server)

    @staticmethod
    async def _feed(stream: trio.SocketStream, server: Sslv2Server, data: bytes) -> None:
        try:
            server.receive(data)
        except Sslv2Error as exc:
            pending = server.take()  # e.g. the NO-CIPHER error message
            if pending:
                with trio.move_on_after(1):
                    await stream.send_all(pending)
            raise _Refused(f"SSL 2.0: {exc}") from None
        out = server.take()
        if out:
            await stream.send_all(out)

    async def read(self) -> bytes:
        while True:
            plain = self._server.read()
            if plain:
                return plain
            data = await self._stream.receive_some(READ_SIZE)
            if not data:
                return b""
            await self._feed(self._stream, self._server, data)

    async def write(self, data: bytes) -> None:
        self._server.send(data)
        await self._stream.send_all(self._server.take())

    async def close(self) -> None:
        """SSL 2.0 has no close message: the TCP close ends it."""
