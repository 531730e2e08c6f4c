"""The cross-API contract (docs/api.md): every public function declares constraints for every
parameter, rejects values outside them with one message template, and old keyword names raise
an error naming the new one.

One parametrised test (``test_bad_value_is_rejected_with_the_template``) feeds values built
from each parameter's declared constraints to every public function; the function body never
runs, because the validation layer checks every argument first.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from public_api import (
    bad_values,
    call_with,
    plot_functions,
    public_functions,
    top_level_functions,
)

import iop_outcomes as iop
from iop_outcomes import ConfigError
from iop_outcomes._validation import check_param, public_name

FUNCTIONS = public_functions()
VALIDATED = {n: f for n, f in FUNCTIONS.items() if hasattr(f, "__iop_constraints__")}


def _parameters(func):
    return inspect.signature(func).parameters


def _bad_value_cases():
    cases = []
    for name, func in VALIDATED.items():
        params = _parameters(func)
        for param, constraints in func.__iop_constraints__.items():
            if param not in params or "no_validation" in constraints:
                continue
            if params[param].kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                continue
            cases.append(pytest.param(name, func, param, constraints, id=f"{name}-{param}"))
    return cases


def _renamed_cases():
    return [
        pytest.param(name, func, old, new, id=f"{name}-{old}")
        for name, func in VALIDATED.items()
        for old, new in getattr(func, "__iop_renamed__", {}).items()
    ]


def test_the_public_api_is_found():
    names = set(FUNCTIONS)
    assert {"load", "episodes", "compare", "retention", "report"} <= names
    assert {"plots.plot_km", "plots.plot_forest", "synth.generate"} <= names


def test_every_public_function_declares_every_parameter():
    offenders = []
    for name, func in FUNCTIONS.items():
        constraints = getattr(func, "__iop_constraints__", None)
        if constraints is None:
            offenders.append(f"{name}: not decorated with @validate_params")
            continue
        missing = [p for p in _parameters(func) if p not in constraints]
        if missing:
            offenders.append(f"{name}: no constraints for {missing}")
    assert not offenders, f"{len(offenders)} public functions:\n" + "\n".join(offenders)


@pytest.mark.parametrize(("name", "func", "param", "constraints"), _bad_value_cases())
def test_bad_value_is_rejected_with_the_template(name, func, param, constraints):
    values = bad_values(param, constraints)
    if not values:
        pytest.skip(f"no value violates every constraint of {param!r}: {constraints!r}")
    prefix = f"The {param!r} parameter of {public_name(func)} must be"
    for value in values:
        with pytest.raises(ConfigError) as caught:
            call_with(func, {param: value})
        assert str(caught.value).startswith(prefix), f"{name}({param}={value!r}): {caught.value}"


@pytest.mark.parametrize(("name", "func", "old", "new"), _renamed_cases())
def test_renamed_keyword_raises_naming_the_new_one(name, func, old, new):
    with pytest.raises(ConfigError) as caught:
        func(**{old: object()})  # checked before the arguments are bound
    message = str(caught.value)
    assert repr(old) in message and repr(new) in message, message


# The renames of issue 13 (docs/api.md); the old keyword must raise, naming the new one.
EXPECTED_RENAMES = {
    "episodes": {"data": "assessments"},
    "assessment_roles": {"data": "assessments"},
    "rm_d": {"data": "episodes"},
    "bootstrap_ci": {"data": "episodes"},
    "trajectories": {"data": "assessments"},
    "early_change": {"data": "assessments"},
    "retention": {"data": "episodes", "by": "group"},
    "dropout_survival": {"data": "episodes", "by": "group"},
    "attrition": {"data": "episodes"},
    "durability": {"data": "episodes"},
    "missing_data_sensitivity": {"data": "assessments"},
    "monitor": {"reference": "curves"},
    "recovery_curves": {"data": "assessments", "reference": None},  # None: any new name
}


def test_the_issue_13_renames_are_declared():
    offenders = []
    for name, renames in EXPECTED_RENAMES.items():
        declared = getattr(FUNCTIONS[name], "__iop_renamed__", {})
        for old, new in renames.items():
            if old not in declared or (new is not None and declared[old] != new):
                offenders.append(f"{name}: {old!r} -> {new or 'a new name'!r}, declared {declared}")
    assert not offenders, "renames missing:\n" + "\n".join(offenders)


def test_no_function_defaults_to_an_instrument():
    """Rule 3: ``instrument=None`` everywhere (the table must hold exactly one instrument)."""
    offenders = [
        f"{name}: instrument={p.default!r}"
        for name, func in FUNCTIONS.items()
        for p in _parameters(func).values()
        if p.name == "instrument" and p.default is not None
    ]
    assert not offenders, "\n".join(offenders)


def test_plots_read_results():
    """Rule 7: ``plot_x(result, *, ax=None, ...)``; no analysis defaults in plots."""
    offenders = []
    for name, func in plot_functions().items():
        params = _parameters(func)
        first = next(iter(params), None)
        if first != "result":
            offenders.append(f"{name}: first argument {first!r}, not 'result'")
        ax = params.get("ax")
        if ax is None or ax.kind is not ax.KEYWORD_ONLY or ax.default is not None:
            offenders.append(f"{name}: needs keyword-only ax=None")
        for analysis in ("instrument", "group", "by", "reference"):
            if analysis in params:
                offenders.append(f"{name}: takes the analysis option {analysis!r}")
    assert not offenders, f"{len(offenders)} problems:\n" + "\n".join(offenders)


def test_ci_level_is_one_rule_everywhere():
    """``ci_level`` is a float in (0, 1) wherever it appears (``None`` allowed where optional)."""
    offenders = []
    for name, func in VALIDATED.items():
        constraints = func.__iop_constraints__.get("ci_level")
        if constraints is None:
            continue
        for value in (0.95, 0.5):
            if _rejects(constraints, value):
                offenders.append(f"{name}: rejects ci_level={value!r}")
        for value in ("0.9", 1, 0, 95, True):
            if not _rejects(constraints, value):
                offenders.append(f"{name}: accepts ci_level={value!r}")
    assert not offenders, "\n".join(offenders)


def _rejects(constraints, value):
    try:
        check_param(value, "ci_level", constraints, func="probe")
    except ConfigError:
        return True
    return False


def test_top_level_names_are_functions_users_can_call():
    assert all(callable(f) for f in top_level_functions().values())


def test_plots_lists_every_plot_function():
    import importlib

    found = set()
    for path in sorted((Path(iop.__file__).parent / "plots").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = importlib.import_module(f"iop_outcomes.plots.{path.stem}")
        found |= {
            n
            for n, o in vars(module).items()
            if n.startswith("plot_") and inspect.isfunction(o) and o.__module__ == module.__name__
        }
    assert found == set(iop.plots.__all__)
    assert set(iop.plots.__all__) <= set(dir(iop.plots))
