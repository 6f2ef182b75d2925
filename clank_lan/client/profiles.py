"""How each title's console talks to the lobby: which message variants it sends.

The headless client reproduces a real console's flow per title (from the captures): UYA is
Medius 1.08 (no HELLO, no MUIS, Lobby-class messages, CreateGame1, ChatMessage), Deadlocked is
1.10 (HELLO, MUIS first, ExtendedSessionBegin, LobbyExt CreateGame and GenericChatMessage).
"""

from __future__ import annotations

from dataclasses import dataclass

from clank_lan.protocol.crypto import keys
from clank_lan.protocol.crypto.ps2_rsa import RsaKey


@dataclass(frozen=True)
class ClientProfile:
    key: str
    app_id: int
    version: int  # RT/Medius version: 108 (no HELLO) or 110
    uses_muis: bool
    client_key_name: str  # which known client key pair the console uses for CRYPTKEY_PUBLIC

    @property
    def v109(self) -> bool:
        return self.version >= 109

    @property
    def client_key(self) -> RsaKey:
        return keys.all_keys()[self.client_key_name]


PROFILES: dict[str, ClientProfile] = {
    "uya": ClientProfile("uya", 10684, 108, False, "client_uya_ps2_ntsc"),
    "uya-pal": ClientProfile("uya-pal", 10683, 108, False, "client_uya_ps2_ntsc"),
    "dl": ClientProfile("dl", 11184, 110, True, "client_dl_ps2_ntsc"),
    "gladiator": ClientProfile("gladiator", 11354, 110, True, "client_gladiator_ps2_pal"),
}
PROFILE_ALIASES = {"deadlocked": "dl", "uya-ntsc": "uya", "dl-ntsc": "dl"}


def profile(name: str) -> ClientProfile:
    key = PROFILE_ALIASES.get(name.lower(), name.lower())
    try:
        return PROFILES[key]
    except KeyError:
        raise ValueError(f"unknown title {name!r}; choose one of {', '.join(PROFILES)}") from None
