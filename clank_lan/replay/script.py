"""Recorded frames -> a replay script (sans-IO): connections, events, and the recorded answers.

Client frames become events: the handshake frames only configure the CONNECT (HELLO version,
whether CRYPTKEY_PUBLIC was encrypted, CONNECT_TCP's app id, world and keys); Medius messages and
echoes become SENDs; CLIENT_DISCONNECT ends the connection. Server frames are the expectation:
the handshake sequence per connection, and every other frame attributed to the client message it
answers (``attribution``). Frames the client sent in reply to server-initiated ones (SERVER_ECHO,
cheat queries) are not replayed: our client answers our server's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import split_frames
from clank_lan.protocol.medius import CodecContext
from clank_lan.protocol.rt_ids import RT, rt_name
from clank_lan.replay.attribution import Attributor, Joiner, is_final
from clank_lan.replay.model import (
    RECV,
    Connect,
    ConnScript,
    Disconnect,
    Exchange,
    MsgKey,
    Recorded,
    ReplayScript,
    Send,
    Wire,
)
from clank_lan.replay.pairs import (
    CLIENT_REPLIES,
    DISCONNECTS,
    HANDSHAKE_CLIENT,
    HANDSHAKE_SERVER,
    SERVER_INITIATED,
    answers_to,
    expects_answer,
)
from clank_lan.replay.sources import Recording

#: The services a replay can reconnect to (the DME needs a game world and is not replayed).
LOBBY_SERVICES = ("MUIS", "MAS", "MLS")
#: The service name the headless client logs its own frames under (``RtClient``).
CLIENT_LOG = "client"


@dataclass
class _Conn:
    script: ConnScript
    attributor: Attributor = field(default_factory=Attributor)
    joiner: Joiner = field(default_factory=Joiner)
    connected: bool = False
    closed: bool = False
    seen: set[int] = field(default_factory=set)
    last_by_key: dict[MsgKey, int] = field(default_factory=dict)

    @property
    def ctx(self) -> CodecContext:
        return CodecContext(medius_version=self.script.version, app_id=self.script.app_id)


class _Builder:
    def __init__(self, name: str) -> None:
        self.out = ReplayScript(name)
        self.conns: dict[tuple[str, str], _Conn] = {}
        self.other: dict[str, int] = {}

    def note(self, text: str) -> None:
        self.out.notes.append(text)

    def _conn(self, r: Recorded) -> _Conn:
        key = (r.service, r.conn)
        c = self.conns.get(key)
        restart = c is not None and r.direction == RECV and r.rt_id in HANDSHAKE_CLIENT
        if c is None or (restart and (c.closed or r.rt_id in c.seen)):
            label = f"{r.service} {r.conn}"
            again = sum(1 for s in self.out.conns if s.label.split(" #")[0] == label)
            script = ConnScript(len(self.out.conns), f"{label} #{again + 1}" if again else label, r.service)
            self.out.conns.append(script)
            c = self.conns[key] = _Conn(script)
        return c

    def feed(self, r: Recorded) -> None:
        if r.service not in LOBBY_SERVICES:
            self.other[r.service] = self.other.get(r.service, 0) + 1
            return
        c = self._conn(r)
        if r.payload is None:
            if r.direction == RECV and r.rt_id == RT.CLIENT_CRYPTKEY_PUBLIC:
                c.script.encrypt = r.encrypted  # its content is not needed: our client sends its own
                c.seen.add(r.rt_id)
            else:
                self.note(f"{r.source}: {rt_name(r.rt_id)} was not decrypted; left out")
            return
        if r.direction == RECV:
            self._client(c, r, r.payload)
        else:
            self._server(c, r, r.payload)

    # client frames -----------------------------------------------------------------------------
    def _client(self, c: _Conn, r: Recorded, payload: bytes) -> None:
        rid = r.rt_id
        s = c.script
        if rid in HANDSHAKE_CLIENT:
            c.seen.add(rid)
        if rid == RT.CLIENT_HELLO:
            s.version = rtm.ClientHello.decode(payload, s.version).version
        elif rid == RT.CLIENT_CRYPTKEY_PUBLIC:
            s.encrypt = r.encrypted
            s.modulus = payload if len(payload) == 64 else None
        elif rid == RT.CLIENT_CONNECT_TCP:
            self._connect(c, r, payload)
        elif rid in HANDSHAKE_CLIENT or rid in CLIENT_REPLIES:
            if rid in CLIENT_REPLIES:
                s.skipped[rt_name(rid)] = s.skipped.get(rt_name(rid), 0) + 1
        elif rid in DISCONNECTS:
            if c.connected and not c.closed:
                self.out.events.append(Disconnect(s.index, Wire(rid, payload, r.source)))
            c.closed = True
        elif rid == RT.CLIENT_MULTI_APP_TOSERVER:
            for inner in split_frames(payload):
                self._request(c, inner.id, inner.payload, r.source)
        else:
            self._request(c, rid, payload, r.source)

    def _connect(self, c: _Conn, r: Recorded, payload: bytes) -> None:
        s = c.script
        try:
            req = rtm.ClientConnectTcp.decode(payload, s.version)
        except ProtocolError as exc:
            self.note(f"{r.source}: CONNECT_TCP not understood ({exc}); {s.label} is not replayed")
            return
        s.app_id, s.world_id = req.app_id, req.world_id
        s.session_key, s.access_token = req.session_key, req.access_token
        s.connect_source = r.source
        if not c.connected:
            c.connected = True
            self.out.events.append(Connect(s.index))

    def _request(self, c: _Conn, rt_id: int, payload: bytes, source: str) -> None:
        s = c.script
        if not c.connected or c.closed:
            why = "before its CONNECT_TCP" if not c.connected else "after its disconnect"
            self.note(f"{source}: {rt_name(rt_id)} on {s.label} {why}; left out")
            return
        wire = Wire(rt_id, payload, source)
        prev = c.last_by_key.get(wire.key)
        ex = self.out.exchanges[prev] if prev is not None else None
        if (
            ex is not None
            and rt_id == RT.CLIENT_APP_TOSERVER
            and expects_answer(wire.key)
            and ex.requests[-1].payload == payload
            and not ex.expected
        ):  # the same request again before any answer: a retry
            ex.requests.append(wire)
        else:
            ex = Exchange(len(self.out.exchanges), s.index, [wire], answers_to(wire.key))
            self.out.exchanges.append(ex)
            s.exchanges.append(ex)
            c.last_by_key[wire.key] = ex.index
        c.attributor.open(ex.index, ex.candidates)
        self.out.events.append(Send(s.index, ex.index, wire))

    # server frames -----------------------------------------------------------------------------
    def _server(self, c: _Conn, r: Recorded, payload: bytes) -> None:
        rid = r.rt_id
        if rid in HANDSHAKE_SERVER:
            c.script.handshake.append(Wire(rid, payload, r.source))
        elif rid in SERVER_INITIATED:
            return
        elif rid == RT.SERVER_MULTI_APP_TOCLIENT:
            for inner in split_frames(payload):
                self._answer(c, inner.id, inner.payload, r.source)
        else:
            self._answer(c, rid, payload, r.source)

    def _answer(self, c: _Conn, rt_id: int, payload: bytes, source: str) -> None:
        try:
            wire = c.joiner.feed(rt_id, payload, source)
        except ProtocolError as exc:
            self.note(f"{source}: bad PacketFragment ({exc}); left out")
            return
        if wire is None:
            return
        ex = c.attributor.attribute(wire.key, is_final(wire, c.ctx))
        if ex is None:
            c.script.unsolicited.append(wire)
        else:
            self.out.exchanges[ex].expected.append(wire)

    def finish(self) -> ReplayScript:
        for c in self.conns.values():
            if c.connected and not c.closed:
                self.out.events.append(Disconnect(c.script.index, None))
                c.closed = True
        for service, n in sorted(self.other.items()):
            if service == CLIENT_LOG:
                self.note(f"{n} frames logged by the headless client itself left out (the servers' are used)")
            else:
                self.note(f"{n} {service} frames not replayed (only {', '.join(LOBBY_SERVICES)} are)")
        for s in self.out.conns:
            if not any(isinstance(e, Connect) and e.conn == s.index for e in self.out.events):
                self.note(f"{s.label}: no CONNECT_TCP recorded; not replayed")
        return self.out


def build_script(recording: Recording) -> ReplayScript:
    b = _Builder(recording.name)
    for note in recording.notes:
        b.note(note)
    for r in recording.frames:
        b.feed(r)
    return b.finish()
