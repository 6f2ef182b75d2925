"""What one console may cost the lobby: chat, game and account creation rates, and the
rate-limited log about consoles that probe it (forged session keys, ignored frames).

Each check takes ``now`` and answers allowed or not; a refusal is counted in ``LimitHits`` for
the operator and logged through the one per-peer rate-limited logger of the lobby, so a flood of
refusals costs a bounded number of log lines. The handlers only ask and answer.
"""

from __future__ import annotations

import logging
import math

from clank_lan import limit_hits as lh
from clank_lan.config import LimitSettings
from clank_lan.ratelimit import KeyedLimiter

log = logging.getLogger("clank_lan.lobby")

#: Seconds between sweeps of the buckets that are full again (their keys went quiet).
SWEEP_INTERVAL = 60.0


class LobbyLimits:
    def __init__(self, settings: LimitSettings, hits: lh.LimitHits | None = None) -> None:
        self.settings = settings
        tracked = settings.tracked_peers
        self.chat: KeyedLimiter[str] = KeyedLimiter(
            settings.chat_lines_per_second, settings.chat_burst, tracked
        )
        per_minute = settings.game_creations_per_minute
        self.games: KeyedLimiter[str] = KeyedLimiter(per_minute / 60.0, max(1, per_minute), tracked)
        per_hour = settings.account_creations_per_hour
        self.accounts: KeyedLimiter[str] = KeyedLimiter(per_hour / 3600.0, max(1, per_hour), tracked)
        #: Every per-address line of the lobby services (refusals, ignored frames, probes).
        self.refused = lh.Refusals(log, settings.log_limiter(), hits)
        self._next_sweep = -math.inf

    def _sweep(self, now: float) -> None:
        """Forget the keys that are quiet again (every ``SWEEP_INTERVAL``): sessions come and
        go, and memory must not keep their buckets until the LRU bound pushes them out."""
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            for limiter in (self.chat, self.games, self.accounts):
                limiter.forget_idle(now)

    def forged(self, service: str, peer: str, now: float, what: str) -> None:
        """A connection named a session it does not hold: a warning, per address rate-limited."""
        self.refused(
            lh.FORGED_SESSION,
            _ip(peer),
            now,
            f"{service} {peer}: {what}; refused (forged or stale session key)",
            level=logging.WARNING,
        )

    def allow_chat(self, session_key: str, peer: str, now: float) -> bool:
        self._sweep(now)
        if self.chat.allow(session_key, now):
            return True
        why = f"MLS {peer}: chat line dropped (over {self._chat_rate()})"
        self.refused(lh.CHAT_RATE, _ip(peer), now, why)
        return False

    def allow_game(self, session_key: str, peer: str, now: float) -> bool:
        self._sweep(now)
        if self.games.allow(session_key, now):
            return True
        self.refused(
            lh.GAME_CREATION_RATE,
            _ip(peer),
            now,
            f"MLS {peer}: game creation refused (over {self.settings.game_creations_per_minute} a minute)",
        )
        return False

    def allow_account(self, ip: str, peer: str, now: float) -> bool:
        self._sweep(now)
        if self.accounts.allow(ip, now):
            return True
        self.refused(
            lh.ACCOUNT_CREATION_RATE,
            ip,
            now,
            f"MAS {peer}: account creation refused "
            f"(over {self.settings.account_creations_per_hour} an hour from {ip})",
        )
        return False

    def _chat_rate(self) -> str:
        s = self.settings
        return f"{s.chat_lines_per_second:g} lines/s, bursts of {s.chat_burst}"


def _ip(peer_label: str) -> str:
    """The address of an ``ip:port`` label: log budgets are per address, not per connection."""
    return peer_label.rpartition(":")[0] or peer_label
