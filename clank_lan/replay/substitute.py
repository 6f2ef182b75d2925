"""Values our server hands out in place of the recorded server's: session keys, access keys,
account, world and clan ids.

Learned by comparing the recorded answer with ours for the few messages that hand such values out
(``LEARN``), then applied to what the client sends afterwards (``SUBSTITUTE``): the MLS
CONNECT_TCP carries our MAS's keys, JoinChannel the channel id our CreateChannel returned. A
client message is patched in place, only in the bytes of the fields that change, so garbage the
console left in pads travels unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.medius import CodecContext, UnknownMessage, decode_app, encode_app

#: Messages that hand out values, and the fields (top level; ``connect_info`` is searched inside).
LEARN: dict[str, tuple[str, ...]] = {
    "SessionBeginResponse": ("session_key",),
    "AccountLoginResponse": ("account_id", "world_id", "connect_info"),
    "AnonymousLoginResponse": ("account_id", "world_id", "connect_info"),
    "AccountRegistrationResponse": ("account_id",),
    "CreateChannelResponse": ("world_id",),
    "CreateGameResponse": ("world_id",),
    "JoinChannelResponse": ("connect_info",),
    "JoinGameResponse": ("connect_info",),
    "CreateClanResponse": ("clan_id",),
}
#: Field name -> which value space it belongs to.
KIND = {
    "session_key": "session",
    "access_key": "access",
    "access_token": "access",
    "account_id": "account",
    "world_id": "world",
    "target_world_id": "world",
    "clan_id": "clan",
}
#: Client message fields rewritten through the learned values (in the order of spaces to try).
SUBSTITUTE: dict[str, tuple[str, ...]] = {
    "session_key": ("session",),
    "account_id": ("account",),
    "world_id": ("world",),
    "clan_id": ("clan",),
    "account_id_or_clan_id": ("account", "clan"),
}


@dataclass(frozen=True)
class ConnectKeys:
    world_id: int
    session_key: str
    access_key: str


class ValueMap:
    def __init__(self) -> None:
        self.values: dict[str, dict[object, object]] = {k: {} for k in set(KIND.values())}
        self.last_connect: ConnectKeys | None = None  # the latest "go connect there" of ours

    def _put(self, kind: str, recorded: object, ours: object) -> None:
        if recorded and ours and recorded != ours:
            self.values[kind][recorded] = ours

    def learn(self, recorded, ours) -> None:
        """Pair the handed-out values of a recorded answer and ours of the same type."""
        fields = LEARN.get(type(ours).__name__)
        if fields is None or type(recorded) is not type(ours):
            return
        for name in fields:
            if name == "connect_info":
                r, o = recorded.connect_info, ours.connect_info
                for sub in ("session_key", "access_key", "target_world_id"):
                    self._put(KIND[sub], getattr(r, sub), getattr(o, sub))
                if o.session_key or o.access_key:
                    self.last_connect = ConnectKeys(o.target_world_id, o.session_key, o.access_key)
            else:
                self._put(KIND[name], getattr(recorded, name), getattr(ours, name))

    def get(self, kind: str, value: object) -> object:
        return self.values[kind].get(value, value)

    def connect_keys(
        self, world_id: int, session_key: str | None, access_token: str | None
    ) -> tuple[int, str | None, str | None]:
        """CONNECT_TCP values: the mapped ones, else (for a keyed connect) the latest we were given."""
        last = self.last_connect if session_key is not None or access_token is not None else None

        def pick(kind: str, recorded, fallback):
            if recorded is None:
                return None
            mapped = self.values[kind].get(recorded)
            if mapped is not None:
                return mapped
            return fallback if fallback is not None else recorded

        return (
            pick("world", world_id, last.world_id if last else None),
            pick("session", session_key, last.session_key if last else None),
            pick("access", access_token, last.access_key if last else None),
        )

    def apply(self, payload: bytes, ctx: CodecContext) -> bytes:
        """A client Medius message with recorded values replaced by ours."""
        try:
            msg = decode_app(payload, ctx)
        except ProtocolError:
            return payload
        if isinstance(msg, UnknownMessage):
            return payload
        changes = {}
        for name, kinds in SUBSTITUTE.items():
            value = getattr(msg, name, None)
            if not value:
                continue
            for kind in kinds:
                new = self.values[kind].get(value)
                if new is not None:
                    changes[name] = new
                    break
        if not changes:
            return payload
        old = encode_app(msg.canonical(), ctx)
        new = encode_app(msgspec.structs.replace(msg.canonical(), **changes), ctx)
        out = bytearray(payload)
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            if a != b:
                if i >= len(out):
                    out += new[len(out) : i + 1]
                else:
                    out[i] = b
        return bytes(out)
