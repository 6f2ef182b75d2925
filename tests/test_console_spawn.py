"""``serve`` with its operator console in a process of its own: who ends what, and when.

The console here is a small stand-in program on the real line (``EngineLink`` with the address
``serve`` puts in its environment), so each ending is exact: the operator's quit stops the
servers; a console that fails leaves them serving (the reason printed, ``UI_FAILED`` at the end);
a console still attached when the engine stops leaves by itself, and one that does not is killed
after the grace period. ``tests/test_tui_pty.py`` runs the real console in a pseudo-terminal.
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial

import pytest
import trio

from clank_lan import serve as serve_mod
from clank_lan.tui import UI_FAILED, spawn
from tests.conftest import ephemeral_config

RUN_LIMIT = 30  # a whole run: start-up, the console, the goodbye (its grace is 2 s)

FAKE_CONSOLE = """
import asyncio, os, sys
from clank_lan.tui.link import EngineLink, LinkClosed
from clank_lan.tui.wire import LINK_ENV, LinkAddress, Poll, Stop

async def main(mode):
    link = await EngineLink.connect(LinkAddress.from_json(os.environ[LINK_ENV]))
    view = await link.request(lambda i: Poll(i))
    print("console saw:", view.summary.split(" · ")[0], flush=True)
    if mode == "quit":
        try:
            await link.request(Stop)
        except LinkClosed:
            pass
        return 0
    if mode == "fail":
        return 3
    await link.closed.wait()
    print("console saw the line close", flush=True)
    if mode == "hang":
        await asyncio.sleep(3600)
    return 0

sys.exit(asyncio.run(main(sys.argv[1])))
"""


def _args() -> argparse.Namespace:
    return argparse.Namespace(address="127.0.0.1", ephemeral=True, no_dns=True, dns_port=None, headless=False)


@pytest.fixture
def console(monkeypatch):
    """``console(mode)``: the stand-in console ``serve`` starts ("quit", "fail", "wait", "hang")."""

    def use(mode: str) -> None:
        monkeypatch.setattr(spawn, "console_command", lambda: [sys.executable, "-c", FAKE_CONSOLE, mode])

    return use


def run_serve(stop_when=None) -> int:
    """``serve`` with the console; ``stop_when(engine)`` (async) ends it from outside when given."""

    async def main() -> int:
        with trio.fail_after(RUN_LIMIT):
            async with trio.open_nursery() as nursery:
                result: list[int] = []

                async def serving(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
                    result.append(
                        await serve_mod.serve(
                            ephemeral_config(), _args(), None, tui=True, task_status=task_status
                        )
                    )

                engine = await nursery.start(serving)
                if stop_when is not None:
                    await stop_when(engine)
            return result[0]

    return trio.run(main)


async def _until_logged(caplog, text: str) -> None:
    with trio.fail_after(20):
        while not any(text in r.getMessage() for r in caplog.records):
            await trio.sleep(0.01)


async def _stop_once_attached(caplog, engine) -> None:
    """The engine stops (Ctrl+C, SIGTERM) while the console is attached."""
    await _until_logged(caplog, "the operator console attached")
    await engine.shutdown()


def test_the_operators_quit_stops_the_servers(console, caplog, capfd):
    console("quit")
    with caplog.at_level(logging.INFO, logger="clank_lan"):
        assert run_serve() == 0
    out = capfd.readouterr().out
    assert "console saw: 0 players" in out
    said = [r.getMessage() for r in caplog.records]
    assert "the operator console attached" in said and "the operator console detached" in said
    assert "Primary DNS" not in out  # the console owns the terminal: no setup text printed over it


def test_a_failed_console_leaves_the_servers_serving_until_stopped(console, caplog, capfd):
    console("fail")
    stopped_after: list[str] = []

    async def stop_when(engine) -> None:
        await _until_logged(caplog, "ended with status 3")
        assert not engine.stopping  # still serving after the console's failure
        stopped_after.append("failure")
        await engine.shutdown()  # what Ctrl+C then does

    with caplog.at_level(logging.INFO, logger="clank_lan"):
        assert run_serve(stop_when) == UI_FAILED
    assert stopped_after == ["failure"]
    out = capfd.readouterr().out
    assert "the operator console ended with status 3" in out
    assert "The servers keep running without it" in out and "clank-lan attach" in out


def test_a_console_leaves_by_itself_when_the_engine_stops(console, caplog, capfd):
    console("wait")
    with caplog.at_level(logging.INFO, logger="clank_lan"):
        assert run_serve(partial(_stop_once_attached, caplog)) == 0
    assert "console saw the line close" in capfd.readouterr().out
    assert not any("killed" in r.getMessage() for r in caplog.records)


def test_a_console_that_does_not_leave_is_killed_after_the_grace(console, caplog, capfd, monkeypatch):
    console("hang")
    monkeypatch.setattr(spawn, "GRACE", 0.5)
    with caplog.at_level(logging.INFO, logger="clank_lan"):
        assert run_serve(partial(_stop_once_attached, caplog)) == 0
    assert "console saw the line close" in capfd.readouterr().out
    assert any("did not leave within 0.5 s; killed" in r.getMessage() for r in caplog.records)


def test_the_console_command_is_this_program():
    assert spawn.console_command()[-1] == "attach"
    assert spawn.console_command()[0] == sys.executable
