"""The shape of the house (issue 16): no import cycle among aerodf's modules, counting
imports inside functions, and no private name imported from another module.

Imports under ``if TYPE_CHECKING:`` are not counted: they never run.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "aerodf"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _runtime_imports(tree: ast.AST):
    """Import nodes outside ``if TYPE_CHECKING:`` blocks."""
    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for alt in child.orelse:
                    yield from walk_one(alt)
                continue
            yield from walk_one(child)

    def walk_one(node):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from walk(node)

    yield from walk(tree)


def _is_extension(package: str, name: str) -> bool:
    """A package's compiled extension module (``aerodf/wire/_kernel.c``): private by name,
    imported by its one wrapper."""
    return (ROOT.parent.joinpath(*package.split(".")) / f"{name}.c").exists()


def _graph():
    mods = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    private: list[tuple[str, str, str]] = []
    for cur, path in mods.items():
        pkg = cur if path.name == "__init__.py" else cur.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            else:
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [((f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod), a.name) for a in node.names]
            for target, name in targets:
                if target in mods and target != cur:
                    edges[cur].add(target)
                    if name and name.startswith("_") and not name.startswith("__") and not target.endswith(name) \
                            and not _is_extension(target, name):
                        private.append((cur, target, name))
    return mods, edges, private


def _cycles(nodes, edges) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
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

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_modules():
    mods, edges, _ = _graph()
    assert _cycles(mods, edges) == []


def test_no_import_cycle_between_subpackages():
    # wire/ depends on protocol/ and the decoders, never on transport/ (and so on)
    mods, edges, _ = _graph()
    def pkg(m: str) -> str:
        parts = m.split(".")
        return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and (ROOT / parts[1]).is_dir()) else "aerodf"
    pedges: dict[str, set[str]] = defaultdict(set)
    for a, targets in edges.items():
        for b in targets:
            pa_, pb = pkg(a), pkg(b)
            if pa_ != pb and "aerodf" not in (pa_, pb):
                pedges[pa_].add(pb)
    assert _cycles({pkg(m) for m in mods}, pedges) == []


def test_no_private_name_imported_across_modules():
    _, _, private = _graph()
    assert private == []


def test_the_checker_sees_cycles_and_private_imports(tmp_path):
    # the checks above must be able to fail
    edges = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert _cycles(["a", "b", "c"], edges) == [["a", "b"]]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\ndef f():\n    from .y import _z\n")
    names = [n.names[0].name for n in _runtime_imports(tree)]
    assert names == ["TYPE_CHECKING", "_z"]


def test_architecture_md_names_every_module():
    text = (ROOT.parent / "ARCHITECTURE.md").read_text()
    missing = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
               if p.name != "__init__.py" and f"{p.stem}" not in text]
    assert missing == []
