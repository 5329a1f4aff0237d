"""The package's shape: layers import only downward, no circle, small modules and functions.

The layers, bottom up, are listed in LAYERS; a module may import its own layer
and those below. The limits are the house style's (STYLE.md): a module under
500 lines, a function under 60 lines of code (docstring and comments aside).
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import psweep

PKG = Path(psweep.__file__).parent
# bottom up; a module belongs to the first prefix that matches
LAYERS = [
    (
        "psweep.errors",
        "psweep.version",
        "psweep.environment",
        "psweep.crashpoints",
        "psweep.host",
        "psweep.gitcmd",
        "psweep.atomicfile",
    ),
    ("psweep.lazynames",),
    ("psweep.params",),
    ("psweep.study",),
    ("psweep.store", "psweep.constants"),  # constants names store's defaults for scripts
    ("psweep.lifecycle",),
    ("psweep.batch",),
    ("psweep.observe",),
    ("psweep.cli",),
    ("psweep", "psweep.__main__"),
]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        if "_study_template" in path.parts:
            continue
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Every psweep module each module imports, at module level or in a function."""
    edges: dict[str, set[str]] = collections.defaultdict(set)
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: a relative import; psweep uses absolute ones")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("psweep"):
                base = node.module or ""
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target not in mods and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in mods and target != name:
                    edges[name].add(target)
                    break
    return edges


def _layer(name: str) -> int:
    best = (-1, -1)
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or (name.startswith(prefix + ".") and prefix != "psweep"):
                best = max(best, (len(prefix), rank))
    assert best[1] >= 0, f"{name} is in no layer; add it to LAYERS"
    return best[1]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef, source: list[str]) -> int:
    body = fn.body
    if isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    lines = set()
    for stmt in body:
        lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return sum(
        1 for n in lines if source[n - 1].strip() and not source[n - 1].strip().startswith("#")
    )


def test_no_import_circle() -> None:
    """No module imports, directly or not, a module that imports it."""
    assert _cycles(_imports(_modules())) == []


def test_imports_run_downward() -> None:
    """Each module imports only from its own layer and the layers below."""
    upward = [
        f"{a} -> {b}"
        for a, targets in _imports(_modules()).items()
        for b in targets
        if _layer(b) > _layer(a)
    ]
    assert upward == []


def test_modules_are_small() -> None:
    """No module is longer than MAX_MODULE_LINES lines."""
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_functions_are_short() -> None:
    """No function has more than MAX_FUNCTION_LINES lines of code."""
    long = {}
    for name, path in _modules().items():
        source = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(source))):
            is_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            if is_function and (n := _code_lines(node, source)) > MAX_FUNCTION_LINES:
                long[f"{name}.{node.name}"] = n
    assert long == {}
