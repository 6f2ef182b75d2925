"""The console's Textual-free parts: the tests' trio guest, the bounded inboxes and the logging
bridge, the row builders, the palette's argument rule, and the rule that the engine, the servers
and the engine's end of the console's line never import Textual."""

from __future__ import annotations

import asyncio
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
from clank_lan.tui import rows
from clank_lan.tui.feed import (
    Inbox,
    InboxLogHandler,
    LogRecordView,
    logs_to_inbox,
    terminal_level,
    terminal_quiet,
)
from tests.trio_guest import GuestNotRunning, TrioGuest

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
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:  # trio's nurseries
        error = error.exceptions[0]
    assert isinstance(error, DbError)


# --- inboxes and the logging bridge ------------------------------------------------------------


def test_inbox_is_bounded_and_counts_what_it_dropped():
    box: Inbox[int] = Inbox(3)
    for i in range(5):
        box.put(i)
    assert len(box) == 3 and box.dropped == 2
    assert box.drain() == [2, 3, 4]
    assert box.drain() == [] and len(box) == 0


def test_logs_reach_the_console_inbox_and_leave_the_terminal_to_the_console(tmp_path):
    logger = logging.getLogger("clank_lan")
    terminal = logging.StreamHandler(sys.stdout)
    terminal.setLevel(logging.INFO)
    to_file = logging.FileHandler(tmp_path / "clank.log")
    logger.addHandler(terminal)
    logger.addHandler(to_file)
    box: Inbox[LogRecordView] = Inbox(100)
    try:
        assert terminal_level() == logging.INFO
        with logs_to_inbox(box, terminal_level()):
            with terminal_quiet():  # while the console's process owns the terminal
                assert terminal not in logger.handlers and to_file in logger.handlers
                logging.getLogger("clank_lan.mas").warning("port %d is taken", 10075)
                logging.getLogger("clank_lan.frames").info("frame hex that only the file wants")
                logging.getLogger("clank_lan.mls").debug("below the terminal's level")
            assert terminal in logger.handlers
            logging.getLogger("clank_lan.dns").info("after the console left")
        assert not any(isinstance(h, InboxLogHandler) for h in logger.handlers)
        logging.getLogger("clank_lan.dns").warning("after the engine stopped")
        recs = box.drain()
        assert [(r.level, r.source, r.text) for r in recs] == [
            ("warning", "mas", "port 10075 is taken"),
            ("info", "dns", "after the console left"),
        ]
        to_file.flush()
        assert "frame hex" in (tmp_path / "clank.log").read_text()
    finally:
        logger.removeHandler(terminal)
        logger.removeHandler(to_file)
        to_file.close()


def test_log_handler_keeps_the_exception_summary():
    box: Inbox[LogRecordView] = Inbox(10)
    handler = InboxLogHandler(box)
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


# --- import hygiene ------------------------------------------------------------------------------


def test_engine_and_servers_do_not_import_textual():
    code = textwrap.dedent(
        """
        import sys
        import clank_lan.engine, clank_lan.serve, clank_lan.commands, clank_lan.events
        import clank_lan.servers.lobby.service, clank_lan.servers.lobby.mls, clank_lan.servers.nat
        import clank_lan.dme.manager, clank_lan.dme.server, clank_lan.dns.server
        import clank_lan.tui, clank_lan.tui.feed, clank_lan.tui.host, clank_lan.tui.spawn
        import clank_lan.tui.view, clank_lan.tui.wire
        bad = sorted(m for m in sys.modules if m.split(".")[0] == "textual")
        print(",".join(bad))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"imported: {out.stdout.strip()}"


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
