"""Exceptions of the lobby database.

Handlers map these onto Medius status codes; the database itself knows nothing of the wire.
Every error's message is a complete sentence fit for a log line or the TUI.
"""

from __future__ import annotations

from pathlib import Path


class DbError(Exception):
    """Base class of every error raised by ``clank_lan.db``."""


class DbFileError(DbError):
    """The database file cannot be opened, read, upgraded or locked. ``path`` names it."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class DbWriteError(DbError):
    """A write could not be made durable; the in-memory state was left unchanged."""


class NotFound(DbError, LookupError):
    """The account, clan, invitation, message or ban does not exist."""


class AlreadyExists(DbError):
    """A name is taken, or the relation (buddy, ignore, invitation) is already there."""


class Conflict(DbError):
    """The operation is not allowed in the current state (e.g. answering a settled invitation)."""


class AlreadyInClan(Conflict):
    """The account already belongs to a clan (one clan per account)."""


class NotClanMember(Conflict):
    """The account is not a member of that clan."""


class InvalidValue(DbError, ValueError):
    """An argument is malformed: a bad name, a blob of the wrong size, an int out of int32 range..."""
