"""The DME over real sockets on 127.0.0.1 (ephemeral ports): eight players in one world, churn,
bad input, the bot and the NAT query."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from clank_lan.client.bot import read_stamp, run_bot
from clank_lan.client.dme_client import (
    AppReceived,
    DmeClient,
    DmeClientCore,
    DmeConnectError,
    DmeParams,
    PeerDisconnected,
    connect_dme,
)
from clank_lan.config import TimeoutSettings
from clank_lan.dme import DmeManager, serve_dme
from clank_lan.protocol.framing import TcpDeframer, encode_frame
from clank_lan.protocol.rt_ids import RT
from clank_lan.servers.nat import serve_nat
from tests.test_dme_harness import Recorder

LOCAL = "127.0.0.1"


@asynccontextmanager
async def running_dme(timeouts: TimeoutSettings | None = None) -> AsyncIterator[tuple[DmeManager, Recorder]]:
    udp = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await udp.bind((LOCAL, 0))
    listener = (await trio.open_tcp_listeners(0, host=LOCAL))[0]
    lobby = Recorder()
    dme = DmeManager(
        LOCAL,
        listener.socket.getsockname()[1],
        udp.getsockname()[1],
        timeouts or TimeoutSettings(),
        os.urandom,
        trio.current_time,
        lobby.events(),
    )
    try:
        async with trio.open_nursery() as nursery:
            tcp_port, udp_port = await nursery.start(serve_dme, dme, listener, udp)
            assert (tcp_port, udp_port) == (dme.tcp_port, dme.udp_port)
            yield dme, lobby
            nursery.cancel_scope.cancel()
    finally:
        udp.close()
        await listener.aclose()


def join_params(dme: DmeManager, wid: int, session: str, version: int, encrypt: bool, **kw) -> DmeParams:
    _, access = dme.reserve_slot(wid, session, 1, session)
    app = 10684 if version <= 108 else 11184
    return DmeParams(LOCAL, dme.tcp_port, wid, access, session, version, encrypt, app, **kw)


class Inbox:
    """Drains a client's events into a list (a task per client)."""

    def __init__(self, client: DmeClient) -> None:
        self.client = client
        self.events: list[object] = []

    async def run(self) -> None:
        async for ev in self.client.events:
            self.events.append(ev)

    def apps(self, udp: bool | None = None) -> list[AppReceived]:
        return [e for e in self.events if isinstance(e, AppReceived) and (udp is None or e.udp is udp)]

    def clear(self) -> None:
        self.events.clear()


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    with trio.fail_after(timeout):
        while not pred():
            await trio.sleep(0.01)


def count_tasks() -> int:
    stack = [trio.lowlevel.current_root_task()]
    n = 0
    while stack:
        task = stack.pop()
        n += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return n


def open_sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return n


@pytest.mark.parametrize(("version", "encrypt"), [(108, True), (110, True)])
async def test_eight_players_in_one_world(version, encrypt, loopback_clock):
    async with running_dme() as (dme, lobby), contextlib.AsyncExitStack() as stack:
        wid = dme.create_world(10684 if version <= 108 else 11184, 8, version)
        clients: list[DmeClient] = []
        for i in range(8):
            clients.append(
                await stack.enter_async_context(connect_dme(join_params(dme, wid, f"p{i}", version, encrypt)))
            )
        assert [c.index for c in clients] == list(range(8))
        assert [c.join_info.player_count for c in clients if c.join_info] == list(range(1, 9))
        inboxes = [Inbox(c) for c in clients]
        nursery = await stack.enter_async_context(trio.open_nursery())
        for box in inboxes:
            nursery.start_soon(box.run)
        await until(lambda: all(c.core.udp_accept is not None for c in clients))
        await trio.sleep(0.1)
        for box in inboxes:
            box.clear()

        # everybody's broadcasts reach everybody else, stamped with the sender, on both transports
        for c in clients:
            c.send_broadcast(b"\x02\x09udp%d" % c.index, udp=True)
            c.send_broadcast(b"\x00\x03tcp%d" % c.index)
        await until(lambda: all(len(b.apps()) == 14 for b in inboxes))
        for b in inboxes:
            me = b.client.index
            assert sorted((e.source, e.payload) for e in b.apps(True)) == [
                (i, b"\x02\x09udp%d" % i) for i in range(8) if i != me
            ]
            assert sorted((e.source, e.payload) for e in b.apps(False)) == [
                (i, b"\x00\x03tcp%d" % i) for i in range(8) if i != me
            ]
            b.clear()

        # LIST and SINGLE reach exactly their targets
        clients[3].send_list([1, 5], b"list-tcp")
        clients[3].send_list([2, 6], b"list-udp", udp=True)
        clients[2].send_single(6, b"single-udp", udp=True)
        clients[4].send_single(0, b"single-tcp")
        await until(lambda: sum(len(b.apps()) for b in inboxes) == 6)
        await trio.sleep(0.1)
        got = {b.client.index: sorted((e.source, e.payload, e.udp) for e in b.apps()) for b in inboxes}
        assert got == {
            0: [(4, b"single-tcp", False)],
            1: [(3, b"list-tcp", False)],
            2: [(3, b"list-udp", True)],
            3: [],
            4: [],
            5: [(3, b"list-tcp", False)],
            6: [(2, b"single-udp", True), (3, b"list-udp", True)],
            7: [],
        }
        for b in inboxes:
            b.clear()

        # receive flags: #7 turns broadcasts off (a 1.08 console takes everything regardless)
        clients[7].set_recv_flag(0x0E)
        await trio.sleep(0.05)
        clients[0].send_broadcast(b"flagged", udp=True)
        clients[1].send_single(7, b"still singles")
        await until(
            lambda: (
                len(inboxes[1].apps()) == 1 and any(e.payload == b"still singles" for e in inboxes[7].apps())
            )
        )
        await trio.sleep(0.1)
        seven = sorted(e.payload for e in inboxes[7].apps())
        assert seven == ([b"flagged", b"still singles"] if version <= 108 else [b"still singles"])
        for b in inboxes:
            b.clear()

        # a player leaves: the others are told, the lobby too
        clients[5].core.disconnect()
        clients[5].kick()
        rest = [b for b in inboxes if b.client.index != 5]
        await until(
            lambda: all(any(isinstance(e, PeerDisconnected) and e.index == 5 for e in b.events) for b in rest)
        )
        await until(lambda: any(x[1] == 5 for x in lobby.left))

        # the host leaves: everybody gets DISCONNECT_NOTIFY for 0, the others play on
        await clients[0].stream.aclose()
        rest = [b for b in inboxes if b.client.index not in (0, 5)]
        await until(
            lambda: all(any(isinstance(e, PeerDisconnected) and e.index == 0 for e in b.events) for b in rest)
        )
        await until(lambda: any(x[1] == 0 for x in lobby.left))
        info = dme.world_info(wid)
        assert info is not None and info.host_left and [p.index for p in info.players] == [1, 2, 3, 4, 6, 7]
        for b in rest:
            b.clear()
        clients[1].send_broadcast(b"after the host", udp=True)
        await until(lambda: all(len(b.apps()) == 1 for b in rest if b.client.index not in (1, 7)))
        assert all(e.source == 1 for b in rest for e in b.apps())
        nursery.cancel_scope.cancel()


async def _raw_session(dme: DmeManager, params: DmeParams, stop_after: str) -> None:
    """A console that vanishes during the handshake, right after ``stop_after`` (an RT name)."""
    core = DmeClientCore(params)
    udp = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    try:
        await udp.bind((LOCAL, 0))
        stream = await trio.open_tcp_stream(LOCAL, params.tcp_port)
        async with stream:
            core.start()
            with trio.move_on_after(2.0):
                while True:
                    await stream.send_all(core.outbox.take())
                    if stop_after == "CLIENT_HELLO":
                        return
                    if core.udp_out:
                        for d in core.udp_out:
                            await udp.sendto(d, (LOCAL, dme.udp_port))
                        return  # stop_after == "CLIENT_CONNECT_AUX_UDP"
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    names = [RT(f.id).name for f in TcpDeframer().feed(data)]
                    core.feed_tcp(data, trio.current_time())
                    if stop_after in names:
                        return
    finally:
        udp.close()


KINDS = (
    "CLIENT_HELLO",  # reserved, never bound: goes with its world
    "SERVER_CRYPTKEY_PEER",
    "SERVER_CONNECT_ACCEPT_TCP",  # bound to the slot, then gone
    "CLIENT_CONNECT_AUX_UDP",
    "vanish",  # joined, then the TCP connection just ends
    "leave",  # joined, left with DISCONNECT_WITH_REASON
)


async def test_churn_leaves_nothing_behind(loopback_clock):
    # Timers far above what a loaded machine needs between reserving a slot and connecting (a
    # 0.3 s empty-world timer removed worlds before their player arrived on a slow machine); the
    # last check waits for the empty worlds to go.
    timeouts = TimeoutSettings(handshake=5.0, dme_client=5.0, dme_empty_world=2.0, dme_echo=0.5)
    async with running_dme(timeouts) as (dme, lobby):
        await trio.sleep(0.05)
        tasks_before, sockets_before = count_tasks(), open_sockets()
        limit = trio.CapacityLimiter(10)
        done: list[str] = []

        async def cycle(i: int) -> None:
            async with limit:
                wid = dme.create_world(11184, 8, 110)
                kind = KINDS[i % len(KINDS)]
                params = join_params(dme, wid, f"churn{i}", 110, encrypt=i % 2 == 0)
                if kind in ("vanish", "leave"):
                    async with connect_dme(params) as client:
                        client.send_broadcast(b"hello", udp=True)
                        if kind == "vanish":  # gone without a word
                            await client.stream.aclose()
                else:
                    await _raw_session(dme, params, kind)
                done.append(kind)

        with trio.fail_after(40):
            async with trio.open_nursery() as nursery:
                for i in range(200):
                    nursery.start_soon(cycle, i)
        assert len(done) == 200
        await until(lambda: dme.connection_count == 0 and not dme.world_ids(), timeout=20)
        joined = done.count("vanish") + done.count("leave")
        bound = joined + done.count("SERVER_CONNECT_ACCEPT_TCP") + done.count("CLIENT_CONNECT_AUX_UDP")
        assert len(lobby.connected) == joined and len(lobby.left) == bound and len(lobby.removed) == 200
        await trio.sleep(0.1)
        assert count_tasks() == tasks_before
        assert open_sockets() == sockets_before


async def test_bad_input_is_dropped_and_logged(caplog):
    async with running_dme() as (dme, _lobby):
        wid = dme.create_world(11184, 8, 110)
        other_wid = dme.create_world(11184, 8, 110)
        async with (
            connect_dme(join_params(dme, wid, "a", 110, True)) as a,
            connect_dme(join_params(dme, wid, "b", 110, True)) as b,
            trio.open_nursery() as nursery,
        ):
            box = Inbox(b)
            nursery.start_soon(box.run)
            await until(lambda: a.core.udp_accept is not None and b.core.udp_accept is not None)
            spoof = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
            with spoof, caplog.at_level(logging.WARNING, logger="clank_lan"):
                await spoof.bind((LOCAL, 0))
                await spoof.sendto(
                    encode_frame(RT.CLIENT_APP_BROADCAST, b"\x02\x09spoof"), (LOCAL, dme.udp_port)
                )
                await spoof.sendto(os.urandom(40), (LOCAL, dme.udp_port))
                bad_key = DmeParams(LOCAL, dme.tcp_port, wid, "NOPE", "x", 110, True, 11184)
                with pytest.raises(DmeConnectError):
                    async with connect_dme(bad_key, timeout=2.0):
                        pass
                params = join_params(dme, wid, "c", 110, True)
                wrong_world = DmeParams(
                    LOCAL, dme.tcp_port, other_wid, params.access_key, "c", 110, True, 11184
                )
                async with connect_dme(wrong_world, timeout=2.0) as c:  # the access key decides
                    assert c.join_info is not None and dme.world_info(wid).players[-1].name == "c"
                junk = await trio.open_tcp_stream(LOCAL, dme.tcp_port)  # a frame of 65535 bytes: refused
                async with junk:
                    await junk.send_all(b"\x24\xff\xff" + bytes(64))
                    with trio.fail_after(2):
                        assert await junk.receive_some(100) == b""
                await until(lambda: dme.stats.dropped_unknown_endpoint >= 1 and dme.stats.dropped_bad >= 1)
            assert "not a connected player's endpoint" in caplog.text
            assert "DME UDP: dropped 40 bytes" in caplog.text
            assert "unknown access key 'NOPE'" in caplog.text
            assert f"naming world {other_wid} with an access key of world {wid}; going on" in caplog.text
            assert "declares 65535 payload bytes, over the limit of 2048" in caplog.text
            a.send_broadcast(b"\x02\x09real", udp=True)
            await until(lambda: len(box.apps()) >= 1)
            await trio.sleep(0.05)
            assert [(e.source, e.payload) for e in box.apps()] == [(a.index, b"\x02\x09real")]
            nursery.cancel_scope.cancel()


async def test_bots_play_and_report_with_a_nat_query(loopback_clock):
    nat_sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await nat_sock.bind((LOCAL, 0))
    async with running_dme() as (dme, _lobby), trio.open_nursery() as nursery:
        nat_port = await nursery.start(serve_nat, nat_sock)
        wid = dme.create_world(10684, 8, 108)
        reports = []

        async def bot(i: int) -> None:
            params = join_params(dme, wid, f"bot{i}", 108, True, nat=(LOCAL, nat_port))
            reports.append(await run_bot(params, 1.5, start_delay=0.2))

        async with trio.open_nursery() as bots:
            for i in range(3):
                bots.start_soon(bot, i)
        nursery.cancel_scope.cancel()
    nat_sock.close()
    assert sorted(r.index for r in reports) == [0, 1, 2]
    for r in reports:
        others = {0, 1, 2} - {r.index}
        assert {src for src, _ in r.received} == others
        for src in others:
            assert r.received[(src, "udp")] >= 15 and r.received[(src, "tcp")] >= 1
        assert r.sent_udp >= 20 and r.sent_tcp >= 2 and r.foreign == 0 and r.undecryptable == 0
        assert r.echoes_returned["tcp"] >= 1 and r.echoes_returned["udp"] >= 1
        p50, p99, _ = r.latency_summary("udp")
        assert 0 < p50 <= p99 < 1000
    assert read_stamp(b"junk") is None


async def test_nat_endpoint_is_the_udp_socket():
    nat_sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await nat_sock.bind((LOCAL, 0))
    async with running_dme() as (dme, _lobby), trio.open_nursery() as nursery:
        nat_port = await nursery.start(serve_nat, nat_sock)
        wid = dme.create_world(11184, 8, 110)
        params = join_params(dme, wid, "n", 110, False, nat=(LOCAL, nat_port))
        async with connect_dme(params, local_ip=LOCAL) as c:
            assert c.nat_endpoint == c.udp.getsockname()[:2]
            await until(lambda: c.core.udp_accept is not None)
            assert (c.core.udp_accept.client_ip, c.core.udp_accept.client_port) == c.nat_endpoint
        nursery.cancel_scope.cancel()
    nat_sock.close()
