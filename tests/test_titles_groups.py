"""Cross-region lobby grouping: which app ids share a lobby, and who may join whose game."""

from __future__ import annotations

import pytest

from clank_lan.lobby_groups import FAMILIES, MAX_GROUP_SIZE, GroupingError, LobbyGroups
from clank_lan.titles import TITLES_BY_KEY

UYA_NTSC, UYA_PAL, UYA_BETA, UYA_PROTO = 10684, 10683, 10680, 10681
DL_NTSC, DL_PAL = 11184, 11354
JAKX_NTSC, JAKX_PAL = 10994, 11204


def test_by_default_uya_regions_and_betas_share_one_lobby():
    g = LobbyGroups()
    assert g.key(UYA_NTSC) == g.key(UYA_PAL) == g.key(UYA_BETA) == g.key(UYA_PROTO) == UYA_BETA
    assert g.members(UYA_PAL) == {UYA_NTSC, UYA_PAL, UYA_BETA, UYA_PROTO}
    assert g.group_name(UYA_PAL) == "uya"


def test_by_default_deadlocked_and_gladiator_share_one_lobby_apart_from_uya():
    g = LobbyGroups()
    assert g.same_lobby(DL_NTSC, DL_PAL)
    assert not g.same_lobby(DL_NTSC, UYA_NTSC)
    assert g.group_name(DL_PAL) == "dl"


def test_jak_x_is_grouped_only_when_switched_on():
    assert not LobbyGroups().same_lobby(JAKX_NTSC, JAKX_PAL)
    assert LobbyGroups(families_on=["jakx"]).same_lobby(JAKX_NTSC, JAKX_PAL)


def test_an_unknown_app_id_is_its_own_lobby():
    g = LobbyGroups()
    assert g.key(424242) == 424242
    assert g.members(424242) == {424242}
    assert g.group_name(424242) is None


def test_grouping_off_keys_every_app_id_alone():
    g = LobbyGroups(cross_region=False)
    assert not g.same_lobby(UYA_NTSC, UYA_PAL)
    assert g.describe() == []


def test_a_family_can_be_switched_off():
    g = LobbyGroups(families_off=["uya"])
    assert not g.same_lobby(UYA_NTSC, UYA_PAL)
    assert g.same_lobby(DL_NTSC, DL_PAL)


def test_the_korean_app_id_can_be_added_to_its_family_once_known():
    assert TITLES_BY_KEY["uya-kr"].app_ids == ()  # unknown today
    g = LobbyGroups(extra_app_ids={"uya": [20777]})
    assert g.same_lobby(20777, UYA_NTSC)
    assert g.can_join_game(20777, UYA_PAL)


def test_an_extra_group_for_titles_we_do_not_know():
    g = LobbyGroups(extra_groups=[[30001, 30002]])
    assert g.same_lobby(30001, 30002)
    assert g.group_name(30002) == "group-1"
    assert "group-1: app ids 30001, 30002 share one lobby" in g.describe()


def test_retail_and_pal_join_each_others_games_but_not_the_old_dme_betas():
    g = LobbyGroups()
    assert g.can_join_game(UYA_PAL, UYA_NTSC)
    assert g.can_join_game(UYA_NTSC, UYA_PAL)
    assert g.can_join_game(UYA_BETA, UYA_PROTO)  # both speak the older DME format
    assert not g.can_join_game(UYA_PAL, UYA_BETA)
    assert not g.can_join_game(DL_NTSC, UYA_NTSC)
    assert g.can_join_game(DL_PAL, DL_NTSC)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"families_off": ["nope"]}, "unknown title family"),
        ({"extra_app_ids": {"nope": [1]}}, "unknown title family"),
        ({"families_on": ["uya"], "families_off": ["uya"]}, "both on and off"),
        ({"extra_app_ids": {"uya": [0]}}, "not an app id"),
        ({"extra_app_ids": {"uya": [2**31]}}, "not an app id"),
        ({"extra_app_ids": {"uya": [True]}}, "not an app id"),
        ({"extra_groups": [["10684"]]}, "not an app id"),
        ({"extra_groups": [[UYA_NTSC, 30001]]}, "is in both uya and group-1"),
        ({"extra_groups": [list(range(1, MAX_GROUP_SIZE + 2))]}, "more than"),
        ({"extra_groups": [[1, 2]] * 65}, "more than 64 extra groups"),
    ],
)
def test_a_bad_configuration_is_refused_with_a_reason(kwargs, reason):
    with pytest.raises(GroupingError, match=reason):
        LobbyGroups(**kwargs)


def test_every_family_names_real_titles_and_describe_lists_the_default_groups():
    for fam in FAMILIES:
        assert all(k in TITLES_BY_KEY for k in fam.title_keys), fam.key
        assert fam.note
    assert LobbyGroups().describe() == [
        "uya: app ids 10680, 10681, 10683, 10684 share one lobby",
        "dl: app ids 11184, 11354 share one lobby",
    ]
