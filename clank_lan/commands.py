"""The one operator command registry, shared by the console, the TUI and in-game chat (``!cmd``).

A command is a plain function ``(engine, args, actor) -> list[str]`` returning output lines; it
never writes to a terminal itself, so every front end can show its answer its own way.
``actor`` names who ran it ("console", "tui", or an account name for chat commands).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clank_lan.engine import Engine

Handler = Callable[["Engine", list[str], str], list[str]]


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


def run_command(engine: Engine, line: str, actor: str = "console") -> list[str]:
    """Parse and run one command line; errors come back as output lines, never as exceptions."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        return [f"error: {exc}"]
    if not words:
        return []
    cmd = REGISTRY.get(words[0].lower())
    if cmd is None:
        return [f"unknown command {words[0]!r}; type 'help' for the list"]
    try:
        return cmd.fn(engine, words[1:], actor)
    except CommandError as exc:
        return [f"error: {exc}", f"usage: {cmd.usage}"]


def commands() -> list[Command]:
    seen: dict[str, Command] = {}
    for c in REGISTRY.values():
        seen.setdefault(c.name, c)
    return list(seen.values())


# --- the commands ---------------------------------------------------------------------------


@command("help", "help [COMMAND]", "List the commands, or explain one.", ("?",))
def _help(engine: Engine, args: list[str], actor: str) -> list[str]:
    if args:
        cmd = REGISTRY.get(args[0].lower())
        if cmd is None:
            raise CommandError(f"no command {args[0]!r}")
        return [cmd.usage, f"  {cmd.help}"]
    return [f"{c.usage:<34} {c.help}" for c in commands()]


@command("status", "status", "Services, addresses and counts.")
def _status(engine: Engine, args: list[str], actor: str) -> list[str]:
    lines = [f"clank-lan on {engine.addresses.advertised} (listening on {engine.addresses.bind})"]
    for s in engine.services.values():
        state = "up" if s.up else "DOWN"
        lines.append(
            f"  {s.name.upper():<8} {s.protocol} {s.port:<6} {state}" + (f"  {s.detail}" if s.detail else "")
        )
    lobby = engine.lobby.lobby
    online = sum(1 for s in lobby.sessions.values() if s.logged_in)
    lines.append(f"  {online} players online, {len(lobby.games)} games, {len(lobby.channels)} channels")
    return lines


@command("players", "players", "Everyone online: name, title, where they are.", ("who", "clients"))
def _players(engine: Engine, args: list[str], actor: str) -> list[str]:
    rows = engine.lobby.describe_players()
    return rows or ["nobody is online"]


@command("games", "games", "Games in progress or waiting for players.")
def _games(engine: Engine, args: list[str], actor: str) -> list[str]:
    rows = engine.lobby.describe_games()
    return rows or ["no games"]


@command("channels", "channels", "Lobby channels and who is in them.", ("lobbies",))
def _channels(engine: Engine, args: list[str], actor: str) -> list[str]:
    return engine.lobby.describe_channels() or ["no channels"]


@command("kick", "kick NAME [REASON...]", "Disconnect a player (they see the reason).")
def _kick(engine: Engine, args: list[str], actor: str) -> list[str]:
    if not args:
        raise CommandError("who?")
    reason = " ".join(args[1:]) or f"kicked by {actor}"
    if not engine.lobby.kick(args[0], reason):
        raise CommandError(f"{args[0]!r} is not online")
    return [f"kicked {args[0]}: {reason}"]


@command("ban", "ban NAME [MINUTES] [REASON...]", "Ban an account (0 or no minutes = forever) and kick it.")
def _ban(engine: Engine, args: list[str], actor: str) -> list[str]:
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
    reason = " ".join(rest) or f"banned by {actor}"
    return [engine.lobby.ban(args[0], minutes, reason)]


@command("unban", "unban NAME", "Lift every ban on an account.")
def _unban(engine: Engine, args: list[str], actor: str) -> list[str]:
    if not args:
        raise CommandError("who?")
    return [engine.lobby.unban(args[0])]


@command("broadcast", "broadcast TEXT...", "Send a message to every console.", ("say", "announce"))
def _broadcast(engine: Engine, args: list[str], actor: str) -> list[str]:
    if not args:
        raise CommandError("say what?")
    n = engine.lobby.broadcast(" ".join(args))
    return [f"sent to {n} consoles"]


@command("endgame", "endgame GAME_ID", "Close a game world and send its players back to the lobby.")
def _endgame(engine: Engine, args: list[str], actor: str) -> list[str]:
    if not args or not args[0].isdigit():
        raise CommandError("which game id?")
    if not engine.lobby.end_game(int(args[0])):
        raise CommandError(f"no game {args[0]}")
    return [f"game {args[0]} closed"]


@command("accounts", "accounts [TITLE]", "Registered accounts (optionally of one title family).")
def _accounts(engine: Engine, args: list[str], actor: str) -> list[str]:
    accts = engine.db.accounts.listing(args[0] if args else None)
    if not accts:
        return ["no accounts"]
    return [f"{a.id:>6} {a.namespace:<6} {a.name}{'  (banned)' if a.banned else ''}" for a in accts]


def _register_doctor() -> None:
    from clank_lan.doctor.operator import CONSOLES_HELP, CONSOLES_USAGE, consoles_command

    command("consoles", CONSOLES_USAGE, CONSOLES_HELP, ("doctor",))(consoles_command)


_register_doctor()
