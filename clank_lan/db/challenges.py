"""Clan team challenges: one clan's leader challenges another clan, which accepts or refuses.

The life of a challenge (``ClanChallengeStatus`` on the wire; medius-messages.md
MediusClanChallengeStatus): REQUEST when made; the challenged clan's leader moves it to ACCEPTED
or REFUSED; the challenger's leader may REVOKE it while it is open (REQUEST or ACCEPTED) and
CONFIRM an accepted one. REFUSED, REVOKED and CONFIRMED are final. Who may do what is the
handler's business (it knows the sessions); this store enforces the transitions, the bounds and
persistence.

Bounds: a clan has at most ``MAX_OPEN`` open challenges it issued, at most one open challenge
against the same clan, and keeps the newest ``MAX_SETTLED`` settled ones it issued (older settled
rows are deleted in the same transaction that settles a new one), so a hostile leader cannot
grow the table without limit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import msgspec

from clank_lan.db.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from clank_lan.db.records import CLAN_TEXT_MAX, check_text
from clank_lan.db.store import Change, Store
from clank_lan.protocol.medius.enums import ClanChallengeStatus

#: Open (REQUEST or ACCEPTED) challenges one clan may have issued at a time.
MAX_OPEN = 32
#: Settled challenges kept per challenger clan (the history a console can page through).
MAX_SETTLED = 256


class TooManyChallenges(Conflict):
    """The clan already has MAX_OPEN open challenges it issued."""


#: The stored status is the Medius enum itself (one place for each fact).
ChallengeStatus = ClanChallengeStatus
#: The statuses in which a challenge is still open (counted against MAX_OPEN, may be revoked).
OPEN = frozenset({ChallengeStatus.REQUEST, ChallengeStatus.ACCEPTED})


#: Which statuses each status may move to.
_MOVES: dict[ChallengeStatus, frozenset[ChallengeStatus]] = {
    ChallengeStatus.REQUEST: frozenset(
        {ChallengeStatus.ACCEPTED, ChallengeStatus.REFUSED, ChallengeStatus.REVOKED}
    ),
    ChallengeStatus.ACCEPTED: frozenset({ChallengeStatus.CONFIRMED, ChallengeStatus.REVOKED}),
}


class ClanChallenge(msgspec.Struct, frozen=True):
    id: int
    challenger_clan_id: int
    against_clan_id: int
    status: ChallengeStatus
    text: str
    created: float
    response: str = ""
    responded: float | None = None


class ClanChallenges:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._items: dict[int, ClanChallenge] = {}

    def get(self, challenge_id: int) -> ClanChallenge | None:
        return self._items.get(challenge_id)

    def involving(self, clan_id: int) -> list[ClanChallenge]:
        """Every challenge the clan issued or received, oldest first."""
        return [c for c in self._items.values() if clan_id in (c.challenger_clan_id, c.against_clan_id)]

    def request(
        self, challenger_clan_id: int, against_clan_id: int, text: str, *, now: float | None = None
    ) -> ClanChallenge:
        """A new challenge in REQUEST. The caller checks both clans exist."""
        check_text(text, CLAN_TEXT_MAX, "a challenge text")
        if challenger_clan_id == against_clan_id:
            raise InvalidValue("a clan cannot challenge itself")
        issued = [
            c for c in self._items.values() if c.challenger_clan_id == challenger_clan_id and c.status in OPEN
        ]
        if any(c.against_clan_id == against_clan_id for c in issued):
            raise AlreadyExists(
                f"clan {challenger_clan_id} already has an open challenge to {against_clan_id}"
            )
        if len(issued) >= MAX_OPEN:
            raise TooManyChallenges(f"clan {challenger_clan_id} already has {MAX_OPEN} open challenges")
        created = self._clock() if now is None else now
        cid = self._store.new_id("clan_challenges")
        item = ClanChallenge(cid, challenger_clan_id, against_clan_id, ChallengeStatus.REQUEST, text, created)
        change = Change()
        change.sql(
            "INSERT INTO clan_challenges (id, challenger_clan_id, against_clan_id, status, text, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            cid,
            challenger_clan_id,
            against_clan_id,
            int(item.status),
            text,
            created,
        )
        change.then(lambda: self._items.__setitem__(cid, item))
        self._store.commit(change)
        return item

    def move(
        self, challenge_id: int, status: ChallengeStatus, response: str = "", *, now: float | None = None
    ) -> ClanChallenge:
        """Move a challenge to ``status``; raises NotFound, or Conflict for a move not allowed."""
        status = ChallengeStatus(status)
        old = self._items.get(challenge_id)
        if old is None:
            raise NotFound(f"clan challenge {challenge_id} does not exist")
        if status not in _MOVES.get(old.status, frozenset()):
            raise Conflict(f"clan challenge {challenge_id} cannot go from {old.status.name} to {status.name}")
        check_text(response, CLAN_TEXT_MAX, "a challenge response")
        when = self._clock() if now is None else now
        text = response if status in (ChallengeStatus.ACCEPTED, ChallengeStatus.REFUSED) else old.response
        new = msgspec.structs.replace(old, status=status, response=text, responded=when)
        change = Change()
        change.sql(
            "UPDATE clan_challenges SET status = ?, response = ?, responded = ? WHERE id = ?",
            int(status),
            text,
            when,
            challenge_id,
        )
        pruned = [] if status in OPEN else self._excess_settled(old.challenger_clan_id, challenge_id)
        for cid in pruned:
            change.sql("DELETE FROM clan_challenges WHERE id = ?", cid)
        change.then(lambda: self._apply(new, pruned))
        self._store.commit(change)
        return new

    def load(self, conn: sqlite3.Connection) -> None:
        for row in conn.execute(
            "SELECT id, challenger_clan_id, against_clan_id, status, text, created, response, responded"
            " FROM clan_challenges ORDER BY id"
        ):
            cid, challenger, against, status, text, created, response, responded = row
            self._items[cid] = ClanChallenge(
                cid, challenger, against, ChallengeStatus(status), text, created, response, responded
            )

    def _excess_settled(self, challenger_clan_id: int, settling_id: int) -> list[int]:
        """The oldest settled challenges of the clan beyond MAX_SETTLED once ``settling_id`` settles."""
        settled = [
            c.id
            for c in self._items.values()
            if c.challenger_clan_id == challenger_clan_id and (c.status not in OPEN or c.id == settling_id)
        ]
        return settled[: max(len(settled) - MAX_SETTLED, 0)]

    def _apply(self, new: ClanChallenge, pruned: list[int]) -> None:
        self._items[new.id] = new
        for cid in pruned:
            del self._items[cid]
