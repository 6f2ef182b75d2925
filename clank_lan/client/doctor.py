"""``clank-lan client doctor HOST``: check a clank-lan server the way a console on this machine would.

Stages, in order: the DNS answers the title's names with HOST; each TCP port (MUIS for titles that
use it, MAS, MLS, DME) accepts a connection; the NAT service answers a 4-byte request with our
address; then a full login (MUIS, MAS, MLS), a game created and joined, and the DME's TCP and UDP
handshakes. Every stage is bounded by the timeout and prints one line: PASS/FAIL/SKIPPED, what
was checked, how long it took; a failure adds what went wrong and the fix in plain words. A
stage whose prerequisite did not pass is SKIPPED with the reason. Exit code 0 only if all pass.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import trio
from dnslib import QTYPE, RCODE, DNSHeader, DNSQuestion, DNSRecord

from clank_lan import ports
from clank_lan.client.dme_client import DmeParams, connect_dme
from clank_lan.client.lobby import ClientError, LobbyClient, Ports
from clank_lan.client.profiles import PROFILES, ClientProfile, profile, profile_for_title
from clank_lan.doctor.results import (
    Outcome,
    Passed,
    StageFailed,
    StageResult,
    describe,
    foreign_server_fix,
    is_ipv4,
    is_refused,
    login_fix,
    root_error,
    summary,
    tcp_refused_fix,
    tcp_timeout_fix,
    unreachable_fix,
)
from clank_lan.servers import nat
from clank_lan.stages import Stage
from clank_lan.titles import TITLES_BY_KEY, Quirk, Title

DEFAULT_USER = "clank-doctor"
DEFAULT_PASSWORD = "clank-doctor"
_POLL = 0.005


@dataclass(frozen=True)
class Target:
    """What to check: where, as which title, on which ports, within how long per stage."""

    host: str
    title: Title
    profile: ClientProfile | None
    dns_port: int = ports.DNS
    muis_port: int = ports.MUIS
    mas_port: int = ports.MAS
    mls_port: int = ports.MLS
    dme_port: int = ports.DME_TCP
    nat_port: int = ports.NAT
    timeout: float = 3.0
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD

    @property
    def uses_muis(self) -> bool:
        return self.profile.uses_muis if self.profile is not None else self.title.uses_muis


#: What a stage checks, for stages that never ran far enough to say it with addresses.
_STAGE_WHAT = {
    "address": "resolve the server's name",
    "dns": "the DNS answers the title's names",
    "tcp-muis": "TCP MUIS port accepts a connection",
    "tcp-mas": "TCP MAS port accepts a connection",
    "tcp-mls": "TCP MLS port accepts a connection",
    "tcp-dme": "TCP DME port accepts a connection",
    "nat": "NAT answers with our address",
    "muis": "MUIS tells where the MAS is",
    "login": "log in (MAS, then MLS)",
    "game-created": "create a game",
    "game-joined": "join it (JoinGame, up to the DME hand-off)",
    "dme-tcp": "DME TCP handshake with the address JoinGame gave",
    "dme-udp": "DME aux-UDP connect and CONNECT_COMPLETE",
}


def resolve_title(name: str) -> tuple[Title, ClientProfile | None]:
    """A client profile key ("uya", "dl"...) or a title key ("jakx-ntsc") -> title and profile."""
    try:
        prof = profile(name)
    except ValueError:
        prof = None
    if prof is not None:
        return prof.title, prof
    title = TITLES_BY_KEY.get(name.lower())
    if title is None:
        choices = ", ".join([*PROFILES, *TITLES_BY_KEY])
        raise ValueError(f"unknown title {name!r}; choose one of {choices}")
    return title, profile_for_title(title)


def target_from_args(args: argparse.Namespace) -> Target:
    """The ``clank-lan client doctor`` options (``--user``/``--password`` when the parser has them)."""
    if not args.timeout > 0:
        raise ValueError(f"--timeout must be more than 0 seconds, not {args.timeout:g}")
    title, prof = resolve_title(args.title)
    return Target(
        host=args.host,
        title=title,
        profile=prof,
        dns_port=args.dns_port,
        muis_port=args.muis_port,
        mas_port=args.mas_port,
        mls_port=args.mls_port,
        dme_port=args.dme_port,
        nat_port=args.nat_port,
        timeout=args.timeout,
        user=getattr(args, "user", None) or DEFAULT_USER,
        password=getattr(args, "password", None) or DEFAULT_PASSWORD,
    )


# --- the doctor -------------------------------------------------------------------------------


@dataclass
class Doctor:
    target: Target
    out: Callable[[str], None] = print
    results: list[StageResult] = field(default_factory=list)
    host_ip: str = ""
    whats: dict[str, str] = field(default_factory=dict)  # stage -> what it checks, once known

    # bookkeeping ---------------------------------------------------------------------------
    def result(self, stage: str) -> StageResult | None:
        return next((r for r in self.results if r.stage == stage), None)

    def _record(self, r: StageResult) -> StageResult:
        self.results.append(r)
        for line in r.lines():
            self.out(line)
        return r

    def _blocked(self, needs: Sequence[str]) -> str:
        for dep in needs:
            r = self.result(dep)
            if r is None or r.outcome is not Outcome.PASS:
                state = (
                    "was not run" if r is None else ("failed" if r.outcome is Outcome.FAIL else "was skipped")
                )
                return f"needs {dep}, which {state}"
        return ""

    async def _run(
        self,
        stage: str,
        what: str,
        body: Callable[[], Awaitable[Passed]],
        *,
        needs: Sequence[str] = (),
        on_timeout: tuple[str, str] = ("", ""),
        explain: Callable[[BaseException], tuple[str, str]] | None = None,
    ) -> Passed | None:
        """Run one stage within the timeout; record and print its result."""
        self.whats[stage] = what
        reason = self._blocked(needs)
        if reason:
            self._record(StageResult(stage, Outcome.SKIPPED, what, detail=reason))
            return None
        start = time.perf_counter()
        passed: Passed | None = None
        failure: tuple[str, str] | None = None
        try:
            with trio.move_on_after(self.target.timeout) as scope:
                passed = await body()
            if scope.cancelled_caught:
                detail, fix = on_timeout
                failure = (detail or f"no answer within {self.target.timeout:g} s", fix)
        except StageFailed as exc:
            failure = (exc.detail, exc.fix)
        except Exception as exc:
            failure = self._explain(exc, explain)
        took = time.perf_counter() - start
        if failure is not None:
            self._record(StageResult(stage, Outcome.FAIL, what, took, failure[0], failure[1]))
            return None
        assert passed is not None
        self._record(StageResult(stage, Outcome.PASS, what, took, passed.detail, note=passed.note))
        return passed

    def _explain(
        self, exc: BaseException, explain: Callable[[BaseException], tuple[str, str]] | None
    ) -> tuple[str, str]:
        leaf = root_error(exc)
        if isinstance(leaf, StageFailed):
            return leaf.detail, leaf.fix
        if explain is not None:
            return explain(leaf)
        if isinstance(leaf, trio.TooSlowError):
            return f"no answer within {self.target.timeout:g} s", ""
        return describe(leaf), ""

    def _fail_unrecorded(self, exc: BaseException, stage: str) -> None:
        """An error escaped a client's background task while ``stage`` ran."""
        if stage and self.result(stage) is None:
            detail, fix = self._explain(exc, None)
            self._record(StageResult(stage, Outcome.FAIL, self._what(stage), None, detail, fix))

    def _what(self, stage: str) -> str:
        return self.whats.get(stage) or _STAGE_WHAT.get(stage, stage)

    # the whole run -------------------------------------------------------------------------
    def plan(self) -> list[str]:
        """The checks in order: a console's stages (``stages.Stage``, named as the tracker names
        them) and the checks only the doctor makes (address, TCP ports, NAT)."""
        t = self.target
        stages = [] if is_ipv4(t.host) else ["address"]
        stages += [Stage.DNS]
        stages += ["tcp-muis"] if t.uses_muis else []
        stages += ["tcp-mas", "tcp-mls", "tcp-dme", "nat"]
        if t.profile is not None:
            stages += [Stage.MUIS] if t.uses_muis else []
            stages += [Stage.LOGIN, Stage.GAME_CREATED, Stage.GAME_JOINED, Stage.DME_TCP, Stage.DME_UDP]
        return [str(s) for s in stages]

    async def run(self) -> list[StageResult]:
        t = self.target
        how = f"as {t.profile.key}" if t.profile else "(DNS, ports and NAT only)"
        self.out(f"clank-lan doctor: {t.host}, title {t.title.key} {how}, timeout {t.timeout:g} s per stage")
        if t.profile is None:
            self.out(
                f"  no headless client for {t.title.key}: the login stages need one of {', '.join(PROFILES)}"
            )
        if is_ipv4(t.host):
            self.host_ip = t.host
        else:
            ip = await self._run(
                "address", f"resolve {t.host}", self._resolve_host, on_timeout=("name lookup timed out", "")
            )
            if ip is None:
                self._skip_rest()
                return self.results
            self.host_ip = ip.value
        await self._dns()
        if t.uses_muis:
            await self._tcp("tcp-muis", "MUIS", t.muis_port, "--muis-port")
        await self._tcp("tcp-mas", "MAS", t.mas_port, "--mas-port")
        await self._tcp("tcp-mls", "MLS", t.mls_port, "--mls-port")
        await self._tcp("tcp-dme", "DME", t.dme_port, "--dme-port")
        await self._nat()
        if t.profile is not None:
            await self._lobby(t.profile)
        self._skip_rest()
        return self.results

    def _skip_rest(self) -> None:
        """Stages an escaped error kept from running: skipped, naming the failure before them."""
        last_failed = ""
        for stage in self.plan():
            r = self.result(stage)
            if r is not None:
                last_failed = stage if r.outcome is Outcome.FAIL else last_failed
                continue
            reason = f"not run: {last_failed} failed before it" if last_failed else "not run"
            self._record(StageResult(stage, Outcome.SKIPPED, self._what(stage), detail=reason))

    # address -------------------------------------------------------------------------------
    async def _resolve_host(self) -> Passed:
        host = self.target.host
        try:
            infos = await trio.socket.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise StageFailed(
                f"cannot resolve {host!r}: {exc}", "give the server's IPv4 address, e.g. 192.168.1.50"
            ) from None
        ip = infos[0][4][0]
        return Passed(f"{host} is {ip}", value=ip)

    # DNS -----------------------------------------------------------------------------------
    async def _dns(self) -> None:
        t = self.target
        names = t.title.hostnames
        what = (
            f"DNS {self.host_ip}:{t.dns_port}/udp answers {len(names)} {t.title.key} "
            f"name(s) with {self.host_ip}"
        )
        await self._run(
            "dns",
            what,
            lambda: self._dns_body(names),
            on_timeout=(
                f"no DNS answer within {t.timeout:g} s",
                f"is clank-lan running with its DNS enabled ([dns] enabled = true)? A firewall may block UDP "
                f"{t.dns_port} on {self.host_ip} (Linux: sudo ufw allow {t.dns_port}/udp). PCSX2 users can "
                "skip the DNS with a hosts file: clank-lan hosts-ini.",
            ),
        )

    async def _dns_body(self, names: Sequence[str]) -> Passed:
        t = self.target
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            await sock.connect((self.host_ip, t.dns_port))
            answers = []
            for i, name in enumerate(names):
                qid = (secrets.randbits(16) + i) & 0xFFFF
                query = DNSRecord(DNSHeader(id=qid, rd=1), q=DNSQuestion(name, QTYPE.A)).pack()
                reply = await self._dns_exchange(sock, query, qid)
                got = [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]
                if reply.header.rcode != RCODE.NOERROR or not got:
                    rcode = RCODE.get(reply.header.rcode)
                    raise StageFailed(
                        f"{name}: answered {rcode} with no address",
                        f"the DNS server at {self.host_ip}:{t.dns_port} is not clank-lan's (another DNS "
                        "server holds the port?), or [dns] settings leave this title's names out.",
                    )
                if got[0] != self.host_ip:
                    raise StageFailed(
                        f"{name} -> {got[0]}, not {self.host_ip}",
                        f"consoles would connect to {got[0]}. If that is another address of the same server, "
                        "run the doctor against it; otherwise set [network] address (or advertised_address "
                        f"for players on the internet) to {self.host_ip}.",
                    )
                answers.append(f"{name} -> {got[0]}")
        note = ""
        if Quirk.DNAS_PATCH_NEEDED in t.title.quirks:
            note = (
                f"{t.title.name} discs also need a way past DNAS before they reach the server "
                "(a patched image or a PCSX2 patch; README: DNAS)"
            )
        return Passed(answers[0] + (f" (+{len(answers) - 1} more)" if len(answers) > 1 else ""), note=note)

    async def _dns_exchange(self, sock: trio.socket.SocketType, query: bytes, qid: int) -> DNSRecord:
        """Send ``query`` (again after a third of the timeout) until its answer arrives."""
        t = self.target
        while True:
            try:
                await sock.send(query)
                with trio.move_on_after(t.timeout / 3):
                    while True:
                        data = await sock.recv(4096)
                        try:
                            reply = DNSRecord.parse(data)
                        except Exception:
                            continue
                        if reply.header.id == qid:
                            return reply
            except (ConnectionRefusedError, ConnectionResetError):  # ICMP unreachable (reset: Windows)
                raise StageFailed(
                    f"nothing listens on UDP {t.dns_port} at {self.host_ip} (port unreachable)",
                    "start clank-lan with the DNS enabled. If it reported port 53 as taken, stop the program "
                    "holding it (systemd-resolved, dnsmasq, Windows Internet Connection Sharing) or use a "
                    "hosts file in PCSX2 ('clank-lan hosts-ini'). If its DNS runs on another port, pass "
                    "--dns-port.",
                ) from None

    # TCP ports -----------------------------------------------------------------------------
    async def _tcp(self, stage: str, service: str, port: int, option: str) -> None:
        host = self.host_ip

        async def body() -> Passed:
            sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            with sock:
                await sock.connect((host, port))
            return Passed()

        def explain(exc: BaseException) -> tuple[str, str]:
            if is_refused(exc):
                return f"connection refused: nothing listens on TCP {port}", tcp_refused_fix(
                    service, port, option
                )
            if isinstance(exc, OSError):
                return describe(exc), unreachable_fix(host)
            return describe(exc), ""

        await self._run(
            stage,
            f"TCP {host}:{port} ({service}) accepts a connection",
            body,
            on_timeout=(f"no answer within {self.target.timeout:g} s", tcp_timeout_fix(host, port)),
            explain=explain,
        )

    # NAT -----------------------------------------------------------------------------------
    async def _nat(self) -> None:
        t = self.target
        host = self.host_ip

        async def body() -> Passed:
            sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with sock:
                await sock.connect((host, t.nat_port))
                ours = sock.getsockname()[:2]
                while True:
                    await sock.send(nat.UYA_REQUEST)
                    with trio.move_on_after(t.timeout / 3):
                        data = await sock.recv(2048)
                        seen = nat.decode_reply(data)
                        if seen is None:
                            raise StageFailed(
                                f"answered {len(data)} bytes ({data[:16].hex(' ')}), not the 6-byte address",
                                f"something other than clank-lan's NAT service holds UDP {t.nat_port} on "
                                "the server (another Medius server?).",
                            )
                        if seen == ours:
                            return Passed(f"the server sees us as {seen[0]}:{seen[1]}")
                        return Passed(
                            f"the server sees us as {seen[0]}:{seen[1]}",
                            note=f"we are {ours[0]}:{ours[1]} here: a NAT router is in between, as for "
                            "players on the internet",
                        )

        def explain(exc: BaseException) -> tuple[str, str]:
            if is_refused(exc) or isinstance(exc, ConnectionResetError):  # ICMP unreachable
                return (
                    f"nothing listens on UDP {t.nat_port} at {host} (port unreachable)",
                    f"is clank-lan running? 'status' shows whether NAT is up; if it is DOWN, another program "
                    f"holds UDP {t.nat_port}. If clank-lan uses another port, pass --nat-port.",
                )
            return describe(exc), unreachable_fix(host) if isinstance(exc, OSError) else ""

        await self._run(
            "nat",
            f"NAT {host}:{t.nat_port}/udp answers a 4-byte request with our address",
            body,
            on_timeout=(
                f"no 6-byte answer within {t.timeout:g} s",
                f"is clank-lan running ('status' shows NAT)? A firewall may block UDP {t.nat_port} "
                f"(Linux: sudo ufw allow {t.nat_port}/udp).",
            ),
            explain=explain,
        )

    # login, game, DME ------------------------------------------------------------------------
    async def _lobby(self, prof: ClientProfile) -> None:
        t = self.target
        ports = Ports(muis=t.muis_port, mas=t.mas_port, mls=t.mls_port)
        current = ""
        try:
            async with LobbyClient.open(self.host_ip, prof, ports) as c:
                if t.uses_muis:
                    current = "muis"
                    await self._muis(c)
                current = "login"
                await self._login(c)
                current = "game-created"
                created = await self._run(
                    "game-created",
                    "create a game",
                    lambda: self._create(c),
                    needs=("login",),
                    explain=self._game_explain,
                )
                current = "game-joined"
                joined = await self._run(
                    "game-joined",
                    "join it (JoinGame, up to the DME hand-off)",
                    lambda: self._join(c, created.value if created else 0),
                    needs=("game-created",),
                    explain=self._game_explain,
                )
                current = "dme-tcp"
                await self._dme(prof, joined.value if joined else None)
        except Exception as exc:  # from a client's background task, or while closing
            self._fail_unrecorded(exc, current)

    async def _muis(self, c: LobbyClient) -> None:
        t = self.target

        async def body() -> Passed:
            mas_host, mas_port = await c.universe()
            notes = []
            if mas_host and mas_host != self.host_ip:
                notes.append(
                    f"consoles are sent to {mas_host}, not {self.host_ip} ([network] advertised_address)"
                )
            if mas_port and mas_port != t.mas_port:
                notes.append(f"the MAS is on port {mas_port}, not {t.mas_port}")
            return Passed(f"MAS at {mas_host}:{mas_port}", note="; ".join(notes))

        await self._run(
            "muis",
            f"MUIS {self.host_ip}:{t.muis_port} tells where the MAS is",
            body,
            needs=("tcp-muis",),
            explain=lambda e: self._lobby_explain(e, "MUIS", t.muis_port),
        )

    async def _login(self, c: LobbyClient) -> Passed | None:
        t = self.target
        needs = ("tcp-mas", "muis") if t.uses_muis else ("tcp-mas",)
        via = "MUIS, MAS, then MLS" if t.uses_muis else "MAS, then MLS"

        async def body() -> Passed:
            info = await c.login(t.user, t.password, register=True)
            note = ""
            if info.mls_ip != self.host_ip:
                note = f"the MAS sends consoles to the MLS at {info.mls_ip}, not {self.host_ip}"
            return Passed(f"account {info.account_id}, MLS at {info.mls_ip}:{info.mls_port}", note=note)

        def explain(exc: BaseException) -> tuple[str, str]:
            info = c.login_info
            if info is None:
                return self._lobby_explain(exc, "MAS", t.mas_port)
            where = f"{info.mls_ip}:{info.mls_port}"
            if is_refused(exc):
                return (
                    f"the MAS login worked, but the MLS at {where} refused the connection",
                    f"the MLS is not running on the server (see 'status'; another program may hold TCP "
                    f"{info.mls_port}), or {info.mls_ip} is not this server from here: set [network] "
                    "advertised_address.",
                )
            detail, fix = self._lobby_explain(exc, "MLS", info.mls_port)
            return f"the MAS login worked, but the MLS at {where} failed: {detail}", fix

        return await self._run(
            "login",
            f"log in as {t.user} ({via})",
            body,
            needs=needs,
            on_timeout=(
                f"the login did not finish within {t.timeout:g} s",
                "the server accepted the connections but answered too slowly or not at all; see its log.",
            ),
            explain=explain,
        )

    def _lobby_explain(self, exc: BaseException, service: str, port: int) -> tuple[str, str]:
        text = describe(exc)
        if is_refused(exc):
            return f"{service} at {self.host_ip}:{port} refused the connection", tcp_refused_fix(
                service, port, f"--{service.lower()}-port"
            )
        if isinstance(exc, OSError):
            return text, unreachable_fix(self.host_ip)
        if isinstance(exc, ClientError):
            if "RT handshake" in text:
                return text, foreign_server_fix(service, self.host_ip, port)
            return text, login_fix(text, self.target.user)
        if isinstance(exc, trio.TooSlowError):
            return f"{service} did not answer in time", "see the server's log."
        return text, "see the server's log; this looks like a protocol problem worth reporting."

    @staticmethod
    def _game_explain(exc: BaseException) -> tuple[str, str]:
        text = describe(exc)
        if "TRANSACTION_TIMED_OUT" in text:
            return text, "the server's DME is not running: its 'status' shows DME_TCP/DME_UDP and why."
        return text, "see the server's log (the MLS line for this game says why it refused)."

    async def _create(self, c: LobbyClient) -> Passed:
        name = f"doctor {secrets.token_hex(3)}"
        game_id = await c.create_game(name, max_players=2)
        return Passed(f"game {game_id} {name!r}", value=game_id)

    async def _join(self, c: LobbyClient, game_id: int) -> Passed:
        join = await c.join_game(game_id)
        note = ""
        if join.dme_ip != self.host_ip:
            note = (
                f"consoles are sent to the DME at {join.dme_ip}, not {self.host_ip} "
                "([network] advertised_address)"
            )
        return Passed(f"DME at {join.dme_ip}:{join.dme_port}, world {join.world_id}", value=join, note=note)

    async def _dme(self, prof: ClientProfile, join) -> None:
        t = self.target
        tcp_what = _STAGE_WHAT["dme-tcp"]
        udp_what = _STAGE_WHAT["dme-udp"]
        if join is None:
            await self._run("dme-tcp", tcp_what, self._never, needs=("game-joined",))
            await self._run("dme-udp", udp_what, self._never, needs=("dme-tcp",))
            return
        tcp_what = self.whats["dme-tcp"] = f"DME TCP handshake at {join.dme_ip}:{join.dme_port}"
        self.whats["dme-udp"] = udp_what
        params = DmeParams(
            host=join.dme_ip,
            tcp_port=join.dme_port,
            world_id=join.world_id,
            access_key=join.access_key,
            session_key=join.session_key,
            version=prof.version,
            encrypt=True,
            app_id=prof.app_id,
        )
        stage = "dme-tcp"
        start = time.perf_counter()
        try:
            async with connect_dme(params, timeout=t.timeout, wait_joined=False) as dc:
                with trio.move_on_after(t.timeout):
                    while dc.core.accept is None and dc.closed_reason is None:
                        await trio.sleep(_POLL)
                took = time.perf_counter() - start
                if dc.core.accept is None:
                    why = dc.closed_reason or f"no CONNECT_ACCEPT_TCP within {t.timeout:g} s"
                    self._record(
                        StageResult(
                            stage,
                            Outcome.FAIL,
                            tcp_what,
                            took,
                            f"the DME did not accept us: {why}",
                            "see the server's DME log lines for this world (access key, world id, version).",
                        )
                    )
                    return
                self._record(
                    StageResult(
                        stage, Outcome.PASS, tcp_what, took, f"player index {dc.core.accept.player_id}"
                    )
                )
                stage = "dme-udp"
                start = time.perf_counter()
                with trio.move_on_after(t.timeout):
                    await dc.joined.wait()
                took = time.perf_counter() - start
                udp = dc.core.udp_server
                if dc.join_info is not None:
                    self._record(
                        StageResult(
                            stage,
                            Outcome.PASS,
                            udp_what,
                            took,
                            f"UDP {udp[0] if udp else '?'}:{udp[1] if udp else '?'}, in the world as "
                            f"player {dc.join_info.index}",
                        )
                    )
                    return
                self._record(StageResult(stage, Outcome.FAIL, udp_what, took, *self._udp_failure(dc)))
        except Exception as exc:
            leaf = root_error(exc)
            detail, fix = describe(leaf), ""
            if is_refused(leaf):
                detail = f"the DME at {join.dme_ip}:{join.dme_port} refused the connection"
                fix = (
                    "the DME is not running (see 'status'), or JoinGame announced an address that is not "
                    "this server from here: set [network] advertised_address."
                )
            elif isinstance(leaf, trio.TooSlowError):
                detail = f"no TCP connection to {join.dme_ip}:{join.dme_port} within {t.timeout:g} s"
                fix = tcp_timeout_fix(join.dme_ip, join.dme_port)
            if self.result(stage) is None:
                self._record(
                    StageResult(
                        stage,
                        Outcome.FAIL,
                        tcp_what if stage == "dme-tcp" else udp_what,
                        time.perf_counter() - start,
                        detail,
                        fix,
                    )
                )

        if self.result("dme-udp") is None:
            await self._run("dme-udp", udp_what, self._never, needs=("dme-tcp",))

    def _udp_failure(self, dc) -> tuple[str, str]:
        udp = dc.core.udp_server
        if dc.closed_reason:
            return f"the DME closed the connection: {dc.closed_reason}", "see the server's DME log."
        if udp is None:
            return "the DME never told us its UDP port (SERVER_INFO_AUX_UDP)", "see the server's DME log."
        port = udp[1]
        if dc.core.udp_accept is None:
            return (
                f"no answer from the DME's UDP port {udp[0]}:{port}",
                f"a firewall is probably blocking UDP {port} on the server (Linux: sudo ufw allow "
                f"{port}/udp), or a router in between drops it.",
            )
        return "the DME answered over UDP but never sent CONNECT_COMPLETE", "see the server's DME log."

    @staticmethod
    async def _never() -> Passed:
        raise AssertionError("a skipped stage ran")


async def diagnose(target: Target, *, out: Callable[[str], None] = print) -> list[StageResult]:
    """Run every stage against ``target``; the results in order (also printed through ``out``)."""
    doctor = Doctor(target, out)
    return await doctor.run()


async def run_doctor(args: argparse.Namespace, *, out: Callable[[str], None] | None = None) -> int:
    """``clank-lan client doctor``: 0 when every stage passes, 1 otherwise."""
    emit = out or (lambda line: print(line, flush=True))
    try:
        target = target_from_args(args)
    except ValueError as exc:
        emit(f"clank-lan client doctor: {exc}")
        return 1
    results = await diagnose(target, out=emit)
    emit(summary(results, target.host))
    return 0 if all(r.outcome is Outcome.PASS for r in results) else 1
