"""The binary's recipe without building it: the spec run in a dry mode (PyInstaller's classes
replaced by recorders), what it collects, the Windows version resource, and the double-click
rules of ``clank_lan._frozen`` with the Windows facts injected (no Windows here)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from clank_lan import __version__, _frozen
from clank_lan.cli import COMMANDS, command_modules

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "build" / "clank_lan.spec"


def _load_bundle():
    if "bundle" in sys.modules:
        return sys.modules["bundle"]
    spec = importlib.util.spec_from_file_location("bundle", ROOT / "build" / "bundle.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bundle"] = module  # the spec's own `import bundle` finds this one
    spec.loader.exec_module(module)
    return module


bundle = _load_bundle()


class Recorder:
    """Stands in for Analysis / PYZ / EXE: keeps its arguments."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs
        self.pure, self.scripts, self.binaries, self.datas = [], [], [], kwargs.get("datas", [])


@pytest.fixture(scope="module")
def collected() -> tuple[list[str], list[tuple[str, str]]]:
    """The slow part (a subprocess walks every Textual module), done once."""
    return bundle.hidden_imports(), bundle.data_files()


def run_spec(monkeypatch, collected, distpath: Path, workpath: Path) -> dict:
    monkeypatch.setattr(bundle, "hidden_imports", lambda: list(collected[0]))
    monkeypatch.setattr(bundle, "data_files", lambda: list(collected[1]))
    namespace = {
        "SPECPATH": str(SPEC.parent),
        "DISTPATH": str(distpath),
        "workpath": str(workpath),
        "specnm": "clank_lan",
        "Analysis": Recorder,
        "PYZ": Recorder,
        "EXE": Recorder,
    }
    saved_path = list(sys.path)
    exec(compile(SPEC.read_text("utf-8"), str(SPEC), "exec"), namespace)
    assert sys.path == saved_path, "the spec must leave sys.path as it found it"
    return namespace


def test_spec_builds_one_console_exe_from_the_package_entry(monkeypatch, collected, tmp_path):
    ns = run_spec(monkeypatch, collected, tmp_path / "dist", tmp_path / "work" / "clank_lan")
    analysis, exe = ns["a"], ns["exe"]
    assert [Path(p) for p in analysis.args[0]] == [ROOT / "clank_lan" / "__main__.py"]
    assert analysis.kwargs["pathex"] == [str(ROOT)]
    assert analysis.kwargs["hiddenimports"] == collected[0]
    assert analysis.kwargs["datas"] == collected[1]
    assert exe.kwargs["name"] == "clank-lan"
    assert exe.kwargs["console"] is True and exe.kwargs["upx"] is False
    assert ns["pyz"] in exe.args and analysis.datas in exe.args and analysis.binaries in exe.args
    assert exe.kwargs["version"] is None  # the resource is Windows-only (tested below)
    assert not (tmp_path / "dist").exists()  # explicit paths are left alone


def test_spec_keeps_default_output_under_build_out(monkeypatch, collected, tmp_path):
    import PyInstaller
    from PyInstaller.config import CONF

    default_dist, default_work = tmp_path / "dist", tmp_path / "build"
    (default_work / "clank_lan").mkdir(parents=True)  # PyInstaller makes both before the spec runs
    default_dist.mkdir()
    monkeypatch.setattr(PyInstaller, "DEFAULT_DISTPATH", str(default_dist))
    monkeypatch.setattr(PyInstaller, "DEFAULT_WORKPATH", str(default_work))
    monkeypatch.setattr(bundle, "DIST", tmp_path / "out" / "dist")
    monkeypatch.setattr(bundle, "WORK", tmp_path / "out" / "work")
    for key in ("distpath", "workpath", "warnfile", "dot-file", "xref-file"):
        monkeypatch.setitem(CONF, key, None)
    run_spec(monkeypatch, collected, default_dist, default_work / "clank_lan")
    assert CONF["distpath"] == str(tmp_path / "out" / "dist")
    assert CONF["workpath"] == str(tmp_path / "out" / "work" / "clank_lan")
    assert CONF["warnfile"] == str(tmp_path / "out" / "work" / "clank_lan" / "warn-clank_lan.txt")
    assert (tmp_path / "out" / "work" / "clank_lan").is_dir()
    assert not default_dist.exists() and not (default_work / "clank_lan").exists()


def test_collected_data_holds_the_assets(collected):
    _, datas = collected
    bundled = {(Path(src).name, Path(dest).as_posix()) for src, dest in datas}
    assert ("rsa_keys.json", "clank_lan/assets") in bundled
    assert any(dest.startswith("textual") for _, dest in bundled)  # Textual's own data files
    assert all(Path(src).is_file() for src, _ in datas)


def test_missing_required_data_stops_the_build(monkeypatch):
    monkeypatch.setattr(bundle, "REQUIRED_DATA", ("clank_lan/assets/no-such-file.json",))
    with pytest.raises(SystemExit, match=r"no-such-file\.json"):
        bundle.data_files()


def test_hidden_imports_cover_every_command_and_the_lazy_widgets(collected):
    hidden = set(collected[0])
    assert command_modules() <= hidden  # imported by name in cli.main
    assert {m for options, run, _ in COMMANDS.values() for m in (options, run)} == command_modules()
    assert "clank_lan.serve_options" in hidden and "clank_lan.serve" in hidden
    assert {"clank_lan.selftest", "clank_lan._frozen", "clank_lan.engine"} <= hidden
    assert {"textual.widgets._data_table", "textual.widgets._rich_log", "textual.widgets._input"} <= hidden
    assert not any(m.startswith("textual.demo") for m in hidden)
    excluded = set(bundle.EXCLUDES)
    assert not any(m.split(".")[0] in excluded for m in hidden)


def test_every_named_clank_lan_module_imports(collected):
    """A module that fails to import here would fail inside the binary too."""
    for module in (m for m in collected[0] if m.startswith("clank_lan.") and not m.endswith("__main__")):
        importlib.import_module(module)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("0.1.0", (0, 1, 0, 0)), ("1.2.3.4", (1, 2, 3, 4)), ("2.0rc1", (2, 0, 0, 0)), ("7", (7, 0, 0, 0))],
)
def test_version_tuple(text, numbers):
    assert bundle.version_tuple(text) == numbers


@pytest.mark.parametrize("text", ["dev", "1.70000"])
def test_version_tuple_rejects(text):
    with pytest.raises(ValueError):
        bundle.version_tuple(text)


def test_windows_version_resource(monkeypatch, tmp_path):
    """Built as on Windows and read back through PyInstaller's version-file loader. Embedding
    it in an .exe happens on Windows only and is unverified here (its binary encoder uses
    native-size longs, so it cannot even be exercised off Windows)."""
    import PyInstaller.compat

    # versioninfo imports two Windows-only helpers that only its exe-patching functions use
    if importlib.util.find_spec("pefile") is None:
        monkeypatch.setitem(sys.modules, "pefile", types.ModuleType("pefile"))
    if not hasattr(PyInstaller.compat, "win32api"):
        monkeypatch.setattr(PyInstaller.compat, "win32api", None, raising=False)
    monkeypatch.delitem(sys.modules, "PyInstaller.utils.win32.versioninfo", raising=False)
    from PyInstaller.utils.win32 import versioninfo

    text_file = tmp_path / "version.txt"
    text_file.write_text(str(bundle.windows_version_info("1.2.3")), encoding="utf-8")
    info = versioninfo.load_version_info_from_text_file(str(text_file))
    assert (info.ffi.fileVersionMS, info.ffi.fileVersionLS) == ((1 << 16) | 2, 3 << 16)
    assert (info.ffi.productVersionMS, info.ffi.productVersionLS) == ((1 << 16) | 2, 3 << 16)
    table = info.kids[0].kids[0]
    assert table.name == "040904B0"
    strings = {s.name: s.val for s in table.kids}
    assert strings["ProductVersion"] == strings["FileVersion"] == "1.2.3"
    assert strings["OriginalFilename"] == "clank-lan.exe"
    assert info.kids[1].kids[0].kids == [0x0409, 1200]  # the language/code page the table names
    ours = bundle.windows_version_info(__version__).ffi
    assert (ours.fileVersionMS >> 16, ours.fileVersionMS & 0xFFFF) == bundle.version_tuple(__version__)[:2]


# --- clank_lan._frozen: double-click rules -------------------------------------------------


def test_double_click_runs_serve_only_when_frozen():
    assert _frozen.default_argv([], frozen=True) == ["serve"]
    assert _frozen.default_argv(["selftest"], frozen=True) == ["selftest"]
    assert _frozen.default_argv([], frozen=False) == []


@pytest.mark.parametrize(
    ("meipass", "expected"),
    [
        (None, False),  # not frozen
        ("/opt/clank/_internal", False),  # one-folder (PyInstaller 6 layout)
        ("/opt/clank", False),  # one-folder, contents beside the exe
        ("/tmp/_MEI123456", True),  # one-file: unpacked to a temporary folder
    ],
)
def test_is_onefile(meipass, expected):
    assert _frozen.is_onefile(meipass, "/opt/clank/clank-lan") is expected


SELF, BOOTLOADER, SHELL = 300, 200, 100


@pytest.mark.parametrize(
    ("pids", "onefile", "alone"),
    [
        ([BOOTLOADER, SELF], True, True),  # one-file, double-clicked: bootloader + us
        ([SELF], False, True),  # one-folder, double-clicked
        ([SHELL, BOOTLOADER, SELF], True, False),  # one-file started from cmd / PowerShell
        ([SHELL, SELF], False, False),  # one-folder started from a shell (the parent is the shell)
        (None, True, False),  # no console at all
        ([], False, False),
    ],
)
def test_owns_console(pids, onefile, alone):
    parent = BOOTLOADER if onefile else SHELL
    assert _frozen.owns_console(pids, SELF, parent, onefile=onefile) is alone


def test_should_pause_only_for_a_frozen_windows_binary_alone_in_its_console():
    alone = {"console_pids": [SELF], "pid": SELF, "parent_pid": SHELL, "onefile": False}
    assert _frozen.should_pause(frozen=True, platform="win32", **alone) is True
    assert _frozen.should_pause(frozen=False, platform="win32", **alone) is False
    assert _frozen.should_pause(frozen=True, platform="linux", **alone) is False
    shared = {**alone, "console_pids": [SHELL, SELF]}
    assert _frozen.should_pause(frozen=True, platform="win32", **shared) is False


@pytest.mark.skipif(sys.platform == "win32", reason="checks the non-Windows answer")
def test_no_console_list_and_no_pause_off_windows():
    assert _frozen.console_process_ids() is None
    assert _frozen._pause_wanted(True) is False


@pytest.fixture
def pauses(monkeypatch) -> list[bool]:
    """Pretend to be a double-clicked frozen binary; record each pause."""
    seen: list[bool] = []
    monkeypatch.setattr(_frozen, "is_frozen", lambda: True)
    monkeypatch.setattr(_frozen, "_pause_wanted", lambda frozen: frozen)
    monkeypatch.setattr(_frozen, "pause", lambda: seen.append(True))
    return seen


def test_run_main_passes_serve_and_does_not_pause_on_success(pauses):
    got: list[list[str]] = []
    assert _frozen.run_main(lambda argv: got.append(argv) or 0, []) == 0
    assert got == [["serve"]] and pauses == []


def test_run_main_pauses_on_a_failure_status(pauses):
    assert _frozen.run_main(lambda argv: 2, ["serve"]) == 2
    assert pauses == [True]


def test_run_main_prints_a_crash_and_pauses(pauses, capsys):
    def crash(argv):
        raise RuntimeError("port 53 exploded")

    assert _frozen.run_main(crash, ["serve"]) == 1
    assert "RuntimeError: port 53 exploded" in capsys.readouterr().err
    assert pauses == [True]


@pytest.mark.parametrize(
    ("code", "status", "paused"), [(None, 0, False), (3, 3, True), ("bad config", 1, True)]
)
def test_run_main_turns_system_exit_into_a_status(pauses, capsys, code, status, paused):
    def leave(argv):
        raise SystemExit(code)

    assert _frozen.run_main(leave, ["serve"]) == status
    assert pauses == ([True] if paused else [])
    if isinstance(code, str):
        assert code in capsys.readouterr().err


def test_run_main_never_pauses_after_ctrl_c(pauses):
    def interrupted(argv):
        raise KeyboardInterrupt

    assert _frozen.run_main(interrupted, ["serve"]) == 130
    assert pauses == []


def test_pause_waits_for_enter_and_survives_a_closed_stdin(capsys):
    reads: list[str] = []
    _frozen.pause(read=lambda: reads.append("enter"))
    assert reads == ["enter"] and "Press Enter" in capsys.readouterr().err

    def closed():
        raise EOFError

    _frozen.pause(read=closed)  # returns instead of raising
