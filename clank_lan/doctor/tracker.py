"""Per-console progress through the connection stages, and where a console that stopped got stuck.

``ConsoleTracker`` is pure: it is fed engine events (``DnsQuery``, the lobby's ``PlayerStage``) with
their own timestamps, and ``snapshot(now)`` turns what it saw into one ``ConsoleStatus`` per
console with a one-line diagnosis. A console is its address until it logs in, then its address
and account: two consoles behind one router (one address) are two rows once they log in, and what
the address did before (DNS, DNAS, MUIS) goes with the console that logs in from it next. A
console that comes back to an earlier stage (a new login, back to the lobby after a game) starts
a new attempt: the later stages of the old one are dropped, so the diagnosis is always about the
attempt in progress.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from clank_lan.dnas.events import DnasRefused, DnasRequest
from clank_lan.events import DnsQuery, Event
from clank_lan.ports import DEFAULT_PORTS
from clank_lan.stages import STAGE_LABELS, STAGES, Stage, stage_of
from clank_lan.titles import SERVICE_HOSTNAMES, TITLES_BY_KEY, Quirk, is_dnas_hostname

log = logging.getLogger("clank_lan.doctor")
_ORDER = {s: i for i, s in enumerate(STAGES)}

#: A console that has not moved on for this long is reported as stuck rather than in progress.
STALL_AFTER = 20.0
#: Consoles remembered at once; the one seen longest ago is forgotten first.
MAX_CONSOLES = 256
_MAX_NAMES = 8


class State:
    OK = "ok"  # in the lobby or in a game: nothing to fix
    IN_PROGRESS = "in progress"  # moved recently; the diagnosis says what to check if it stays
    STUCK = "stuck"


@dataclass(frozen=True, slots=True)
class StageMark:
    """A stage reached in the current attempt: first and latest time (wall clock), last detail."""

    stage: str
    first: float
    last: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ConsoleStatus:
    ip: str
    key: str  # the console's identity: "ip" before a login, "ip/account" after
    endpoint: str  # "ip:port" of its latest connection ("" when only DNS was seen)
    first_seen: float
    last_seen: float
    title: str  # title key ("" until a DNS name or a login says which)
    account: str
    stages: tuple[StageMark, ...]  # the current attempt, in STAGES order
    state: str  # a State value
    diagnosis: str
    dns_names: tuple[str, ...] = ()  # game/DNAS names it asked for, oldest first
    dns_answer: str = ""  # the address our DNS last gave it for a game name

    @property
    def furthest(self) -> str | None:
        return self.stages[-1].stage if self.stages else None

    def reached(self, stage: str) -> bool:
        return any(m.stage == stage for m in self.stages)


@dataclass
class _Console:
    ip: str
    first_seen: float
    last_seen: float
    key: str = ""
    endpoint: str = ""
    title: str = ""
    account: str = ""
    marks: dict[str, StageMark] = field(default_factory=dict)
    dns_names: list[str] = field(default_factory=list)
    dns_answer: str = ""
    game_name_asked: bool = False
    dnas_unknown_game: str = ""  # the game id our DNAS gateway had no recorded answer for
    dnas_failure: str = ""  # why its last DNAS connection ended without an answer


def _merge(c: _Console, before: _Console) -> None:
    """Fold an address's unnamed activity (a new DNS or DNAS round) into its logged-in console."""
    c.first_seen = min(c.first_seen, before.first_seen)
    c.last_seen = max(c.last_seen, before.last_seen)
    for stage, m in before.marks.items():
        old = c.marks.get(stage)
        if old is not None:
            later = m if m.last >= old.last else old
            m = StageMark(stage, min(m.first, old.first), later.last, later.detail)
        c.marks[stage] = m
    for name in before.dns_names:
        if name in c.dns_names:
            c.dns_names.remove(name)
        c.dns_names.append(name)
    del c.dns_names[:-_MAX_NAMES]
    c.dns_answer = before.dns_answer or c.dns_answer
    c.title = c.title or before.title
    c.game_name_asked = c.game_name_asked or before.game_name_asked
    c.dnas_unknown_game = before.dnas_unknown_game or c.dnas_unknown_game
    c.dnas_failure = before.dnas_failure or c.dnas_failure


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _relevant_dns(ev: DnsQuery) -> bool:
    """A question about a game, DNAS or one of our names (not the console's other lookups)."""
    return (
        ev.title is not None
        or is_dnas_hostname(ev.name)
        or ev.name in SERVICE_HOSTNAMES
        or _is_ipv4(ev.answer)
    )


class ConsoleTracker:
    """Stages per console IP; ``feed`` is the event bus callback (quick, never raises)."""

    def __init__(
        self,
        ports: Callable[[str], int] | Mapping[str, int] | None = None,
        *,
        stall_after: float = STALL_AFTER,
        max_consoles: int = MAX_CONSOLES,
    ) -> None:
        if ports is None:
            ports = DEFAULT_PORTS
        self._ports = ports if callable(ports) else ports.__getitem__
        self.stall_after = stall_after
        self.max_consoles = max_consoles
        self._consoles: dict[str, _Console] = {}
        self._by_session: dict[str, str] = {}  # lobby session key -> the console's key

    def port(self, service: str) -> int:
        try:
            return int(self._ports(service))
        except (KeyError, AttributeError, TypeError, ValueError):
            return DEFAULT_PORTS.get(service, 0)

    # feeding -------------------------------------------------------------------------------
    def feed(self, ev: Event) -> None:
        try:
            if isinstance(ev, DnsQuery):
                self._dns(ev)
                return
            if isinstance(ev, DnasRequest | DnasRefused):
                self._dnas(ev)
                return
            stage = getattr(ev, "stage", None)
            ip = getattr(ev, "ip", None)
            if isinstance(stage, str) and isinstance(ip, str) and ip:
                self.stage(
                    ip,
                    stage,
                    ev.ts,
                    account=getattr(ev, "account", ""),
                    title=getattr(ev, "title", ""),
                    detail=getattr(ev, "detail", ""),
                    port=getattr(ev, "port", 0),
                    session=getattr(ev, "session", ""),
                )
        except Exception:  # a tracker bug must not break the publisher
            log.exception("console tracker: event %r", ev)

    def _console(self, ip: str, ts: float, account: str = "", session: str = "") -> _Console:
        """The console an event is about: by account once it logged in, by its lobby session
        before that, else (DNS, DNAS, MUIS) the address's row, or the one console of that
        address. A session's row, and the address's row before it, become the logged-in one."""
        if account:
            key = f"{ip}/{account.lower()}"
            if session:
                self._by_session[session] = key
                while len(self._by_session) > 4 * self.max_consoles:
                    del self._by_session[next(iter(self._by_session))]
        elif session:
            key = self._by_session.get(session, f"{ip}#{session}")
        else:
            key = ip
        c = self._consoles.get(key)
        if c is None and key == ip:  # not in a session: an address with one console is that console
            same_ip = [x for x in self._consoles.values() if x.ip == ip]
            if len(same_ip) == 1:
                return self._seen(same_ip[0], ts)
        for older in (f"{ip}#{session}" if session else "", ip):
            if older and older != key and older in self._consoles:
                before = self._consoles.pop(older)
                if c is None:
                    c = before
                    c.key = key
                    self._consoles[key] = c
                else:
                    _merge(c, before)
        if c is None:
            if len(self._consoles) >= self.max_consoles:
                oldest = min(self._consoles.values(), key=lambda x: x.last_seen)
                del self._consoles[oldest.key]
            c = self._consoles[key] = _Console(ip, ts, ts, key=key)
        return self._seen(c, ts)

    @staticmethod
    def _seen(c: _Console, ts: float) -> _Console:
        c.first_seen = min(c.first_seen, ts)
        c.last_seen = max(c.last_seen, ts)
        return c

    def _dnas(self, ev: DnasRequest | DnasRefused) -> None:
        ip = ev.client.rsplit(":", 1)[0]
        if isinstance(ev, DnasRefused):
            self._console(ip, ev.ts).dnas_failure = ev.reason
            return
        verdict = "answered" if ev.answered else "UNKNOWN game (error answer sent)"
        detail = f"{ev.region} {ev.query} game {ev.game_id}: {verdict} over {ev.protocol}"
        self.stage(ip, Stage.DNAS, ev.ts, detail=detail)
        c = self._console(ip, ev.ts)
        c.dnas_failure = ""
        c.dnas_unknown_game = "" if ev.answered else ev.game_id

    def _dns(self, ev: DnsQuery) -> None:
        if not _relevant_dns(ev):
            return
        ip = ev.client.rsplit(":", 1)[0] if ev.client.count(":") == 1 else ev.client
        c = self._console(ip, ev.ts)
        if ev.title:
            c.title = ev.title
            c.game_name_asked = True
            if _is_ipv4(ev.answer):
                c.dns_answer = ev.answer
        if ev.name in c.dns_names:
            c.dns_names.remove(ev.name)
        c.dns_names.append(ev.name)
        del c.dns_names[:-_MAX_NAMES]
        self._mark(c, Stage.DNS, ev.ts, f"{ev.name} -> {ev.answer}")

    def stage(
        self,
        ip: str,
        stage: str,
        ts: float,
        *,
        account: str = "",
        title: str = "",
        detail: str = "",
        port: int = 0,
        session: str = "",
    ) -> None:
        """A console reached ``stage`` (a ``Stage`` or a name the lobby publishes for one), on a
        connection from ``ip``:``port`` (port 0: not known)."""
        known = stage_of(stage)
        if known is None:
            return
        stage = known
        c = self._console(ip, ts, account, session)
        if port:
            c.endpoint = f"{ip}:{port}"
        if account:
            c.account = account
        if title:
            c.title = title
        if stage not in (Stage.DNS, Stage.DNAS):  # a new attempt drops the later stages of the last one
            rank = _ORDER[stage]
            for later in [s for s in c.marks if _ORDER[s] > rank]:
                del c.marks[later]
        self._mark(c, stage, ts, detail)

    @staticmethod
    def _mark(c: _Console, stage: str, ts: float, detail: str) -> None:
        old = c.marks.get(stage)
        first = ts if old is None else min(old.first, ts)
        c.marks[stage] = StageMark(stage, first, max(ts, old.last if old else ts), detail)

    def forget(self, key: str) -> bool:
        """Forget a console by its key, or every console of an address."""
        gone = [k for k, c in self._consoles.items() if key in (k, c.ip)]
        for k in gone:
            del self._consoles[k]
        return bool(gone)

    # reading -------------------------------------------------------------------------------
    def snapshot(self, now: float) -> list[ConsoleStatus]:
        """Every console, the most recently seen first."""
        out = [self._status(c, now) for c in self._consoles.values()]
        out.sort(key=lambda s: (-s.last_seen, s.ip))
        return out

    def status(self, key: str, now: float) -> ConsoleStatus | None:
        """The console with this key, else the most recently seen console of this address."""
        c = self._consoles.get(key)
        if c is None:
            same_ip = [x for x in self._consoles.values() if x.ip == key]
            c = max(same_ip, key=lambda x: x.last_seen) if same_ip else None
        return self._status(c, now) if c is not None else None

    def _status(self, c: _Console, now: float) -> ConsoleStatus:
        marks = tuple(sorted(c.marks.values(), key=lambda m: _ORDER[m.stage]))
        state, text = self._diagnose(c, marks, now)
        return ConsoleStatus(
            ip=c.ip,
            key=c.key,
            endpoint=c.endpoint,
            first_seen=c.first_seen,
            last_seen=c.last_seen,
            title=c.title,
            account=c.account,
            stages=marks,
            state=state,
            diagnosis=text,
            dns_names=tuple(c.dns_names),
            dns_answer=c.dns_answer,
        )

    def _diagnose(self, c: _Console, marks: tuple[StageMark, ...], now: float) -> tuple[str, str]:
        furthest = marks[-1].stage if marks else "dns"
        text = self._stop_text(c, furthest)
        if furthest in ("mls", "dme-udp"):
            state = State.OK
        else:
            state = State.STUCK if now - c.last_seen >= self.stall_after else State.IN_PROGRESS
        if furthest != "dns" and "dns" not in c.marks:
            text += (
                " (It never asked this DNS server: it uses another DNS server or a hosts file, "
                "which is fine as long as the game's name points here.)"
            )
        return state, text

    def _stop_text(self, c: _Console, furthest: str) -> str:
        p = self.port
        title = TITLES_BY_KEY.get(c.title)
        if furthest == "dns":
            if not c.game_name_asked:
                if c.dnas_failure:
                    return (
                        f"its DNAS connection to our gateway failed ({c.dnas_failure}); the disc's DNAS "
                        "check did not pass. If this repeats, use a DNAS-patched image or PCSX2 cheat "
                        "(README: DNAS)."
                    )
                if any(is_dnas_hostname(n) for n in c.dns_names):
                    return (
                        "asked only for the DNAS servers and never reached our DNAS gateway on TCP "
                        f"{p('dnas')}: the DNAS service is down or off ('status'), or a firewall blocks TCP "
                        f"{p('dnas')}. Otherwise use [dns] dnas_address (a public DNAS replacement) or a "
                        "patched disc (README: DNAS)."
                    )
                return (
                    "asked DNS only for names outside the game table; the game has not looked up its server."
                )
            first = "muis" if title is not None and title.uses_muis else "mas"
            port = p(first)
            told = c.dns_answer or "our address"
            return (
                f"resolved the game's server name (answered {told}) but never connected to the "
                f"{first.upper()} on TCP {port}: a firewall on this machine is probably blocking TCP "
                f"{port}, or the console cannot reach {told} (wrong network, or [network] address / "
                "advertised_address wrong)."
            )
        if furthest == "dnas":
            if c.dnas_unknown_game:
                return (
                    f"our DNAS gateway has no recorded answer for game id {c.dnas_unknown_game}, so the "
                    "disc's DNAS check failed: please report the id; meanwhile use a DNAS-patched image or "
                    "PCSX2 "
                    "cheat, or [dns] dnas_address (README: DNAS)."
                )
            first = "muis" if title is not None and title.uses_muis else "mas"
            return (
                f"passed DNAS but never connected to the {first.upper()} on TCP {p(first)}: a firewall "
                f"blocking TCP {p(first)}, or the game's server name does not point here."
            )
        if furthest == "muis":
            port = p("mas")
            return (
                f"got the universe from the MUIS but never reached the MAS on TCP {port}: a firewall "
                f"blocking TCP {port}, or the MUIS hands out an address the console cannot reach "
                "([network] advertised_address)."
            )
        if furthest == "mas":
            return (
                "opened a MAS session but did not log in: wrong password, a ban, or an unknown account "
                "while [accounts] auto_create is off (the MAS log line says which)."
            )
        if furthest == "login":
            port = p("mls")
            return (
                f"logged in but never reached the MLS on TCP {port}: a firewall blocking TCP {port}, or "
                "the MAS hands out an address the console cannot reach ([network] advertised_address)."
            )
        if furthest == "mls":
            return "in the lobby: login and lobby work."
        if furthest == "game-created":
            return "created a game but never joined it (the MLS log shows whether JoinGame arrived)."
        if (
            furthest in (Stage.GAME_JOINED, Stage.DME_TCP)
            and title is not None
            and Quirk.OLD_DME_FORMAT in title.quirks
        ):
            return (
                f"joined a game but did not get into it: {title.name} is a pre-release build that speaks an "
                "older DME packet format than retail discs, which clank-lan does not handle yet. Use a "
                "retail disc."
            )
        if furthest == "game-joined":
            port = p("dme_tcp")
            return (
                f"joined a game but never reached the DME on TCP {port}: a firewall blocking TCP {port}, "
                "or the DME is down (see 'status')."
            )
        if furthest == "dme-tcp":
            port = p("dme_udp")
            return (
                f"connected to the DME over TCP but no UDP arrived on UDP {port}: a firewall blocking "
                f"UDP {port}, or a router in between dropping it (game traffic will lag or fail)."
            )
        return "in a game: DME TCP and UDP connected."


# --- text ------------------------------------------------------------------------------------


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def render_consoles(statuses: list[ConsoleStatus], now: float, *, dns_address: str = "") -> list[str]:
    """Three lines per console: who, which stages (with the clock time each was reached), state +
    diagnosis. Clock times, not offsets: stages can be published out of order (the lobby's and the
    DME's events), and an offset from the first one then reads as a negative time."""
    if not statuses:
        where = f" ({dns_address})" if dns_address else ""
        return [
            "no console has contacted clank-lan yet.",
            "If one is trying to connect, its DNS is not this machine: set its Primary DNS to this "
            f"machine's address{where}, or import a hosts file in PCSX2 ('clank-lan hosts-ini').",
        ]
    lines: list[str] = []
    for s in statuses:
        who = "  ".join(x for x in (s.title or "unknown title", s.account) if x)
        lines.append(f"{s.endpoint or s.ip:<21} {who}  (seen {_ago(now - s.last_seen)})")
        path = " > ".join(f"{STAGE_LABELS[m.stage]} {_clock(m.first)}" for m in s.stages)
        lines.append(f"  reached: {path or 'nothing yet'}")
        lines.append(f"  {s.state.upper()}: {s.diagnosis}")
    return lines
