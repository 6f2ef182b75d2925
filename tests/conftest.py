"""Shared fixtures: a running appliance on 127.0.0.1 with ephemeral ports."""

from __future__ import annotations

import functools
import gc
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from hypothesis import settings

from clank_lan.client.lobby import Ports
from clank_lan.config import Config, parse_config, with_any_free_ports
from clank_lan.db import passwords
from clank_lan.dnas import certs
from clank_lan.dnas.answers import AnswerBook
from clank_lan.dns.settings import DnsSettings
from clank_lan.engine import Addresses, Engine
from tests.fuzz_budget import long_run

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# Every property test of `make test` draws the same examples on every run and keeps no example
# database, so a failure reproduces and a pass means the same thing each time; `make fuzz`
# (CLANK_FUZZ_EXAMPLES) draws new random inputs instead.
settings.register_profile("make-test", derandomize=True, database=None, deadline=None)
settings.register_profile("make-fuzz", database=None, deadline=None)
settings.load_profile("make-fuzz" if long_run() else "make-test")

#: What the appliance ships: every new password hash costs 4,000 PBKDF2 rounds (~1.2 ms).
SHIPPED_ITERATIONS = passwords.ITERATIONS
# The tests create and check about 2,000 passwords, to play and to test the lobby, not to measure
# hashing: 7 s of the suite's CPU at the shipped cost. In-process tests hash with 16 rounds (the
# same code, stored and verified the same way: the count is part of every stored hash); the
# appliances that tests start as subprocesses and the benchmarks use the shipped count.
passwords.ITERATIONS = 16

# Every engine a test starts serves DNAS, whose gateway needs a 1,024-bit RSA key: made anew for
# each ephemeral engine and each fresh data directory, 92 keys and 18 s of the suite's CPU (a
# sixth of it). In-process tests make one key per worker and hand it to every gateway; the
# certificates, the files written and the TLS answers are made from it as from any other key. The
# appliances started as subprocesses, the DNAS tests' own generator calls and the benchmarks make
# their keys as shipped.
_worker_key = functools.cache(certs.new_key)
certs.new_key = lambda rng=os.urandom: _worker_key()

# The recorded DNAS answers are 390 small files, read again by every engine a test starts (about
# 90 engines, 8 ms each). They never change and an AnswerBook is only read, so a worker reads
# each set once (other regions or another root are a key of their own).
AnswerBook.load = classmethod(functools.cache(AnswerBook.load.__func__))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Take what collection loaded (pytest, Textual, trio, the package, the test modules) out of
    the cyclic GC's full collections, as the appliance does once it is up (``clank_lan.gctune``).

    A full collection walks every tracked object of the process: 150,000 and more in a worker
    once the suite is collected, so the tests that allocate much (the console's, the fuzzers)
    paid 0.2-0.4 s of CPU each in walks of objects that live as long as the process anyway.
    Everything made later is collected as before."""
    gc.collect()
    gc.freeze()


@pytest.fixture
def loopback_clock() -> trio.testing.MockClock:
    """trio's fake clock for tests on real loopback sockets in this process: it jumps only after
    2 ms of real idleness. A datagram or segment sent on loopback normally arrives before the send
    returns, but a busy kernel may hand it to ksoftirqd, and a worker thread (password hashing, the
    store) takes a moment: the fake time must not run on meanwhile (it would count as latency, a
    missed turn or a timeout). A bot's seconds of play then last as long as their work, not 1-3 s
    of waiting each (the DME socket, mixed-client and hostile-network modules, run alone: 27 s ->
    10 s, the same CPU). Not for a test that waits long on a thread, a subprocess or a disk: every
    2 ms of that real wait would move the fake time on to the next deadline."""
    return trio.testing.MockClock(autojump_threshold=0.002)


def ephemeral_config(text: str = "") -> Config:
    """A config whose every port is 0 (the OS picks), for tests."""
    return with_any_free_ports(parse_config(text))


@asynccontextmanager
async def running_engine(
    config: Config | None = None, data_dir: Path | None = None, dns: DnsSettings | None = None
) -> AsyncIterator[Engine]:
    """The appliance on 127.0.0.1, started the one way ``serve`` starts it (``Engine.run``);
    ``dns`` adds the DNS redirector (e.g. ``DnsSettings(port=0, offline=True)``)."""
    engine = Engine(
        config or ephemeral_config(),
        Addresses(bind="127.0.0.1", advertised="127.0.0.1"),
        data_dir=data_dir,
        ephemeral=data_dir is None,
        dns=dns,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(engine.run)
        try:
            yield engine
        finally:
            nursery.cancel_scope.cancel()


def ports_of(engine: Engine) -> Ports:
    return Ports(muis=engine.port("muis"), mas=engine.port("mas"), mls=engine.port("mls"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared reference material is not at {SHARED}")
    return SHARED


@pytest.fixture
def fixed_terminal(monkeypatch):
    """For the operator console's tests: UTC clock times, no blinking cursor (it only adds
    repaints and differs per frame), and the console's default of no animations even where the
    developer's environment asks for them (Pilot waits for each one to finish). A module turns it on with
    ``pytestmark = pytest.mark.usefixtures("fixed_terminal")``."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr("textual.widgets.Input._toggle_cursor", lambda self: None)
    monkeypatch.delenv("TEXTUAL_ANIMATIONS", raising=False)
    yield
    monkeypatch.undo()
    time.tzset()
