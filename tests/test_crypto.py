"""PS2/PS3 crypto against every published vector (rt-and-crypto.md section 4, the medius-crypto
result files, the UYA NTSC handshake of hashsploit/medius-crypto) and FrameCipher behaviour."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.crypto import ref_decrypt, ref_encrypt, ref_schedule
from clank_lan.protocol.crypto import ps2_rc4, ps2_rsa, ps3_rcq
from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash, null_hash, ps2_hash
from clank_lan.protocol.crypto.keys import all_keys, global_mas_key, key_for_modulus
from clank_lan.protocol.crypto.ps2_rsa import RsaKey, to_int
from clank_lan.protocol.crypto.session import CryptoError, Frame, FrameCipher, Suite
from clank_lan.protocol.errors import ProtocolError
from clank_lan.protocol.framing import RawFrame, TcpDeframer

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent

K42 = b"\x42" * 64
K43 = b"\x43" * 64


def h(text: str) -> bytes:
    """Hex with any whitespace in it (vectors are copied as printed in the reference)."""
    return bytes.fromhex("".join(text.split()))


def one_frame(wire: bytes) -> RawFrame:
    frames = TcpDeframer().feed(wire)
    assert len(frames) == 1
    return frames[0]


# --- rt-and-crypto.md 4.1: key material ------------------------------------------------------

GLOBAL_N = int(
    "10315955513017997681600210131013411322695824559688299373570246338038100843097466504032586443986679280716"
    "603540690692615875074465586629501752500179100369237"
)
GLOBAL_P = 101177020773116032450768434219907665711628442914109359705930212851485814671757
GLOBAL_Q = 101959470976625878182337603500729946859798449583099010462249380230433894289641


def test_global_mas_key() -> None:
    key = global_mas_key()
    assert key.n == GLOBAL_N == GLOBAL_P * GLOBAL_Q
    assert hex(key.n).startswith("0xc4f75716ec835d23")
    assert (key.e, key.p, key.q) == (17, GLOBAL_P, GLOBAL_Q)
    assert key.d == pow(17, -1, (GLOBAL_P - 1) * (GLOBAL_Q - 1))
    assert key_for_modulus(GLOBAL_N) is key


def test_every_known_key_pair_inverts() -> None:
    keys = all_keys()
    assert {"global_mas", "client_uya_ps2_ntsc", "client_dl_ps2_ntsc", "client_dl_ps3"} <= set(keys)
    for key in keys.values():
        assert key.e == 17 and key.n.bit_length() == 512
        for x in (2, 0xA5A5, key.n - 2):
            assert key.raw_decrypt(key.raw_encrypt(x)) == x, key.name


# --- rt-and-crypto.md 4.2: PS2 -----------------------------------------------------------------

SHA1_VECTORS = [
    ("a5", 3, "4fb8cf6a"),
    ("0100", 3, "0e356b65"),
    ("00", 3, "5ba93c7d"),
    ("0e01", 3, "96d8cc73"),
    ("01", 3, "bf8b4570"),
    ("024802", 3, "3c05e76a"),
]


@pytest.mark.parametrize(("plain", "ctx", "digest"), SHA1_VECTORS)
def test_ps2_checksum_vectors(plain: str, ctx: int, digest: str) -> None:
    assert ps2_hash(h(plain), ctx) == h(digest)
    assert hash_ctx(h(digest)) == ctx


# (key, ctx, plaintext, complete wire frame) from the UYA PAL capture.
RC4_FRAMES = [
    (K42, 3, "0100", "9a 0200 0e356b65 dc30"),
    (
        K42,
        3,
        "010810000001003139322e3136382e322e313231000000",
        "87 1700 1f0ff874 2d5e9c87c9e219c5b46e4c248782c76ee087601d3be35c",
    ),
    (
        K42,
        3,
        "43" * 64,
        """94 4000 15e76272 a2a595c93b34a968d6feb756a42a6c95fb912c94ed7a9aa1275aa6d2f67061c4
                      0ec81544fe00b6166a42a940db50383102f80594bdd96493f7d3f13b2cfa32e2""",
    ),
    (
        K43,
        1,
        "01a40000000000000000000000000000000000000000004bb50800000000",
        "8a 1e00 adefb43a 892c7406f6e89f5115ba5d5fdcd72d3d93b61283e4a69bffaa694944a433",
    ),
]


@pytest.mark.parametrize(("key", "ctx", "plain", "wire"), RC4_FRAMES)
def test_ps2_rc4_capture_frames(key: bytes, ctx: int, plain: str, wire: str) -> None:
    raw = one_frame(h(wire))
    assert raw.hash is not None and hash_ctx(raw.hash) == ctx
    assert ps2_rc4.decrypt(key, raw.payload, raw.hash) == h(plain)
    assert ps2_rc4.encrypt(key, h(plain), ctx) == (raw.hash, raw.payload)
    cipher = FrameCipher()
    cipher.set_key(ctx, key)
    assert cipher.decrypt(raw) == Frame(raw.id, h(plain), ctx)
    assert cipher.encrypt(raw.id, h(plain), ctx) == h(wire)
    assert ref_decrypt(key, raw.payload, raw.hash) == h(plain)


UYA_PAL_PUBLIC = """92 4000 156d6de6 edae4e4d997d2eefbd1d70477b2d1afaa780994bc44940094a6da1f0b408f14907
                               e086f62f26b8fa748bddf4e21ccf7a59f243d6180d016e1d7e5743a2ac32c3"""
UYA_PAL_CLIENT_N = """81cbbd3a36a18995a4bb4e8e83d57596e0d1988b0aa07a41bb5888120ef4433f14ae6d9b0a3e7cee
                      5d72e2f061a7f75533ac8754b7f81eba07e818fe077ef092"""
UYA_PAL_PEER = """93 4000 84951fe2 fb08e78aa4c0bbf123a5ddd9ab9dd1f46526a2ff66c6f5981db9938395b44b61
                             4bc31fd35ebc7a26d7df58da05a47b0c010efca76b625efee1a649597852f922"""


def test_rsa_cryptkey_public_with_global_mas_key() -> None:
    raw = one_frame(h(UYA_PAL_PUBLIC))
    server = global_mas_key()
    assert ps2_rsa.decrypt(server, raw.payload, raw.hash) == h(UYA_PAL_CLIENT_N)
    public_only = RsaKey(n=server.n)
    assert ps2_rsa.encrypt(public_only, h(UYA_PAL_CLIENT_N)) == (raw.hash, raw.payload)
    # A pair given as n and d alone finds its factors and decrypts the same.
    no_factors = RsaKey(n=server.n, d=server.d)
    assert (no_factors.p, no_factors.q) == (server.p, server.q)
    assert ps2_rsa.decrypt(no_factors, raw.payload, raw.hash) == h(UYA_PAL_CLIENT_N)


def test_rsa_cryptkey_peer_to_the_uya_pal_client_modulus() -> None:
    client = RsaKey.from_modulus_le(h(UYA_PAL_CLIENT_N))
    assert key_for_modulus(client.n) is None  # not a known key: the server needs only N
    raw = one_frame(h(UYA_PAL_PEER))
    assert ps2_rsa.encrypt(client, K42) == (raw.hash, raw.payload)
    cipher = FrameCipher()
    cipher.rsa_peer = client
    assert cipher.encrypt(0x13, K42, Ctx.RSA_AUTH) == h(UYA_PAL_PEER)


# hashsploit/medius-crypto TestDecryptUYA.java: a UYA NTSC handshake and lobby traffic. "c" frames
# are client -> server, "s" frames server -> client; 0x13 delivers K3, 0x14 the ctx-1 game key.
UYA_NTSC = [
    (
        "c",
        "924000f4f87af73425c89a6da9ddebaba83ca6e6b4726def512300deea43d58f22503faf9c5296107ca4bea9578a"
        "ae4968062073c624a807ad44d254298d58b63cda3be4338c57",
    ),
    (
        "s",
        "93400073a1bbf945930a9e594035b2639046cd56f5cce65998bddd16e92ec0fd7563951c7488da4e2341675e3f69"
        "2645ad8b064a0b5d3d52017fe1b4fcc1b7cd4843cddba3b8c1",
    ),
    (
        "c",
        "804900609cac75edde4cd90feba860ceeb928e9135e48839c45d1e966d00958745ba76242fdec265258545a6daba"
        "3bfd7ea3fa2fe944648c0f2398287279369d6b73545101cdad24b78df93ca20cea80",
    ),
    (
        "s",
        "944000f9b9006e511e6a903f3df3716e754e35811b3b25ef5c40755d2ab318b32d80bb5305a8eac885994bf24865"
        "2a5fe4df07a1b41921d60e7e985d691218146f0051be7f84fb87170068638f72994377ae5716efceacdd410084b5"
        "bda0a7b5818952b52b9a02000e356b65fbcd",
    ),
    ("c", "8b1e00a7fd4874218c79d89ca04de52513e26a216373db5f869f69156c70e6f5bcfca0f500"),
    (
        "s",
        "8a32005654fb3251ad61064920ee8f216390e4311a9b66a3ae12fc0c0013a4ed927240d606efa9759689fd67af9a"
        "d5633bcbaf460034e5fbf7",
    ),
    (
        "c",
        "8b320057aecf603a28a08565ee7ac26dc03148224b51fa3d2078931c94920ab1197589547caf117f8759f9eab6cf"
        "3a63486e6d5790e248c753",
    ),
    ("s", "8a1e00774b2b3e818eebefa821d38222a836a761c6b56c96ab364c0a2d72ccd32d6141b8fb"),
    (
        "c",
        "8b520087740b762ca1532d26583aa1ef3f65aa21ce5b10814722d62082e6ffcd8fed5d9d0621a09e4b1979512f71"
        "02247b759b8d1e4b6413f71a0db785652e60151e5e9f5f7bfcd9aa8bac55e6c1e465a997901632311b8668",
    ),
    (
        "c",
        "8b6800d64a7c6d7654ae04945cd13b0bb44b10da7ea3af748b5028a77f21226d44d981f9ef34804024568a653cfa"
        "b9e677c3c324ffe77b6a62692157634fdcdfe0ee81788d74d5b95f373c3fa668f237fd0a8e5b8ea9b76a13143853"
        "d51acdfb41bc5e81db1b3cecb6110ee220d3b2",
    ),
    (
        "s",
        "8ac600e19716264d42061fbc4abe21b6c4083f74df9c6c11c1fba5b8ffdd3dd390a3078dfaf49a7ebfee41fc17ab"
        "ae3437086911e5b026a6d1120d1b42d3224040199054aefe6cb5cbd55d2e7312e57d0f8f0e989689e69d99e592f3"
        "687cfa37dd8800b9f9a1cc1d2b4304b766824a7c0e5d779bf2615e6bc287950b38540c719250ff2db38b8754f034"
        "b23f92445cd2addbe6c53109f4f7543a110ad8a51b7694157e4ebf2059fd09d20673f4b2900c24f8390e771b851f"
        "9b6095737834fa68ff82729cd717e7d986afb4ccec",
    ),
    ("c", "010000"),
]
UYA_NTSC_K3 = """e7477438e0234bb8196d574f09337be7a72971628c551c3373a68be7
                 f1f108181eaac2419afa7583215e79775e9d6dbc8d442545ef396f29c6294c69fc97e177"""


def test_uya_ntsc_handshake_decrypts_and_reencrypts_exactly() -> None:
    client_key = all_keys()["client_uya_ps2_ntsc"]
    server = FrameCipher(rsa_local=global_mas_key())
    client = FrameCipher(rsa_local=client_key)
    client.rsa_peer = RsaKey(n=global_mas_key().n)
    seen: list[tuple[int, int | None, bytes]] = []
    for side, wire in UYA_NTSC:
        sender, receiver = (client, server) if side == "c" else (server, client)
        frames = TcpDeframer().feed(h(wire))
        out = b""
        for raw in frames:
            frame = receiver.decrypt(raw)
            seen.append((frame.id, frame.ctx, frame.payload))
            if frame.id == 0x12:
                server.rsa_peer = RsaKey.from_modulus_le(frame.payload)
            elif frame.id in (0x13, 0x14):
                slot = Ctx.RC_CLIENT_SESSION if frame.id == 0x13 else Ctx.RC_SERVER_SESSION
                server.set_key(slot, frame.payload)
                client.set_key(slot, frame.payload)
            out += sender.encode(frame)
        assert out == h(wire)
    # The client modulus in CRYPTKEY_PUBLIC is the known UYA NTSC client key; PEER carries K3.
    assert seen[0] == (0x12, 7, client_key.modulus_le)
    assert seen[1] == (0x13, 7, h(UYA_NTSC_K3))
    assert seen[2][:2] == (0x00, 3) and len(seen[2][2]) == 73 and seen[2][2][:3] == b"\x01\x08\x01"
    assert [(i, c) for i, c, _ in seen[3:6]] == [(0x14, 3), (0x07, 3), (0x1A, 3)]
    assert seen[6] == (0x0B, 3, h("010331000000000000000000000000000000000000000000000001000000"))
    assert {c for i, c, _ in seen if i == 0x0A} == {Ctx.RC_SERVER_SESSION}
    assert seen[-1] == (0x01, None, b"")


# --- rt-and-crypto.md 4.3: PS3 -----------------------------------------------------------------

RCQ_CHECKSUMS = [
    ("00", 3, "376f8c66"),
    ("0e01", 3, "356e8c66"),
    ("024306", 3, "39308a66"),
    ("01", 3, "386f8c66"),
]
PS3_KEY = h(
    "be49b0fe20c10bd5db7f2371d0dc83522082a47eb612c7b021e61647cc051d933b8a53766f7d036b5b31217a7cb8fbb1"
    "280d07ec3e5261d5ecda5b66fd99026f"
)
PS3_FRAMES = [
    ("a2 0300 39308a66 456e33", "024306"),
    ("a3 0100 376f8c66 cb", "00"),
    ("a1 0200 356e8c66 03d8", "0e01"),
    ("a0 0100 386f8c66 4c", "01"),
]
PS3_PUBLIC = """92 4000 7663b5e1 1b5afcb4cfc60c70061f967e1b1cc0232dda8f71b392f5ea7933e41325a4eb2a
                           22d0b1d9239e4e879c8273ae3323a10b6051646f8e67ced70a57f584738a3fb9"""
PS3_PUBLIC_PLAIN = """836dcf66ffafe3e5abf60ac9bc4440101a0b41f8bbba8a38d5a85b84f8a277f4ed3e017569033bba
                      7f0fd15529e4ed30ad21df86890b435bfc20608a86cc64e1"""


@pytest.mark.parametrize(("plain", "ctx", "digest"), RCQ_CHECKSUMS)
def test_rcq_checksum_vectors(plain: str, ctx: int, digest: str) -> None:
    assert ps3_rcq.rcq_hash(h(plain), ctx) == h(digest)


def test_rcq_iv_is_sixteen_zero_bytes_absorbed() -> None:
    iv = (0xB5A0559C, 0x88AA4C20, 0x013D2CC7, 0xCB2DE2B6)
    assert iv == ps3_rcq._IV
    # The checksum of nothing is the IV's word sum, which pins the IV through the public API too.
    assert ps3_rcq.rcq_hash(b"", 0) == (sum(iv) & 0x1FFFFFFF).to_bytes(4, "little")


@pytest.mark.parametrize(("wire", "plain"), PS3_FRAMES)
def test_rcq_capture_frames(wire: str, plain: str) -> None:
    raw = one_frame(h(wire))
    assert ps3_rcq.decrypt(PS3_KEY, raw.payload, raw.hash) == h(plain)
    assert ps3_rcq.encrypt(PS3_KEY, h(plain), 3) == (raw.hash, raw.payload)
    cipher = FrameCipher(Suite.PS3)
    cipher.set_key(3, PS3_KEY)
    frame = cipher.decrypt(raw)
    assert frame == Frame(raw.id, h(plain), 3)
    assert cipher.encode(frame) == h(wire)


def test_ps3_rsa_needs_the_plus_n_candidate() -> None:
    raw = one_frame(h(PS3_PUBLIC))
    server = global_mas_key()
    plain = h(PS3_PUBLIC_PLAIN)
    assert to_int(plain) >= server.n  # the case that needs m + N
    m = server.raw_decrypt(to_int(raw.payload))
    assert ps3_rcq.rcq_hash(m.to_bytes(64, "little"), 7) != raw.hash
    assert ps2_rsa.decrypt(server, raw.payload, raw.hash, ps3_rcq.rcq_hash) == plain
    assert ps2_rsa.encrypt(server, plain, 7, ps3_rcq.rcq_hash) == (raw.hash, raw.payload)
    cipher = FrameCipher(Suite.PS3, rsa_local=server)
    assert cipher.decrypt(raw) == Frame(0x12, plain, 7)


# --- hashsploit/medius-test-tools result files (Java and C# implementations) --------------------


def _parse_vector_file(text: str):
    """(sha1 vectors, rc4 vectors) of one results file."""
    sha_data = h(re.search(r"==== SHA1 TEST ====\s*Data: ([0-9A-F]+)", text).group(1))
    sha = [
        (sha_data, Ctx[name], h(digest))
        for name, digest in re.findall(r"Hashed CipherContext\((?:0x0\d/)?(\w+)\): ([0-9A-F]{8})", text)
    ]
    rc4_part = text.split("==== PS2 RC4 TEST ====", 1)[1]
    key = h(re.search(r"Key: ([0-9A-F]+)", rc4_part).group(1))
    data = h(re.search(r"Data: ([0-9A-F]+)", rc4_part).group(1))
    rc4 = [
        (key, data, h(enc), h(digest), h(dec))
        for enc, digest, dec in re.findall(
            r"Encrypted data: ([0-9A-F]+)\s+Encryption hash: ([0-9A-F]{8})\s+"
            r"Decrypted status: \w+\s+Decrypted data: ([0-9A-F]+)",
            rc4_part,
        )
    ]
    return sha, rc4


@pytest.mark.parametrize("lang", ["java", "cs"])
def test_medius_test_tools_vectors(lang: str) -> None:
    sha, rc4 = _parse_vector_file((FIXTURES / f"medius-crypto-testvectors-{lang}.txt").read_text())
    assert [ctx for _, ctx, _ in sha] == list(Ctx)  # all eight contexts, in order
    for data, ctx, digest in sha:
        assert ps2_hash(data, ctx) == digest
    assert len(rc4) == 8
    for ctx, (key, data, enc, digest, dec) in enumerate(rc4):
        assert dec == data
        assert hash_ctx(digest) == ctx
        assert ps2_rc4.encrypt(key, data, ctx) == (digest, enc)
        assert ps2_rc4.decrypt(key, enc, digest) == data


# --- the generated key schedule against the plain-loop reference (bench/crypto.py) --------------


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=64, max_size=64), seed=st.binary(min_size=4, max_size=4))
def test_generated_schedule_matches_plain_loops(key: bytes, seed: bytes) -> None:
    assert ps2_rc4.schedule(key, seed) == ref_schedule(key, seed)


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=64, max_size=64),
    plain=st.binary(min_size=1, max_size=300),
    ctx=st.integers(0, 7),
)
def test_rc4_matches_plain_loops(key: bytes, plain: bytes, ctx: int) -> None:
    hsh, cipher = ps2_rc4.encrypt(key, plain, ctx)
    assert (hsh, cipher) == ref_encrypt(key, plain, ctx)
    assert ps2_rc4.decrypt(key, cipher, hsh) == plain


def test_rc4_rejects_a_key_of_the_wrong_size() -> None:
    with pytest.raises(ProtocolError):
        ps2_rc4.encrypt(b"\x42" * 16, b"x", 3)
    with pytest.raises(ProtocolError):
        FrameCipher().set_key(3, b"\x42" * 63)


# --- FrameCipher -------------------------------------------------------------------------------


def test_context_bits_select_the_key() -> None:
    k1, k3 = b"\x11" * 64, b"\x33" * 64
    both = FrameCipher()
    both.set_key(Ctx.RC_SERVER_SESSION, k1)
    both.set_key(Ctx.RC_CLIENT_SESSION, k3)
    only1 = FrameCipher()
    only1.set_key(Ctx.RC_SERVER_SESSION, k1)
    only3 = FrameCipher()
    only3.set_key(Ctx.RC_CLIENT_SESSION, k3)
    for ctx, good, bad in ((1, only1, only3), (3, only3, only1)):
        raw = one_frame(both.encrypt(0x0A, b"lobby message", ctx))
        assert hash_ctx(raw.hash) == ctx
        assert good.decrypt(raw) == Frame(0x0A, b"lobby message", ctx)
        with pytest.raises(CryptoError):
            bad.decrypt(raw)


def test_same_key_in_both_slots_still_follows_the_context() -> None:
    key = b"\x5a" * 64
    cipher = FrameCipher()
    cipher.set_key(1, key)
    cipher.set_key(3, key)
    w1, w3 = cipher.encrypt(0x0A, b"same", 1), cipher.encrypt(0x0A, b"same", 3)
    assert w1 != w3  # the context is part of the hash, which seeds the keystream
    assert cipher.decrypt(one_frame(w1)).ctx == 1
    assert cipher.decrypt(one_frame(w3)).ctx == 3


def test_null_hash_passes_through_without_keys() -> None:
    wire = h("82 0500 00000060") + b"hello"
    raw = one_frame(wire)
    assert raw.hash == null_hash() and is_null_hash(raw.hash)
    frame = FrameCipher().decrypt(raw)
    assert frame == Frame(0x02, b"hello", 3, null=True)
    assert not frame.encrypted
    assert FrameCipher().encode(frame) == wire


def test_zero_length_flagged_frame() -> None:
    raw = one_frame(h("97 00 00"))
    assert raw.hash == b"" and raw.flagged
    frame = FrameCipher().decrypt(raw)
    assert frame.id == 0x17 and frame.payload == b"" and frame.null
    assert FrameCipher().encode(frame) == h("97 00 00")
    cipher = FrameCipher()
    cipher.set_key(3, K42)
    assert cipher.encrypt(0x17, b"", 3) == h("97 00 00")


def test_clear_frames_pass_through() -> None:
    hello = h("02006e006d0001000100")
    assert FrameCipher().decrypt(RawFrame(0x24, hello)) == Frame(0x24, hello)
    assert FrameCipher().encrypt(0x01, b"", None) == h("01 00 00")


def test_missing_key_is_a_crypto_error() -> None:
    raw = one_frame(h(RC4_FRAMES[0][3]))
    with pytest.raises(CryptoError) as err:
        FrameCipher().decrypt(raw)
    assert isinstance(err.value, ProtocolError)
    assert "context 3" in str(err.value)
    with pytest.raises(CryptoError):  # an RSA frame but no private key
        FrameCipher().decrypt(one_frame(h(UYA_PAL_PUBLIC)))
    with pytest.raises(ProtocolError):  # nothing to encrypt with
        FrameCipher().encrypt(0x0B, b"x", 3)
    with pytest.raises(ProtocolError):
        FrameCipher().encrypt(0x13, K42, Ctx.RSA_AUTH)


@pytest.mark.parametrize("suite", [Suite.PS2, Suite.PS3])
def test_tampered_byte_is_a_crypto_error(suite: Suite) -> None:
    cipher = FrameCipher(suite)
    cipher.set_key(3, K42)
    wire = cipher.encrypt(0x0B, b"a Medius message of some length", 3)
    assert cipher.decrypt(one_frame(wire)).payload == b"a Medius message of some length"
    for pos in (3, 6, 7, len(wire) - 1):  # hash bytes 0 and 3, first and last payload byte
        bad = bytearray(wire)
        bad[pos] ^= 0x01
        with pytest.raises(CryptoError):
            cipher.decrypt(one_frame(bytes(bad)))


def test_tampered_rsa_frame_is_a_crypto_error() -> None:
    wire = bytearray(h(UYA_PAL_PUBLIC))
    wire[20] ^= 0x80
    with pytest.raises(CryptoError):
        FrameCipher(rsa_local=global_mas_key()).decrypt(one_frame(bytes(wire)))


@settings(max_examples=75, deadline=None)
@given(
    suite=st.sampled_from([Suite.PS2, Suite.PS3]),
    key=st.binary(min_size=64, max_size=64),
    payload=st.binary(max_size=600),
    ctx=st.integers(0, 6),
    rt_id=st.integers(0, 0x7F),
)
def test_encrypt_decrypt_round_trip(suite: Suite, key: bytes, payload: bytes, ctx: int, rt_id: int) -> None:
    sender, receiver = FrameCipher(suite), FrameCipher(suite)
    sender.set_key(ctx, key)
    receiver.set_key(ctx, key)
    wire = sender.encrypt(rt_id, payload, ctx)
    frame = receiver.decrypt(one_frame(wire))
    assert frame.id == rt_id and frame.payload == payload
    if payload:
        assert frame == Frame(rt_id, payload, ctx)
        assert receiver.encode(frame) == wire
    else:
        assert wire == bytes((rt_id | 0x80, 0, 0))


@settings(max_examples=40, deadline=None)
@given(
    suite=st.sampled_from([Suite.PS2, Suite.PS3]),
    key_name=st.sampled_from(["global_mas", "client_dl_ps2_ntsc"]),
    payload=st.binary(min_size=64, max_size=64),
)
def test_rsa_round_trip_including_plaintexts_above_n(suite: Suite, key_name: str, payload: bytes) -> None:
    pair = all_keys()[key_name]  # global_mas decrypts with CRT, the client key without
    sender, receiver = FrameCipher(suite), FrameCipher(suite, rsa_local=pair)
    sender.rsa_peer = RsaKey(n=pair.n)
    wire = sender.encrypt(0x12, payload, Ctx.RSA_AUTH)
    assert receiver.decrypt(one_frame(wire)) == Frame(0x12, payload, Ctx.RSA_AUTH)


def test_rsa_round_trip_of_a_plaintext_just_above_n() -> None:
    pair = global_mas_key()
    plain = (pair.n + 12345).to_bytes(64, "little")
    hsh, cipher = ps2_rsa.encrypt(RsaKey(n=pair.n), plain)
    assert ps2_rsa.decrypt(pair, cipher, hsh) == plain


# --- the benchmark script stays runnable -------------------------------------------------------


def test_bench_quick_run_reports_a_verdict() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "crypto.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    verdict = re.search(r"^TARGET 20,000 64-byte frames/s on one core: (PASS|FAIL) ", run.stdout, re.M)
    assert verdict is not None, run.stdout
    assert (verdict.group(1) == "PASS") == (run.returncode == 0)
    assert re.search(r"encrypt  64 B\s+[\d,]+\s+[\d,]+\s+[\d.]+x\s+[\d,]+\s+[\d.]+x", run.stdout)
    assert "RSA handshakes/s" in run.stdout


# --- RSA with CRT, and the RC4 memo for small frames (the login path's speed-ups) -------------


@pytest.mark.parametrize("name", sorted(all_keys()))
def test_every_known_key_pair_decrypts_with_crt_as_the_plain_exponentiation(name):
    """The known pairs are n, e and d: their factors are found from d, so a client decrypting the
    server's CRYPTKEY_PEER uses CRT as the server does (about 2.5x faster)."""
    key = all_keys()[name]
    assert key.p is not None and key.q is not None and key.p * key.q == key.n and 1 < key.p < key.q
    assert ps2_rsa.factors(key.n, key.e, key.d) == (key.p, key.q)
    for m in (2, 12345, key.n - 2, int.from_bytes(bytes(range(64)), "little") % key.n):
        c = key.raw_encrypt(m)
        assert key.raw_decrypt(c) == pow(c, key.d, key.n) == m


def test_a_private_exponent_that_does_not_fit_gives_no_factors_and_the_plain_exponentiation():
    key = global_mas_key()
    assert ps2_rsa.factors(key.n, key.e, key.d + 2) is None
    odd = RsaKey(n=key.n, e=key.e, d=key.d + 2)  # not a working key, but no crash: no CRT
    assert odd.p is None and odd.raw_decrypt(5) == pow(5, key.d + 2, key.n)


def test_an_rsa_key_whose_factors_do_not_multiply_to_n_is_refused():
    key = global_mas_key()
    with pytest.raises(ProtocolError, match="p \\* q is not n"):
        RsaKey(n=key.n, e=key.e, d=key.d, p=key.p, q=key.q + 2)


def test_small_frame_rc4_memo_gives_the_same_answer_and_stays_bounded():
    key = bytes(range(64))
    ps2_rc4._PLAIN.clear()
    h, cipher = ps2_rc4.encrypt(key, b"\xa5", Ctx.RC_CLIENT_SESSION)
    assert ps2_rc4.decrypt(key, cipher, h) == b"\xa5" == ps2_rc4.decrypt(key, cipher, h)
    tampered = bytes([cipher[0] ^ 1])
    assert ps2_rc4.decrypt(key, tampered, h) is None and ps2_rc4.decrypt(key, tampered, h) is None
    for i in range(ps2_rc4._PLAIN_MAX + 50):
        hh, c = ps2_rc4.encrypt(key, i.to_bytes(4, "little"), Ctx.RC_CLIENT_SESSION)
        assert ps2_rc4.decrypt(key, c, hh) == i.to_bytes(4, "little")
    assert len(ps2_rc4._PLAIN) <= ps2_rc4._PLAIN_MAX


def test_rc4_prepare_compiles_the_schedule_once_and_first_use_still_works(monkeypatch) -> None:
    """``prepare`` puts the generated schedule in place of the lazy stand-in (a server calls it
    before it serves); later calls change nothing, and without it the first use compiles."""
    key, seed = bytes(range(64)), b"\x01\x02\x03\x04"
    monkeypatch.setattr(ps2_rc4, "schedule", ps2_rc4._first_schedule)
    ps2_rc4.prepare()
    compiled = ps2_rc4.schedule
    assert compiled is not ps2_rc4._first_schedule
    ps2_rc4.prepare()
    assert ps2_rc4.schedule is compiled
    assert compiled(key, seed) == ref_schedule(key, seed)
    monkeypatch.setattr(ps2_rc4, "schedule", ps2_rc4._first_schedule)
    assert ps2_rc4.encrypt(key, b"first use", 3) == ref_encrypt(key, b"first use", 3)
    assert ps2_rc4.schedule is not ps2_rc4._first_schedule


def test_a_frame_sent_under_many_keys_mixes_its_seed_once_and_the_tables_stay_bounded():
    """A chat line to 40 consoles: 40 keys, one seed. The seed half of the schedule is kept from
    its second use on and copied; each key's result still equals the plain loops, and changing
    one result (the output walk swaps in place) leaves the next key's untouched. A seed used once
    is only remembered as seen."""
    seed = b"\x10\x20\x30\x40"
    ps2_rc4._SEEDED.clear()
    ps2_rc4._SEEN.clear()
    for n in range(40):
        key = bytes((n + i) & 255 for i in range(64))
        got = ps2_rc4.schedule(key, seed)
        assert got == ref_schedule(key, seed)
        got.reverse()  # as the output walk would disturb it
        assert list(ps2_rc4._SEEDED) == ([seed] if n else [])
    key = bytes(64)
    for n in range(ps2_rc4._SEEN_MAX + 10):
        once = n.to_bytes(4, "little") * 9
        assert ps2_rc4.decrypt(key, *reversed(ps2_rc4.encrypt(key, once, 3))) == once
    assert len(ps2_rc4._SEEN) <= ps2_rc4._SEEN_MAX and len(ps2_rc4._SEEDED) <= ps2_rc4._SEEDED_MAX
    for n in range(ps2_rc4._SEEDED_MAX + 10):
        seed = n.to_bytes(4, "big")
        assert ps2_rc4.schedule(key, seed) == ps2_rc4.schedule(key, seed) == ref_schedule(key, seed)
    assert len(ps2_rc4._SEEDED) <= ps2_rc4._SEEDED_MAX
