"""Crypto throughput on one core: PS2 RC4 frames/s and server-side RSA handshakes/s.

Run ``python bench/crypto.py`` (``--quick`` for a smoke run). Every number is printed next to a
baseline measured in the same run, so the ratios hold on any machine:

* RC4: pycryptodome's ARC4 doing the same amount of work (a new cipher per frame, 64-byte key).
  ARC4 is C code and a different algorithm, so this only says how far pure Python is from C.
* RC4: a straightforward-loop implementation of the PS2 variant (below), to show what the
  generated key schedule in ``clank_lan.protocol.crypto.ps2_rc4`` buys.
* RSA: pycryptodome's raw RSA primitive (``_decrypt`` with CRT and blinding, ``_encrypt``), and a
  plain ``pow`` without CRT.

Payloads are random and distinct per frame. Rates are per CPU second of this process (so they mean
"on one core" even on a busy machine), best of ``--repeat`` interleaved runs.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clank_lan.protocol.crypto import ps2_rc4, ps2_rsa
from clank_lan.protocol.crypto.hashing import Ctx, hash_ctx, is_null_hash, ps2_hash
from clank_lan.protocol.crypto.keys import global_mas_key
from clank_lan.protocol.crypto.ps2_rsa import RsaKey

#: The goal: 64-byte frames per second on one core, for encryption and for decryption.
TARGET_FRAMES_PER_S = 20_000


# --- reference PS2 RC4: the pseudocode of rt-and-crypto.md 3.2 as plain loops ----------------


def ref_schedule(key: bytes, seed: bytes) -> list[int]:
    """Permutation after the seed pass (stride 5) and the key pass (stride 3)."""
    s = list(range(255, -1, -1))
    i = j = 0
    for n in range(256):
        j = (j + s[i] + seed[n % 4]) % 256
        s[i], s[j] = s[j], s[i]
        i = (i + 5) % 256
    i = j = 0
    for n in range(256):
        j = (j + s[i] + key[n % 64]) % 256
        s[i], s[j] = s[j], s[i]
        i = (i + 3) % 256
    return s


def ref_crypt(s: list[int], data: bytes, decrypting: bool) -> bytes:
    """Output walk with stride 5; the plaintext byte feeds back into the second index."""
    a = b = 0
    out = bytearray()
    for x in data:
        a = (a + 5) % 256
        b = (b + s[a]) % 256
        s[a], s[b] = s[b], s[a]
        y = x ^ s[(s[a] + s[b]) % 256]
        out.append(y)
        b = (b + s[y if decrypting else x]) % 256
    return bytes(out)


def ref_encrypt(key: bytes, plain: bytes, ctx: int) -> tuple[bytes, bytes]:
    h = ps2_hash(plain, ctx)
    return h, ref_crypt(ref_schedule(key, h), plain, False)


def ref_decrypt(key: bytes, cipher: bytes, h: bytes) -> bytes | None:
    if is_null_hash(h):
        return bytes(cipher)
    plain = ref_crypt(ref_schedule(key, h), cipher, True)
    return plain if ps2_hash(plain, hash_ctx(h)) == h else None


# --- measurement ------------------------------------------------------------------------------


def best_rates(runs: dict[str, Callable[[], int]], repeat: int) -> dict[str, float]:
    """Items per CPU second of each run (which returns its item count), best of ``repeat``.

    The runs take turns, and process CPU time is what is measured, so other load on the machine
    skews the candidates and their baselines alike and mostly drops out of the ratios.
    """
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeat):
        for name, run in runs.items():
            t0 = time.process_time()
            n = run()
            dt = max(time.process_time() - t0, 1e-9)
            best[name] = max(best[name], n / dt)
    return best


def _rc4_runs(key: bytes, payloads: Sequence[bytes], frames: Sequence[tuple[bytes, bytes]]):
    from Crypto.Cipher import ARC4

    def ours_enc() -> int:
        enc = ps2_rc4.encrypt
        for p in payloads:
            enc(key, p, 3)
        return len(payloads)

    def ours_dec() -> int:
        dec = ps2_rc4.decrypt
        for h, c in frames:
            dec(key, c, h)
        return len(frames)

    def arc4() -> int:
        new = ARC4.new
        for p in payloads:
            new(key).encrypt(p)
        return len(payloads)

    return ours_enc, ours_dec, arc4


def bench_rc4(size: int, count: int, ref_count: int, repeat: int, rng: random.Random) -> dict[str, float]:
    key = rng.randbytes(64)
    payloads = [rng.randbytes(size) for _ in range(count)]
    frames = [ps2_rc4.encrypt(key, p, Ctx.RC_CLIENT_SESSION) for p in payloads]
    for p, (h, c) in zip(payloads[:ref_count], frames, strict=False):  # same bytes as the reference
        if ref_encrypt(key, p, Ctx.RC_CLIENT_SESSION) != (h, c) or ps2_rc4.decrypt(key, c, h) != p:
            raise SystemExit("ps2_rc4 disagrees with the reference implementation")
    ours_enc, ours_dec, arc4 = _rc4_runs(key, payloads, frames)
    ref_payloads, ref_frames = payloads[:ref_count], frames[:ref_count]

    def ref_enc() -> int:
        for p in ref_payloads:
            ref_encrypt(key, p, 3)
        return len(ref_payloads)

    def ref_dec() -> int:
        for h, c in ref_frames:
            ref_decrypt(key, c, h)
        return len(ref_frames)

    runs = {"encrypt": ours_enc, "decrypt": ours_dec, "arc4": arc4}
    return best_rates({**runs, "ref_encrypt": ref_enc, "ref_decrypt": ref_dec}, repeat)


def bench_rsa(count: int, repeat: int, rng: random.Random) -> dict[str, float]:
    """Server side of the key exchange: read CRYPTKEY_PUBLIC, answer CRYPTKEY_PEER."""
    from Crypto.PublicKey import RSA

    server = global_mas_key()
    # Distinct client moduli: random odd 512-bit numbers prime to e, as CRYPTKEY_PUBLIC carries them.
    moduli = []
    while len(moduli) < count:
        m = rng.getrandbits(512) | (1 << 511) | 1
        if m % 17:
            moduli.append(m.to_bytes(64, "little"))
    publics = [ps2_rsa.encrypt(server, m) for m in moduli]
    session_keys = [rng.randbytes(64) for _ in range(count)]

    def ours() -> int:
        ps2_rsa._DECRYPTED.clear()  # measure the real work, not the server's memo of repeats
        for (h, c), k in zip(publics, session_keys, strict=True):
            modulus = ps2_rsa.decrypt(server, c, h)
            if modulus is None:
                raise SystemExit("RSA decryption failed")
            ps2_rsa.encrypt(RsaKey.from_modulus_le(modulus), k)
        return count

    assert server.p is not None and server.q is not None and server.d is not None
    crypto_key = RSA.construct((server.n, server.e, server.d, server.p, server.q))
    ints = [
        (int.from_bytes(c, "little"), int.from_bytes(k, "little"))
        for (_, c), k in zip(publics, session_keys, strict=True)
    ]

    def pycryptodome() -> int:
        for c, k in ints:
            n = crypto_key._decrypt(c)
            RSA.construct((n, 17), consistency_check=False)._encrypt(k % n)
        return count

    d, n_server = server.d, server.n

    def plain_pow() -> int:
        for c, k in ints:
            n = pow(c, d, n_server)
            pow(k % n, 17, n)
        return count

    return best_rates({"ours": ours, "pycryptodome": pycryptodome, "pow": plain_pow}, repeat)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run, numbers are noisy")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random payloads")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    scale = 0.02 if args.quick else 1.0
    repeat = 1 if args.quick else args.repeat

    def n(count: int) -> int:
        return max(20, int(count * scale))

    t_start = time.perf_counter()
    print(f"python {sys.version.split()[0]}, one core, per CPU second, best of {repeat}")
    print()
    print("PS2 RC4 (frames/s)   ours        ARC4 (C)    ours/ARC4   plain loops  ours/loops")
    results = {}
    for size, count, ref_count in ((64, 20_000, 3_000), (512, 4_000, 600)):
        r = bench_rc4(size, n(count), n(ref_count), repeat, rng)
        results[size] = r
        for op in ("encrypt", "decrypt"):
            print(
                f"  {op:7} {size:3} B  {r[op]:10,.0f}  {r['arc4']:10,.0f}  {r[op] / r['arc4']:9.3f}x "
                f"{r['ref_' + op]:11,.0f}  {r[op] / r['ref_' + op]:8.2f}x"
            )
    print()
    rsa = bench_rsa(n(1_000), repeat, rng)
    print("RSA handshakes/s (server: decrypt CRYPTKEY_PUBLIC with the global MAS key, encrypt PEER)")
    print(f"  ours (CRT, hash checks)   {rsa['ours']:10,.0f}")
    for name, label in (("pycryptodome", "pycryptodome raw RSA"), ("pow", "plain pow, no CRT")):
        print(f"  {label:24}  {rsa[name]:10,.0f}   ours/{name} {rsa['ours'] / rsa[name]:.2f}x")
    print()
    enc, dec = results[64]["encrypt"], results[64]["decrypt"]
    ok = min(enc, dec) >= TARGET_FRAMES_PER_S
    print(
        f"TARGET {TARGET_FRAMES_PER_S:,} 64-byte frames/s on one core: {'PASS' if ok else 'FAIL'} "
        f"(encrypt {enc:,.0f}/s, decrypt {dec:,.0f}/s)"
    )
    print(
        f"SUMMARY crypto: {'PASS' if ok else 'FAIL'}; RC4 64-byte frames/s encrypt {enc:,.0f}, decrypt "
        f"{dec:,.0f}; RSA handshakes/s {rsa['ours']:,.0f}; elapsed {time.perf_counter() - t_start:.1f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
