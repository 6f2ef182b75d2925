"""The DME client's trio shell when the server goes away (issue 9, item 8)."""

from __future__ import annotations

import trio

from clank_lan.client.dme_client import ForcedDisconnect, connect_dme
from clank_lan.protocol.framing import encode_frame
from clank_lan.protocol.rt_ids import RT
from tests.test_dme_sockets import LOCAL, join_params, running_dme, until


async def test_datagram_after_the_server_dropped_tcp_is_dropped_not_raised():
    """The DME closes the TCP connection; a datagram from its UDP port that arrives afterwards
    used to hit the closed event channel (``trio.ClosedResourceError`` in ``_emit``)."""
    async with running_dme() as (dme, _lobby):
        wid = dme.create_world(11184, 8, 110)
        async with connect_dme(join_params(dme, wid, "a", 110, True)) as a:
            got: list[object] = []

            async def drain() -> None:
                async for ev in a.events:
                    got.append(ev)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain)
                await until(lambda: a.core.udp_accept is not None)
                assert dme.release_slot(wid, "a")  # the server ends the session
                with trio.fail_after(5):
                    await a.settled.wait()
                await until(lambda: a.closed_reason is not None and a._ended)
                dropped = a.events_dropped
                port = a.udp.getsockname()[1]
                dme.send_datagram(encode_frame(RT.CLIENT_ECHO, b"\xa5"), (LOCAL, port))
                await until(lambda: a.events_dropped > dropped)
                nursery.cancel_scope.cancel()
        assert any(isinstance(e, ForcedDisconnect) for e in got)
        assert a.closed_reason == "server closed the connection"
