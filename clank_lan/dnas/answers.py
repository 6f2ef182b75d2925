"""DNAS answers: find the recorded gateway reply for a request and personalise it (pure, no I/O).

Sony's gateways are gone; the community kept a recording of their answers per game and query
type. A console checks more than the recording: the i-connect answer carries a block encrypted
under keys that only the console's own request can produce, so a replay must re-encrypt that
block (and then the envelope around it) for every request. The offsets and the envelope key are
facts from the public community replacement (OpenDNAS, after DNASrep by the_fog).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from Crypto.Cipher import DES

from clank_lan.dnas.settings import REGION_GATEWAYS

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "dnas"


class Query(Enum):
    I_CONNECT = "v2.5_i-connect"
    OTHERS = "v2.5_others"


#: Where each request kind keeps the 8-byte game id; the query type is always its first 4 bytes.
GAME_ID_OFFSET = {Query.I_CONNECT: 0x2C, Query.OTHERS: 0x1B}

# i-connect: the two request windows hashed into the answer keys.
KEY_WINDOW_1 = (0x34, 0x100)
KEY_WINDOW_2 = (0x48, 0xEC)
#: The block of the answer re-encrypted under the request's keys.
INNER = (0xC8, 0x20)
#: The block of the answer then wrapped under the fixed envelope key.
ENVELOPE = (0x28, 0x120)
#: Envelope keys (DES k1, k2, k3, chaining seed), the same for every console.
ENVELOPE_KEYS = (
    bytes.fromhex("eb711416cb0ab016"),
    bytes.fromhex("ae190174b5ce6339"),
    bytes.fromhex("7b01b91880145e34"),
    bytes.fromhex("c510a6400a9b022f"),
)

#: The shortest request of each kind that holds every byte we read.
MIN_REQUEST = {
    Query.I_CONNECT: max(GAME_ID_OFFSET[Query.I_CONNECT] + 8, sum(KEY_WINDOW_1), sum(KEY_WINDOW_2)),
    Query.OTHERS: GAME_ID_OFFSET[Query.OTHERS] + 8,
}
#: A recorded i-connect answer must hold both blocks to be personalised.
MIN_I_CONNECT_ANSWER = max(sum(INNER), sum(ENVELOPE))


class BadRequest(ValueError):
    """The request body cannot be a DNAS request (too short for the fields we read)."""


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    game_id: str  # 16 hex digits
    query_type: str  # 8 hex digits
    known: bool  # False: the recorded error answer was sent


def request_key(body: bytes, query: Query) -> tuple[str, str]:
    """(game id, query type) as lowercase hex, the way the recordings are named."""
    if len(body) < MIN_REQUEST[query]:
        raise BadRequest(f"{query.value} request is {len(body)} bytes, needs at least {MIN_REQUEST[query]}")
    offset = GAME_ID_OFFSET[query]
    return body[offset : offset + 8].hex(), body[:4].hex()


def request_keys(body: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """The console-specific keys of an i-connect request: 32 bytes of SHA-1s split in four.

    SHA-1 of the second window gives 20 bytes, the first 12 of the first window's SHA-1 follow;
    the result is the DES keys k1, k2, k3 and the chaining seed, 8 bytes each.
    """
    start1, len1 = KEY_WINDOW_1
    start2, len2 = KEY_WINDOW_2
    sha2 = hashlib.sha1(body[start2 : start2 + len2]).digest()
    sha1 = hashlib.sha1(body[start1 : start1 + len1]).digest()
    digest = sha2 + sha1[:12]
    return digest[0:8], digest[8:16], digest[16:24], digest[24:32]


def encrypt_ede_chained(data: bytes, keys: tuple[bytes, bytes, bytes, bytes]) -> bytes:
    """DES encrypt-decrypt-encrypt under three keys, each block XORed with the previous output.

    This is 3DES-CBC with the seed as IV, written with single-DES steps because pycryptodome's
    DES3 refuses key triples that collapse to single DES, which SHA-1-derived keys may do.
    """
    if len(data) % 8:
        raise ValueError("data must be whole 8-byte blocks")
    k1, k2, k3 = (DES.new(k, DES.MODE_ECB) for k in keys[:3])
    chain = keys[3]
    out = bytearray()
    for i in range(0, len(data), 8):
        block = bytes(a ^ b for a, b in zip(data[i : i + 8], chain))
        chain = k3.encrypt(k2.decrypt(k1.encrypt(block)))
        out += chain
    return bytes(out)


def personalise(answer: bytes, request: bytes) -> bytes:
    """The recorded i-connect answer made valid for this request."""
    if len(answer) < MIN_I_CONNECT_ANSWER:
        raise ValueError(f"recorded i-connect answer is {len(answer)} bytes, needs {MIN_I_CONNECT_ANSWER}")
    out = bytearray(answer)
    for (start, length), keys in ((INNER, request_keys(request)), (ENVELOPE, ENVELOPE_KEYS)):
        out[start : start + length] = encrypt_ede_chained(bytes(out[start : start + length]), keys)
    return bytes(out)


class AnswerBook:
    """The recorded answers of each enabled region, read once from the assets."""

    def __init__(self, regions: Mapping[str, Mapping[str, bytes]], errors: Mapping[str, bytes]) -> None:
        self._regions = regions
        self._errors = errors

    @classmethod
    def load(cls, regions: tuple[str, ...], root: Path = ASSET_DIR) -> AnswerBook:
        packets: dict[str, dict[str, bytes]] = {}
        errors: dict[str, bytes] = {}
        for region in regions:
            gw = root / REGION_GATEWAYS[region]
            errors[region] = (gw / "error.raw").read_bytes()
            packets[region] = {p.name: p.read_bytes() for p in (gw / "packets").iterdir() if p.is_file()}
        return cls(packets, errors)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self._errors)

    def count(self, region: str) -> int:
        return len(self._regions.get(region, ()))

    def answer(self, region: str, query: Query, request: bytes) -> Answer:
        """The reply to ``request``; raises BadRequest when it is too short to be one."""
        game_id, query_type = request_key(request, query)
        recorded = self._regions[region].get(f"{game_id}_{query_type}")
        if recorded is None or (query is Query.I_CONNECT and len(recorded) < MIN_I_CONNECT_ANSWER):
            return Answer(self._errors[region], game_id, query_type, known=False)
        if query is Query.I_CONNECT:
            recorded = personalise(recorded, request)
        return Answer(recorded, game_id, query_type, known=True)
