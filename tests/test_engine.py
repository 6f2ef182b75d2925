"""The appliance as a whole: start-up with a taken port, shutdown, the command registry."""

from __future__ import annotations

import gc
import logging
import socket
import sqlite3
import threading
import warnings

import msgspec
import trio
from dnslib import DNSRecord

from clank_lan.client.lobby import LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.commands import commands, run_command
from clank_lan.db.database import Database
from clank_lan.db.store import CHECKPOINT_EVERY
from clank_lan.dns.settings import DnsSettings
from clank_lan.events import ServiceState
from tests.conftest import ephemeral_config, ports_of, running_engine


async def test_a_taken_port_marks_one_service_down_and_the_rest_runs():
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    taken = holder.getsockname()[1]
    try:
        cfg = ephemeral_config()
        cfg = msgspec.structs.replace(cfg, ports=msgspec.structs.replace(cfg.ports, mls=taken))
        states: list[ServiceState] = []
        async with running_engine(cfg) as engine:
            engine.bus.add_callback(lambda e: states.append(e) if isinstance(e, ServiceState) else None)
            mls = engine.services["mls"]
            assert not mls.up
            assert str(taken) in mls.detail and "MLS" in mls.detail
            assert all(s.up for name, s in engine.services.items() if name != "mls")
            status = "\n".join(run_command(engine, "status"))
            assert "MLS" in status and "DOWN" in status
            # the MAS still logs consoles in; only the hand-off to the MLS cannot work
            async with LobbyClient.open("127.0.0.1", profile("uya"), ports_of(engine)) as c:
                link = await c._link("MAS", engine.port("mas"))
                await link.aclose()
    finally:
        holder.close()


async def test_shutdown_says_goodbye_and_stops_within_the_grace():
    async with (
        running_engine() as engine,
        LobbyClient.open("127.0.0.1", profile("uya"), ports_of(engine)) as c,
    ):
        await c.login("leaving", "pw")
        with trio.fail_after(5):
            await engine.shutdown(grace=1.0)
        with trio.fail_after(5):
            while "server shutting down" not in c.mls.system_messages:
                await trio.sleep(0.02)


async def test_a_stopped_engine_closes_every_socket_it_bound():
    """The services stop serving their sockets when the engine stops, and the engine closes them
    then: none is left for the garbage collector to close at some later moment (a socket closed
    by the collector is a descriptor closed at an unknown time, under whoever runs then), and an
    engine started again in the same process (the selftest, a test) gets the same ports."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        async with running_engine() as engine:
            bound = {s.name: (s.protocol, s.port) for s in engine.services.values() if s.up}
            await engine.shutdown(grace=0.1)  # the operator's stop
        del engine
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
    assert {"muis", "mas", "mls", "mps", "dme_tcp", "dme_udp", "nat"} <= set(bound)
    for proto, port in bound.values():
        kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as again:  # no SO_REUSEADDR: an open one would refuse
            again.bind(("127.0.0.1", port))


async def test_the_database_is_checkpointed_in_a_worker_thread_while_there_are_writes(
    tmp_path, monkeypatch, loopback_clock
):
    """A commit never checkpoints on the event loop (a checkpoint's fsyncs took 14-19 ms here);
    the engine checkpoints in a worker thread every ``CHECKPOINT_EVERY`` s when something was
    written, and not at all otherwise."""
    threads: list[threading.Thread] = []
    checkpoint = Database.checkpoint

    def recorded(db: Database) -> tuple[int, int]:
        threads.append(threading.current_thread())
        return checkpoint(db)

    monkeypatch.setattr(Database, "checkpoint", recorded)
    async with running_engine(ephemeral_config(), data_dir=tmp_path) as engine:
        await trio.sleep(CHECKPOINT_EVERY * 3)
        settled = len(threads)  # start-up's own writes, if any: one checkpoint at most
        assert settled <= 1
        await trio.sleep(CHECKPOINT_EVERY * 3)
        assert len(threads) == settled  # nothing written: nothing to do
        engine.db.accounts.create("uya", "Ratchet", "pw")
        engine.db.accounts.create("uya", "Clank", "pw")
        await trio.sleep(CHECKPOINT_EVERY * 1.5)
        assert len(threads) == settled + 1
        await trio.sleep(CHECKPOINT_EVERY * 3)
        assert len(threads) == settled + 1
    assert threads and all(t is not threading.main_thread() for t in threads)


async def test_a_failing_checkpoint_is_said_once_retried_and_its_recovery_said(
    tmp_path, monkeypatch, caplog, loopback_clock
):
    outcomes = [sqlite3.OperationalError("disk I/O error")] * 3 + [None]

    def flaky(db: Database) -> tuple[int, int]:
        if outcomes and (failure := outcomes.pop(0)) is not None:
            raise failure
        return 0, 0

    monkeypatch.setattr(Database, "checkpoint", flaky)
    caplog.set_level(logging.INFO, "clank_lan.engine")
    async with running_engine(ephemeral_config(), data_dir=tmp_path) as engine:
        engine.db.accounts.create("uya", "Ratchet", "pw")  # one write; the retries need no more
        await trio.sleep(CHECKPOINT_EVERY * 6)
    assert outcomes == []
    said = [r.getMessage() for r in caplog.records if "checkpoint" in r.getMessage()]
    assert len(said) == 2
    assert said[0].startswith("database checkpoint failed: disk I/O error (no write is lost")
    assert said[1] == "database checkpoints work again"


def test_every_command_has_help_and_unknown_commands_explain_themselves():
    names = {c.name for c in commands()}
    assert {"help", "status", "players", "games", "channels", "kick", "ban", "unban", "broadcast"} <= names
    assert all(c.help and c.usage.startswith(c.name) for c in commands())


async def test_command_errors_come_back_as_lines():
    async with running_engine() as engine:
        assert run_command(engine, "kick") == ["error: who?", "usage: kick NAME [REASON...]"]
        assert run_command(engine, "frobnicate")[0].startswith("unknown command")
        assert run_command(engine, "kick nobody")[0] == "error: 'nobody' is not online"
        assert "nobody is online" in run_command(engine, "players")


async def test_the_engine_starts_the_dns_redirector_itself():
    async with running_engine(dns=DnsSettings(port=0, offline=True)) as engine:
        dns = engine.services["dns"]
        assert dns.up and dns.port != 0
        query = DNSRecord.question("ratchet3-prod1.pdonline.scea.com")
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        with sock, trio.fail_after(5):
            await sock.sendto(query.pack(), ("127.0.0.1", dns.port))
            data = await sock.recv(4096)
        assert str(DNSRecord.parse(data).a.rdata) == "127.0.0.1"


async def test_a_taken_dns_port_marks_only_the_dns_down():
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    try:
        taken = holder.getsockname()[1]
        async with running_engine(dns=DnsSettings(port=taken, offline=True)) as engine:
            assert not engine.services["dns"].up and str(taken) in engine.services["dns"].detail
            assert engine.services["mls"].up
    finally:
        holder.close()
