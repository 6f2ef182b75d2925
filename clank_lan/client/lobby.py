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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import msgspec
import trio

from clank_lan.client.profiles import ClientProfile
from clank_lan.client.rt_client import AppMessage, Connected, Disconnected, RtClient
from clank_lan.protocol import medius as m
from clank_lan.protocol.medius import CodecContext, Reassembler, decode_app, encode_app
from clank_lan.protocol.medius.enums import CallbackStatus, ChatMessageType, UniverseInfo

READ_SIZE = 65536


class ClientError(Exception):
    """The server refused something or did not answer; the text says what."""


@dataclass(frozen=True)
class Ports:
    muis: int = 10071
    mas: int = 10075
    mls: int = 10078


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
    """One RT connection carrying Medius messages, with request/response matching."""

    def __init__(self, stream: trio.SocketStream, rt: RtClient, ctx: CodecContext) -> None:
        self.stream = stream
        self.rt = rt
        self.ctx = ctx
        self._ids = itertools.count(1)
        self._waiters: dict[str, trio.MemorySendChannel] = {}
        send, recv = trio.open_memory_channel[object](1000)
        self._unsolicited_send = send
        self.unsolicited: trio.MemoryReceiveChannel = recv
        self.system_messages: list[str] = []
        self._connected = trio.Event()
        self._closed: str | None = None
        self._reasm = Reassembler()
        self._send_lock = trio.StrictFIFOLock()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Read frames until the connection ends (run inside the client's nursery)."""
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
            for w in list(self._waiters.values()):
                w.close()

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
            if waiter is not None:
                try:
                    waiter.send_nowait(msg)
                except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                    pass
            else:
                try:
                    self._unsolicited_send.send_nowait(msg)
                except trio.WouldBlock:
                    pass
        elif isinstance(ev, Disconnected):
            self._closed = ev.reason
        else:
            frame = getattr(ev, "frame", None)
            if frame is not None and frame.id == 0x1C:  # SERVER_SYSTEM_MESSAGE
                from clank_lan.protocol.rt_messages import ServerSystemMessage

                self.system_messages.append(ServerSystemMessage.decode(frame.payload, self.rt.version).text)

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
        self.rt.send_app(encode_app(msg, self.ctx))
        await self._flush()

    async def request(self, msg: m.MediusMessage, *, many: bool = False, timeout: float = 10.0, until=None):
        """Send ``msg`` with a fresh message id; return the answer (or every item of a list,
        up to the one with ``end_of_list``, or the first for which ``until`` is true)."""
        mid = self.new_id()
        msg = msgspec.structs.replace(msg, message_id=mid)
        send, recv = trio.open_memory_channel[object](math.inf)
        self._waiters[mid] = send
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

    async def aclose(self) -> None:
        try:
            self.rt.disconnect()
            await self._flush()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await self.stream.aclose()


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

    @classmethod
    @asynccontextmanager
    async def open(
        cls, host: str, profile: ClientProfile, ports: Ports | None = None, *, encrypt: bool = True
    ) -> AsyncIterator[LobbyClient]:
        async with trio.open_nursery() as nursery:
            client = cls(host, profile, ports or Ports(), encrypt, nursery)
            try:
                yield client
            finally:
                await client.close()
                nursery.cancel_scope.cancel()

    @property
    def ctx(self) -> CodecContext:
        return CodecContext(medius_version=self.profile.version, app_id=self.profile.app_id)

    async def _link(
        self, service: str, port: int, *, world_id: int = 0, session_key=None, access_token=None, host=None
    ) -> MediusLink:
        assert self.nursery is not None
        stream = await trio.open_tcp_stream(host or self.host, port)
        rt = RtClient(
            service=service,
            peer=(host or self.host, port),
            version=self.profile.version,
            app_id=self.profile.app_id,
            world_id=world_id,
            encrypt=self.encrypt,
            client_key=self.profile.client_key,
            session_key=session_key,
            access_token=access_token,
        )
        link = MediusLink(stream, rt, self.ctx)
        await self.nursery.start(link.run)
        await link.connected()
        self.nursery.start_soon(self._echo_loop, link)
        return link

    async def _echo_loop(self, link: MediusLink) -> None:
        """Keepalive echoes, as a console sends them (about one a second)."""
        while link._closed is None:
            await trio.sleep(1.0)
            if link._closed is None:
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
        """The whole console login: [MUIS], MAS session + login, then the MLS connection."""
        mas_host, mas_port = self.host, self.ports.mas
        if self.profile.uses_muis:
            dns, port = await self.universe()
            mas_host, mas_port = (dns or self.host), (port or self.ports.mas)
        link = await self._link("MAS", mas_port, host=mas_host)
        try:
            if self.profile.v109:
                begin = await link.request(m.ExtendedSessionBeginRequest(connection_class=1))
            else:
                begin = await link.request(m.SessionBeginRequest(connection_class=1))
            _check(begin, "SessionBegin")
            session_key = begin.session_key
            await link.request(
                m.SetLocalizationParamsRequest(session_key=session_key, character_encoding=1, language=1)
            )
            await link.send(
                m.DnasSignaturePost(
                    message_id=link.new_id(),
                    session_key=session_key,
                    dnas_signature_length=16,
                    dnas_signature=bytes(range(16)) + bytes(16),
                )
            )
            policy = await link.request(m.GetPolicyRequest(session_key=session_key), many=True)
            self.policy = "".join(p.text for p in policy)
            if register:
                reg = await link.request(
                    m.AccountRegistrationRequest(
                        session_key=session_key, account_type=1, account_name=username, password=password
                    )
                )
                _check(
                    reg,
                    "AccountRegistration",
                    (CallbackStatus.SUCCESS, CallbackStatus.ACCOUNT_ALREADY_EXISTS),
                )
            reply = await link.request(
                m.AccountLoginRequest(session_key=session_key, username=username, password=password)
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

    async def channels(self) -> list:
        link = self._mls()
        if self.profile.v109:
            items = await link.request(m.ChannelListExtraInfoRequest(page_id=1, page_size=64), many=True)
        else:
            items = await link.request(m.ChannelListExtraInfo0Request(page_id=1, page_size=64), many=True)
        return [i for i in items if i.status == CallbackStatus.SUCCESS]

    async def join_channel(self, world_id: int, password: str = "") -> None:
        link = self._mls()
        reply = await link.request(
            m.JoinChannelRequest(
                session_key=self.session_key, world_id=world_id, lobby_channel_password=password
            )
        )
        _check(reply, "JoinChannel")
        # the console reconnects to the MLS for the new channel, as the answer tells it to
        info = reply.connect_info
        old = self.mls
        self.mls = await self._link(
            "MLS",
            info.address_list.addresses[0].port,
            host=info.address_list.addresses[0].address,
            world_id=info.target_world_id,
            session_key=info.session_key,
            access_token=info.access_key,
        )
        if old is not None:
            await old.aclose()

    async def players_in_channel(self, world_id: int = 0) -> list[str]:
        items = await self._mls().request(
            m.LobbyWorldPlayerListRequest(session_key=self.session_key, world_id=world_id), many=True
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
        link = self._mls()
        with trio.fail_after(timeout):
            async for msg in link.unsolicited:
                if isinstance(msg, m.ChatFwdMessage | m.GenericChatFwdMessage):
                    return msg
        raise ClientError("connection closed")

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
        reply = await link.request(req)
        _check(reply, "CreateGame")
        return reply.world_id

    async def games(self) -> list:
        link = self._mls()
        if self.profile.v109:
            items = await link.request(m.GameListExtraInfoRequest(page_id=1, page_size=64), many=True)
        else:
            items = await link.request(m.GameListExtraInfo0Request(page_id=1, page_size=64), many=True)
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
            )
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

    def dme_params(self, join: JoinInfo):
        """What the DME client needs to connect to the game ``join`` describes."""
        from clank_lan.client.dme_client import DmeParams

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
                m.AddToBuddyListRequest(session_key=self.session_key, account_id=account_id)
            ),
            "AddToBuddyList",
        )

    async def buddies(self) -> list[str]:
        items = await self._mls().request(m.GetBuddyListRequest(session_key=self.session_key), many=True)
        return [i.account_name for i in items if i.status == CallbackStatus.SUCCESS]

    async def account_id_of(self, name: str) -> int:
        items = await self._mls().request(
            m.FindPlayerRequest(session_key=self.session_key, search_type=1, player_name=name), many=True
        )
        hit = next((i for i in items if i.status == CallbackStatus.SUCCESS), None)
        if hit is None:
            raise ClientError(f"{name!r} is not online")
        return hit.account_id

    async def create_clan(self, name: str) -> int:
        reply = await self._mls().request(
            m.CreateClanRequest(session_key=self.session_key, app_id=self.profile.app_id, clan_name=name)
        )
        _check(reply, "CreateClan")
        return reply.clan_id

    async def clan_by_id(self, clan_id: int):
        reply = await self._mls().request(m.GetClanByIDRequest(session_key=self.session_key, clan_id=clan_id))
        _check(reply, "GetClanByID")
        return reply

    async def invite_to_clan(self, account_id: int, text: str = "join us") -> None:
        _check(
            await self._mls().request(
                m.InvitePlayerToClanRequest(
                    session_key=self.session_key, player_account_id=account_id, text=text
                )
            ),
            "InvitePlayerToClan",
        )

    async def clan_invitations(self) -> list:
        items = await self._mls().request(
            m.CheckMyClanInvitationsRequest(session_key=self.session_key, start=0, page_size=10), many=True
        )
        return [i for i in items if i.status == CallbackStatus.SUCCESS]

    async def answer_clan_invitation(self, invitation_id: int, accept: bool = True) -> None:
        reply = await self._mls().request(
            m.RespondToClanInvitationRequest(
                session_key=self.session_key, clan_invitation_id=invitation_id, response=1 if accept else 2
            )
        )
        _check(reply, "RespondToClanInvitation")

    async def clan_members(self, clan_id: int) -> list[str]:
        items = await self._mls().request(m.GetClanMemberListExtraInfoRequest(clan_id=clan_id), many=True)
        return [i.account_name for i in items if i.status == CallbackStatus.SUCCESS]

    async def set_stats(self, stats: bytes) -> None:
        _check(
            await self._mls().request(m.AccountUpdateStatsRequest(session_key=self.session_key, stats=stats)),
            "AccountUpdateStats",
        )

    async def player_stats(self, account_id: int) -> bytes:
        reply = await self._mls().request(
            m.PlayerInfoRequest(session_key=self.session_key, account_id=account_id)
        )
        _check(reply, "PlayerInfo")
        return bytes(reply.stats)

    async def set_wide_stats(self, values: list[int]) -> None:
        _check(
            await self._mls().request(m.UpdateLadderStatsWideRequest(ladder_type=0, stats=tuple(values))),
            "UpdateLadderStatsWide",
        )

    async def wide_stats(self, account_id: int) -> tuple[int, ...]:
        reply = await self._mls().request(
            m.GetLadderStatsWideRequest(account_id_or_clan_id=account_id, ladder_type=0)
        )
        _check(reply, "GetLadderStatsWide")
        return tuple(reply.stats)

    async def admin(self, command: str, prefix: str = "!") -> list[str]:
        """Run an operator command through lobby chat; returns the system messages it produced."""
        link = self._mls()
        before = len(link.system_messages)
        await self.chat(prefix + command)
        with trio.move_on_after(3):
            while len(link.system_messages) == before:
                await trio.sleep(0.02)
            await trio.sleep(0.1)
        return link.system_messages[before:]

    async def close(self) -> None:
        if self.mls is not None:
            await self.mls.aclose()
            self.mls = None
