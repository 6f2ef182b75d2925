"""Playing a replay script against running servers over TCP (the trio part).

Each recorded connection is reopened to our server of the same service; our client re-derives the
RT handshake with fresh keys (as newserv re-derives its ciphers), then sends the recorded client
messages in recording order, re-encrypted under the new session. After a message that the recorded
server answered, the replay waits until ours has answered with every expected type (or sent
something and gone quiet, or the timeout passed), so the console's causality is kept without
depending on the recording's timing. Everything our server sends is attributed by the same rules
as the recording (``attribution``) and judged at the end (``results``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import trio

from clank_lan.client.rt_client import Connected, Disconnected, RtClient
from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.protocol.crypto.session import Frame
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius import CodecContext, decode_app
from clank_lan.protocol.rt_ids import RT
from clank_lan.replay.attribution import Attributor, Joiner, is_final
from clank_lan.replay.model import (
    APP_IDS,
    Connect,
    ConnScript,
    Disconnect,
    Exchange,
    ReplayScript,
    Send,
    Wire,
)
from clank_lan.replay.pairs import HANDSHAKE_SERVER, SERVER_INITIATED
from clank_lan.replay.results import ReplayReport, check_answers, check_handshake, check_unsolicited
from clank_lan.replay.script import build_script
from clank_lan.replay.sources import load_recording
from clank_lan.replay.substitute import ValueMap

READ_SIZE = 65536
#: The client key pair used when the recording's CRYPTKEY_PUBLIC is not one we know.
DEFAULT_CLIENT_KEY = "client_dl_ps2_ntsc"


class EngineLike(Protocol):
    def port(self, name: str) -> int: ...


@dataclass(frozen=True)
class Timing:
    """How long the replay waits (seconds); local servers answer in milliseconds."""

    handshake: float = 5.0  # for the RT handshake to complete
    answer: float = 2.0  # for an expected answer that does not come
    quiet: float = 0.05  # silence after a partial or unexpected answer that ends the wait
    grace: float = 0.2  # before closing a connection: late answers still count


@dataclass
class _Live:
    script: ConnScript
    stream: trio.SocketStream
    ctx: CodecContext
    rt: RtClient | None = None
    attributor: Attributor = field(default_factory=Attributor)
    joiner: Joiner = field(default_factory=Joiner)
    handshake: list[Wire] = field(default_factory=list)
    answers: dict[int, list[Wire]] = field(default_factory=dict)
    sent: dict[int, list[Wire]] = field(default_factory=dict)
    unsolicited: list[Wire] = field(default_factory=list)
    closed: str | None = None
    connected: trio.Event = field(default_factory=trio.Event)
    finished: trio.Event = field(default_factory=trio.Event)
    changed: trio.Event = field(default_factory=trio.Event)
    lock: trio.StrictFIFOLock = field(default_factory=trio.StrictFIFOLock)
    last_rx: float = 0.0
    received: int = 0

    def poke(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def on_frame(self, f: Frame) -> None:
        self.received += 1
        self.last_rx = trio.current_time()
        source = f"ours #{self.received}"
        if f.id in HANDSHAKE_SERVER:
            self.handshake.append(Wire(f.id, f.payload, source))
        elif f.id not in SERVER_INITIATED:
            try:
                wire = self.joiner.feed(f.id, f.payload, source)
            except ProtocolError as exc:
                self.unsolicited.append(Wire(f.id, f.payload, f"{source} (bad fragment: {exc.reason})"))
                wire = None
            if wire is not None:
                ex = self.attributor.attribute(wire.key, is_final(wire, self.ctx))
                if ex is None:
                    self.unsolicited.append(wire)
                else:
                    self.answers.setdefault(ex, []).append(wire)
        self.poke()

    async def flush(self) -> None:
        assert self.rt is not None
        async with self.lock:
            data = self.rt.outbox.take()
            if data:
                await self.stream.send_all(data)

    async def read(self) -> None:
        assert self.rt is not None
        try:
            while True:
                data = await self.stream.receive_some(READ_SIZE)
                if not data:
                    self.closed = self.closed or "closed by the server"
                    break
                for ev in self.rt.feed(data):
                    if isinstance(ev, Connected):
                        self.connected.set()
                    elif isinstance(ev, Disconnected):
                        self.closed = self.closed or ev.reason
                await self.flush()
        except ProtocolError as exc:
            self.closed = self.closed or f"protocol error from the server: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.closed = self.closed or f"connection lost: {exc!r}"
        finally:
            self.closed = self.closed or "closed"
            self.connected.set()
            self.finished.set()
            self.poke()


class _Runner:
    def __init__(self, script: ReplayScript, engine: EngineLike, host: str, timing: Timing) -> None:
        self.script = script
        self.engine = engine
        self.host = host
        self.timing = timing
        self.values = ValueMap()
        self.lives: dict[int, _Live] = {}
        self.refused: dict[int, str] = {}  # connection -> why it could not be opened
        self.unsent: dict[int, list[str]] = {}  # exchange -> why its messages were not sent
        self.client_key: RsaKey = keys.all_keys()[DEFAULT_CLIENT_KEY]
        self.nursery: trio.Nursery | None = None

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            for ev in self.script.events:
                if isinstance(ev, Connect):
                    await self.connect(ev)
                elif isinstance(ev, Send):
                    await self.send(ev)
                elif isinstance(ev, Disconnect):
                    await self.disconnect(ev)
            for live in self.lives.values():
                await self.close(live)
            nursery.cancel_scope.cancel()

    def _key_for(self, s: ConnScript) -> RsaKey:
        if s.modulus is not None:
            known = keys.key_for_modulus(int.from_bytes(s.modulus, "little"))
            if known is not None and known.d:
                self.client_key = known
        return self.client_key

    async def connect(self, ev: Connect) -> None:
        s = self.script.conns[ev.conn]
        port = self.engine.port(s.service.lower())
        world, session_key, access_token = self.values.connect_keys(s.world_id, s.session_key, s.access_token)
        try:
            stream = await trio.open_tcp_stream(self.host, port)
        except OSError as exc:
            self.refused[ev.conn] = f"cannot connect to {s.service} on {self.host}:{port}: {exc}"
            return
        live = _Live(s, stream, CodecContext(medius_version=s.version, app_id=s.app_id))
        live.rt = RtClient(
            on_frame=live.on_frame,  # keeps every frame the server sent: the replay judges them all
            service=s.service,
            peer=(self.host, port),
            version=s.version,
            app_id=s.app_id,
            world_id=world,
            encrypt=s.encrypt,
            client_key=self._key_for(s),
            session_key=session_key,
            access_token=access_token,
        )
        self.lives[ev.conn] = live
        live.rt.start()
        try:
            await live.flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            live.closed = f"connection lost: {exc!r}"
        assert self.nursery is not None
        self.nursery.start_soon(live.read)
        with trio.move_on_after(self.timing.handshake):
            await live.connected.wait()

    async def send(self, ev: Send) -> None:
        ex = self.script.exchanges[ev.exchange]
        live = self.lives.get(ev.conn)
        if live is None or live.closed is not None or live.rt is None or not live.rt.connected:
            why = live.closed if live is not None and live.closed else "the connection was never set up"
            self.unsent.setdefault(ex.index, []).append(f"{ev.wire.source} not sent: {why}")
            return
        payload = ev.wire.payload
        if ev.wire.rt_id in APP_IDS:
            payload = self.values.apply(payload, live.ctx)
        live.sent.setdefault(ex.index, []).append(Wire(ev.wire.rt_id, payload, ev.wire.source))
        live.attributor.open(ex.index, ex.candidates)
        if ev.wire.rt_id == RT.CLIENT_APP_TOSERVER:
            live.rt.send_app(payload)
        else:
            live.rt.link.send(ev.wire.rt_id, payload)
        try:
            await live.flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            live.closed = live.closed or f"connection lost: {exc!r}"
        if ex.expected:
            await self._wait(live, ex)
        self._learn(live, ex)

    async def _wait(self, live: _Live, ex: Exchange) -> None:
        want = {w.key for w in ex.expected}
        deadline = trio.current_time() + self.timing.answer
        while True:
            changed = live.changed
            got = live.answers.get(ex.index, [])
            if want <= {w.key for w in got} or live.closed is not None:
                return
            now = trio.current_time()
            until = deadline
            if got:
                until = min(deadline, live.last_rx + self.timing.quiet)
            if now >= until:
                return
            with trio.move_on_at(until):
                await changed.wait()

    def _learn(self, live: _Live, ex: Exchange) -> None:
        ours = {w.key: w for w in reversed(live.answers.get(ex.index, []))}
        for w in ex.expected:
            mine = ours.get(w.key)
            if mine is None or w.rt_id not in APP_IDS:
                continue
            try:
                self.values.learn(decode_app(w.payload, live.ctx), decode_app(mine.payload, live.ctx))
            except ProtocolError:
                continue

    async def disconnect(self, ev: Disconnect) -> None:
        live = self.lives.get(ev.conn)
        if live is None:
            return
        if ev.wire is not None and live.closed is None and live.rt is not None:
            live.rt.link.send(ev.wire.rt_id, ev.wire.payload)
            try:
                await live.flush()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        await self.close(live)

    async def close(self, live: _Live) -> None:
        with trio.move_on_after(self.timing.grace):
            await live.finished.wait()
        live.closed = live.closed or "closed by the replay"
        with trio.CancelScope(shield=True):
            await live.stream.aclose()

    # judging -----------------------------------------------------------------------------------
    def report(self) -> ReplayReport:
        rep = ReplayReport(self.script.name, notes=list(self.script.notes))
        for s in self.script.conns:
            if not any(isinstance(e, Connect) and e.conn == s.index for e in self.script.events):
                continue
            live = self.lives.get(s.index)
            ctx = CodecContext(medius_version=s.version, app_id=s.app_id)
            if live is None:
                why = self.refused.get(s.index, "not connected")
            elif live.rt is None or not live.rt.connected:
                why = f"handshake not completed: {live.closed}"
            else:
                why = ""
            ours = live.handshake if live is not None else []
            rep.steps.append(check_handshake(s.label, s.connect_source, s.handshake, ours, ctx, why))
            for ex in s.exchanges:
                rep.steps.append(
                    check_answers(
                        s.label,
                        ex.source,
                        ex.what,
                        live.sent.get(ex.index, ()) if live else (),
                        ex.expected,
                        live.answers.get(ex.index, ()) if live else (),
                        ctx,
                        self.unsent.get(ex.index, ()),
                    )
                )
            extra = check_unsolicited(s.label, s.unsolicited, live.unsolicited if live else ())
            if extra is not None:
                rep.steps.append(extra)
            if s.skipped:
                parts = ", ".join(f"{n} {name}" for name, n in s.skipped.items())
                rep.notes.append(
                    f"{s.label}: client replies to server-initiated frames not replayed: {parts}"
                )
        return rep


async def replay(
    script: ReplayScript, engine: EngineLike, *, host: str | None = None, timing: Timing = Timing()
) -> ReplayReport:
    """Play ``script`` against ``engine``'s lobby servers; the report judges every step."""
    if host is None:
        addresses = getattr(engine, "addresses", None)
        host = getattr(addresses, "bind", None) or "127.0.0.1"
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
    started = time.monotonic()
    runner = _Runner(script, engine, host, timing)
    await runner.run()
    rep = runner.report()
    rep.duration = time.monotonic() - started
    return rep


async def replay_log(
    source: str | Path | bytes, engine: EngineLike, *, host: str | None = None, timing: Timing = Timing()
) -> ReplayReport:
    """Replay a recorded session (a capture, a frame log of ours, or a decrypted text dump; a path,
    bytes or text) against ``engine``: the helper for turning bug-report logs into tests."""
    return await replay(build_script(load_recording(source)), engine, host=host, timing=timing)
