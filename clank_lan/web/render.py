"""The board's HTML, rendered from the snapshot: one renderer for the first load and the live updates.

The page polls ``/board.fragment`` and swaps the board's HTML in place, so nothing is rendered
twice in two languages and a browser without JavaScript still gets the full page. Self-contained
(inline CSS and script, no CDN): the appliance runs on a LAN without internet. Every value from
a console (names, game names) is escaped.
"""

from __future__ import annotations

from html import escape

REFRESH_MS = 2000

_CSS = """
body{margin:0;background:#0e1116;color:#e8e8e8;font:20px/1.35 system-ui,sans-serif}
header{display:flex;justify-content:space-between;align-items:baseline;padding:12px 24px;background:#1a1f29}
header h1{margin:0;font-size:30px} .setup{font-size:26px;color:#ffd166}
main{padding:12px 24px} h2{margin:18px 0 8px;font-size:24px;color:#8ecae6}
.champion{font-size:40px;color:#ffd166;margin:8px 0}
.bracket{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start;margin-bottom:14px}
.round{display:flex;flex-direction:column;gap:10px;min-width:180px}
.round h3{margin:0;font-size:18px;color:#aaa}
.match{background:#1a1f29;border-radius:8px;padding:6px 10px;border-left:4px solid #444}
.match.playing{border-left-color:#06d6a0} .match.done{border-left-color:#8ecae6}
.match .side{display:flex;justify-content:space-between} .match .won{font-weight:700;color:#ffd166}
.match .tag{font-size:14px;color:#aaa} .live{color:#06d6a0;font-weight:700}
table{border-collapse:collapse} td,th{padding:3px 12px;text-align:left} th{color:#aaa;font-weight:400}
.cols{display:flex;gap:48px;flex-wrap:wrap} .muted{color:#888} #stale{color:#ef476f;font-size:14px}
"""

_SCRIPT = """
(function(){
  var board=document.getElementById('board'), state=document.getElementById('stale'), misses=0;
  function tick(){
    fetch('/board.fragment',{cache:'no-store'}).then(function(r){
      if(!r.ok) throw new Error(r.status); return r.text();
    }).then(function(html){ board.innerHTML=html; state.textContent=''; misses=0; })
    .catch(function(){
      misses++;  /* one lost poll is a blip; say so from the second on */
      if(misses>1) state.textContent='(connection to the appliance lost; retrying)';
    })
    .finally(function(){ setTimeout(tick, REFRESH); });
  }
  setTimeout(tick, REFRESH);
})();
""".replace("REFRESH", str(REFRESH_MS))


def _name(value: str | None) -> str:
    if value is None:
        return '<span class="muted">?</span>'
    if value == "":
        return '<span class="muted">(bye)</span>'
    return escape(value)


def _match(m: dict) -> str:
    cls = "playing" if m["status"] == "playing" else ("done" if m["winner"] else "")
    sides = []
    for side, wins in (("a", m["wins_a"]), ("b", m["wins_b"])):
        who = m[side]
        won = ' class="won"' if who and who == m["winner"] else ""
        score = str(wins) if m["status"] in ("done", "ready", "playing") and m["a"] and m["b"] else ""
        sides.append(f'<div class="side"><span{won}>{_name(who)}</span><span>{score}</span></div>')
    live = ' <span class="live">LIVE</span>' if m["status"] == "playing" else ""
    tag = f'<div class="tag">match {m["id"]}{live}</div>'
    return f'<div class="match {cls}" data-match="{m["id"]}">{tag}{"".join(sides)}</div>'


def _round_title(t: dict, bracket: str, rnd: int, last_w: int) -> str:
    if bracket == "RR":
        return f"Round {rnd}"
    if bracket == "L":
        return f"Losers round {rnd}"
    if bracket in ("GF", "GF2"):
        return "Grand final" if bracket == "GF" else "Grand final, reset (if needed)"
    if rnd == last_w:
        return "Final" if t["format"] == "single" else "Winners final"
    if rnd == last_w - 1 and t["format"] == "single":
        return "Semi-finals"
    return f"Round {rnd}"


def _bracket(t: dict) -> str:
    """One row per part of the bracket (winners, losers, finals), a column per round."""
    parts: dict[str, dict[int, list[dict]]] = {}
    for m in t["matches"]:
        if m["status"] == "void":
            continue
        part = {"GF": "F", "GF2": "F"}.get(m["bracket"], m["bracket"])
        parts.setdefault(part, {}).setdefault(m["round"], []).append(m)
    last_w = max((m["round"] for m in t["matches"] if m["bracket"] == "W"), default=0)
    rows = []
    for part in ("W", "RR", "L", "F"):
        if part not in parts:
            continue
        cols = []
        for rnd, matches in sorted(parts[part].items()):
            title = escape(_round_title(t, matches[0]["bracket"], rnd, last_w))
            cols.append(f'<div class="round"><h3>{title}</h3>{"".join(_match(m) for m in matches)}</div>')
        rows.append(f'<div class="bracket">{"".join(cols)}</div>')
    return "".join(rows)


def _standings(t: dict) -> str:
    rows = "".join(
        f"<tr><td>{i}</td><td>{escape(s['competitor'])}</td><td>{s['wins']}</td><td>{s['losses']}</td>"
        f"<td>{s['game_wins']}-{s['game_losses']}</td><td>{escape(s['state'])}</td></tr>"
        for i, s in enumerate(t["standings"], 1)
    )
    head = "<tr><th>#</th><th>Competitor</th><th>W</th><th>L</th><th>Games</th><th></th></tr>"
    return f"<table>{head}{rows}</table>"


def _games(games: list[dict]) -> str:
    if not games:
        return '<p class="muted">No games right now.</p>'
    rows = "".join(
        f"<tr><td>{escape(g['name'])}</td><td>{escape(g['title'])}</td><td>{escape(g['status'])}</td>"
        f"<td>{', '.join(escape(p) for p in g['players']) or '-'}</td>"
        f"<td>{'match #' + str(g['match']) if g['match'] else ''}</td></tr>"
        for g in games
    )
    return (
        f"<table><tr><th>Game</th><th>Title</th><th>Status</th><th>Players</th><th></th></tr>{rows}</table>"
    )


def _online(online: list[dict]) -> str:
    if not online:
        return '<p class="muted">Nobody is online.</p>'
    return "".join(
        f"<p><b>{escape(o['title'])}</b> ({len(o['players'])}): "
        f"{', '.join(escape(p) for p in o['players'])}</p>"
        for o in online
    )


def render_fragment(snap: dict) -> str:
    """The board's content (what the live refresh swaps in)."""
    parts = []
    t = snap["tournament"]
    if t is not None:
        parts.append(f"<h2>{escape(t['name'])} &middot; {escape(t['format'])}, best of {t['best_of']}</h2>")
        if t["champion"]:
            parts.append(f'<div class="champion" id="champion">Champion: {escape(t["champion"])}</div>')
        parts.append(_bracket(t))
        parts.append('<div class="cols"><div><h2>Standings</h2>' + _standings(t) + "</div>")
    else:
        parts.append('<div class="cols">')
    parts.append(f"<div><h2>Games in progress</h2>{_games(snap['games'])}</div>")
    parts.append(f"<div><h2>Online ({snap['online_count']})</h2>{_online(snap['online'])}</div></div>")
    return "".join(parts)


def render_page(snap: dict) -> str:
    line = escape(snap["setup"]["line"])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>clank-lan board</title><style>{_CSS}</style></head><body>"
        f'<header><h1>clank-lan</h1><div class="setup" id="setup">{line}</div>'
        '<div><a href="/hosts.ini" style="color:#8ecae6">PCSX2 hosts.ini</a> '
        '<span id="stale"></span></div></header>'
        f'<main id="board">{render_fragment(snap)}</main>'
        f"<script>{_SCRIPT}</script></body></html>"
    )
