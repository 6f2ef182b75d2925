"""``clank-lan serve``: run the appliance (every server, the DNS redirector, the console).

Start-up order: read the config (``serve_options.prepare``, run before this module is imported: a
bad file stops there with the key and the line), pick the address, open the database, bind every
port (a taken port marks only that service down), print exactly what to type on the PS2 or in
PCSX2, then serve until Ctrl+C / SIGTERM, when every console is told goodbye and the servers stop
within a grace period. The options live in ``serve_options`` too, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import msgspec
import trio

from clank_lan import __version__
from clank_lan.commands import Paths, run_command
from clank_lan.config import Config
from clank_lan.db.errors import DbError
from clank_lan.dns.settings import DnsSettings
from clank_lan.engine import SHUTDOWN_GRACE, Addresses, Engine
from clank_lan.logs import setup_logging, shutdown_logging
from clank_lan.net.lan import detect_lan_address
from clank_lan.net.setup import setup_text
from clank_lan.serve_options import default_data_dir, prepare
from clank_lan.tui import UI_FAILED
from clank_lan.tui.feed import LOG_CAPACITY, Inbox, LogRecordView, logs_to_inbox, terminal_level
from clank_lan.tui.host import ConsoleHost
from clank_lan.tui.spawn import failed_text, run_console
from clank_lan.tui.wire import LINK_FILE

log = logging.getLogger("clank_lan")


def resolve_addresses(config: Config, override: str | None) -> Addresses:

    wanted = override or config.network.address
    if wanted and wanted != "auto":
        bind = advertised = wanted
    else:
        lan = detect_lan_address()
        bind, advertised = "0.0.0.0", lan.address
        if not lan.usable:
            log.warning("no LAN address found: consoles cannot reach 127.0.0.1; use --address")
    if config.network.advertised_address:
        advertised = config.network.advertised_address
    return Addresses(bind=bind, advertised=advertised)


def run(args: argparse.Namespace) -> int:
    """The appliance until Ctrl+C; ``cli.main`` has already run ``prepare`` (the config file)."""
    if not hasattr(args, "settings"):  # called directly, not through cli.main
        status = prepare(args)
        if status is not None:
            return status
    config, config_path = args.settings, args.config_path
    data_dir = args.data or default_data_dir()
    level = args.log_level or config.logging.level
    log_file = setup_logging(level, data_dir / "logs", config.logging.frames)
    console_logs: Inbox[LogRecordView] = Inbox(LOG_CAPACITY)  # an operator console's Logs pane
    with logs_to_inbox(console_logs, terminal_level()):
        log.info("clank-lan %s starting%s", __version__, f"; log file {log_file}" if log_file else "")
        log.info("config: %s", config_path or "built-in defaults (no clank-lan.toml found)")
        if args.ephemeral:
            log.info("--ephemeral: the database is kept in memory only; logs go to %s", data_dir / "logs")
        paths = Paths(config=config_path, data=None if args.ephemeral else data_dir, log=log_file)
        use_tui = not args.headless and _interactive()
        return _run(
            partial(serve, config, args, data_dir, paths=paths, tui=use_tui, console_logs=console_logs)
        )


def _run(serving: Callable[[], Awaitable[int]]) -> int:
    """``serving`` under trio: its status, or what a stop or a database error means for it."""
    try:
        # UI_FAILED is an error status: a double-clicked window waits for Enter (``_frozen``)
        return trio.run(serving)
    except DbError as exc:
        print(f"clank-lan: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except BaseExceptionGroup as group:  # Ctrl+C inside a task (e.g. during start-up) is a stop too
        if group.split(KeyboardInterrupt)[1] is None:
            return 0
        raise
    finally:
        shutdown_logging()  # the frame log's writer thread flushes what is queued


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty() and sys.stdout is not None and sys.stdout.isatty()


async def serve(
    config: Config,
    args: argparse.Namespace,
    data_dir: Path | None,
    *,
    paths: Paths | None = None,
    tui: bool = False,
    console_logs: Inbox[LogRecordView] | None = None,
    task_status=trio.TASK_STATUS_IGNORED,
) -> int:
    """Run the appliance until it is shut down; ``tui`` starts the operator console on this
    terminal (its own process, see ``tui.spawn``). Returns ``UI_FAILED`` when that console failed
    and the servers then ran on without it until stopped, else 0."""

    addresses = resolve_addresses(config, args.address)
    engine = Engine(
        config,
        addresses,
        data_dir=data_dir,
        ephemeral=args.ephemeral or data_dir is None,
        dns=_dns_settings(config, args),
        paths=paths,
    )

    link_file = data_dir / LINK_FILE if data_dir is not None else None
    host = ConsoleHost(engine, link_file=link_file, logs=console_logs)
    status = 0
    # ``run`` gathers the log lines for a console from its own first line on; called alone, here
    with nullcontext() if console_logs is not None else logs_to_inbox(host.logs, terminal_level()):
        async with trio.open_nursery() as nursery:
            # Ctrl+C and SIGTERM go to a receiver before any service starts. Without one, trio
            # raises KeyboardInterrupt inside whatever task runs at that instant, and a library
            # that catches it there (hypercorn's worker ends its own serving quietly on it)
            # swallows the stop: the appliance then ran on, deaf to the operator, until killed.
            started = trio.Event()
            await nursery.start(_signals, engine, started, nursery.cancel_scope)

            async def run_engine(*, task_status=trio.TASK_STATUS_IGNORED) -> None:
                await engine.run(task_status=task_status)
                nursery.cancel_scope.cancel()  # the engine stopped: end the signal and console tasks

            async def operator_console() -> None:
                nonlocal status
                assert host.address is not None
                code = await run_console(host.address)
                if code == 0:  # the operator quit (the engine is stopping) or it saw the engine stop
                    await engine.shutdown()
                    return
                status = UI_FAILED
                log.error("the operator console ended with status %d; the servers keep running", code)
                print(failed_text(code, paths.log if paths is not None else None), flush=True)

            await nursery.start(run_engine)
            await nursery.start(host.run)
            started.set()
            if tui:
                nursery.start_soon(operator_console)
            else:
                print(setup_text(addresses.advertised, engine.port_rules()), flush=True)
                down = [s for s in engine.services.values() if not s.up]
                if down:
                    names = ", ".join(s.name.upper() for s in down)
                    print(f"\nNot running: {names} (see the messages above)", flush=True)
                if not args.headless and sys.stdin is not None and sys.stdin.isatty():
                    nursery.start_soon(_console, engine)
            task_status.started(engine)
    return status


def _dns_settings(config: Config, args: argparse.Namespace) -> DnsSettings | None:
    settings: DnsSettings = config.dns
    if args.no_dns or not settings.enabled:
        return None
    if args.dns_port is not None:
        settings = msgspec.structs.replace(settings, port=args.dns_port)
    return settings


async def _signals(
    engine: Engine,
    started: trio.Event,
    serving: trio.CancelScope,
    *,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """The first Ctrl+C or SIGTERM stops the appliance: goodbye to every console once it is up,
    or an end to its start-up (``serving``) before that. The receiver closes then: a second one
    meanwhile is trio's KeyboardInterrupt again."""
    sigs = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    with trio.open_signal_receiver(*sigs) as receiver:
        task_status.started()
        async for _ in receiver:
            break
    if started.is_set():
        log.info("shutting down (grace %g s)...", SHUTDOWN_GRACE)
        await engine.shutdown()
    else:
        log.info("stopped while starting")
        serving.cancel()


async def _console(engine) -> None:
    """A line console on stdin: the same commands as the TUI and chat."""
    print("Type 'help' for commands.", flush=True)
    while True:
        line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        if not line:
            return
        line = line.strip()
        if line in ("quit", "exit"):
            await engine.shutdown()
            return
        for out in run_command(engine, line, actor="console"):
            print(out, flush=True)
