"""The DNS redirector's trio shell: UDP and TCP listeners around the pure ``redirect.answer``.

Only reads, writes, timeouts and closes happen here. Each forwarded UDP query runs in its own
task (a slow upstream never blocks answers for game names); one bad packet, a failed send or a
Windows ConnectionResetError never ends the receive loop. Hostile input is bounded: lines about
malformed queries are rate-limited per client address (a flood cannot fill the log), and DNS over
TCP holds at most ``limits.dns_tcp_per_address`` connections per address, ``MAX_TCP_CLIENTS`` in all.
"""

from __future__ import annotations

import logging
import time

import trio

from clank_lan.config import LimitSettings
from clank_lan.dns.redirect import Decision, Drop, Forward, Reply, address_for_client, answer, failure_reply
from clank_lan.dns.settings import DnsSettings
from clank_lan.dns.upstream import MAX_MESSAGE, Upstream, choose_upstream, exchange
from clank_lan.events import DnsQuery, EventBus, LogLine
from clank_lan.net.lan import detect_lan_address, list_ipv4_interfaces
from clank_lan.net.ports import PortUnavailable, bind_tcp, bind_udp
from clank_lan.ratelimit import ConnectionCounter

log = logging.getLogger("clank_lan.dns")

#: Forwarded UDP queries in flight at once; more are dropped (the client retries).
MAX_PENDING_FORWARDS = 256
#: TCP clients served at once (all addresses together); more are closed on accept.
MAX_TCP_CLIENTS = 64
#: A TCP client that sends nothing for this long is closed (RFC 7766 suggests seconds).
TCP_IDLE_TIMEOUT = 10.0
_HEX_LOG_LIMIT = 96
_ANY = "0.0.0.0"


class DnsServer:
    """State shared by the UDP and TCP loops of one redirector."""

    def __init__(
        self,
        settings: DnsSettings,
        advertised_ip: str,
        bus: EventBus | None,
        upstream: Upstream | None,
        external_ip: str = "",
        limits: LimitSettings | None = None,
    ) -> None:
        limits = LimitSettings() if limits is None else limits
        self.settings = settings
        self.advertised_ip = advertised_ip
        self.external_ip = external_ip
        self.bus = bus
        self.upstream = None if settings.offline else upstream  # set by serve_dns once chosen
        self.pending = 0
        self.tcp_clients: ConnectionCounter[str] = ConnectionCounter(
            limits.dns_tcp_per_address, MAX_TCP_CLIENTS
        )
        #: Lines about one client address (drops, refusals); a summary line replaces the excess.
        self.peer_log = limits.log_limiter()

    # --- events and logs ---------------------------------------------------------------

    def note(self, level: int, text: str) -> None:
        """A log line, also published on the bus for the front ends."""
        log.log(level, text)
        if self.bus is not None:
            self.bus.publish(
                LogLine(ts=time.time(), level=logging.getLevelName(level).lower(), source="dns", text=text)
            )

    def _event(self, client: str, name: str, qtype: str, result: str, title: str | None) -> None:
        if self.bus is not None:
            self.bus.publish(
                DnsQuery(ts=time.time(), client=client, name=name, qtype=qtype, answer=result, title=title)
            )

    def _admit(self, client: str) -> bool:
        """May a line about ``client`` be written (within its address's share of the log)?"""
        admission = self.peer_log.admit(client.rsplit(":", 1)[0], trio.current_time())
        for line in admission.summaries:
            self.note(logging.INFO, f"DNS {line}")
        return admission.allowed

    def note_peer(self, level: int, client: str, text: str) -> None:
        if self._admit(client):
            self.note(level, text)

    def bug(self, client: str, what: str) -> None:
        """An unexpected exception (a bug): its traceback, rate-limited like any line."""
        if self._admit(client):
            log.exception("%s from %s failed", what, client)

    def flush_peer_log(self) -> None:
        for line in self.peer_log.flush(trio.current_time()):
            self.note(logging.INFO, f"DNS {line}")

    def _dropped(self, client: str, reason: str, data: bytes) -> None:
        shown = data[:_HEX_LOG_LIMIT].hex(" ") + (" ..." if len(data) > _HEX_LOG_LIMIT else "")
        text = f"dropped {len(data)} bytes from {client}: {reason}; hex: {shown}"
        self.note_peer(logging.WARNING, client, text)

    # --- one query, either transport ---------------------------------------------------

    def settle(self, decision: Reply | Drop, data: bytes, client: str) -> bytes | None:
        """Log a local decision; the bytes to send back, if any."""
        if isinstance(decision, Drop):
            self._dropped(client, decision.reason, data)
            return None
        if decision.problem:
            text = f"refused a query from {client}: {decision.answer}, {decision.problem}"
            self.note_peer(logging.WARNING, client, text)
        self._event(client, decision.name, decision.qtype, decision.answer, decision.title)
        return decision.data

    def decide(self, data: bytes, client_ip: str) -> Decision:
        return answer(
            data, address_for_client(client_ip, self.advertised_ip, self.external_ip), self.settings
        )

    async def resolve(self, data: bytes, peer: tuple[str, int], *, over_tcp: bool) -> bytes | None:
        """The bytes to send back for one query (None: send nothing), forwarding inline."""
        client = _label(peer)
        decision = self.decide(data, peer[0])
        if isinstance(decision, Forward):
            return await self._forward(data, decision, client, over_tcp=over_tcp)
        return self.settle(decision, data, client)

    async def _forward(self, data: bytes, fwd: Forward, client: str, *, over_tcp: bool) -> bytes | None:
        reply = None
        if self.upstream is not None:
            reply = await exchange(data, self.upstream, self.settings.upstream_timeout, over_tcp=over_tcp)
        if reply is not None:
            self._event(client, fwd.name, fwd.qtype, "forwarded", None)
            return reply
        mode = self.settings.upstream_failure
        why = "no upstream" if self.upstream is None else f"no answer from {self.upstream}"
        self._event(client, fwd.name, fwd.qtype, f"{mode.upper()} ({why})", None)
        return failure_reply(data, mode)

    # --- UDP ---------------------------------------------------------------------------

    async def serve_udp(self, sock: trio.socket.SocketType) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                try:
                    data, address = await sock.recvfrom(MAX_MESSAGE)
                except ConnectionResetError:  # Windows: ICMP unreachable from an earlier send
                    continue
                except OSError as err:  # e.g. ENOBUFS under memory pressure; do not spin
                    self.note(logging.WARNING, f"UDP receive failed: {err}")
                    await trio.sleep(0.05)
                    continue
                try:
                    await self._udp_query(nursery, sock, data, address)
                except Exception:  # a bug must cost one query, not the DNS service
                    self.bug(_label(address), "DNS query")

    async def _udp_query(
        self, nursery: trio.Nursery, sock: trio.socket.SocketType, data: bytes, address: tuple[str, int]
    ) -> None:
        client = _label(address)
        decision = self.decide(data, address[0])
        if isinstance(decision, Forward):
            if self.pending >= MAX_PENDING_FORWARDS:
                self._event(
                    client, decision.name, decision.qtype, "dropped (too many pending forwards)", None
                )
                return
            self.pending += 1
            nursery.start_soon(self._udp_forward, sock, data, decision, address, client)
            return
        reply = self.settle(decision, data, client)
        if reply is not None:
            await self._send_udp(sock, reply, address)

    async def _send_udp(self, sock: trio.socket.SocketType, data: bytes, address: tuple[str, int]) -> None:
        try:
            await sock.sendto(data, address)
        except OSError as err:  # unreachable client, full buffers: that client's loss only
            self.note_peer(logging.INFO, _label(address), f"DNS reply to {_label(address)} not sent: {err}")

    async def _udp_forward(
        self, sock: trio.socket.SocketType, data: bytes, fwd: Forward, address: tuple[str, int], client: str
    ) -> None:
        try:
            reply = await self._forward(data, fwd, client, over_tcp=False)
            if reply is not None:
                await self._send_udp(sock, reply, address)
        except Exception:
            self.bug(client, "forwarding a query")
        finally:
            self.pending -= 1

    # --- TCP (two-byte length prefix, RFC 1035 4.2.2) ----------------------------------

    async def serve_tcp(self, listener: trio.SocketListener) -> None:
        await trio.serve_listeners(self._tcp_client, [listener])

    async def _tcp_client(self, stream: trio.SocketStream) -> None:
        async with stream:
            try:
                peer = stream.socket.getpeername()
            except OSError:  # already gone
                return
            if not self.tcp_clients.acquire(peer[0]):
                held = self.tcp_clients.held(peer[0])
                self.note_peer(
                    logging.WARNING,
                    _label(peer),
                    f"DNS over TCP: closed a connection from {_label(peer)} "
                    f"({held} open from {peer[0]}, {self.tcp_clients.held()} in all)",
                )
                return
            try:
                await self._tcp_session(stream, peer)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            except Exception:
                self.bug(_label(peer), "DNS over TCP")
            finally:
                self.tcp_clients.release(peer[0])

    async def _tcp_session(self, stream: trio.SocketStream, peer: tuple[str, int]) -> None:
        buffer = bytearray()
        while True:
            with trio.move_on_after(TCP_IDLE_TIMEOUT) as idle:
                while len(buffer) < 2 or len(buffer) < 2 + int.from_bytes(buffer[:2], "big"):
                    chunk = await stream.receive_some(MAX_MESSAGE)
                    if not chunk:
                        return
                    buffer += chunk
            if idle.cancelled_caught:
                return
            size = int.from_bytes(buffer[:2], "big")
            data, buffer = bytes(buffer[2 : 2 + size]), buffer[2 + size :]
            reply = await self.resolve(data, peer, over_tcp=True)
            if reply is None:  # a malformed message: the stream cannot be trusted any more
                return
            await stream.send_all(len(reply).to_bytes(2, "big") + reply)


def _label(peer: tuple[str, int]) -> str:
    return f"{peer[0]}:{peer[1]}"


async def serve_dns(
    settings: DnsSettings,
    bind_ip: str,
    advertised_ip: str,
    bus: EventBus | None,
    *,
    external_ip: str = "",
    limits: LimitSettings | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the redirector until cancelled; ``task_status.started(port)`` once it listens.

    ``bind_ip`` is where the appliance listens ("0.0.0.0" when its address is "auto"); the DNS
    itself listens where ``settings.bind`` says (see ``dns_bind_address``). Game names resolve to
    ``advertised_ip``, or to ``external_ip`` (when given) for clients whose address is not
    private, i.e. players coming in through the router's port forwarding. ``settings.enabled``
    is the caller's switch: this function always serves. ``limits`` defaults to the defaults.

    Raises ``PortUnavailable`` (before ``started``) when the UDP port cannot be bound. TCP is
    best effort: if its port is taken, UDP (all consoles use) keeps running and a warning says so.
    """
    limits = LimitSettings() if limits is None else limits
    lan_ip = ""
    if settings.bind == "lan" and bind_ip in ("", _ANY):
        found = detect_lan_address()
        lan_ip = found.address if found.usable else ""
    dns_ip = dns_bind_address(settings.bind, bind_ip, lan_ip)
    udp, tcp, tcp_error = await _bind_pair(dns_ip, settings.port)
    with udp:
        port = udp.getsockname()[1]
        server = DnsServer(settings, advertised_ip, bus, None, external_ip, limits)
        fallback = settings.bind == "lan" and dns_ip == _ANY
        why = " (no LAN address found)" if fallback else ""
        server.note(logging.INFO, f"DNS listening on {dns_ip}:{port}{why}")
        if tcp_error is not None:
            server.note(logging.WARNING, f"DNS over TCP disabled (UDP works): {tcp_error}")
        try:
            server.upstream, why = _pick_upstream(settings, dns_ip, port, (advertised_ip, external_ip))
            server.note(logging.INFO if server.upstream or settings.offline else logging.WARNING, why)
            async with trio.open_nursery() as nursery:
                if tcp is not None:
                    nursery.start_soon(server.serve_tcp, tcp)
                nursery.start_soon(_flush_every, server, limits.log_interval)
                task_status.started(port)
                await server.serve_udp(udp)
        finally:
            if tcp is not None:
                tcp.socket.close()


def dns_bind_address(bind: str, appliance_ip: str, lan_ip: str) -> str:
    """The address the DNS listens on, from ``[dns] bind``.

    "lan" (the default): the appliance's own address when it has one, else the detected LAN
    address. Port 53 on one address leaves 127.0.0.53:53 to systemd-resolved (and 127.0.0.1:53
    to dnsmasq or a local cache); only when no LAN address is known does it fall back to every
    address. "any": every address. Anything else is an explicit address (checked by settings).
    """
    if bind == "any":
        return _ANY
    if bind != "lan":
        return bind
    if appliance_ip not in ("", _ANY):
        return appliance_ip
    return lan_ip or _ANY


async def _flush_every(server: DnsServer, interval: float) -> None:
    """Summaries of clients that went quiet, so a flood's last window is reported too."""
    while True:
        await trio.sleep(interval)
        server.flush_peer_log()


async def _bind_pair(
    bind_ip: str, port: int
) -> tuple[trio.socket.SocketType, trio.SocketListener | None, PortUnavailable | None]:
    """UDP and TCP on the same port. Port 0 (tests): retry until both get the same number."""
    attempts_left = 5 if port == 0 else 1
    while True:
        attempts_left -= 1
        udp = await bind_udp(bind_ip, port, service="DNS")
        try:
            return udp, await bind_tcp(bind_ip, udp.getsockname()[1], service="DNS"), None
        except PortUnavailable as err:
            if attempts_left == 0:
                return udp, None, err
            udp.close()


def _pick_upstream(
    settings: DnsSettings, bind_ip: str, port: int, own: tuple[str, ...]
) -> tuple[Upstream | None, str]:
    if settings.offline:
        return None, "offline mode: names outside the table get NXDOMAIN"
    local = [i.address for i in list_ipv4_interfaces()] + [a for a in own if a]
    try:
        return choose_upstream(settings.upstream, bind_ip=bind_ip, port=port, local_addresses=local)
    except ValueError as err:
        return None, f"dns.upstream {settings.upstream!r} is not an address ({err}); not forwarding"
