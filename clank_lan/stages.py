"""The stages a console passes on its way into a game: the one vocabulary for them.

The lobby and the DME publish a ``PlayerStage`` event with one of these as the console gets
there; the console tracker (``doctor/tracker.py``) orders them and says where a console stopped;
the headless doctor checks each from the outside. A ``StrEnum``, so the values are the stage
names in events and logs.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    DNS = "dns"  # asked our DNS for a game name
    DNAS = "dnas"  # passed (or failed) the disc check at our DNAS gateway
    MUIS = "muis"  # got the universe from the MUIS (1.09+ titles)
    MAS = "mas"  # began a MAS session
    LOGIN = "login"  # logged in on the MAS
    MLS = "mls"  # reached the MLS lobby
    GAME_CREATED = "game-created"
    GAME_JOINED = "game-joined"
    DME_TCP = "dme-tcp"  # finished the DME's TCP handshake
    DME_UDP = "dme-udp"  # the DME's aux UDP connected: in the game


#: Every stage, in the order a console passes them.
STAGES: tuple[Stage, ...] = tuple(Stage)
STAGE_LABELS: dict[Stage, str] = {
    Stage.DNS: "DNS",
    Stage.DNAS: "DNAS",
    Stage.MUIS: "MUIS",
    Stage.MAS: "MAS session",
    Stage.LOGIN: "MAS login",
    Stage.MLS: "MLS lobby",
    Stage.GAME_CREATED: "game created",
    Stage.GAME_JOINED: "game joined",
    Stage.DME_TCP: "DME TCP",
    Stage.DME_UDP: "DME UDP",
}


def stage_of(name: str) -> Stage | None:
    """The stage a published name stands for, or None for a name that is not one."""
    try:
        return Stage(name)
    except ValueError:
        return None
