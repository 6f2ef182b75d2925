"""What goes into the ``clank-lan`` binary: one place, read by ``clank_lan.spec`` and the tests.

PyInstaller follows static imports only. clank-lan imports each command's options and run modules
by name (``cli.COMMANDS``) and Textual loads its widgets lazily, so both packages are collected whole;
our package data (the RSA keys, any ``.tcss``) is collected as data files.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "clank-lan"
ENTRY = ROOT / "clank_lan" / "__main__.py"
OUT = ROOT / "build" / "out"
DIST = OUT / "dist"
WORK = OUT / "work"

#: Files the binary cannot start without (paths inside the bundle).
REQUIRED_DATA = ("clank_lan/assets/rsa_keys.json", "clank_lan/assets/dnas/us-gw/error.raw")
#: Collected whole: imported by name at run time, or lazily.
COLLECT_PACKAGES = ("clank_lan", "textual", "hypercorn", "tlslite")
#: Never wanted in the binary (test and build tools that a lazy import might drag in).
EXCLUDES = ("tkinter", "_tkinter", "pytest", "_pytest", "hypothesis", "PyInstaller", "setuptools", "pip")


def _wanted(module: str) -> bool:
    return not module.startswith("textual.demo")


def hidden_imports() -> list[str]:
    from PyInstaller.utils.hooks import collect_submodules

    found: list[str] = []
    for package in COLLECT_PACKAGES:
        found += collect_submodules(package, filter=_wanted)
    return sorted(set(found))


def data_files() -> list[tuple[str, str]]:
    """``(source, folder in the bundle)`` pairs; raises if a required file is missing."""
    from PyInstaller.utils.hooks import collect_data_files

    datas: list[tuple[str, str]] = []
    for package in COLLECT_PACKAGES:
        datas += collect_data_files(package)
    bundled = {f"{Path(dest).as_posix()}/{Path(src).name}" for src, dest in datas}
    missing = [f for f in REQUIRED_DATA if f not in bundled]
    if missing:
        raise SystemExit(f"clank_lan.spec: required data not found: {', '.join(missing)}")
    return datas


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """``"1.2.3rc1"`` -> ``(1, 2, 3, 0)``: the four numbers a Windows version resource holds."""
    match = re.match(r"\d+(?:\.\d+){0,3}", version)
    if match is None:
        raise ValueError(f"version {version!r} does not start with a number")
    parts = [int(p) for p in match.group(0).split(".")]
    if any(p > 0xFFFF for p in parts):
        raise ValueError(f"version {version!r}: each part must be at most 65535")
    return (*parts, 0, 0, 0)[:4]  # type: ignore[return-value]


def windows_version_info(version: str):
    """The VERSIONINFO resource of ``clank-lan.exe`` (PyInstaller embeds it on Windows only)."""
    from PyInstaller.utils.win32.versioninfo import (
        FixedFileInfo,
        StringFileInfo,
        StringStruct,
        StringTable,
        VarFileInfo,
        VarStruct,
        VSVersionInfo,
    )

    numbers = version_tuple(version)
    strings = {
        "CompanyName": "clank-lan",
        "FileDescription": "clank-lan: PS2 online (SCE-RT / Medius) servers for your LAN",
        "FileVersion": version,
        "InternalName": NAME,
        "LegalCopyright": "MIT License",
        "OriginalFilename": f"{NAME}.exe",
        "ProductName": "clank-lan",
        "ProductVersion": version,
    }
    return VSVersionInfo(
        ffi=FixedFileInfo(filevers=numbers, prodvers=numbers),
        kids=[
            # 0x0409 = U.S. English, 0x04B0 = 1200 = UTF-16: the pair Windows' Explorer reads
            StringFileInfo([StringTable("040904B0", [StringStruct(k, v) for k, v in strings.items()])]),
            VarFileInfo([VarStruct("Translation", [0x0409, 1200])]),
        ],
    )
