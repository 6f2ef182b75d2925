"""Command line entry point: ``clank-lan <command> ...``.

Each command has an options module exposing ``configure(parser)`` (and optionally
``prepare(args) -> int | None``, a check run before the command's code is imported) and a run
module exposing ``run(args) -> int``; often both are one module. A heavy command (``serve``
imports the whole appliance) keeps its options apart, so ``--help``, a mistyped option or a bad
config file never pay for the import. Modules are imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from clank_lan import __version__

#: command name -> (options module, run module, one-line help). The one place a command is registered.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": (
        "clank_lan.serve_options",
        "clank_lan.serve",
        "run the appliance (every server, DNS, console)",
    ),
    "attach": (
        "clank_lan.tui.attach",
        "clank_lan.tui.attach",
        "the operator console of the appliance running on this machine",
    ),
    "client": (
        "clank_lan.client.cli",
        "clank_lan.client.cli",
        "headless client: log in, chat, create/join games, bots, doctor",
    ),
    "dissect": (
        "clank_lan.dissect.cli",
        "clank_lan.dissect.cli",
        "decode a pcap/pcapng capture of SCE-RT/Medius traffic",
    ),
    "hosts-ini": (
        "clank_lan.dns.hosts_cli",
        "clank_lan.dns.hosts_cli",
        "write a PCSX2 DNS hosts file pointing the game names here",
    ),
    "selftest": (
        "clank_lan.selftest",
        "clank_lan.selftest",
        "start every server on 127.0.0.1 and check that each answers",
    ),
}


def command_modules() -> set[str]:
    """Every module ``main`` imports by name (what a frozen build must carry)."""
    return {module for options, run, _ in COMMANDS.values() for module in (options, run)}


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the options of command ``load`` (only its options module is imported)."""
    parser = argparse.ArgumentParser(
        prog="clank-lan",
        description="clank-lan: play PlayStation 2 online games (SCE-RT / Medius) on your LAN.",
    )
    parser.add_argument("--version", action="version", version=f"clank-lan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (options, _, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == load:
            importlib.import_module(options).configure(p)
    return parser


def _prepare(options: ModuleType, args: argparse.Namespace) -> int | None:
    prepare = getattr(options, "prepare", None)
    return None if prepare is None else prepare(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    options, run, _ = COMMANDS[args.command]
    status = _prepare(importlib.import_module(options), args)
    if status is not None:
        return status
    return int(importlib.import_module(run).run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
