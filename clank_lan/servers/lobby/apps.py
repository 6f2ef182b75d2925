"""The three Medius services of the lobby, built over one ``LobbyService``.

Kept apart from ``service`` so that the services depend on the shared lobby and never the other
way round.
"""

from __future__ import annotations

from dataclasses import dataclass

from clank_lan.servers.lobby.app import MediusApp
from clank_lan.servers.lobby.mas import MasApp
from clank_lan.servers.lobby.mls import MlsApp
from clank_lan.servers.lobby.mps import MpsApp
from clank_lan.servers.lobby.muis import MuisApp
from clank_lan.servers.lobby.service import LobbyService

SERVICES: tuple[type[MediusApp], ...] = (MuisApp, MasApp, MlsApp)
#: The MPS port's service: the MLS's handlers plus the game-host (MGCL) messages.
EXTRA_SERVICES: tuple[type[MediusApp], ...] = (MpsApp,)


@dataclass(frozen=True)
class LobbyApps:
    muis: MuisApp
    mas: MasApp
    mls: MlsApp
    mps: MpsApp


def lobby_apps(svc: LobbyService) -> LobbyApps:
    return LobbyApps(muis=MuisApp(svc), mas=MasApp(svc), mls=MlsApp(svc), mps=MpsApp(svc))


def handled_ids() -> set[tuple[int, int]]:
    """Every (class, type) some service has a handler for."""
    return set().union(*(app.handled_ids() for app in (*SERVICES, *EXTRA_SERVICES)))
