"""The Textual operator console of ``clank-lan serve`` (``--headless`` runs without it).

``run_tui(serve)`` replaces ``trio.run(serve)``: Textual's asyncio loop hosts the appliance as a
trio guest. Importing this package does not import Textual; only ``run_tui`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clank_lan.tui.app import ServeFactory


def unwrap(exc: BaseException) -> BaseException:
    """The one real error inside nested single-member exception groups (trio's nurseries)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def run_tui(serve: ServeFactory, *, headless: bool = False) -> int:
    """Run ``serve(task_status=...)`` under the TUI until the operator quits or it ends.

    ``serve`` must call ``task_status.started(engine)`` once the servers are bound. Returns the
    exit code; an exception that stopped the servers (a ``DbError``...) is raised again here,
    after the terminal has been restored. ``headless`` draws nothing (tests, smoke runs).
    """
    from clank_lan.tui.app import ClankApp

    app = ClankApp(serve)
    app.run(headless=headless)
    if app.trio_error is not None:
        raise unwrap(app.trio_error)
    return app.return_code or 0
