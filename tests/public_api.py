"""The public API as the contract tests see it (a helper for tests/test_api.py and
tests/test_architecture.py, not a test module).

Public functions are

- the functions named in ``iop_outcomes.__all__`` (classes, exception types and modules aside);
- every ``plot_*`` function of ``iop_outcomes.plots`` (found in its submodules, reached through
  ``iop_outcomes.plots``);
- the functions named in ``iop_outcomes.synth.__all__`` and ``iop_outcomes.io.__all__``.

Each is listed once under the name users call it by (``compare``, ``plots.plot_km``,
``synth.generate``, ``io.read_mapping``); ``io.load`` is ``iop.load`` and listed as ``load``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable

import numpy as np
import pandas as pd

import iop_outcomes as iop
from iop_outcomes import ConfigError
from iop_outcomes._validation import Interval, Options, check_param

# The first argument says what a public function expects (docs/api.md, rule 1).
FIRST_ARGUMENTS = {"assessments", "episodes"}
FIRST_ARGUMENT_EXCEPTIONS = {
    "load": "data",  # raw input: a path, URL or DataFrame
    "report": "data",
    "benchmarks": "result_or_rates",
    "rm_d_from_summary": None,  # summary statistics, no table
    "to_sql": "report",
}
PLOT_FIRST_ARGUMENT = "result"


def _is_function(obj: object) -> bool:
    return inspect.isfunction(inspect.unwrap(obj)) if callable(obj) else False


def top_level_functions() -> dict[str, Callable]:
    """The functions in ``iop_outcomes.__all__``, by name."""
    out = {}
    for name in iop.__all__:
        obj = getattr(iop, name)
        if not inspect.ismodule(obj) and not inspect.isclass(obj) and _is_function(obj):
            out[name] = obj
    return out


def plot_functions() -> dict[str, Callable]:
    """Every public ``plot_*`` function, reached through ``iop_outcomes.plots``."""
    plots = importlib.import_module("iop_outcomes.plots")
    names = set(getattr(plots, "__all__", ()))
    for info in pkgutil.iter_modules(plots.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{plots.__name__}.{info.name}")
        names.update(n for n in vars(module) if n.startswith("plot_"))
    out = {}
    for name in sorted(n for n in names if n.startswith("plot_")):
        obj = getattr(plots, name)
        if _is_function(obj) and inspect.unwrap(obj).__module__.startswith(plots.__name__):
            out[f"plots.{name}"] = obj
    return out


def module_functions(module_name: str) -> dict[str, Callable]:
    """The functions in ``iop_outcomes.<module_name>.__all__`` not already top-level."""
    module = importlib.import_module(f"iop_outcomes.{module_name}")
    top = top_level_functions()
    out = {}
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or not _is_function(obj):
            continue
        if top.get(name) is obj:
            continue
        out[f"{module_name}.{name}"] = obj
    return out


def public_functions() -> dict[str, Callable]:
    """All public functions the contract covers, by the name users call them by."""
    return {
        **top_level_functions(),
        **plot_functions(),
        **module_functions("synth"),
        **module_functions("io"),
        **module_functions("instruments"),
    }


# ---------------------------------------------------------------------------------------------
# Values built from constraints


def _violates_all(value: object, name: str, constraints: list) -> bool:
    try:
        check_param(value, name, constraints, func="probe")
    except ConfigError:
        return True
    return False


def _candidates(constraint: object) -> list:
    """Values that break ``constraint`` (some may satisfy a sibling constraint)."""
    if isinstance(constraint, Interval):
        out = ["0.5", True, float("nan")]
        if constraint.low is not None:
            out += [constraint.low - 1, str(constraint.low)]
        if constraint.high is not None:
            out += [constraint.high + 1, str(constraint.high)]
        if constraint.kind is int:
            out.append(
                1.5 if constraint.low is None or constraint.low < 1.5 else constraint.low + 0.5
            )
        return out
    if isinstance(constraint, Options):
        return ["no-such-option", b"bytes"]
    if constraint is None:
        return [object()]
    named = {
        "frame": [[1, 2, 3], {"total": [1]}],
        "columns": [3, [1, 2]],
        "boolean": ["yes", 1],
        "callable": ["not callable", 3],
        "instrument": [9, ["PHQ-9", "GAD-7"]],
        "instruments": [9, [], [9]],
        "date": ["not a date", 3.5],
    }
    if isinstance(constraint, str):
        return named.get(constraint, [])
    return [object(), "not-a-" + getattr(constraint, "__name__", "value")]


def bad_values(name: str, constraints: list) -> list:
    """Values that satisfy none of ``constraints`` (derived from them, plus ``object()``)."""
    out = []
    for constraint in [*constraints, "any"]:
        for value in _candidates(constraint) if constraint != "any" else [object()]:
            if _violates_all(value, name, constraints) and not any(
                type(value) is type(v) and (type(v) is object or _same(value, v)) for v in out
            ):
                out.append(value)
    return out


def _same(a: object, b: object) -> bool:
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:  # an odd __eq__ means "not the same"
        return a is b


SMALL_FRAME = pd.DataFrame(
    {
        "patient_id": ["p1", "p2"],
        "episode_id": ["e1", "e2"],
        "instrument": ["PHQ-9", "PHQ-9"],
        "total": [12, 8],
        "baseline": [15.0, 12.0],
        "endpoint": [8.0, 10.0],
        "format": ["virtual", "in_person"],
    }
)


def _good_for(constraint: object) -> tuple[bool, object]:
    if isinstance(constraint, Interval):
        lo, hi = constraint.low, constraint.high
        if lo is not None and hi is not None:
            value = (lo + hi) / 2
        elif lo is not None:
            value = lo + 1
        elif hi is not None:
            value = hi - 1
        else:
            value = 0
        return True, int(np.ceil(value)) if constraint.kind is int else float(value)
    if isinstance(constraint, Options):
        return True, constraint.values[0]
    if constraint is None:
        return True, None
    named = {
        "frame": SMALL_FRAME,
        "columns": "total",
        "boolean": True,
        "callable": len,
        "instrument": "PHQ-9",
        "instruments": "PHQ-9",
        "date": "2025-06-30",
        "no_validation": None,
    }
    if isinstance(constraint, str):
        return constraint in named, named.get(constraint)
    simple = {
        str: "x",
        int: 1,
        float: 0.5,
        bool: True,
        dict: {},
        list: [],
        tuple: (),
        pd.DataFrame: SMALL_FRAME,
    }
    if constraint in simple:
        return True, simple[constraint]
    if isinstance(constraint, type):
        try:  # an instance that passes isinstance; the function body never runs
            return True, constraint.__new__(constraint)
        except TypeError:
            return False, None
    return False, None


def good_value(name: str, constraints: list) -> object:
    """A value that satisfies ``constraints`` (the first constraint that can build one)."""
    for constraint in constraints:
        ok, value = _good_for(constraint)
        if ok and not _violates_all(value, name, constraints):
            return value
    raise AssertionError(f"cannot build a valid value for {name!r} from {constraints!r}")


def call_with(func: Callable, overrides: dict) -> object:
    """Call ``func`` with valid values for its required parameters, then ``overrides``."""
    sig = inspect.signature(func)
    constraints = func.__iop_constraints__
    args, kwargs = [], {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in overrides:
            value = overrides[p.name]
        elif p.default is p.empty:
            value = good_value(p.name, constraints[p.name])
        else:
            continue
        if p.kind is p.POSITIONAL_ONLY:
            args.append(value)
        else:
            kwargs[p.name] = value
    return func(*args, **kwargs)
