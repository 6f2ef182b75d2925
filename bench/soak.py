"""Soak: ``--minutes`` (10) of console churn plus every hostile attack, then a leak check.

The appliance runs in this process (``Engine.run`` on 127.0.0.1, a temporary data directory), so what it
holds afterwards can be looked at directly. Each round, ``--consoles`` well-behaved consoles, each
from a loopback address of its own (``bench._common.console_address``), log in, chat, create or
join a game and play it on the DME for a moment, then leave; meanwhile an attacker at 127.0.0.2
tries forged and guessed session keys, floods a lobby connection with empty frames, drips a frame
a byte at a time, leaves handshakes half-open, floods the DME's UDP port and the NAT service.

PASS when, after the last round and the timeouts that follow it: every console of every round
got through; no DME world, slot or connection, no lobby session or game, no task, socket or file
descriptor remains beyond the level measured after the warm-up round; and the RSS is within 10%
of that level. Prints the figures and PASS or FAIL (exit code 0 or 1).

Run: ``python bench/soak.py`` (10 minutes) or ``python bench/soak.py --minutes 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import trio

from bench._common import console_address
from clank_lan.client.bot import run_bot
from clank_lan.client.dme_client import DmeConnectError
from clank_lan.client.lobby import ClientError, LobbyClient, Ports
from clank_lan.client.profiles import profile
from clank_lan.client.rt_client import RtClient
from clank_lan.config import PortSettings, parse_config
from clank_lan.engine import Addresses, Engine
from clank_lan.limit_hits import LIMIT_HITS
from clank_lan.protocol.framing import encode_frame
from clank_lan.protocol.rt_ids import RT
from clank_lan.servers import nat

LOCAL = "127.0.0.1"
ATTACKER = "127.0.0.2"
#: Short timeouts so that what the attacks and the churn leave behind goes within seconds.
SOAK_TOML = """
[timeouts]
handshake = 2.0
client = 6.0
keepalive_grace = 1.0
dme_client = 4.0
dme_empty_world = 2.0

[dnas]
enabled = false
"""
RSS_TOLERANCE = 0.10
#: Seconds after the last round for every timeout above to have run out.
SETTLE = 12.0
ROUND_TIMEOUT = 60.0
#: Before the levels everything is compared with are taken: at least this many rounds, and
#: this share of ``--minutes`` (on top of it).
WARMUP_ROUNDS = 3
WARMUP_SHARE = 0.2
#: Rounds after which an account name (and address) comes back; a round's sessions are long
#: gone by then (``keepalive_grace``).
ACCOUNT_ROUNDS = 4
CONSOLES_PER_ROUND_MAX = 250


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds() -> tuple[int, int]:
    """(file descriptors, of which sockets) of this process."""
    fds = socks = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            fds += 1
            socks += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return fds, socks


def count_tasks() -> int:
    stack = [trio.lowlevel.current_root_task()]
    n = 0
    while stack:
        task = stack.pop()
        n += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return n


async def from_address(address: str, host: str, port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream(host, port, local_address=address)


# --- the well-behaved consoles -------------------------------------------------------------------


async def console(ports: Ports, n: int, host_game: bool, failures: list[str]) -> None:
    """Console ``n``: its account and address come back every ``ACCOUNT_ROUNDS`` rounds, as the
    same players come back to a LAN party (the database does not grow)."""
    name = f"soak{n}"
    address = console_address(n)
    try:
        with trio.fail_after(ROUND_TIMEOUT):
            async with LobbyClient.open(LOCAL, profile("uya"), ports) as c:
                c.connect = lambda h, p: from_address(address, h, p)
                await c.login(name, "pw")
                await c.chat(f"{name} says hi")
                game_id = await c.create_game(f"g{n}")
                join = await c.join_game(game_id)
                await c.world_report(game_id, f"g{n}", status=2)
                report = await run_bot(c.dme_params(join), 1.0 if host_game else 0.5)
                if report.kicked or not report.sent_udp:
                    failures.append(f"{name}: bot {report.kicked or 'sent nothing'}")
    except (ClientError, DmeConnectError, trio.TooSlowError, OSError) as exc:
        failures.append(f"{name}: {exc!r}")


# --- the attacker ---------------------------------------------------------------------------------


async def attacks(engine: Engine, ports: Ports) -> None:
    """One of every attack, each bounded; errors are the attacker's problem, never the soak's."""
    with trio.move_on_after(ROUND_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_forged_keys, ports)
            nursery.start_soon(_log_flood_and_drip, ports)
            nursery.start_soon(_half_open, engine)
            nursery.start_soon(_udp_flood, engine.port("dme_udp"), 20_000)
            nursery.start_soon(_udp_flood, engine.port("nat"), 5_000, nat.UYA_REQUEST)


async def _forged_keys(ports: Ports) -> None:
    async with LobbyClient.open(LOCAL, profile("uya"), ports) as c:
        c.connect = lambda h, p: from_address(ATTACKER, h, p)
        for guess in range(1, 21):
            with contextlib.suppress(ClientError, OSError):
                await c._link("MLS", ports.mls, session_key=str(guess), access_token="AAAAAAAAAAAAAAAA")


async def _log_flood_and_drip(ports: Ports) -> None:
    """On a MAS connection that finished a clear handshake: 5,000 empty frames (each an ignored
    frame the server may log), then a 16 KiB frame a byte at a time (dropped after
    ``rt.link.FRAME_DEADLINE``)."""
    with contextlib.suppress(OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        stream = await from_address(ATTACKER, LOCAL, ports.mas)
        async with stream:
            client = RtClient(
                service="MAS", peer=(LOCAL, ports.mas), version=108, app_id=10684, encrypt=False,
                key_exchange=False,
            )  # fmt: skip
            client.start()
            with trio.move_on_after(5):
                while not client.connected:
                    await stream.send_all(client.outbox.take())
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    client.feed(data)
            await stream.send_all(encode_frame(RT.CLIENT_SET_RECV_FLAG, b"") * 5000)
            frame = encode_frame(RT.CLIENT_APP_TOSERVER, bytes(16_000))
            with trio.move_on_after(15):
                for b in frame:
                    await stream.send_all(bytes([b]))
                    await trio.sleep(0.5)


async def _half_open(engine: Engine) -> None:
    held = []
    with contextlib.suppress(OSError):
        for _ in range(50):
            held.append(await from_address(ATTACKER, LOCAL, engine.port("mas")))
    with trio.move_on_after(5):  # the handshake timeout closes them all
        for s in held:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await s.receive_some(100)
    for s in held:
        await s.aclose()


async def _udp_flood(port: int, count: int, payload: bytes | None = None) -> None:
    junk = payload or encode_frame(RT.CLIENT_CONNECT_AUX_UDP, bytes(64))
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind((ATTACKER, 0))
        for n in range(count):
            with contextlib.suppress(OSError):
                await sock.sendto(junk, (LOCAL, port))
            if n % 64 == 0:
                await trio.sleep(0)


# --- the run --------------------------------------------------------------------------------------


def leftovers(engine: Engine) -> dict[str, int]:
    lobby = engine.lobby.lobby
    return {
        "DME worlds": len(engine.dme.world_ids()),
        "DME connections": engine.dme.connection_count,
        "lobby sessions": len(lobby.sessions),
        "lobby games": len(lobby.games),
    }


async def soak(args) -> bool:
    config = parse_config(SOAK_TOML)
    zero = PortSettings(muis=0, mas=0, mls=0, mps=0, dme_tcp=0, dme_udp=0, nat=0)
    config = msgspec.structs.replace(config, ports=zero)
    with tempfile.TemporaryDirectory(prefix="clank-soak-") as data_dir:
        return await _soak(args, config, Path(data_dir))


async def _soak(args, config, data_dir: Path) -> bool:
    # on disk, as a user runs it: an in-memory database would hold every row written (accounts,
    # stats, the audit trail) in the RSS, which is growth by design, not a leak
    engine = Engine(config, Addresses(bind=LOCAL, advertised=LOCAL), data_dir=data_dir, ephemeral=False)
    failures: list[str] = []
    served = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        ports = Ports(muis=engine.port("muis"), mas=engine.port("mas"), mls=engine.port("mls"))

        async def one_round(round_no: int) -> None:
            nonlocal served
            async with trio.open_nursery() as inner:
                inner.start_soon(attacks, engine, ports)
                for i in range(args.consoles):
                    n = (round_no % ACCOUNT_ROUNDS) * args.consoles + i
                    inner.start_soon(console, ports, n, i % 2 == 0, failures)
            served += args.consoles

        # warm-up: imports, the database's first pages, and the bounded caches (RC4 key tables,
        # encrypted frames) filling towards their bounds, which the churn's new keys do
        warm_end = time.monotonic() + args.minutes * 60 * WARMUP_SHARE
        round_no = 0
        while round_no < WARMUP_ROUNDS or time.monotonic() < warm_end:
            await one_round(round_no)
            round_no += 1
        warm_rounds = round_no
        await trio.sleep(SETTLE)
        base_rss, base_tasks, (base_fds, base_socks) = rss_kib(), count_tasks(), open_fds()
        print(
            f"after {warm_rounds} warm-up rounds: RSS {base_rss:,} KiB, {base_tasks} tasks, "
            f"{base_fds} fds ({base_socks} sockets)"
        )
        end = time.monotonic() + args.minutes * 60
        while time.monotonic() < end:
            await one_round(round_no)
            if round_no % 10 == 0:
                print(f"  round {round_no}: {served} consoles served, RSS {rss_kib():,} KiB", flush=True)
            round_no += 1
        await trio.sleep(SETTLE)
        rss, tasks, (fds, socks) = rss_kib(), count_tasks(), open_fds()
        left = leftovers(engine)
        nursery.cancel_scope.cancel()
    growth = (rss - base_rss) / base_rss
    rounds = round_no - warm_rounds
    print(f"after {rounds} rounds ({served} consoles, every attack each round) and {SETTLE:g} s:")
    print(f"  RSS {rss:,} KiB ({growth:+.1%} against the warm-up, tolerance {RSS_TOLERANCE:.0%})")
    print(f"  tasks {base_tasks} -> {tasks}, fds {base_fds} -> {fds}, sockets {base_socks} -> {socks}")
    print("  left behind: " + ", ".join(f"{k} {v}" for k, v in left.items()))
    print("  limits hit: " + ("; ".join(LIMIT_HITS.lines()) or "none"))
    for line in sorted(set(failures))[:10]:
        print(f"  console failed: {line}")
    return (
        not failures
        and not any(left.values())
        and tasks <= base_tasks
        and fds <= base_fds
        and socks <= base_socks
        and growth <= RSS_TOLERANCE
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to churn and attack")
    parser.add_argument("--consoles", type=int, default=8, help="well-behaved consoles per round")
    args = parser.parse_args(argv)
    if not 1 <= args.consoles <= CONSOLES_PER_ROUND_MAX:
        parser.error(f"--consoles must be 1..{CONSOLES_PER_ROUND_MAX}")
    ok = trio.run(soak, args)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
