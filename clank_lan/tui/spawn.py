"""``clank-lan serve``'s operator console: the console program on this terminal, served by the engine.

The engine's process starts the console (``clank-lan attach``, with the line's address and token
in its environment) with this terminal as its own, keeps its own log lines off the terminal
meanwhile, and waits for it. A console that ended well (the operator's quit, which stops the
servers) ends the appliance; one that failed leaves the servers running headless, with the reason
printed. When the engine stops first, the console sees its line close and leaves by itself; it is
given ``GRACE`` seconds to hand the terminal back before it is killed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import trio

from clank_lan.tui.feed import terminal_quiet
from clank_lan.tui.wire import LINK_ENV, LinkAddress

log = logging.getLogger("clank_lan.tui")

GRACE = 5.0


def console_command() -> list[str]:
    """How this program starts its own console (a frozen build is its own executable)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "attach"]
    return [sys.executable, "-m", "clank_lan", "attach"]


async def run_console(address: LinkAddress, command: Sequence[str] | None = None) -> int:
    """Run the console on this terminal until it ends; its exit status."""
    env = dict(os.environ)
    env[LINK_ENV] = address.to_json()
    with terminal_quiet():
        proc = await trio.lowlevel.open_process(list(command or console_command()), env=env)
        try:
            return await proc.wait()
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(GRACE):
                    await proc.wait()
                if proc.returncode is None:
                    log.warning("the operator console did not leave within %g s; killed", GRACE)
                    proc.kill()
                    await proc.wait()


def failed_text(status: int, log_file: object) -> str:
    """What the terminal says when the console ended badly and the servers carry on."""
    where = f" (see {log_file})" if log_file else ""
    return (
        f"\nclank-lan: the operator console ended with status {status}{where}.\n"
        "The servers keep running without it; Ctrl+C stops them, 'clank-lan attach' brings it back."
    )
