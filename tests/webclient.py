"""A minimal HTTP/1.1 client over trio sockets for the web board tests (loopback only).

Hand-written on purpose: the tests also send what no well-behaved client library would (huge
headers, bodies to a read-only server, half a request), and read the raw status line back.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import trio

from clank_lan.web.server import serve_web


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


async def read_all(stream: trio.SocketStream, limit: int = 4 << 20) -> bytes:
    data = b""
    while len(data) < limit:
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


def parse(data: bytes) -> Reply:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2 :]
        body = out
    return Reply(status, headers, body)


async def raw(port: int, request: bytes, timeout: float = 10) -> Reply:
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(request)
            return parse(await read_all(stream))


async def get(port: int, path: str, method: str = "GET") -> Reply:
    req = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    return await raw(port, req)


@asynccontextmanager
async def running_board(source, host: str = "127.0.0.1", port: int = 0):
    """The board served on an ephemeral loopback port; yields the port."""
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(partial(serve_web, source, host, port))
        try:
            yield bound
        finally:
            nursery.cancel_scope.cancel()
