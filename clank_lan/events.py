"""Typed engine events and the bus that carries them to front ends (TUI, console, logs).

The engine never imports a front end: it publishes frozen event structs here, and each front
end subscribes with its own bounded queue. Publishing never blocks; a subscriber that falls
behind loses events (counted in ``dropped``), so a stuck UI cannot stall a server.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import msgspec
import trio


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every engine event. ``ts`` is wall-clock seconds (time.time())."""

    ts: float


class DnsQuery(Event, frozen=True, kw_only=True):
    """A console asked the DNS redirector for a name."""

    client: str  # "ip:port"
    name: str
    qtype: str
    answer: str  # the address given, "forwarded", "NXDOMAIN", ...
    title: str | None = None  # title key when the name belongs to a known title


class ServiceState(Event, frozen=True, kw_only=True):
    """A service came up, or could not start (``ok`` False, ``detail`` says why and the fix)."""

    service: str
    ok: bool
    address: str = ""
    detail: str = ""


class PlayerStage(Event, frozen=True, kw_only=True):
    """A console reached a stage of the connection doctor (muis, mas, login, mls, game, dme...)."""

    ip: str
    stage: str
    account: str = ""
    title: str = ""
    detail: str = ""
    #: The connection's source port and the lobby session (0 / "": not known), so the tracker
    #: can tell two consoles behind one router apart.
    port: int = 0
    session: str = ""


class ChatLine(Event, frozen=True, kw_only=True):
    """A lobby chat line (``whisper_to`` names the one recipient of a whisper)."""

    group: str
    channel: str
    sender: str
    text: str
    whisper_to: str = ""


class LogLine(Event, frozen=True, kw_only=True):
    level: str
    source: str
    text: str


class EventBus:
    """Fan-out of events to subscribers, each with a bounded queue."""

    def __init__(self) -> None:
        self._subs: list[trio.MemorySendChannel[Event]] = []
        self._callbacks: list[Callable[[Event], None]] = []
        self.dropped = 0

    def subscribe(self, capacity: int = 1000) -> trio.MemoryReceiveChannel[Event]:
        send, recv = trio.open_memory_channel[Event](capacity if capacity > 0 else math.inf)
        self._subs.append(send)
        return recv

    def add_callback(self, fn: Callable[[Event], None]) -> None:
        """Synchronous listener (state trackers, tests); must be quick and must not raise."""
        self._callbacks.append(fn)

    def publish(self, event: Event) -> None:
        for fn in self._callbacks:
            fn(event)
        for send in list(self._subs):
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                self.dropped += 1
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                self._subs.remove(send)
