"""The lobby as a whole: MUIS, MAS and MLS over one shared state, plus the operator actions.

Sessions, channels and games live in ``state.Lobby``; accounts and everything persistent in the
database. This object owns the cross-service logic: where a console is sent next (connect
info), who gets a chat line, how the DME's joins and leaves change a game, and the operator's
kick / ban / broadcast.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from clank_lan.db.records import BanKind
from clank_lan.events import Event
from clank_lan.protocol.medius.enums import NetAddressType, NetConnectionType
from clank_lan.protocol.medius.structs import NetAddress, NetAddressList, NetConnectionInfo
from clank_lan.servers.lobby.state import Channel, Game, Lobby, Session, WorldStatus
from clank_lan.titles import Quirk, Title, title_for_app_id

if TYPE_CHECKING:
    from clank_lan.dme.manager import DmeManager
    from clank_lan.engine import Engine

log = logging.getLogger("clank_lan.lobby")


class PlayerStage(Event, frozen=True, kw_only=True):
    """A console reached a stage of the connection doctor (muis, mas-login, mls, game, dme-tcp...)."""

    ip: str
    stage: str
    account: str = ""
    title: str = ""
    detail: str = ""


class ChatLine(Event, frozen=True, kw_only=True):
    group: str
    channel: str
    sender: str
    text: str
    whisper_to: str = ""


#: Title families whose game ends when the host (DME index 0) leaves; the others migrate the
#: host among the remaining consoles themselves (Deadlocked) or keep the world.
HOST_LEAVING_ENDS_GAME = frozenset({"uya"})


def family(title: Title) -> str:
    """Account namespace of a title: every region and build of one game shares accounts."""
    return title.key.split("-", 1)[0]


class LobbyServices:
    def __init__(self, engine: Engine) -> None:
        from clank_lan.servers.lobby.mas import MasApp
        from clank_lan.servers.lobby.mls import MlsApp
        from clank_lan.servers.lobby.muis import MuisApp

        self.engine = engine
        self.config = engine.config
        self.db = engine.db
        self.lobby = Lobby(engine.rng)
        self.muis = MuisApp(self)
        self.mas = MasApp(self)
        self.mls = MlsApp(self)
        self.dme: DmeManager | None = None
        self._unknown_app_ids: set[int] = set()

    # titles and groups ---------------------------------------------------------------------
    def title(self, app_id: int) -> Title:
        t = title_for_app_id(app_id)
        if not t.known and app_id not in self._unknown_app_ids:
            self._unknown_app_ids.add(app_id)
            log.warning("unknown app id %d: serving it with generic defaults (please report it)", app_id)
        return t

    def channels_for(self, s: Session) -> list[Channel]:
        """The lobby channels of a session's group, created on first use from the title table
        and the config file."""
        existing = self.lobby.channels_of(s.group)
        if existing:
            return existing
        t = title_for_app_id(s.app_id)
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
        return self.engine.addresses.advertised

    def server_key_for(self, s: Session) -> bytes:
        t = title_for_app_id(s.app_id)
        return bytes(64) if Quirk.ZERO_SERVER_KEY in t.quirks else self.engine.rsa_key.modulus_le

    def nat_address(self) -> NetAddress:
        return NetAddress(
            address_type=NetAddressType.NAT_SERVICE, address=self.advertised_ip, port=self.engine.port("nat")
        )

    def mls_connect_info(self, s: Session, world_id: int) -> NetConnectionInfo:
        return NetConnectionInfo(
            connection_type=NetConnectionType.CLIENT_SERVER_TCP,
            address_list=NetAddressList(
                addresses=(
                    NetAddress(
                        address_type=NetAddressType.EXTERNAL,
                        address=self.advertised_ip,
                        port=self.engine.port("mls"),
                    ),
                    self.nat_address(),
                )
            ),
            target_world_id=world_id,
            server_key=self.server_key_for(s),
            session_key=s.session_key,
            access_key=s.access_key,
        )

    def stage(self, s: Session | None, ip: str, stage: str, detail: str = "") -> None:
        """Record a connection-doctor stage for a console and publish it."""
        if s is not None:
            s.stage.add(stage)
        self.engine.bus.publish(
            PlayerStage(
                ts=self.engine.wall_clock(),
                ip=ip,
                stage=stage,
                account=s.account_name if s else "",
                title=s.title_key if s else "",
                detail=detail,
            )
        )

    # sessions ------------------------------------------------------------------------------
    def attach(self, s: Session, conn) -> None:
        if conn not in s.connections:
            s.connections.append(conn)
        s.orphan_deadline = None
        conn.session = s

    def detach(self, conn, now: float) -> None:
        s: Session | None = conn.session
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

    # games and the DME ---------------------------------------------------------------------
    def attach_dme(self, dme: DmeManager) -> None:
        from clank_lan.dme.manager import DmeEvents

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

    def on_dme_connected(self, world_id: int, index: int, session_key: str) -> None:
        g = self.game_by_world(world_id)
        if g is None:
            return
        p = g.players.get(session_key)
        if p is not None:
            p.connected = True
            p.session.game_id = g.id
            p.session.dme_index = index
            self.stage(p.session, p.session.ip, "dme", f"game {g.id} slot {index}")
        g.idle_deadline = None
        if g.status == WorldStatus.PENDING_CREATION:
            g.status = WorldStatus.STAGING

    def on_dme_left(self, world_id: int, index: int, session_key: str, reason: str) -> None:
        g = self.game_by_world(world_id)
        if g is None:
            return
        p = g.players.pop(session_key, None)
        if p is not None and p.session.game_id == g.id:
            p.session.game_id = None
            p.session.dme_index = None
        if index == 0 and family(title_for_app_id(g.app_id)) in HOST_LEAVING_ENDS_GAME:
            # UYA: the others see index 0 leave and the match is over for them; the world stays
            # until they have left, but the game is gone from the list at once.
            g.status = WorldStatus.CLOSED
            g.ended_at = self.engine.wall_clock()
            self.lobby.remove_game(g)
            if self.dme is not None and g.dme_world_id is not None:
                self.dme.end_world(g.dme_world_id, brutal=False)
            log.info("game %d %r closed: the host left", g.id, g.name)
            return
        if not any(pl.connected for pl in g.players.values()):
            import trio

            g.idle_deadline = trio.current_time() + self.config.timeouts.dme_empty_world

    def on_dme_world_removed(self, world_id: int, reason: str) -> None:
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
        now = self.engine.wall_clock()
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
