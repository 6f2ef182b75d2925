"""The tournament as plain data: one JSON-ready dict (for the web board, the API and the JSON export)
and the CSV export (one row per match, one per recorded game), so every view shows the same facts."""

from __future__ import annotations

import csv
import io
import json

from clank_lan.tournament.model import GameResult, MatchView, TournamentRecord
from clank_lan.tournament.service import TournamentService


def _match(m: MatchView, playing: list[int]) -> dict:
    return {
        "id": m.id,
        "label": m.spec.label(),
        "bracket": m.spec.bracket,
        "round": m.spec.round,
        "a": m.a,
        "b": m.b,
        "status": "playing" if playing and m.winner is None else str(m.status),
        "wins_a": m.wins_a,
        "wins_b": m.wins_b,
        "winner": m.winner,
        "games": playing,
    }


def _result(r: GameResult) -> dict:
    return {
        "id": r.id,
        "match": r.match_id,
        "status": str(r.status),
        "winner": r.winner or None,
        "source": r.source,
        "recorded": r.recorded,
        "game_id": r.game_id or None,
        "players": list(r.players),
        "duration": r.duration,
        "left_early": list(r.left_early),
        "figures": r.figures,
        "raw_hex": r.raw.hex() if r.raw else "",
        "note": r.note,
    }


def tournament_data(svc: TournamentService, *, audit: bool = False) -> dict | None:
    """Everything about the running tournament, or None when none is. Rebuilt only when a stored
    fact or a live link changed (every board client polls it); treat the result as read-only."""
    t = svc.current
    if t is None:
        return None
    playing: dict[int, list[int]] = {}
    for track in svc.tracks.values():
        if track.result_id is None:
            playing.setdefault(track.match_id, []).append(track.game_id)
    key = (t.id, svc.db.version, audit, tuple((m, tuple(g)) for m, g in sorted(playing.items())))
    return svc.derived("tournament_data", key, lambda: _build(svc, t, playing, audit))


def _build(svc: TournamentService, t: TournamentRecord, playing: dict[int, list[int]], audit: bool) -> dict:
    bracket = svc.bracket()
    assert bracket is not None
    data = {
        "id": t.id,
        "name": t.name,
        "format": str(t.format),
        "best_of": t.best_of,
        "created": t.created,
        "champion": bracket.champion,
        "finished": bracket.finished,
        "seeding": list(t.seeding),
        "competitors": {c: list(m) for c, m in bracket.members.items()},
        "matches": [_match(m, playing.get(m.id, [])) for m in bracket.matches.values()],
        "next": [m.id for m in bracket.ready()],
        "standings": [
            {
                "competitor": s.competitor,
                "members": list(s.members),
                "seed": s.seed,
                "played": s.played,
                "wins": s.wins,
                "losses": s.losses,
                "game_wins": s.game_wins,
                "game_losses": s.game_losses,
                "state": s.state,
            }
            for s in bracket.standings()
        ],
        "results": [_result(r) for r in svc.db.results_of(t.id)],
        "pending": [r.id for r in svc.pending()],
        "stale": [r.id for r in bracket.stale()],
    }
    if audit:
        data["audit"] = [
            {"id": a.id, "ts": a.ts, "actor": a.actor, "action": a.action, "detail": a.detail}
            for a in svc.db.audit_of(t.id)
        ]
    return data


def export_json(svc: TournamentService) -> str:
    return json.dumps(tournament_data(svc, audit=True), indent=2, sort_keys=True)


CSV_COLUMNS = (
    "kind",
    "match",
    "label",
    "a",
    "b",
    "score",
    "winner",
    "status",
    "result",
    "game_id",
    "source",
    "players",
    "duration_s",
    "left_early",
    "note",
)


def export_csv(svc: TournamentService) -> str:
    """Matches first (one row each, with the score), then every recorded game."""
    data = tournament_data(svc)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    if data is None:
        return out.getvalue()
    for m in data["matches"]:
        w.writerow(
            [
                "match",
                m["id"],
                m["label"],
                m["a"] or "",
                m["b"] or "",
                f"{m['wins_a']}-{m['wins_b']}",
                m["winner"] or "",
                m["status"],
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    for r in data["results"]:
        duration = "" if r["duration"] is None else f"{r['duration']:.0f}"
        w.writerow(
            [
                "game",
                r["match"],
                "",
                "",
                "",
                "",
                r["winner"] or "",
                r["status"],
                r["id"],
                r["game_id"] or "",
                r["source"],
                " ".join(r["players"]),
                duration,
                " ".join(r["left_early"]),
                r["note"],
            ]
        )
    return out.getvalue()
