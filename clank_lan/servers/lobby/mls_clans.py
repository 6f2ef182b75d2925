"""The MLS's clan management beyond create / invite / join (issue 13 item 3): leadership transfer,
adding a player, revoking an invitation, editing and deleting clan messages, the invitations a
clan sent, all its messages, the clan ladder, invitations by account name, and clan team
challenges (request, respond, revoke, confirm, list, history; stored in ``db.challenges``).

Every write is the leader's (as in the SDK: ``MediusNotClanLeader`` otherwise) and goes through
``db.clans``, whose refusals map onto Medius statuses in ``SocialHandlers._clan_answer``. Mixed
into ``MlsApp`` after ``SocialHandlers``, whose helpers it uses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from clank_lan.db.challenges import ChallengeStatus, ClanChallenge, TooManyChallenges
from clank_lan.db.errors import AlreadyExists, DbError, InvalidValue, NotFound
from clank_lan.db.records import InvitationStatus
from clank_lan.protocol.medius import ladder as mld
from clank_lan.protocol.medius import social as mso
from clank_lan.protocol.medius.enums import CallbackStatus, ClanMessageStatus, SortOrder
from clank_lan.servers.lobby.app import Link, handles
from clank_lan.servers.lobby.state import Session

if TYPE_CHECKING:
    from clank_lan.db.records import Clan

log = logging.getLogger("clank_lan.mls")

S = CallbackStatus
#: Stat slots of the 100-int wide clan stats a ladder can sort on.
_WIDE_SLOTS = range(100)
#: What a challenged clan's leader may answer (RespondToClanTeamChallenge.challenge_status).
_ANSWERS = (ChallengeStatus.ACCEPTED, ChallengeStatus.REFUSED)
_I32_MAX = 2**31 - 1


class ClanHandlers:
    def _led_clan(self, conn: Link, req, cls) -> Clan | None:
        """The clan the requester leads; otherwise answers ``cls`` with NotClanLeader."""
        s: Session = conn.session
        clan = self._my_clan(s)
        if clan is None or clan.leader_id != s.account_id:
            self.reply(conn, cls(message_id=req.message_id, status=S.NOT_CLAN_LEADER))
            return None
        return clan

    @handles(mso.TransferClanLeadershipRequest)
    def transfer_leadership(self, conn: Link, req, now: float) -> None:
        clan = self._led_clan(conn, req, mso.TransferClanLeadershipResponse)
        if clan is None:
            return
        new_id = req.new_leader_account_id
        if new_id <= 0 and req.new_leader_account_name:
            acct = self.svc.db.accounts.by_name(conn.session.namespace, req.new_leader_account_name)
            new_id = acct.id if acct else 0
        self._clan_answer(
            conn,
            mso.TransferClanLeadershipResponse,
            req,
            lambda: self.svc.db.clans.transfer_leadership(clan.id, new_id),
        )

    @handles(mso.AddPlayerToClanRequest)
    def add_player(self, conn: Link, req, now: float) -> None:
        clan = self._led_clan(conn, req, mso.AddPlayerToClanResponse)
        if clan is not None:
            self._clan_answer(
                conn,
                mso.AddPlayerToClanResponse,
                req,
                lambda: self.svc.db.clans.join(clan.id, req.player_account_id, now=self._wall()),
            )

    @handles(mso.InvitePlayerToClanByNameRequest)
    def invite_by_name(self, conn: Link, req, now: float) -> None:
        clan = self._led_clan(conn, req, mso.InvitePlayerToClanResponse)
        if clan is None:
            return
        acct = self.svc.db.accounts.by_name(conn.session.namespace, req.account_name)
        if acct is None:
            self.reply(
                conn, mso.InvitePlayerToClanResponse(message_id=req.message_id, status=S.ACCOUNT_NOT_FOUND)
            )
            return
        self._clan_answer(
            conn,
            mso.InvitePlayerToClanResponse,
            req,
            lambda: self.svc.db.clans.invite(clan.id, acct.id, req.text),
        )

    @handles(mso.RevokeClanInvitationRequest)
    def revoke_invitation(self, conn: Link, req, now: float) -> None:
        clan = self._led_clan(conn, req, mso.RevokeClanInvitationResponse)
        if clan is None:
            return
        inv = self.svc.db.clans.pending_invitation(clan.id, req.player_account_id)
        if inv is None:
            self.reply(conn, mso.RevokeClanInvitationResponse(message_id=req.message_id, status=S.NO_RESULT))
            return
        self._clan_answer(
            conn,
            mso.RevokeClanInvitationResponse,
            req,
            lambda: self.svc.db.clans.respond(inv.id, InvitationStatus.REVOKED, now=self._wall()),
        )

    def _own_message(self, conn: Link, req, cls, clan: Clan):
        msg = self.svc.db.clans.message(req.clan_message_id)
        if msg is None or msg.clan_id != clan.id:
            self.reply(conn, cls(message_id=req.message_id, status=S.NO_RESULT))
            return None
        return msg

    @handles(mso.ModifyClanMessageRequest)
    def modify_message(self, conn: Link, req, now: float) -> None:
        clan = self._led_clan(conn, req, mso.ModifyClanMessageResponse)
        if clan is None or self._own_message(conn, req, mso.ModifyClanMessageResponse, clan) is None:
            return
        self._clan_answer(
            conn,
            mso.ModifyClanMessageResponse,
            req,
            lambda: self.svc.db.clans.edit_message(req.clan_message_id, req.text, now=self._wall()),
        )

    @handles(mso.DeleteClanMessageRequest)
    def delete_message(self, conn: Link, req, now: float) -> None:
        clan = self._led_clan(conn, req, mso.DeleteClanMessageResponse)
        if clan is None or self._own_message(conn, req, mso.DeleteClanMessageResponse, clan) is None:
            return
        self.svc.db.clans.delete_message(req.clan_message_id)
        self.reply(conn, mso.DeleteClanMessageResponse(message_id=req.message_id, status=S.SUCCESS))

    @handles(mso.GetClanInvitationsSentRequest)
    def invitations_sent(self, conn: Link, req, now: float) -> None:
        cls = mso.GetClanInvitationsSentResponse
        clan = self._led_clan(conn, req, cls)
        if clan is None:
            return
        sent = self.svc.db.clans.invitations_sent(clan.id, pending_only=False)
        items = [
            cls(
                message_id=req.message_id,
                status=S.SUCCESS,
                account_id=inv.account_id,
                account_name=self._name_of(inv.account_id),
                response_text=inv.response,
                response_status=int(inv.status),
                response_time=int(inv.responded or 0),
            )
            for inv in _window(sent, req.start, req.page_size)
        ]
        self.reply_list(conn, items, self.no_result(cls, req.message_id))

    @handles(mso.GetAllClanMessagesRequest)
    def all_messages(self, conn: Link, req, now: float) -> None:
        cls = mso.GetAllClanMessagesResponse
        clan = self._my_clan(conn.session)
        msgs = self.svc.db.clans.messages(clan.id) if clan else []
        items = [
            cls(
                message_id=req.message_id,
                status=S.SUCCESS,
                clan_message_id=m.id,
                text=m.text,
                message_status=ClanMessageStatus.MODIFIED if m.edited is not None else ClanMessageStatus.READ,
            )
            for m in _window(msgs, req.start, req.page_size)
        ]
        self.reply_list(conn, items, self.no_result(cls, req.message_id))

    @handles(mld.ClanLadderListRequest)
    def clan_ladder(self, conn: Link, req, now: float) -> None:
        cls = mld.ClanLadderListResponse
        if req.clan_ladder_stat_index not in _WIDE_SLOTS:
            self.reply(conn, self.no_result(cls, req.message_id))
            return
        size = req.page_size if 0 < req.page_size <= 100 else 100
        rows = self.svc.db.clans.ladder_page(
            conn.session.namespace,
            req.clan_ladder_stat_index,
            start=max(req.start_position, 1),
            count=size,
            descending=req.sort_order != SortOrder.ASCENDING,
        )
        items = []
        for row in rows:
            clan = self.svc.db.clans.get(row.id)
            items.append(
                cls(
                    message_id=req.message_id,
                    status=S.SUCCESS,
                    clan_id=row.id,
                    clan_name=clan.name if clan else "",
                    ladder_position=row.position,
                )
            )
        self.reply_list(conn, items, self.no_result(cls, req.message_id))

    @handles(mld.ClanLadderPositionRequest)
    def clan_ladder_position(self, conn: Link, req, now: float) -> None:
        cls = mld.ClanLadderPositionResponse
        clan = self.svc.db.clans.get(req.clan_id)
        if clan is None or not clan.active or req.clan_ladder_stat_index not in _WIDE_SLOTS:
            self.reply(conn, cls(message_id=req.message_id, status=S.CLAN_NOT_FOUND))
            return
        position, total = self.svc.db.clans.ladder_position(
            clan.id, req.clan_ladder_stat_index, descending=req.sort_order != SortOrder.ASCENDING
        )
        self.reply(
            conn,
            cls(message_id=req.message_id, status=S.SUCCESS, ladder_position=position, total_rankings=total),
        )

    # clan team challenges ----------------------------------------------------------------------
    @handles(mso.RequestClanTeamChallengeRequest)
    def request_challenge(self, conn: Link, req, now: float) -> None:
        cls = mso.RequestClanTeamChallengeResponse
        clan = self._led_clan(conn, req, cls)
        if clan is None:
            return
        if self._live_clan(req.clan_id, clan.namespace) is None:
            self.reply(conn, cls(message_id=req.message_id, status=S.CLAN_NOT_FOUND))
            return
        self._challenge_answer(
            conn,
            cls,
            req,
            lambda: self.svc.db.challenges.request(clan.id, req.clan_id, req.text, now=self._wall()),
        )

    @handles(mso.RespondToClanTeamChallengeRequest)
    def respond_to_challenge(self, conn: Link, req, now: float) -> None:
        """The challenged clan's leader accepts or refuses."""
        cls = mso.RespondToClanTeamChallengeResponse
        clan = self._led_clan(conn, req, cls)
        if clan is None or self._challenge_of(conn, req, cls, against=clan.id) is None:
            return
        if req.challenge_status not in _ANSWERS:
            self.reply(conn, cls(message_id=req.message_id, status=S.INVALID_REQUEST_MSG))
            return
        status = ChallengeStatus(req.challenge_status)
        self._challenge_answer(
            conn,
            cls,
            req,
            lambda: self.svc.db.challenges.move(req.clan_challenge_id, status, req.text, now=self._wall()),
        )

    @handles(mso.RevokeClanTeamChallengeRequest, mso.ConfirmClanTeamChallengeRequest)
    def settle_challenge(self, conn: Link, req, now: float) -> None:
        """The challenger's leader withdraws an open challenge or confirms an accepted one."""
        if isinstance(req, mso.RevokeClanTeamChallengeRequest):
            cls, status = mso.RevokeClanTeamChallengeResponse, ChallengeStatus.REVOKED
        else:
            cls, status = mso.ConfirmClanTeamChallengeResponse, ChallengeStatus.CONFIRMED
        clan = self._led_clan(conn, req, cls)
        if clan is None or self._challenge_of(conn, req, cls, challenger=clan.id) is None:
            return
        self._challenge_answer(
            conn,
            cls,
            req,
            lambda: self.svc.db.challenges.move(req.clan_challenge_id, status, now=self._wall()),
        )

    @handles(mso.GetClanTeamChallengesRequest)
    def list_challenges(self, conn: Link, req, now: float) -> None:
        """A clan's challenges in one status; ``challenged_only`` keeps those it received."""
        cls = mso.GetClanTeamChallengesResponse
        clan = self._live_clan(req.clan_id, conn.session.namespace)
        if clan is None:
            self.reply(conn, cls(message_id=req.message_id, status=S.CLAN_NOT_FOUND, end_of_list=True))
            return
        chosen = [
            c
            for c in self.svc.db.challenges.involving(clan.id)
            if c.status == req.challenge_status and (not req.challenged_only or c.against_clan_id == clan.id)
        ]
        items = [
            cls(
                message_id=req.message_id,
                status=S.SUCCESS,
                challenger_clan_id=c.challenger_clan_id,
                against_clan_id=c.against_clan_id,
                challenge_status=int(c.status),
                response_time=_stamp(c.responded),
                challenge_text=c.text,
                response_text=c.response,
                clan_challenge_id=c.id,
            )
            for c in _window(chosen, req.start, req.page_size)
        ]
        self.reply_list(conn, items, self.no_result(cls, req.message_id))

    @handles(mso.GetClanTeamChallengeHistoryRequest)
    def challenge_history(self, conn: Link, req, now: float) -> None:
        """Every challenge the clan issued (``this_clan_is_challenger``) or received, oldest first;
        ``against_clan_id`` names the other clan."""
        cls = mso.GetClanTeamChallengeHistoryResponse
        clan = self._live_clan(req.clan_id, conn.session.namespace)
        if clan is None:
            self.reply(conn, cls(message_id=req.message_id, status=S.CLAN_NOT_FOUND, end_of_list=True))
            return
        issued = bool(req.this_clan_is_challenger)
        chosen = [
            c
            for c in self.svc.db.challenges.involving(clan.id)
            if (c.challenger_clan_id == clan.id) == issued
        ]
        items = [
            cls(
                message_id=req.message_id,
                status=S.SUCCESS,
                against_clan_id=c.against_clan_id if issued else c.challenger_clan_id,
                challenge_status=int(c.status),
            )
            for c in _window(chosen, req.start, req.page_size)
        ]
        self.reply_list(conn, items, self.no_result(cls, req.message_id))

    def _live_clan(self, clan_id: int, namespace: str) -> Clan | None:
        clan = self.svc.db.clans.get(clan_id)
        return clan if clan is not None and clan.active and clan.namespace == namespace else None

    def _challenge_of(
        self, conn: Link, req, cls, *, against: int | None = None, challenger: int | None = None
    ) -> ClanChallenge | None:
        """The challenge named by the request if it is ``against`` / by ``challenger`` that clan;
        otherwise answers NoResult (another clan's challenge is not revealed)."""
        ch = self.svc.db.challenges.get(req.clan_challenge_id)
        if ch is not None and against is not None and ch.against_clan_id != against:
            ch = None
        if ch is not None and challenger is not None and ch.challenger_clan_id != challenger:
            ch = None
        if ch is None:
            self.reply(conn, cls(message_id=req.message_id, status=S.NO_RESULT))
        return ch

    def _challenge_answer(self, conn: Link, cls, req, fn) -> None:
        """Run a challenge write; map the store's refusals to a Medius status."""
        try:
            fn()
            status = S.SUCCESS
        except DbError as exc:
            status = _challenge_status(exc)
            log.info("MLS %s: %s refused: %s", conn.peer_label, type(req).__name__, exc)
        self.reply(conn, cls(message_id=req.message_id, status=status))

    def _wall(self) -> float:
        return self.svc.deps.wall_clock()


def _window(items: list, start: int, size: int) -> list:
    """A 0-based ``start`` and a page size (0 = everything), both from the wire: clamped."""
    start = max(start, 0)
    return items[start:] if size <= 0 else items[start : start + min(size, 256)]


def _stamp(when: float | None) -> int:
    """A wall-clock time as the wire's int32 seconds (0 when unset)."""
    return min(max(int(when or 0), 0), _I32_MAX)


def _challenge_status(exc: DbError) -> int:
    """The Medius status for a refused challenge write."""
    if isinstance(exc, NotFound):
        return S.NO_RESULT
    if isinstance(exc, AlreadyExists):
        return S.DATA_ALREADY_EXISTS
    if isinstance(exc, InvalidValue):
        return S.INVALID_REQUEST_MSG
    if isinstance(exc, TooManyChallenges):
        return S.MAX_EXCEEDED
    return S.REQUEST_DENIED
