"""DNAS answers: lookup by game id and query type, and the i-connect personalisation.

The expected bytes are worked out here step by step from the description (SHA-1 hex strings cut
and joined as the community's replacement does, then pycryptodome's 3DES in CBC mode), not with
the module's own helpers.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from Crypto.Cipher import DES, DES3
from hypothesis import given, settings
from hypothesis import strategies as st

from clank_lan.dnas.answers import (
    ASSET_DIR,
    AnswerBook,
    BadRequest,
    Query,
    encrypt_ede_chained,
    personalise,
    request_key,
)

ENVELOPE_HEX = "eb711416cb0ab016" "ae190174b5ce6339" "7b01b91880145e34" "c510a6400a9b022f"

# (region, recorded file) of i-connect answers from each gateway, including a 329-byte one.
I_CONNECT_CASES = [
    ("us", "0044d711bb7bfb3a_01080000"),
    ("us", "17239fdcf089c01f_01080000"),
    ("eu", "22634aa9c3aa646a_01180000"),
    ("jp", "6ad9857e472f1493_01900000"),
    ("jp", "0cbd8a400dbdd37b_01980000"),
]


@pytest.fixture(scope="module")
def book() -> AnswerBook:
    return AnswerBook.load(("us", "eu", "jp"))


def crafted_i_connect(name: str, seed: int, size: int = 0x180) -> bytes:
    """A request with random content but the recorded game id at 0x2C and query type at 0."""
    game_id, query_type = (bytes.fromhex(part) for part in name.split("_"))
    body = bytearray(random.Random(seed).randbytes(size))
    body[0:4] = query_type
    body[0x2C:0x34] = game_id
    return bytes(body)


def expected_answer(recorded: bytes, request: bytes) -> bytes:
    sha_a = hashlib.sha1(request[0x34 : 0x34 + 0x100]).hexdigest()
    sha_b = hashlib.sha1(request[0x48 : 0x48 + 0xEC]).hexdigest()
    full = sha_b[: 0x14 * 2] + sha_a[: 0x0C * 2]  # 64 hex digits
    k1, k2, k3, seed = (bytes.fromhex(full[i : i + 16]) for i in range(0, 64, 16))
    step1 = bytearray(recorded)
    step1[0xC8:0xE8] = DES3.new(k1 + k2 + k3, DES3.MODE_CBC, iv=seed).encrypt(bytes(step1[0xC8:0xE8]))
    e1, e2, e3, eseed = (bytes.fromhex(ENVELOPE_HEX[i : i + 16]) for i in range(0, 64, 16))
    step2 = bytearray(step1)
    step2[0x28:0x148] = DES3.new(e1 + e2 + e3, DES3.MODE_CBC, iv=eseed).encrypt(bytes(step1[0x28:0x148]))
    return bytes(step2)


@pytest.mark.parametrize(("region", "name"), I_CONNECT_CASES)
@pytest.mark.parametrize("seed", [1, 2])
def test_i_connect_answer_is_personalised_for_the_request(book, region, name, seed):
    gateway = {"us": "us-gw", "eu": "eu-gw", "jp": "gai-gw"}[region]
    recorded = (ASSET_DIR / gateway / "packets" / name).read_bytes()
    request = crafted_i_connect(name, seed)
    answer = book.answer(region, Query.I_CONNECT, request)
    assert answer.known
    assert (answer.game_id + "_" + answer.query_type) == name
    assert answer.body == expected_answer(recorded, request)
    # Only the envelope window changed; the header and any tail are the recording's.
    assert answer.body[:0x28] == recorded[:0x28]
    assert answer.body[0x148:] == recorded[0x148:]
    assert answer.body[0x28:0x148] != recorded[0x28:0x148]


def test_two_requests_for_one_game_get_different_answers(book):
    region, name = I_CONNECT_CASES[0]
    first = book.answer(region, Query.I_CONNECT, crafted_i_connect(name, 1)).body
    second = book.answer(region, Query.I_CONNECT, crafted_i_connect(name, 2)).body
    assert first[0x28:0x148] != second[0x28:0x148]
    # The envelope alone depends only on the recording: its outer layer undone, the parts outside
    # the inner block match.
    e1, e2, e3, eseed = (bytes.fromhex(ENVELOPE_HEX[i : i + 16]) for i in range(0, 64, 16))
    inner_1 = DES3.new(e1 + e2 + e3, DES3.MODE_CBC, iv=eseed).decrypt(first[0x28:0x148])
    inner_2 = DES3.new(e1 + e2 + e3, DES3.MODE_CBC, iv=eseed).decrypt(second[0x28:0x148])
    assert inner_1[: 0xC8 - 0x28] == inner_2[: 0xC8 - 0x28]
    assert inner_1[0xC8 - 0x28 : 0xE8 - 0x28] != inner_2[0xC8 - 0x28 : 0xE8 - 0x28]


def test_others_answer_is_the_recording_unchanged(book):
    name = "00ffb3a380eec009_01088008"
    recorded = (ASSET_DIR / "us-gw" / "packets" / name).read_bytes()
    body = bytearray(64)
    body[0:4] = bytes.fromhex("01088008")
    body[0x1B:0x23] = bytes.fromhex("00ffb3a380eec009")
    answer = book.answer("us", Query.OTHERS, bytes(body))
    assert answer.known
    assert answer.body == recorded


def test_unrecorded_game_gets_the_error_answer(book):
    request = crafted_i_connect("0123456789abcdef_01080000", 3)
    answer = book.answer("eu", Query.I_CONNECT, request)
    assert not answer.known
    assert answer.game_id == "0123456789abcdef"
    assert answer.query_type == "01080000"
    assert answer.body == (ASSET_DIR / "eu-gw" / "error.raw").read_bytes()
    assert len(answer.body) == 41


def test_i_connect_key_naming_a_short_others_recording_gets_the_error_answer(book):
    # 00ffb3a380eec009 has a 170-byte 01080001 recording, too short to personalise.
    request = crafted_i_connect("00ffb3a380eec009_01080001", 4)
    if not (ASSET_DIR / "us-gw" / "packets" / "00ffb3a380eec009_01080001").exists():
        pytest.fail("expected recording is missing from the assets")
    answer = book.answer("us", Query.I_CONNECT, request)
    assert not answer.known


@pytest.mark.parametrize(
    ("query", "size"), [(Query.I_CONNECT, 0x133), (Query.I_CONNECT, 0), (Query.OTHERS, 0x22)]
)
def test_truncated_request_is_refused(book, query, size):
    with pytest.raises(BadRequest):
        book.answer("us", query, bytes(size))


def test_request_key_reads_the_documented_offsets():
    body = bytes(range(256)) * 2
    assert request_key(body, Query.I_CONNECT) == (body[0x2C:0x34].hex(), body[:4].hex())
    assert request_key(body, Query.OTHERS) == (body[0x1B:0x23].hex(), body[:4].hex())


@settings(max_examples=30, deadline=None)
@given(keys=st.lists(st.binary(min_size=8, max_size=8), min_size=4, max_size=4),
       blocks=st.integers(min_value=1, max_value=40))
def test_ede_chaining_equals_3des_cbc(keys, blocks):
    data = bytes(i % 251 for i in range(blocks * 8))
    k1, k2, k3, seed = keys
    ours = encrypt_ede_chained(data, (k1, k2, k3, seed))
    try:
        reference = DES3.new(k1 + k2 + k3, DES3.MODE_CBC, iv=seed).encrypt(data)
    except ValueError:  # degenerate triple: EDE collapses to single DES under k3 (k1 == k2) or k1
        same_12 = DES.new(k1, DES.MODE_ECB).encrypt(bytes(8)) == DES.new(k2, DES.MODE_ECB).encrypt(bytes(8))
        single = k3 if same_12 else k1
        reference = DES.new(single, DES.MODE_CBC, iv=seed).encrypt(data)
    assert ours == reference


def test_ede_chaining_handles_keys_that_collapse_to_single_des():
    k = bytes.fromhex("0123456789abcdef")
    k3 = bytes.fromhex("fedcba9876543210")
    seed = bytes(8)
    data = bytes(range(32))
    assert encrypt_ede_chained(data, (k, k, k3, seed)) == DES.new(k3, DES.MODE_CBC, iv=seed).encrypt(data)


def test_personalise_refuses_a_short_recording():
    with pytest.raises(ValueError, match="needs"):
        personalise(bytes(0x147), bytes(0x200))


def test_assets_hold_every_recording_of_the_shared_copy(shared_dir):
    source = shared_dir / "captures" / "dnas-opendnas"
    for gw in ("us-gw", "eu-gw", "gai-gw"):
        ours = {p.name: p.read_bytes() for p in (ASSET_DIR / gw / "packets").iterdir()}
        theirs = {p.name: p.read_bytes() for p in (source / gw / "packets").iterdir()}
        assert ours == theirs
        assert (ASSET_DIR / gw / "error.raw").read_bytes() == (source / gw / "error.raw").read_bytes()


def test_book_counts_and_regions(book):
    assert book.regions == ("us", "eu", "jp")
    assert (book.count("us"), book.count("eu"), book.count("jp")) == (204, 121, 65)
