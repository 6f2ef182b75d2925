"""The PS2 variant of RC4 used by SCE-RT ("RC4-SHA1").

Differences from textbook ARC4: the state starts reversed; a per-frame seed (the frame's 4-byte
hash) is mixed in with stride 5 before the 64-byte key is mixed in with stride 3; output walks
with stride 5 and feeds each plaintext byte back into the second index. A fresh state is built
for every frame, so nothing carries over between frames.

The key schedule is the hot spot (512 swaps per frame). Its index sequences are fixed, so the
schedule is generated once as straight-line Python with constant indices, which removes the
loop and index arithmetic that dominate a plain loop; the output walk takes its stride-5 index
from a precomputed sequence.
"""

from __future__ import annotations

from clank_lan.protocol.crypto.hashing import hash_ctx, is_null_hash, ps2_hash
from clank_lan.protocol.errors import ProtocolError

KEY_LEN = 64


_BYTES = tuple(range(256))
#: ``_OFFSET[v][x] == (x + v) & 255`` for x < 512, built by slicing (a generator costs ~10 ms more).
_OFFSET = tuple(_BYTES[v:] + _BYTES + _BYTES[:v] for v in range(256))
#: Per-key lists of offset tables; a connection uses one or two keys for thousands of frames.
_KEY_TABLES: dict[bytes, list] = {}
_KEY_TABLES_MAX = 4096


def _key_tables(key: bytes) -> list:
    if len(_KEY_TABLES) >= _KEY_TABLES_MAX:
        del _KEY_TABLES[next(iter(_KEY_TABLES))]  # the oldest key
    tables = _KEY_TABLES[bytes(key)] = [_OFFSET[v] for v in key]
    return tables


#: The state after the seed is mixed in depends on the seed alone, not on the key: a frame sent to
#: many consoles (a chat line to a channel, the same answer to every console that logs in) is mixed
#: once and copied for each key. Only a seed seen among the last few hundred is kept: most frames
#: are sent once, and keeping a 2 KiB state for each of them made those 7 % slower (2-4 % now);
#: a seed that comes back only after thousands of others would just push out the useful ones.
#: Both tables are bounded (the oldest half goes).
_SEEDED: dict[bytes, list[int]] = {}
_SEEDED_MAX = 256
_SEEN: dict[bytes, None] = {}
_SEEN_MAX = 256


def _evict_half(table: dict, limit: int) -> None:
    if len(table) >= limit:
        for old in list(table)[: limit // 2]:
            table.pop(old, None)  # (another thread may have evicted it first)


def _build_schedule():
    # Each step is ``j = (j + S[i] + byte) mod 256`` and a swap. ``_OFFSET[v][x]`` is
    # ``(x + v) & 255``: looking the seed and key bytes' tables up once per frame folds the add
    # and the mask of every step into one tuple index. Two functions, because the first half (the
    # seed) is shared by every key a frame is sent under.
    lines = [
        "def mix_seed(seed):",
        "    O = _OFFSET",
        "    s0, s1, s2, s3 = seed",
        "    a0 = O[s0]; a1 = O[s1]; a2 = O[s2]; a3 = O[s3]",
        "    S = _REVERSED[:]",
        "    j = 0",
    ]
    for step in range(256):
        i = (step * 5) & 255
        lines.append(f"    t = S[{i}]; j = a{step & 3}[j + t]; S[{i}] = S[j]; S[j] = t")
    lines += [
        "    return S",
        "def schedule(key, seed):",
        "    S = _SEEDED.get(seed)",
        "    if S is None:",
        "        S = _mixed(seed)",
        "    else:",
        "        S = S[:]",
        "    tables = _KEY_TABLES.get(key)",
        "    if tables is None:",
        "        tables = _key_tables(key)",
        "    (" + ", ".join(f"m{n}" for n in range(KEY_LEN)) + ",) = tables",
        "    j = 0",
    ]
    for step in range(256):
        i = (step * 3) & 255
        lines.append(f"    t = S[{i}]; j = m{step & 63}[j + t]; S[{i}] = S[j]; S[j] = t")
    lines.append("    return S")
    namespace: dict = {"_REVERSED": list(range(255, -1, -1)), "_OFFSET": _OFFSET}
    namespace.update(_KEY_TABLES=_KEY_TABLES, _key_tables=_key_tables, _SEEDED=_SEEDED)
    exec(compile("\n".join(lines), "<ps2_rc4.schedule>", "exec"), namespace)
    mix_seed = namespace["mix_seed"]

    def mixed(seed: bytes) -> list[int]:
        """A fresh state for ``seed``; kept (and copied) when the seed was seen before."""
        seed = bytes(seed)
        if seed not in _SEEN:
            _evict_half(_SEEN, _SEEN_MAX)
            _SEEN[seed] = None
            return mix_seed(seed)
        _evict_half(_SEEDED, _SEEDED_MAX)
        S = _SEEDED[seed] = mix_seed(seed)
        return S[:]

    namespace["_mixed"] = mixed
    return namespace["schedule"]


def _first_schedule(key: bytes, seed: bytes) -> list[int]:
    """Permutation after mixing the 4-byte seed (stride 5) and the 64-byte key (stride 3).

    Compiling the generated schedule costs 20-35 ms of CPU, so it is done on first use, not at
    import: this stand-in compiles it (``prepare``) and puts it in its place as ``schedule``, so
    ``encrypt`` / ``decrypt`` then call the generated code directly, at no extra cost per frame.
    """
    prepare()
    return schedule(key, seed)


schedule = _first_schedule


def prepare() -> None:
    """Compile the generated key schedule now, if it is not yet (idempotent, a no-op after the
    first call). A server calls this before it accepts connections: done lazily, the compile is
    one 20-35 ms step of the event loop in the handshake of whichever connection encrypts first
    (``bench/storm.py`` saw it as the longest step of any lobby or DME connection), while the
    games relay."""
    global schedule
    if schedule is _first_schedule:
        compiled = _build_schedule()
        compiled.__doc__ = _first_schedule.__doc__
        schedule = compiled


#: The output walk's first index for each byte: 5, 10, ..., repeating every 256 bytes.
_A_CYCLE = tuple(((k + 1) * 5) & 255 for k in range(256))
_A_SEQ = _A_CYCLE * 256 + _A_CYCLE[:16]  # 0x10000 + 16 entries, by repetition (a loop is ~10 ms)


_MASK = _BYTES + _BYTES  # x & 255 for x < 512


def _crypt_encrypt(S: list[int], data: bytes) -> bytes:
    out: list[int] = []
    emit = out.append
    M = _MASK
    b = 0
    for a, x in zip(_A_SEQ, data):
        sa = S[a]
        b = M[b + sa]
        sb = S[b]
        S[a] = sb
        S[b] = sa
        emit(x ^ S[M[sa + sb]])
        b = M[b + S[x]]
    return bytes(out)


def _crypt_decrypt(S: list[int], data: bytes) -> bytes:
    out: list[int] = []
    emit = out.append
    M = _MASK
    b = 0
    for a, c in zip(_A_SEQ, data):
        sa = S[a]
        b = M[b + sa]
        sb = S[b]
        S[a] = sb
        S[b] = sa
        p = c ^ S[M[sa + sb]]
        emit(p)
        b = M[b + S[p]]
    return bytes(out)


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LEN:
        raise ProtocolError(f"PS2 RC4 key must be {KEY_LEN} bytes, got {len(key)}")


def encrypt(key: bytes, plain: bytes, ctx: int) -> tuple[bytes, bytes]:
    """Return (hash, ciphertext) of ``plain`` under ``key`` in cipher context ``ctx``."""
    if len(key) != KEY_LEN:
        _check_key(key)
    h = ps2_hash(plain, ctx)
    return h, _crypt_encrypt(schedule(key, h), plain)


#: Small frames repeat verbatim on a connection (a keepalive echo every second from every console,
#: the same few acknowledgements), and the cipher is deterministic: their plaintexts are kept, so an
#: idle lobby skips the key schedule. Bounded in entries and in frame size.
_SMALL = 32
_PLAIN: dict[tuple[bytes, bytes, bytes], bytes | None] = {}
_PLAIN_MAX = 4096


def decrypt(key: bytes, cipher: bytes, h: bytes) -> bytes | None:
    """Plaintext of ``cipher``, or None when the hash does not verify (wrong key or damage).

    A null hash means the payload is already plaintext.
    """
    if len(key) != KEY_LEN:
        _check_key(key)
    if is_null_hash(h):
        return bytes(cipher)
    if len(cipher) > _SMALL:
        return _decrypt(key, cipher, h)
    memo = (bytes(key), bytes(h), bytes(cipher))
    if memo in _PLAIN:
        return _PLAIN[memo]
    if len(_PLAIN) >= _PLAIN_MAX:
        del _PLAIN[next(iter(_PLAIN))]  # the oldest
    plain = _PLAIN[memo] = _decrypt(key, cipher, h)
    return plain


def _decrypt(key: bytes, cipher: bytes, h: bytes) -> bytes | None:
    plain = _crypt_decrypt(schedule(key, h), cipher)
    return plain if ps2_hash(plain, hash_ctx(h)) == h else None
