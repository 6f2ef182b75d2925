"""The headless client's lobby side: log in through MUIS/MAS/MLS as a PS2 does, then chat,
list, create and join games up to the DME hand-off. A Python API for tests and benchmarks, and
the engine of ``clank-lan client``.

Usage::

    async with LobbyClient.open("127.0.0.1", profile("uya"), ports) as c:
        await c.login("alice", "pw")
        await c.chat("hello")
        game_id = await c.create_game("my game")
        join = await c.join_game(game_id)     # -> JoinInfo for the DME
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import msgspec
import trio

from clank_lan import ports
from clank_lan.client.dme_client import DmeParams
from clank_lan.client.profiles import ClientProfile
from clank_lan.client.rt_client import AppMessage, Connected, Disconnected, OtherFrame, RtClient
from clank_lan.protocol import medius as m
from clank_lan.protocol.medius import CodecContext, Reassembler, decode_app, encode_app
from clank_lan.protocol.medius.enums import CallbackStatus, ChatMessageType, UniverseInfo
from clank_lan.protocol.rt_ids import RT
from clank_lan.protocol.rt_messages import ServerSystemMessage

READ_SIZE = 65536
#: Entries kept in ``LobbyClient.history`` (what the client sent, for diagnostics and tests).
HISTORY = 256
#: After an operator command's first answer line, how long to wait for more lines.
ADMIN_QUIET = 0.2


class ClientError(Exception):
    """The server refused something or did not answer; the text says what."""


class LobbyClosed(ClientError):
    """The server ended the lobby connection (a kick, a ban, a shutdown); the text says why."""


@dataclass(frozen=True)
class SystemMessage:
    """An RT SERVER_SYSTEM_MESSAGE: what the server tells the player (a kick reason, an answer to
    an operator command)."""

    text: str


@dataclass(frozen=True)
class Ports:
    muis: int = ports.MUIS
    mas: int = ports.MAS
    mls: int = ports.MLS


@dataclass(frozen=True)
class JoinInfo:
    """What a console needs to connect to the DME after JoinGame."""

    game_id: int
    host_type: int
    connection_type: int
    dme_ip: str
    dme_port: int
    nat_ip: str
    nat_port: int
    world_id: int
    session_key: str
    access_key: str


@dataclass
class LoginInfo:
    account_id: int
    world_id: int
    mls_ip: str
    mls_port: int
    session_key: str
    access_key: str


class MediusLink:
    """One RT connection carrying Medius messages, with request/response matching.

    A reply is the answer to a request when it carries the request's message id AND is of the
    response type the request expects: the server copies the sender's message id into chat
    forwards, so the id alone can match another player's forwarded line.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        rt: RtClient,
        ctx: CodecContext,
        *,
        name: str = "",
        history: deque[tuple[str, str]] | None = None,
    ) -> None:
        self.stream = stream
        self.rt = rt
        self.ctx = ctx
        self.name = name or rt.link.service
        self.history: deque[tuple[str, str]] = history if history is not None else deque(maxlen=HISTORY)
        self._ids = itertools.count(1)
        self._waiters: dict[str, tuple[tuple[type, ...], trio.MemorySendChannel]] = {}
        send, recv = trio.open_memory_channel[object](1000)
        self._unsolicited_send = send
        self.unsolicited: trio.MemoryReceiveChannel = recv
        #: The latest system messages (at most HISTORY); ``system_total`` counts every one.
        self.system_messages: deque[str] = deque(maxlen=HISTORY)
        self.system_total = 0
        self._system_arrived = trio.Event()
        self._connected = trio.Event()
        self.ended = trio.Event()
        self._closed: str | None = None
        self._closing = False  # we ended it ourselves
        self._reasm = Reassembler()
        self._send_lock = trio.StrictFIFOLock()

    @property
    def closed_reason(self) -> str | None:
        """Why the connection ended (None while it is up)."""
        return self._closed

    @property
    def closed_by_server(self) -> bool:
        return self.ended.is_set() and not self._closing

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Read frames until the connection ends (run inside the client's nursery)."""
        self.history.append((self.name, "connect"))
        self.rt.start()
        await self._flush()
        task_status.started()
        try:
            while True:
                data = await self.stream.receive_some(READ_SIZE)
                if not data:
                    break
                for ev in self.rt.feed(data):
                    self._dispatch(ev)
                await self._flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self._closed = self._closed or "connection closed"
            self._connected.set()
            self.ended.set()
            self._system_arrived.set()
            for _types, w in list(self._waiters.values()):
                w.close()
            self._unsolicited_send.close()
            # the server ended it (or the client is closing): the socket goes now, not whenever
            # the garbage collector finds it (a refused login would otherwise keep its descriptor)
            await trio.aclose_forcefully(self.stream)

    def _dispatch(self, ev: object) -> None:
        if isinstance(ev, Connected):
            self._connected.set()
        elif isinstance(ev, AppMessage):
            payload = ev.payload
            if payload[:2] == b"\x00\x02":  # a DME PacketFragment: collect the pieces
                whole = self._reasm.feed(payload)
                if whole is None:
                    return
                payload = whole
            msg = decode_app(payload, self.ctx)
            mid = getattr(msg, "message_id", None)
            waiter = self._waiters.get(mid) if mid else None
            if waiter is not None and isinstance(msg, waiter[0]):
                try:
                    waiter[1].send_nowait(msg)
                except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                    pass
            else:
                self._unsolicited(msg)
        elif isinstance(ev, Disconnected):
            self._closed = ev.reason
        elif isinstance(ev, OtherFrame) and ev.frame.id == RT.SERVER_SYSTEM_MESSAGE:
            text = ServerSystemMessage.decode(ev.frame.payload, self.rt.version).text
            self.system_messages.append(text)
            self.system_total += 1
            self._unsolicited(SystemMessage(text))
            self._system_arrived.set()
            self._system_arrived = trio.Event()

    def _unsolicited(self, msg: object) -> None:
        try:
            self._unsolicited_send.send_nowait(msg)
        except (trio.WouldBlock, trio.ClosedResourceError):
            pass

    async def _flush(self) -> None:
        async with self._send_lock:
            data = self.rt.outbox.take()
            if data:
                await self.stream.send_all(data)

    async def connected(self, timeout: float = 10.0) -> None:
        with trio.move_on_after(timeout):
            await self._connected.wait()
        if not self.rt.connected:
            raise ClientError(f"RT handshake did not complete: {self._closed or 'timeout'}")

    def new_id(self) -> str:
        return f"c{next(self._ids)}"

    async def send(self, msg: m.MediusMessage) -> None:
        self.history.append((self.name, type(msg).__name__))
        self.rt.send_app(encode_app(msg, self.ctx))
        await self._flush()

    async def request(
        self,
        msg: m.MediusMessage,
        expect: type | tuple[type, ...],
        *,
        many: bool = False,
        timeout: float = 10.0,
        until: Callable[[object], bool] | None = None,
    ):
        """Send ``msg`` with a fresh message id; return the answer of type ``expect`` (or every
        item of a list, up to the one with ``end_of_list``, or the first for which ``until`` is
        true)."""
        mid = self.new_id()
        msg = msgspec.structs.replace(msg, message_id=mid)
        send, recv = trio.open_memory_channel[object](math.inf)
        self._waiters[mid] = (expect if isinstance(expect, tuple) else (expect,), send)
        try:
            await self.send(msg)
            out = []
            with trio.fail_after(timeout):
                async for reply in recv:
                    out.append(reply)
                    if until is not None:
                        if until(reply):
                            break
                    elif not many or _last_of_list(reply):
                        break
        except trio.TooSlowError:
            raise ClientError(f"no answer to {msg.name} within {timeout:g} s") from None
        finally:
            self._waiters.pop(mid, None)
        if not out:
            raise ClientError(f"connection closed while waiting for the answer to {msg.name}: {self._closed}")
        return out if many else out[0]

    async def system_messages_after(self, seen: int, timeout: float, quiet: float = ADMIN_QUIET) -> list[str]:
        """The system messages after the first ``seen`` (of ``system_total``): waits up to
        ``timeout`` for the first, then until none came for ``quiet`` seconds."""
        with trio.move_on_after(timeout):
            while self.system_total <= seen and not self.ended.is_set():
                await self._system_arrived.wait()
        while not self.ended.is_set():
            count = self.system_total
            with trio.move_on_after(quiet):
                await self._system_arrived.wait()
            if self.system_total == count:
                break
        new = min(self.system_total - seen, len(self.system_messages))
        return list(self.system_messages)[len(self.system_messages) - new :]

    async def aclose(self) -> None:
        """End the connection as a console does: CLIENT_DISCONNECT, then close the socket."""
        self._closing = True
        if not self.ended.is_set():
            self.history.append((self.name, "disconnect"))
            try:
                self.rt.disconnect()
                await self._flush()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await self.stream.aclose()


def _only_error(group: BaseExceptionGroup) -> BaseException | None:
    """The one exception inside nested single-member groups, or None when there are several."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


async def _open_tcp(host: str, port: int) -> trio.abc.Stream:
    """``trio.open_tcp_stream``, looked up at each call (the benchmarks wrap it to time connects)."""
    return await trio.open_tcp_stream(host, port)


def _closed_text(link: MediusLink) -> str:
    """Why the server ended ``link``, with the last things it said."""
    said = list(link.system_messages)[-3:]
    return f"the server closed the lobby connection ({link.closed_reason})" + (
        f"; it said: {' / '.join(said)}" if said else ""
    )


def _last_of_list(reply) -> bool:
    """Whether a list answer is complete: its end_of_list (or end_of_text) flag, or no flag."""
    if hasattr(reply, "end_of_list"):
        return bool(reply.end_of_list)
    if hasattr(reply, "end_of_text"):
        return bool(reply.end_of_text)
    return True


def _check(reply, what: str, ok=(CallbackStatus.SUCCESS,)) -> None:
    status = getattr(reply, "status", 0)
    if status not in ok:
        try:
            name = CallbackStatus(status).name
        except ValueError:
            name = str(status)
        raise ClientError(f"{what} failed: {name} ({status})")


@dataclass
class LobbyClient:
    host: str
    profile: ClientProfile
    ports: Ports = field(default_factory=Ports)
    encrypt: bool = True
    nursery: trio.Nursery | None = None
    mls: MediusLink | None = None
    login_info: LoginInfo | None = None
    username: str = ""
    #: Opens a TCP stream to (host, port); a test or a benchmark may record or redirect them.
    connect: Callable[[str, int], Awaitable[trio.abc.Stream]] = _open_tcp
    #: (connection, what) in order: "connect", each Medius message sent, "disconnect".
    history: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _opened: itertools.count = field(default_factory=lambda: itertools.count(1))

    @classmethod
    @asynccontextmanager
    async def open(
        cls, host: str, profile: ClientProfile, ports: Ports | None = None, *, encrypt: bool = True
    ) -> AsyncIterator[LobbyClient]:
        """A client whose connections live as long as the block; an error in the block (or in a
        connection's task) comes out as itself, not wrapped in an exception group."""
        try:
            async with trio.open_nursery() as nursery:
                client = cls(host, profile, ports or Ports(), encrypt, nursery)
                try:
                    yield client
                finally:
                    await client.close()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            leaf = _only_error(group)
            if leaf is None:
                raise
            raise leaf from None

    @property
    def ctx(self) -> CodecContext:
        return CodecContext(medius_version=self.profile.version, app_id=self.profile.app_id)

    async def _link(
        self, service: str, port: int, *, world_id: int = 0, session_key=None, access_token=None, host=None
    ) -> MediusLink:
        assert self.nursery is not None
        stream = await self.connect(host or self.host, port)
        rt = RtClient(
            service=service,
            peer=(host or self.host, port),
            version=self.profile.version,
            app_id=self.profile.app_id,
            world_id=world_id,
            encrypt=self.encrypt,
            key_exchange=self.encrypt,  # --clear means no key exchange at all, as tools do
            client_key=self.profile.client_key,
            session_key=session_key,
            access_token=access_token,
        )
        link = MediusLink(stream, rt, self.ctx, name=f"{service}#{next(self._opened)}", history=self.history)
        await self.nursery.start(link.run)
        await link.connected()
        self.nursery.start_soon(self._echo_loop, link)
        return link

    async def _echo_loop(self, link: MediusLink) -> None:
        """Keepalive echoes, as a console sends them (about one a second)."""
        while not link.ended.is_set():
            await trio.sleep(1.0)
            if not link.ended.is_set():
                try:
                    link.rt.echo()
                    await link._flush()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return

    # MUIS ----------------------------------------------------------------------------------
    async def universe(self) -> tuple[str, int]:
        """Ask the MUIS where the MAS is (1.09+ titles)."""
        link = await self._link("MUIS", self.ports.muis)
        try:
            wanted = (
                UniverseInfo.ID
                | UniverseInfo.NAME
                | UniverseInfo.DNS
                | UniverseInfo.DESCRIPTION
                | UniverseInfo.SVO_URL
                | UniverseInfo.EXTRA_INFO
            )
            replies = await link.request(
                m.GetUniverseInformationRequest(info_type=wanted, character_encoding=1, language=1),
                (
                    m.UniverseVariableInformationResponse,
                    m.UniverseStatusListResponse,
                    m.UniverseNewsResponse,
                    m.UniverseSvoURLResponse,
                ),
                many=True,
                until=lambda r: isinstance(r, m.UniverseVariableInformationResponse) and r.end_of_list,
            )
            uni = next((r for r in replies if isinstance(r, m.UniverseVariableInformationResponse)), None)
            if uni is None:
                raise ClientError("the MUIS sent no universe")
            return uni.dns, uni.port
        finally:
            await link.aclose()

    # MAS -----------------------------------------------------------------------------------
    async def login(self, username: str, password: str, *, register: bool = False) -> LoginInfo:
        """The whole console login: [MUIS], MAS session + login, then the MLS connection.

        The MAS session is what the consoles send (UYA PAL login capture, b41): SessionBegin,
        SetLocalizationParams, DnasSignaturePost, AccountLogin; the policy is asked on the MLS
        (``policy()``), never on the MAS before the login."""
        mas_host, mas_port = self.host, self.ports.mas
        if self.profile.uses_muis:
            dns, port = await self.universe()
            mas_host, mas_port = (dns or self.host), (port or self.ports.mas)
        link = await self._link("MAS", mas_port, host=mas_host)
        try:
            if self.profile.v109:
                begin = await link.request(
                    m.ExtendedSessionBeginRequest(connection_class=1), m.SessionBeginResponse
                )
            else:
                begin = await link.request(m.SessionBeginRequest(connection_class=1), m.SessionBeginResponse)
            _check(begin, "SessionBegin")
            session_key = begin.session_key
            await link.request(
                m.SetLocalizationParamsRequest(session_key=session_key, character_encoding=1, language=1),
                (m.SetLocalizationParamsResponse, m.SetLocalizationParamsStatusResponse1),
            )
            await link.send(
                m.DnasSignaturePost(
                    message_id=link.new_id(),
                    session_key=session_key,
                    dnas_signature_length=16,
                    dnas_signature=bytes(range(16)) + bytes(16),
                )
            )
            if register:
                reg = await link.request(
                    m.AccountRegistrationRequest(
                        session_key=session_key, account_type=1, account_name=username, password=password
                    ),
                    m.AccountRegistrationResponse,
                )
                _check(
                    reg,
                    "AccountRegistration",
                    (CallbackStatus.SUCCESS, CallbackStatus.ACCOUNT_ALREADY_EXISTS),
                )
            reply = await link.request(
                m.AccountLoginRequest(session_key=session_key, username=username, password=password),
                m.AccountLoginResponse,
            )
            _check(reply, "AccountLogin")
        finally:
            await link.aclose()
        info = reply.connect_info
        mls_addr = info.address_list.addresses[0]
        self.login_info = LoginInfo(
            account_id=reply.account_id,
            world_id=reply.world_id,
            mls_ip=mls_addr.address,
            mls_port=mls_addr.port,
            session_key=info.session_key,
            access_key=info.access_key,
        )
        self.username = username
        self.mls = await self._link(
            "MLS",
            mls_addr.port,
            host=mls_addr.address,
            world_id=info.target_world_id,
            session_key=info.session_key,
            access_token=info.access_key,
        )
        return self.login_info

    # MLS -----------------------------------------------------------------------------------
    def _mls(self) -> MediusLink:
        if self.mls is None:
            raise ClientError("not logged in")
        return self.mls

    @property
    def session_key(self) -> str:
        return self.login_info.session_key if self.login_info else ""

    async def policy(self) -> str:
        """The usage policy, asked on the MLS as the consoles do (b41)."""
        items = await self._mls().request(
            m.GetPolicyRequest(session_key=self.session_key), m.GetPolicyResponse, many=True
        )
        return "".join(p.text for p in items)

    async def channels(self) -> list:
        link = self._mls()
        cls = m.ChannelListExtraInfoRequest if self.profile.v109 else m.ChannelListExtraInfo0Request
        items = await link.request(cls(page_id=1, page_size=64), m.ChannelListExtraInfoResponse, many=True)
        return [i for i in items if i.status == CallbackStatus.SUCCESS]

    async def join_channel(self, world_id: int, password: str = "") -> None:
        """Join a lobby channel as a console does: after the answer, CLIENT_DISCONNECT on the old
        MLS connection, then a new MLS connection to where the answer points."""
        link = self._mls()
        reply = await link.request(
            m.JoinChannelRequest(
                session_key=self.session_key, world_id=world_id, lobby_channel_password=password
            ),
            m.JoinChannelResponse,
        )
        _check(reply, "JoinChannel")
        info = reply.connect_info
        self.mls = None
        await link.aclose()
        self.mls = await self._link(
            "MLS",
            info.address_list.addresses[0].port,
            host=info.address_list.addresses[0].address,
            world_id=info.target_world_id,
            session_key=info.session_key,
            access_token=info.access_key,
        )

    async def players_in_channel(self, world_id: int = 0) -> list[str]:
        items = await self._mls().request(
            m.LobbyWorldPlayerListRequest(session_key=self.session_key, world_id=world_id),
            m.LobbyWorldPlayerListResponse,
            many=True,
        )
        return [i.account_name for i in items if i.status == CallbackStatus.SUCCESS]

    async def chat(self, text: str, *, whisper_to: int | None = None) -> None:
        kind = ChatMessageType.WHISPER if whisper_to is not None else ChatMessageType.BROADCAST
        cls = m.GenericChatMessage if self.profile.v109 else m.ChatMessage
        link = self._mls()
        await link.send(
            cls(
                message_id=link.new_id(),
                session_key=self.session_key,
                message_type=kind,
                target_id=whisper_to or 0,
                text=text,
            )
        )

    async def next_chat(self, timeout: float = 5.0):
        """The next chat line forwarded to us (ChatFwdMessage or GenericChatFwdMessage)."""
        while True:
            msg = await self.next_event(timeout)
            if not isinstance(msg, SystemMessage):
                return msg

    async def next_event(self, timeout: float = 5.0):
        """The next chat line or system message; ``LobbyClosed`` (saying why, with what the
        server said last) when the server ends the connection, e.g. an operator's kick."""
        link = self._mls()
        with trio.fail_after(timeout):
            async for msg in link.unsolicited:
                if isinstance(msg, m.ChatFwdMessage | m.GenericChatFwdMessage | SystemMessage):
                    return msg
        raise LobbyClosed(_closed_text(link))

    async def wait_closed(self) -> str:
        """Wait until the server ends the MLS connection; what happened, in words."""
        link = self._mls()
        await link.ended.wait()
        return _closed_text(link)

    async def create_game(
        self, name: str, *, max_players: int = 8, password: str = "", level: int = 0, host_type: int = 4
    ) -> int:
        link = self._mls()
        if self.profile.v109:
            req = m.CreateGameRequest(
                session_key=self.session_key,
                app_id=self.profile.app_id,
                min_players=1,
                max_players=max_players,
                game_level=level,
                game_name=name,
                game_password=password,
                game_host_type=host_type,
            )
        else:
            req = m.CreateGame1Request(
                session_key=self.session_key,
                app_id=self.profile.app_id,
                min_players=1,
                max_players=max_players,
                game_level=level,
                game_name=name,
                game_password=password,
                game_host_type=host_type,
            )
        reply = await link.request(req, m.CreateGameResponse)
        _check(reply, "CreateGame")
        return reply.world_id

    async def games(self) -> list:
        link = self._mls()
        if self.profile.v109:
            items = await link.request(
                m.GameListExtraInfoRequest(page_id=1, page_size=64), m.GameListExtraInfoResponse, many=True
            )
        else:
            items = await link.request(
                m.GameListExtraInfo0Request(page_id=1, page_size=64), m.GameListExtraInfoResponse0, many=True
            )
        return [i for i in items if i.status == CallbackStatus.SUCCESS]

    async def find_game(self, name: str) -> int:
        for g in await self.games():
            if g.game_name.lower() == name.lower():
                return g.world_id
        raise ClientError(f"no game named {name!r}")

    async def join_game(self, game_id: int, password: str = "") -> JoinInfo:
        reply = await self._mls().request(
            m.JoinGameRequest(
                session_key=self.session_key,
                world_id=game_id,
                join_type=0,
                game_password=password,
                game_host_type=4,
            ),
            m.JoinGameResponse,
        )
        _check(reply, "JoinGame")
        ci = reply.connect_info
        dme, nat = ci.address_list.addresses
        return JoinInfo(
            game_id=game_id,
            host_type=reply.game_host_type,
            connection_type=ci.connection_type,
            dme_ip=dme.address,
            dme_port=dme.port,
            nat_ip=nat.address,
            nat_port=nat.port,
            world_id=ci.target_world_id,
            session_key=ci.session_key,
            access_key=ci.access_key,
        )

    def dme_params(self, join: JoinInfo) -> DmeParams:
        """What the DME client needs to connect to the game ``join`` describes."""
        return DmeParams(
            host=join.dme_ip,
            tcp_port=join.dme_port,
            world_id=join.world_id,
            access_key=join.access_key,
            session_key=join.session_key,
            version=self.profile.version,
            encrypt=self.encrypt,
            app_id=self.profile.app_id,
            nat=(join.nat_ip, join.nat_port) if join.nat_port else None,
        )

    async def world_report(self, game_id: int, name: str, status: int, player_count: int = 1) -> None:
        link = self._mls()
        if self.profile.v109:
            await link.send(
                m.WorldReport(
                    world_id=game_id,
                    player_count=player_count,
                    game_name=name,
                    max_players=8,
                    world_status=status,
                )
            )
        else:
            await link.send(
                m.WorldReport0(
                    session_key=self.session_key,
                    world_id=game_id,
                    player_count=player_count,
                    game_name=name,
                    max_players=8,
                    world_status=status,
                )
            )

    # persistent data round trips -------------------------------------------------------------
    async def add_buddy(self, account_id: int) -> None:
        _check(
            await self._mls().request(
                m.AddToBuddyListRequest(session_key=self.session_key, account_id=account_id),
                m.AddToBuddyListResponse,
            ),
            "AddToBuddyList",
        )

    async def buddies(self) -> list[str]:
        items = await self._mls().request(
            m.GetBuddyListRequest(session_key=self.session_key), m.GetBuddyListResponse, many=True
        )
        return [i.account_name for i in items if i.status == CallbackStatus.SUCCESS]

    async def account_id_of(self, name: str) -> int:
        items = await self._mls().request(
            m.FindPlayerRequest(session_key=self.session_key, search_type=1, player_name=name),
            m.FindPlayerResponse,
            many=True,
        )
        hit = next((i for i in items if i.status == CallbackStatus.SUCCESS), None)
        if hit is None:
            raise ClientError(f"{name!r} is not online")
        return hit.account_id

    async def create_clan(self, name: str) -> int:
        reply = await self._mls().request(
            m.CreateClanRequest(session_key=self.session_key, app_id=self.profile.app_id, clan_name=name),
            m.CreateClanResponse,
        )
        _check(reply, "CreateClan")
        return reply.clan_id

    async def clan_by_id(self, clan_id: int):
        reply = await self._mls().request(
            m.GetClanByIDRequest(session_key=self.session_key, clan_id=clan_id), m.GetClanByIDResponse
        )
        _check(reply, "GetClanByID")
        return reply

    async def invite_to_clan(self, account_id: int, text: str = "join us") -> None:
        _check(
            await self._mls().request(
                m.InvitePlayerToClanRequest(
                    session_key=self.session_key, player_account_id=account_id, text=text
                ),
                m.InvitePlayerToClanResponse,
            ),
            "InvitePlayerToClan",
        )

    async def clan_invitations(self) -> list:
        items = await self._mls().request(
            m.CheckMyClanInvitationsRequest(session_key=self.session_key, start=0, page_size=10),
            m.CheckMyClanInvitationsResponse,
            many=True,
        )
        return [i for i in items if i.status == CallbackStatus.SUCCESS]

    async def answer_clan_invitation(self, invitation_id: int, accept: bool = True) -> None:
        reply = await self._mls().request(
            m.RespondToClanInvitationRequest(
                session_key=self.session_key, clan_invitation_id=invitation_id, response=1 if accept else 2
            ),
            m.RespondToClanInvitationResponse,
        )
        _check(reply, "RespondToClanInvitation")

    async def clan_members(self, clan_id: int) -> list[str]:
        items = await self._mls().request(
            m.GetClanMemberListExtraInfoRequest(clan_id=clan_id),
            m.GetClanMemberListExtraInfoResponse,
            many=True,
        )
        return [i.account_name for i in items if i.status == CallbackStatus.SUCCESS]

    async def set_stats(self, stats: bytes) -> None:
        _check(
            await self._mls().request(
                m.AccountUpdateStatsRequest(session_key=self.session_key, stats=stats),
                m.AccountUpdateStatsResponse,
            ),
            "AccountUpdateStats",
        )

    async def player_stats(self, account_id: int) -> bytes:
        reply = await self._mls().request(
            m.PlayerInfoRequest(session_key=self.session_key, account_id=account_id), m.PlayerInfoResponse
        )
        _check(reply, "PlayerInfo")
        return bytes(reply.stats)

    async def set_wide_stats(self, values: list[int]) -> None:
        _check(
            await self._mls().request(
                m.UpdateLadderStatsWideRequest(ladder_type=0, stats=tuple(values)),
                m.UpdateLadderStatsWideResponse,
            ),
            "UpdateLadderStatsWide",
        )

    async def wide_stats(self, account_id: int) -> tuple[int, ...]:
        reply = await self._mls().request(
            m.GetLadderStatsWideRequest(account_id_or_clan_id=account_id, ladder_type=0),
            m.GetLadderStatsWideResponse,
        )
        _check(reply, "GetLadderStatsWide")
        return tuple(reply.stats)

    async def admin(self, command: str, prefix: str = "!", timeout: float = 3.0) -> list[str]:
        """Run an operator command through lobby chat; returns the system messages it produced."""
        link = self._mls()
        before = link.system_total
        await self.chat(prefix + command)
        return await link.system_messages_after(before, timeout)

    async def close(self) -> None:
        if self.mls is not None:
            await self.mls.aclose()
            self.mls = None
