"""Tournament mode: rosters, brackets (single/double elimination, round robin), results and exports.

``roster`` reads the organiser's file, ``formats`` shapes the bracket, ``model`` replays results
over it, ``service`` is what the lobby and the operator talk to, ``export`` and ``commands`` turn
it into data and text. Pure Python with no sockets; persistence is ``clank_lan.db.tournament``.
"""
