"""The shared validation layer: constraints and the message template."""

import numpy as np
import pandas as pd
import pytest

from iop_outcomes import ConfigError, DataError
from iop_outcomes._validation import (
    Interval,
    Options,
    check_columns,
    check_numeric,
    check_param,
    validate_params,
)

LEVEL = [Interval(float, 0, 1, closed="neither")]


@pytest.mark.parametrize("good", [0.95, 0.5, np.float64(0.9), 1e-9])
def test_interval_accepts(good):
    assert check_param(good, "ci_level", LEVEL, func="f") is good


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.9", True, None, float("nan"), [0.9]])
def test_interval_rejects_with_template(bad):
    with pytest.raises(ConfigError) as e:
        check_param(bad, "ci_level", LEVEL, func="rm_d")
    assert str(e.value) == (
        "The 'ci_level' parameter of iop.rm_d must be a float in the range (0, 1). "
        f"Got {bad!r} instead."
    )


def test_int_interval_and_bool():
    c = [Interval(int, 100, None, closed="left")]
    assert check_param(100, "n_boot", c, func="f") == 100
    assert check_param(np.int64(500), "n_boot", c, func="f") == 500
    for bad in (99, 100.0, True, "200"):
        with pytest.raises(ConfigError, match=r"an int in the range \[100, inf\)"):
            check_param(bad, "n_boot", c, func="f")


def test_options_and_alternatives():
    c = [Options("ancova", "welch"), None]
    assert check_param(None, "method", c, func="f") is None
    assert check_param("welch", "method", c, func="f") == "welch"
    with pytest.raises(ConfigError) as e:
        check_param("ANCOVA", "method", c, func="compare")
    assert "must be one of 'ancova', 'welch' or None. Got 'ANCOVA' instead." in str(e.value)
    # True == 1 must not satisfy Options(1)
    with pytest.raises(ConfigError):
        check_param(True, "k", [Options(1, 2)], func="f")


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        ("frame", pd.DataFrame(), {"a": [1]}),
        ("columns", ["a", "b"], ["a", 1]),
        ("columns", "a", 3),
        ("boolean", False, 0),
        ("callable", len, "len"),
        ("instrument", "PHQ-9", ["PHQ-9"]),
        ("instruments", ["PHQ-9", "GAD-7"], []),
        ("date", "2025-06-30", "not a date"),
        (str, "x", 1),
        (int, 3, True),
    ],
)
def test_named_constraints(constraint, good, bad):
    check_param(good, "x", [constraint], func="f")
    with pytest.raises(ConfigError, match="The 'x' parameter of iop.f must be"):
        check_param(bad, "x", [constraint], func="f")


def test_decorator_checks_and_records_constraints():
    @validate_params({"data": ["frame"], "level": LEVEL}, renamed={"by": "group"})
    def f(data, *, level=0.95):
        return level

    assert f(pd.DataFrame(), level=0.9) == 0.9
    assert f.__iop_constraints__["level"] is LEVEL
    assert f.__iop_renamed__ == {"by": "group"}
    with pytest.raises(ConfigError, match="'level' parameter of iop.f"):
        f(pd.DataFrame(), level="0.9")
    with pytest.raises(ConfigError, match="has no parameter 'by'; it is now called 'group'"):
        f(pd.DataFrame(), by="format")
    with pytest.raises(TypeError, match=r"iop.f\(\)"):
        f(pd.DataFrame(), nope=1)


def test_decorator_requires_every_parameter_declared():
    with pytest.raises(TypeError, match=r"parameters without constraints \['b'\]"):

        @validate_params({"a": [int]})
        def g(a, b):
            return a

    with pytest.raises(TypeError, match=r"unknown parameters \['c'\]"):

        @validate_params({"a": [int], "c": [int]})
        def h(a):
            return a


def test_check_columns_and_numeric():
    t = pd.DataFrame({"baseline": [1.0], "endpoint": ["3"], "flag": [True]})
    check_columns(t, ["baseline"], func="f")
    with pytest.raises(DataError, match=r"needs the column\(s\) \['change'\] in the episode"):
        check_columns(t, ["baseline", "change"], func="f", what="episode table")
    check_numeric(t, ["baseline"], func="f")
    with pytest.raises(DataError, match=r"numeric column\(s\) \['endpoint', 'flag'\]"):
        check_numeric(t, ["baseline", "endpoint", "flag"], func="f")


def test_public_name_says_where_a_function_lives():
    from iop_outcomes._validation import public_name

    def plot_x():
        pass

    plot_x.__module__ = "iop_outcomes.plots.retention"
    assert public_name(plot_x) == "iop.plots.plot_x"
    plot_x.__module__ = "iop_outcomes.synth"
    assert public_name(plot_x) == "iop.synth.plot_x"
    plot_x.__module__ = "iop_outcomes._compare.api"
    assert public_name(plot_x) == "iop.plot_x"


def test_axes_constraint_recognises_matplotlib_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        assert check_param(ax, "ax", ["axes", None], func="plot_x") is ax
        with pytest.raises(ConfigError, match="must be a matplotlib Axes or None. Got 'ax'"):
            check_param("ax", "ax", ["axes", None], func="plot_x")
        with pytest.raises(ConfigError, match="iop.plots.plot_x"):
            check_param(fig, "ax", ["axes", None], func="plot_x")
    finally:
        plt.close(fig)


@pytest.mark.parametrize("bad", ["June 1st", 20250601, 20250601.0, "0001-06-01", "2300-01-01"])
def test_dates_read_into_another_era_are_refused(bad):
    # pandas reads "June 1st" as year 1 and 20250601 as nanoseconds after 1970
    with pytest.raises(ConfigError, match="must be a date between 1900 and 2199"):
        check_param(bad, "as_of", ["date", None], func="retention")
    assert check_param("2025-06-01", "as_of", ["date"], func="retention") == "2025-06-01"


def test_unknown_keywords_explain_the_vocabulary():
    import iop_outcomes as iop

    ep = pd.DataFrame({"baseline": [10.0], "endpoint": [5.0], "format": ["virtual"]})
    with pytest.raises(ConfigError, match=r"no parameter 'by': by= only stratifies.*subgroups"):
        iop.compare(ep, by="format")
    with pytest.raises(ConfigError, match=r"no parameter 'group'.*summarises, with by=.*compare"):
        iop.change_summary(ep, group="format")
    with pytest.raises(ConfigError, match=r"plots take no analysis options"):
        iop.plots.plot_km(None, instrument="PHQ-9")
    with pytest.raises(TypeError, match=r"Did you mean 'method'\?"):
        iop.compare(ep, methd="welch")


def test_column_messages_suggest_names_and_the_right_table():
    assessments = pd.DataFrame({"episode_id": ["e"], "total": [12], "format": ["virtual"]})
    with pytest.raises(DataError, match=r"This looks like assessment rows.*iop\.episodes"):
        check_columns(assessments, ["baseline", "endpoint"], func="compare", what="episode table")
    episodes = pd.DataFrame({"baseline": [10.0], "endpoint": [5.0], "format": ["virtual"]})
    with pytest.raises(DataError, match=r"'fromat': did you mean 'format'\?"):
        check_columns(episodes, ["fromat"], func="compare")
    with pytest.raises(DataError, match=r"This looks like an episode table.*iop\.load"):
        check_columns(episodes, ["total"], func="trajectories")


def test_a_load_result_is_pointed_to_its_data():
    import iop_outcomes as iop

    loaded = iop.load(
        pd.DataFrame(
            {
                "patient_id": ["p"],
                "instrument": ["PHQ-9"],
                "assessment_date": ["2025-01-06"],
                "total": [12],
            }
        )
    )
    with pytest.raises(ConfigError, match=r"Pass its \.data"):
        iop.compare(loaded)
