"""Immutable records handed out by the database, their sizes, and the Medius enums they carry.

Records are frozen ``msgspec.Struct``s: the database stores them in its dicts and returns the very
same objects, so a read costs a dict lookup and callers cannot corrupt the cache. A mutation
replaces the stored record with a new one.

Sizes come from the protocol reference (medius-messages.md §1.4); the enum values from §4.4/§4.6.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from typing import TypeVar

import msgspec

from clank_lan.db.errors import InvalidValue
from clank_lan.names import NAME_MAX
from clank_lan.protocol.medius import enums as _medius_enums

#: Namespace of global announcements / policies (and of name bans that apply to every title).
GLOBAL = ""

#: Account and clan stats blobs (ACCOUNTSTATS_MAXLEN / CLANSTATS_MAXLEN).
STATS_SIZE = 256
#: Clan messages and invitation texts (CLANMSG_MAXLEN = 200 incl. NUL).
CLAN_TEXT_MAX = 199

#: The 1.08 ladder stats (LADDERSTATS_MAXLEN int32s) and the "wide" ones (LADDERSTATSWIDE_MAXLEN).
LADDER = struct.Struct("<15i")
WIDE = struct.Struct("<100i")
LADDER_COUNT = 15
WIDE_COUNT = 100

ZERO_STATS = bytes(STATS_SIZE)
ZERO_LADDER: tuple[int, ...] = (0,) * LADDER_COUNT
ZERO_WIDE: tuple[int, ...] = (0,) * WIDE_COUNT
ZERO_LADDER_BLOB = LADDER.pack(*ZERO_LADDER)
ZERO_WIDE_BLOB = WIDE.pack(*ZERO_WIDE)

E = TypeVar("E", bound=enum.Enum)

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


#: The stored statuses are the Medius enums themselves (one place for each fact).
ClanStatus = _medius_enums.ClanStatus
InvitationStatus = _medius_enums.ClanInvitationResponseStatus
PolicyKind = _medius_enums.PolicyType


class BanKind(enum.StrEnum):
    """What a ban matches: an account id, an IP or network, an account-name glob, a console id."""

    ACCOUNT = "account"
    IP = "ip"
    NAME = "name"
    MACHINE = "machine"


class Account(msgspec.Struct, frozen=True):
    """A player account. ``namespace`` is the title family ("uya", "dl"); ids are global."""

    id: int
    namespace: str
    name: str
    created: float
    last_login: float | None = None
    last_ip: str | None = None
    banned: bool = False
    stats: bytes = ZERO_STATS
    ladder: tuple[int, ...] = ZERO_LADDER
    wide: tuple[int, ...] = ZERO_WIDE


class Clan(msgspec.Struct, frozen=True):
    """A clan. A disbanded clan keeps its record (status −1 on the wire) but frees its name."""

    id: int
    namespace: str
    name: str
    leader_id: int
    created: float
    status: ClanStatus = ClanStatus.ACTIVE
    stats: bytes = ZERO_STATS
    wide: tuple[int, ...] = ZERO_WIDE

    @property
    def active(self) -> bool:
        return self.status == ClanStatus.ACTIVE


class ClanMember(msgspec.Struct, frozen=True):
    clan_id: int
    account_id: int
    joined: float


class ClanInvitation(msgspec.Struct, frozen=True):
    id: int
    clan_id: int
    account_id: int
    message: str
    created: float
    status: InvitationStatus = InvitationStatus.UNDECIDED
    response: str = ""
    responded: float | None = None

    @property
    def pending(self) -> bool:
        return self.status == InvitationStatus.UNDECIDED


class ClanMessage(msgspec.Struct, frozen=True):
    id: int
    clan_id: int
    author_id: int
    text: str
    posted: float
    edited: float | None = None


class Buddy(msgspec.Struct, frozen=True):
    """``owner_id`` has ``buddy_id`` on their (confirmed) buddy list."""

    owner_id: int
    buddy_id: int
    since: float


class BuddyRequest(msgspec.Struct, frozen=True):
    """A buddy request waiting for ``to_id`` to confirm; ``symmetric`` adds both directions."""

    from_id: int
    to_id: int
    symmetric: bool
    created: float


class Ignore(msgspec.Struct, frozen=True):
    owner_id: int
    ignored_id: int
    since: float


class Ban(msgspec.Struct, frozen=True):
    """``target`` is the account id in decimal, a normalised IP network, a name glob or a console id.

    ``namespace`` restricts a NAME ban to one title family (None: every namespace).
    ``expires`` None means permanent.
    """

    id: int
    kind: BanKind
    target: str
    reason: str
    created: float
    expires: float | None = None
    namespace: str | None = None

    def active_at(self, now: float) -> bool:
        return self.expires is None or now < self.expires


class Announcement(msgspec.Struct, frozen=True):
    id: int
    namespace: str
    text: str
    created: float


class LadderEntry(msgspec.Struct, frozen=True):
    """One row of a ladder page: 1-based competition rank (ties share it), account/clan id, value."""

    position: int
    id: int
    value: int


def check_blob(stats: bytes) -> bytes:
    """A stats blob exactly STATS_SIZE bytes long, as immutable bytes."""
    if not isinstance(stats, bytes | bytearray | memoryview) or len(stats) != STATS_SIZE:
        raise InvalidValue(f"a stats blob must be {STATS_SIZE} bytes")
    return bytes(stats)


def check_ints(values: Sequence[int], count: int) -> tuple[int, ...]:
    """``count`` int32 values as a tuple."""
    out = tuple(values)
    if len(out) != count:
        raise InvalidValue(f"expected {count} ladder stats, got {len(out)}")
    for v in out:
        if not isinstance(v, int) or not _INT32_MIN <= v <= _INT32_MAX:
            raise InvalidValue(f"ladder stat {v!r} is not an int32")
    return out


def check_index(index: int, count: int) -> None:
    """A stat index inside an array of ``count`` ints."""
    if not 0 <= index < count:
        raise InvalidValue(f"ladder stat index {index} is outside 0..{count - 1}")


def check_name(name: str, what: str) -> str:
    """A display name: 1..NAME_MAX characters, no control characters, no outer spaces."""
    if not isinstance(name, str) or not name or len(name) > NAME_MAX:
        raise InvalidValue(f"{what} name must be 1 to {NAME_MAX} characters")
    if name != name.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidValue(f"{what} name {name!r} has control characters or outer spaces")
    return name


def check_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or not namespace or namespace != namespace.strip():
        raise InvalidValue(f"namespace {namespace!r} must be a non-empty string")
    return namespace


def check_text(text: str, limit: int | None, what: str) -> str:
    if not isinstance(text, str) or "\0" in text:
        raise InvalidValue(f"{what} must be a string without NUL")
    if limit is not None and len(text) > limit:
        raise InvalidValue(f"{what} is longer than {limit} characters")
    return text


def coerce(kind: type[E], value: object) -> E:
    """``value`` as a member of ``kind``; InvalidValue if it is none."""
    try:
        return kind(value)
    except ValueError:
        raise InvalidValue(f"{value!r} is not a {kind.__name__}") from None
