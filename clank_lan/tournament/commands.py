"""The ``tournament`` operator command: every tournament action as text in, lines out.

Registered in the one command registry (``clank_lan.commands``) by the appliance, so the console,
the TUI and lobby chat all reach it; ``tournament_command`` takes the service itself so it can be
tested without an engine. Errors come back as ``error: ...`` lines, never as exceptions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from clank_lan.db.errors import DbError
from clank_lan.tournament.export import export_csv, export_json
from clank_lan.tournament.formats import FORMAT_NAMES, Format
from clank_lan.tournament.roster import RosterError
from clank_lan.tournament.service import TournamentError, TournamentService

TOURNAMENT_USAGE = "tournament [SUBCOMMAND ...]"
TOURNAMENT_HELP = "Run a tournament: new, show, next, pending, confirm, win, correct, void, link, export..."

SUBCOMMANDS = """\
tournament                                  the bracket, next matches and results to confirm
tournament new FILE [single|double|rr] [--best-of N] [--shuffle [--draw SEED]]
               [--title FAMILY] [--name NAME]
                                            load a roster (.csv/.toml) and start;
                                            --title: the title family pre-set passwords are for
tournament next                             matches ready to play
tournament pending                          games whose winner the operator must confirm
tournament confirm RESULT WINNER            name the winner of a pending game
tournament win MATCH WINNER [NOTE...]       record a game won, by hand (forfeit, off-line game)
tournament correct RESULT WINNER REASON...  change a recorded winner (audited)
tournament void RESULT REASON...            cancel a recorded game (audited)
tournament link GAME MATCH | unlink GAME    tie a lobby game to a match, or untie it
tournament standings | results | audit | refused
tournament gate on|off [logins|joins]       enforce the roster at login / match games at join
tournament export csv|json FILE             write matches and results
tournament close                            end the tournament; the lobby opens to everyone"""


def _int(text: str, what: str) -> int:
    try:
        return int(text.lstrip("#"))
    except ValueError:
        raise TournamentError(f"{what} must be a number, not {text!r}") from None


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _show(svc: TournamentService) -> list[str]:
    t = svc.need()
    bracket = svc.bracket()
    assert bracket is not None
    head = f"{t.name}: {t.format}, best of {t.best_of}, {len(t.seeding)} competitors"
    lines = [head + (f"  CHAMPION: {bracket.champion}" if bracket.champion else "")]
    for m in bracket.matches.values():
        game = next((g for g, tr in svc.tracks.items() if tr.match_id == m.id and tr.result_id is None), None)
        lines.append("  " + m.describe() + (f"  (playing: game {game})" if game is not None else ""))
    pending = svc.pending()
    if pending:
        lines.append(f"  {len(pending)} game(s) to confirm: 'tournament pending'")
    return lines


def _new(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    if not args:
        raise TournamentError("which roster file?")
    path = Path(args[0]).expanduser()
    fmt, best_of, shuffle, draw, family, name = Format.SINGLE, 1, False, None, "", ""
    rest = iter(args[1:])
    for word in rest:
        low = word.lower()
        if low in FORMAT_NAMES:
            fmt = FORMAT_NAMES[low]
        elif low in ("--best-of", "--bo"):
            best_of = _int(next(rest, ""), "best-of")
        elif low.startswith("bo") and low[2:].isdigit():
            best_of = int(low[2:])
        elif low == "--shuffle":
            shuffle = True
        elif low == "--draw":
            draw = _int(next(rest, ""), "draw seed")
        elif low == "--title":
            family = next(rest, "")
        elif low == "--name":
            name = next(rest, "")
        else:
            raise TournamentError(f"unknown option {word!r}")
    try:
        rng = random.Random(draw) if draw is not None else random.Random()
        t = svc.create_from_file(
            path, fmt, best_of=best_of, shuffle=shuffle, rng=rng, namespace=family, actor=actor, name=name
        )
    except (RosterError, ValueError) as e:
        raise TournamentError(str(e)) from None
    return [
        f"tournament {t.name!r} started: {t.format}, best of {t.best_of}, seeds: {', '.join(t.seeding)}",
        *_show(svc)[1:],
    ]


def _next(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    svc.need()
    bracket = svc.bracket()
    assert bracket is not None
    ready = bracket.ready()
    if bracket.champion:
        return [f"the tournament is over: {bracket.champion} is the champion"]
    return [m.describe() for m in ready] or ["no match is ready (waiting for results)"]


def _pending(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    svc.need()
    bracket = svc.bracket()
    assert bracket is not None
    out = []
    for r in svc.pending():
        m = bracket.matches.get(r.match_id)
        who = f"{m.a} vs {m.b}" if m else "?"
        out.append(
            f"result {r.id}: match #{r.match_id} ({who}), game {r.game_id}, players {', '.join(r.players)}"
            f" -> 'tournament confirm {r.id} WINNER'"
        )
    return out or ["no game is waiting for a winner"]


def _confirm(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    if len(args) < 2:
        raise TournamentError("usage: tournament confirm RESULT WINNER")
    r = svc.confirm(_int(args[0], "result"), args[1], actor)
    return [f"result {r.id}: {r.winner} wins a game of match #{r.match_id}", *_champion(svc)]


def _win(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    if len(args) < 2:
        raise TournamentError("usage: tournament win MATCH WINNER [NOTE...]")
    r = svc.record(_int(args[0], "match"), args[1], actor, " ".join(args[2:]))
    return [f"result {r.id}: {r.winner} wins a game of match #{r.match_id}", *_champion(svc)]


def _correct(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    if len(args) < 3:
        raise TournamentError("usage: tournament correct RESULT WINNER REASON...")
    r = svc.correct(_int(args[0], "result"), args[1], " ".join(args[2:]), actor)
    entry = svc.db.audit_of(r.tournament_id)[-1]
    return [f"corrected: {entry.detail}", *_champion(svc)]


def _void(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    if len(args) < 2:
        raise TournamentError("usage: tournament void RESULT REASON...")
    r = svc.void(_int(args[0], "result"), " ".join(args[1:]), actor)
    return [f"voided: {svc.db.audit_of(r.tournament_id)[-1].detail}"]


def _link(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    if len(args) != 2:
        raise TournamentError("usage: tournament link GAME MATCH")
    m = svc.link(_int(args[0], "game"), _int(args[1], "match"), actor)
    return [f"game {args[0]} is now match #{m.id}: {m.a} vs {m.b}; only they may join it"]


def _unlink(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    if len(args) != 1:
        raise TournamentError("usage: tournament unlink GAME")
    svc.unlink(_int(args[0], "game"), actor)
    return [f"game {args[0]} is no longer a tournament game"]


def _standings(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    svc.need()
    bracket = svc.bracket()
    assert bracket is not None
    return [
        f"{i:>2}. {s.competitor:<24} W{s.wins} L{s.losses}  games {s.game_wins}-{s.game_losses}  {s.state}"
        for i, s in enumerate(bracket.standings(), 1)
    ]


def _results(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    t = svc.need()
    rows = []
    for r in svc.db.results_of(t.id):
        extra = f"  left early: {', '.join(r.left_early)}" if r.left_early else ""
        rows.append(
            f"result {r.id}: match #{r.match_id} game {r.game_id or '-'} [{r.status}] "
            f"winner {r.winner or '?'} ({r.source or 'unknown'}){extra}"
        )
    return rows or ["no results yet"]


def _audit(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    t = svc.need()
    return [f"{_when(a.ts)} {a.actor:<10} {a.action:<8} {a.detail}" for a in svc.db.audit_of(t.id)] or [
        "empty"
    ]


def _refused(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    return [f"{_when(r.ts)} {r.what:<5} {r.account} ({r.where}): {r.reason}" for r in svc.refusals] or [
        "nobody was refused"
    ]


def _gate(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    if not args or args[0].lower() not in ("on", "off"):
        raise TournamentError("usage: tournament gate on|off [logins|joins]")
    on = args[0].lower() == "on"
    which = args[1].lower() if len(args) > 1 else "both"
    if which not in ("logins", "joins", "both"):
        raise TournamentError("gate logins, joins or both")
    svc.set_gate(
        logins=on if which in ("logins", "both") else None,
        joins=on if which in ("joins", "both") else None,
        actor=actor,
    )
    return [
        f"roster gate at login: {'on' if svc.gate_logins else 'off'}; "
        f"match games admit only their players: {'on' if svc.gate_joins else 'off'}"
    ]


def _export(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    svc.need()
    if len(args) != 2 or args[0].lower() not in ("csv", "json"):
        raise TournamentError("usage: tournament export csv|json FILE")
    text = export_csv(svc) if args[0].lower() == "csv" else export_json(svc)
    path = Path(args[1]).expanduser()
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise TournamentError(f"cannot write {path}: {e.strerror or e}") from None
    return [f"wrote {path} ({len(text)} bytes)"]


def _close(svc: TournamentService, args: list[str], actor: str) -> list[str]:
    t = svc.close(actor)
    return [f"tournament {t.name!r} closed; logins and games are open to everyone"]


def _champion(svc: TournamentService) -> list[str]:
    bracket = svc.bracket()
    if bracket is not None and bracket.champion:
        return [f"the tournament is over: {bracket.champion} is the champion"]
    return []


_SUB: dict[str, Callable[[TournamentService, list[str], str], list[str]]] = {
    "show": lambda svc, args, actor: _show(svc),
    "new": _new,
    "next": _next,
    "pending": _pending,
    "confirm": _confirm,
    "win": _win,
    "correct": _correct,
    "void": _void,
    "link": _link,
    "unlink": _unlink,
    "standings": _standings,
    "results": _results,
    "audit": _audit,
    "refused": _refused,
    "gate": _gate,
    "export": _export,
    "close": _close,
}


def tournament_command(svc: TournamentService | None, args: list[str], actor: str) -> list[str]:
    if svc is None:
        return ["error: tournament mode is not available in this appliance"]
    if args and args[0].lower() in ("help", "?"):
        return SUBCOMMANDS.splitlines()
    sub = args[0].lower() if args else "show"
    fn = _SUB.get(sub)
    if fn is None:
        return [f"error: no tournament subcommand {sub!r}", *SUBCOMMANDS.splitlines()]
    try:
        return fn(svc, args[1:], actor)
    except TournamentError as e:
        return [f"error: {e}"]
    except DbError as e:
        return [f"error: the database refused: {e}"]
