"""The options of ``clank-lan serve`` and its config-file check, without the appliance.

Kept apart from ``clank_lan.serve`` (which imports the engine and every server, about a second of
CPU) so that ``serve --help``, a mistyped option and a bad config file are answered at once:
``cli.main`` imports this module to parse, runs ``prepare``, and only then imports ``serve``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import resources
from pathlib import Path

from clank_lan.config import ConfigError, load_config

log = logging.getLogger("clank_lan")

CONFIG_NAME = "clank-lan.toml"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="no TUI: log to stdout (for services, CI)")
    parser.add_argument(
        "--address", help="listen and advertised address (default: config, else the LAN address)"
    )
    parser.add_argument(
        "--config", type=Path, help="TOML config file (default: ./clank-lan.toml when present)"
    )
    parser.add_argument("--data", type=Path, help="data directory (database, logs); default ./data")
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep the database (accounts, clans, stats, bans) in memory only; logs still go under --data",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="console log level (default: config)",
    )
    parser.add_argument("--no-dns", action="store_true", help="do not run the DNS redirector")
    parser.add_argument("--dns-port", type=port_number, help="DNS port (default 53)")


def port_number(text: str) -> int:
    """An argparse type: a TCP/UDP port, 0-65535 (0 = any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535)")
    return value


def frozen_dir() -> Path | None:
    """The folder of the single binary (PyInstaller), or None when run from Python."""
    return Path(sys.executable).resolve().parent if getattr(sys, "frozen", False) else None


def default_data_dir() -> Path:
    """Next to the executable when frozen (PyInstaller), else ./data."""
    folder = frozen_dir()
    return folder / "clank-lan-data" if folder is not None else Path("data")


def find_config(explicit: Path | None, *, frozen_dir: Path | None) -> Path | None:
    """The config file to read: ``--config``, else ``clank-lan.toml`` in the working directory,
    else (single binary) the one beside the executable, which a first run writes from the
    commented example so a double-click user has a file to edit."""
    if explicit is not None:
        return explicit
    here = Path(CONFIG_NAME)
    if here.is_file():
        return here
    if frozen_dir is None:
        return None
    beside = frozen_dir / CONFIG_NAME
    if not beside.is_file():
        example = resources.files("clank_lan.assets").joinpath("clank-lan.example.toml").read_text("utf-8")
        try:
            beside.write_text(example, "utf-8")
        except OSError as exc:
            log.warning("could not write a config file at %s: %s", beside, exc)
            return None
        print(f"clank-lan: wrote a commented config file at {beside}; edit it and restart", flush=True)
    return beside


def prepare(args: argparse.Namespace) -> int | None:
    """Find and read the config file into ``args.config_path`` / ``args.settings``.

    Runs before the appliance is even imported, so a bad file stops ``serve`` with the key and the
    line (exit status 2, returned) before any service starts; None means go on.
    """
    args.config_path = find_config(args.config, frozen_dir=frozen_dir())
    try:
        args.settings = load_config(args.config_path)
    except ConfigError as exc:
        print(f"clank-lan: {exc}", file=sys.stderr)
        return 2
    return None
