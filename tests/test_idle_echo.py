"""What an idle console costs: its keepalive CLIENT_ECHO takes a short way through the lobby
connection (``RtEndpoint.receive_echo``), with the same answer and the same frame log records as
the general path; the shell does not wake up for deadlines nobody wants; the log writer formats a
repeated small frame once. Sans-IO, or trio's fake clock: no sockets, no sleeps."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import trio
import trio.testing

from clank_lan import logs
from clank_lan.config import TimeoutSettings
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.hexlog import format_frame
from clank_lan.rt.endpoint import ECHO_MEMO_PAYLOAD
from clank_lan.rt.outbox import Outbox
from clank_lan.servers import tcp
from clank_lan.servers.lobby_conn import IDLE_AFTER, LOBBY_MAX_FRAME, LobbyConnection, Phase
from tests.frame_lines import frame_lines
from tests.test_lobby_handshake import EchoApp, make_pair, pump

T0 = 1_700_000_000.25


@pytest.fixture
def frames_seen():
    """The frame log records, formatted (no log file: ``FrameLogger`` falls back to FRAMES)."""
    with frame_lines() as lines:
        yield lines


def ready(version: int = 108, encrypt: bool = True, app: EchoApp | None = None):
    app, server, client = make_pair(version, encrypt, app)
    client.start()
    pump(server, client)
    assert server.phase is Phase.READY
    return app, server, client


def echo_bytes(client) -> bytes:
    client.echo()
    return client.outbox.take()


def count_decrypts(server: LobbyConnection) -> list[int]:
    """How often the connection opens a frame from now on."""
    calls = [0]
    cipher = server.link.cipher
    inner = cipher.decrypt

    def counted(raw):
        calls[0] += 1
        return inner(raw)

    cipher.decrypt = counted  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("version", [108, 110])
@pytest.mark.parametrize("encrypt", [True, False])
def test_an_echo_is_answered_and_logged_the_same_on_the_short_way(frames_seen, version, encrypt):
    _app, server, client = ready(version, encrypt)
    wire = echo_bytes(client)
    decrypts = count_decrypts(server)
    got = []
    for _ in range(3):  # the first is opened (and remembered), the others are compared
        del frames_seen[:]
        server.data_received(wire, 5.0)
        got.append((server.outbox.take(), list(frames_seen)))
    assert decrypts[0] == 1
    # The general path, for the same bytes: what ``receive`` gives without the short way.
    del frames_seen[:]
    assert list(server.rt.receive(wire)) == []
    general = (server.outbox.take(), list(frames_seen))
    assert got == [general] * 3
    answer, records = general
    assert len(answer) == len(wire) and [r.split()[2] for r in records] == ["recv", "send"]
    (back,) = client.feed(answer)  # the client opens it: its own echo, returned
    assert (back.frame.id, back.frame.payload) == (0x05, b"\xa5")
    assert server.link.frames_in > 3


def test_the_short_way_counts_as_traffic_and_keeps_the_stream_offset():
    _app, server, client = ready()
    wire = echo_bytes(client)
    before = server.link.frames_in
    server.data_received(wire, 5.0)
    server.data_received(wire, 7.0)
    assert server.link.frames_in == before + 2
    assert server.last_rx == 7.0 and server.link.partial_since is None
    assert server.next_deadline() == 7.0 + TimeoutSettings().client
    offset = server.link.deframer.offset
    with pytest.raises(ProtocolError) as err:  # a frame over the limit: said where it starts
        server.data_received(bytes((0x0B,)) + (LOBBY_MAX_FRAME + 1).to_bytes(2, "little"), 8.0)
    assert err.value.offset == offset


def test_a_console_is_idle_after_keepalives_alone_for_a_while_and_busy_again_at_a_request():
    """What lets the TCP shell poll an idle console's socket instead of waking for its keepalive
    (``servers.tcp``'s ``input_can_wait``): only echoes for ``IDLE_AFTER`` seconds; any other
    input makes the next one prompt again, for as long again."""
    _app, server, client = ready()  # the handshake's input came at 0.0
    wire = echo_bytes(client)
    server.data_received(wire, 1.0)
    assert not server.input_can_wait  # echoes, but a request came only a second ago
    server.data_received(wire, IDLE_AFTER)
    assert server.input_can_wait
    client.send_app(b"\x01\x07hi")
    server.data_received(client.outbox.take(), 10.0)
    assert not server.input_can_wait
    server.data_received(wire, 10.0 + IDLE_AFTER - 0.5)
    assert not server.input_can_wait
    server.data_received(wire, 10.0 + IDLE_AFTER)
    assert server.input_can_wait


def test_anything_but_a_lone_echo_takes_the_general_path():
    app, server, client = ready()
    wire = echo_bytes(client)
    server.data_received(wire, 1.0)
    server.outbox.take()
    # an echo and a Medius message in one segment: both handled, in order
    client.send_app(b"\x01\x07hi")
    server.data_received(wire + client.outbox.take(), 2.0)
    assert app.times[-1] == ("app", 2.0)
    # half an echo, then the rest: the frame is put together first
    server.data_received(wire[:2], 3.0)
    assert server.link.partial_since == 3.0
    server.data_received(wire[2:], 4.0)
    assert server.link.partial_since is None and server.last_rx == 4.0
    out = server.outbox.take()
    assert out.endswith(server.link.encode(0x05, b"\xa5"))


def test_no_short_way_for_a_judge_or_before_the_connection_is_ready():
    _app, server, client = ready()
    wire = echo_bytes(client)
    seen = []
    server.rt.on_frame = seen.append  # the replay judges every frame: it must see the echo
    server.data_received(wire, 1.0)
    assert [f.id for f in seen] == [0x05] and server.outbox.take()
    server.rt.on_frame = None
    assert server.rt.receive_echo(wire)
    server.rt.phase = Phase.KEYED
    assert not server.rt.receive_echo(wire)


def test_new_keys_forget_the_remembered_echo():
    _app, server, client = ready()
    wire = echo_bytes(client)
    server.data_received(wire, 1.0)
    first = server.outbox.take()
    server.link.cipher.set_key(3, os.urandom(64))  # (no lobby does this; the memo must not care)
    with pytest.raises(ProtocolError):  # opened again, under the new key: it does not verify
        server.data_received(wire, 2.0)
    assert first


def test_a_large_or_malformed_echo_is_not_remembered():
    _app, server, _client = ready(encrypt=False)
    big = bytes((0x05,)) + (ECHO_MEMO_PAYLOAD + 1).to_bytes(2, "little") + bytes(ECHO_MEMO_PAYLOAD + 1)
    assert not server.rt.receive_echo(big)
    server.data_received(big, 1.0)  # the general path answers it all the same
    assert server.outbox.take() == big
    assert not server.rt.receive_echo(bytes((0x05, 0x01)))


# --- the shell's timers -------------------------------------------------------------------------


class _Armed:
    """What ``_Shell`` needs of a connection."""

    def __init__(self) -> None:
        self.armed = math.inf
        self.armed_seq = 0
        self.dirty = False
        self.fired: list[float] = []

    def on_deadline(self, now: float) -> None:
        self.armed = math.inf
        self.fired.append(now)


async def test_the_shell_does_not_wake_for_an_ended_connections_deadline(autojump_clock):
    shell = tcp._shell()
    gone, stays = _Armed(), _Armed()
    start = trio.current_time()
    shell.arm(gone, start + 10)
    shell.arm(stays, start + 20)
    await trio.testing.wait_all_tasks_blocked()
    assert shell.head == start + 10
    shell.forget(gone)
    shell.wake.set()
    await trio.testing.wait_all_tasks_blocked()
    assert shell.head == start + 20  # the ended one's entry is dropped, not slept until
    await trio.sleep(30)
    assert gone.fired == [] and stays.fired == [start + 20]


class _Handshaking:
    """A protocol whose deadline is the handshake's until its first input, then an idle one."""

    def __init__(self, now: float) -> None:
        self.outbox = Outbox()
        self.handshaking = True
        self.created = now
        self.last = now
        self.timer_calls: list[float] = []

    def data_received(self, data: bytes, now: float) -> None:
        self.handshaking = False
        self.last = now

    def next_deadline(self) -> float:
        return self.created + 10 if self.handshaking else self.last + 30

    def on_timer(self, now: float) -> None:
        self.timer_calls.append(now)
        self.last = now  # (a real one would close the connection)

    def connection_lost(self, reason: str, now: float) -> None:
        pass


async def test_the_handshake_deadline_is_dropped_when_the_handshake_ends(autojump_clock):
    ours, theirs = trio.testing.memory_stream_pair()
    start = trio.current_time()
    proto = _Handshaking(start)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tcp.run_stream, ours, proto, "test")
        await trio.testing.wait_all_tasks_blocked()
        shell = tcp._shell()
        assert shell.head == proto.created + 10
        await trio.sleep(1)
        await theirs.send_all(b"hello")
        await trio.testing.wait_all_tasks_blocked()
        assert shell.head == proto.last + 30  # not the handshake's: no wakeup at +10 for nothing
        await trio.sleep(35)
        assert proto.timer_calls == [31.0 + start]  # the idle deadline still fires, on time
        nursery.cancel_scope.cancel()


# --- the log writer -----------------------------------------------------------------------------


def test_the_writer_formats_a_repeated_small_frame_once(tmp_path: Path, monkeypatch):
    writer = logs.LogWriter(tmp_path / "x.log", start=False)
    calls = []

    def counted(*args):
        calls.append(args[4])
        return format_frame(*args)

    monkeypatch.setattr(logs, "format_frame", counted)
    echo = ("MLS", "10.0.0.2:4000", "recv", 0x05, b"\xa5", 3, False, "")
    big = ("MLS", "10.0.0.2:4000", "send", 0x0A, bytes(range(100)), 1, False, "")
    for i in range(3):
        writer.put((T0 + i, *echo), 1)
    writer.put((T0 + 4, *big), 100)
    writer.put((T0 + 5, *big), 100)
    writer._write_batch(budgeted=False)
    writer.close()
    assert calls == [b"\xa5", bytes(range(100)), bytes(range(100))]  # big frames every time
    text = (tmp_path / "x.log").read_text()
    assert text.count(format_frame(*echo)) == 3 and text.count(format_frame(*big)) == 2


def test_the_writer_sleeps_between_chunks_not_after_the_last(tmp_path: Path, monkeypatch):
    writer = logs.LogWriter(tmp_path / "x.log", start=False)
    sleeps = []
    monkeypatch.setattr(logs.time, "sleep", sleeps.append)
    echo = ("MLS", "10.0.0.2:4000", "recv", 0x05, b"\xa5", 3, False, "")
    for i in range(logs.CHUNK + 1):  # two chunks: one pause, between them
        writer.put((T0 + i, *echo), 1)
    monkeypatch.setattr(writer, "_refill", lambda: None)  # (its figure depends on this process)
    writer._budget = 1.0
    writer._write_batch()
    assert len(sleeps) == 1 and not writer.queue
    writer.close()
