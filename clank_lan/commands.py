"""The one operator command registry, shared by the console, the TUI and in-game chat (``!cmd``).

A command is a plain function ``(engine, args, caller) -> list[str]`` returning output lines; it
never writes to a terminal itself, so every front end can show its answer its own way.
``caller`` says who ran it and from where (the TUI, the stdin console, or an operator account in
lobby chat); every action that changes something for a player is written to the audit trail
(``engine.db.audit``) and the ``clank_lan.audit`` log with both.
"""

from __future__ import annotations

import csv
import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clank_lan.db.audit import AuditEntry
from clank_lan.db.records import BanKind
from clank_lan.doctor.tracker import ConsoleTracker, render_consoles
from clank_lan.limit_hits import LIMIT_HITS
from clank_lan.tournament.commands import TOURNAMENT_HELP, TOURNAMENT_USAGE, tournament_command

if TYPE_CHECKING:
    from clank_lan.engine import Engine

log = logging.getLogger("clank_lan.audit")


@dataclass(frozen=True)
class Caller:
    """Who runs a command (``name``: "tui", "console" or an account) and from where."""

    name: str
    origin: str

    def __str__(self) -> str:
        return self.name


#: Where each built-in front end runs commands from (chat callers pass their own origin).
ORIGINS = {"tui": "operator console (TUI)", "console": "stdin console"}

Handler = Callable[["Engine", list[str], Caller], list[str]]


@dataclass(frozen=True)
class Paths:
    """Where things are on disk, for ``status`` and the TUI (None: not in use).

    ``known`` is False when whoever started the engine did not say (only the data folder is
    then known, from the engine itself).
    """

    config: Path | None = None
    data: Path | None = None
    log: Path | None = None
    known: bool = True

    def lines(self) -> list[tuple[str, str]]:
        def show(path: Path | None, none: str) -> str:
            if path is not None:
                return str(path)
            return none if self.known else "not known (see the lines printed at start-up)"

        return [
            ("config", show(self.config, "none (built-in defaults)")),
            ("data", str(self.data) if self.data else "none (in memory only)"),
            ("log", show(self.log, "none (no log file)")),
        ]


def paths_of(engine: Engine) -> Paths:
    """The engine's paths (``engine.paths``, set by ``serve``), else the data folder it knows."""
    paths = getattr(engine, "paths", None)
    if isinstance(paths, Paths):
        return paths
    return Paths(data=getattr(engine, "data_dir", None), known=False)


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    fn: Handler
    aliases: tuple[str, ...] = ()


class CommandError(Exception):
    """A command could not run; the message is shown to whoever typed it."""


REGISTRY: dict[str, Command] = {}


def command(name: str, usage: str, help_text: str, aliases: tuple[str, ...] = ()):
    def deco(fn: Handler) -> Handler:
        cmd = Command(name, usage, help_text, fn, aliases)
        for key in (name, *aliases):
            if key in REGISTRY:
                raise AssertionError(f"command {key!r} registered twice")
            REGISTRY[key] = cmd
        return fn

    return deco


def run_command(engine: Engine, line: str, actor: str = "console", origin: str = "") -> list[str]:
    """Parse and run one command line; errors come back as output lines, never as exceptions.

    ``origin`` says where it was typed (default: from ``actor``, "lobby chat" for an account).
    """
    try:
        words = shlex.split(line)
    except ValueError as exc:
        return [f"error: {exc}"]
    if not words:
        return []
    cmd = REGISTRY.get(words[0].lower())
    if cmd is None:
        return [f"unknown command {words[0]!r}; type 'help' for the list"]
    caller = Caller(actor, origin or ORIGINS.get(actor, "lobby chat"))
    try:
        return cmd.fn(engine, words[1:], caller)
    except CommandError as exc:
        return [f"error: {exc}", f"usage: {cmd.usage}"]


def commands() -> list[Command]:
    seen: dict[str, Command] = {}
    for c in REGISTRY.values():
        seen.setdefault(c.name, c)
    return list(seen.values())


def audit(engine: Engine, caller: Caller, action: str, target: str, detail: str, ref: str = "") -> None:
    """Record an operator action in the database and the log (who, what, from where)."""
    engine.db.audit.record(
        action, actor=caller.name, origin=caller.origin, target=target, detail=detail, ref=ref
    )
    log.info("%s by %s (%s): %s %s", action, caller.name, caller.origin, target, detail)


def when_text(ts: float | None, never: str = "never") -> str:
    """A wall-clock time as the operator reads it (local, to the second)."""
    if ts is None:
        return never
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def ban_target_text(engine: Engine, kind: BanKind, target: str) -> str:
    """An account ban by name (the stored target is the account id)."""
    if kind == BanKind.ACCOUNT and target.isdigit():
        account = engine.db.accounts.get(int(target))
        if account is not None:
            return f"{account.name} ({account.namespace})"
    return target


# --- the commands ---------------------------------------------------------------------------


@command("help", "help [COMMAND]", "List the commands, or explain one.", ("?",))
def _help(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    if args:
        cmd = REGISTRY.get(args[0].lower())
        if cmd is None:
            raise CommandError(f"no command {args[0]!r}")
        return [cmd.usage, f"  {cmd.help}"]
    return [f"{c.usage:<34} {c.help}" for c in commands()]


@command("status", "status", "Services, addresses, counts, and where the config, data and log are.")
def _status(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    lines = [f"clank-lan on {engine.addresses.advertised} (listening on {engine.addresses.bind})"]
    for s in engine.services.values():
        state = "up" if s.up else "DOWN"
        lines.append(
            f"  {s.name.upper():<8} {s.protocol} {s.port:<6} {state}" + (f"  {s.detail}" if s.detail else "")
        )
    lobby = engine.lobby.lobby
    online = sum(1 for s in lobby.sessions.values() if s.logged_in)
    lines.append(f"  {online} players online, {len(lobby.games)} games, {len(lobby.channels)} channels")
    lines.extend(f"  {name + ':':<8} {where}" for name, where in paths_of(engine).lines())
    hits = LIMIT_HITS.lines()
    lines.append("  limits hit: " + ("none" if not hits else f"{len(hits)} kinds (see [limits])"))
    lines.extend(f"    {line}" for line in hits)
    return lines


@command("players", "players", "Everyone online: name, title, where they are.", ("who", "clients"))
def _players(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    rows = engine.lobby.describe_players()
    return rows or ["nobody is online"]


@command("games", "games", "Games in progress or waiting for players.")
def _games(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    rows = engine.lobby.describe_games()
    return rows or ["no games"]


@command("channels", "channels", "Lobby channels and who is in them.", ("lobbies",))
def _channels(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    return engine.lobby.describe_channels() or ["no channels"]


@command("kick", "kick NAME [REASON...]", "Disconnect a player (they see the reason).")
def _kick(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    if not args:
        raise CommandError("who?")
    reason = " ".join(args[1:]) or f"kicked by {caller.name}"
    if not engine.lobby.kick(args[0], reason):
        raise CommandError(f"{args[0]!r} is not online")
    audit(engine, caller, "kick", args[0], reason)
    return [f"kicked {args[0]}: {reason}"]


@command("ban", "ban NAME [MINUTES] [REASON...]", "Ban an account (0 or no minutes = forever) and kick it.")
def _ban(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    if not args:
        raise CommandError("who?")
    minutes = 0.0
    rest = args[1:]
    if rest:
        try:
            minutes = float(rest[0])
            rest = rest[1:]
        except ValueError:
            pass
    if not 0 <= minutes <= 10 * 365 * 24 * 60:  # also refuses nan and inf
        raise CommandError("minutes must be between 0 (forever) and ten years")
    reason = " ".join(rest) or f"banned by {caller.name}"
    before = {b.id for b in engine.db.bans.listing(include_expired=True)}
    answer = engine.lobby.ban(args[0], minutes, reason)
    made = sorted(b.id for b in engine.db.bans.listing(include_expired=True) if b.id not in before)
    span = f"{minutes:g} minutes" if minutes > 0 else "forever"
    for ban_id in made:
        audit(engine, caller, "ban", args[0], f"{span}: {reason}", ref=f"ban:{ban_id}")
    return [answer]


@command("unban", "unban NAME|#BAN_ID", "Lift every ban on an account, or one ban by its id (see 'bans').")
def _unban(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    if not args:
        raise CommandError("who?")
    if args[0].startswith("#"):
        digits = args[0][1:]
        ban = engine.db.bans.get(int(digits)) if digits.isdigit() and len(digits) <= 10 else None
        if ban is None:
            raise CommandError(f"no ban {args[0]}")
        target = ban_target_text(engine, ban.kind, ban.target)
        engine.db.bans.remove(ban.id)
        answer = f"lifted ban {args[0]} on {target}"
        audit(engine, caller, "unban", target, answer)  # ``ref`` names what an action made
        return [answer]
    answer = engine.lobby.unban(args[0])
    if answer.startswith("lifted") and not answer.startswith("lifted 0 "):
        audit(engine, caller, "unban", args[0], answer)
    return [answer]


@command("bans", "bans [all]", "Active bans (with 'all': expired ones too): who, until when, why, by whom.")
def _bans(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    bans = engine.db.bans.listing(include_expired=bool(args and args[0].lower() == "all"))
    if not bans:
        return ["no bans"]
    lines = []
    for b in bans:
        made = engine.db.audit.for_ref(f"ban:{b.id}")
        by = f"{made.actor} ({made.origin})" if made is not None else "unknown"
        lines.append(
            f"{b.id:>4} {b.kind!s:<7} {ban_target_text(engine, b.kind, b.target):<24} "
            f"until {when_text(b.expires, 'forever')}  by {by} at {when_text(b.created)}: {b.reason}"
        )
    return lines


@command("audit", "audit [COUNT]", "The latest operator actions: when, who, from where, what.")
def _audit(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    count = 20
    if args:
        if not args[0].isdigit() or not 0 < int(args[0]) <= 1000:
            raise CommandError("COUNT must be a number from 1 to 1000")
        count = int(args[0])
    entries = engine.db.audit.recent(count)
    return [audit_line(e) for e in entries] or ["no operator actions yet"]


def audit_line(e: AuditEntry) -> str:
    """One audit entry as the `audit` command and the Bans view show it."""
    return f"{when_text(e.ts)}  {e.actor} ({e.origin})  {e.action} {e.target}: {e.detail}"


#: The exported files (CSV, one header row), written beside the database.
AUDIT_FIELDS = ("id", "time", "actor", "origin", "action", "target", "detail", "ref")
BAN_FIELDS = ("id", "kind", "target", "account", "reason", "created", "expires", "banned_by", "origin")


@command("export", "export", "Write the audit trail and the bans as CSV files into the data folder.")
def _export(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    base = paths_of(engine).data or Path(".")
    folder = base / "exports"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(engine.wall_clock()))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        audit_path = folder / f"audit-{stamp}.csv"
        entries = engine.db.audit.export()
        with audit_path.open("w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(AUDIT_FIELDS)
            for e in entries:
                out.writerow([e.id, when_text(e.ts), e.actor, e.origin, e.action, e.target, e.detail, e.ref])
        bans_path = folder / f"bans-{stamp}.csv"
        bans = engine.db.bans.listing(include_expired=True)
        with bans_path.open("w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(BAN_FIELDS)
            for b in bans:
                made = engine.db.audit.for_ref(f"ban:{b.id}")
                out.writerow(
                    [
                        b.id,
                        str(b.kind),
                        b.target,
                        ban_target_text(engine, b.kind, b.target),
                        b.reason,
                        when_text(b.created),
                        when_text(b.expires, "forever"),
                        made.actor if made else "",
                        made.origin if made else "",
                    ]
                )
    except OSError as exc:
        raise CommandError(f"cannot write to {folder}: {exc.strerror or exc}") from None
    return [f"wrote {len(entries)} audit entries to {audit_path}", f"wrote {len(bans)} bans to {bans_path}"]


@command("broadcast", "broadcast TEXT...", "Send a message to every console.", ("say", "announce"))
def _broadcast(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    if not args:
        raise CommandError("say what?")
    text = " ".join(args)
    n = engine.lobby.broadcast(text)
    audit(engine, caller, "broadcast", "everyone", text)
    return [f"sent to {n} consoles"]


@command("endgame", "endgame GAME_ID", "Close a game world and send its players back to the lobby.")
def _endgame(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    if not args or not args[0].isdigit() or len(args[0]) > 10:
        raise CommandError("which game id?")
    game = engine.lobby.lobby.games.get(int(args[0]))
    if game is None or not engine.lobby.end_game(game.id):
        raise CommandError(f"no game {args[0]}")
    audit(engine, caller, "endgame", f"game {game.id}", f"{game.name!r}, {len(game.players)} players")
    return [f"game {args[0]} closed"]


@command("accounts", "accounts [TITLE]", "Registered accounts (optionally of one title family); bans marked.")
def _accounts(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    accts = engine.db.accounts.listing(args[0] if args else None)
    if not accts:
        return ["no accounts"]
    banned = engine.db.bans.is_banned
    return [
        f"{a.id:>6} {a.namespace:<6} {a.name}" + ("  (BANNED)" if banned(account_id=a.id) else "")
        for a in accts
    ]


@command(
    "consoles",
    "consoles [IP]",
    "How far each console got (DNS, MUIS, MAS, MLS, game, DME) and what probably stopped it.",
    ("doctor",),
)
def _consoles(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    tracker: ConsoleTracker = engine.consoles
    now = engine.wall_clock()
    if args:
        status = tracker.status(args[0], now)
        if status is None:
            return [
                f"no console {args[0]} has contacted clank-lan",
                "If it is trying, its DNS is not this machine, or it connects to another address.",
            ]
        statuses = [status]
    else:
        statuses = tracker.snapshot(now)
    return render_consoles(statuses, now, dns_address=engine.addresses.advertised)


@command("tournament", TOURNAMENT_USAGE, TOURNAMENT_HELP, ("tm",))
def _tournament(engine: Engine, args: list[str], caller: Caller) -> list[str]:
    return tournament_command(engine.tournament, args, f"{caller.name} ({caller.origin})")
