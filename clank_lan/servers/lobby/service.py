"""The lobby as a whole: MUIS, MAS and MLS over one shared state, plus the operator actions.

Sessions, channels and games live in ``state.Lobby``; accounts and everything persistent in the
database. This object owns the cross-service logic: where a console is sent next (connect
info), who gets a chat line, how the DME's joins and leaves change a game, and the operator's
kick / ban / broadcast. It sees the rest of the appliance only through ``LobbyDeps``; the three
Medius services on top of it are built by ``apps.lobby_apps``.
"""

from __future__ import annotations

import logging

from clank_lan.db.files import FileStore, Upload
from clank_lan.db.records import BanKind
from clank_lan.dme.manager import DmeEvents, DmeManager
from clank_lan.events import PlayerStage
from clank_lan.lobby_groups import LobbyGroups
from clank_lan.mgcl_games import Event as MgclEvent
from clank_lan.mgcl_games import GameClosed, HostedGame, JoinAnswer, MgclGames, Reply
from clank_lan.protocol.medius import encode_app
from clank_lan.protocol.medius import game as mg
from clank_lan.protocol.medius.enums import NetAddressType, NetConnectionType
from clank_lan.protocol.medius.structs import NetAddress, NetAddressList, NetConnectionInfo
from clank_lan.servers.lobby.app import codec_context
from clank_lan.servers.lobby.deps import LobbyDeps
from clank_lan.servers.lobby.limits import LobbyLimits
from clank_lan.servers.lobby.state import AppSink, Channel, Game, GamePlayer, Lobby, Session, WorldStatus
from clank_lan.stages import Stage
from clank_lan.textfilter import TextFilter
from clank_lan.titles import Quirk, Title, title_for_app_id

log = logging.getLogger("clank_lan.lobby")

#: Unknown app ids reported in the log (once each); a hostile console inventing ids stops here.
_UNKNOWN_LOGGED = 256

#: Title families whose game ends when the host (DME index 0) leaves; the others migrate the
#: host among the remaining consoles themselves (Deadlocked) or keep the world.
HOST_LEAVING_ENDS_GAME = frozenset({"uya"})


def family(title: Title) -> str:
    """Account namespace of a title: every region and build of one game shares accounts."""
    return title.key.split("-", 1)[0]


class LobbyService:
    def __init__(self, deps: LobbyDeps) -> None:
        self.deps = deps
        self.config = deps.config
        self.db = deps.db
        self.lobby = Lobby(deps.rng)
        self.limits = LobbyLimits(deps.config.limits)
        self.dme: DmeManager | None = None
        self._unknown_app_ids: set[int] = set()
        t = deps.config.titles
        self.groups = LobbyGroups(
            cross_region=t.cross_region,
            families_off=t.families_off,
            families_on=t.families_on,
            extra_app_ids=t.extra_app_ids,
            extra_groups=t.extra_groups,
        )
        self.text_filter = deps.text_filter or TextFilter(t.filter_words)
        self.files = deps.files or FileStore.ephemeral()
        #: The upload in progress on each MLS connection (bounded by the store's upload limit).
        self.uploads: dict[AppSink, Upload] = {}
        mps = NetAddress(
            address_type=NetAddressType.EXTERNAL, address=deps.advertised_ip, port=deps.port("mps")
        )
        self.mgcl = MgclGames(
            self.lobby.new_game_id, log=log.info, mps_address=mps, nat_address=self.nat_address()
        )
        if deps.dme is not None:
            self.attach_dme(deps.dme)

    # titles and groups ---------------------------------------------------------------------
    def title(self, app_id: int) -> Title:
        t = title_for_app_id(app_id)
        if (
            not t.known
            and app_id not in self._unknown_app_ids
            and len(self._unknown_app_ids) < _UNKNOWN_LOGGED
        ):
            self._unknown_app_ids.add(app_id)
            log.warning(
                "unknown app id %d: serving it with generic defaults (Medius lobby, DME or P2P games as "
                "the console asks). Please report the app id with the game's name, region and disc "
                "serial (e.g. SCUS-97353) so it can join the title table",
                app_id,
            )
        return t

    def group_for(self, app_id: int, title: Title) -> str:
        """The lobby group of a session: its title family when cross-region grouping puts the app
        id in one (``uya``, ``dl``), else the title's own key."""
        return self.groups.group_name(app_id) or title.key

    def channels_for(self, s: Session) -> list[Channel]:
        """The lobby channels of a session's group, created on first use from the title table
        and the config file."""
        existing = self.lobby.channels_of(s.group)
        if existing:
            return existing
        t = s.title
        names = list(t.lobbies)
        for ch in self.config.lobby.channels:
            if ch.title in ("*", t.key, family(t)):
                names.append(ch.name)
        for name in dict.fromkeys(names):
            extra = next((c for c in self.config.lobby.channels if c.name == name), None)
            self.lobby.add_channel(
                s.group,
                name,
                max_players=extra.max_players if extra else 64,
                password=extra.password if extra else "",
            )
        return self.lobby.channels_of(s.group)

    def default_channel(self, s: Session) -> Channel:
        return self.channels_for(s)[0]

    # addresses -----------------------------------------------------------------------------
    @property
    def advertised_ip(self) -> str:
        return self.deps.advertised_ip

    def server_key_for(self, s: Session) -> bytes:
        return bytes(64) if Quirk.ZERO_SERVER_KEY in s.title.quirks else self.deps.rsa_key.modulus_le

    def nat_address(self) -> NetAddress:
        return NetAddress(
            address_type=NetAddressType.NAT_SERVICE, address=self.advertised_ip, port=self.deps.port("nat")
        )

    def mls_connect_info(self, s: Session, world_id: int) -> NetConnectionInfo:
        return NetConnectionInfo(
            connection_type=NetConnectionType.CLIENT_SERVER_TCP,
            address_list=NetAddressList(
                addresses=(
                    NetAddress(
                        address_type=NetAddressType.EXTERNAL,
                        address=self.advertised_ip,
                        port=self.deps.port("mls"),
                    ),
                    self.nat_address(),
                )
            ),
            target_world_id=world_id,
            server_key=self.server_key_for(s),
            session_key=s.session_key,
            access_key=s.access_key,
        )

    def stage(self, s: Session | None, peer: tuple[str, int], stage: Stage, detail: str = "") -> None:
        """Record a connection-doctor stage for a console and publish it."""
        if s is not None:
            s.stage.add(stage)
        self.deps.publish(
            PlayerStage(
                ts=self.deps.wall_clock(),
                ip=peer[0],
                port=peer[1],
                stage=stage,
                account=s.account_name if s else "",
                title=s.title_key if s else "",
                detail=detail,
                session=s.session_key if s else "",
            )
        )

    # sessions ------------------------------------------------------------------------------
    def attach(self, s: Session, conn: AppSink) -> None:
        if conn not in s.connections:
            s.connections.append(conn)
        s.orphan_deadline = None
        conn.session = s  # type: ignore[attr-defined]

    def detach(self, conn: AppSink, now: float) -> None:
        s: Session | None = getattr(conn, "session", None)
        if s is None:
            return
        if conn in s.connections:
            s.connections.remove(conn)
        if not s.connections and s.session_key in self.lobby.sessions:
            s.orphan_deadline = now + self.config.timeouts.keepalive_grace

    def end_session(self, s: Session, reason: str) -> None:
        """A console is gone for good: leave its game and channel, forget it."""
        if s.game_id is not None:
            g = self.lobby.games.get(s.game_id)
            if g is not None:
                self.leave_game(g, s)
        self.lobby.remove_session(s)
        for c in list(s.connections):
            c.disconnect(reason)
        log.info("session %s (%s) ended: %s", s.session_key, s.label(), reason)

    def housekeeping(self, now: float) -> None:
        for s in list(self.lobby.sessions.values()):
            if s.orphan_deadline is not None and now >= s.orphan_deadline and not s.connections:
                self.end_session(s, "no connection left")
        for g in list(self.lobby.games.values()):
            if g.idle_deadline is not None and now >= g.idle_deadline:
                self.remove_game(g, "nobody connected to it in time")
        self.route_mgcl(self.mgcl.expire(now))
        self.limits.refused.flush(now)  # quiet peers get their "... N more suppressed" line

    # console-hosted games (MGCL) -------------------------------------------------------------
    def route_mgcl(self, events: list[MgclEvent]) -> None:
        """Deliver what the MGCL model produced, then mirror its hosted games into the lobby's
        game list (a hosted game is a peer-to-peer ``Game`` with the host's addresses)."""
        for e in events:
            if isinstance(e, Reply):
                e.to.send_app(encode_app(e.message, codec_context(e.to)))  # type: ignore[attr-defined]
            elif isinstance(e, JoinAnswer):
                self._hosted_join_answer(e)
            elif isinstance(e, GameClosed):
                g = self.lobby.games.get(e.world_id)
                if g is not None and g.hosted:
                    g.status = WorldStatus.CLOSED
                    self.lobby.remove_game(g)
                    log.info("hosted game %d %r closed: %s", g.id, g.name, e.reason)
        for hosted in self.mgcl.games.values():
            self._mirror(hosted)

    def _mirror(self, h: HostedGame) -> None:
        g = self.lobby.games.get(h.world_id)
        if g is None:
            host = getattr(h.host, "session", None)
            g = self.lobby.add_game(
                game_id=h.world_id,
                group=self.group_for(h.app_id, self.title(h.app_id)),
                app_id=h.app_id,
                name=h.name,
                host_type=h.host_type,
                created_at=h.created,
                host=host,
                hosted=True,
            )
            log.info("hosted game %d %r registered by %s", g.id, g.name, host.label() if host else "a host")
        g.name, g.password, g.stats = h.name, h.password, h.stats
        g.min_players, g.max_players = h.min_players, h.max_players
        g.game_level, g.skill_level, g.rules_set = h.game_level, h.player_skill_level, h.rules_set
        g.generic_fields = list(h.generic_fields)
        g.status = WorldStatus(h.status)
        g.host_addresses = h.addresses

    def _hosted_join_answer(self, e: JoinAnswer) -> None:
        conn = e.joiner
        s: Session | None = getattr(conn, "session", None)
        g = self.lobby.games.get(e.world_id)
        if e.status == 0 and s is not None and g is not None and e.connect_info is not None:
            index = g.players[s.session_key].index if s.session_key in g.players else g.free_index()
            g.players[s.session_key] = GamePlayer(
                session=s, index=index, access_key=e.connect_info.access_key, connected=True
            )
            s.game_id = g.id
            self.stage(s, (s.ip, 0), Stage.GAME_JOINED, f"hosted game {g.id}")
        answer = mg.JoinGameResponse(
            message_id=e.message_id,
            status=e.status,
            game_host_type=g.host_type if g is not None else 0,
            connect_info=e.connect_info or NetConnectionInfo(),
        )
        conn.send_app(encode_app(answer, codec_context(conn)))  # type: ignore[union-attr]

    # games and the DME ---------------------------------------------------------------------
    def attach_dme(self, dme: DmeManager) -> None:
        self.dme = dme
        dme.events = DmeEvents(
            on_player_connected=self.on_dme_connected,
            on_player_left=self.on_dme_left,
            on_world_removed=self.on_dme_world_removed,
        )

    def game_by_world(self, world_id: int) -> Game | None:
        for g in self.lobby.games.values():
            if g.dme_world_id is not None and g.dme_world_id == world_id:
                return g
        return None

    def on_dme_connected(self, world_id: int, index: int, session_key: str, now: float) -> None:
        g = self.game_by_world(world_id)
        if g is None:
            return
        p = g.players.get(session_key)
        if p is not None:
            p.connected = True
            p.session.game_id = g.id
            p.session.dme_index = index
            self.stage(p.session, (p.session.ip, 0), Stage.DME_TCP, f"game {g.id} slot {index}")
        g.idle_deadline = None
        if g.status == WorldStatus.PENDING_CREATION:
            g.status = WorldStatus.STAGING

    def on_dme_left(self, world_id: int, index: int, session_key: str, reason: str, now: float) -> None:
        g = self.game_by_world(world_id)
        if g is None:
            return
        p = g.players.pop(session_key, None)
        if p is not None and p.session.game_id == g.id:
            p.session.game_id = None
            p.session.dme_index = None
        if index == 0 and g.ends_with_host:
            # UYA: the others see index 0 leave and the match is over for them; the world stays
            # until they have left, but the game is gone from the list at once.
            g.status = WorldStatus.CLOSED
            g.ended_at = self.deps.wall_clock()
            self.lobby.remove_game(g)
            if self.dme is not None and g.dme_world_id is not None:
                self.dme.end_world(g.dme_world_id, brutal=False)
            log.info("game %d %r closed: the host left", g.id, g.name)
            return
        if not any(pl.connected for pl in g.players.values()):
            g.idle_deadline = now + self.config.timeouts.dme_empty_world

    def on_dme_world_removed(self, world_id: int, reason: str, now: float) -> None:
        g = self.game_by_world(world_id)
        if g is not None:
            self.lobby.remove_game(g)
            log.info("game %d %r removed: %s", g.id, g.name, reason)

    def leave_game(self, g: Game, s: Session) -> None:
        p = g.players.pop(s.session_key, None)
        if p is not None and self.dme is not None and g.dme_world_id is not None:
            self.dme.release_slot(g.dme_world_id, s.session_key)
        s.game_id = None
        s.dme_index = None

    def remove_game(self, g: Game, reason: str) -> None:
        if self.dme is not None and g.dme_world_id is not None:
            self.dme.end_world(g.dme_world_id, brutal=True)
        self.lobby.remove_game(g)
        log.info("game %d %r removed: %s", g.id, g.name, reason)

    def end_game(self, game_id: int) -> bool:
        g = self.lobby.games.get(game_id)
        if g is None:
            return False
        g.status = WorldStatus.CLOSED
        self.remove_game(g, "closed by the operator")
        return True

    # operator actions ----------------------------------------------------------------------
    def broadcast(self, text: str) -> int:
        n = 0
        for s in self.lobby.sessions.values():
            for c in s.connections:
                c.send_system_message(text)
                n += 1
        log.info("broadcast to %d connections: %s", n, text)
        return n

    def kick(self, name: str, reason: str) -> bool:
        s = self.lobby.by_name(name)
        if s is None:
            return False
        for c in list(s.connections):
            c.send_system_message(reason)
        self.end_session(s, reason)
        return True

    def ban(self, name: str, minutes: float, reason: str) -> str:
        now = self.deps.wall_clock()
        found = self._accounts_named(name)
        if not found:
            return f"no account named {name!r}"
        for a in found:
            expires = now + minutes * 60 if minutes > 0 else None
            self.db.bans.add(BanKind.ACCOUNT, a.id, reason=reason, expires=expires, now=now)
        self.kick(name, f"banned: {reason}")
        span = f"for {minutes:g} minutes" if minutes > 0 else "forever"
        return f"banned {name} {span}: {reason}"

    def unban(self, name: str) -> str:
        found = self._accounts_named(name)
        if not found:
            return f"no account named {name!r}"
        ids = {str(a.id) for a in found}
        bans = [b for b in self.db.bans.listing() if b.kind == BanKind.ACCOUNT and b.target in ids]
        lifted = sum(self.db.bans.remove(b.id) for b in bans)
        for a in found:
            if a.banned:
                self.db.accounts.set_banned(a.id, False)
                lifted += 1
        return f"lifted {lifted} ban(s) on {name}"

    def _accounts_named(self, name: str) -> list:
        """Accounts with this name in any title family (an operator names players, not families)."""
        low = name.lower()
        return [a for a in self.db.accounts.listing() if a.name.lower() == low]

    def disconnect_all(self, reason: str) -> None:
        for s in list(self.lobby.sessions.values()):
            for c in list(s.connections):
                c.send_system_message(reason)
                c.disconnect(reason, 2)

    # descriptions for the console / TUI ------------------------------------------------------
    def describe_players(self) -> list[str]:
        rows = []
        for s in self.lobby.sessions.values():
            if not s.logged_in:
                continue
            where = "lobby"
            if s.channel_id is not None and s.channel_id in self.lobby.channels:
                where = f"channel {self.lobby.channels[s.channel_id].name}"
            if s.game_id is not None and s.game_id in self.lobby.games:
                where = f"game {s.game_id} {self.lobby.games[s.game_id].name!r}"
            rows.append(f"{s.account_name:<20} {s.title_key:<14} {s.ip:<15} {where}")
        return rows

    def describe_games(self) -> list[str]:
        return [
            f"{g.id:>4} {g.name!r:<24} {g.group:<14} {g.status.name.lower():<10} "
            f"{len(g.players)}/{g.max_players} host={g.host.account_name if g.host else '-'}"
            for g in self.lobby.games.values()
        ]

    def describe_channels(self) -> list[str]:
        return [
            f"{c.id:>4} {c.name:<24} {c.group:<14} {len(c.members)}/{c.max_players} "
            + ", ".join(sorted(m.account_name for m in c.members))
            for c in self.lobby.channels.values()
        ]
