"""``clank-lan attach``: the operator console of an appliance already running on this machine.

``clank-lan serve`` starts this same console on its terminal; a headless appliance (``serve
--headless``, a service) gets one with ``attach``, from any terminal of this machine, for as long
as the organiser wants it: quitting it stops the servers (it asks first), closing the terminal
does not. The address and token come from the appliance's data folder (``console.link``) or, for
the console ``serve`` starts, from the environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path
from typing import TextIO

from clank_lan.serve_options import default_data_dir
from clank_lan.tui import UI_FAILED
from clank_lan.tui.app import ClankApp
from clank_lan.tui.link import EngineLink
from clank_lan.tui.wire import LINK_ENV, LINK_FILE, LinkAddress


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        help="the running appliance's data directory (its --data); default ./data, or beside the program",
    )


def link_address(args: argparse.Namespace) -> LinkAddress:
    """Where the appliance listens for its console; ``ValueError`` says why it is not known."""
    given = os.environ.get(LINK_ENV)
    if given:
        return LinkAddress.from_json(given)
    path = (args.data or default_data_dir()) / LINK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"no appliance is running with data folder {path.parent} ({exc.strerror})") from None
    return LinkAddress.from_json(text)


def run(args: argparse.Namespace) -> int:
    try:
        address = link_address(args)
    except ValueError as exc:
        print(f"clank-lan attach: {exc}", file=sys.stderr)
        return 2
    return run_console(address)


def run_console(address: LinkAddress, *, err: TextIO | None = None) -> int:
    """The console on this terminal until the operator quits or the appliance stops.

    Returns 0 then, ``UI_FAILED`` when the screen itself failed (its traceback is in the
    appliance's log file; the servers keep running), 2 when it could not attach (said why).
    """
    out = err or sys.stderr
    app = ClankApp(partial(EngineLink.connect, address))
    try:
        code = app.run()
    except Exception as exc:  # the terminal could not be driven at all
        app.ui_error = app.ui_error or exc
    if app.ui_error is not None:
        error = f"{type(app.ui_error).__name__}: {app.ui_error}"
        where = f" (traceback in {app.log_file})" if app.log_file else ""
        print(f"\nclank-lan: the operator console failed: {error}{where}.", file=out, flush=True)
        return UI_FAILED
    if app.link_error is not None:
        print(f"clank-lan: {app.link_error}", file=out, flush=True)
    return code if isinstance(code, int) else 0
