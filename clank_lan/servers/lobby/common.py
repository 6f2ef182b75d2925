"""Handlers both the MAS and the MLS answer: localization, DNAS post, policy, announcements,
version, time, my IP, locations, text filter, debug posts."""

from __future__ import annotations

import logging
import struct

from clank_lan import __version__
from clank_lan.db.records import PolicyKind
from clank_lan.protocol.medius import UnknownMessage
from clank_lan.protocol.medius import lobby as ml
from clank_lan.protocol.medius import session as ms
from clank_lan.protocol.medius.enums import CallbackStatus
from clank_lan.servers.lobby.app import Link, handles
from clank_lan.servers.lobby.dispatch import request_message_id
from clank_lan.titles import Quirk

log = logging.getLogger("clank_lan.lobby")

S = CallbackStatus
POLICY_CHUNK = 255
#: UYA lists one location; the others ignore the list. Horizon uses the same.
LOCATIONS = ((40, "Aquatos"),)


def chunks(text: str, size: int = POLICY_CHUNK) -> list[str]:
    """Split policy text into the 255-character pieces a GetPolicyResponse carries."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class CommonHandlers:
    """Mixed into MasApp and MlsApp (before MediusApp)."""

    @handles(
        ms.SetLocalizationParamsRequest, ms.SetLocalizationParamsRequest1, ms.SetLocalizationParamsRequest2
    )
    def localization(self, conn: Link, req, now: float) -> None:
        """Every variant is answered with Lobby 0xA4, as Sony's MAS does in the captures and
        the community servers do for the Ext forms (the evidence: protocol/medius/session.py)."""
        self._store_localization(conn, req)
        self.reply(conn, ms.SetLocalizationParamsResponse(message_id=req.message_id, status=S.SUCCESS))

    def _store_localization(self, conn: Link, req) -> None:
        s = conn.session
        if s is not None:
            if req.character_encoding:
                s.encoding = req.character_encoding
            if req.language:
                s.language = req.language

    @handles(ms.DnasSignaturePost)
    def dnas_post(self, conn: Link, req, now: float) -> None:
        s = conn.session
        if s is not None:
            s.machine_id = bytes(req.dnas_signature[: req.dnas_signature_length or 32])

    @handles(ms.MachineSignaturePost)
    def machine_post(self, conn: Link, req, now: float) -> None:
        s = conn.session
        if s is not None and not s.machine_id:
            s.machine_id = bytes(req.machine_signature).rstrip(b"\0")

    @handles(ms.GetPolicyRequest)
    def policy(self, conn: Link, req, now: float) -> None:
        s = conn.session
        ns = s.namespace if s is not None else "*"
        kind = PolicyKind.PRIVACY if req.policy == 1 else PolicyKind.USAGE
        text = self.svc.db.policies.get(ns, kind) or self.svc.config.lobby.eula
        parts = chunks(text)
        for i, part in enumerate(parts):
            self.reply(
                conn,
                ms.GetPolicyResponse(
                    message_id=req.message_id, status=S.SUCCESS, text=part, end_of_text=i == len(parts) - 1
                ),
            )

    @handles(ms.GetAnnouncementsRequest, ms.GetAllAnnouncementsRequest)
    def announcements(self, conn: Link, req, now: float) -> None:
        s = conn.session
        texts = list(self.svc.config.lobby.announcements)
        if s is not None:
            texts += [a.text for a in self.svc.db.announcements.for_namespace(s.namespace)]
        if isinstance(req, ms.GetAnnouncementsRequest):
            texts = texts[-1:]  # "the latest"; GetAll gets every one
        items = [
            ms.GetAnnouncementsResponse(
                message_id=req.message_id, status=S.SUCCESS, announcement_id=i + 1, announcement=t
            )
            for i, t in enumerate(texts)
        ]
        self.reply_list(conn, items, self.no_result(ms.GetAnnouncementsResponse, req.message_id))

    @handles(ms.VersionServerRequest)
    def version_server(self, conn: Link, req, now: float) -> None:
        """Answered with or without a session: Killzone asks before SessionBegin. A title with its
        own known server string (Killzone, SOCOM) gets that, the others clank-lan's version."""
        title = conn.title
        if conn.session is None and Quirk.VERSION_BEFORE_SESSION not in title.quirks:
            log.info(
                "%s %s: %s asked VersionServer before SessionBegin", self.name, conn.peer_label, title.name
            )
        text = title.version_server or f"clank-lan {__version__}"
        self.reply(conn, ms.VersionServerResponse(message_id=req.message_id, version_server=text))

    @handles(ms.GetServerTimeRequest)
    def server_time(self, conn: Link, req, now: float) -> None:
        gmt = int(self.svc.deps.wall_clock())
        self.reply(conn, ms.GetServerTimeResponse(message_id=req.message_id, status=S.SUCCESS, gmt_time=gmt))

    @handles(ms.GetMyIPRequest)
    def my_ip(self, conn: Link, req, now: float) -> None:
        self.reply(conn, ms.GetMyIPResponse(message_id=req.message_id, ip=conn.peer[0], status=S.SUCCESS))

    @handles(ml.GetLocationsRequest)
    def locations(self, conn: Link, req, now: float) -> None:
        items = [
            ml.GetLocationsResponse(
                message_id=req.message_id, location_id=i, location_name=n, status=S.SUCCESS
            )
            for i, n in LOCATIONS
        ]
        self.reply_list(conn, items, self.no_result(ml.GetLocationsResponse, req.message_id))

    @handles(ml.PickLocationRequest)
    def pick_location(self, conn: Link, req, now: float) -> None:
        self.reply(conn, ml.PickLocationResponse(message_id=req.message_id, status=S.SUCCESS))

    @handles(ml.TextFilterRequest)
    def text_filter(self, conn: Link, req, now: float) -> None:
        """The operator's word list (``[titles] filter_words``; empty passes everything)."""
        status, text = self.svc.text_filter.apply(req.text_filter_type, req.text)
        self.reply(conn, ml.TextFilterResponse(message_id=req.message_id, text=text, status=status))

    @handles(ml.MediusTextFilter1Request)
    def text_filter1(self, conn: Link, req, now: float) -> None:
        text = req.text[: req.text_size] if 0 < req.text_size < len(req.text) else req.text
        status, out = self.svc.text_filter.apply(req.text_filter_type, text)
        self.reply(
            conn,
            ml.MediusTextFilterResponse1(
                message_id=req.message_id, status=status, text_size=len(out), text=out
            ),
        )

    @handles(ml.TokenRequest)
    def token(self, conn: Link, req, now: float) -> None:
        """Tokens are not kept; the request gets the generic status body under its own id
        (Ext 0x28), which is what Horizon answers (no response type is named for it)."""
        body = request_message_id(req) + bytes(3) + struct.pack("<i", S.FEATURE_NOT_ENABLED)
        self.reply(conn, UnknownMessage(req.MSG_CLASS, req.MSG_TYPE, body))

    @handles(ms.PostDebugInfoRequest)
    def debug_info(self, conn: Link, req, now: float) -> None:
        log.info("%s %s: debug info from the console: %s", self.name, conn.peer_label, req.text)
        self.reply(conn, ms.PostDebugInfoResponse(message_id=req.message_id, status=S.SUCCESS))
