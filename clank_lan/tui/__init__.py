"""The Textual operator console of ``clank-lan serve`` (``--headless`` runs without it).

``run_tui(serve)`` replaces ``trio.run(serve)``: Textual's asyncio loop hosts the appliance as a
trio guest. Importing this package does not import Textual; only ``run_tui`` does.

Why the fallback: an organiser's laptop runs a whole LAN party in this one process. If the screen
itself fails (a bug in a dialog), the consoles must not be dropped: the traceback goes to the log
file, the terminal is handed back, and the servers keep running headless until Ctrl+C.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from clank_lan.commands import Paths
    from clank_lan.tui.app import ServeFactory

log = logging.getLogger("clank_lan.tui")

#: Exit status after the screen failed and the servers then ran on headless until stopped.
UI_FAILED = 3


def unwrap(exc: BaseException) -> BaseException:
    """The one real error inside nested single-member exception groups (trio's nurseries)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run_tui(
    serve: ServeFactory,
    *,
    headless: bool = False,
    paths: Paths | None = None,
    hold: Callable[[], object] | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``serve(task_status=...)`` under the TUI until the operator quits or it ends.

    ``serve`` must call ``task_status.started(engine)`` once the servers are bound. Returns the
    exit code: serve's own, or ``UI_FAILED`` when the screen failed and the servers carried on
    headless (the reason is printed and logged). An exception that stopped the servers (a
    ``DbError``...) is logged and raised again here, after the terminal has been restored.
    ``hold`` is called before a failure returns or raises, so a window that closes with the
    process (a double-clicked program on Windows) keeps the message on screen: pass
    ``lambda: input("Press Enter to close this window.")``. ``headless`` draws nothing (tests).
    """
    from clank_lan.tui.app import ClankApp

    out = err or sys.stderr
    app = ClankApp(serve, paths=paths)

    async def main() -> None:
        try:
            await app.run_async(headless=headless)
        except Exception as exc:  # the terminal could not be driven at all
            if app.ui_error is None:
                app.ui_error = exc
                log.critical("the operator console could not run", exc_info=exc)
        if app.ui_error is None:
            return
        where = f" (traceback in {app.paths.log})" if app.paths is not None and app.paths.log else ""
        error = f"{type(app.ui_error).__name__}: {app.ui_error}"
        print(
            f"\nclank-lan: the operator console failed: {error}{where}.",
            file=out,
            flush=True,
        )
        if app.guest.running:
            print("The servers keep running without it; Ctrl+C stops them.", file=out, flush=True)
            await app.guest.wait_done()
        elif app.guest.outcome is None:
            print("The servers did not start; 'clank-lan serve --headless' runs them without it.", file=out)

    asyncio.run(main())
    if app.trio_error is not None:
        error = unwrap(app.trio_error)
        log.critical("the servers stopped with an error", exc_info=error)
        if hold is not None:
            print(f"clank-lan: the servers stopped: {type(error).__name__}: {error}", file=out, flush=True)
            hold()
        raise error
    if app.ui_error is not None:
        if hold is not None:
            hold()
        return UI_FAILED
    return app.serve_result if isinstance(app.serve_result, int) else (app.return_code or 0)
