"""Handlers both the MAS and the MLS answer: localization, DNAS post, policy, announcements,
version, time, my IP, locations, text filter, debug posts."""

from __future__ import annotations

import logging

from clank_lan import __version__
from clank_lan.db.records import PolicyKind
from clank_lan.protocol.medius import lobby as ml
from clank_lan.protocol.medius import session as ms
from clank_lan.protocol.medius.enums import CallbackStatus
from clank_lan.servers.lobby.app import handles
from clank_lan.servers.lobby_conn import LobbyConnection

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

    @handles(ms.SetLocalizationParamsRequest)
    def localization(self, conn: LobbyConnection, req) -> None:
        self._store_localization(conn, req)
        self.reply(conn, ms.SetLocalizationParamsResponse(message_id=req.message_id, status=S.SUCCESS))

    @handles(ms.SetLocalizationParamsRequest1, ms.SetLocalizationParamsRequest2)
    def localization_ext(self, conn: LobbyConnection, req) -> None:
        self._store_localization(conn, req)
        self.reply(conn, ms.SetLocalizationParamsStatusResponse1(message_id=req.message_id, status=S.SUCCESS))

    def _store_localization(self, conn: LobbyConnection, req) -> None:
        s = conn.session
        if s is not None:
            if req.character_encoding:
                s.encoding = req.character_encoding
            if req.language:
                s.language = req.language

    @handles(ms.DnasSignaturePost)
    def dnas_post(self, conn: LobbyConnection, req) -> None:
        s = conn.session
        if s is not None:
            s.machine_id = bytes(req.dnas_signature[: req.dnas_signature_length or 32])

    @handles(ms.MachineSignaturePost)
    def machine_post(self, conn: LobbyConnection, req) -> None:
        s = conn.session
        if s is not None and not s.machine_id:
            s.machine_id = bytes(req.machine_signature).rstrip(b"\0")

    @handles(ms.GetPolicyRequest)
    def policy(self, conn: LobbyConnection, req) -> None:
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
    def announcements(self, conn: LobbyConnection, req) -> None:
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
    def version_server(self, conn: LobbyConnection, req) -> None:
        self.reply(
            conn,
            ms.VersionServerResponse(message_id=req.message_id, version_server=f"clank-lan {__version__}"),
        )

    @handles(ms.GetServerTimeRequest)
    def server_time(self, conn: LobbyConnection, req) -> None:
        now = int(self.svc.engine.wall_clock())
        self.reply(conn, ms.GetServerTimeResponse(message_id=req.message_id, status=S.SUCCESS, gmt_time=now))

    @handles(ms.GetMyIPRequest)
    def my_ip(self, conn: LobbyConnection, req) -> None:
        self.reply(conn, ms.GetMyIPResponse(message_id=req.message_id, ip=conn.peer[0], status=S.SUCCESS))

    @handles(ml.GetLocationsRequest)
    def locations(self, conn: LobbyConnection, req) -> None:
        items = [
            ml.GetLocationsResponse(
                message_id=req.message_id, location_id=i, location_name=n, status=S.SUCCESS
            )
            for i, n in LOCATIONS
        ]
        self.reply_list(conn, items, self.no_result(ml.GetLocationsResponse, req.message_id))

    @handles(ml.PickLocationRequest)
    def pick_location(self, conn: LobbyConnection, req) -> None:
        self.reply(conn, ml.PickLocationResponse(message_id=req.message_id, status=S.SUCCESS))

    @handles(ml.TextFilterRequest)
    def text_filter(self, conn: LobbyConnection, req) -> None:
        # A LAN has no profanity list to enforce: every text passes unchanged.
        self.reply(conn, ml.TextFilterResponse(message_id=req.message_id, text=req.text, status=S.PASS))

    @handles(ms.PostDebugInfoRequest)
    def debug_info(self, conn: LobbyConnection, req) -> None:
        log.info("%s %s: debug info from the console: %s", self.name, conn.peer_label, req.text)
        self.reply(conn, ms.PostDebugInfoResponse(message_id=req.message_id, status=S.SUCCESS))
