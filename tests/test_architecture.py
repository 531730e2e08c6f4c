"""The package's shape (docs/api.md, issue 13): no import circles, no private names imported
across modules, no long functions or modules, plots that never import an analysis, public names
that stay bound to functions, and one vocabulary for first arguments and comparisons.

The import graph is read with ``ast`` from the source files: every ``import`` and
``from ... import`` counts, at module level and inside functions, except those under
``if TYPE_CHECKING:``. Every failure lists all offenders.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import subprocess
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

import pytest
from public_api import (
    FIRST_ARGUMENT_EXCEPTIONS,
    FIRST_ARGUMENTS,
    PLOT_FIRST_ARGUMENT,
    plot_functions,
    top_level_functions,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "iop_outcomes"
MAX_FUNCTION_LINES = 120  # code lines: no docstrings, comments or blank lines
MAX_MODULE_LINES = 1200

# What modules under plots/ may import at run time: plotting helpers, result-independent
# infrastructure. Everything else in the package is an analysis (or the report, io, cli).
PLOTS_MAY_IMPORT = (
    "iop_outcomes.plots",
    "iop_outcomes.exceptions",
    "iop_outcomes.instruments",
    "iop_outcomes._validation",
    "iop_outcomes._results",
)
# names a plots module may import from the package root (the rest load analyses lazily)
ROOT_NAMES_PLOTS_MAY_IMPORT = {
    "__version__",
    "instruments",
    "IOPError",
    "LoadError",
    "ConfigError",
    "InstrumentError",
    "DataError",
    "IOPWarning",
    "ConvergenceWarning",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_imports(tree: ast.AST):
    """Every Import / ImportFrom node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str):
    """(imported module, name or None, line) for each package import of ``module``.

    ``from a import b`` where ``a.b`` is a module gives ``(a.b, None)``; otherwise ``(a, b)``.
    """
    for node in _run_time_imports(TREES[module]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, None, node.lineno
            continue
        target = _resolve(module, node)
        if target not in MODULES:
            continue
        for alias in node.names:
            full = f"{target}.{alias.name}"
            if full in MODULES:
                yield full, None, node.lineno
            else:
                yield target, alias.name, node.lineno


def _graph() -> dict[str, set[str]]:
    edges = defaultdict(set)
    for module in MODULES:
        for target, _, _ in _imports(module):
            if target != module:
                edges[module].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(MODULES):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _cycle_path(component: list[str], edges: dict[str, set[str]]) -> str:
    """One concrete circle through the component's first module, for the message."""
    members, start = set(component), component[0]
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for nxt in sorted(edges.get(path[-1], ())):
            if nxt == start:
                return " -> ".join([*path, start])
            if nxt in members and nxt not in seen:
                seen.add(nxt)
                paths.append([*path, nxt])
    return ", ".join(component)


def test_the_graph_sees_the_package():
    assert "iop_outcomes" in MODULES and "iop_outcomes._validation" in MODULES
    assert "iop_outcomes.exceptions" in _graph()["iop_outcomes._validation"]


def test_no_import_circles():
    edges = _graph()
    cycles = _cycles(edges)
    assert not cycles, f"{len(cycles)} import circles:\n" + "\n".join(
        _cycle_path(c, edges) for c in cycles
    )


def _module_aliases(module: str) -> dict[str, str]:
    """Local names bound to package modules (``from . import change``, ``import a.b as m``)."""
    out = {}
    for node in _run_time_imports(TREES[module]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES and alias.asname:
                    out[alias.asname] = alias.name
        else:
            target = _resolve(module, node)
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in MODULES:
                    out[alias.asname or alias.name] = full
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_names_imported_across_modules():
    offenders = []
    for module, path in MODULES.items():
        rel = path.relative_to(ROOT)
        for target, name, line in _imports(module):
            if name and _private(name) and target != module:
                offenders.append(f"{rel}:{line} imports {name} from {target}")
        aliases = _module_aliases(module)
        for node in ast.walk(TREES[module]):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _private(node.attr)
                and aliases[node.value.id] != module
            ):
                target = aliases[node.value.id]
                offenders.append(f"{rel}:{node.lineno} reads {node.attr} of {target}")
    assert not offenders, (
        f"{len(offenders)} private names used across modules (make them public inside the "
        "package, e.g. in a private module):\n" + "\n".join(sorted(set(offenders)))
    )


def _code_lines(source: str, tree: ast.AST) -> set[int]:
    """Lines holding code: not blank, not only a comment, not part of a docstring."""
    skip = (
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
    )
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            code.update(range(tok.start[0], tok.end[0] + 1))
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = node.body[0] if node.body else None
            if (
                isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                code.difference_update(range(doc.lineno, doc.end_lineno + 1))
    return code


def test_no_long_functions():
    offenders = []
    for module, path in MODULES.items():
        code = _code_lines(path.read_text(), TREES[module])
        for node in ast.walk(TREES[module]):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = len(code.intersection(range(node.lineno, node.end_lineno + 1)))
                if n > MAX_FUNCTION_LINES:
                    rel = path.relative_to(ROOT)
                    offenders.append((n, f"{rel}:{node.lineno} {node.name}: {n} code lines"))
    assert not offenders, (
        f"{len(offenders)} functions over {MAX_FUNCTION_LINES} code lines (split them into "
        "named steps):\n" + "\n".join(w for _, w in sorted(offenders, reverse=True))
    )


def test_no_long_modules():
    offenders = sorted(
        (n, f"{path.relative_to(ROOT)}: {n} lines")
        for path in MODULES.values()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    )
    assert not offenders, (
        f"{len(offenders)} modules over {MAX_MODULE_LINES} lines (make them packages):\n"
        + "\n".join(w for _, w in reversed(offenders))
    )


def test_plots_import_no_analysis():
    offenders = []
    for module, path in MODULES.items():
        if not module.startswith("iop_outcomes.plots"):
            continue
        for target, name, line in _imports(module):
            rel = path.relative_to(ROOT)
            if target == "iop_outcomes":
                if name is not None and name not in ROOT_NAMES_PLOTS_MAY_IMPORT:
                    offenders.append(f"{rel}:{line} imports iop_outcomes.{name}")
            elif not any(target == a or target.startswith(a + ".") for a in PLOTS_MAY_IMPORT):
                offenders.append(f"{rel}:{line} imports {target}")
    assert not offenders, (
        "plots read result objects and import analyses only under TYPE_CHECKING:\n"
        + "\n".join(dict.fromkeys(offenders))
    )


_BINDING_PROBE = """
import importlib, inspect, json, pkgutil
import iop_outcomes as iop
before = {n: inspect.ismodule(getattr(iop, n)) for n in iop.__all__}
failed = []
for info in pkgutil.walk_packages(iop.__path__, "iop_outcomes."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
after = {n: inspect.ismodule(getattr(iop, n)) for n in iop.__all__}
print(json.dumps({"before": before, "after": after, "failed": failed,
                  "package_class": type(iop).__name__}))
"""
MODULE_NAMES = {"instruments", "synth", "plots", "io"}


@pytest.fixture(scope="module")
def binding():
    out = subprocess.run(
        [sys.executable, "-c", _BINDING_PROBE], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_public_names_stay_bound_after_importing_every_submodule(binding):
    assert not binding["failed"], "submodules that fail to import:\n" + "\n".join(binding["failed"])
    offenders = [
        f"iop.{name} is {'a module' if is_module else 'not a module'} after importing "
        "every submodule"
        for name, is_module in binding["after"].items()
        if name != "__version__" and is_module != (name in MODULE_NAMES)
    ]
    assert not offenders, "\n".join(offenders)


def test_no_submodule_is_named_like_a_public_name():
    """Modules are not named like the functions they export, so no import can shadow one."""
    import iop_outcomes as iop

    clashes = sorted(
        name
        for name in iop.__all__
        if name not in MODULE_NAMES and f"iop_outcomes.{name}" in MODULES
    )
    assert not clashes, f"submodules named like public names: {clashes}"


def test_the_package_module_is_a_plain_module(binding):
    """The ``_Package.__setattr__`` hack is gone (it kept functions bound over submodules)."""
    assert binding["package_class"] == "module"


def test_first_argument_names_what_it_expects():
    offenders = []
    for name, func in top_level_functions().items():
        params = list(inspect.signature(func).parameters)
        if not params:
            continue
        if name in FIRST_ARGUMENT_EXCEPTIONS:
            expected = FIRST_ARGUMENT_EXCEPTIONS[name]
            if expected is not None and params[0] != expected:
                offenders.append(f"{name}: first argument {params[0]!r}, not {expected!r}")
        elif params[0] not in FIRST_ARGUMENTS:
            offenders.append(
                f"{name}: first argument {params[0]!r}, not one of assessments/episodes"
            )
    for name, func in plot_functions().items():
        first = next(iter(inspect.signature(func).parameters), None)
        if first != PLOT_FIRST_ARGUMENT:
            offenders.append(f"{name}: first argument {first!r}, not {PLOT_FIRST_ARGUMENT!r}")
    assert not offenders, f"{len(offenders)} functions:\n" + "\n".join(offenders)


def test_group_and_reference_come_together():
    """``group=`` names the compared column and always comes with ``reference=`` (the level the
    others are compared with); ``reference=`` means nothing else anywhere."""
    offenders = []
    for name, func in {**top_level_functions(), **plot_functions()}.items():
        params = inspect.signature(func).parameters
        if ("reference" in params) != ("group" in params):
            has, lacks = ("reference", "group") if "reference" in params else ("group", "reference")
            offenders.append(f"{name}: has {has}= but no {lacks}=")
    assert not offenders, "\n".join(offenders)
