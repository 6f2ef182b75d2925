"""MAS (TCP 10075): session, localization, policy, announcements and login, then the hand-off.

A console begins a session here, logs in (accounts are created on first login when the config
says so, the LAN default) and is sent to the MLS with its session and access keys. The session
object outlives the MAS connection, which the console drops right after the login answer.
"""

from __future__ import annotations

import logging
from functools import partial

from clank_lan.db.errors import AlreadyExists, DbError
from clank_lan.db.passwords import PasswordHash
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.medius import MediusMessage, UnknownMessage
from clank_lan.protocol.medius import account as ma
from clank_lan.protocol.medius import session as ms
from clank_lan.protocol.medius.enums import AccountType, CallbackStatus
from clank_lan.servers.lobby.app import Link, MediusApp, handles
from clank_lan.servers.lobby.common import CommonHandlers
from clank_lan.servers.lobby.service import family
from clank_lan.servers.lobby.state import Session
from clank_lan.stages import Stage

log = logging.getLogger("clank_lan.mas")

S = CallbackStatus

#: Messages the MAS serves only inside a session (after SessionBegin), with the answer a console
#: gets without one: the login gate's refusals.
WITHOUT_SESSION: dict[type, tuple[type, int]] = {
    ma.AccountRegistrationRequest: (ma.AccountRegistrationResponse, S.INCORRECT_LOGIN_STEP),
    ma.AccountLoginRequest: (ma.AccountLoginResponse, S.INCORRECT_LOGIN_STEP),
    ma.AnonymousLoginRequest: (ma.AnonymousLoginResponse, S.LOGIN_FAILED),
    ma.AccountGetIDRequest: (ma.AccountGetIDResponse, S.ACCOUNT_NOT_FOUND),
    ma.AccountUpdatePasswordRequest: (ma.AccountUpdatePasswordStatusResponse, S.INCORRECT_LOGIN_STEP),
    ma.AccountDeleteRequest: (ma.AccountDeleteResponse, S.INCORRECT_LOGIN_STEP),
}


class MasApp(CommonHandlers, MediusApp):
    name = "MAS"

    def on_connect(self, conn: Link, req: rtm.ClientConnectTcp, now: float) -> str | None:
        super().on_connect(conn, req, now)
        title = conn.title
        if req.access_token:  # a console coming back with its session (some titles do)
            s = self.svc.lobby.find(req.access_token, req.session_key or "")
            if s is not None:
                self.svc.attach(s, conn)
            else:
                self.svc.limits.forged("MAS", conn.peer_label, now, "CONNECT names no live session")
        log.info("MAS %s: %s (app id %d, RT v%d)", conn.peer_label, title.name, req.app_id, conn.version)
        return None

    def on_close(self, conn: Link, reason: str, now: float) -> None:
        self.svc.detach(conn, now)
        super().on_close(conn, reason, now)

    def admit(self, conn: Link, msg: MediusMessage | UnknownMessage, now: float) -> bool:
        refusal = WITHOUT_SESSION.get(type(msg))
        if refusal is None or conn.session is not None:
            return True
        cls, status = refusal
        log.info("MAS %s: %s before SessionBegin; refused", conn.peer_label, msg.name)
        self.reply(conn, cls(message_id=msg.message_id, status=status))
        return False

    # session -------------------------------------------------------------------------------
    @handles(ms.SessionBeginRequest, ms.SessionBegin1Request, ms.ExtendedSessionBeginRequest)
    def session_begin(self, conn: Link, req, now: float) -> None:
        s = conn.session
        if s is None:
            title = conn.title
            s = self.svc.lobby.new_session(
                app_id=conn.app_id,
                title=title,
                group=self.svc.group_for(conn.app_id, title),
                namespace=family(title),
                medius_version=conn.version,
                ip=conn.peer[0],
                created_at=now,
            )
            self.svc.attach(s, conn)
        s.connection_class = req.connection_class
        self.svc.stage(s, conn.peer, Stage.MAS, "session begun")
        self.reply(
            conn,
            ms.SessionBeginResponse(message_id=req.message_id, status=S.SUCCESS, session_key=s.session_key),
        )

    @handles(ms.SessionEndRequest)
    def session_end(self, conn: Link, req, now: float) -> None:
        s = conn.session
        self.reply(conn, ms.SessionEndResponse(message_id=req.message_id, status=S.SUCCESS))
        if s is not None:
            self.svc.end_session(s, "session ended by the console")

    # accounts (every handler below runs inside a session: see ``admit``) ----------------------
    @handles(ma.AccountRegistrationRequest)
    def register(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        if self.svc.db.accounts.by_name(s.namespace, req.account_name) is not None:
            self.reply(
                conn,
                ma.AccountRegistrationResponse(message_id=req.message_id, status=S.ACCOUNT_ALREADY_EXISTS),
            )
            return
        if not self.svc.limits.allow_account(conn.peer[0], conn.peer_label, now):
            status = S.REGISTRATION_FAILED
            self.reply(conn, ma.AccountRegistrationResponse(message_id=req.message_id, status=status))
            return
        conn.defer(
            self.svc.db.accounts.hash_work(req.password),
            lambda hashed, later: self._register_hashed(conn, req, hashed),
        )

    def _register_hashed(self, conn: Link, req, hashed: PasswordHash) -> None:
        """``register``, once the password's hash is made (off the event loop)."""
        s: Session = conn.session
        try:
            account_id = self.svc.db.accounts.create(
                s.namespace, req.account_name, req.password, hashed=hashed
            )
        except AlreadyExists:  # taken while the hash was made
            status = S.ACCOUNT_ALREADY_EXISTS
            self.reply(conn, ma.AccountRegistrationResponse(message_id=req.message_id, status=status))
            return
        except DbError as exc:
            log.info("MAS %s: registration of %r refused: %s", conn.peer_label, req.account_name, exc)
            self.reply(
                conn, ma.AccountRegistrationResponse(message_id=req.message_id, status=S.REGISTRATION_FAILED)
            )
            return
        log.info("MAS %s: registered %r (account %d)", conn.peer_label, req.account_name, account_id)
        self.reply(
            conn,
            ma.AccountRegistrationResponse(
                message_id=req.message_id, status=S.SUCCESS, account_id=account_id
            ),
        )

    @handles(ma.AccountLoginRequest)
    def login(self, conn: Link, req, now: float) -> None:
        """A password is hashed (PBKDF2) only off the event loop: a new account's (``conn.defer``,
        then ``_create_hashed``) and one not yet checked since the start (then ``_checked``);
        a returning console's password is recognised by a cheap digest."""
        s: Session = conn.session
        accounts = self.svc.db.accounts
        acct = accounts.by_name(s.namespace, req.username)
        if acct is None:
            if not self.svc.config.accounts.auto_create:
                self._login_fail(conn, req, S.ACCOUNT_NOT_FOUND, f"no account {req.username!r}")
                return
            if not self.svc.limits.allow_account(conn.peer[0], conn.peer_label, now):
                self.reply(conn, ma.AccountLoginResponse(message_id=req.message_id, status=S.LOGIN_FAILED))
                return
            work = accounts.hash_work(req.password)
            conn.defer(work, lambda hashed, later: self._create_hashed(conn, req, hashed, later))
            return
        if self.svc.db.bans.is_banned(
            account_id=acct.id, ip=conn.peer[0], machine=s.machine_id.hex() or None
        ):
            self._login_fail(conn, req, S.ACCOUNT_BANNED, f"{acct.name!r} is banned")
            return
        if accounts.password_known(acct.id, req.password):
            self._complete_login(conn, s, acct.id, acct.name, req.message_id, ma.AccountLoginResponse)
            return
        work = partial(accounts.verify_password, acct.id, req.password)
        conn.defer(work, lambda ok, later: self._checked(conn, req, acct.id, ok))

    def _create_hashed(self, conn: Link, req, hashed: PasswordHash, now: float) -> None:
        """A first login, once the new account's hash is made: create it and log in (a name
        taken meanwhile by another console is an ordinary login with this password)."""
        s: Session = conn.session
        try:
            self.svc.db.accounts.create(s.namespace, req.username, req.password, hashed=hashed)
        except AlreadyExists:
            pass
        except DbError as exc:
            self._login_fail(conn, req, S.LOGIN_FAILED, f"cannot create {req.username!r}: {exc}")
            return
        else:
            log.info("MAS %s: created account %r on first login", conn.peer_label, req.username)
        self.login(conn, req, now)

    def _checked(self, conn: Link, req, account_id: int, ok: bool) -> None:
        """A login whose password went through the slow check."""
        s: Session = conn.session
        acct = self.svc.db.accounts.get(account_id)
        if acct is None:  # deleted meanwhile
            self._login_fail(conn, req, S.ACCOUNT_NOT_FOUND, f"no account {req.username!r}")
        elif not ok:
            self._login_fail(conn, req, S.INVALID_PASSWORD, f"wrong password for {acct.name!r}")
        else:
            self._complete_login(conn, s, acct.id, acct.name, req.message_id, ma.AccountLoginResponse)

    @handles(ma.AnonymousLoginRequest)
    def anonymous_login(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        if not self.svc.config.accounts.allow_anonymous:
            self.reply(conn, ma.AnonymousLoginResponse(message_id=req.message_id, status=S.LOGIN_FAILED))
            return
        s.anonymous = True
        # anonymous players get ids far above registered accounts so the two never collide
        anon_id = 0x40000000 + s.number
        self._complete_login(conn, s, anon_id, req.display_name, req.message_id, ma.AnonymousLoginResponse)

    def _complete_login(self, conn, s: Session, account_id: int, name: str, message_id: str, cls) -> None:
        refusal = self.svc.deps.admission.check_login(name, conn.peer[0])
        if refusal is not None:
            self._login_fail(conn, None, S.LOGIN_FAILED, f"{name!r} not admitted: {refusal}", message_id, cls)
            return
        other = self.svc.lobby.logged_in(s.namespace, account_id)
        if other is not None and other is not s:
            if other.connections:
                self._login_fail(
                    conn, None, S.ACCOUNT_LOGGED_IN, f"{name!r} is already logged in", message_id, cls
                )
                return
            self.svc.end_session(other, "logged in again")  # a stale session from a crashed console
        s.account_id = account_id
        s.account_name = name
        s.logged_in = True
        if not s.anonymous:
            self.svc.db.accounts.record_login(account_id, ip=conn.peer[0])
            member = self.svc.db.clans.membership(account_id)
            s.clan_id = member.clan_id if member else 0
        channel = self.svc.default_channel(s)
        self.reply(
            conn,
            cls(
                message_id=message_id,
                status=S.SUCCESS,
                account_id=account_id,
                account_type=AccountType.MASTER,
                world_id=channel.id,
                connect_info=self.svc.mls_connect_info(s, channel.id),
            ),
        )
        log.info("MAS %s: %r logged in (account %d)", conn.peer_label, name, account_id)
        self.svc.stage(s, conn.peer, Stage.LOGIN, f"account {account_id}")

    def _login_fail(self, conn, req, status: int, why: str, message_id: str | None = None, cls=None) -> None:
        log.info("MAS %s: login refused: %s", conn.peer_label, why)
        cls = cls or ma.AccountLoginResponse
        self.reply(conn, cls(message_id=message_id if req is None else req.message_id, status=status))

    @handles(ma.AccountLogoutRequest)
    def logout(self, conn: Link, req, now: float) -> None:
        s = conn.session
        self.reply(conn, ma.AccountLogoutResponse(message_id=req.message_id, status=S.SUCCESS))
        if s is not None:
            s.logged_in = False

    @handles(ma.AccountGetIDRequest)
    def get_id(self, conn: Link, req, now: float) -> None:
        s: Session = conn.session
        acct = self.svc.db.accounts.by_name(s.namespace, req.account_name)
        if acct is None:
            self.reply(conn, ma.AccountGetIDResponse(message_id=req.message_id, status=S.ACCOUNT_NOT_FOUND))
        else:
            self.reply(
                conn, ma.AccountGetIDResponse(message_id=req.message_id, account_id=acct.id, status=S.SUCCESS)
            )

    @handles(ma.AccountUpdatePasswordRequest)
    def update_password(self, conn: Link, req, now: float) -> None:
        """The old password's check and the new one's hash run off the event loop."""
        s: Session = conn.session
        if not s.logged_in or s.anonymous:
            status = S.INCORRECT_LOGIN_STEP
            self.reply(conn, ma.AccountUpdatePasswordStatusResponse(message_id=req.message_id, status=status))
            return
        accounts = self.svc.db.accounts
        account_id = s.account_id
        make = accounts.hash_work(req.new_password)

        def work() -> PasswordHash | None:
            return make() if accounts.verify_password(account_id, req.old_password) else None

        conn.defer(work, lambda hashed, later: self._password_hashed(conn, req, account_id, hashed))

    def _password_hashed(self, conn: Link, req, account_id: int, hashed: PasswordHash | None) -> None:
        accounts = self.svc.db.accounts
        if hashed is None:
            status = S.INVALID_PASSWORD
        elif accounts.get(account_id) is None:  # deleted meanwhile
            status = S.ACCOUNT_NOT_FOUND
        else:
            accounts.set_password(account_id, req.new_password, hashed=hashed)
            status = S.SUCCESS
        self.reply(conn, ma.AccountUpdatePasswordStatusResponse(message_id=req.message_id, status=status))

    @handles(ma.AccountDeleteRequest)
    def delete(self, conn: Link, req, now: float) -> None:
        """The password is checked off the event loop unless it is already known."""
        s: Session = conn.session
        if not s.logged_in or s.anonymous:
            self.reply(
                conn, ma.AccountDeleteResponse(message_id=req.message_id, status=S.INCORRECT_LOGIN_STEP)
            )
            return
        accounts = self.svc.db.accounts
        account_id = s.account_id
        if accounts.password_known(account_id, req.master_password):
            self._delete_checked(conn, req, account_id, True)
            return
        work = partial(accounts.verify_password, account_id, req.master_password)
        conn.defer(work, lambda ok, later: self._delete_checked(conn, req, account_id, ok))

    def _delete_checked(self, conn: Link, req, account_id: int, ok: bool) -> None:
        s: Session = conn.session
        if not ok:
            status = S.INVALID_PASSWORD
        else:
            self.svc.db.accounts.delete(account_id)
            s.logged_in = False
            status = S.SUCCESS
        self.reply(conn, ma.AccountDeleteResponse(message_id=req.message_id, status=status))
