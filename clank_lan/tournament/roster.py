"""Tournament rosters from CSV or TOML: who may play, in which team, with which seed or password.

An organiser writes the file by hand or exports it from a sign-up sheet, so every problem is
reported with its line (CSV) or entry number (TOML) and the whole file is refused: a roster that
silently dropped a player would lock that player out at the door.

CSV: a header row naming the columns ``name`` (required), ``team``, ``seed``, ``password``.
TOML: ``[[player]]`` tables with the same keys, optionally ``name = "..."`` at the top level.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path

from clank_lan.names import NAME_MAX, name_key

#: Bounds: a LAN tournament is tens of players; these stop a wrong file from eating memory.
MAX_ROSTER_BYTES = 256 * 1024
MAX_PLAYERS = 256
#: Medius passwords travel in a 32-byte field with its NUL.
PASSWORD_MAX = 31
COLUMNS = ("name", "team", "seed", "password")


class RosterError(ValueError):
    """The roster file cannot be used; the message names the line or entry and the problem."""


@dataclass(frozen=True, slots=True)
class RosterEntry:
    name: str
    team: str = ""
    seed: int | None = None
    #: Pre-set password (the account is created with it); "" = claimed on first login.
    password: str = ""


@dataclass(frozen=True, slots=True)
class Roster:
    entries: tuple[RosterEntry, ...]

    def has(self, account_name: str) -> bool:
        key = name_key(account_name)
        return any(name_key(e.name) == key for e in self.entries)

    @property
    def has_teams(self) -> bool:
        return any(e.team for e in self.entries)


def _check_name(value: str, where: str, what: str = "name") -> str:
    value = value.strip()
    if not value or len(value) > NAME_MAX or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise RosterError(f"{where}: {what} {value!r} must be 1 to {NAME_MAX} printable characters")
    return value


def _entry(raw: dict[str, object], where: str) -> RosterEntry:
    unknown = sorted(set(raw) - set(COLUMNS))
    if unknown:
        raise RosterError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(COLUMNS)})")
    name = _check_name(str(raw.get("name") or ""), where)
    team = str(raw.get("team") or "").strip()
    if team:
        team = _check_name(team, where, "team")
    seed_raw = raw.get("seed")
    seed: int | None = None
    if seed_raw not in (None, ""):
        try:
            seed = int(str(seed_raw).strip())
        except ValueError:
            raise RosterError(f"{where}: seed {seed_raw!r} is not a whole number") from None
        if not 1 <= seed <= MAX_PLAYERS:
            raise RosterError(f"{where}: seed {seed} is outside 1..{MAX_PLAYERS}")
    password = str(raw.get("password") or "")
    if len(password) > PASSWORD_MAX or "\0" in password:
        raise RosterError(f"{where}: password longer than {PASSWORD_MAX} characters or with a NUL")
    return RosterEntry(name=name, team=team, seed=seed, password=password)


def _finish(entries: list[RosterEntry]) -> Roster:
    if not entries:
        raise RosterError("the roster names nobody")
    if len(entries) > MAX_PLAYERS:
        raise RosterError(f"the roster has {len(entries)} players; at most {MAX_PLAYERS} are supported")
    seen: dict[str, str] = {}
    seeds: dict[int, str] = {}
    for e in entries:
        key = name_key(e.name)
        if key in seen:
            raise RosterError(f"{e.name!r} is on the roster twice (as {seen[key]!r})")
        seen[key] = e.name
        if e.seed is not None and not e.team:
            if e.seed in seeds:
                raise RosterError(f"seed {e.seed} is given to both {seeds[e.seed]!r} and {e.name!r}")
            seeds[e.seed] = e.name
    if any(e.team for e in entries) and not all(e.team for e in entries):
        missing = next(e.name for e in entries if not e.team)
        raise RosterError(f"some players have a team and {missing!r} has none: give everyone a team")
    return Roster(tuple(entries))


def parse_csv(text: str) -> Roster:
    if len(text) > MAX_ROSTER_BYTES:
        raise RosterError(f"the roster is larger than {MAX_ROSTER_BYTES} bytes")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "name" not in header:
        raise RosterError("line 1: the header row must have a 'name' column")
    reader.fieldnames = header
    entries = []
    for row in reader:
        if len(entries) > MAX_PLAYERS:
            break
        if not any((v or "").strip() for k, v in row.items() if k is not None):
            continue  # blank line
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            raise RosterError(f"line {reader.line_num}: more fields than the header has")
        entries.append(_entry({k: v for k, v in row.items() if v is not None}, f"line {reader.line_num}"))
    return _finish(entries)


def parse_toml(text: str) -> tuple[str, Roster]:
    """The tournament name ("" if absent) and the roster."""
    if len(text) > MAX_ROSTER_BYTES:
        raise RosterError(f"the roster is larger than {MAX_ROSTER_BYTES} bytes")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RosterError(f"not valid TOML: {e}") from None
    players = doc.get("player", [])
    if not isinstance(players, list) or not all(isinstance(p, dict) for p in players):
        raise RosterError("players must be [[player]] tables")
    name = doc.get("name", "")
    if not isinstance(name, str):
        raise RosterError("'name' must be a string")
    entries = [_entry(p, f"player {i + 1}") for i, p in enumerate(players[: MAX_PLAYERS + 1])]
    return name.strip(), _finish(entries)


def load_roster(path: Path) -> tuple[str, Roster]:
    """Read a ``.csv`` or ``.toml`` roster; the name is the TOML ``name`` or the file's stem."""
    try:
        size = path.stat().st_size
        if size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path}: larger than {MAX_ROSTER_BYTES} bytes; is this the roster?")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise RosterError(f"{path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise RosterError(f"{path}: not UTF-8 text") from None
    try:
        if path.suffix.lower() == ".toml":
            name, roster = parse_toml(text)
            return name or path.stem, roster
        return path.stem, parse_csv(text)
    except RosterError as e:
        raise RosterError(f"{path}: {e}") from None
