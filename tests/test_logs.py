"""The log writer: frames leave the event loop as tuples, one thread writes them; a full queue
drops and counts; shutdown writes everything; the file still parses and replays as a session."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import pytest

from clank_lan import logs
from clank_lan.client.lobby import LobbyClient
from clank_lan.client.profiles import profile
from clank_lan.logs import FrameLogger, LogWriter, setup_logging, shutdown_logging
from clank_lan.protocol.hexlog import format_frame, parse_log
from clank_lan.replay import build_script, from_hexlog, replay
from tests.conftest import ports_of, running_engine

T0 = 1_700_000_000.25  # a fixed "time.time()" for queued items


@pytest.fixture
def restore_logging():
    """setup_logging rewires the ``clank_lan`` logger; put it back for the other tests."""
    root = logging.getLogger("clank_lan")
    saved = (list(root.handlers), root.level, root.propagate, logs.FRAMES.level, logs.FRAMES.disabled)
    yield
    shutdown_logging()
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])  # setLevel, not an assignment: it also clears logging's level cache
    root.propagate = saved[2]
    logs.FRAMES.setLevel(saved[3])
    logs.FRAMES.disabled = saved[4]


def _frame(i: int) -> tuple:
    return (T0 + i / 1000, "DME", f"C-{i % 8}", "recv", 0x02, i.to_bytes(4, "little") * 10, 3, True, "udp")


def test_a_full_queue_drops_counts_and_says_so(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "x.log", capacity=100, start=False)  # the writer "falls behind"
    for i in range(1000):
        writer.put(_frame(i), 40)
    assert len(writer.queue) == 100 and writer.dropped == 900
    writer.close()
    text = (tmp_path / "x.log").read_text()
    assert "frame log: 900 lines dropped (writer behind)" in text
    records = parse_log(text)
    assert [r.payload for r in records] == [_frame(i)[5] for i in range(100)]  # the first 100, in order
    assert not writer.queue and not writer._thread.is_alive()


def test_the_queue_is_bounded_in_bytes_too(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "x.log", capacity_bytes=4000, start=False)
    big = (T0, "MLS", "C-1", "recv", 0x0B, bytes(1000), 1, False, "")
    for _ in range(10):
        writer.put(big, 1000)
    assert len(writer.queue) == 4 and writer.dropped == 6
    writer.close()
    assert len(parse_log((tmp_path / "x.log").read_text())) == 4
    assert writer._bytes_in == writer._bytes_out == 4000


def test_shutdown_writes_everything_queued(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "x.log", capacity=50_000)
    for i in range(20_000):
        writer.put(_frame(i), 40)
    writer.close()  # straight away: the queue is not yet drained
    records = parse_log((tmp_path / "x.log").read_text())
    assert len(records) == 20_000 == writer.written and writer.dropped == 0
    assert records[-1].payload == _frame(19_999)[5] and records[-1].tags == {"null": "3", "udp": ""}


def test_lines_carry_logging_timestamps_and_the_hex_format(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "x.log", start=False)
    writer.put(_frame(0), 40)
    writer.line(T0, "I", "player alice logged in")
    writer.close()
    lines = (tmp_path / "x.log").read_text().splitlines()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(T0))
    body = format_frame(*_frame(0)[1:]).splitlines()
    assert lines == [f"{stamp},250 D {body[0]}", *body[1:], f"{stamp},250 I player alice logged in"]


def test_ordinary_lines_are_bounded_per_second(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "x.log", lines_per_second=5, start=False)
    writer._lines.stamp = T0  # the bucket's clock starts at the records' time
    for i in range(20):
        writer.line(T0, "W", f"flood {i}")
    writer.line(T0 + 0.2, "W", "a fifth of a second later: one more line")
    writer.put(_frame(1), 40)  # frames are not counted against the line budget
    writer.close()
    text = (tmp_path / "x.log").read_text()
    assert [f"flood {i}" in text for i in range(20)] == [True] * 5 + [False] * 15
    assert "one more line" in text and len(parse_log(text)) == 1
    assert "log: 15 lines dropped (over 5 lines/s)" in text and writer.throttled == 15


def test_the_file_rotates_between_writes_and_every_piece_parses(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "x.log", max_bytes=20_000, backups=20, start=False)
    for i in range(300):  # about 90 kB of records
        writer.put(_frame(i), 40)
    writer.close()
    pieces = sorted(tmp_path.glob("x.log*"))
    assert 4 <= len(pieces) <= 10
    assert all(p.stat().st_size < 20_000 + logs.CHUNK * 400 for p in pieces)  # a write is never split
    payloads = {r.payload for p in pieces for r in parse_log(p.read_text())}
    assert len(payloads) == 300


def test_an_unwritable_file_counts_drops_and_never_raises(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "x.log", start=False)
    writer._file.stream.close()  # the disk went away under the writer

    class Broken:
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    writer._file.stream = Broken()
    writer.put(_frame(1), 40)
    writer.close()
    assert writer.dropped >= 1 and not writer._thread.is_alive()


def test_frame_logger_goes_to_the_writer_or_falls_back_to_the_logger(tmp_path, restore_logging) -> None:
    seen: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    path = setup_logging("warning", tmp_path, frames=True)
    assert path is not None and FrameLogger.enabled() and logs._frame_writer is not None
    catch = Catch(logging.DEBUG)
    logs.FRAMES.addHandler(catch)
    try:
        FrameLogger("MAS").frame("C-1", "send", 0x07, bytearray(b"abc"), 3)
        logging.getLogger("clank_lan.lobby").warning("a warning for the file")
        shutdown_logging()
        assert not seen  # the writer took it, not the logging module
        text = path.read_text()
        (record,) = parse_log(text)
        assert (record.service, record.payload, record.ctx) == ("MAS", b"abc", 3)
        assert " W a warning for the file" in text
        # no log file (--ephemeral): nothing would show the frames, so they are not even formatted
        setup_logging("warning", None, frames=True)
        assert not FrameLogger.enabled()
        # ... unless someone listens on the frames logger (a test): formatted, to its handler
        logs.FRAMES.setLevel(logging.DEBUG)
        assert FrameLogger.enabled() and logs._frame_writer is None
        FrameLogger("MAS").frame("C-1", "send", 0x07, b"abc", 3)
        assert seen == [format_frame("MAS", "C-1", "send", 0x07, b"abc", 3)]
        setup_logging("warning", tmp_path / "off", frames=False)
        assert not FrameLogger.enabled()
    finally:
        logs.FRAMES.removeHandler(catch)


async def test_a_session_logged_through_the_writer_replays(tmp_path, restore_logging) -> None:
    path = setup_logging("warning", tmp_path, frames=True)
    assert path is not None
    async with (
        running_engine() as engine,
        LobbyClient.open("127.0.0.1", profile("uya"), ports_of(engine)) as c,
    ):
        await c.login("alice", "pw", register=True)
        await c.channels()
        await c.chat("hello")
    shutdown_logging()
    script = build_script(from_hexlog(path.read_text(), "session"))
    assert [c.service for c in script.conns] == ["MAS", "MLS"]
    async with running_engine() as engine:
        report = await replay(script, engine)
    assert report.ok, report.format()
    assert len(report.steps) >= 5


def test_a_message_sent_to_many_is_one_record_naming_them_all(tmp_path, restore_logging) -> None:
    path = setup_logging("warning", tmp_path, frames=True)
    assert path is not None
    with logs.gathered_frames():
        for peer in ("C-1", "C-2", "C-3"):
            FrameLogger("MLS").frame(peer, "send", 0x0A, bytearray(b"line"), 1)
        FrameLogger("MLS").frame("C-2", "send", 0x0A, b"other", 1)  # not the same frame
        with logs.gathered_frames():  # part of the outer block
            FrameLogger("MLS").frame("C-4", "send", 0x0A, b"line", 1)
        other = threading.Thread(target=lambda: FrameLogger("MAS").frame("C-9", "recv", 7, b"x"))
        other.start()
        other.join()
        FrameLogger("MLS").frame("C-5", "send", 0x0A, b"line", None)  # a console that talks clear
    FrameLogger("MLS").frame("C-6", "send", 0x0A, b"line", 1)  # after the block: its own record
    shutdown_logging()
    records = [(r.peer, r.payload, r.ctx) for r in parse_log(path.read_text())]
    assert records == [
        ("C-9", b"x", None),  # another thread logs at once, as usual
        ("C-1,C-2,C-3,C-4", b"line", 1),
        ("C-2", b"other", 1),
        ("C-5", b"line", None),
        ("C-6", b"line", 1),
    ]
    recording = from_hexlog(path.read_text())  # a replay sees each connection's frame
    assert [(f.conn, f.payload) for f in recording.frames if f.payload == b"line"] == [
        (peer, b"line") for peer in ("C-1", "C-2", "C-3", "C-4", "C-5", "C-6")
    ]


async def test_a_channel_line_is_logged_once_for_everyone_who_got_it(tmp_path, restore_logging) -> None:
    path = setup_logging("warning", tmp_path, frames=True)
    assert path is not None
    async with running_engine() as engine:
        ports = ports_of(engine)
        async with (
            LobbyClient.open("127.0.0.1", profile("uya"), ports) as alice,
            LobbyClient.open("127.0.0.1", profile("uya"), ports) as bob,
            LobbyClient.open("127.0.0.1", profile("uya"), ports) as carol,
        ):
            for c, name in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
                await c.login(name, "pw", register=True)
            await alice.chat("hello, both of you")
            for c in (bob, carol):
                assert (await c.next_chat()).text == "hello, both of you"
    shutdown_logging()
    records = parse_log(path.read_text())
    lines = [r for r in records if r.service == "MLS" and b"hello, both of you" in r.payload]
    assert [r.direction for r in lines] == ["recv", "send"]  # alice's line in, and out once
    assert len(lines[1].peer.split(",")) == 2  # to bob's and carol's connections


def test_the_writer_formats_only_within_its_cpu_budget(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(logs, "BUDGET_FLOOR", 0.0)
    writer = LogWriter(tmp_path / "x.log", cpu_share=0.0, start=False)
    for i in range(logs.CHUNK * 3):
        writer.put(_frame(i), 40)
    writer._budget = 0.0  # spent: the rest of the process has used no CPU since
    writer._write_batch()
    assert len(writer.queue) == logs.CHUNK * 3  # nothing formatted, nothing lost
    writer._budget = 1e-9  # a sliver: exactly one chunk goes out before it is spent
    writer._write_batch()
    assert len(writer.queue) == logs.CHUNK * 2
    writer.close()  # shutdown is not budgeted: everything is written
    assert len(parse_log((tmp_path / "x.log").read_text())) == logs.CHUNK * 3


def test_console_lines_are_written_by_the_writer_thread(tmp_path, restore_logging, capsys) -> None:
    setup_logging("info", tmp_path)
    root = logging.getLogger("clank_lan")
    (console,) = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    assert isinstance(console, logs.QueuedConsoleHandler)  # a terminal handler the TUI can mute
    logging.getLogger("clank_lan.test").info("hello %s", "operator")
    logging.getLogger("clank_lan.test").debug("not on the console")
    shutdown_logging()  # flushes the console too
    out = capsys.readouterr().out
    assert re.fullmatch(r"\d\d:\d\d:\d\d I hello operator\n", out)
    assert "I hello operator" in (tmp_path / "clank-lan.log").read_text()
    logging.getLogger("clank_lan.test").warning("after the writer")  # still shown, written directly
    assert "W after the writer" in capsys.readouterr().out
