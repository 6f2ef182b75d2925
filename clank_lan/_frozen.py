"""The double-click experience of the frozen (PyInstaller) binary.

Double-clicking ``clank-lan.exe`` gives no arguments, so the binary runs the appliance
(``serve``). Windows opens a console for it and closes that console the moment the process
exits, taking any error message with it; so when the binary owns its console (nobody typed the
command in a shell), a failed run waits for Enter. Everywhere else both rules are no-ops.

The decisions are pure functions over injected facts; only ``console_process_ids`` calls Windows.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_COMMAND = "serve"
PAUSE_PROMPT = "\nclank-lan stopped with an error (above). Press Enter to close this window."


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def default_argv(argv: Sequence[str], *, frozen: bool) -> list[str]:
    """A frozen binary started with no arguments (a double-click) runs ``serve``."""
    return [DEFAULT_COMMAND] if frozen and not argv else list(argv)


def is_onefile(meipass: str | None, executable: str) -> bool:
    """Whether PyInstaller unpacked us into a temporary folder, i.e. a one-file build.

    A one-folder build keeps its files beside (or below) the executable. A one-file build
    unpacks into a temporary ``_MEI*`` folder and, on Windows, runs as two processes sharing
    the console: the bootloader (our parent) and the Python child (us).
    """
    if not meipass:
        return False
    bundle, home = Path(meipass).resolve(), Path(executable).resolve().parent
    return bundle != home and home not in bundle.parents


def owns_console(console_pids: Sequence[int] | None, pid: int, parent_pid: int, *, onefile: bool) -> bool:
    """True when no other program (a shell: cmd, PowerShell, a terminal) shares our console.

    ``console_pids`` is what GetConsoleProcessList returned (None: no console / not Windows).
    A one-file build's own bootloader parent does not count as someone else.
    """
    if not console_pids:
        return False
    ours = {pid, parent_pid} if onefile else {pid}
    return set(console_pids) <= ours


def console_process_ids() -> list[int] | None:
    """The processes attached to our console (Windows only; None elsewhere or on failure)."""
    if sys.platform != "win32":
        return None
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    get_list = kernel32.GetConsoleProcessList
    get_list.argtypes = (ctypes.POINTER(wintypes.DWORD), wintypes.DWORD)
    get_list.restype = wintypes.DWORD
    size = 8
    for _ in range(4):  # the list can grow between calls; the answer says how big it is
        buffer = (wintypes.DWORD * size)()
        count = get_list(buffer, size)
        if count == 0:
            return None
        if count <= size:
            return [int(p) for p in buffer[:count]]
        size = count + 4
    return None


def should_pause(
    *,
    frozen: bool,
    platform: str,
    console_pids: Sequence[int] | None,
    pid: int,
    parent_pid: int,
    onefile: bool,
) -> bool:
    """Pause before exiting after an error: only a frozen Windows binary alone in its console."""
    if not frozen or platform != "win32":
        return False
    return owns_console(console_pids, pid, parent_pid, onefile=onefile)


def _exit_code(exc: SystemExit) -> int:
    """The process exit status ``SystemExit`` stands for (a text is printed, as Python does)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run_main(main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """Run ``cli.main`` with the frozen-binary rules; returns the exit status.

    Any error (a non-zero status or an uncaught exception, whose traceback is printed) pauses
    for Enter when ``should_pause`` says the window would otherwise vanish. Ctrl+C never pauses.
    """
    frozen = is_frozen()
    args = default_argv(sys.argv[1:] if argv is None else argv, frozen=frozen)
    try:
        code = int(main(args) or 0)
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        code = 1
    if code != 0 and _pause_wanted(frozen):
        pause()
    return code


def _pause_wanted(frozen: bool) -> bool:
    return should_pause(
        frozen=frozen,
        platform=sys.platform,
        console_pids=console_process_ids() if frozen else None,
        pid=os.getpid(),
        parent_pid=os.getppid(),
        onefile=is_onefile(getattr(sys, "_MEIPASS", None), sys.executable),
    )


def pause(prompt: str = PAUSE_PROMPT, read: Callable[[], object] = input) -> None:
    """Show ``prompt`` and wait for Enter (returns at once if stdin is closed)."""
    print(prompt, file=sys.stderr, flush=True)
    try:
        read()
    except (EOFError, OSError, KeyboardInterrupt):
        pass
