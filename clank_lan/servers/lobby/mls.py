"""MLS (TCP 10078): the lobby. Channels, chat, players; games in ``mls_games``; buddies, clans
and stats in ``mls_social``.

A console arrives with the access key the MAS gave it; anything before that is refused. Every
request needs a logged-in session: the reference servers drop the others silently, and so do we
(with a log line).
"""

from __future__ import annotations

import logging

from clank_lan.events import ChatLine
from clank_lan.logs import gathered_frames
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.medius import CodecContext, MediusMessage, UnknownMessage, encode_app
from clank_lan.protocol.medius import lobby as ml
from clank_lan.protocol.medius import session as ms
from clank_lan.protocol.medius import social as mso
from clank_lan.protocol.medius.enums import (
    BinaryMessageType,
    CallbackStatus,
    ChatMessageType,
    PlayerStatus,
    UserAction,
)
from clank_lan.servers.lobby.app import Link, MediusApp, codec_context, handles, page
from clank_lan.servers.lobby.common import CommonHandlers
from clank_lan.servers.lobby.mls_clans import ClanHandlers
from clank_lan.servers.lobby.mls_files import FileHandlers
from clank_lan.servers.lobby.mls_games import GameHandlers
from clank_lan.servers.lobby.mls_social import SocialHandlers
from clank_lan.servers.lobby.state import Channel, Session
from clank_lan.stages import Stage

log = logging.getLogger("clank_lan.mls")

S = CallbackStatus
#: Chat lines starting with this run as operator commands (see ``clank_lan.commands``).
READ_ONLY_COMMANDS = frozenset(
    {"help", "?", "players", "who", "clients", "games", "channels", "lobbies", "status", "consoles", "doctor"}
)


class MlsApp(GameHandlers, ClanHandlers, FileHandlers, SocialHandlers, CommonHandlers, MediusApp):
    name = "MLS"
    shares_game_key = True

    def on_connect(self, conn: Link, req: rtm.ClientConnectTcp, now: float) -> str | None:
        super().on_connect(conn, req, now)
        s = self.svc.lobby.find(req.access_token or "", req.session_key or "")
        if s is None:
            self.svc.limits.forged("MLS", conn.peer_label, now, "CONNECT names no live session")
            return (
                f"unknown session (access key {req.access_token!r}): a console must log in on the MAS first"
            )
        if s.app_id != req.app_id:
            log.info(
                "MLS %s: app id %d differs from the MAS login's %d", conn.peer_label, req.app_id, s.app_id
            )
        self.svc.attach(s, conn)
        ch = self.svc.lobby.channels.get(req.world_id)
        if ch is None or ch.group != s.group:
            ch = self.svc.default_channel(s)
        self.svc.lobby.join_channel(s, ch)
        self.svc.stage(s, conn.peer, Stage.MLS, f"channel {ch.name}")
        log.info("MLS %s: %s in channel %r", conn.peer_label, s.label(), ch.name)
        return None

    def on_close(self, conn: Link, reason: str, now: float) -> None:
        self.svc.mgcl.forget_joiner(conn)
        self._drop_upload(conn)
        self.svc.detach(conn, now)
        super().on_close(conn, reason, now)

    def admit(self, conn: Link, msg: MediusMessage | UnknownMessage, now: float) -> bool:
        """The MLS serves logged-in sessions only; the reference servers drop the rest silently."""
        s: Session | None = conn.session
        if s is None or not s.logged_in:
            log.info("MLS %s: %s from a console that is not logged in; ignored", conn.peer_label, msg.name)
            return False
        return True

    # session -------------------------------------------------------------------------------
    @handles(ms.UpdateUserState)
    def user_state(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        if req.user_action == UserAction.LEFT_GAME_WORLD and s.game_id is not None:
            g = self.svc.lobby.games.get(s.game_id)
            if g is not None:
                self.svc.leave_game(g, s)

    @handles(ms.SessionEndRequest)
    def session_end(self, conn: Link, req, now: float) -> None:
        self.reply(conn, ms.SessionEndResponse(message_id=req.message_id, status=S.SUCCESS))
        self.svc.end_session(conn.session, "session ended by the console")

    # channels ------------------------------------------------------------------------------
    def _channels(self, conn: Link) -> list[Channel]:
        return self.svc.channels_for(conn.session)

    @handles(ml.ChannelListRequest)
    def channel_list(self, conn: Link, req, now: float) -> None:
        items = [
            ml.ChannelListResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                world_id=c.id,
                lobby_name=c.name,
                player_count=len(c.members),
            )
            for c in page(self._channels(conn), req.page_id, req.page_size)
        ]
        self.reply_list(conn, items, self.no_result(ml.ChannelListResponse, req.message_id))

    @handles(ml.ChannelListExtraInfo0Request, ml.ChannelListExtraInfo1Request, ml.ChannelListExtraInfoRequest)
    def channel_list_extra(self, conn: Link, req, now: float) -> None:
        group = conn.session.group
        items = []
        for c in page(self._channels(conn), req.page_id, req.page_size):
            gf = c.generic_fields
            items.append(
                ml.ChannelListExtraInfoResponse(
                    message_id=req.message_id,
                    status=S.SUCCESS,
                    world_id=c.id,
                    player_count=len(c.members),
                    max_players=c.max_players,
                    game_world_count=sum(1 for g in self.svc.lobby.games_of(group) if g.channel_id == c.id),
                    security_level=1 if c.password else 0,
                    generic_field_1=gf[0],
                    generic_field_2=gf[1],
                    generic_field_3=gf[2],
                    generic_field_4=gf[3],
                    generic_field_level=c.field_level,
                    lobby_name=c.name,
                )
            )
        self.reply_list(conn, items, self.no_result(ml.ChannelListExtraInfoResponse, req.message_id))

    @handles(ml.ChannelInfoRequest)
    def channel_info(self, conn: Link, req, now: float) -> None:
        c = self.svc.lobby.channels.get(req.world_id)
        if c is None or c.group != conn.session.group:
            self.reply(conn, ml.ChannelInfoResponse(message_id=req.message_id, status=S.CHANNEL_NOT_FOUND))
            return
        self.reply(
            conn,
            ml.ChannelInfoResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                lobby_name=c.name,
                active_player_count=len(c.members),
                max_players=c.max_players,
            ),
        )

    @handles(ml.JoinChannelRequest)
    def join_channel(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        c = self.svc.lobby.channels.get(req.world_id)
        if c is None or c.group != s.group:
            self.reply(conn, ml.JoinChannelResponse(message_id=req.message_id, status=S.CHANNEL_NOT_FOUND))
            return
        if c.password and c.password != req.lobby_channel_password:
            self.reply(conn, ml.JoinChannelResponse(message_id=req.message_id, status=S.INVALID_PASSWORD))
            return
        if len(c.members) >= c.max_players and s not in c.members:
            self.reply(conn, ml.JoinChannelResponse(message_id=req.message_id, status=S.WORLD_IS_FULL))
            return
        self.svc.lobby.join_channel(s, c)
        self.reply(
            conn,
            ml.JoinChannelResponse(
                message_id=req.message_id, status=S.SUCCESS, connect_info=self.svc.mls_connect_info(s, c.id)
            ),
        )
        log.info("MLS %s: %s joined channel %r", conn.peer_label, s.label(), c.name)

    @handles(ml.CreateChannelRequest, ml.CreateChannel1Request)
    def create_channel(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        name = req.lobby_name.strip()
        if not name or any(c.name.lower() == name.lower() for c in self._channels(conn)):
            status = S.CHANNEL_NAME_EXISTS if name else S.FAIL
            self.reply(conn, ml.CreateChannelResponse(message_id=req.message_id, status=status))
            return
        c = self.svc.lobby.add_channel(
            s.group, name, max_players=max(1, min(req.max_players or 64, 256)), password=req.lobby_password
        )
        self.reply(conn, ml.CreateChannelResponse(message_id=req.message_id, status=S.SUCCESS, world_id=c.id))

    def _channel_members(self, conn: Link, world_id: int) -> list[Session] | None:
        c = self.svc.lobby.channels.get(world_id) if world_id else None
        if c is None and conn.session.channel_id is not None:
            c = self.svc.lobby.channels.get(conn.session.channel_id)
        if c is None or c.group != conn.session.group:
            return None
        return sorted(c.members, key=lambda m: m.account_name.lower())

    @handles(ml.LobbyWorldPlayerListRequest)
    def lobby_players(self, conn: Link, req, now: float) -> None:
        members = self._channel_members(conn, req.world_id) or []
        items = [
            ml.LobbyWorldPlayerListResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                player_status=PlayerStatus.IN_CHAT_WORLD,
                account_id=m.account_id,
                account_name=m.account_name,
                stats=self._stats_of(m),
                connection_class=m.connection_class,
            )
            for m in members
        ]
        self.reply_list(conn, items, self.no_result(ml.LobbyWorldPlayerListResponse, req.message_id))

    @handles(ml.GetLobbyPlayerNamesRequest)
    def lobby_names(self, conn: Link, req, now: float) -> None:
        members = self._channel_members(conn, req.world_id) or []
        items = [
            ml.GetLobbyPlayerNamesResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_id=m.account_id,
                account_name=m.account_name,
            )
            for m in members
        ]
        self.reply_list(conn, items, self.no_result(ml.GetLobbyPlayerNamesResponse, req.message_id))

    @handles(ml.GetLobbyPlayerNamesExtraInfoRequest)
    def lobby_names_extra(self, conn: Link, req, now: float) -> None:
        members = self._channel_members(conn, req.world_id) or []
        items = [
            ml.GetLobbyPlayerNamesExtraInfoResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_id=m.account_id,
                account_name=m.account_name,
                online_state=self.online_state(m),
            )
            for m in members
        ]
        self.reply_list(conn, items, self.no_result(ml.GetLobbyPlayerNamesExtraInfoResponse, req.message_id))

    @handles(ml.SetLobbyWorldFilterRequest, ml.SetLobbyWorldFilter1Request)
    def lobby_filter(self, conn: Link, req, now: float) -> None:
        fields = {
            f: getattr(req, f)
            for f in (
                "filter_mask_1",
                "filter_mask_2",
                "filter_mask_3",
                "filter_mask_4",
                "lobby_filter_type",
                "filter_mask_level",
            )
        }
        self.reply(
            conn, ml.SetLobbyWorldFilterResponse(message_id=req.message_id, status=S.SUCCESS, **fields)
        )

    @handles(ml.GetWorldSecurityLevelRequest)
    def world_security(self, conn: Link, req, now: float) -> None:
        level = 0
        g = self.svc.lobby.games.get(req.world_id)
        c = self.svc.lobby.channels.get(req.world_id)
        if req.app_type == 0 and g is not None:
            level = g.security_level
        elif c is not None:
            level = 1 if c.password else 0
        self.reply(
            conn,
            ml.GetWorldSecurityLevelResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                world_id=req.world_id,
                app_type=req.app_type,
                security_level=level,
            ),
        )

    @handles(ml.GetTotalChannelsRequest)
    def total_channels(self, conn: Link, req, now: float) -> None:
        n = len(self._channels(conn))
        self.reply(conn, ml.GetTotalChannelsResponse(message_id=req.message_id, total=n, status=S.SUCCESS))

    @handles(ml.GetTotalUsersRequest)
    def total_users(self, conn: Link, req, now: float) -> None:
        group = conn.session.group
        online = [s for s in self.svc.lobby.sessions_in(group) if s.logged_in]
        in_game = sum(1 for s in online if s.game_id is not None)
        self.reply(
            conn,
            ml.GetTotalUsersResponse(
                message_id=req.message_id,
                total_in_system=len(online),
                total_in_game=in_game,
                status=S.SUCCESS,
            ),
        )

    # chat ----------------------------------------------------------------------------------
    @handles(ml.ChatToggleRequest)
    def chat_toggle(self, conn: Link, req, now: float) -> None:
        conn.session.chat_enabled = req.chat_toggle == 0
        self.reply(conn, ml.ChatToggleResponse(message_id=req.message_id, status=S.SUCCESS))

    @handles(ml.ChatMessage, ml.GenericChatMessage)
    def chat(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        if not self.svc.limits.allow_chat(s.session_key, conn.peer_label, now):
            return  # dropped, as a busy server loses a line; logged and counted by the limiter
        text = req.text
        prefix = self.svc.config.lobby.command_prefix
        if prefix and text.startswith(prefix):
            self._chat_command(conn, s, text[len(prefix) :])
            return
        generic = isinstance(req, ml.GenericChatMessage)
        targets = self._chat_targets(s, req.message_type, req.target_id)
        fwd = (
            ml.GenericChatFwdMessage(
                time_stamp=int(self.svc.deps.wall_clock()),
                originator_account_id=s.account_id,
                message_type=req.message_type,
                originator_account_name=s.account_name,
                text=text,
            )
            if generic
            else ml.ChatFwdMessage(
                message_id=req.message_id,
                originator_account_id=s.account_id,
                originator_account_name=s.account_name,
                message_type=req.message_type,
                text=text,
            )
        )
        ignoring = self.svc.db.ignores.is_ignoring
        receivers = [t for t in targets if t.chat_enabled and not ignoring(t.account_id, s.account_id)]
        self._forward(receivers, fwd, shared=req.message_type != ChatMessageType.WHISPER)
        channel = self.svc.lobby.channels.get(s.channel_id) if s.channel_id is not None else None
        whisper_to = ""
        if req.message_type == ChatMessageType.WHISPER and targets:
            whisper_to = targets[0].account_name
        self.svc.deps.publish(
            ChatLine(
                ts=self.svc.deps.wall_clock(),
                group=s.group,
                channel=channel.name if channel else "",
                sender=s.account_name,
                text=text,
                whisper_to=whisper_to,
            )
        )
        log.info("chat %s [%s]: %s", s.account_name, channel.name if channel else "-", text)

    def _chat_targets(self, s: Session, kind: int, target_id: int) -> list[Session]:
        lobby = self.svc.lobby
        if kind == ChatMessageType.WHISPER:
            t = lobby.logged_in(s.namespace, target_id)
            return [t] if t is not None and t.group == s.group else []
        if kind == ChatMessageType.BROADCAST_ACROSS_ENTIRE_UNIVERSE:
            return [o for o in lobby.sessions_in(s.group) if o.logged_in and o is not s]
        if kind == ChatMessageType.CLAN:
            return [
                o
                for o in lobby.sessions_in(s.group)
                if o.logged_in and o.clan_id and o.clan_id == s.clan_id and o is not s
            ]
        if kind == ChatMessageType.BUDDY:
            buddies = {b.buddy_id for b in self.svc.db.buddies.of(s.account_id)}
            return [o for o in lobby.sessions_in(s.group) if o.logged_in and o.account_id in buddies]
        ch = lobby.channels.get(s.channel_id) if s.channel_id is not None else None
        return [m for m in ch.members if m is not s and m.logged_in] if ch else []

    def _chat_command(self, conn: Link, s: Session, line: str) -> None:
        word = line.split(" ", 1)[0].lower()
        is_operator = s.account_name.lower() in {o.lower() for o in self.svc.config.lobby.operators}
        if word not in READ_ONLY_COMMANDS and not is_operator:
            out = [f"'{word}' is for operators; ask the organiser to add you to lobby.operators"]
        else:
            out = self.svc.deps.run_command(line, s.account_name, f"lobby chat from {s.ip}")
        log.info("chat command by %s: %s", s.account_name, line)
        for text in out[:20]:
            conn.send_system_message(text)

    @handles(ml.GenericChatSetFilterRequest)
    def chat_filter(self, conn: Link, req, now: float) -> None:
        self.reply(
            conn,
            ml.GenericChatSetFilterResponse(
                message_id=req.message_id, status=S.SUCCESS, chat_filter=req.chat_filter
            ),
        )

    @handles(ml.SetAutoChatHistoryRequest)
    def chat_history(self, conn: Link, req, now: float) -> None:
        self.reply(conn, ml.SetAutoChatHistoryResponse(message_id=req.message_id, status=S.SUCCESS))

    @handles(ml.BinaryMessage)
    def binary(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        B = BinaryMessageType
        to_one = req.message_type in (B.TARGET, B.DEPRECATED_TARGET)
        universe = (B.BROADCAST_ACROSS_ENTIRE_UNIVERSE, B.DEPRECATED_BROADCAST_ACROSS_ENTIRE_UNIVERSE)
        if to_one:
            targets = self._chat_targets(s, ChatMessageType.WHISPER, req.target_account_id)
        elif req.message_type in universe:
            targets = self._chat_targets(s, ChatMessageType.BROADCAST_ACROSS_ENTIRE_UNIVERSE, 0)
        else:
            targets = self._chat_targets(s, ChatMessageType.BROADCAST, 0)
        fwd = ml.BinaryFwdMessage(
            message_id=req.message_id,
            originator_account_id=s.account_id,
            message_type=req.message_type,
            payload=req.payload,
        )
        self._forward(targets, fwd, shared=not to_one)

    def _forward(self, targets: list[Session], msg: MediusMessage, shared: bool) -> None:
        """``msg`` to the MLS connections of ``targets``, encoded once per codec context; a line
        for many (``shared``) is also encrypted once, under the service's shared key."""
        encoded: dict[CodecContext, bytes] = {}
        with gathered_frames():  # one frame log record for the line, naming every receiver
            for t in targets:
                for c in t.connections:
                    if getattr(c, "app", None) is self:
                        ctx = codec_context(c)
                        payload = encoded.get(ctx)
                        if payload is None:
                            payload = encoded[ctx] = encode_app(msg, ctx)
                        c.send_app(payload, shared)

    # players -------------------------------------------------------------------------------
    @handles(mso.PlayerInfoRequest)
    def player_info(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        acct = self.svc.db.accounts.get(req.account_id)
        online = self.svc.lobby.logged_in(s.namespace, req.account_id)
        if acct is None and online is None:
            self.reply(conn, mso.PlayerInfoResponse(message_id=req.message_id, status=S.ACCOUNT_NOT_FOUND))
            return
        self.reply(
            conn,
            mso.PlayerInfoResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_name=acct.name if acct else online.account_name,
                app_id=online.app_id if online else s.app_id,
                player_status=self.player_status(online),
                connection_class=online.connection_class if online else 1,
                stats=acct.stats if acct else bytes(256),
            ),
        )

    @handles(mso.FindPlayerRequest)
    def find_player(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        lobby = self.svc.lobby
        if req.search_type == 0:
            found = lobby.logged_in(s.namespace, req.account_id)
        else:
            found = lobby.by_name(req.player_name, s.group)
        if found is None:
            self.reply(conn, self.no_result(mso.FindPlayerResponse, req.message_id))
            return
        in_game = found.game_id is not None and found.game_id in lobby.games
        world = found.game_id if in_game else (found.channel_id or 0)
        self.reply(
            conn,
            mso.FindPlayerResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                app_id=found.app_id,
                app_name=found.title_key,
                app_type=0 if in_game else 1,
                world_id=world or 0,
                account_id=found.account_id,
                account_name=found.account_name,
                end_of_list=True,
            ),
        )
