"""TCP reassembly of one direction: order, duplicates, overlaps, wrap-around, gaps."""

from __future__ import annotations

import random

from clank_lan.dissect.tcp import MOD, TcpStream, seq_diff

DATA = bytes(range(256)) * 4


def test_seq_diff_wraps():
    assert seq_diff(5, 3) == 2
    assert seq_diff(3, 5) == -2
    assert seq_diff(2, MOD - 3) == 5
    assert seq_diff(MOD - 3, 2) == -5


def test_in_order_and_syn():
    s = TcpStream()
    s.syn(999)
    assert s.feed(1000, b"abc") == b"abc"
    assert s.feed(1003, b"def") == b"def"
    assert s.delivered == 6


def test_out_of_order_is_held_until_the_gap_closes():
    s = TcpStream()
    assert s.feed(0, b"ab") == b"ab"
    assert s.feed(5, b"fg") == b""
    assert s.feed(4, b"e") == b""
    assert s.held_bytes == 3
    assert s.feed(2, b"cd") == b"cdefg"
    assert s.held_bytes == 0


def test_duplicates_and_overlapping_retransmissions_are_dropped():
    s = TcpStream()
    assert s.feed(100, b"abcd") == b"abcd"
    assert s.feed(100, b"abcd") == b""  # exact duplicate
    assert s.feed(102, b"cdEF") == b"EF"  # overlap: only the new part
    assert s.feed(100, b"ab") == b""
    assert s.dropped == 4 + 2 + 2
    # a held segment made obsolete by a bigger retransmission
    assert s.feed(110, b"KL") == b""
    assert s.feed(106, b"GHIJKLM") == b"GHIJKLM"
    assert s.held_bytes == 0


def test_sequence_wrap_around():
    s = TcpStream()
    start = MOD - 3
    assert s.feed(start, b"abc") == b"abc"
    assert s.next_seq == 0
    assert s.feed(2, b"fg") == b""
    assert s.feed(0, b"de") == b"defg"


def test_random_segmentation_reorder_and_duplication_reassembles_exactly():
    rng = random.Random(7)
    for _ in range(50):
        isn = rng.randrange(MOD)
        cuts = sorted(rng.sample(range(1, len(DATA)), 30))
        bounds = [0, *cuts, len(DATA)]
        segs = [(bounds[i], DATA[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]
        # retransmissions with different boundaries
        for _ in range(10):
            a = rng.randrange(len(DATA) - 1)
            b = rng.randrange(a + 1, min(len(DATA), a + 80) + 1)
            segs.append((a, DATA[a:b]))
        first = segs[0]
        rest = segs[1:]
        rng.shuffle(rest)
        s = TcpStream()
        s.syn(isn - 1)
        out = b"".join(s.feed((isn + off) % MOD, chunk) for off, chunk in [first, *rest])
        assert out == DATA
        assert s.held_bytes == 0


def test_skip_gap_resumes_after_missing_bytes():
    s = TcpStream()
    assert s.feed(0, b"ab") == b"ab"
    assert s.feed(10, b"kl") == b""
    assert s.feed(12, b"mn") == b""
    gap, data = s.skip_gap()
    assert (gap, data) == (8, b"klmn")
    assert s.skip_gap() == (0, b"")
