"""The import graph of ``clank_lan`` has no cycles, counting imports inside functions.

A function-level import that dodges a cycle still ties the two modules together (each needs the
other to work), so it is counted; imports under ``if TYPE_CHECKING:`` are not, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import clank_lan

ROOT = Path(clank_lan.__file__).resolve().parent
PACKAGE = "clank_lan"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, here: str, is_package: bool) -> set[str]:
    """Every import of this module, except under ``if TYPE_CHECKING:``: ``module`` for ``import
    module``, ``module:name`` for ``from module import name``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".") if is_package else here.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.update(f"{mod}:{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``clank_lan`` modules it imports. ``from pkg import sub`` of a submodule counts
    as importing ``sub``. Importing ``pkg.sub`` also runs ``pkg/__init__.py`` first, unless the
    importer is inside ``pkg`` (then that package is already being set up): an edge to ``pkg``
    too. Without it, ``tournament.model`` -> ``db.records`` looked harmless, while Python ran
    ``db/__init__.py`` -> ``db.database`` -> ``db.tournament`` -> ``tournament.model`` on the way
    (importing ``clank_lan.web.server`` first failed on that)."""
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        targets = set()
        for imp in _imports(tree, name, path.name == "__init__.py"):
            mod, _, attr = imp.partition(":")
            if attr and f"{mod}.{attr}" in paths:
                target = f"{mod}.{attr}"  # from pkg import submodule
            elif mod in paths:
                target = mod
            else:
                continue
            targets.add(target)
            parts = target.split(".")
            for n in range(2, len(parts)):  # the packages on the way, below clank_lan itself
                package = ".".join(parts[:n])
                if not (name == package or name.startswith(package + ".")):
                    targets.add(package)
        targets.discard(name)
        targets.discard(PACKAGE)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = BLACK
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop(0)
            if colour.get(nxt, BLACK) == GREY:
                return [*path[path.index(nxt) :], nxt]
            if colour.get(nxt) == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append((nxt, sorted(graph[nxt])))
    return None


def all_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (each is at least one cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_graph_sees_function_level_imports() -> None:
    tree = ast.parse("def f():\n    from clank_lan.x import y\nif TYPE_CHECKING:\n    import clank_lan.z\n")
    assert _imports(tree, "clank_lan.a", False) == {"clank_lan.x:y"}


def test_find_cycle_reports_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the whole package was read
    cycles = all_cycles(graph)
    report = "\n".join(" -> ".join(find_cycle({m: graph[m] & set(c) for m in c}) or c) for c in cycles)
    assert not cycles, f"import cycles:\n{report}"
