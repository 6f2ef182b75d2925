"""The lobby's "simulated database": in memory, written through to SQLite.

``Database.open(data_dir)`` loads ``<data_dir>/clank-lan.sqlite3`` into memory; every mutation is
committed to it before returning, reads never touch it. ``Database.open(None, ephemeral=True)``
keeps everything in memory only.
"""

from clank_lan.db.database import Database
from clank_lan.db.errors import (
    AlreadyExists,
    AlreadyInClan,
    Conflict,
    DbError,
    DbFileError,
    DbWriteError,
    InvalidValue,
    NotClanMember,
    NotFound,
)
from clank_lan.db.records import (
    GLOBAL,
    Account,
    Announcement,
    Ban,
    BanKind,
    Buddy,
    BuddyRequest,
    Clan,
    ClanInvitation,
    ClanMember,
    ClanMessage,
    ClanStatus,
    Ignore,
    InvitationStatus,
    LadderEntry,
    PolicyKind,
)
from clank_lan.db.store import DB_FILENAME

__all__ = [
    "DB_FILENAME",
    "GLOBAL",
    "Account",
    "AlreadyExists",
    "AlreadyInClan",
    "Announcement",
    "Ban",
    "BanKind",
    "Buddy",
    "BuddyRequest",
    "Clan",
    "ClanInvitation",
    "ClanMember",
    "ClanMessage",
    "ClanStatus",
    "Conflict",
    "Database",
    "DbError",
    "DbFileError",
    "DbWriteError",
    "Ignore",
    "InvalidValue",
    "InvitationStatus",
    "LadderEntry",
    "NotClanMember",
    "NotFound",
    "PolicyKind",
]
