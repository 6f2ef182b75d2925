"""Mixed worlds (issue 9, item 4): a console that did the key exchange and a client that talks
clear play in one world. In memory first (exact bytes), then over real sockets with our bot."""

from __future__ import annotations

import argparse
import re

import pytest
import trio

from clank_lan.client.bot import run_bot
from clank_lan.client.cli import client_main, configure
from clank_lan.dme import wire
from clank_lan.protocol.framing import encode_frame, split_datagram
from tests.conftest import ports_of, running_engine
from tests.test_dme_harness import Net, frames
from tests.test_dme_sockets import join_params, running_dme

MOVE = b"\x02\x09MOVEMENT-DATA"
STATE = b"\x00\x16STATE-DATA"


def relayed(p, udp: bool):
    """The SINGLE frames the DME sent ``p`` (raw), over UDP or TCP."""
    if udp:
        raws = [f for d in p.udp_wire for f in split_datagram(d)]
    else:
        raws = [f for w in p.tcp_wire for f in frames(w)]
    return [f for f in raws if f.id == wire.SINGLE]


@pytest.mark.parametrize("version", [108, 110])
@pytest.mark.parametrize("key_exchange", [False, True], ids=["no-key-exchange", "clear-key-exchange"])
def test_clear_player_gets_clear_relays_and_its_frames_reach_encrypted_players(version, key_exchange):
    net = Net()
    wid = net.world(version)
    enc = net.connect(wid, version=version, app_crypt="encrypted")
    enc2 = net.connect(wid, version=version, app_crypt="encrypted")
    clear = net.connect(wid, version=version, encrypt=False, key_exchange=key_exchange)
    assert clear.conn.encrypted is False and net.dme._worlds[wid].mixed
    for p in (enc, enc2, clear):
        p.take()
        p.udp_wire.clear()
        p.tcp_wire.clear()

    enc.core.send_broadcast(MOVE, udp=True)
    enc.core.send_broadcast(STATE)
    clear.core.send_broadcast(MOVE, udp=True)
    clear.core.send_broadcast(STATE)
    net.pump()
    net.advance(0.05)

    # the clear player reads the encrypted player's frames in clear: no flag, plaintext on the wire
    got = {(e.source, e.udp, e.payload, e.encrypted) for e in clear.apps()}
    assert got == {(enc.index, True, MOVE, False), (enc.index, False, STATE, False)}
    for udp in (True, False):
        (f,) = relayed(clear, udp)
        assert f.hash is None and f.payload[2:] in (MOVE, STATE)
    assert clear.core.undecryptable == 0

    # the encrypted players get the clear player's frames sealed under the world key
    for p in (enc, enc2):
        mine = {(e.udp, e.payload, e.encrypted) for e in p.apps() if e.source == clear.index}
        assert mine == {(True, MOVE, True), (False, STATE, True)}
        assert p.core.undecryptable == 0
        assert all(f.hash is not None and b"DATA" not in f.payload for f in relayed(p, True))

    # between the encrypted players the frame is passed on byte for byte
    sent_body = [f for f in relayed(enc2, True) if f.payload[:2] == enc.index.to_bytes(2, "little")]
    assert len(sent_body) == 1
    sealed = wire.seal_app(enc.core.link.cipher, wire.BROADCAST, b"", MOVE, "encrypted")
    assert sent_body[0].hash == sealed[3:7] and sent_body[0].payload[2:] == sealed[7:]


def test_homogeneous_world_is_not_translated():
    net = Net()
    wid = net.world(108)
    a = net.connect(wid, version=108)
    b = net.connect(wid, version=108)
    assert not net.dme._worlds[wid].mixed
    a.core.send_broadcast(MOVE, udp=True)
    net.pump()
    net.advance(0.05)
    (f,) = relayed(b, True)
    assert f.hash is not None and b.apps()[-1].encrypted


def test_clear_player_leaving_makes_the_world_plain_again():
    net = Net()
    wid = net.world(108)
    a = net.connect(wid, version=108)
    c = net.connect(wid, version=108, encrypt=False, key_exchange=False)
    world = net.dme._worlds[wid]
    assert world.mixed
    net.drop(c)
    assert not world.mixed and a.alive


@pytest.mark.parametrize(
    ("version", "creator_encrypted"),
    [(108, True), (108, False), (110, True)],
    ids=["uya-enc-creates", "uya-clear-creates", "dl-enc-creates"],
)
async def test_clear_and_encrypted_bots_play_together_over_sockets(
    version, creator_encrypted, loopback_clock
):
    """``client bot --clear --join`` in an encrypted bot's game, and the reverse: each receives
    the other's UDP and TCP traffic, readable, nothing foreign or undecryptable."""
    async with running_dme() as (dme, _lobby):
        wid = dme.create_world(10684 if version == 108 else 11184, 8, version)
        reports = {}

        async def bot(name: str, encrypted: bool, delay: float) -> None:
            await trio.sleep(delay)
            params = join_params(dme, wid, name, version, encrypted)
            options = {} if encrypted else {"key_exchange": False}
            reports[name] = await run_bot(
                params, 1.0, start_delay=0.3 - delay, udp_hz=20, tcp_hz=4, **options
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(bot, "creator", creator_encrypted, 0.0)
            nursery.start_soon(bot, "joiner", not creator_encrypted, 0.1)
    creator, joiner = reports["creator"], reports["joiner"]
    assert (creator.index, joiner.index) == (0, 1)
    for me, other in ((creator, joiner), (joiner, creator)):
        assert me.received[(other.index, "udp")] >= 10, me.lines()
        assert me.received[(other.index, "tcp")] >= 2, me.lines()
        assert me.foreign == 0 and me.undecryptable == 0, me.lines()


def _reports(out: str) -> dict[int, dict[tuple[int, str], int]]:
    """The bot reports ``client bot`` printed: index -> {(source, transport): received}."""
    reports: dict[int, dict[tuple[int, str], int]] = {}
    current: dict[tuple[int, str], int] | None = None
    for line in out.splitlines():
        if m := re.match(r"bot #(\d+): ", line):
            current = reports.setdefault(int(m.group(1)), {})
        elif (m := re.match(r"  from #(\d+) over (udp|tcp): (\d+)", line)) and current is not None:
            current[(int(m.group(1)), m.group(2))] = int(m.group(3))
    return reports


@pytest.mark.parametrize("clear_creates", [False, True], ids=["clear-joins", "clear-creates"])
async def test_client_bot_clear_and_encrypted_in_one_game_through_the_cli(
    capsys, clear_creates, loopback_clock
):
    """``client bot --clear --join`` in a game an encrypted bot created (and the reverse), on a
    whole appliance: lobby, DME, real sockets; each bot gets the other's UDP and TCP traffic."""
    parser = argparse.ArgumentParser()
    configure(parser)
    async with running_engine() as engine:
        ports = ports_of(engine)
        base = ["--title", "uya", "--muis-port", str(ports.muis), "--mas-port", str(ports.mas)]
        base += ["--mls-port", str(ports.mls)]
        clear = ["--clear"]
        create = parser.parse_args(
            ["bot", "--create", "mixed", "--duration", "3", *base, *(clear if clear_creates else [])]
        )
        join = parser.parse_args(
            ["bot", "--join", "mixed", "--duration", "1.5", *base, *([] if clear_creates else clear)]
        )
        games = engine.lobby.lobby.games
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client_main, create)
            with trio.fail_after(10):
                while not any(g.name == "mixed" and g.status == 2 for g in games.values()):
                    await trio.sleep(0.02)
            nursery.start_soon(client_main, join)
    reports = _reports(capsys.readouterr().out)
    assert set(reports) == {0, 1}, reports
    for me, other in ((0, 1), (1, 0)):
        assert reports[me].get((other, "udp"), 0) >= 10, reports
        assert reports[me].get((other, "tcp"), 0) >= 1, reports


def test_a_frame_that_does_not_open_is_kept_from_clear_players_only():
    net = Net()
    wid = net.world(108)
    enc = net.connect(wid, version=108)
    enc2 = net.connect(wid, version=108)
    clear = net.connect(wid, version=108, encrypt=False, key_exchange=False)
    bad_before = net.dme.stats.dropped_bad
    # a flagged broadcast whose hash matches nothing under the world key
    forged = encode_frame(wire.BROADCAST, b"\x02\x09garbage!", bytes((1, 2, 3, 3 << 5)))
    net.dme.datagram_received(forged, enc.addr, net.clock())
    net.pump()
    net.advance(0.05)
    assert net.dme.stats.dropped_bad == bad_before + 1
    assert relayed(clear, True) == []
    (passed,) = relayed(enc2, True)
    assert passed.hash == bytes((1, 2, 3, 3 << 5)) and passed.payload[2:] == b"\x02\x09garbage!"
