"""The one table of PS2 Medius titles clank-lan knows about.

Every other module asks this table: the DNS redirector (which names to answer), the MAS/MLS
(app id -> Medius version, quirks, default lobbies), the TUI (display name, support status) and
``hosts-ini``. Facts come from ``shared/protocol/medius-messages.md`` §5 and
``dme-nat-muis-dns.md`` §D; a ``?`` in a comment marks a fact with a single, unconfirmed source.
Hostnames are stored lower-case: DNS is case-insensitive, and PCSX2's internal DNS lower-cases
the query before an exact lookup in its hosts list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Region(StrEnum):
    NTSC_U = "NTSC-U"
    PAL = "PAL"
    NTSC_K = "NTSC-K"
    UNKNOWN = "unknown"


class Hosting(StrEnum):
    """Where a game world lives once created."""

    DME = "dme"  # client-server: players connect to our DME relay
    P2P = "p2p"  # a console hosts; the lobby only introduces the peers
    UNKNOWN = "unknown"  # no source says; decide from GameHostType in the create request


class Support(StrEnum):
    """How far clank-lan is known to get with a title (shown to users as is)."""

    TARGET = "target"  # what clank-lan is built and tested against (captures of the real client)
    EXPERIMENTAL = "experimental"  # another server got it through login/lobby; we have not
    UNTESTED = "untested"  # names and ids only: DNS points it here, nothing more is known
    UNKNOWN = "unknown"  # not in this table at all


class Quirk(StrEnum):
    """Per-title deviations the servers must honour (medius-messages.md §5.3, dme-nat-muis-dns.md §C).

    Only facts that change what a server does for one title and not another are kept here; a
    behaviour every title gets (CONNECT_COMPLETE for every 1.08 client, CreateGame1 decoded by its
    length, the ChannelList_ExtraInfo generic fields, no GameHostType check on JoinGame, the MLS
    session kept for ``keepalive_grace``) is written where it is done, not listed per title.
    """

    #: The RSA ServerKey inside ConnectInfo is sent as zeros (read by the MAS/MLS ConnectInfo).
    ZERO_SERVER_KEY = "zero-server-key"
    #: Game-list filters combine with OR, not AND (read by the MLS game list).
    OR_GAME_LIST_FILTERS = "or-game-list-filters"
    #: JoinGame is answered with plain ClientServerTCP, no aux UDP address (read by the MLS JoinGame).
    JOIN_CLIENT_SERVER_TCP = "join-client-server-tcp"
    #: Speaks an older DME packet format than retail builds (not yet handled: the DME logs it).
    OLD_DME_FORMAT = "old-dme-format"
    #: Sends VersionServer before SessionBegin: the MAS must answer it without a session (read by
    #: the VersionServer handler, which logs a title without it doing so).
    VERSION_BEFORE_SESSION = "version-before-session"
    #: Expects no RT CONNECT_COMPLETE from a 1.08 lobby server after the accept (issue 13: SOCOM I,
    #: as the community servers serve it); read by the lobby connection.
    NO_CONNECT_COMPLETE = "no-connect-complete"
    #: The disc's DNAS check must be bypassed (patched image or PCSX2 pnach); see the README.
    DNAS_PATCH_NEEDED = "dnas-patch-needed"


@dataclass(frozen=True, slots=True)
class Title:
    key: str  # stable id used in config and logs, e.g. "uya-ntsc"
    name: str
    region: Region
    app_ids: tuple[int, ...]  # empty when no source gives one (the MAS logs what arrives)
    medius_version: int | None  # 108 / 109 / 110 as in the RT HELLO; None = not known
    hosting: Hosting
    hostnames: tuple[str, ...]  # names the disc resolves to find MUIS or MAS
    uses_muis: bool  # first stop is the MUIS (TCP 10071) rather than the MAS (10075)
    lobbies: tuple[str, ...]  # default lobby channels created at start
    support: Support
    status: str  # one honest sentence shown next to ``support``
    quirks: frozenset[Quirk] = field(default_factory=frozenset)
    #: The client RSA key pair (``protocol.crypto.keys``) the headless client sends in
    #: CRYPTKEY_PUBLIC as this title: the disc's own where its private half is known; "" when the
    #: client cannot behave as this title.
    client_key: str = ""
    #: Seconds between the CLIENT_TIMEBASE_QUERY frames the console sends on the DME's TCP while in
    #: a game; 0 = none seen in its captures.
    timebase_query_every: float = 0.0
    known: bool = True  # False only for the stand-in returned for an unknown app id
    #: What the MAS answers VersionServer with, where a title's own server string is known (the
    #: MultiServer3 fork's per-title overrides); "" = clank-lan's own version.
    version_server: str = ""

    def __post_init__(self) -> None:
        if any(h != h.lower() or h.endswith(".") for h in self.hostnames):
            raise ValueError(f"{self.key}: hostnames must be lower-case without a trailing dot")


_UYA_QUIRKS = frozenset({Quirk.ZERO_SERVER_KEY, Quirk.OR_GAME_LIST_FILTERS})
_UYA_BETA_QUIRKS = _UYA_QUIRKS | {Quirk.OLD_DME_FORMAT}
#: The key pair UYA's NTSC disc sends (asym_keys.txt). The PAL disc sends another modulus
#: (81cbbd3a..., the PAL login capture) whose private half is not known; the client uses the NTSC
#: pair for both (the servers accept any client key).
_UYA_CLIENT_KEY = "client_uya_ps2_ntsc"
#: Deadlocked in capture b41 asks the DME for its time base about once a second (the first six
#: queries 0.85-1.05 s apart; later ones further apart while the level loads). UYA's DME
#: captures (JoinPjs, Created) hold none.
_DL_TIMEBASE_EVERY = 1.0
#: The lobby channel names Robo (a Python server that ran UYA online) creates for UYA.
_UYA_LOBBIES = tuple(f"CY0000000{i}-00" for i in range(5))
_LOBBY = ("Main Lobby",)

ALL_TITLES: tuple[Title, ...] = (
    Title(
        key="uya-ntsc",
        name="Ratchet & Clank: Up Your Arsenal (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(10684,),
        medius_version=108,
        hosting=Hosting.DME,
        hostnames=("ratchet3-prod1.pdonline.scea.com",),
        uses_muis=False,
        lobbies=_UYA_LOBBIES,
        support=Support.TARGET,
        status="Primary target; checked against real PS2 captures, not yet played end to end on hardware.",
        quirks=_UYA_QUIRKS,
        client_key=_UYA_CLIENT_KEY,
    ),
    Title(
        key="uya-pal",
        name="Ratchet & Clank 3 (PAL)",
        region=Region.PAL,
        app_ids=(10683,),  # confirmed by the CONNECT_TCP of the decrypted PAL login capture
        medius_version=108,
        hosting=Hosting.DME,
        hostnames=(
            "randc3-master.online.scee.com",
            "randc3-preprod.online.scee.com",
            "randc3-prod.rt.au.playstation.com",  # Australian discs
        ),
        uses_muis=False,
        lobbies=_UYA_LOBBIES,
        support=Support.TARGET,
        status="Primary target (same code path as NTSC-U); the disc needs a DNAS bypass.",
        quirks=_UYA_QUIRKS | {Quirk.DNAS_PATCH_NEEDED},
        client_key=_UYA_CLIENT_KEY,
    ),
    Title(
        key="uya-kr",
        name="Ratchet & Clank 3 (Korean)",
        region=Region.NTSC_K,
        app_ids=(),  # no source gives it
        medius_version=108,
        hosting=Hosting.DME,
        hostnames=("ratchet3.pdonline.scek.co.kr",),
        uses_muis=False,
        lobbies=_UYA_LOBBIES,
        support=Support.EXPERIMENTAL,
        status="Clank reports it working; its app id is unknown, so it is served as an unknown title.",
        quirks=_UYA_QUIRKS,
    ),
    Title(
        key="uya-beta",
        name="Ratchet & Clank: Up Your Arsenal public beta",
        region=Region.NTSC_U,
        app_ids=(10680,),  # "Beta Trial Code" in MultiServer3; Robo: June 2004 beta
        medius_version=108,
        hosting=Hosting.DME,
        hostnames=("ratchet3-pubeta.pdonline.scea.com",),
        uses_muis=False,
        lobbies=_UYA_LOBBIES,
        support=Support.EXPERIMENTAL,
        status="Clank gets it into the lobby; its CreateGame1 differs from retail.",
        quirks=_UYA_BETA_QUIRKS,
    ),
    Title(
        key="uya-prototype",
        name="Ratchet & Clank: Up Your Arsenal prototype (press beta)",
        region=Region.NTSC_U,
        app_ids=(10681,),  # "Press Beta" in MultiServer3
        medius_version=108,
        hosting=Hosting.DME,
        # ? which pre-release build resolves which of these two names is not confirmed
        hostnames=("ratchet3-press.pdonline.scea.com", "ratchet3-qa.pdonline.scea.com"),
        uses_muis=False,
        lobbies=_UYA_LOBBIES,
        support=Support.EXPERIMENTAL,
        status="Clank gets it into the lobby; its JoinGame differs from retail.",
        quirks=_UYA_BETA_QUIRKS,
    ),
    Title(
        key="dl-ntsc",
        name="Ratchet: Deadlocked (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(11184,),  # confirmed by the CONNECT_TCP frames of capture b41
        medius_version=110,
        hosting=Hosting.DME,
        hostnames=("ratchetdl-prod.pdonline.scea.com", "ratchetdl-test.pdonline.scea.com"),
        uses_muis=True,
        lobbies=_LOBBY,
        support=Support.TARGET,
        status="Primary target; the full MUIS-MAS-MLS-DME path is checked against capture b41.",
        client_key="client_dl_ps2_ntsc",
        timebase_query_every=_DL_TIMEBASE_EVERY,
    ),
    Title(
        key="dl-pal",
        name="Ratchet: Gladiator (PAL)",
        region=Region.PAL,
        app_ids=(11354,),  # ? MultiServer3 only ("Deadlocked"); Clank leaves PAL blank
        medius_version=110,
        hosting=Hosting.DME,
        hostnames=("randc-deadlocked.online.scee.com", "randc-deadlocked-anz.online.scee.com"),
        uses_muis=True,
        lobbies=_LOBBY,
        support=Support.EXPERIMENTAL,
        status="Played on Horizon; our app id for it is unconfirmed, and the disc needs a DNAS bypass.",
        quirks=frozenset({Quirk.DNAS_PATCH_NEEDED}),
        client_key="client_gladiator_ps2_pal",
        timebase_query_every=_DL_TIMEBASE_EVERY,  # ? same engine as dl-ntsc; no PAL capture
    ),
    Title(
        key="jakx-ntsc",
        name="Jak X: Combat Racing (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(10994,),
        medius_version=109,
        hosting=Hosting.UNKNOWN,
        hostnames=("jakx-prod.muis.pdonline.scea.com",),
        uses_muis=True,
        lobbies=_LOBBY,
        support=Support.UNTESTED,
        status="No server is known to host games for it; it also uses the file service (MFS).",
        quirks=frozenset({Quirk.JOIN_CLIENT_SERVER_TCP}),
    ),
    Title(
        key="jakx-pal",
        name="Jak X: Combat Racing (PAL)",
        region=Region.PAL,
        app_ids=(11204, 11203),  # ? 11203: grouped with Jak X by MultiServer3, region unconfirmed
        medius_version=109,
        hosting=Hosting.UNKNOWN,
        hostnames=("jakx-palmaster.muis.online.scee.com", "jakx-palpbtrials.muis.online.scee.com"),
        uses_muis=True,
        lobbies=_LOBBY,
        support=Support.UNTESTED,
        status="No server is known to host games for it; it also uses the file service (MFS).",
        quirks=frozenset({Quirk.JOIN_CLIENT_SERVER_TCP}),
    ),
    Title(
        key="killzone",
        name="Killzone (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(10724, 10442),  # retail, beta
        medius_version=108,
        hosting=Hosting.UNKNOWN,
        hostnames=("killzone-prod.muis.pdonline.scea.com",),
        uses_muis=True,
        lobbies=_LOBBY,
        support=Support.EXPERIMENTAL,
        status="Clank reports games working; not tried with clank-lan.",
        quirks=frozenset({Quirk.VERSION_BEFORE_SESSION}),
        version_server="Medius Authentication Server Version 1.50.0009",
    ),
    Title(
        key="sfos-ntsc",
        name="Syphon Filter: The Omega Strain (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(10411,),  # Clank
        medius_version=108,
        hosting=Hosting.P2P,
        hostnames=("syphonfilter-prod.pdonline.scea.com",),
        uses_muis=False,
        lobbies=_LOBBY,
        support=Support.EXPERIMENTAL,
        status="Clank gets it into the lobby; games are console-hosted (P2P), not tried here.",
    ),
    Title(
        key="sfos-pal",
        name="Syphon Filter: The Omega Strain (PAL)",
        region=Region.PAL,
        app_ids=(),
        medius_version=108,
        hosting=Hosting.P2P,
        hostnames=("sfos-palmaster.online.scee.com", "sfos-palbeta2.online.scee.com"),
        uses_muis=False,
        lobbies=_LOBBY,
        support=Support.UNTESTED,
        status="Hostnames only; app id unknown.",
    ),
    Title(
        key="amplitude",
        name="Amplitude (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(),  # Clank's table leaves it blank
        medius_version=None,
        hosting=Hosting.P2P,
        hostnames=("amp2003-prod.pdonline.scea.com",),
        uses_muis=False,
        lobbies=_LOBBY,
        support=Support.EXPERIMENTAL,
        status="Clank gets it into the lobby; games are console-hosted (P2P), not tried here.",
    ),
    Title(
        key="socom1",
        name="SOCOM: U.S. Navy SEALs (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(10274,),  # MultiServer3 VersionServer override "Socom 1"
        medius_version=None,
        hosting=Hosting.UNKNOWN,
        hostnames=(
            "socom2002-prod.pdonline.scea.com",
            "socom2002-prod2.pdonline.scea.com",
            "socom2002-prbeta.pdonline.scea.com",
        ),
        uses_muis=False,
        lobbies=_LOBBY,
        support=Support.UNTESTED,
        status="Hostnames and app id only; its community runs on a closed-source server.",
        version_server="Medius Authentication Server Version 1.40.PRE8",
        quirks=frozenset({Quirk.NO_CONNECT_COMPLETE}),
    ),
    Title(
        key="socom2-ntsc",
        name="SOCOM II: U.S. Navy SEALs (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(),
        medius_version=None,
        hosting=Hosting.UNKNOWN,
        hostnames=(
            "socom2-prod.pdonline.scea.com",
            "socom2-prod.muis.pdonline.scea.com",
            "socom2-pubeta.pdonline.scea.com",
            "socom2-pubeta.muis.pdonline.scea.com",
        ),
        uses_muis=True,
        lobbies=_LOBBY,
        support=Support.UNTESTED,
        status="Hostnames only; app id unknown.",
    ),
    Title(
        key="socom2-pal",
        name="SOCOM II: U.S. Navy SEALs (PAL)",
        region=Region.PAL,
        app_ids=(),
        medius_version=None,
        hosting=Hosting.UNKNOWN,
        hostnames=("socom2-palmaster-muis.online.scee.com",),
        uses_muis=True,
        lobbies=_LOBBY,
        support=Support.UNTESTED,
        status="Hostnames only; app id unknown.",
    ),
    Title(
        key="socom3",
        name="SOCOM 3 / SOCOM: Combined Assault (NTSC-U)",
        region=Region.NTSC_U,
        app_ids=(),
        medius_version=None,
        hosting=Hosting.UNKNOWN,
        # socomca.ps2.online is not a Sony name: it comes from community DNS configs (? origin)
        hostnames=(
            "socom3-prod.pdonline.scea.com",
            "socom3-prod.muis.pdonline.scea.com",
            "socomca.ps2.online",
        ),
        uses_muis=True,
        lobbies=_LOBBY,
        support=Support.UNTESTED,
        status="Hostnames only; app ids unknown.",
    ),
)

#: The DNAS gateways every disc contacts before Medius (gate1 and ts01, per region).
DNAS_HOSTNAMES: tuple[str, ...] = tuple(
    f"{host}.{region}.dnas.playstation.org" for host in ("gate1", "ts01") for region in ("us", "eu", "jp")
)
#: Names that belong to no single title: name -> what it is.
SERVICE_HOSTNAMES: dict[str, str] = {
    **{name: f"DNAS gateway ({name.split('.')[1].upper()})" for name in DNAS_HOSTNAMES},
    # HTTP patch/stats host of Insomniac's titles; answered so the game fails fast on the LAN
    "nightcrawler.insomniacgames.com": "Insomniac patch and stats (UYA, Deadlocked)",
}

TITLES_BY_KEY: dict[str, Title] = {t.key: t for t in ALL_TITLES}
_BY_APP_ID: dict[int, Title] = {app_id: t for t in ALL_TITLES for app_id in t.app_ids}
_BY_HOSTNAME: dict[str, Title] = {h: t for t in ALL_TITLES for h in t.hostnames}


def normalize_hostname(name: str) -> str:
    """Lower-case, without the trailing root dot."""
    return name.strip().rstrip(".").lower()


def title_for_app_id(app_id: int) -> Title:
    """The title for an app id, or a stand-in marked ``known=False`` (the caller logs it)."""
    title = _BY_APP_ID.get(app_id)
    if title is not None:
        return title
    return Title(
        key=f"unknown-{app_id}",
        name=f"Unknown title (app id {app_id})",
        region=Region.UNKNOWN,
        app_ids=(app_id,),
        medius_version=None,
        hosting=Hosting.UNKNOWN,
        hostnames=(),
        uses_muis=False,
        lobbies=_LOBBY,
        support=Support.UNKNOWN,
        status="Not in clank-lan's title table; served with generic defaults.",
        known=False,
    )


def title_for_hostname(name: str) -> Title | None:
    return _BY_HOSTNAME.get(normalize_hostname(name))


def is_dnas_hostname(name: str) -> bool:
    return normalize_hostname(name).endswith(".dnas.playstation.org")


def all_hostnames() -> list[str]:
    """Every name to point at the appliance: all titles' names, then the shared service names."""
    names = dict.fromkeys(h for t in ALL_TITLES for h in t.hostnames)
    names.update(dict.fromkeys(SERVICE_HOSTNAMES))
    return list(names)
