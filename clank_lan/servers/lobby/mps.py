"""MPS (TCP 10077): the lobby for titles that dial this port, and the game-host (MGCL) messages.

Console-hosted titles (Syphon Filter: The Omega Strain, Amplitude...) register the games they
host here with the MGCL message set (class 3). The model and its rules are in ``mgcl_games``;
this service feeds it and routes what it produces (``LobbyService.route_mgcl``). A connection
that brings a lobby session behaves as on the MLS; one without a session is accepted as a game
host only (its Medius library may log in as a server), and it may send MGCL messages and nothing
else. The games a host registered close when its connection closes.
"""

from __future__ import annotations

import logging

from clank_lan.mgcl_games import HANDLED_TYPES
from clank_lan.protocol import rt_messages as rtm
from clank_lan.protocol.medius import MediusMessage, UnknownMessage
from clank_lan.protocol.medius.ids import MessageClass
from clank_lan.servers.lobby.app import Link, handles, message_key
from clank_lan.servers.lobby.mls import MlsApp

log = logging.getLogger("clank_lan.mps")


class MpsApp(MlsApp):
    name = "MPS"

    def on_connect(self, conn: Link, req: rtm.ClientConnectTcp, now: float) -> str | None:
        if self.svc.lobby.find(req.access_token or "", req.session_key or "") is not None:
            refusal = super().on_connect(conn, req, now)
        else:
            conn.title = self.svc.title(req.app_id)
            refusal = None
        if refusal is None and not self.svc.mgcl.connect(conn, conn.peer[0]):
            return "too many game hosts connected"
        return refusal

    def on_close(self, conn: Link, reason: str, now: float) -> None:
        self.svc.mgcl.forget_joiner(conn)
        self.svc.route_mgcl(self.svc.mgcl.disconnect(conn, now))
        super().on_close(conn, reason, now)

    def admit(self, conn: Link, msg: MediusMessage | UnknownMessage, now: float) -> bool:
        """MGCL messages need no lobby login (a host may log in as a server); the rest does."""
        if message_key(msg)[0] == MessageClass.MGCL:
            return True
        return super().admit(conn, msg, now)

    @handles(*HANDLED_TYPES)
    def mgcl(self, conn: Link, msg, now: float) -> None:
        self.svc.route_mgcl(self.svc.mgcl.on_message(conn, msg, now))
