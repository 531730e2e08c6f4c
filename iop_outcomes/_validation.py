"""One validation layer for the public API.

Every public function declares the constraints of its parameters once, on the function::

    @validate_params(
        {
            "episodes": ["frame"],
            "group": [str],
            "method": [Options("ancova", "welch")],
            "ci_level": [Interval(float, 0, 1, closed="neither")],
            "instrument": ["instrument", None],
        },
        renamed={"by": "group"},
    )
    def compare(episodes, *, group="format", ...): ...

The decorator checks every declared parameter before the function runs and raises
:class:`~iop_outcomes.ConfigError` with one message template (scikit-learn's)::

    The 'ci_level' parameter of iop.compare must be a float in the range (0, 1).
    Got '0.9' instead.

A parameter may satisfy any one of its constraints. Constraints are

- ``Options(*values)``: one of these values;
- ``Interval(int | float, low, high, closed=...)``: a number in a range (``float`` accepts
  ints and numpy numbers; never ``bool`` or strings);
- a Python type (``str``, ``dict``, ``pd.DataFrame`` …): an instance of it (``bool`` is not
  an ``int`` here);
- ``None``: the value ``None``;
- a name: ``"frame"`` (a pandas DataFrame), ``"dask_frame"`` (a Dask DataFrame, recognised
  without importing Dask), ``"columns"`` (a column name or a list/tuple of
  them), ``"boolean"``, ``"callable"``, ``"instrument"`` (an instrument name: a string or a
  registered :class:`~iop_outcomes.instruments.Instrument`), ``"instruments"`` (one name or
  a list/tuple of names), ``"date"`` (anything :func:`pandas.Timestamp` reads), ``"axes"`` (a
  matplotlib Axes, recognised without importing matplotlib),
  ``"no_validation"`` (checked inside the function).

``renamed`` maps keyword names of earlier releases to their new names: passing an old name
raises a ConfigError that names the new one (no silent aliases; the package is at 0.x).

The declared constraints are kept on the function (``func.__iop_constraints__``), so one
parametrised test feeds bad values to every public function (``tests/test_api.py``).

The same module holds the column checks every analysis shares: :func:`check_columns` and
:func:`check_numeric`. The instrument rule is :func:`iop_outcomes._instrument_rule.select_instrument`.

The design follows scikit-learn's ``sklearn/utils/_param_validation.py`` (constraints on the
function, one message template) and statsmodels' ``tools/validation`` (one argument order:
value, name, then the rest); the code is our own.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

# numpy and pandas are imported inside the checks: `import iop_outcomes` (which registers the
# instruments, whose functions are validated here) must not pull them in.

__all__ = [
    "Interval",
    "Options",
    "validate_params",
    "check_param",
    "check_columns",
    "check_numeric",
    "public_name",
]


class Options:
    """The parameter must be one of ``values`` (compared with ``==``; no type coercion).

    Examples
    --------
    >>> Options("ancova", "welch").is_satisfied_by("welch")
    True
    >>> str(Options("ancova", "welch"))
    "one of 'ancova', 'welch'"
    """

    def __init__(self, *values: Any):
        self.values = tuple(values)

    def is_satisfied_by(self, value: Any) -> bool:
        import numpy as np

        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (str, numbers.Number, type(None))
        ):
            return any(value is v for v in self.values)
        return any(not isinstance(v, bool) and value == v for v in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


class Interval:
    """The parameter must be a number of ``kind`` (``int`` or ``float``) within a range.

    ``low``/``high`` may be ``None`` (unbounded); ``closed`` is ``"both"``, ``"left"``,
    ``"right"`` or ``"neither"``. ``float`` accepts Python and numpy integers and floats;
    ``int`` accepts only integers. ``bool``, strings and NaN never pass.

    Examples
    --------
    >>> level = Interval(float, 0, 1, closed="neither")
    >>> level.is_satisfied_by(0.95), level.is_satisfied_by("0.95"), level.is_satisfied_by(1)
    (True, False, False)
    >>> str(level)
    'a float in the range (0, 1)'
    >>> str(Interval(int, 100, None, closed="left"))
    'an int in the range [100, inf)'
    """

    def __init__(
        self,
        kind: type,
        low: float | None,
        high: float | None,
        *,
        closed: str = "both",
    ):
        if kind not in (int, float):
            raise TypeError("Interval kind must be int or float")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither', not {closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def is_satisfied_by(self, value: Any) -> bool:
        import numpy as np

        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind is int:
            if not isinstance(value, (numbers.Integral, np.integer)):
                return False
        elif not isinstance(value, (numbers.Real, np.integer, np.floating)):
            return False
        v = float(value)
        if np.isnan(v):
            return False
        if self.low is not None:
            if v < self.low or (v == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if v > self.high or (v == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        article = "an int" if self.kind is int else "a float"
        return f"{article} in the range {left}{lo}, {hi}{right}"


def _is_name_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _is_a(value: Any, module: str, name: str) -> bool:
    """``isinstance`` by class name and module, so the check imports nothing."""
    return any(c.__name__ == name and c.__module__.startswith(module) for c in type(value).__mro__)


def _is_bool(value: Any) -> bool:
    return (
        isinstance(value, bool) or _is_a(value, "numpy", "bool") or _is_a(value, "numpy", "bool_")
    )


def _is_instrument(value: Any) -> bool:
    return isinstance(value, str) or _is_a(value, "iop_outcomes.instruments", "Instrument")


def _is_date(value: Any) -> bool:
    """A calendar date between 1900 and 2199: a date/datetime/Timestamp or an ISO-like text.

    Numbers are refused (``20250601`` would be read as nanoseconds since 1970) and so are
    texts pandas reads into another era (``"June 1st"`` becomes year 1)."""
    if _is_bool(value) or value is None or isinstance(value, (int, float)):
        return False
    if _is_a(value, "numpy", "number"):
        return False
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return not pd.isna(stamp) and 1900 <= stamp.year < 2200


_NAMED_CHECKS: dict[str, Callable[[Any], bool]] = {
    "no_validation": lambda v: True,
    "frame": lambda v: _is_a(v, "pandas", "DataFrame"),
    "dask_frame": lambda v: _is_a(v, "dask", "DataFrame"),
    "columns": lambda v: isinstance(v, str) or _is_name_list(v),
    "boolean": _is_bool,
    "callable": callable,
    "instrument": _is_instrument,
    "instruments": lambda v: (
        _is_instrument(v)
        or (isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_instrument(x) for x in v))
    ),
    "axes": lambda v: _is_a(v, "matplotlib.axes", "Axes"),
    "date": _is_date,
}


def _satisfies(value: Any, constraint: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, (Options, Interval)):
        return constraint.is_satisfied_by(value)
    if isinstance(constraint, str):
        if constraint not in _NAMED_CHECKS:
            raise ValueError(f"unknown constraint {constraint!r}")
        return _NAMED_CHECKS[constraint](value)
    if isinstance(constraint, type):
        if constraint is int:
            return not _is_bool(value) and (
                isinstance(value, int) or _is_a(value, "numpy", "integer")
            )
        return isinstance(value, constraint)
    raise ValueError(f"unknown constraint {constraint!r}")


_DESCRIBE = {
    "frame": "a pandas DataFrame",
    "dask_frame": "a Dask DataFrame",
    "columns": "a column name or a list of column names",
    "boolean": "True or False",
    "callable": "a callable",
    "instrument": "an instrument name such as 'PHQ-9'",
    "instruments": "an instrument name or a list of them",
    "date": "a date between 1900 and 2199 (e.g. '2025-06-30')",
    "axes": "a matplotlib Axes",
}


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, (Options, Interval)):
        return str(constraint)
    if isinstance(constraint, str):
        return _DESCRIBE[constraint]
    if constraint.__name__ == "DataFrame" and constraint.__module__.startswith("pandas"):
        return "a pandas DataFrame"
    return f"an instance of {constraint.__name__!r}"


def _describe_all(constraints: Sequence[Any]) -> str:
    parts = [_describe(c) for c in constraints if c != "no_validation"]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _shown(value: Any) -> str:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return f"a DataFrame of shape {value.shape}"
    if isinstance(value, pd.Series):
        return f"a Series of length {len(value)}"
    if _is_a(value, "dask", "DataFrame"):
        return f"a Dask DataFrame of {value.npartitions} partition(s)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def public_name(func: Callable | str) -> str:
    """How messages name a public function: ``'iop.compare'``, ``'iop.plots.plot_km'``.

    Examples
    --------
    >>> public_name("compare")
    'iop.compare'
    """
    if isinstance(func, str):
        if func.startswith("iop."):
            return func
        return f"iop.plots.{func}" if func.startswith("plot_") else f"iop.{func}"
    module = getattr(func, "__module__", "") or ""
    for area in ("plots", "synth", "instruments"):
        if module == f"iop_outcomes.{area}" or module.startswith(f"iop_outcomes.{area}."):
            return f"iop.{area}.{func.__name__}"
    if module.startswith("iop_outcomes.io") and func.__name__ != "load":
        return f"iop.io.{func.__name__}"
    return f"iop.{func.__name__}"


def check_param(value: Any, name: str, constraints: Sequence[Any], *, func: Callable | str) -> Any:
    """Return ``value`` if it satisfies one of ``constraints``, else raise ConfigError.

    Examples
    --------
    >>> check_param(0.9, "ci_level", [Interval(float, 0, 1, closed="neither")], func="rm_d")
    0.9
    >>> check_param("0.9", "ci_level", [Interval(float, 0, 1, closed="neither")], func="rm_d")
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.ConfigError: The 'ci_level' parameter of iop.rm_d must be a float \
in the range (0, 1). Got '0.9' instead.
    """
    if any(_satisfies(value, c) for c in constraints):
        return value
    hint = ""
    if _is_a(value, "iop_outcomes", "LoadResult") and "frame" in constraints:
        hint = " Pass its .data (the assessment rows)."
    elif _is_a(value, "dask", "DataFrame") and "frame" in constraints:
        hint = (
            f" {public_name(func)} does not run on Dask yet (docs/scale.md lists what does). An "
            "episode table has one row per episode: compute it (iop.episodes(dask_frame)"
            ".compute()) and pass the pandas table; for models of every assessment (mixed "
            "models, multiple imputation, bootstrap), fit on a stratified sample or per site "
            "and pool the estimates (iop.pool_sites), stating the sample size."
        )
    raise ConfigError(
        f"The {name!r} parameter of {public_name(func)} must be {_describe_all(constraints)}. "
        f"Got {_shown(value)} instead.{hint}"
    )


_VOCABULARY = {
    "by": "by= only stratifies (one result per level, no test between them)",
    "group": "group= names the column whose levels are compared (with reference=)",
    "reference": "reference= is the level of group= the others are compared with",
}
_ANALYSIS_OPTIONS = {"instrument", "group", "by", "reference", "ci_level", "method", "covariates"}


def _unknown_keyword(func: Callable, name: str, params: list[str]) -> None:
    """Raise the most helpful error for a keyword the function does not take."""
    import difflib

    where = public_name(func)
    if where.startswith("iop.plots.") and name in _ANALYSIS_OPTIONS:
        raise ConfigError(
            f"{where} has no parameter {name!r}: plots take no analysis options; they draw a "
            f"result you already have. Pass {name}= to the analysis that made the result, then "
            f"plot that (docs/api.md, rule 6)."
        )
    if name in _VOCABULARY:
        if "group" in params:
            does = "compares, with group= and reference="
            hint = (
                "For one comparison per level of another column use "
                "iop.subgroups(episodes, group=..., by=...)."
            )
        elif "by" in params:
            does = "summarises, with by= (one result per level)"
            hint = "To compare levels, use iop.compare(episodes, group=..., reference=...)."
        else:
            does = "neither compares nor stratifies"
            hint = f"Its parameters: {params}."
        raise ConfigError(
            f"{where} has no parameter {name!r}: {_VOCABULARY[name]}, and this function {does}. "
            f"{hint} (docs/api.md, rule 2)"
        )
    close = difflib.get_close_matches(name, params, n=1)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    raise TypeError(
        f"{where}() got an unexpected keyword argument {name!r}.{guess} Its parameters: {params}."
    )


def validate_params(
    constraints: dict[str, list[Any]],
    *,
    renamed: dict[str, str] | None = None,
) -> Callable[[Callable], Callable]:
    """Attach parameter constraints to a public function and check them on every call.

    Every parameter of the function must be declared (a parameter checked inside the
    function is declared ``["no_validation"]``); a misspelt or missing declaration fails at
    import time, so the constraints cannot drift from the signature.

    Examples
    --------
    >>> @validate_params({"x": [Interval(float, 0, None, closed="neither")]})
    ... def half(x):
    ...     return x / 2
    >>> half(3.0)
    1.5
    >>> half(-1)
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.ConfigError: The 'x' parameter of iop.half must be a float in the \
range (0, inf). Got -1 instead.
    """
    renamed = dict(renamed or {})

    def decorate(func: Callable) -> Callable:
        sig = inspect.signature(func)
        params = set(sig.parameters)
        unknown = set(constraints) - params
        undeclared = params - set(constraints)
        if unknown or undeclared:
            raise TypeError(
                f"validate_params on {func.__qualname__}: constraints for unknown parameters "
                f"{sorted(unknown)}; parameters without constraints {sorted(undeclared)}"
            )
        clash = set(renamed) & params
        if clash:
            raise TypeError(f"{func.__qualname__}: renamed names {sorted(clash)} still exist")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            old = [k for k in kwargs if k in renamed]
            if old:
                k = old[0]
                raise ConfigError(
                    f"{public_name(func)} has no parameter {k!r}; it is now called "
                    f"{renamed[k]!r}. Pass {renamed[k]}=... instead (see docs/api.md for "
                    "the library's vocabulary)."
                )
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                unknown = [k for k in kwargs if k not in sig.parameters]
                if unknown:
                    _unknown_keyword(func, unknown[0], list(sig.parameters))
                raise TypeError(f"{public_name(func)}(): {exc}") from None
            for name, value in bound.arguments.items():
                check_param(value, name, constraints[name], func=func)
            return func(*args, **kwargs)

        wrapper.__iop_constraints__ = dict(constraints)  # type: ignore[attr-defined]
        wrapper.__iop_renamed__ = dict(renamed)  # type: ignore[attr-defined]
        return wrapper

    return decorate


def check_columns(
    frame: pd.DataFrame,
    columns: Iterable[str],
    *,
    func: Callable | str,
    what: str = "table",
    hint: str = "",
) -> None:
    """Raise DataError if ``frame`` lacks any of ``columns``; say what is missing and what exists.

    Examples
    --------
    >>> import pandas as pd
    >>> check_columns(pd.DataFrame({"baseline": [1]}), ["baseline", "endpoint"],
    ...               func="compare", what="episode table")
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.DataError: iop.compare needs the column(s) ['endpoint'] in the \
episode table, which it lacks. Columns present: ['baseline'].
    """
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        import difflib

        present = list(map(str, frame.columns))
        guesses = [
            f"{m!r}: did you mean {g[0]!r}?"
            for m in missing
            if (g := difflib.get_close_matches(str(m), present, n=1, cutoff=0.75))
        ]
        table = ""
        if (
            "total" in present
            and "baseline" not in present
            and {"baseline", "endpoint"} & set(missing)
        ):
            table = (
                " This looks like assessment rows (one per questionnaire): build the episode "
                "table first with iop.episodes(assessments, instrument=...)."
            )
        elif "baseline" in present and "total" not in present and "total" in missing:
            table = (
                " This looks like an episode table (one row per episode): pass the assessment "
                "rows, iop.load(...).data, instead."
            )
        raise DataError(
            f"{public_name(func)} needs the column(s) {missing} in the {what}, which it lacks. "
            + (" ".join(guesses) + " " if guesses else "")
            + f"Columns present: {present}."
            + table
            + (f" {hint}" if hint else "")
        )


def check_numeric(
    frame: pd.DataFrame, columns: Iterable[str], *, func: Callable | str, what: str = "table"
) -> None:
    """Raise DataError if any of ``columns`` is not numeric (bool counts as not numeric).

    Examples
    --------
    >>> import pandas as pd
    >>> check_numeric(pd.DataFrame({"baseline": ["12"]}), ["baseline"], func="rm_d")
    Traceback (most recent call last):
    ...
    iop_outcomes.exceptions.DataError: iop.rm_d needs numeric column(s) ['baseline'] in the \
table; they hold text or booleans (dtype str). Convert them with pd.to_numeric first.
    """
    import pandas as pd

    bad = [
        c
        for c in columns
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
    ]
    if bad:
        dtypes = ", ".join(sorted({str(frame[c].dtype) for c in bad}))
        raise DataError(
            f"{public_name(func)} needs numeric column(s) {bad} in the {what}; they hold text "
            f"or booleans (dtype {dtypes}). Convert them with pd.to_numeric first."
        )
