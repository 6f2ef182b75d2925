"""Rate-limit primitives with explicit ``now``: buckets, keyed limiters, counters, log limiting."""

from __future__ import annotations

import logging

import pytest

from clank_lan.ratelimit import ConnectionCounter, KeyedLimiter, LogLimiter, RateLimitedLogger, TokenBucket


def test_a_bucket_allows_its_burst_then_its_rate():
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.allow(100.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.allow(100.4)  # 0.8 of a token
    assert bucket.allow(100.5)  # one token after half a second at 2/s
    assert not bucket.allow(100.5)
    # A long pause refills to the burst, never beyond it.
    assert [bucket.allow(1000.0) for _ in range(4)] == [True, True, True, False]


def test_a_bucket_refuses_a_cost_it_cannot_pay_and_keeps_its_tokens():
    bucket = TokenBucket(rate=1.0, burst=5, now=0.0)
    assert not bucket.allow(0.0, cost=6)
    assert bucket.allow(0.0, cost=5)


def test_a_clock_stepping_back_mints_no_tokens():
    bucket = TokenBucket(rate=10.0, burst=1, now=50.0)
    assert bucket.allow(50.0)
    assert not bucket.allow(10.0)
    assert not bucket.allow(50.05)  # still measured from 50.0
    assert bucket.allow(50.1)


@pytest.mark.parametrize(("rate", "burst"), [(-1.0, 5), (1.0, 0)])
def test_a_bucket_rejects_nonsense_limits(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst, 0.0)


def test_keys_have_separate_buckets():
    limiter: KeyedLimiter[str] = KeyedLimiter(rate=1.0, burst=2)
    assert [limiter.allow("10.0.0.1", 0.0) for _ in range(3)] == [True, True, False]
    assert limiter.allow("10.0.0.2", 0.0)  # the flooder does not starve a neighbour
    assert limiter.refused == 1


def test_keys_are_bounded_and_the_least_recently_used_goes_first():
    limiter: KeyedLimiter[int] = KeyedLimiter(rate=0.0, burst=1, max_keys=3)
    for key in (1, 2, 3):
        assert limiter.allow(key, 0.0)
    assert not limiter.allow(1, 0.0)  # 1 is now the most recently used
    assert limiter.allow(4, 0.0)  # evicts 2, the least recently used
    assert len(limiter) == 3 and 2 not in limiter and 1 in limiter
    # A spray of 10,000 keys keeps the table at its bound.
    for key in range(10_000):
        limiter.allow(key + 100, 1.0)
    assert len(limiter) == 3


def test_quiet_keys_can_be_forgotten():
    limiter: KeyedLimiter[str] = KeyedLimiter(rate=1.0, burst=2)
    limiter.allow("a", 0.0)
    limiter.allow("b", 0.0)
    limiter.allow("b", 0.0)
    assert limiter.forget_idle(1.0) == 1  # "a" refilled after 1 s; "b" needs 2 s
    assert "a" not in limiter and "b" in limiter


def test_connection_counter_caps_per_key_and_in_total():
    counter: ConnectionCounter[str] = ConnectionCounter(per_key=2, total=3)
    assert counter.acquire("a") and counter.acquire("a")
    assert not counter.acquire("a")
    assert counter.acquire("b")
    assert not counter.acquire("c")  # global cap
    counter.release("a")
    assert counter.held("a") == 1 and counter.held() == 2
    assert counter.acquire("c")
    counter.release("a")
    assert counter.held("a") == 0
    with pytest.raises(KeyError):
        counter.release("a")


def test_log_limiter_passes_the_first_lines_then_one_summary_per_interval():
    limiter = LogLimiter(per_peer=3, interval=10.0)
    verdicts = [limiter.admit("1.2.3.4:5", 0.0 + i * 0.001) for i in range(4003)]
    assert [v.allowed for v in verdicts[:4]] == [True, True, True, False]
    assert sum(v.allowed for v in verdicts) == 3
    assert all(not v.summaries for v in verdicts)
    nxt = limiter.admit("1.2.3.4:5", 10.5)  # a new window: the summary comes first
    assert nxt.allowed
    assert nxt.summaries == ("1.2.3.4:5: … 4,000 more suppressed in 10 s",)
    assert limiter.suppressed_total == 4000


def test_flush_reports_a_peer_that_went_quiet():
    limiter = LogLimiter(per_peer=1, interval=5.0)
    for i in range(11):
        limiter.admit("peer", float(i) / 10)
    assert limiter.flush(4.0) == []  # its window is still open
    assert limiter.flush(6.0) == ["peer: … 10 more suppressed in 5 s"]
    assert limiter.flush(20.0) == [] and len(limiter) == 0


def test_the_global_bound_holds_against_many_peers():
    limiter = LogLimiter(per_peer=5, interval=10.0, max_peers=100, global_lines=50)
    allowed = sum(limiter.admit(f"10.0.{i // 256}.{i % 256}", 1.0).allowed for i in range(5000))
    assert allowed == 50
    assert len(limiter) == 100  # peers are bounded too
    later = limiter.flush(12.0)
    assert later[0] == "all peers: … 4,950 more suppressed in 10 s"
    assert len(later) <= 50


def test_evicting_a_peer_keeps_its_count():
    limiter = LogLimiter(per_peer=1, interval=10.0, max_peers=1)
    limiter.admit("a", 0.0)
    limiter.admit("a", 0.0)
    admission = limiter.admit("b", 0.1)
    assert admission.allowed and admission.summaries == ("a: … 1 more suppressed in 10 s",)


def test_rate_limited_logger_writes_lines_and_summaries(caplog):
    limiter = LogLimiter(per_peer=2, interval=1.0)
    logger = RateLimitedLogger(logging.getLogger("clank_lan.test_ratelimit"), limiter)
    with caplog.at_level(logging.INFO, logger="clank_lan.test_ratelimit"):
        written = [logger.log(logging.INFO, "p", 0.0, f"line {i}") for i in range(5)]
        logger.flush(logging.INFO, 2.0)
    assert written == [True, True, False, False, False]
    assert [r.getMessage() for r in caplog.records] == ["line 0", "line 1", "p: … 3 more suppressed in 1 s"]
