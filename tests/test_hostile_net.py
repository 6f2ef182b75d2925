"""The quick hostile suite: the running appliance on loopback, an attacker at 127.0.0.2 and a
well-behaved console at 127.0.0.1. Each attack is bounded to a few seconds; each test asserts the
attacker was dropped (or refused) and logged, the console logged in, chatted and played a game
meanwhile, and the process kept running."""

from __future__ import annotations

import logging
import socket
from functools import partial

import pytest
import trio

from clank_lan import limit_hits as lh
from clank_lan.client.bot import run_bot
from clank_lan.client.lobby import ClientError, LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.config import LimitSettings
from clank_lan.protocol import medius as m
from clank_lan.protocol.framing import encode_frame
from clank_lan.protocol.medius.enums import CallbackStatus
from clank_lan.protocol.rt_ids import RT
from clank_lan.rt import link as rt_link
from clank_lan.servers import tcp

from .conftest import ephemeral_config, ports_of, running_engine
from .test_hostile_frames import handshake, lobby_server
from .test_lobby_handshake import EchoApp

LOCAL = "127.0.0.1"
ATTACKER = "127.0.0.2"
FORGED = "AAAAAAAAAAAAAAAA"


async def from_attacker(host: str, port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream(host, port, local_address=ATTACKER)


def attacker_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if ATTACKER in r.getMessage()]


async def plays(engine, name: str) -> None:
    """A well-behaved console: logs in, chats, creates a game and plays it on the DME briefly."""
    with trio.fail_after(20):
        async with LobbyClient.open(LOCAL, profile("uya"), ports_of(engine)) as c:
            await c.login(name, "pw")
            await c.chat(f"hello from {name}")
            game_id = await c.create_game(f"{name}'s game")
            join = await c.join_game(game_id)
            await c.world_report(game_id, f"{name}'s game", status=2)
            report = await run_bot(c.dme_params(join), 0.5)
            assert not report.kicked and report.sent_udp > 0
            assert report.echoes_returned["tcp"] + report.echoes_returned["udp"] > 0


#: The key checks on their own, without the accept-rate limit that would stop this attacker first.
NO_ACCEPT_LIMIT = (
    "[limits]\naccepts_per_second = 10000\naccept_burst = 10000\nconnections_per_address = 1000\n"
)


async def test_forged_and_guessed_session_keys(caplog, loopback_clock):
    caplog.set_level(logging.INFO, "clank_lan")
    async with running_engine(ephemeral_config(NO_ACCEPT_LIMIT)) as engine:
        async with LobbyClient.open(LOCAL, profile("uya"), ports_of(engine)) as victim:
            await victim.login("victim", "pw")
            attacker = LobbyClient(LOCAL, profile("uya"), ports_of(engine), nursery=victim.nursery)
            attacker.connect = from_attacker
            with trio.fail_after(20):
                for n in range(1, 51):
                    with pytest.raises(ClientError):  # the MLS refuses and closes
                        await attacker._link(
                            "MLS", engine.port("mls"), session_key=str(n), access_token=FORGED
                        )
                    await attacker._link(
                        "MAS", engine.port("mas"), session_key=victim.session_key, access_token=FORGED
                    )  # a MAS connection stays (it may begin its own session) but is not the victim's
            await victim.chat("still here")
            assert await victim.games() is not None
        await plays(engine, "bystander")
    forged = [line for line in attacker_lines(caplog) if "forged" in line]
    assert forged and len(forged) <= LimitSettings().log_lines_per_peer


async def test_out_of_range_create_game_fields_are_refused_and_the_list_still_works(loopback_clock):
    async with running_engine() as engine:
        async with LobbyClient.open(LOCAL, profile("uya"), ports_of(engine)) as c:
            await c.login("fields", "pw")
            link = c._mls()
            for min_players, max_players in ((70000, 8), (-1, 8), (1, 65), (1, 70000), (1, -5)):
                answer = await link.request(
                    m.CreateGame1Request(
                        message_id=link.new_id(),
                        game_name=f"bad {min_players} {max_players}",
                        min_players=min_players,
                        max_players=max_players,
                    ),
                    m.CreateGameResponse,
                    timeout=5,
                )
                assert answer.status != CallbackStatus.SUCCESS
            assert await c.games() == []  # nothing half-made is listed, and the list encodes
        await plays(engine, "lister")


async def attacker_on_the_mas(engine) -> trio.SocketStream:
    """A connection from the attacker that finished its (clear) handshake with the MAS."""
    stream = await from_attacker(LOCAL, engine.port("mas"))
    await handshake(stream)
    return stream


async def test_a_log_flood_is_bounded_and_the_others_play(caplog, loopback_clock):
    caplog.set_level(logging.INFO, "clank_lan")
    async with running_engine() as engine:
        stream = await attacker_on_the_mas(engine)
        empty = encode_frame(RT.CLIENT_SET_RECV_FLAG, b"")
        async with stream, trio.open_nursery() as nursery:

            async def flood() -> None:
                for _ in range(10):  # 10,000 empty frames
                    await stream.send_all(empty * 1000)
                    await trio.sleep(0.05)

            nursery.start_soon(flood)
            await plays(engine, "calm")
    ignored = [line for line in attacker_lines(caplog) if "ignored" in line]
    assert 1 <= len(ignored) <= LimitSettings().log_lines_per_peer


async def test_a_slow_drip_is_dropped(caplog, monkeypatch, loopback_clock):
    monkeypatch.setattr(rt_link, "FRAME_DEADLINE", 1.0)  # the documented 10 s, shortened for the test
    caplog.set_level(logging.INFO, "clank_lan")
    async with running_engine() as engine:
        stream = await attacker_on_the_mas(engine)
        frame = encode_frame(RT.CLIENT_APP_TOSERVER, bytes(16_000))
        with trio.fail_after(10):
            async with stream, trio.open_nursery() as nursery:

                async def drip() -> None:
                    for b in frame[:100]:
                        try:
                            await stream.send_all(bytes([b]))
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            return
                        await trio.sleep(0.2)

                nursery.start_soon(drip)
                await plays(engine, "patient")
                try:
                    while await stream.receive_some(65536):  # until the server closes it
                        pass
                except trio.BrokenResourceError:
                    pass  # closed with a dripped byte still unread: the kernel resets instead of FIN
    assert any("did not arrive whole within 1 s" in line for line in attacker_lines(caplog))


async def test_half_open_handshakes_are_dropped_and_logged(caplog, loopback_clock):
    caplog.set_level(logging.INFO, "clank_lan")
    config = ephemeral_config("[timeouts]\nhandshake = 1.0\n")
    async with running_engine(config) as engine:
        held = []
        with trio.fail_after(15):
            for _ in range(100):  # connect and never finish the key exchange
                held.append(await from_attacker(LOCAL, engine.port("mas")))
            await plays(engine, "punctual")
            await trio.sleep(1.5)
            for s in held:  # every one of them has been closed by the server
                assert await s.receive_some(100) == b""
                await s.aclose()
    dropped = [line for line in attacker_lines(caplog) if "dropped: handshake not completed" in line]
    assert 1 <= len(dropped) <= LimitSettings().log_lines_per_peer


async def test_the_tcp_shell_caps_connections_and_accepts_per_address(caplog, loopback_clock):
    """``servers.tcp.Admission`` on a real listener: 32 held, 5/s with bursts of 20, per address;
    refused at once (no protocol object, no RSA work), counted and logged, bounded."""
    caplog.set_level(logging.INFO, "clank_lan.tcp")
    limits = LimitSettings(connections_per_address=8, accepts_per_second=5.0, accept_burst=20)
    hits = lh.LimitHits()
    made = []

    def factory(peer, local, now):
        made.append(peer)
        return lobby_server(EchoApp(), hits, now)

    listener = (await trio.open_tcp_listeners(0, host=LOCAL))[0]
    port = listener.socket.getsockname()[1]
    admission = tcp.Admission("MAS", limits, lh.Refusals(logging.getLogger("clank_lan.tcp"), None, hits))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            partial(tcp.accept_loop, admission=admission), "MAS", listener, factory, (LOCAL, port)
        )
        with trio.fail_after(10):
            flood = [await from_attacker(LOCAL, port) for _ in range(30)]
            await trio.sleep(0.2)
            closed = 0
            for s in flood:
                with trio.move_on_after(0.05):
                    if await s.receive_some(10) == b"":
                        closed += 1
            assert closed == 30 - limits.connections_per_address
            victim = await trio.open_tcp_stream(LOCAL, port)  # another address is let in
            while not made or made[-1][0] != LOCAL:
                await trio.sleep(0.01)
            for s in [*flood, victim]:
                await s.aclose()
        nursery.cancel_scope.cancel()
    await listener.aclose()
    assert len(made) == limits.connections_per_address + 1
    # the burst of 20 let 8 in and refused 12 for the cap; the rest came faster than 5 a second
    assert hits[lh.CONNECTIONS_PER_ADDRESS] + hits[lh.ACCEPT_RATE] == 30 - limits.connections_per_address
    assert hits[lh.CONNECTIONS_PER_ADDRESS] >= 1 and hits[lh.ACCEPT_RATE] >= 1
    refused = [r for r in caplog.records if "connection refused" in r.getMessage()]
    assert 1 <= len(refused) <= LimitSettings().log_lines_per_peer


async def test_a_udp_flood_does_not_keep_a_console_out_of_its_game(caplog):
    caplog.set_level(logging.INFO, "clank_lan")
    async with running_engine() as engine:
        dme_udp = engine.port("dme_udp")
        stop = trio.Event()

        async def flood() -> None:
            with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                await sock.bind((ATTACKER, 0))
                junk = encode_frame(RT.CLIENT_CONNECT_AUX_UDP, bytes(4) + b"\x00" * 60)
                for n in range(200_000):  # bounded; as fast as one task can send
                    if stop.is_set():
                        return
                    try:
                        await sock.sendto(junk, (LOCAL, dme_udp))
                    except OSError:
                        await trio.sleep(0)
                    if n % 64 == 0:
                        await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            await trio.sleep(0.2)
            await plays(engine, "joiner")
            stop.set()
        assert engine.dme.stats.dropped_stranger_rate > 0
    dropped = [line for line in attacker_lines(caplog) if "DME UDP" in line]
    assert 1 <= len(dropped) <= LimitSettings().log_lines_per_peer
