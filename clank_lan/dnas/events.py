"""Events of the DNAS gateway, for the connection doctor and the TUI (a stage before MUIS/MAS)."""

from __future__ import annotations

from clank_lan.events import Event


class DnasRequest(Event, frozen=True, kw_only=True):
    """A console asked a DNAS gateway; ``answered`` False means the game is not in the recordings
    and got the recorded error answer (the log line names the game id for a report)."""

    client: str  # "ip:port"
    region: str  # "us", "eu", "jp"
    query: str  # "i-connect" or "others"
    game_id: str  # 16 hex digits
    query_type: str  # 8 hex digits
    answered: bool
    protocol: str  # "SSL 2.0 RC4-128-MD5", "TLS 1.0 rc4", ...


class DnasRefused(Event, frozen=True, kw_only=True):
    """A connection to the gateway ended without an answer (bad hello, bad request, timeout)."""

    client: str
    reason: str
