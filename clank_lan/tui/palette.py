"""Command palette (Ctrl+P): every command of the one registry, plus the TUI's own actions.

Choosing a command that needs arguments (``kick NAME``) puts it in the command line for the
operator to finish; one that needs none (``status``) runs at once.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from clank_lan.commands import Command, commands

if TYPE_CHECKING:
    from clank_lan.tui.app import ClankApp


def needs_arguments(cmd: Command) -> bool:
    """True when the usage names a required argument (one not in brackets)."""
    return any(not word.startswith("[") for word in cmd.usage.split()[1:])


class RegistryCommands(Provider):
    """The operator commands of ``clank_lan.commands``."""

    def _choose(self, cmd: Command) -> None:
        app: ClankApp = self.app  # type: ignore[assignment]
        app.palette_command(cmd.name, needs_arguments(cmd))

    async def discover(self) -> Hits:
        for cmd in commands():
            yield DiscoveryHit(Text(cmd.usage), partial(self._choose, cmd), help=cmd.help)  # not markup

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in commands():
            candidate = f"{cmd.usage} {' '.join(cmd.aliases)}".strip()
            score = matcher.match(candidate)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(cmd.usage),
                    partial(self._choose, cmd),
                    text=cmd.usage,
                    help=cmd.help,
                )
