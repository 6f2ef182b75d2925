"""MLS game handlers: list, info, filters, create, join, and the reports from inside a game.

Client-server titles (UYA, Deadlocked...) get a world on our DME and are sent there with the
access key the DME reserved for them. Peer-to-peer titles (GameHostType 2) get the host
console's own addresses, which is what "MAS is missing P2P" in other servers is about.
"""

from __future__ import annotations

import logging
import operator

from clank_lan.dme.world import DmeError
from clank_lan.protocol.medius import game as mg
from clank_lan.protocol.medius.enums import (
    CallbackStatus,
    GameHostType,
    GameListFilterField,
    NetAddressType,
    NetConnectionType,
)
from clank_lan.protocol.medius.structs import NetAddress, NetAddressList, NetConnectionInfo
from clank_lan.servers.lobby.app import Link, handles, page
from clank_lan.servers.lobby.service import HOST_LEAVING_ENDS_GAME, family
from clank_lan.servers.lobby.state import Game, GameFilter, GamePlayer, Session, WorldStatus
from clank_lan.stages import Stage
from clank_lan.titles import Hosting, Quirk

log = logging.getLogger("clank_lan.mls")

S = CallbackStatus
_OPS = (operator.lt, operator.le, operator.eq, operator.ge, operator.gt, operator.ne)
P2P_HOST_TYPES = {GameHostType.PEER_TO_PEER, GameHostType.LAN_PLAY}
#: Player counts travel as u16 in the game list answers (GameList_ExtraInfoResponse): a game
#: stored with more could not be listed, and would break the list for every console.
MAX_PLAYER_COUNT = 0xFFFF


def player_counts_fit(min_players: int, max_players: int) -> bool:
    """Both fit their u16 fields, and a game never needs more players than it can hold (a
    maximum of 0 means "the title's default" and is taken as 1 by CreateGame)."""
    in_range = 0 <= min_players <= MAX_PLAYER_COUNT and 0 <= max_players <= MAX_PLAYER_COUNT
    return in_range and (max_players == 0 or min_players <= max_players)


def _field_value(g: Game, field: int) -> int:
    F = GameListFilterField
    gf = g.generic_fields
    table = {
        F.PLAYER_COUNT: len(g.players),
        F.MIN_PLAYERS: g.min_players,
        F.MAX_PLAYERS: g.max_players,
        F.GAME_LEVEL: g.game_level,
        F.PLAYER_SKILL_LEVEL: g.skill_level,
        F.RULES_SET: g.rules_set,
        F.GENERIC_FIELD_1: gf[0],
        F.GENERIC_FIELD_2: gf[1],
        F.GENERIC_FIELD_3: gf[2],
        F.LOBBY_WORLDID: g.channel_id or 0,
        F.GENERIC_FIELD_4: gf[3],
        F.GENERIC_FIELD_5: gf[4],
        F.GENERIC_FIELD_6: gf[5],
        F.GENERIC_FIELD_7: gf[6],
        F.GENERIC_FIELD_8: gf[7],
    }
    return table.get(field, 0)


def passes(g: Game, filters: list[GameFilter], any_of: bool) -> bool:
    """Whether a game passes a console's list filters (AND, or OR for titles that OR them)."""
    if not filters:
        return True
    results = []
    for f in filters:
        value = _field_value(g, f.field)
        if f.mask:
            value &= f.mask
        op = _OPS[f.operator] if 0 <= f.operator < len(_OPS) else operator.eq
        results.append(op(value, f.baseline))
    return any(results) if any_of else all(results)


class GameHandlers:
    """Mixed into MlsApp."""

    # listing -------------------------------------------------------------------------------
    def _visible_games(self, s: Session) -> list[Game]:
        """The games of the session's lobby group it could join: a cross-region group lists the
        other regions' games, but not those of builds whose DME traffic differs (UYA betas)."""
        can_join = self.svc.groups.can_join_game
        games = [
            g
            for g in self.svc.lobby.games_of(s.group)
            if (g.status != WorldStatus.PENDING_CREATION or g.host is s) and can_join(s.app_id, g.app_id)
        ]
        any_of = Quirk.OR_GAME_LIST_FILTERS in s.title.quirks
        return [g for g in games if passes(g, list(s.game_filters.values()), any_of)]

    @handles(mg.GameListRequest)
    def game_list(self, conn: Link, req, now: float) -> None:
        items = [
            mg.GameListResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                world_id=g.id,
                game_name=g.name,
                world_status=g.status,
                game_host_type=g.host_type,
                player_count=len(g.players),
            )
            for g in page(self._visible_games(conn.session), req.page_id, req.page_size)
        ]
        self.reply_list(conn, items, self.no_result(mg.GameListResponse, req.message_id))

    @handles(mg.GameListExtraInfo0Request, mg.GameListExtraInfoRequest)
    def game_list_extra(self, conn: Link, req, now: float) -> None:
        ext = isinstance(req, mg.GameListExtraInfoRequest)
        cls = mg.GameListExtraInfoResponse if ext else mg.GameListExtraInfoResponse0
        games = page(self._visible_games(conn.session), req.page_id, req.page_size)
        items = [cls(message_id=req.message_id, status=S.SUCCESS, **self._game_fields(g, cls)) for g in games]
        self.reply_list(conn, items, self.no_result(cls, req.message_id))

    def _game_fields(self, g: Game, cls) -> dict:
        fields = {
            "world_id": g.id,
            "player_count": len(g.players),
            "min_players": g.min_players,
            "max_players": g.max_players,
            "game_level": g.game_level,
            "player_skill_level": g.skill_level,
            "rules_set": g.rules_set,
            "security_level": g.security_level,
            "world_status": g.status,
            "game_host_type": g.host_type,
            "game_name": g.name,
            "game_stats": g.stats,
            "app_id": g.app_id,
        }
        for i in range(8):
            fields[f"generic_field_{i + 1}"] = g.generic_fields[i]
        names = set(cls.__struct_fields__)
        return {k: v for k, v in fields.items() if k in names}

    @handles(mg.GameInfo0Request, mg.GameInfoRequest)
    def game_info(self, conn: Link, req, now: float) -> None:
        cls = mg.GameInfoResponse if isinstance(req, mg.GameInfoRequest) else mg.GameInfoResponse0
        g = self.svc.lobby.games.get(req.world_id)
        if g is None or g.group != conn.session.group:
            self.reply(conn, cls(message_id=req.message_id, status=S.GAME_NOT_FOUND))
            return
        self.reply(conn, cls(message_id=req.message_id, status=S.SUCCESS, **self._game_fields(g, cls)))

    @handles(mg.GameWorldPlayerListRequest)
    def game_players(self, conn: Link, req, now: float) -> None:
        g = self.svc.lobby.games.get(req.world_id)
        players = (
            sorted(g.players.values(), key=lambda p: p.index) if g and g.group == conn.session.group else []
        )
        items = [
            mg.GameWorldPlayerListResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_id=p.session.account_id,
                account_name=p.session.account_name,
                stats=self._stats_of(p.session),
                connection_class=p.session.connection_class,
            )
            for p in players
        ]
        self.reply_list(conn, items, self.no_result(mg.GameWorldPlayerListResponse, req.message_id))

    @handles(mg.FindWorldByNameRequest)
    def find_world(self, conn: Link, req, now: float) -> None:
        s = conn.session
        want = req.world_name.lower()
        items = []
        if req.world_type in (0, 2):
            for g in self.svc.lobby.games_of(s.group):
                if g.name.lower() == want:
                    items.append(
                        mg.FindWorldByNameResponse(
                            message_id=req.message_id,
                            status=S.SUCCESS,
                            app_id=g.app_id,
                            app_name=s.title_key,
                            app_type=0,
                            world_id=g.id,
                            world_name=g.name,
                            world_status=g.status,
                        )
                    )
        if req.world_type in (1, 2):
            for c in self.svc.channels_for(s):
                if c.name.lower() == want:
                    items.append(
                        mg.FindWorldByNameResponse(
                            message_id=req.message_id,
                            status=S.SUCCESS,
                            app_id=s.app_id,
                            app_name=s.title_key,
                            app_type=1,
                            world_id=c.id,
                            world_name=c.name,
                            world_status=WorldStatus.ACTIVE,
                        )
                    )
        self.reply_list(conn, items, self.no_result(mg.FindWorldByNameResponse, req.message_id))

    @handles(mg.GetTotalGamesRequest)
    def total_games(self, conn: Link, req, now: float) -> None:
        n = len(self.svc.lobby.games_of(conn.session.group))
        self.reply(conn, mg.GetTotalGamesResponse(message_id=req.message_id, status=S.SUCCESS, total=n))

    # filters -------------------------------------------------------------------------------
    def _add_filter(self, s: Session, field: int, mask: int, op: int, baseline: int) -> int:
        filter_id = max(s.game_filters, default=0) + 1
        s.game_filters[filter_id] = GameFilter(filter_id, field, mask, op, baseline)
        return filter_id

    @handles(mg.SetGameListFilter0Request)
    def set_filter0(self, conn: Link, req, now: float) -> None:
        fid = self._add_filter(conn.session, req.filter_field, 0, req.comparison_operator, req.baseline_value)
        self.reply(
            conn, mg.SetGameListFilterResponse0(message_id=req.message_id, status=S.SUCCESS, filter_id=fid)
        )

    @handles(mg.SetGameListFilterRequest)
    def set_filter(self, conn: Link, req, now: float) -> None:
        fid = self._add_filter(
            conn.session, req.filter_field, req.mask, req.comparison_operator, req.baseline_value
        )
        self.reply(
            conn, mg.SetGameListFilterResponse(message_id=req.message_id, status=S.SUCCESS, filter_id=fid)
        )

    @handles(mg.ClearGameListFilter0Request, mg.ClearGameListFilterRequest)
    def clear_filter(self, conn: Link, req, now: float) -> None:
        filters = conn.session.game_filters
        if req.filter_id == 0:
            filters.clear()
            status = S.SUCCESS
        else:
            status = S.SUCCESS if filters.pop(req.filter_id, None) is not None else S.FILTER_NOT_FOUND
        self.reply(conn, mg.ClearGameListFilterResponse(message_id=req.message_id, status=status))

    @handles(mg.GetGameListFilterRequest)
    def get_filters(self, conn: Link, req, now: float) -> None:
        filters = list(conn.session.game_filters.values())
        if conn.version <= 108:
            items = [
                mg.GetGameListFilterResponse0(
                    message_id=req.message_id,
                    status=S.SUCCESS,
                    filter_field=f.field,
                    comparison_operator=f.operator,
                    baseline_value=f.baseline,
                )
                for f in filters
            ]
            self.reply_list(conn, items, self.no_result(mg.GetGameListFilterResponse0, req.message_id))
            return
        items = [
            mg.GetGameListFilterResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                filter_id=f.filter_id,
                filter_field=f.field,
                mask=f.mask,
                comparison_operator=f.operator,
                baseline_value=f.baseline,
            )
            for f in filters
        ]
        self.reply_list(conn, items, self.no_result(mg.GetGameListFilterResponse, req.message_id))

    # create and join -----------------------------------------------------------------------
    @handles(mg.CreateGameRequest0, mg.CreateGame1Request, mg.CreateGameRequest)
    def create_game(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        if not self.svc.limits.allow_game(s.session_key, conn.peer_label, now):
            # (answered without a log line of its own: the limiter logs, rate-limited)
            status = S.EXCEEDS_MAX_WORLDS
            self.reply(conn, mg.CreateGameResponse(message_id=req.message_id, status=status, world_id=-1))
            return
        lobby = self.svc.lobby
        name = req.game_name.strip()
        if not name:
            self._create_fail(conn, req, S.FAIL, "empty game name")
            return
        if lobby.game_name_taken(s.group, name):
            self._create_fail(conn, req, S.GAME_NAME_EXISTS, f"name {name!r} is taken")
            return
        if not player_counts_fit(req.min_players, req.max_players):
            why = f"player counts {req.min_players}..{req.max_players} out of range"
            self._create_fail(conn, req, S.INVALID_REQUEST_MSG, why)
            return
        title = s.title
        p2p = req.game_host_type in P2P_HOST_TYPES or title.hosting is Hosting.P2P
        generic = [getattr(req, f"generic_field_{i}", 0) or 0 for i in range(1, 9)]
        g = lobby.add_game(
            group=s.group,
            app_id=s.app_id,
            name=name,
            host_type=req.game_host_type,
            created_at=self.svc.deps.wall_clock(),
            channel_id=s.channel_id,
            password=req.game_password,
            spectator_password=getattr(req, "spectator_password", "") or "",
            min_players=req.min_players,
            max_players=max(1, req.max_players),
            game_level=req.game_level,
            skill_level=req.player_skill_level,
            rules_set=req.rules_set,
            generic_fields=generic,
            attributes=getattr(req, "attributes", 0) or 0,
        )
        g.host = s
        g.ends_with_host = family(title) in HOST_LEAVING_ENDS_GAME
        g.idle_deadline = now + self.svc.config.timeouts.dme_empty_world
        if p2p:
            g.status = WorldStatus.STAGING
        else:
            dme = self.svc.dme
            if dme is None or not self.svc.deps.dme_up():
                lobby.remove_game(g)
                self._create_fail(conn, req, S.TRANSACTION_TIMED_OUT, "the DME is not running")
                return
            try:
                g.dme_world_id = dme.create_world(
                    app_id=s.app_id, max_players=g.max_players, version=conn.version
                )
            except DmeError as exc:  # e.g. more players than a DME world holds: nothing is left behind
                lobby.remove_game(g)
                self._create_fail(conn, req, S.DME_ERROR, f"the DME refused the world: {exc}")
                return
            g.status = WorldStatus.STAGING  # the in-process DME confirmed the world at once
        self.reply(conn, mg.CreateGameResponse(message_id=req.message_id, status=S.SUCCESS, world_id=g.id))
        self.svc.stage(s, conn.peer, Stage.GAME_CREATED, f"game {g.id} {name!r}")
        log.info(
            "MLS %s: %s created game %d %r (%s)",
            conn.peer_label,
            s.label(),
            g.id,
            name,
            "p2p" if p2p else "dme",
        )

    def _create_fail(self, conn: Link, req, status: int, why: str) -> None:
        log.info("MLS %s: create game refused: %s", conn.peer_label, why)
        self.reply(conn, mg.CreateGameResponse(message_id=req.message_id, status=status, world_id=-1))

    @handles(mg.JoinGameRequest0, mg.JoinGameRequest)
    def join_game(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        lobby = self.svc.lobby
        world_id = req.world_id
        if world_id == -1:
            candidates = [
                g for g in self._visible_games(s) if len(g.players) < g.max_players and not g.password
            ]
            world_id = candidates[0].id if candidates else 0
        g = lobby.games.get(world_id)
        if g is None or g.group != s.group or g.status == WorldStatus.CLOSED:
            self._join_fail(conn, req, S.GAME_NOT_FOUND, f"no game {req.world_id}")
            return
        if not self.svc.groups.can_join_game(s.app_id, g.app_id):
            self._join_fail(
                conn, req, S.GAME_NOT_FOUND, f"game {g.id} is of app id {g.app_id}, another DME format"
            )
            return
        if g.password and g.password != req.game_password and g.host is not s:
            self._join_fail(conn, req, S.INVALID_PASSWORD, "wrong game password")
            return
        if s.session_key not in g.players and len(g.players) >= g.max_players:
            self._join_fail(conn, req, S.WORLD_IS_FULL, "game is full")
            return
        refusal = self.svc.deps.admission.check_join(s.account_name, g)
        if refusal is not None:
            self._join_fail(conn, req, S.REQUEST_DENIED, f"{s.account_name!r} not admitted: {refusal}")
            return
        title = s.title
        dme_world = g.dme_world_id
        if g.hosted:
            # Registered through MGCL: the host admits the joiner and hands out its access key
            # (ServerJoinGameRequest / Response); the answer reaches the console from there.
            events = self.svc.mgcl.request_join(
                conn, req.message_id, g.id, s.session_key, req.game_password, now
            )
            self.svc.route_mgcl(events)
            return
        if dme_world is None:
            self._join_p2p(conn, req, s, g)
            return
        dme = self.svc.dme
        assert dme is not None
        try:
            index, access_key = dme.reserve_slot(dme_world, s.session_key, s.account_id, s.account_name)
        except DmeError as exc:  # the DME refused: world gone, closing or full
            self._join_fail(conn, req, S.DME_ERROR, f"DME refused the slot: {exc}")
            return
        g.players[s.session_key] = GamePlayer(session=s, index=index, access_key=access_key)
        s.game_id = g.id
        s.dme_index = index
        uses_aux = Quirk.JOIN_CLIENT_SERVER_TCP not in title.quirks
        info = NetConnectionInfo(
            connection_type=NetConnectionType.CLIENT_SERVER_TCP_AUX_UDP
            if uses_aux
            else NetConnectionType.CLIENT_SERVER_TCP,
            address_list=NetAddressList(
                addresses=(
                    NetAddress(
                        address_type=NetAddressType.EXTERNAL,
                        address=self.svc.advertised_ip,
                        port=self.svc.deps.port("dme_tcp"),
                    ),
                    self.svc.nat_address(),
                )
            ),
            target_world_id=dme_world,
            server_key=self.svc.server_key_for(s),
            session_key=s.session_key,
            access_key=access_key,
        )
        self.reply(
            conn,
            mg.JoinGameResponse(
                message_id=req.message_id, status=S.SUCCESS, game_host_type=g.host_type, connect_info=info
            ),
        )
        self.svc.stage(s, conn.peer, Stage.GAME_JOINED, f"game {g.id} slot {index}")
        log.info("MLS %s: %s joins game %d %r as slot %d", conn.peer_label, s.label(), g.id, g.name, index)

    def _join_p2p(self, conn: Link, req, s: Session, g: Game) -> None:
        """Peer-to-peer: the host console is the server; hand joiners the host's addresses."""
        offered = getattr(req, "address_list", None)
        if g.host is s and offered is not None and any(a.address for a in offered.addresses):
            g.host_addresses = offered  # what the host itself says it can be reached at
        addrs = g.host_addresses
        if addrs is None:
            host_ip = g.host.ip if g.host is not None else s.ip
            addrs = NetAddressList(
                addresses=(
                    NetAddress(address_type=NetAddressType.EXTERNAL, address=host_ip, port=0),
                    self.svc.nat_address(),
                )
            )
        index = g.players[s.session_key].index if s.session_key in g.players else g.free_index()
        g.players[s.session_key] = GamePlayer(session=s, index=index, access_key=s.access_key, connected=True)
        s.game_id = g.id
        g.idle_deadline = None
        info = NetConnectionInfo(
            connection_type=NetConnectionType.PEER_TO_PEER_UDP,
            address_list=addrs,
            target_world_id=g.id,
            server_key=self.svc.server_key_for(s),
            session_key=s.session_key,
            access_key=s.access_key,
        )
        self.reply(
            conn,
            mg.JoinGameResponse(
                message_id=req.message_id, status=S.SUCCESS, game_host_type=g.host_type, connect_info=info
            ),
        )
        self.svc.stage(s, conn.peer, Stage.GAME_JOINED, f"p2p game {g.id}")

    def _join_fail(self, conn: Link, req, status: int, why: str) -> None:
        log.info("MLS %s: join refused: %s", conn.peer_label, why)
        self.reply(conn, mg.JoinGameResponse(message_id=req.message_id, status=status))

    # reports -------------------------------------------------------------------------------
    @handles(mg.WorldReport0, mg.WorldReport)
    def world_report(self, conn: Link, rep, now: float) -> None:
        s: Session = conn.session
        g = self.svc.lobby.games.get(rep.world_id)
        if g is None or g.host is not s:
            return  # only the host's reports count
        if g.status == WorldStatus.CLOSED:
            return  # once closed, always closed
        g.name = rep.game_name or g.name
        g.stats = bytes(rep.game_stats)
        if player_counts_fit(rep.min_players, rep.max_players):
            g.min_players = rep.min_players
            g.max_players = rep.max_players or g.max_players
        else:
            log.info("MLS %s: world report with player counts out of range; kept", conn.peer_label)
        g.game_level = rep.game_level
        g.skill_level = rep.player_skill_level
        g.rules_set = rep.rules_set
        for i in range(8):
            v = getattr(rep, f"generic_field_{i + 1}", None)
            if v is not None:
                g.generic_fields[i] = v
        try:
            status = WorldStatus(rep.world_status)
        except ValueError:
            status = g.status
        if status == WorldStatus.ACTIVE and g.started_at is None:
            g.started_at = self.svc.deps.wall_clock()
        g.status = status
        if status == WorldStatus.CLOSED:
            g.ended_at = self.svc.deps.wall_clock()
            self.svc.remove_game(g, "host closed the world")

    @handles(mg.PlayerReport)
    def player_report(self, conn: Link, rep, now: float) -> None:
        s: Session = conn.session
        if s.anonymous:
            return
        acct = self.svc.db.accounts.get(s.account_id)
        if acct is not None and bytes(acct.stats) != bytes(rep.stats):
            self.svc.db.accounts.set_stats(s.account_id, bytes(rep.stats))

    @handles(mg.EndGameReport)
    def end_game_report(self, conn: Link, rep, now: float) -> None:
        g = self.svc.lobby.games.get(rep.world_id)
        if g is None:
            return
        log.info(
            "game %d %r ended: winner team %r player %r score %d",
            g.id,
            g.name,
            rep.winning_team,
            rep.winning_player,
            rep.final_score,
        )
        g.status = WorldStatus.CLOSED
        g.ended_at = self.svc.deps.wall_clock()
        self.svc.deps.admission.on_end_game_report(
            g.id, rep.winning_team, rep.winning_player, rep.final_score, g.ended_at
        )
        self.svc.remove_game(g, "end-game report")
