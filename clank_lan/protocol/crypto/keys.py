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

# Factors of the global MAS key (checked: p*q == n), for CRT decryption.
_GLOBAL_P = 101177020773116032450768434219907665711628442914109359705930212851485814671757
_GLOBAL_Q = 101959470976625878182337603500729946859798449583099010462249380230433894289641


@cache
def all_keys() -> dict[str, RsaKey]:
    raw = json.loads(resources.files("clank_lan.assets").joinpath("rsa_keys.json").read_text("utf-8"))
    keys: dict[str, RsaKey] = {}
    for k in raw["keys"]:
        n, d = int(k["n"]), int(k["d"])
        pq = (_GLOBAL_P, _GLOBAL_Q) if k["name"] == "global_mas" else (None, None)
        keys[k["name"]] = RsaKey(n=n, e=int(k["e"]), d=d, p=pq[0], q=pq[1], name=k["name"])
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
