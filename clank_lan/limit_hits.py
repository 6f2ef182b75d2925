"""How often each limit turned something away: the operator's view of floods and probes.

Every limit (connections per address, accept rate, chat, game and account creation, relay frames,
NAT queries, forged session keys, unknown UDP sources, unfinished frames...) counts its hits here
under a short stable name, so the ``status`` command and the TUI can show one table whatever
service the limit lives in. Components take a ``LimitHits`` (tests pass their own); by default they
all count into ``LIMIT_HITS``, the process's one table.
"""

from __future__ import annotations

import logging
from collections import Counter

from clank_lan.ratelimit import LogLimiter


class LimitHits:
    """Hits per limit name, since the process started (or since ``clear``)."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def hit(self, limit: str, count: int = 1) -> None:
        self._counts[limit] += count

    def __getitem__(self, limit: str) -> int:
        return self._counts[limit]

    def snapshot(self) -> dict[str, int]:
        """Every limit hit so far, by name (sorted), for the status command and the web API."""
        return dict(sorted(self._counts.items()))

    def lines(self) -> list[str]:
        """One line per limit that was hit, e.g. ``relay frames per player: 12,345``."""
        return [f"{name}: {count:,}" for name, count in self.snapshot().items()]

    def clear(self) -> None:
        self._counts.clear()


#: The process's table (what ``status`` shows).
LIMIT_HITS = LimitHits()


class Refusals:
    """One service's way to turn something away: count the limit's hit and say why in the log,
    at most so many lines per address (``LogLimiter``), then one summary line per interval.

    Lines are keyed by IP address, not address and port: an attacker opens as many connections
    (ports) as it likes, and each must not bring a fresh budget of log lines. ``text`` is a
    logging format with ``args``, formatted only when the line is written (a flood is cheap)."""

    def __init__(
        self, logger: logging.Logger, limiter: LogLimiter | None = None, hits: LimitHits | None = None
    ) -> None:
        self.logger = logger
        self.limiter = LogLimiter() if limiter is None else limiter
        self.hits = LIMIT_HITS if hits is None else hits

    def __call__(
        self, limit: str | None, ip: str, now: float, text: str, *args: object, level: int = logging.INFO
    ) -> bool:
        """Count a hit of ``limit`` (None: nothing to count, only a line to write) and log
        ``text % args`` about ``ip`` unless it is over its budget; was the line written?"""
        if limit is not None:
            self.hits.hit(limit)
        admission = self.limiter.admit(ip, now)
        for line in admission.summaries:
            self.logger.log(level, "%s", line)
        if admission.allowed:
            self.logger.log(level, text, *args)
        else:
            self.hits.hit(LOG_SUPPRESSED)
        return admission.allowed

    def flush(self, now: float, level: int = logging.INFO) -> None:
        """Write the summaries of the windows that have ended (call every interval or so)."""
        for line in self.limiter.flush(now):
            self.logger.log(level, "%s", line)


# The names used by the components, in one place so the status view can explain them.
FORGED_SESSION = "forged or unknown session keys"
CONNECTIONS_PER_ADDRESS = "connections per address"
ACCEPT_RATE = "new connections per second per address"
CHEAP_CHECK = "handshakes refused before any RSA work"
UNFINISHED_FRAME = "frames not completed in time (slow drip)"
HANDSHAKE_TIMEOUT = "handshakes not completed in time"
HANDSHAKE_QUEUE = "connections that waited too long for a handshake slot"
CHAT_RATE = "chat lines per session"
GAME_CREATION_RATE = "game creations per session"
ACCOUNT_CREATION_RATE = "account creations per address"
RELAY_RATE = "relay frames per player"
UDP_UNKNOWN_SOURCE = "datagrams from unknown sources"
UDP_SOURCE_RATE = "datagrams per unknown source"
NAT_RATE = "NAT queries per address"
LOG_SUPPRESSED = "log lines suppressed"
