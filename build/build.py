"""Build the one-file binary, then prove it works before anyone ships it.

    .venv/bin/python build/build.py             # build + check: --version, selftest, SHA256SUMS
    .venv/bin/python build/build.py --check     # check an existing build only

The checks run the frozen binary itself: ``--version`` must name this version and
``selftest`` must pass (every server on 127.0.0.1, DNS, both logins, games, NAT, Textual).
Exit status 0 only when the build and every check succeeded.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bundle  # build/bundle.py, beside this file

SPEC = Path(__file__).resolve().parent / "clank_lan.spec"
CHECK_TIMEOUT = 60.0  # a one-file binary unpacks itself first; the selftest alone stops at 15 s


def binary_path() -> Path:
    return bundle.DIST / (bundle.NAME + (".exe" if sys.platform == "win32" else ""))


def build() -> float:
    """Run PyInstaller on the spec; returns the seconds it took."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean"]
    command += ["--distpath", str(bundle.DIST), "--workpath", str(bundle.WORK), str(SPEC)]
    subprocess.run(command, check=True, cwd=bundle.ROOT)
    return time.perf_counter() - start


def check(exe: Path) -> list[str]:
    """Run the frozen binary's own checks; returns the problems found (empty: it works)."""
    from clank_lan import __version__

    problems = []
    version = _run(exe, "--version")
    if version.returncode != 0 or version.stdout.strip() != f"clank-lan {__version__}":
        problems.append(f"--version: exit {version.returncode}, printed {version.stdout.strip()!r}")
    selftest = _run(exe, "selftest")
    print(selftest.stdout, end="", flush=True)
    if selftest.returncode != 0:
        problems.append(f"selftest: exit {selftest.returncode}\n{selftest.stderr}")
    return problems


def _run(exe: Path, *args: str) -> subprocess.CompletedProcess[str]:
    start = time.perf_counter()
    done = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=CHECK_TIMEOUT, stdin=subprocess.DEVNULL
    )
    print(f"$ {exe.name} {' '.join(args)}  (exit {done.returncode}, {time.perf_counter() - start:.1f} s)")
    return done


def write_sums(exe: Path) -> Path:
    digest = hashlib.sha256(exe.read_bytes()).hexdigest()
    sums = exe.parent / "SHA256SUMS"
    sums.write_text(f"{digest}  {exe.name}\n", encoding="utf-8")
    return sums


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="do not build; check the existing binary")
    args = parser.parse_args(argv)
    exe = binary_path()
    if not args.check:
        seconds = build()
        print(f"built {exe} in {seconds:.0f} s")
    if not exe.is_file():
        print(f"no binary at {exe}", file=sys.stderr)
        return 1
    print(f"{exe.name}: {exe.stat().st_size / 1e6:.1f} MB")
    problems = check(exe)
    if problems:
        print("BINARY CHECK FAILED:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    print(f"binary check passed; {write_sums(exe)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
