"""How each title's console talks to the lobby, derived from the title table.

The headless client reproduces a real console's flow per title (from the captures): UYA is
Medius 1.08 (no HELLO, no MUIS, Lobby-class messages, CreateGame1, ChatMessage), Deadlocked is
1.10 (HELLO, MUIS first, ExtendedSessionBegin, LobbyExt CreateGame and GenericChatMessage). Every
fact (app id, version, MUIS, client key, time-base queries) is read from ``titles.py``; this module
only picks the titles the client can play (a known app id, version and client key) and gives them
short names for the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.titles import ALL_TITLES, Title

#: Short names for the command line -> title key.
SHORT_NAMES: dict[str, str] = {
    "uya": "uya-ntsc",
    "uya-pal": "uya-pal",
    "dl": "dl-ntsc",
    "gladiator": "dl-pal",
}
#: Other accepted spellings -> short name.
PROFILE_ALIASES: dict[str, str] = {"deadlocked": "dl"}


@dataclass(frozen=True)
class ClientProfile:
    key: str  # the short name ("uya", "dl", ...)
    title: Title

    @property
    def app_id(self) -> int:
        return self.title.app_ids[0]

    @property
    def version(self) -> int:
        """RT/Medius version: 108 (no HELLO) or 109+."""
        assert self.title.medius_version is not None
        return self.title.medius_version

    @property
    def uses_muis(self) -> bool:
        return self.title.uses_muis

    @property
    def v109(self) -> bool:
        return self.version >= 109

    @property
    def client_key(self) -> RsaKey:
        return keys.all_keys()[self.title.client_key]

    @property
    def timebase_query_every(self) -> float:
        """Seconds between DME time-base queries, 0 when the console sends none."""
        return self.title.timebase_query_every


def playable(title: Title) -> bool:
    """Whether the headless client can behave as this title's console."""
    return bool(title.app_ids) and title.medius_version is not None and bool(title.client_key)


def _short_name(title: Title) -> str:
    return next((short for short, key in SHORT_NAMES.items() if key == title.key), title.key)


PROFILES: dict[str, ClientProfile] = {
    _short_name(t): ClientProfile(_short_name(t), t) for t in ALL_TITLES if playable(t)
}
_BY_TITLE_KEY: dict[str, ClientProfile] = {p.title.key: p for p in PROFILES.values()}


def profile(name: str) -> ClientProfile:
    """The profile for a short name ("uya"), an alias or a title key ("dl-ntsc")."""
    key = name.lower()
    key = PROFILE_ALIASES.get(key, key)
    found = PROFILES.get(key) or _BY_TITLE_KEY.get(key)
    if found is None:
        raise ValueError(f"unknown title {name!r}; choose one of {', '.join(PROFILES)}")
    return found


def profile_for_title(title: Title) -> ClientProfile | None:
    return _BY_TITLE_KEY.get(title.key)
