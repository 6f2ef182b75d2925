"""Rate limits and bounded per-peer bookkeeping, pure and clock-injected.

A hostile peer can send as fast as the network allows; every per-peer cost (log lines, RSA work,
chat fan-out, database writes) must therefore be bounded per peer AND in total. These primitives
take ``now`` (seconds, any monotonic origin) from the caller, so they are tested with explicit
times and the trio layer passes ``trio.current_time()``.

* ``TokenBucket``: ``rate`` events per second on average, bursts up to ``burst``.
* ``KeyedLimiter``: one bucket per key (address, session), at most ``max_keys`` of them; the least
  recently used key is forgotten first, so memory stays bounded under an address spray.
* ``ConnectionCounter``: concurrent holders per key with a per-key and a global cap.
* ``LogLimiter``: the first ``per_peer`` lines per peer per ``interval``, then one summary line
  ("… 4,000 more suppressed") per interval, with a bound on all lines per interval.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate < 0 or burst < 1:
            raise ValueError(f"token bucket needs rate >= 0 and burst >= 1, got {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        elapsed = now - self.stamp
        if elapsed > 0:  # a clock that steps back never mints tokens
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if there are that many; False (and take nothing) otherwise."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def full(self, now: float) -> bool:
        """Has the bucket refilled completely (its key has been quiet long enough to forget)?"""
        self._refill(now)
        return self.tokens >= self.burst


class KeyedLimiter(Generic[K]):
    """A token bucket per key, at most ``max_keys`` buckets (least recently used evicted first).

    An evicted key comes back with a full bucket; with ``max_keys`` well above the number of
    legitimate peers, only a spray of more addresses than that can profit, and it costs the
    attacker those addresses.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 4096) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        TokenBucket(rate, burst, 0.0)  # validates rate and burst once, here
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[K, TokenBucket] = OrderedDict()
        #: How many events were refused since creation (for the operator's counters).
        self.refused = 0

    def allow(self, key: K, now: float, cost: float = 1.0) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        if bucket.allow(now, cost):
            return True
        self.refused += 1
        return False

    def forget_idle(self, now: float) -> int:
        """Drop the buckets that are full again (their keys are quiet); how many were dropped."""
        idle = [k for k, b in self._buckets.items() if b.full(now)]
        for k in idle:
            del self._buckets[k]
        return len(idle)

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, key: object) -> bool:
        return key in self._buckets


class ConnectionCounter(Generic[K]):
    """Concurrent holders (open connections) per key, capped per key and in total.

    Unlike a rate, a count cannot be forgotten, so keys are bounded by ``total`` instead of LRU:
    a key is kept only while it holds something.
    """

    def __init__(self, per_key: int, total: int) -> None:
        if per_key < 1 or total < 1:
            raise ValueError("connection limits must be at least 1")
        self.per_key = per_key
        self.total = total
        self._counts: dict[K, int] = {}
        self._held = 0

    def acquire(self, key: K) -> bool:
        """Count one more holder for ``key``; False (nothing counted) when a cap is reached."""
        count = self._counts.get(key, 0)
        if count >= self.per_key or self._held >= self.total:
            return False
        self._counts[key] = count + 1
        self._held += 1
        return True

    def release(self, key: K) -> None:
        count = self._counts.get(key, 0)
        if count <= 0:
            raise KeyError(f"release without acquire for {key!r}")
        self._held -= 1
        if count == 1:
            del self._counts[key]
        else:
            self._counts[key] = count - 1

    def held(self, key: K | None = None) -> int:
        return self._held if key is None else self._counts.get(key, 0)


@dataclass(frozen=True, slots=True)
class Admission:
    """What to write for one log line: the line itself when ``allowed``, after ``summaries``."""

    allowed: bool
    summaries: tuple[str, ...] = ()


@dataclass(slots=True)
class _PeerWindow:
    start: float
    emitted: int = 0
    suppressed: int = 0


def _summary(peer: str, count: int, interval: float) -> str:
    return f"{peer}: … {count:,} more suppressed in {interval:g} s"


class LogLimiter:
    """Per-peer and global bounds on log lines, with one summary line per peer per interval.

    Windows are fixed: a peer's window opens with its first line and lasts ``interval`` seconds.
    The summary of a window is returned with the peer's next line, by ``flush`` (which the caller
    runs every ``interval`` or so), or when the peer is evicted to make room. At most
    ``global_lines`` lines (summaries included) are admitted per interval in total; the rest is
    counted into one global summary line.
    """

    def __init__(
        self, per_peer: int = 5, interval: float = 10.0, max_peers: int = 1024, global_lines: int = 200
    ) -> None:
        if per_peer < 1 or interval <= 0 or max_peers < 1 or global_lines < 1:
            raise ValueError("log limits must be positive")
        self.per_peer = per_peer
        self.interval = interval
        self.max_peers = max_peers
        self.global_lines = global_lines
        self._peers: OrderedDict[str, _PeerWindow] = OrderedDict()
        self._global_start: float | None = None
        self._global_emitted = 0
        self._global_suppressed = 0
        #: Lines suppressed since creation, for the operator's counters.
        self.suppressed_total = 0

    # --- the global window ---------------------------------------------------------------

    def _roll_global(self, now: float, out: list[str]) -> None:
        start = self._global_start
        if start is None or now - start >= self.interval or now < start:
            if self._global_suppressed:
                out.append(_summary("all peers", self._global_suppressed, self.interval))
            self._global_start = now
            self._global_emitted = 0
            self._global_suppressed = 0

    def _take_global(self) -> bool:
        if self._global_emitted < self.global_lines:
            self._global_emitted += 1
            return True
        return False

    def _close(self, peer: str, window: _PeerWindow, out: list[str]) -> None:
        """A peer window ends: its summary is emitted if the global budget allows, else folded in."""
        if not window.suppressed:
            return
        if self._take_global():
            out.append(_summary(peer, window.suppressed, self.interval))
        else:
            self._global_suppressed += window.suppressed

    # --- the API -------------------------------------------------------------------------

    def admit(self, peer: str, now: float) -> Admission:
        """Record one line from ``peer``: should it be written, and which summaries go first?"""
        out: list[str] = []
        self._roll_global(now, out)
        window = self._peers.get(peer)
        if window is not None and (now - window.start >= self.interval or now < window.start):
            self._close(peer, window, out)
            window = None
        if window is None:
            window = _PeerWindow(now)
            self._peers[peer] = window
            if len(self._peers) > self.max_peers:
                old_peer, old = self._peers.popitem(last=False)
                self._close(old_peer, old, out)
        else:
            self._peers.move_to_end(peer)
        if window.emitted < self.per_peer and self._take_global():
            window.emitted += 1
            return Admission(True, tuple(out))
        if window.emitted < self.per_peer:  # the global budget ran out, not the peer's own
            self._global_suppressed += 1
        else:
            window.suppressed += 1
        self.suppressed_total += 1
        return Admission(False, tuple(out))

    def flush(self, now: float) -> list[str]:
        """Summaries of every window that has ended by ``now`` (peers that went quiet)."""
        out: list[str] = []
        self._roll_global(now, out)
        ended = [p for p, w in self._peers.items() if now - w.start >= self.interval or now < w.start]
        for peer in ended:
            self._close(peer, self._peers.pop(peer), out)
        return out

    def __len__(self) -> int:
        return len(self._peers)


class RateLimitedLogger:
    """A ``logging.Logger`` behind a ``LogLimiter``: ``log(level, peer, now, text)``."""

    def __init__(self, logger: logging.Logger, limiter: LogLimiter | None = None) -> None:
        self.logger = logger
        self.limiter = LogLimiter() if limiter is None else limiter  # an empty one is falsy

    def log(self, level: int, peer: str, now: float, text: str) -> bool:
        """Write ``text`` (and any due summary) unless ``peer`` is over its budget; was it written?"""
        admission = self.limiter.admit(peer, now)
        for line in admission.summaries:
            self.logger.log(level, "%s", line)
        if admission.allowed:
            self.logger.log(level, "%s", text)
        return admission.allowed

    def flush(self, level: int, now: float) -> None:
        for line in self.limiter.flush(now):
            self.logger.log(level, "%s", line)
