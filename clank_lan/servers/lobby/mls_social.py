"""MLS handlers for what persists: stats, ladders, buddies, ignores and clans (and files).

Everything here reads and writes ``clank_lan.db``; a write is on disk before the answer goes out.
"""

from __future__ import annotations

import logging

from clank_lan.db.errors import AlreadyExists, AlreadyInClan, DbError, NotClanMember, NotFound
from clank_lan.db.records import InvitationStatus
from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import ladder as mld
from clank_lan.protocol.medius import social as mso
from clank_lan.protocol.medius.enums import CallbackStatus, PlayerStatus
from clank_lan.protocol.medius.structs import PlayerOnlineState
from clank_lan.servers.lobby.app import Link, handles
from clank_lan.servers.lobby.state import Session

log = logging.getLogger("clank_lan.mls")

S = CallbackStatus


class SocialHandlers:
    """Mixed into MlsApp."""

    # helpers shared with the other MLS mixins ------------------------------------------------
    def _stats_of(self, s: Session) -> bytes:
        if s.anonymous:
            return bytes(256)
        acct = self.svc.db.accounts.get(s.account_id)
        return bytes(acct.stats) if acct else bytes(256)

    def player_status(self, s: Session | None) -> int:
        if s is None or not s.online:
            return PlayerStatus.DISCONNECTED
        if s.game_id is not None:
            return PlayerStatus.IN_GAME_WORLD
        if s.channel_id is not None:
            return PlayerStatus.IN_CHAT_WORLD
        return PlayerStatus.IN_AUTH_WORLD

    def online_state(self, s: Session | None) -> PlayerOnlineState:
        if s is None:
            return PlayerOnlineState(connect_status=PlayerStatus.DISCONNECTED)
        lobby = self.svc.lobby
        ch = lobby.channels.get(s.channel_id) if s.channel_id is not None else None
        g = lobby.games.get(s.game_id) if s.game_id is not None else None
        return PlayerOnlineState(
            connect_status=self.player_status(s),
            lobby_world_id=ch.id if ch else 0,
            game_world_id=g.id if g else 0,
            lobby_name=ch.name if ch else "",
            game_name=g.name if g else "",
        )

    def _online(self, s: Session, account_id: int) -> Session | None:
        return self.svc.lobby.logged_in(s.namespace, account_id)

    def _name_of(self, account_id: int) -> str:
        acct = self.svc.db.accounts.get(account_id)
        return acct.name if acct else ""

    def _registered(self, conn: Link) -> Session | None:
        s: Session = conn.session
        return None if s.anonymous else s

    # stats and ladders ---------------------------------------------------------------------
    @handles(ma.AccountUpdateStatsRequest, ma.AccountUpdateStatsOpenAccessRequest)
    def update_stats(self, conn: Link, req, now: float) -> None:
        cls = (
            ma.AccountUpdateStatsResponse
            if isinstance(req, ma.AccountUpdateStatsRequest)
            else ma.AccountUpdateStatsOpenAccessResponse
        )
        s = self._registered(conn)
        if s is None:
            self.reply(conn, cls(message_id=req.message_id, status=S.PLAYER_NOT_PRIVILEGED))
            return
        self.svc.db.accounts.set_stats(s.account_id, bytes(req.stats))
        self.reply(conn, cls(message_id=req.message_id, status=S.SUCCESS))

    @handles(mld.GetLadderStatsWideRequest)
    def get_wide(self, conn: Link, req, now: float) -> None:
        if req.ladder_type == 1:
            clan = self.svc.db.clans.get(req.account_id_or_clan_id)
            values = tuple(clan.wide) if clan else None
        else:
            acct = self.svc.db.accounts.get(req.account_id_or_clan_id)
            values = tuple(acct.wide) if acct else None
        if values is None:
            self.reply(conn, mld.GetLadderStatsWideResponse(message_id=req.message_id, status=S.NO_RESULT))
            return
        self.reply(
            conn,
            mld.GetLadderStatsWideResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_id_or_clan_id=req.account_id_or_clan_id,
                stats=values,
            ),
        )

    @handles(mld.UpdateLadderStatsWideRequest)
    def update_wide(self, conn: Link, req, now: float) -> None:
        s = self._registered(conn)
        status = S.SUCCESS
        if s is None:
            status = S.PLAYER_NOT_PRIVILEGED
        elif req.ladder_type == 1:
            if s.clan_id:
                self.svc.db.clans.set_wide_stats(s.clan_id, req.stats)
            else:
                status = S.NOT_CLAN_MEMBER
        else:
            self.svc.db.accounts.set_wide_stats(s.account_id, req.stats)
        self.reply(conn, mld.UpdateLadderStatsWideResponse(message_id=req.message_id, status=status))

    @handles(mld.UpdateLadderStatsRequest)
    def update_ladder(self, conn: Link, req, now: float) -> None:
        s = self._registered(conn)
        if s is None:
            self.reply(
                conn, mld.UpdateLadderStatsResponse(message_id=req.message_id, status=S.PLAYER_NOT_PRIVILEGED)
            )
            return
        self.svc.db.accounts.set_ladder_stats(s.account_id, req.stats)
        self.reply(conn, mld.UpdateLadderStatsResponse(message_id=req.message_id, status=S.SUCCESS))

    @handles(mld.GetLadderStatsRequest)
    def get_ladder(self, conn: Link, req, now: float) -> None:
        acct = self.svc.db.accounts.get(req.account_id_or_clan_id)
        if acct is None:
            self.reply(conn, mld.GetLadderStatsResponse(message_id=req.message_id, status=S.NO_RESULT))
            return
        self.reply(
            conn,
            mld.GetLadderStatsResponse(message_id=req.message_id, status=S.SUCCESS, stats=tuple(acct.ladder)),
        )

    @handles(mld.LadderPositionExtraInfoRequest)
    def ladder_position_extra(self, conn: Link, req, now: float) -> None:
        accounts = self.svc.db.accounts
        try:
            pos, total = accounts.ladder_position(
                req.account_id, req.ladder_stat_index, descending=req.sort_order != 0
            )
        except (DbError, ValueError):
            self.reply(
                conn, mld.LadderPositionExtraInfoResponse(message_id=req.message_id, status=S.NO_RESULT)
            )
            return
        self.reply(
            conn,
            mld.LadderPositionExtraInfoResponse(
                message_id=req.message_id, status=S.SUCCESS, ladder_position=pos, total_rankings=total
            ),
        )

    @handles(mld.LadderListExtraInfoRequest, mld.LadderListExtraInfo0Request)
    def ladder_list(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        try:
            page = self.svc.db.accounts.ladder_page(
                s.namespace,
                req.ladder_stat_index,
                start=max(req.start_position, 1),
                count=req.page_size or 10,
                descending=req.sort_order != 0,
            )
        except (DbError, ValueError):
            page = []
        items = [
            mld.LadderListExtraInfoResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                ladder_position=e.position,
                ladder_stat=e.value,
                account_id=e.id,
                account_name=self._name_of(e.id),
                account_stats=self._stats_of_id(e.id),
                online_state=self.online_state(self._online(s, e.id)),
            )
            for e in page
        ]
        self.reply_list(conn, items, self.no_result(mld.LadderListExtraInfoResponse, req.message_id))

    def _stats_of_id(self, account_id: int) -> bytes:
        acct = self.svc.db.accounts.get(account_id)
        return bytes(acct.stats) if acct else bytes(256)

    @handles(mld.GetTotalRankingsRequest)
    def total_rankings(self, conn: Link, req, now: float) -> None:
        n = self.svc.db.accounts.total_rankings(conn.session.namespace)
        self.reply(
            conn, mld.GetTotalRankingsResponse(message_id=req.message_id, status=S.SUCCESS, total_rankings=n)
        )

    # buddies -------------------------------------------------------------------------------
    def _buddies(self, s: Session):
        return self.svc.db.buddies.of(s.account_id) if not s.anonymous else []

    @handles(mso.GetBuddyListRequest)
    def buddy_list(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        items = [
            mso.GetBuddyListResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_id=b.buddy_id,
                account_name=self._name_of(b.buddy_id),
                player_status=self.player_status(self._online(s, b.buddy_id)),
            )
            for b in self._buddies(s)
        ]
        self.reply_list(conn, items, self.no_result(mso.GetBuddyListResponse, req.message_id))

    @handles(mso.GetBuddyListExtraInfoRequest)
    def buddy_list_extra(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        items = [
            mso.GetBuddyListExtraInfoResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_id=b.buddy_id,
                account_name=self._name_of(b.buddy_id),
                online_state=self.online_state(self._online(s, b.buddy_id)),
            )
            for b in self._buddies(s)
        ]
        self.reply_list(conn, items, self.no_result(mso.GetBuddyListExtraInfoResponse, req.message_id))

    @handles(mso.AddToBuddyListRequest)
    def add_buddy(self, conn: Link, req, now: float) -> None:
        s = self._registered(conn)
        status = S.SUCCESS
        if s is None or self.svc.db.accounts.get(req.account_id) is None or req.account_id == s.account_id:
            status = S.ACCOUNT_NOT_FOUND if s else S.PLAYER_NOT_PRIVILEGED
        else:
            self.svc.db.buddies.add(s.account_id, req.account_id)
        self.reply(conn, mso.AddToBuddyListResponse(message_id=req.message_id, status=status))

    @handles(mso.RemoveFromBuddyListRequest)
    def remove_buddy(self, conn: Link, req, now: float) -> None:
        s = self._registered(conn)
        ok = s is not None and self.svc.db.buddies.remove(s.account_id, req.account_id)
        self.reply(
            conn,
            mso.RemoveFromBuddyListResponse(
                message_id=req.message_id, status=S.SUCCESS if ok else S.NO_RESULT
            ),
        )

    @handles(mso.AddToBuddyListConfirmationRequest)
    def buddy_confirmation(self, conn: Link, req, now: float) -> None:
        """Ask the target to confirm; they answer with AddToBuddyListFwdConfirmationResponse."""
        s = self._registered(conn)
        target = self.svc.db.accounts.get(req.target_account_id)
        if s is None or target is None:
            self.reply(
                conn,
                mso.AddToBuddyListConfirmationResponse(
                    message_id=req.message_id,
                    status=S.ACCOUNT_NOT_FOUND,
                    target_account_id=req.target_account_id,
                ),
            )
            return
        self.svc.db.buddies.request(s.account_id, target.id, symmetric=req.add_type == 1)
        online = self._online(s, target.id)
        if online is not None:
            for c in online.connections:
                if getattr(c, "app", None) is self:
                    self.reply(
                        c,
                        mso.AddToBuddyListFwdConfirmation(
                            message_id=req.message_id,
                            originator_account_id=s.account_id,
                            originator_account_name=s.account_name,
                            add_type=req.add_type,
                        ),
                    )
        s.pending_buddy_reply = (conn, req.message_id)

    @handles(mso.AddToBuddyListFwdConfirmationResponse)
    def buddy_confirmation_answer(self, conn: Link, req, now: float) -> None:
        s = self._registered(conn)
        if s is None:
            return
        accepted = req.status == S.SUCCESS
        try:
            self.svc.db.buddies.respond(req.originator_account_id, s.account_id, accept=accepted)
        except DbError as exc:
            log.info("MLS %s: buddy confirmation: %s", conn.peer_label, exc)
            return
        origin = self._online(s, req.originator_account_id)
        pending = origin.pending_buddy_reply if origin else None
        if pending:
            oconn, mid = pending
            origin.pending_buddy_reply = None
            self.reply(
                oconn,
                mso.AddToBuddyListConfirmationResponse(
                    message_id=mid,
                    status=S.SUCCESS if accepted else S.REQUEST_DENIED,
                    target_account_id=s.account_id,
                    target_account_name=s.account_name,
                ),
            )

    @handles(mso.GetBuddyInvitationsRequest)
    def buddy_invitations(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        reqs = [] if s.anonymous else self.svc.db.buddies.requests_for(s.account_id)
        items = [
            mso.GetBuddyInvitationsResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_id=r.from_id,
                account_name=self._name_of(r.from_id),
                add_type=1 if r.symmetric else 0,
            )
            for r in reqs
        ]
        self.reply_list(conn, items, self.no_result(mso.GetBuddyInvitationsResponse, req.message_id))

    # ignore list ---------------------------------------------------------------------------
    @handles(mso.GetIgnoreListRequest)
    def ignore_list(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        ignores = [] if s.anonymous else self.svc.db.ignores.of(s.account_id)
        items = [
            mso.GetIgnoreListResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                ignore_account_id=i.ignored_id,
                ignore_account_name=self._name_of(i.ignored_id),
                player_status=self.player_status(self._online(s, i.ignored_id)),
            )
            for i in ignores
        ]
        self.reply_list(conn, items, self.no_result(mso.GetIgnoreListResponse, req.message_id))

    @handles(mso.AddToIgnoreListRequest)
    def add_ignore(self, conn: Link, req, now: float) -> None:
        s = self._registered(conn)
        status = S.SUCCESS
        if s is None or self.svc.db.accounts.get(req.ignore_account_id) is None:
            status = S.ACCOUNT_NOT_FOUND
        else:
            self.svc.db.ignores.add(s.account_id, req.ignore_account_id)
        self.reply(conn, mso.AddToIgnoreListResponse(message_id=req.message_id, status=status))

    @handles(mso.RemoveFromIgnoreListRequest)
    def remove_ignore(self, conn: Link, req, now: float) -> None:
        s = self._registered(conn)
        ok = s is not None and self.svc.db.ignores.remove(s.account_id, req.ignore_account_id)
        self.reply(
            conn,
            mso.RemoveFromIgnoreListResponse(
                message_id=req.message_id, status=S.SUCCESS if ok else S.NO_RESULT
            ),
        )

    # clans ---------------------------------------------------------------------------------
    def _clan_answer(self, conn: Link, cls, req, fn) -> None:
        """Run a clan write; map database refusals to a Medius status."""
        try:
            fn()
            status = S.SUCCESS
        except DbError as exc:
            status = _clan_status(exc)
            log.info("MLS %s: %s refused: %s", conn.peer_label, type(req).__name__, exc)
        self.reply(conn, cls(message_id=req.message_id, status=status))

    @handles(mso.CreateClanRequest)
    def create_clan(self, conn: Link, req, now: float) -> None:
        s = self._registered(conn)
        if s is None:
            self.reply(
                conn, mso.CreateClanResponse(message_id=req.message_id, status=S.PLAYER_NOT_PRIVILEGED)
            )
            return
        try:
            clan_id = self.svc.db.clans.create(s.namespace, req.clan_name, s.account_id)
        except DbError as exc:
            self.reply(conn, mso.CreateClanResponse(message_id=req.message_id, status=_clan_status(exc)))
            return
        s.clan_id = clan_id
        self.reply(conn, mso.CreateClanResponse(message_id=req.message_id, status=S.SUCCESS, clan_id=clan_id))

    def _clan_fields(self, clan) -> dict:
        return {
            "clan_name": clan.name,
            "leader_account_id": clan.leader_id,
            "leader_account_name": self._name_of(clan.leader_id),
            "stats": bytes(clan.stats),
            "clan_status": 0 if clan.active else -1,
        }

    @handles(mso.GetClanByIDRequest)
    def clan_by_id(self, conn: Link, req, now: float) -> None:
        clan = self.svc.db.clans.get(req.clan_id)
        if clan is None:
            self.reply(conn, mso.GetClanByIDResponse(message_id=req.message_id, status=S.CLAN_NOT_FOUND))
            return
        self.reply(
            conn,
            mso.GetClanByIDResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                app_id=conn.session.app_id,
                **self._clan_fields(clan),
            ),
        )

    @handles(mso.GetClanByNameRequest)
    def clan_by_name(self, conn: Link, req, now: float) -> None:
        clan = self.svc.db.clans.by_name(conn.session.namespace, req.clan_name)
        if clan is None:
            self.reply(conn, mso.GetClanByNameResponse(message_id=req.message_id, status=S.CLAN_NOT_FOUND))
            return
        fields = self._clan_fields(clan)
        fields.pop("clan_name")
        self.reply(
            conn,
            mso.GetClanByNameResponse(message_id=req.message_id, status=S.SUCCESS, clan_id=clan.id, **fields),
        )

    @handles(mso.GetMyClansRequest)
    def my_clans(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        clans = [] if s.anonymous else self.svc.db.clans.of_account(s.account_id)
        items = [
            mso.GetMyClansResponse(
                message_id=req.message_id,
                status=S.SUCCESS,
                clan_id=c.id,
                app_id=s.app_id,
                **self._clan_fields(c),
            )
            for c in clans
        ]
        self.reply_list(conn, items, self.no_result(mso.GetMyClansResponse, req.message_id))

    def _my_clan(self, s: Session):
        member = None if s.anonymous else self.svc.db.clans.membership(s.account_id)
        return self.svc.db.clans.get(member.clan_id) if member else None

    @handles(mso.InvitePlayerToClanRequest)
    def invite_to_clan(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        clan = self._my_clan(s)
        if clan is None or clan.leader_id != s.account_id:
            self.reply(
                conn, mso.InvitePlayerToClanResponse(message_id=req.message_id, status=S.NOT_CLAN_LEADER)
            )
            return
        self._clan_answer(
            conn,
            mso.InvitePlayerToClanResponse,
            req,
            lambda: self.svc.db.clans.invite(clan.id, req.player_account_id, req.text),
        )

    @handles(mso.CheckMyClanInvitationsRequest)
    def my_invitations(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        invs = [] if s.anonymous else self.svc.db.clans.invitations_for(s.account_id)
        items = []
        for inv in invs:
            clan = self.svc.db.clans.get(inv.clan_id)
            if clan is None:
                continue
            items.append(
                mso.CheckMyClanInvitationsResponse(
                    message_id=req.message_id,
                    status=S.SUCCESS,
                    clan_invitation_id=inv.id,
                    clan_id=clan.id,
                    response_status=int(inv.status),
                    text=inv.message,
                    leader_account_id=clan.leader_id,
                    leader_account_name=self._name_of(clan.leader_id),
                )
            )
        self.reply_list(conn, items, self.no_result(mso.CheckMyClanInvitationsResponse, req.message_id))

    @handles(mso.RespondToClanInvitationRequest)
    def respond_invitation(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session

        def act() -> None:
            inv = self.svc.db.clans.invitation(req.clan_invitation_id)
            if inv is None or inv.account_id != s.account_id:
                raise NotFound(f"no invitation {req.clan_invitation_id} for {s.account_name}")
            self.svc.db.clans.respond(req.clan_invitation_id, InvitationStatus(req.response), req.text)
            member = self.svc.db.clans.membership(s.account_id)
            s.clan_id = member.clan_id if member else 0

        self._clan_answer(conn, mso.RespondToClanInvitationResponse, req, act)

    @handles(mso.RemovePlayerFromClanRequest)
    def leave_clan(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        clan_id = req.clan_id or s.clan_id
        target = req.player_account_id or s.account_id
        clan = self.svc.db.clans.get(clan_id)
        if clan is None or (target != s.account_id and clan.leader_id != s.account_id):
            self.reply(
                conn, mso.RemovePlayerFromClanResponse(message_id=req.message_id, status=S.NOT_CLAN_LEADER)
            )
            return

        def act() -> None:
            self.svc.db.clans.leave(clan_id, target)
            if target == s.account_id:
                s.clan_id = 0

        self._clan_answer(conn, mso.RemovePlayerFromClanResponse, req, act)

    @handles(mso.DisbandClanRequest)
    def disband(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        clan = self.svc.db.clans.get(req.clan_id or s.clan_id)
        if clan is None or clan.leader_id != s.account_id:
            self.reply(conn, mso.DisbandClanResponse(message_id=req.message_id, status=S.NOT_CLAN_LEADER))
            return

        def act() -> None:
            self.svc.db.clans.disband(clan.id)
            for o in self.svc.lobby.sessions.values():
                if o.clan_id == clan.id:
                    o.clan_id = 0

        self._clan_answer(conn, mso.DisbandClanResponse, req, act)

    @handles(mso.GetClanMemberListRequest)
    def clan_members(self, conn: Link, req, now: float) -> None:
        members = self.svc.db.clans.members(req.clan_id)
        items = [
            mso.GetClanMemberListResponse(
                message_id=req.message_id,
                account_id=m.account_id,
                account_name=self._name_of(m.account_id),
                status=S.SUCCESS,
            )
            for m in members
        ]
        self.reply_list(conn, items, self.no_result(mso.GetClanMemberListResponse, req.message_id))

    @handles(mso.GetClanMemberListExtraInfoRequest)
    def clan_members_extra(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        members = self.svc.db.clans.members(req.clan_id)
        items = []
        for m in members:
            acct = self.svc.db.accounts.get(m.account_id)
            if acct is None:
                continue
            stat = acct.wide[req.ladder_stat_index] if 0 <= req.ladder_stat_index < 100 else 0
            items.append(
                mso.GetClanMemberListExtraInfoResponse(
                    message_id=req.message_id,
                    status=S.SUCCESS,
                    account_id=acct.id,
                    account_name=acct.name,
                    stats=bytes(acct.stats),
                    online_state=self.online_state(self._online(s, acct.id)),
                    ladder_stat=stat,
                )
            )
        self.reply_list(conn, items, self.no_result(mso.GetClanMemberListExtraInfoResponse, req.message_id))

    @handles(mso.UpdateClanStatsRequest)
    def clan_stats(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        clan = self._my_clan(s)
        if clan is None or clan.id != req.clan_id:
            self.reply(conn, mso.UpdateClanStatsResponse(message_id=req.message_id, status=S.NOT_CLAN_MEMBER))
            return
        self._clan_answer(
            conn,
            mso.UpdateClanStatsResponse,
            req,
            lambda: self.svc.db.clans.set_stats(clan.id, bytes(req.stats)),
        )

    @handles(mso.SendClanMessageRequest)
    def clan_message(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        clan = self._my_clan(s)
        if clan is None:
            self.reply(conn, mso.SendClanMessageResponse(message_id=req.message_id, status=S.NOT_CLAN_MEMBER))
            return
        self._clan_answer(
            conn,
            mso.SendClanMessageResponse,
            req,
            lambda: self.svc.db.clans.post_message(clan.id, s.account_id, req.text),
        )

    @handles(mso.GetMyClanMessagesRequest)
    def my_clan_messages(self, conn: Link, req, now: float) -> None:
        msgs = self.svc.db.clans.messages(req.clan_id, start=req.start, count=req.page_size or None)
        items = [
            mso.GetMyClanMessagesResponse(
                message_id=req.message_id, status=S.SUCCESS, clan_id=req.clan_id, text=m.text
            )
            for m in msgs
        ]
        self.reply_list(conn, items, self.no_result(mso.GetMyClanMessagesResponse, req.message_id))


def _clan_status(exc: DbError) -> int:
    """The Medius status for a database refusal of a clan operation."""
    if isinstance(exc, AlreadyExists):
        return S.CLAN_NAME_IN_USE
    if isinstance(exc, NotFound):
        return S.CLAN_NOT_FOUND
    if isinstance(exc, AlreadyInClan):
        return S.ALREADY_LEADER_OF_CLAN
    if isinstance(exc, NotClanMember):
        return S.NOT_CLAN_MEMBER
    return S.FAIL
