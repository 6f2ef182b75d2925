"""The known RSA key material, loaded from the one data file ``assets/rsa_keys.json``.

The global MAS key is the key every verified PS2 title (UYA, Deadlocked, Gladiator) encrypts its
CRYPTKEY_PUBLIC to; its private half is public knowledge, so it is the server key by default.
The client key pairs let tests and the dissector decrypt what a server sends to a real console.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from clank_lan.protocol.crypto.ps2_rsa import RsaKey


@cache
def all_keys() -> dict[str, RsaKey]:
    raw = json.loads(resources.files("clank_lan.assets").joinpath("rsa_keys.json").read_text("utf-8"))
    keys: dict[str, RsaKey] = {}
    for k in raw["keys"]:
        # (RsaKey finds p and q from d, for CRT)
        keys[k["name"]] = RsaKey(n=int(k["n"]), e=int(k["e"]), d=int(k["d"]), name=k["name"])
    return keys


def global_mas_key() -> RsaKey:
    return all_keys()["global_mas"]


def client_keys() -> list[RsaKey]:
    """Known client key pairs (their private halves let us read what servers sent)."""
    return [k for name, k in all_keys().items() if name.startswith("client_")]


def server_keys() -> list[RsaKey]:
    return [k for name, k in all_keys().items() if not name.startswith("client_")]


def key_for_modulus(n: int) -> RsaKey | None:
    """The known key pair with this modulus, if any."""
    for k in all_keys().values():
        if k.n == n:
            return k
    return None
