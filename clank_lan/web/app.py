"""The board's routes (a Starlette app): pages, the JSON API, exports and the PCSX2 hosts.ini.

Read-only: every route is GET (HEAD too); anything else is 405, an unknown path 404, and a
request announcing a body gets 413 before the app reads it (the board takes no input). Errors are
short JSON under ``/api`` and short text elsewhere, never a traceback.
"""

from __future__ import annotations

import json
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from clank_lan.dns.hosts_cli import host_entries, render_import_file
from clank_lan.tournament.export import export_csv, export_json
from clank_lan.web.render import render_fragment, render_page
from clank_lan.web.source import PARTS, BoardSource, snapshot

log = logging.getLogger("clank_lan.web")

#: The board reads no request bodies; anything larger than this is refused unread.
MAX_BODY = 1024
#: Request line and headers together. h11 itself refuses an unfinished head over the server's
#: ``h11_max_incomplete_size``; a head that arrives whole in one read is checked here.
MAX_HEAD = 8 * 1024
NO_STORE = {"Cache-Control": "no-store"}
#: Requests served at once; more get a quick 503 (a projector, a few phones and an overlay poll it).
MAX_IN_FLIGHT = 64


class RequestLimits:
    """ASGI middleware: 431 for an oversized head, 413 for a request with a body over ``MAX_BODY``,
    503 past ``MAX_IN_FLIGHT`` requests at once (the server's timeouts bound how long each lasts)."""

    def __init__(self, app: ASGIApp, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await PlainTextResponse("busy, try again\n", status_code=503)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._checked(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _checked(self, scope: Scope, receive: Receive, send: Send) -> None:
        pairs = scope.get("headers") or []
        size = len(scope.get("raw_path") or b"") + sum(len(k) + len(v) + 4 for k, v in pairs)
        if size > MAX_HEAD:
            await PlainTextResponse("request headers too large\n", status_code=431)(scope, receive, send)
            return
        headers = dict(pairs)
        length = headers.get(b"content-length", b"0")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if chunked or not length.isdigit() or int(length) > MAX_BODY:
            await PlainTextResponse("request body not accepted\n", status_code=413)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def board_app(source: BoardSource) -> Starlette:
    def snap() -> dict:
        return snapshot(source)

    async def page(request: Request) -> Response:
        return HTMLResponse(render_page(snap()), headers=NO_STORE)

    async def fragment(request: Request) -> Response:
        return HTMLResponse(render_fragment(snap()), headers=NO_STORE)

    async def api_board(request: Request) -> Response:
        return JSONResponse(snap(), headers=NO_STORE)

    def part(key: str):
        make = PARTS[key]

        async def endpoint(request: Request) -> Response:
            return JSONResponse(make(source), headers=NO_STORE)

        return endpoint

    async def api_export_json(request: Request) -> Response:
        svc = source.tournament()
        if svc is None or svc.current is None:
            return JSONResponse({"error": "no tournament is running"}, status_code=404)
        return Response(
            export_json(svc),
            media_type="application/json",
            headers={**NO_STORE, "Content-Disposition": 'attachment; filename="tournament.json"'},
        )

    async def api_export_csv(request: Request) -> Response:
        svc = source.tournament()
        if svc is None or svc.current is None:
            return JSONResponse({"error": "no tournament is running"}, status_code=404)
        return Response(
            export_csv(svc),
            media_type="text/csv; charset=utf-8",
            headers={**NO_STORE, "Content-Disposition": 'attachment; filename="tournament.csv"'},
        )

    async def hosts_ini(request: Request) -> Response:
        text = render_import_file(host_entries(source.address()))
        return PlainTextResponse(
            text, headers={**NO_STORE, "Content-Disposition": 'attachment; filename="hosts.ini"'}
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(request, 404, "not found")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 400
        return _error(request, code, "the board is read-only" if code == 405 else "bad request")

    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("web board: %s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(request, 500, "internal error (logged)")

    get = ["GET"]
    routes = [
        Route("/", page, methods=get),
        Route("/board.fragment", fragment, methods=get),
        Route("/hosts.ini", hosts_ini, methods=get),
        Route("/api/board", api_board, methods=get),
        Route("/api/setup", part("setup"), methods=get),
        Route("/api/online", part("online"), methods=get),
        Route("/api/games", part("games"), methods=get),
        Route("/api/tournament", part("tournament"), methods=get),
        Route("/api/tournament.json", api_export_json, methods=get),
        Route("/api/tournament.csv", api_export_csv, methods=get),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            404: not_found,
            405: not_allowed,
            400: not_allowed,
            500: crashed,
            Exception: crashed,
        },
    )
    app.add_middleware(RequestLimits)
    return app


def _error(request: Request, code: int, text: str) -> Response:
    if request.url.path.startswith("/api"):
        return Response(json.dumps({"error": text}), status_code=code, media_type="application/json")
    return PlainTextResponse(text + "\n", status_code=code)
