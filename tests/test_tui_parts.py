"""The TUI's Textual-free parts: the trio guest bridge, the bounded inboxes and the logging
bridge, the row builders, the palette's argument rule, ``run_tui`` end to end (headless), and
the rule that the engine and the servers never import Textual."""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import sys
import textwrap
import time

import pytest
import trio

from clank_lan.commands import REGISTRY
from clank_lan.db.errors import DbError
from clank_lan.dme.world import PlayerInfo
from clank_lan.events import ChatLine, DnsQuery
from clank_lan.tui import UI_FAILED, rows, run_tui, unwrap
from clank_lan.tui.bridge import GuestNotRunning, TrioGuest
from clank_lan.tui.feed import Inbox, LogRecordView, TuiLogHandler, logs_to_tui
from tests.tui_fake import FakeEngine

# --- the trio guest ---------------------------------------------------------------------------


def test_guest_runs_host_calls_inside_trio_and_stops_on_cancel():
    async def main() -> None:
        guest = TrioGuest()
        ticks = []

        async def trio_main(nursery: trio.Nursery) -> str:
            while True:
                ticks.append(trio.current_time())
                await trio.sleep(0.01)

        guest.start(trio_main)
        await asyncio.wait_for(guest.started.wait(), 5)
        assert guest.running

        # a sync call runs inside the trio run (trio's own task context exists there)
        name = await guest.call(lambda: trio.lowlevel.current_task().name)
        assert isinstance(name, str)
        with pytest.raises(ZeroDivisionError):
            await guest.call(lambda: 1 / 0)

        async def add(a: int, b: int) -> int:
            await trio.sleep(0.01)
            return a + b

        async def boom() -> None:
            await trio.sleep(0)
            raise ValueError("operator action failed")

        assert await guest.run(add, 2, 3) == 5
        with pytest.raises(ValueError, match="operator action failed"):
            await guest.run(boom)
        assert guest.running, "a failed action must not stop the servers"

        stuck = guest.run(trio.sleep_forever)
        await asyncio.sleep(0.05)
        assert len(ticks) > 2  # trio kept running while asyncio awaited
        guest.cancel()
        result = await guest.wait_done(5)
        assert result is not None and result.unwrap() is None  # a requested quit is not an error
        with pytest.raises(GuestNotRunning):
            await stuck
        with pytest.raises(GuestNotRunning):
            await guest.call(lambda: None)

    asyncio.run(asyncio.wait_for(main(), 10))


def test_guest_reports_the_error_that_ended_the_run():
    async def main() -> BaseException:
        guest = TrioGuest()

        async def trio_main(nursery: trio.Nursery) -> None:
            await trio.sleep(0.01)
            raise DbError("database is locked")

        guest.start(trio_main)
        result = await guest.wait_done(5)
        return result.error

    error = asyncio.run(main())
    assert isinstance(unwrap(error), DbError)


def test_unwrap_takes_the_single_error_out_of_nested_groups():
    inner = KeyError("x")
    assert unwrap(ExceptionGroup("a", [ExceptionGroup("b", [inner])])) is inner
    two = ExceptionGroup("a", [KeyError("x"), ValueError("y")])
    assert unwrap(two) is two


# --- inboxes and the logging bridge ------------------------------------------------------------


def test_inbox_is_bounded_and_counts_what_it_dropped():
    box: Inbox[int] = Inbox(3)
    for i in range(5):
        box.put(i)
    assert len(box) == 3 and box.dropped == 2
    assert box.drain() == [2, 3, 4]
    assert box.drain() == [] and len(box) == 0


def test_logs_go_to_the_tui_instead_of_the_terminal_while_it_runs(tmp_path):
    logger = logging.getLogger("clank_lan")
    terminal = logging.StreamHandler(sys.stdout)
    terminal.setLevel(logging.INFO)
    to_file = logging.FileHandler(tmp_path / "clank.log")
    logger.addHandler(terminal)
    logger.addHandler(to_file)
    box: Inbox[LogRecordView] = Inbox(100)
    try:
        with logs_to_tui(box) as handler:
            assert terminal not in logger.handlers and to_file in logger.handlers
            assert handler in logger.handlers and handler.level == logging.INFO
            logging.getLogger("clank_lan.mas").warning("port %d is taken", 10075)
            logging.getLogger("clank_lan.frames").info("frame hex that only the file wants")
            logging.getLogger("clank_lan.mls").debug("below the terminal's level")
        assert terminal in logger.handlers and handler not in logger.handlers
        [rec] = box.drain()
        assert (rec.level, rec.source, rec.text) == ("warning", "mas", "port 10075 is taken")
        to_file.flush()
        assert "frame hex" in (tmp_path / "clank.log").read_text()
    finally:
        logger.removeHandler(terminal)
        logger.removeHandler(to_file)
        to_file.close()


def test_log_handler_keeps_the_exception_summary():
    box: Inbox[LogRecordView] = Inbox(10)
    handler = TuiLogHandler(box)
    try:
        raise OSError("address in use")
    except OSError:
        record = logging.getLogger("clank_lan.engine").makeRecord(
            "clank_lan.engine", logging.ERROR, __file__, 1, "bind failed", (), sys.exc_info()
        )
    handler.emit(record)
    [rec] = box.drain()
    assert rec.text == "bind failed (OSError: address in use)" and rec.source == "engine"


# --- rows and texts ------------------------------------------------------------------------------


def test_stage_uptime_and_event_texts():
    assert rows.furthest_stage({"mas", "login", "mls", "muis"}) == "MLS lobby"
    assert rows.furthest_stage({"dme-tcp", "mas"}) == "DME TCP"
    assert rows.furthest_stage(set()) == "-"
    assert rows.uptime_text(3725.9) == "1:02:05"
    assert [rows.ago(s) for s in (0, 42.9, 600, 7500)] == ["0 s", "42 s", "10 min", "2 h 05 min"]
    assert rows.occupancy(81, 64) == "81/64 OVER LIMIT" and rows.occupancy(3, 64) == "3/64"
    ts = time.mktime((2024, 5, 1, 20, 15, 7, 0, 0, -1))
    q = DnsQuery(
        ts=ts, client="10.0.0.5:1234", name="ratchet.example", qtype="A", answer="10.0.0.2", title="uya"
    )
    assert rows.dns_text(q) == "20:15:07  10.0.0.5:1234         A     ratchet.example -> 10.0.0.2  [uya]"
    chat = ChatLine(ts=ts, group="uya", channel="Lobby 1", sender="alice", text="hi", whisper_to="bob")
    assert rows.chat_text(chat) == "20:15:07  [Lobby 1] alice -> bob: hi"


def test_palette_knows_which_commands_need_arguments():
    from clank_lan.tui.palette import needs_arguments

    needs = {name: needs_arguments(cmd) for name, cmd in REGISTRY.items() if name == cmd.name}
    assert needs["status"] is False and needs["help"] is False and needs["accounts"] is False
    assert needs["kick"] and needs["ban"] and needs["endgame"] and needs["broadcast"] and needs["unban"]


# --- run_tui end to end --------------------------------------------------------------------------


def test_run_tui_returns_the_serve_exit_code_when_the_servers_stop():
    """The real entry point: the app runs (headless), serve stops by itself, the code comes back."""
    engine = FakeEngine()

    async def serve(*, task_status=trio.TASK_STATUS_IGNORED) -> int:
        task_status.started(engine)
        await trio.sleep(0.3)
        await engine.shutdown()  # what SIGTERM does in ``serve``
        return 3

    assert run_tui(serve, headless=True) == 3
    assert engine.shutdown_called


def test_run_tui_raises_what_stopped_the_servers_and_holds_the_message(caplog):
    held = []

    async def serve(*, task_status=trio.TASK_STATUS_IGNORED) -> int:
        raise DbError("the database file is not a clank-lan database")

    err = io.StringIO()
    with pytest.raises(DbError, match="not a clank-lan database"):
        run_tui(serve, headless=True, hold=lambda: held.append(err.getvalue()), err=err)
    assert held == [
        "clank-lan: the servers stopped: DbError: the database file is not a clank-lan database\n"
    ]
    assert any(r.exc_info and isinstance(r.exc_info[1], DbError) for r in caplog.records)


def test_run_tui_falls_back_to_headless_when_the_screen_fails(monkeypatch, caplog):
    """A bug in the screen: the traceback is logged, the terminal handed back, and the servers
    serve on to their normal end (here: once the failure is reported) instead of dropping every console."""
    from clank_lan.tui.app import ClankApp

    engine = FakeEngine()
    served = []
    err = io.StringIO()

    async def serve(*, task_status=trio.TASK_STATUS_IGNORED) -> int:
        task_status.started(engine)
        with trio.fail_after(10):  # serve on until the screen has failed and said so
            while "the operator console failed" not in err.getvalue():
                await trio.sleep(0.01)
        await trio.sleep(0.05)
        served.append("to the end")
        return 0

    def broken_refresh(self) -> None:
        if self.engine is not None:
            raise KeyError("a bug in the screen")

    monkeypatch.setattr(ClankApp, "refresh_tables", broken_refresh)
    assert run_tui(serve, headless=True, err=err, paths=engine.paths) == UI_FAILED
    assert served == ["to the end"] and not engine.shutdown_called
    text = err.getvalue()
    assert "the operator console failed: KeyError: 'a bug in the screen'" in text
    assert "(traceback in /srv/clank/data/logs/clank-lan.log)" in text and "keep running" in text
    [record] = [r for r in caplog.records if r.name == "clank_lan.tui" and r.exc_info]
    assert isinstance(record.exc_info[1], KeyError)


# --- import hygiene ------------------------------------------------------------------------------


def test_engine_and_servers_do_not_import_textual():
    code = textwrap.dedent(
        """
        import sys
        import clank_lan.engine, clank_lan.serve, clank_lan.commands, clank_lan.events
        import clank_lan.servers.lobby.service, clank_lan.servers.lobby.mls, clank_lan.servers.nat
        import clank_lan.dme.manager, clank_lan.dme.server, clank_lan.dns.server
        import clank_lan.tui, clank_lan.tui.bridge, clank_lan.tui.feed
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
        print(",".join(bad))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"


def test_run_tui_says_how_to_go_on_when_the_terminal_cannot_be_driven(monkeypatch, caplog):
    from clank_lan.tui.app import ClankApp

    async def no_terminal(self, **kw) -> None:
        raise OSError("not a terminal")

    async def serve(*, task_status=trio.TASK_STATUS_IGNORED) -> int:
        raise AssertionError("never started: the screen failed first")

    monkeypatch.setattr(ClankApp, "run_async", no_terminal)
    err = io.StringIO()
    assert run_tui(serve, headless=True, err=err) == UI_FAILED
    assert "OSError: not a terminal" in err.getvalue() and "serve --headless" in err.getvalue()
    assert any(isinstance(r.exc_info[1], OSError) for r in caplog.records if r.exc_info)


def test_game_detail_shows_time_in_game_ping_and_traffic_rates():
    """Issue 12 item 6: per player DME index, time in game, ping and relayed traffic rates."""
    info = PlayerInfo(
        index=1,
        session_key="k",
        account_id=1,
        name="amy",
        state="connected",
        joined_at=1000.0,
        ping_ms=23.4,
        frames_in=150,
        bytes_in=15 * 1024,
        frames_out=300,
        bytes_out=30 * 1024,
    )
    line = rows.traffic(info, 1010.0)
    assert "in game 10 s" in line and "ping 23 ms" in line
    assert "in 15.0/s 1.5 KiB/s" in line and "out 30.0/s 3.0 KiB/s" in line
    unmeasured = PlayerInfo(
        index=0, session_key="h", account_id=2, name="ben", state="connected", joined_at=1000.0
    )
    assert "ping -" in rows.traffic(unmeasured, 1010.0)
    assert (
        rows.traffic(PlayerInfo(index=2, session_key="x", account_id=3, name="c", state="reserved"), 1.0)
        == ""
    )
