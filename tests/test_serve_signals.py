"""Ctrl+C and SIGTERM stop ``serve`` whenever they come: during start-up, and once it serves.

The signal is sent to this process from inside the run, at a fixed point, so each case is the
same on every run. Before the receiver was installed first:
- a Ctrl+C while the servers started was a KeyboardInterrupt raised in whatever task ran at that
  instant. hypercorn's worker catches it there and ends its own serving quietly, and the appliance
  runs on, deaf to the operator. ``test_cli``'s Ctrl+C test hung once in a few hundred suite runs
  with a log that stops before "shutting down"; this is the way to that found in the code;
- a SIGTERM then killed the process outright (no goodbye to the consoles, the log not flushed).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

import pytest
import trio

from clank_lan import serve as serve_mod
from clank_lan.engine import Engine
from tests.conftest import ephemeral_config

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="os.kill of this process's own pid ends it on Windows, any signal"
)

#: Bound on a whole run: start-up, the signal and the goodbye (its grace is 2 s).
RUN_LIMIT = 30


def _args() -> argparse.Namespace:
    return argparse.Namespace(address="127.0.0.1", ephemeral=True, no_dns=True, dns_port=None, headless=True)


@pytest.fixture
def signal_at(monkeypatch):
    """``signal_at(point, sig)``: send ``sig`` to this process when serve reaches ``point``:
    ``"start"`` (before any service is bound) or ``"serving"`` (everything is up)."""

    def arm(point: str, sig: signal.Signals) -> None:
        def fire() -> None:
            os.kill(os.getpid(), sig)

        if point == "start":
            real_run = Engine.run

            async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
                fire()
                await trio.sleep(0)  # the signal is handled here, or at the next checkpoint
                await real_run(self, task_status=task_status)

            monkeypatch.setattr(Engine, "run", run)
        else:
            real_setup_text = serve_mod.setup_text

            def setup_text(*a, **kw) -> str:
                fire()
                return real_setup_text(*a, **kw)

            monkeypatch.setattr(serve_mod, "setup_text", setup_text)

    return arm


def _run_serve() -> int:
    async def main() -> int:
        with trio.fail_after(RUN_LIMIT):
            return await serve_mod.serve(ephemeral_config(), _args(), None)

    try:
        return trio.run(main)
    except KeyboardInterrupt:
        pytest.fail("the signal escaped serve as a KeyboardInterrupt")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize("point", ["start", "serving"])
def test_a_signal_stops_serve_at_any_point(signal_at, caplog, capsys, point, sig):
    signal_at(point, sig)
    with caplog.at_level(logging.INFO, logger="clank_lan"):
        code = _run_serve()
    assert code == 0
    said = [r.getMessage() for r in caplog.records]
    if point == "start":
        assert "stopped while starting" in said
        assert not any("listening on" in m for m in said)  # no service was bound
    else:
        assert any(m.startswith("shutting down") for m in said), said
        assert "Primary DNS" in capsys.readouterr().out
