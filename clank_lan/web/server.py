"""The web board's HTTP server: hypercorn's trio worker in the appliance's own trio process.

The port is bound first with the appliance's own ``bind_tcp``, so a taken port fails the same way
as every other service (``PortUnavailable`` naming the holder and the fix) before anything is
started, and port 0 gives an ephemeral port for tests. The bound socket is then handed to
hypercorn (``fd://``). Resource bounds for bad clients: headers larger than
``MAX_HEADER_BYTES`` are refused by h11, a client that sends nothing for ``READ_TIMEOUT``
seconds is dropped, idle keep-alive connections close after ``KEEP_ALIVE``, and the app refuses
oversized heads and request bodies (``app.RequestLimits``).
"""

from __future__ import annotations

import logging
from functools import partial

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from clank_lan.net.ports import bind_tcp
from clank_lan.web.app import MAX_HEAD, board_app
from clank_lan.web.source import BoardSource

log = logging.getLogger("clank_lan.web")

MAX_HEADER_BYTES = MAX_HEAD
READ_TIMEOUT = 10
KEEP_ALIVE = 5
BACKLOG = 64


def hypercorn_config(fd: int) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"fd://{fd}"]
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.read_timeout = READ_TIMEOUT
    config.keep_alive_timeout = KEEP_ALIVE
    config.backlog = BACKLOG
    config.graceful_timeout = 1.0
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = logging.getLogger("clank_lan.web.http")
    return config


async def serve_web(
    source: BoardSource, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve the board on ``host:port`` until cancelled; ``task_status.started(bound_port)``.

    Raises ``clank_lan.net.ports.PortUnavailable`` (its message is the diagnosis and the fix) when
    the port cannot be bound, before anything is started: the caller marks the web board down.
    """
    listener = await bind_tcp(host, port, service="WEB", backlog=BACKLOG)
    bound = listener.socket.getsockname()[1]
    fd = listener.socket.detach()  # hypercorn owns the socket from here on
    config = hypercorn_config(fd)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve, board_app(source), config))
        log.info("web board on http://%s:%d/", host, bound)
        task_status.started(bound)
