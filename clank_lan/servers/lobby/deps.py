"""What the lobby needs from the rest of the appliance, passed in as narrow dependencies.

The lobby never sees the engine: it gets the config, the database, the event bus, randomness,
the wall clock (for timestamps shown to people and consoles; every deadline is computed from the
``now`` each callback receives), the RSA key, a port lookup, the DME, a runner for ``!`` chat
commands and an admission policy. Tests build one of these with fakes; the engine builds the
real one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from clank_lan.config import Config
from clank_lan.db.database import Database
from clank_lan.db.files import FileStore
from clank_lan.protocol.crypto.ps2_rsa import RsaKey
from clank_lan.textfilter import TextFilter

if TYPE_CHECKING:
    from clank_lan.dme.manager import DmeManager
    from clank_lan.events import Event
    from clank_lan.servers.lobby.state import Game


class Admission(Protocol):
    """Who may log in and who may join which game (a tournament roster plugs in here), and the
    end-game reports it needs to score a match.

    Each check returns None to allow, or the reason for a refusal (logged and shown to the
    operator; the console gets the login or join failure status)."""

    def check_login(self, account_name: str, ip: str) -> str | None: ...

    def check_join(self, account_name: str, game: Game) -> str | None: ...

    def on_end_game_report(
        self, game_id: int, winning_team: str, winning_player: str, final_score: int, now: float | None = None
    ) -> None: ...


class AllowAll:
    """The default admission: a LAN party lets everybody in."""

    def check_login(self, account_name: str, ip: str) -> str | None:
        return None

    def check_join(self, account_name: str, game: Game) -> str | None:
        return None

    def on_end_game_report(
        self, game_id: int, winning_team: str, winning_player: str, final_score: int, now: float | None = None
    ) -> None:
        return None


def _no_commands(line: str, actor: str, origin: str) -> list[str]:
    return ["commands are not available here"]


@dataclass
class LobbyDeps:
    config: Config
    db: Database
    #: Publishes engine events (``EventBus.publish``).
    publish: Callable[[Event], None]
    rng: Callable[[int], bytes]
    #: Seconds since the epoch, for timestamps only (never for deadlines).
    wall_clock: Callable[[], float]
    rsa_key: RsaKey
    #: The address consoles are told to dial.
    advertised_ip: str
    #: The bound port of a service by name ("mas", "mls", "nat", "dme_tcp"...).
    port: Callable[[str], int]
    dme: DmeManager | None = None
    #: Whether the DME is serving (its ports are bound); games are refused while it is not.
    dme_up: Callable[[], bool] = lambda: False
    #: Runs an operator command line for a chat ``!`` command: (line, actor) -> output lines.
    #: ``run_command(line, actor, origin)``: the one operator command registry (``!`` in chat).
    run_command: Callable[[str, str, str], list[str]] = _no_commands
    admission: Admission = field(default_factory=AllowAll)
    #: SCERT ids handed out in CONNECT_ACCEPT, one per connection, across every service.
    scert_ids: Callable[[], int] = field(default_factory=lambda: _counter())
    #: The file service's store (under the data directory); None = in memory (``--ephemeral``).
    files: FileStore | None = None
    #: The text filter; None = built from ``config.titles.filter_words`` (the engine adds the
    #: words of ``filter_words_file``, which it reads at start).
    text_filter: TextFilter | None = None


def _counter() -> Callable[[], int]:
    ids = itertools.count(1)
    return lambda: next(ids) & 0xFFFF
