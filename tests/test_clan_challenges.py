"""Clan team challenges (issue 13 item 3): the store's transitions, bounds and persistence, and the
six MLS messages on the in-memory harness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clank_lan.db import challenges as ch
from clank_lan.db.challenges import ChallengeStatus
from clank_lan.db.database import Database
from clank_lan.db.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from clank_lan.protocol.medius import social as mso
from tests.test_lobby_harness import Console, Net, S, open_net


@pytest.fixture
def net() -> Iterator[Net]:
    yield from open_net()


# --- the store --------------------------------------------------------------------------------


def test_the_store_moves_challenges_only_along_allowed_transitions():
    with Database.open(None, ephemeral=True, clock=lambda: 5.0) as db:
        store = db.challenges
        first = store.request(1, 2, "fight us")
        assert (first.status, first.text, first.created, first.responded) == (
            ChallengeStatus.REQUEST,
            "fight us",
            5.0,
            None,
        )
        accepted = store.move(first.id, ChallengeStatus.ACCEPTED, "on", now=9.0)
        assert (accepted.status, accepted.response, accepted.responded) == (
            ChallengeStatus.ACCEPTED,
            "on",
            9.0,
        )
        with pytest.raises(Conflict):
            store.move(first.id, ChallengeStatus.REFUSED)  # already answered
        assert store.move(first.id, ChallengeStatus.CONFIRMED).response == "on"
        for final in (ChallengeStatus.REVOKED, ChallengeStatus.ACCEPTED, ChallengeStatus.CONFIRMED):
            with pytest.raises(Conflict):
                store.move(first.id, final)
        with pytest.raises(NotFound):
            store.move(999, ChallengeStatus.ACCEPTED)
        with pytest.raises(InvalidValue):
            store.request(3, 3, "myself")
        with pytest.raises(InvalidValue):
            store.request(3, 4, "x" * 200)
        assert [c.id for c in store.involving(2)] == [first.id]
        assert store.involving(7) == []


def test_the_store_bounds_open_and_settled_challenges(monkeypatch):
    monkeypatch.setattr(ch, "MAX_SETTLED", 3)
    with Database.open(None, ephemeral=True) as db:
        store = db.challenges
        store.request(1, 2, "")
        with pytest.raises(AlreadyExists):
            store.request(1, 2, "again")  # one open challenge per pair
        for against in range(3, 3 + ch.MAX_OPEN - 1):
            store.request(1, against, "")
        with pytest.raises(ch.TooManyChallenges):
            store.request(1, 999, "")
        ids = [c.id for c in store.involving(1)]
        for cid in ids[:5]:
            store.move(cid, ChallengeStatus.REVOKED)
        kept = [c.id for c in store.involving(1) if c.status not in ch.OPEN]
        assert kept == ids[2:5]  # the two oldest settled rows were pruned
        store.request(1, 2, "a new one once the old is settled")


def test_challenges_survive_a_database_reopen(tmp_path):
    with Database.open(tmp_path) as db:
        a = db.accounts.create("uya", "alice", "pw")
        b = db.accounts.create("uya", "bob", "pw")
        red, blue = db.clans.create("uya", "Red", a), db.clans.create("uya", "Blue", b)
        made = db.challenges.request(red, blue, "at dawn", now=100.0)
        db.challenges.move(made.id, ChallengeStatus.ACCEPTED, "sure", now=200.0)
        revoked = db.challenges.request(blue, red, "rematch", now=300.0)
        db.challenges.move(revoked.id, ChallengeStatus.REVOKED, now=400.0)
    with Database.open(tmp_path) as db:
        got = db.challenges.get(made.id)
        assert got is not None
        assert (got.challenger_clan_id, got.against_clan_id, got.status, got.text, got.response) == (
            red,
            blue,
            ChallengeStatus.ACCEPTED,
            "at dawn",
            "sure",
        )
        assert (got.created, got.responded) == (100.0, 200.0)
        assert db.challenges.get(revoked.id).status == ChallengeStatus.REVOKED
        fresh = db.challenges.request(red, 3, "")
        assert fresh.id > revoked.id  # ids are never reused across a restart


# --- the MLS messages ---------------------------------------------------------------------------


def _two_clans(net: Net) -> tuple[Console, Console, Console, int, int]:
    """Two clans' leaders and a plain member of the first clan."""
    red, blue, grunt = Console(net), Console(net), Console(net)
    red.login("redboss")
    blue.login("blueboss")
    grunt.login("grunt")
    red_id = red.one(red.mls, mso.CreateClanRequest(message_id="c", clan_name="Red")).clan_id
    blue_id = blue.one(blue.mls, mso.CreateClanRequest(message_id="c", clan_name="Blue")).clan_id
    net.db.clans.join(red_id, grunt.session.account_id)
    return red, blue, grunt, red_id, blue_id


def _listed(c: Console, clan_id: int, status: ChallengeStatus, challenged_only: int = 0) -> list:
    return c.send(
        c.mls,
        mso.GetClanTeamChallengesRequest(
            message_id="l", clan_id=clan_id, challenge_status=int(status), challenged_only=challenged_only
        ),
    )


def _history(c: Console, clan_id: int, challenger: int) -> list:
    return c.send(
        c.mls,
        mso.GetClanTeamChallengeHistoryRequest(
            message_id="h", clan_id=clan_id, this_clan_is_challenger=challenger
        ),
    )


def test_request_seen_by_the_other_leader_then_accepted_confirmed_and_in_history(net: Net):
    red, blue, _grunt, red_id, blue_id = _two_clans(net)
    answer = red.one(
        red.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=blue_id, text="1v1?")
    )
    assert type(answer) is mso.RequestClanTeamChallengeResponse and answer.status == S.SUCCESS
    [seen] = _listed(blue, blue_id, ChallengeStatus.REQUEST, challenged_only=1)
    assert (seen.challenger_clan_id, seen.against_clan_id, seen.challenge_text, seen.end_of_list) == (
        red_id,
        blue_id,
        "1v1?",
        True,
    )
    assert seen.status == S.SUCCESS and seen.challenge_status == ChallengeStatus.REQUEST
    [none] = _listed(red, red_id, ChallengeStatus.REQUEST, challenged_only=1)  # red issued, not received
    assert (none.status, none.end_of_list) == (S.NO_RESULT, True)

    cid = seen.clan_challenge_id
    ok = blue.one(
        blue.mls,
        mso.RespondToClanTeamChallengeRequest(
            message_id="r", clan_challenge_id=cid, challenge_status=ChallengeStatus.ACCEPTED, text="game on"
        ),
    )
    assert type(ok) is mso.RespondToClanTeamChallengeResponse and ok.status == S.SUCCESS
    [accepted] = _listed(red, red_id, ChallengeStatus.ACCEPTED)
    assert (accepted.response_text, accepted.response_time) == ("game on", int(net.deps.wall_clock()))
    confirmed = red.one(red.mls, mso.ConfirmClanTeamChallengeRequest(message_id="f", clan_challenge_id=cid))
    assert type(confirmed) is mso.ConfirmClanTeamChallengeResponse and confirmed.status == S.SUCCESS
    assert net.db.challenges.get(cid).status == ChallengeStatus.CONFIRMED
    again = red.one(red.mls, mso.ConfirmClanTeamChallengeRequest(message_id="f", clan_challenge_id=cid))
    assert again.status == S.REQUEST_DENIED

    [issued] = _history(red, red_id, 1)
    assert (issued.against_clan_id, issued.challenge_status, issued.end_of_list) == (
        blue_id,
        ChallengeStatus.CONFIRMED,
        True,
    )
    [received] = _history(blue, blue_id, 0)
    assert received.against_clan_id == red_id
    [empty] = _history(blue, blue_id, 1)
    assert (type(empty), empty.status, empty.end_of_list) == (
        mso.GetClanTeamChallengeHistoryResponse,
        S.NO_RESULT,
        True,
    )


def test_refuse_and_revoke(net: Net):
    red, blue, _grunt, red_id, blue_id = _two_clans(net)
    red.one(red.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=blue_id, text="a"))
    [first] = _listed(blue, blue_id, ChallengeStatus.REQUEST)
    refused = blue.one(
        blue.mls,
        mso.RespondToClanTeamChallengeRequest(
            message_id="r",
            clan_challenge_id=first.clan_challenge_id,
            challenge_status=ChallengeStatus.REFUSED,
        ),
    )
    assert refused.status == S.SUCCESS
    [shown] = _listed(red, red_id, ChallengeStatus.REFUSED)
    assert shown.clan_challenge_id == first.clan_challenge_id
    # blue challenges back, then thinks better of it
    blue.one(blue.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=red_id, text="b"))
    [second] = _listed(red, red_id, ChallengeStatus.REQUEST, challenged_only=1)
    revoked = blue.one(
        blue.mls,
        mso.RevokeClanTeamChallengeRequest(message_id="v", clan_challenge_id=second.clan_challenge_id),
    )
    assert type(revoked) is mso.RevokeClanTeamChallengeResponse and revoked.status == S.SUCCESS
    [gone] = _listed(red, red_id, ChallengeStatus.REQUEST)
    assert gone.status == S.NO_RESULT
    assert [h.challenge_status for h in _history(red, red_id, 0)] == [ChallengeStatus.REVOKED]


def test_only_the_right_leader_acts_and_unknowns_get_failures(net: Net):
    red, blue, grunt, red_id, blue_id = _two_clans(net)
    member = grunt.one(grunt.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=blue_id))
    assert member.status == S.NOT_CLAN_LEADER
    unknown = red.one(red.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=4242))
    assert unknown.status == S.CLAN_NOT_FOUND
    itself = red.one(red.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=red_id))
    assert itself.status == S.INVALID_REQUEST_MSG
    red.one(red.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=blue_id))
    twice = red.one(red.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=blue_id))
    assert twice.status == S.DATA_ALREADY_EXISTS
    [seen] = _listed(blue, blue_id, ChallengeStatus.REQUEST)
    cid = seen.clan_challenge_id

    def respond(c: Console, status: int, challenge: int = cid) -> int:
        req = mso.RespondToClanTeamChallengeRequest(
            message_id="r", clan_challenge_id=challenge, challenge_status=status
        )
        return c.one(c.mls, req).status

    assert respond(grunt, ChallengeStatus.ACCEPTED) == S.NOT_CLAN_LEADER
    assert respond(red, ChallengeStatus.ACCEPTED) == S.NO_RESULT  # the challenger cannot answer itself
    assert respond(blue, ChallengeStatus.ACCEPTED, 999) == S.NO_RESULT
    assert respond(blue, ChallengeStatus.CONFIRMED) == S.INVALID_REQUEST_MSG
    assert respond(blue, -7) == S.INVALID_REQUEST_MSG
    for req in (
        mso.RevokeClanTeamChallengeRequest(message_id="v", clan_challenge_id=cid),
        mso.ConfirmClanTeamChallengeRequest(message_id="f", clan_challenge_id=cid),
    ):
        assert blue.one(blue.mls, req).status == S.NO_RESULT  # not blue's challenge to settle
        assert grunt.one(grunt.mls, req).status == S.NOT_CLAN_LEADER
    # confirming before the answer is refused; the challenge is still open
    early = red.one(red.mls, mso.ConfirmClanTeamChallengeRequest(message_id="f", clan_challenge_id=cid))
    assert early.status == S.REQUEST_DENIED
    assert net.db.challenges.get(cid).status == ChallengeStatus.REQUEST
    [nolist] = _listed(red, 4242, ChallengeStatus.REQUEST)
    assert (type(nolist), nolist.status, nolist.end_of_list) == (
        mso.GetClanTeamChallengesResponse,
        S.CLAN_NOT_FOUND,
        True,
    )
    [nohistory] = _history(red, 4242, 1)
    assert (nohistory.status, nohistory.end_of_list) == (S.CLAN_NOT_FOUND, True)


def test_list_pages_through_many_challenges(net: Net):
    red, _blue, _grunt, red_id, blue_id = _two_clans(net)
    ns = red.session.namespace
    rivals = [
        net.db.clans.create(ns, f"Rival{i}", net.db.accounts.create(ns, f"boss{i}", "pw")) for i in range(5)
    ]
    for rival in rivals:
        assert (
            red.one(red.mls, mso.RequestClanTeamChallengeRequest(message_id="q", clan_id=rival)).status == 0
        )
    page = red.send(
        red.mls,
        mso.GetClanTeamChallengesRequest(message_id="l", clan_id=red_id, start=1, page_size=3),
    )
    assert [p.against_clan_id for p in page] == rivals[1:4]
    assert [p.end_of_list for p in page] == [False, False, True]
    assert blue_id not in [p.against_clan_id for p in page]
