"""The operator console's line to the engine: the wire format (messages and frames), the engine's
end (``ConsoleHost`` on real loopback sockets: the token, one console at a time, the hello
deadline, the request limit, the link file), ``clank-lan attach`` finding the appliance, and the
console's end (``EngineLink``). The console runs in a process of its own, so this line is all it
has of the engine: a console that breaks the protocol must be dropped without harming the
servers, and one that cannot attach must be told why.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
import pytest
import trio
import trio.testing
from rich.style import Style
from rich.text import Span, Text

from clank_lan.events import ChatLine
from clank_lan.tui import attach
from clank_lan.tui.feed import Inbox, LogRecordView
from clank_lan.tui.host import HELLO_TIMEOUT, MAX_WAITING, ConsoleHost
from clank_lan.tui.link import EngineLink, LinkClosed, forward_records
from clank_lan.tui.rows import Row
from clank_lan.tui.view import STORM_EVENTS, build_view
from clank_lan.tui.wire import (
    CONSOLE_LOGGER,
    HEADER,
    LINK_ENV,
    LINK_FILE,
    MAX_REQUEST,
    MAX_VIEW,
    Cup,
    FrameReader,
    Hello,
    Lines,
    LinkAddress,
    LinkError,
    LiveGame,
    PaneLine,
    Poll,
    Record,
    Refused,
    Run,
    Service,
    Stop,
    Styled,
    ToConsole,
    View,
    Welcome,
    decode_reply,
    decode_request,
    encode,
)
from tests.trio_guest import TrioGuest
from tests.tui_fake import FakeEngine, fixed_state

PLAYERS = {"amy", "ben", "dan"}


def body_of(frame: bytes) -> bytes:
    """The body of one whole frame, its header checked."""
    (size,) = HEADER.unpack_from(frame)
    assert size == len(frame) - HEADER.size
    return frame[HEADER.size :]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """caplog seeing the ``clank_lan`` records even if a test before set up the appliance's logging
    (which stops them propagating to the root logger)."""
    monkeypatch.setattr(logging.getLogger("clank_lan"), "propagate", True)
    caplog.set_level(logging.INFO, logger="clank_lan")
    return caplog


def messages(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == level]


# --- the wire ---------------------------------------------------------------------------------


def sample_view() -> View:
    detail = Text("Game 1 LAN final", style="italic")
    detail.stylize("bold", 0, 4)
    return View(
        id=7,
        now=1_800_000_000.5,
        tables={
            "players-table": [
                Row("k1", ("amy", "uya-ntsc", "192.168.1.21")),
                Row("k2", ("ben", "uya-ntsc", "192.168.1.22"), frozenset({1, 2})),
            ],
            "bans-table": [],
        },
        services=[Service("muis", "TCP", 10071, True), Service("dns", "UDP", 53, False, "port 53 is taken")],
        address="192.168.1.50",
        summary="2 players",
        dropped=3,
        online=2,
        logged_in=2,
        detail=Styled.of(detail),
        audit_newest=4,
        audit=["newest", "older"],
        cup=Cup(
            "key", {"name": "LAN Cup", "rounds": [[1, 2]]}, [LiveGame(1, "LAN final", ["amy", "ben"], 1)]
        ),
        lines=[PaneLine("dns", "a.example -> 192.168.1.50", "green"), PaneLine("chat", "amy: gg")],
        records=[LogRecordView(1.5, "info", "stage", "console reached MAS")],
    )


def test_a_poll_and_a_view_come_back_as_they_were_sent():
    poll = Poll(3, tab="games", game="12", console=None, cup_key="k", full=False)
    assert decode_request(body_of(encode(poll))) == poll

    view = sample_view()
    back = decode_reply(body_of(encode(view)))
    assert back == view
    assert isinstance(back, View)
    assert back.tables["players-table"][1].alert == frozenset({1, 2})
    assert back.records == [LogRecordView(1.5, "info", "stage", "console reached MAS")]
    assert back.detail is not None and back.detail.text().plain == "Game 1 LAN final"


def test_every_request_and_reply_kind_round_trips():
    for msg in (Hello("t0ken"), Run(2, "kick amy"), Stop(9), Record("error", "Traceback ...")):
        assert decode_request(body_of(encode(msg))) == msg
    for reply in (
        Welcome("1.0", [("data", "/srv")], "set DNS", None),
        Refused("wrong token"),
        Lines(4, ["a", "b"]),
    ):
        assert decode_reply(body_of(encode(reply))) == reply


def test_frames_fed_byte_by_byte_come_out_whole_and_in_order():
    frames = [encode(Poll(1)), encode(Run(2, "status")), encode(Stop(3))]
    stream = b"".join(frames)
    reader = FrameReader(MAX_REQUEST)
    out: list[bytes] = []
    for i in range(len(stream)):
        got = reader.feed(stream[i : i + 1])
        # a frame is given out exactly when its last byte arrives
        ends = {sum(len(f) for f in frames[: n + 1]) - 1 for n in range(len(frames))}
        assert bool(got) == (i in ends)
        out.extend(got)
    assert [decode_request(b) for b in out] == [Poll(1), Run(2, "status"), Stop(3)]
    assert reader.feed(b"") == []


def test_several_frames_and_a_partial_one_in_one_chunk():
    first, second, third = encode(Poll(1)), encode(Run(2, "players")), encode(Stop(3))
    reader = FrameReader(MAX_REQUEST)
    got = reader.feed(first + second + third[:5])
    assert [decode_request(b) for b in got] == [Poll(1), Run(2, "players")]
    assert [decode_request(b) for b in reader.feed(third[5:])] == [Stop(3)]


def test_a_frame_at_the_limit_passes_and_one_over_it_is_a_link_error():
    reader = FrameReader(10)
    assert reader.feed(HEADER.pack(10) + b"x" * 10) == [b"x" * 10]
    # refused on the header alone: the body is never waited for (nor buffered)
    with pytest.raises(LinkError, match="11 bytes"):
        FrameReader(10).feed(HEADER.pack(11))
    with pytest.raises(LinkError):
        FrameReader(MAX_REQUEST).feed(HEADER.pack(MAX_REQUEST + 1) + b"\0" * 16)


@pytest.mark.parametrize(
    "body",
    [b"", b"\xc1", b"\x93\x01\x02\x03", msgspec.msgpack.encode({"type": "nonsense", "id": 1})],
    ids=["empty", "reserved-byte", "array", "unknown-tag"],
)
def test_a_garbage_body_is_a_link_error_on_both_sides(body):
    with pytest.raises(LinkError, match="not a console request"):
        decode_request(body)
    with pytest.raises(LinkError, match="not an engine reply"):
        decode_reply(body)


def test_a_message_of_the_other_direction_is_a_link_error():
    with pytest.raises(LinkError):
        decode_request(body_of(encode(Welcome("1", [], ""))))
    with pytest.raises(LinkError):
        decode_reply(body_of(encode(Poll(1))))
    with pytest.raises(LinkError):  # a field of the wrong type
        decode_request(msgspec.msgpack.encode({"type": "poll", "id": "one"}))


def test_styled_reproduces_a_rich_text_exactly():
    text = Text("abcdefgh", style="italic")
    text.stylize("bold", 0, 2)
    text.stylize("bold", 2, 4)  # adjacent and alike: still two spans
    text.stylize("red on white", 3, 8)

    back = msgspec.msgpack.decode(msgspec.msgpack.encode(Styled.of(text)), type=Styled).text()
    assert back.plain == text.plain
    assert back.style == "italic"
    assert back.spans == [Span(0, 2, "bold"), Span(2, 4, "bold"), Span(3, 8, "red on white")]
    assert back.spans == text.spans
    assert list(back.divide([4])) == list(text.divide([4]))


def test_styled_keeps_a_style_object_as_the_same_style():
    text = Text("ok")
    text.stylize(Style(bold=True, color="green"), 0, 2)
    back = Styled.of(text).text()
    assert [(s.start, s.end, Style.parse(str(s.style))) for s in back.spans] == [
        (0, 2, Style(bold=True, color="green"))
    ]


def test_a_link_address_round_trips_through_json():
    address = LinkAddress("127.0.0.1", 40123, "s3cr3t-token")
    assert LinkAddress.from_json(address.to_json()) == address


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        "null",
        '{"host": "127.0.0.1", "port": 1}',
        '{"host": "127.0.0.1", "port": "http", "token": "t"}',
        '{"host": "127.0.0.1", "port": null, "token": "t"}',
    ],
)
def test_a_bad_link_address_is_a_value_error_saying_so(text):
    with pytest.raises(ValueError, match="not a console link"):
        LinkAddress.from_json(text)


@pytest.mark.parametrize("port", ["Infinity", "1e400"])
def test_an_infinite_port_is_a_value_error_too(port):
    with pytest.raises(ValueError, match="not a console link"):
        LinkAddress.from_json(f'{{"host": "127.0.0.1", "port": {port}, "token": "t"}}')


# --- the view's storm rule --------------------------------------------------------------------


def chat(n: int) -> ChatLine:
    return ChatLine(ts=1_800_000_000.0 + n, group="uya", channel="Main", sender="amy", text=f"line {n}")


def test_a_partial_poll_gets_the_tables_only_for_a_few_news():
    engine = fixed_state(FakeEngine())
    events: Inbox = Inbox(100)
    logs: Inbox[LogRecordView] = Inbox(100)

    assert build_view(engine, Poll(1, full=False), events, logs).tables == {}

    events.put(chat(1))
    few = build_view(engine, Poll(2, full=False), events, logs)
    assert {r.cells[0] for r in few.tables["players-table"]} == PLAYERS
    assert [line.pane for line in few.lines] == ["chat"]

    for n in range(STORM_EVENTS):
        events.put(chat(n))
    storm = build_view(engine, Poll(3, full=False), events, logs)
    assert storm.tables == {}
    assert len(storm.lines) == STORM_EVENTS  # the lines still come, only the tables wait

    assert build_view(engine, Poll(4, full=True), events, logs).tables["players-table"]


# --- the engine's end on loopback -------------------------------------------------------------


#: The consoles opened in the ``serving`` block running now (it closes them, a failed test's too).
OPENED: list[Console] = []


class Console:
    """A console's end of the line, by hand, in the test's trio run."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.reader = FrameReader(MAX_VIEW)
        self.pending: list[bytes] = []

    @classmethod
    async def open(cls, host: ConsoleHost, token: str | None = None) -> Console:
        assert host.address is not None
        console = cls(await trio.open_tcp_stream("127.0.0.1", host.address.port))
        OPENED.append(console)
        if token is not None:
            await console.send(Hello(token))
        return console

    async def send(self, msg: msgspec.Struct) -> None:
        await self.stream.send_all(encode(msg))

    async def reply(self) -> ToConsole | None:
        """The engine's next message, or None when it closed the line."""
        while not self.pending:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                return None
            if not data:
                return None
            self.pending = self.reader.feed(data)
        return decode_reply(self.pending.pop(0))

    async def ask(self, msg: msgspec.Struct) -> ToConsole | None:
        await self.send(msg)
        return await self.reply()

    async def aclose(self) -> None:
        await self.stream.aclose()


@asynccontextmanager
async def serving(engine: FakeEngine | None = None, **kwargs) -> AsyncIterator[ConsoleHost]:
    """A ``ConsoleHost`` on an ephemeral 127.0.0.1 port for the block, as ``serve`` runs it."""
    engine = engine or fixed_state(FakeEngine())
    engine.stopped = trio.Event()
    host = ConsoleHost(engine, **kwargs)
    async with trio.open_nursery() as nursery:
        address = await nursery.start(host.run)
        assert address == host.address and address.host == "127.0.0.1"
        try:
            yield host
        finally:
            with trio.CancelScope(shield=True):
                while OPENED:
                    await OPENED.pop().aclose()
            nursery.cancel_scope.cancel()


async def attached(host: ConsoleHost) -> tuple[Console, Welcome]:
    console = await Console.open(host, host.token)
    welcome = await console.reply()
    assert isinstance(welcome, Welcome), welcome
    return console, welcome


async def until(cond: Callable[[], object], what: str) -> None:
    """Wait for ``cond`` in trio time (the fake clock's), bounded."""
    for _ in range(500):
        if cond():
            return
        await trio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_the_welcome_carries_the_paths_and_the_setup_text(loopback_clock):
    with trio.fail_after(10):
        async with serving() as host:
            console, welcome = await attached(host)
            assert host.attached
            assert dict(welcome.paths) == {
                "config": "/srv/clank/clank-lan.toml",
                "data": "/srv/clank/data",
                "log": "/srv/clank/data/logs/clank-lan.log",
            }
            assert welcome.log == "/srv/clank/data/logs/clank-lan.log"
            assert "Primary DNS: 192.168.1.50" in welcome.setup
            await console.aclose()


async def test_a_poll_is_answered_with_the_tables_and_its_id(loopback_clock):
    with trio.fail_after(10):
        async with serving() as host:
            console, _ = await attached(host)
            view = await console.ask(Poll(41))
            assert isinstance(view, View)
            assert view.id == 41
            assert {r.cells[0] for r in view.tables["players-table"]} == PLAYERS
            assert set(view.tables) >= {"players-table", "games-table", "bans-table", "pending-table"}
            assert view.address == "192.168.1.50"
            assert (view.online, view.logged_in) == (3, 3)
            assert {s.name: s.up for s in view.services}["dns"] is False
            assert view.cup is not None and view.detail is None

            # the tournament view is sent again only when its key changed
            again = await console.ask(Poll(42, cup_key=view.cup.key))
            assert isinstance(again, View) and again.id == 42 and again.cup is None

            # the detail of the game in sight
            game = next(iter(host.engine.lobby.lobby.games.values()))
            detail = await console.ask(Poll(43, tab="games", game=str(game.id)))
            assert isinstance(detail, View) and detail.detail is not None
            assert "LAN final" in detail.detail.text().plain
            await console.aclose()


async def test_a_partial_poll_without_news_has_no_tables_and_one_with_a_chat_line_has(loopback_clock):
    with trio.fail_after(10):
        async with serving() as host:
            console, _ = await attached(host)
            assert isinstance(await console.ask(Poll(1)), View)  # drains what start-up brought

            quiet = await console.ask(Poll(2, full=False))
            assert isinstance(quiet, View) and quiet.id == 2
            assert quiet.tables == {}
            assert quiet.lines == []

            host.engine.bus.publish(chat(1))
            await until(lambda: len(host.events) == 1, "the chat line in the console's inbox")
            news = await console.ask(Poll(3, full=False))
            assert isinstance(news, View)
            assert {r.cells[0] for r in news.tables["players-table"]} == PLAYERS
            assert [(line.pane, "line 1" in line.text) for line in news.lines] == [("chat", True)]
            await console.aclose()


async def test_a_command_line_is_answered_with_its_lines(loopback_clock):
    with trio.fail_after(10):
        async with serving() as host:
            console, _ = await attached(host)
            lines = await console.ask(Run(5, "status"))
            assert isinstance(lines, Lines) and lines.id == 5
            assert lines.lines[0].startswith("clank-lan on 192.168.1.50")
            assert any("3 players online, 1 games" in line for line in lines.lines)

            unknown = await console.ask(Run(6, "frobnicate"))
            assert isinstance(unknown, Lines) and unknown.id == 6
            assert unknown.lines and "frobnicate" in " ".join(unknown.lines)
            await console.aclose()


async def test_a_wrong_token_is_refused_and_logged(loopback_clock, logs):
    with trio.fail_after(10):
        async with serving() as host:
            console = await Console.open(host, "not-" + host.token)
            assert await console.reply() == Refused("wrong token")
            assert await console.reply() is None  # and the line ends
            await console.aclose()
            assert not host.attached
            assert messages(logs, "clank_lan.tui", logging.WARNING) == [
                "an operator console without the right token was refused"
            ]

            # a first message other than the hello is refused the same way
            poller = await Console.open(host)
            assert await poller.ask(Poll(1)) == Refused("wrong token")
            assert await poller.reply() is None
            await poller.aclose()


async def test_a_second_console_is_refused_until_the_first_leaves(loopback_clock):
    with trio.fail_after(10):
        async with serving() as host:
            first, _ = await attached(host)

            second = await Console.open(host, host.token)
            refused = await second.reply()
            assert isinstance(refused, Refused)
            assert "another operator console" in refused.reason
            assert await second.reply() is None
            await second.aclose()
            assert isinstance(await first.ask(Poll(1)), View)  # the first one is untouched

            await first.aclose()
            await until(lambda: not host.attached, "the first console detached")
            third, _ = await attached(host)
            assert isinstance(await third.ask(Poll(2)), View)
            await third.aclose()


async def test_a_console_that_says_nothing_is_dropped_after_the_hello_deadline(loopback_clock, logs):
    with trio.fail_after(HELLO_TIMEOUT * 4):
        async with serving() as host:
            silent = await Console.open(host)
            start = trio.current_time()
            assert await silent.reply() is None
            assert trio.current_time() - start >= HELLO_TIMEOUT
            assert not host.attached
            assert messages(logs, "clank_lan.tui", logging.WARNING) == [
                f"a connection to the console port said nothing within {HELLO_TIMEOUT:g} s"
            ]
            await silent.aclose()

            # the deadline is the hello's only: an attached console may stay quiet for longer
            console, _ = await attached(host)
            await trio.sleep(HELLO_TIMEOUT * 2)
            assert isinstance(await console.ask(Poll(1)), View)
            await console.aclose()


async def test_a_flood_of_silent_connections_is_bounded_and_the_operator_still_gets_in(loopback_clock, logs):
    """At most ``MAX_WAITING`` connections wait to show a token; more are closed at once (and not
    each logged), and the operator, who has the token, is served once the waiting ones time out."""
    with trio.fail_after(HELLO_TIMEOUT * 4):
        async with serving() as host:
            waiting = [await Console.open(host) for _ in range(MAX_WAITING)]
            await until(lambda: host.waiting == MAX_WAITING, "the silent ones to wait")
            extra = [await Console.open(host) for _ in range(5)]
            for console in extra:
                assert await console.reply() is None  # closed at once, long before the deadline
            assert host.turned_away == 5 and trio.current_time() < HELLO_TIMEOUT
            for console in waiting:
                assert await console.reply() is None  # the deadline
            console, _ = await attached(host)
            assert isinstance(await console.ask(Poll(1)), View)
            assert len(messages(logs, "clank_lan.tui", logging.WARNING)) == MAX_WAITING
            for c in (*waiting, *extra, console):
                await c.aclose()


async def test_a_silent_console_is_dropped_even_while_another_is_attached(loopback_clock):
    with trio.fail_after(HELLO_TIMEOUT * 4):
        async with serving() as host:
            first, _ = await attached(host)
            silent = await Console.open(host)
            assert await silent.reply() is None  # not a Welcome: it showed no token
            assert host.attached
            assert isinstance(await first.ask(Poll(1)), View)
            await silent.aclose()
            await first.aclose()


async def test_a_non_ascii_token_is_refused_and_the_host_keeps_serving(loopback_clock):
    with trio.fail_after(10):
        async with serving() as host:
            console = await Console.open(host, "jeton-\u00e9")
            assert await console.reply() == Refused("wrong token")
            await console.aclose()
            good, _ = await attached(host)
            assert isinstance(await good.ask(Poll(1)), View)
            await good.aclose()


@pytest.mark.parametrize("after_hello", [False, True], ids=["before-hello", "after-hello"])
async def test_an_oversized_request_ends_the_line_and_the_host_serves_the_next(
    loopback_clock, logs, after_hello
):
    with trio.fail_after(10):
        async with serving() as host:
            if after_hello:
                rogue, _ = await attached(host)
            else:
                rogue = await Console.open(host)
            await rogue.stream.send_all(HEADER.pack(MAX_REQUEST + 1))
            assert await rogue.reply() is None
            await until(lambda: not host.attached, "the rogue console detached")
            await rogue.aclose()
            dropped = messages(logs, "clank_lan.tui", logging.WARNING)
            assert len(dropped) == 1
            assert dropped[0].startswith("the operator console was dropped: a frame of")
            assert str(MAX_REQUEST + 1) in dropped[0]

            console, _ = await attached(host)
            assert isinstance(await console.ask(Poll(1)), View)
            await console.aclose()


async def test_a_second_hello_breaks_the_protocol(loopback_clock, logs):
    with trio.fail_after(10):
        async with serving() as host:
            console, _ = await attached(host)
            await console.send(Hello(host.token))
            assert await console.reply() is None
            assert "a Hello after the hello" in " ".join(messages(logs, "clank_lan.tui", logging.WARNING))
            await until(lambda: not host.attached, "the console detached")
            await console.aclose()


async def test_stop_shuts_the_engine_down(loopback_clock):
    with trio.fail_after(10):
        async with serving() as host:
            engine = host.engine
            console, _ = await attached(host)
            assert not engine.shutdown_called
            assert await console.ask(Stop(8)) == Lines(8, [])
            assert engine.shutdown_called
            assert engine.stopped is not None and engine.stopped.is_set()
            await console.aclose()


async def test_a_record_goes_to_the_console_logger_at_its_level(loopback_clock, logs):
    with trio.fail_after(10):
        async with serving() as host:
            console, _ = await attached(host)
            await console.send(Record("warning", "the screen failed: boom"))
            await console.send(Record("debug", "a detail"))
            await console.send(Record("nonsense", "an unknown level"))
            # a record wants no answer: the next reply is the poll's
            assert isinstance(await console.ask(Poll(1)), View)
            await console.aclose()

    got = [(r.levelno, r.getMessage()) for r in logs.records if r.name == "clank_lan.tui.console"]
    # debug is below the captured level; an unknown level is logged as an error
    assert got == [(logging.WARNING, "the screen failed: boom"), (logging.ERROR, "an unknown level")]


async def test_the_link_file_lives_as_long_as_the_host(loopback_clock, tmp_path):
    link = tmp_path / "sub" / LINK_FILE
    with trio.fail_after(10):
        async with serving(link_file=link) as host:
            assert link.is_file()
            assert LinkAddress.from_json(link.read_text(encoding="utf-8")) == host.address
            if os.name == "posix":
                assert stat.S_IMODE(link.stat().st_mode) == 0o600
            # the address in it works
            console, _ = await attached(host)
            await console.aclose()
    assert not link.exists()


async def test_a_stale_link_file_is_replaced(loopback_clock, tmp_path):
    link = tmp_path / LINK_FILE
    link.write_text(LinkAddress("127.0.0.1", 1, "old").to_json(), encoding="utf-8")
    with trio.fail_after(10):
        async with serving(link_file=link) as host:
            assert LinkAddress.from_json(link.read_text(encoding="utf-8")) == host.address
    assert not link.exists()


# --- clank-lan attach -------------------------------------------------------------------------


def test_attach_without_a_running_appliance_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(LINK_ENV, raising=False)
    assert attach.run(argparse.Namespace(data=tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("clank-lan attach: no appliance is running")
    assert str(tmp_path) in err


def test_attach_with_a_broken_link_file_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(LINK_ENV, raising=False)
    (tmp_path / LINK_FILE).write_text("{not json", encoding="utf-8")
    assert attach.run(argparse.Namespace(data=tmp_path)) == 2
    assert "not a console link" in capsys.readouterr().err


def test_attach_reads_the_link_file_and_prefers_the_environment(tmp_path, monkeypatch):
    from_file = LinkAddress("127.0.0.1", 40001, "file-token")
    from_env = LinkAddress("127.0.0.1", 40002, "env-token")
    (tmp_path / LINK_FILE).write_text(from_file.to_json(), encoding="utf-8")
    args = argparse.Namespace(data=tmp_path)

    monkeypatch.delenv(LINK_ENV, raising=False)
    assert attach.link_address(args) == from_file
    monkeypatch.setenv(LINK_ENV, from_env.to_json())
    assert attach.link_address(args) == from_env
    monkeypatch.setenv(LINK_ENV, "garbage")
    with pytest.raises(ValueError, match="not a console link"):
        attach.link_address(args)


# --- the console's end (asyncio) --------------------------------------------------------------


def run_async(main: Callable[[], object], timeout: float = 10) -> None:
    asyncio.run(asyncio.wait_for(main(), timeout))


@asynccontextmanager
async def guest_host(engine: FakeEngine | None = None) -> AsyncIterator[tuple[ConsoleHost, TrioGuest]]:
    """The engine's end in a trio guest of this asyncio loop, as the console tests run it."""
    engine = engine or fixed_state(FakeEngine())
    host = ConsoleHost(engine)
    guest = TrioGuest()
    ready = asyncio.Event()

    async def main(nursery: trio.Nursery) -> None:
        engine.stopped = trio.Event()
        await nursery.start(host.run)
        ready.set()
        await engine.stopped.wait()

    guest.start(main)
    try:
        await asyncio.wait_for(ready.wait(), 5)
        yield host, guest
    finally:
        guest.cancel()
        await guest.wait_done(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connecting_where_nothing_listens_is_link_closed():
    port = free_port()

    async def main() -> None:
        with pytest.raises(LinkClosed, match=f"no appliance answers at 127.0.0.1:{port}"):
            await EngineLink.connect(LinkAddress("127.0.0.1", port, "t"), timeout=5)

    run_async(main)


@pytest.fixture
def link_writers(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.StreamWriter]:
    """The client writers ``EngineLink.connect`` opens (closed at the end of the test)."""
    writers: list[asyncio.StreamWriter] = []
    real = asyncio.open_connection

    async def recording(*args, **kwargs):
        reader, writer = await real(*args, **kwargs)
        writers.append(writer)
        return reader, writer

    monkeypatch.setattr(asyncio, "open_connection", recording)
    return writers


async def never_welcome(attempt: Callable[[int], object]) -> None:
    """``attempt(port)`` against a listener that accepts and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        await attempt(server.sockets[0].getsockname()[1])
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


def test_connecting_to_a_listener_that_never_welcomes_times_out(link_writers):
    async def attempt(port: int) -> None:
        with pytest.raises(LinkClosed, match=f"no appliance answers at 127.0.0.1:{port} .TimeoutError"):
            await EngineLink.connect(LinkAddress("127.0.0.1", port, "t"), timeout=0.05)

    async def main() -> None:
        try:
            await never_welcome(attempt)
        finally:
            for w in link_writers:  # see the test below
                w.close()

    run_async(main)


def test_a_connect_that_times_out_closes_its_socket(link_writers):
    async def attempt(port: int) -> None:
        with pytest.raises(LinkClosed):
            await EngineLink.connect(LinkAddress("127.0.0.1", port, "t"), timeout=0.05)
        assert len(link_writers) == 1
        assert link_writers[0].is_closing()

    async def main() -> None:
        try:
            await never_welcome(attempt)
        finally:
            for w in link_writers:
                w.close()

    run_async(main)


def test_a_wrong_token_is_link_closed_with_the_reason():
    async def main() -> None:
        async with guest_host() as (host, _):
            assert host.address is not None
            wrong = LinkAddress(host.address.host, host.address.port, "x" + host.token)
            with pytest.raises(LinkClosed, match="wrong token") as err:
                await EngineLink.connect(wrong, timeout=5)
            assert "refused this console" in str(err.value)

    run_async(main)


def test_a_second_link_is_refused_while_one_is_attached():
    async def main() -> None:
        async with guest_host() as (host, _):
            assert host.address is not None
            link = await EngineLink.connect(host.address, timeout=5)
            try:
                with pytest.raises(LinkClosed, match="another operator console"):
                    await EngineLink.connect(host.address, timeout=5)
            finally:
                await link.close()

    run_async(main)


def test_a_link_polls_runs_and_is_closed_when_the_engine_goes(logs):
    async def main() -> None:
        async with guest_host() as (host, guest):
            assert host.address is not None
            link = await EngineLink.connect(host.address, timeout=5)
            assert dict(link.welcome.paths)["data"] == "/srv/clank/data"

            view = await link.request(lambda i: Poll(i))
            assert isinstance(view, View) and view.id == 1
            assert {r.cells[0] for r in view.tables["players-table"]} == PLAYERS
            lines = await link.request(lambda i: Run(i, "status"))
            assert isinstance(lines, Lines) and lines.id == 2

            # a record of the console's own reaches the engine's log, before the next answer
            link.record("warning", "the console's own trouble")
            assert isinstance(await link.request(lambda i: Poll(i, full=False)), View)
            assert messages(logs, "clank_lan.tui.console", logging.WARNING) == ["the console's own trouble"]

            guest.cancel()
            await guest.wait_done(5)
            await asyncio.wait_for(link.closed.wait(), 5)
            assert "closed the line" in link.reason
            with pytest.raises(LinkClosed):
                await link.request(lambda i: Poll(i))
            await link.close()

    run_async(main)


def test_a_stop_through_the_link_ends_the_engine():
    async def main() -> None:
        engine = fixed_state(FakeEngine())
        async with guest_host(engine) as (host, guest):
            assert host.address is not None
            link = await EngineLink.connect(host.address, timeout=5)
            assert await link.request(lambda i: Stop(i)) == Lines(1, [])
            assert engine.shutdown_called
            # the guest's main returns once the engine stopped: the run ends, and the line with it
            await guest.wait_done(5)
            await asyncio.wait_for(link.closed.wait(), 5)
            await link.close()

    run_async(main)


def test_the_consoles_own_records_and_tracebacks_reach_the_engines_log(logs):
    """The console's process writes no log file: its records, a failure's traceback included, go
    to the engine, which logs them under the console's logger (and never sends them back)."""

    async def main() -> None:
        async with guest_host() as (host, _guest):
            assert host.address is not None
            link = await EngineLink.connect(host.address, timeout=5)
            root = logging.getLogger("clank_lan")
            before = list(root.handlers)
            with forward_records(link):
                try:
                    raise KeyError("a bug in a dialog")
                except KeyError:
                    logging.getLogger("clank_lan.tui").critical("the console failed", exc_info=True)
                assert isinstance(await link.request(lambda i: Poll(i, full=False)), View)
            assert root.handlers == before
            [text] = messages(logs, CONSOLE_LOGGER, logging.CRITICAL)
            assert text.startswith("the console failed\nTraceback")
            assert "KeyError: 'a bug in a dialog'" in text
            await link.close()

    run_async(main)
