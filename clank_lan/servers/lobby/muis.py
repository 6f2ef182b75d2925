"""MUIS (TCP 10071): tells 1.09+ titles where the MAS is. No session, no login."""

from __future__ import annotations

from clank_lan.protocol.medius import universe as mu
from clank_lan.protocol.medius.enums import UniverseInfo
from clank_lan.servers.lobby.app import Link, MediusApp, handles
from clank_lan.stages import Stage

NEWS = "clank-lan: PlayStation 2 online on your LAN."


class MuisApp(MediusApp):
    name = "MUIS"

    def on_connect(self, conn: Link, req, now: float) -> str | None:
        super().on_connect(conn, req, now)
        self.svc.stage(None, conn.peer, Stage.MUIS, f"app id {req.app_id}")
        return None

    @handles(mu.GetUniverseInformationRequest, mu.GetUniverseExtraInfoRequest)
    def universe(self, conn: Link, req, now: float) -> None:
        title = conn.title
        wanted = req.info_type
        if wanted & UniverseInfo.SVO_URL:  # Sony's MUIS sends an (empty) SVO URL first
            self.reply(conn, mu.UniverseSvoURLResponse(message_id=req.message_id))
        name = f"{title.name} on clank-lan" if title.known else "clank-lan"
        self.reply(
            conn,
            mu.UniverseVariableInformationResponse(
                message_id=req.message_id,
                status=0,
                info_filter=wanted,
                universe_id=1,
                universe_name=name[:127],
                dns=self.svc.advertised_ip,
                port=self.svc.deps.port("mas"),
                description="PlayStation 2 online games on your LAN",
                universe_status=1,
                user_count=sum(1 for s in self.svc.lobby.sessions.values() if s.logged_in),
                max_users=1000,
                end_of_list=True,
            ),
        )
        if wanted & UniverseInfo.NEWS:
            self.reply(conn, mu.UniverseNewsResponse(message_id=req.message_id, news=NEWS, end_of_list=True))
