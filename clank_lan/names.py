"""Account, clan and team names: how long one may be, and when two are the same name.

A module of its own because the database and the tournament both need it, and the database
stores the tournament: taken from ``clank_lan.db.records``, it made the tournament import
``clank_lan/db/__init__.py``, which imports the tournament's tables and so the tournament again
(an import cycle, found when ``clank_lan.web.server`` was the first module imported).
"""

from __future__ import annotations

#: Longest account or clan name in characters (ACCOUNTNAME_MAXLEN / CLANNAME_MAXLEN = 32 incl. NUL).
NAME_MAX = 31


def name_key(name: str) -> str:
    """The case-insensitive identity of a name within a namespace."""
    return name.casefold()
