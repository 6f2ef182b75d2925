"""The DME game relay: worlds and slots, TCP + one UDP port, relaying (handshakes: ``rt.endpoint``).

Public API: ``DmeManager`` (the sans-IO engine and the lobby-facing calls), ``DmeEvents`` (the
lobby's callbacks), ``serve_dme`` (the trio shell), ``WorldInfo``/``PlayerInfo`` and ``DmeError``.
"""

from clank_lan.dme.manager import DmeEvents, DmeManager, DmeStats
from clank_lan.dme.server import serve_dme
from clank_lan.dme.world import DmeError, PlayerInfo, WorldInfo

__all__ = ["DmeError", "DmeEvents", "DmeManager", "DmeStats", "PlayerInfo", "WorldInfo", "serve_dme"]
