"""The title table: consistency of the data, and the lookups every server relies on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clank_lan.client.profiles import PROFILES, playable, profile
from clank_lan.titles import (
    ALL_TITLES,
    DNAS_HOSTNAMES,
    SERVICE_HOSTNAMES,
    TITLES_BY_KEY,
    Hosting,
    Quirk,
    Region,
    Support,
    Title,
    all_hostnames,
    is_dnas_hostname,
    title_for_app_id,
    title_for_hostname,
)

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SHARED = Path(__file__).resolve().parents[2] / "shared"


def test_keys_are_unique_and_indexed() -> None:
    keys = [t.key for t in ALL_TITLES]
    assert len(keys) == len(set(keys))
    assert list(TITLES_BY_KEY) == keys


def test_no_app_id_belongs_to_two_titles() -> None:
    ids = [app_id for t in ALL_TITLES for app_id in t.app_ids]
    assert len(ids) == len(set(ids))


def test_every_title_has_hostnames_and_no_name_is_shared() -> None:
    names = [h for t in ALL_TITLES for h in t.hostnames]
    assert all(t.hostnames for t in ALL_TITLES)
    assert len(names) == len(set(names))
    assert not set(names) & set(SERVICE_HOSTNAMES)


def test_hostnames_are_valid_lower_case_dns_names() -> None:
    for name in all_hostnames():
        labels = name.split(".")
        assert len(labels) >= 2 and len(name) <= 253, name
        assert all(_LABEL.match(label) for label in labels), name


def test_every_title_has_lobbies_a_status_and_a_known_version_or_none() -> None:
    for t in ALL_TITLES:
        assert t.known and t.lobbies and t.status.endswith(".")
        assert t.support in (Support.TARGET, Support.EXPERIMENTAL, Support.UNTESTED)
        assert t.medius_version in (None, 108, 109, 110)
        assert all(isinstance(q, Quirk) for q in t.quirks)


def test_the_brief_titles_are_all_present() -> None:
    regions = {(t.key.split("-")[0], t.region) for t in ALL_TITLES}
    for family, region in [
        ("uya", Region.NTSC_U),
        ("uya", Region.PAL),
        ("uya", Region.NTSC_K),
        ("dl", Region.NTSC_U),
        ("dl", Region.PAL),
        ("jakx", Region.NTSC_U),
        ("jakx", Region.PAL),
        ("killzone", Region.NTSC_U),
        ("sfos", Region.NTSC_U),
        ("amplitude", Region.NTSC_U),
        ("socom1", Region.NTSC_U),
        ("socom2", Region.NTSC_U),
        ("socom3", Region.NTSC_U),
    ]:
        assert (family, region) in regions
    assert {"uya-beta", "uya-prototype"} <= set(TITLES_BY_KEY)


def test_known_facts_of_the_main_titles() -> None:
    uya, dl = title_for_app_id(10684), title_for_app_id(11184)
    assert (uya.key, uya.medius_version, uya.hosting, uya.uses_muis) == ("uya-ntsc", 108, Hosting.DME, False)
    assert (dl.key, dl.medius_version, dl.hosting, dl.uses_muis) == ("dl-ntsc", 110, Hosting.DME, True)
    assert Quirk.ZERO_SERVER_KEY in uya.quirks and Quirk.DNAS_PATCH_NEEDED in title_for_app_id(10683).quirks
    assert title_for_app_id(10683).key == "uya-pal"
    assert Quirk.VERSION_BEFORE_SESSION in title_for_app_id(10724).quirks


def _connect_app_ids(listing: Path, offset: int) -> set[int]:
    """App ids of every CLIENT_CONNECT_TCP in a decrypted listing (payload hex is the last column)."""
    ids = set()
    for line in listing.read_text().splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[4] == "CLIENT_CONNECT_TCP" and fields[-2] == "ok":
            body = bytes.fromhex(fields[-1])
            ids.add(int.from_bytes(body[offset : offset + 4], "little"))
    return ids


def test_app_ids_seen_in_the_captures_map_to_their_titles() -> None:
    """CONNECT_TCP: app id after a 5-byte world field on 1.08 (UYA), a 4-byte one on 1.09+ (DL)."""
    decoded = SHARED / "captures" / "decoded"
    if not SHARED.is_dir():
        pytest.skip("../shared (the protocol reference and captures) is not beside the checkout")
    uya = _connect_app_ids(decoded / "uya-pal-login-decrypted.txt", 5)
    dl = _connect_app_ids(decoded / "b41-decrypted.txt", 4)
    assert {title_for_app_id(i).key for i in uya} == {"uya-pal"}
    assert {title_for_app_id(i).key for i in dl} == {"dl-ntsc"}


def test_unknown_app_id_gets_a_stand_in_marked_unknown() -> None:
    t = title_for_app_id(99999)
    assert isinstance(t, Title)
    assert (t.known, t.support, t.app_ids, t.hostnames) == (False, Support.UNKNOWN, (99999,), ())
    assert "99999" in t.name and t.lobbies
    assert t.key not in TITLES_BY_KEY


def test_hostname_lookup_ignores_case_and_the_root_dot() -> None:
    assert title_for_hostname("RATCHET3-PROD1.pdonline.scea.com.").key == "uya-ntsc"
    assert title_for_hostname("SOCOM2-PUBETA.MUIS.pdonline.scea.com").key == "socom2-ntsc"
    assert title_for_hostname("randc-deadlocked-anz.online.scee.com").key == "dl-pal"
    assert title_for_hostname("gate1.us.dnas.playstation.org") is None
    assert title_for_hostname("example.com") is None


def test_all_hostnames_lists_titles_then_dnas_without_duplicates() -> None:
    names = all_hostnames()
    assert len(names) == len(set(names))
    assert set(DNAS_HOSTNAMES) <= set(names)
    assert {
        "gate1.us.dnas.playstation.org",
        "gate1.eu.dnas.playstation.org",
        "gate1.jp.dnas.playstation.org",
    } <= set(names)
    assert names[0] == ALL_TITLES[0].hostnames[0]
    assert all(h in names for t in ALL_TITLES for h in t.hostnames)
    assert all(is_dnas_hostname(n) for n in DNAS_HOSTNAMES) and not is_dnas_hostname(names[0])


def test_title_rejects_upper_case_hostnames() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        Title(
            key="x",
            name="x",
            region=Region.PAL,
            app_ids=(),
            medius_version=None,
            hosting=Hosting.P2P,
            hostnames=("Bad.Example.com",),
            uses_muis=False,
            lobbies=("L",),
            support=Support.UNTESTED,
            status="x.",
        )


#: Quirks declared here whose reader is in another engineer's area and not written yet:
#: quirk -> where it must be read. The test below fails once one is read, to shorten this list.
AWAITING_A_READER: dict[Quirk, str] = {}
ROOT = Path(__file__).resolve().parents[1] / "clank_lan"


def test_every_quirk_is_read_where_it_applies() -> None:
    """A quirk no code reads is not a fact the appliance honours (issue 8: 9 of 12 were unread)."""
    sources = {
        str(path.relative_to(ROOT)): path.read_text()
        for path in ROOT.rglob("*.py")
        if path.name != "titles.py" or path.parent != ROOT
    }
    unread = {q for q in Quirk if not any(f"Quirk.{q.name}" in text for text in sources.values())}
    assert unread == set(AWAITING_A_READER)
    # and every quirk is declared by some title (or it is not a fact about any)
    assert {q for t in ALL_TITLES for q in t.quirks} == set(Quirk)


def test_client_profiles_are_derived_from_the_title_table() -> None:
    assert {p.title.key for p in PROFILES.values()} == {t.key for t in ALL_TITLES if playable(t)}
    assert profile("uya").title is TITLES_BY_KEY["uya-ntsc"] and profile("dl-ntsc").key == "dl"
    assert profile("Gladiator").title is TITLES_BY_KEY["dl-pal"] and profile("deadlocked").key == "dl"
    for p in PROFILES.values():
        assert p.client_key is not None and p.version == p.title.medius_version
    with pytest.raises(ValueError, match="unknown title"):
        profile("killzone")  # in the table, but no known client key: not playable
