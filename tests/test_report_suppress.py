"""Small-cell suppression: primary, complementary and derived cells (hand-worked tables)."""

import numpy as np
import pandas as pd
import pytest

from iop_outcomes._report import suppress
from iop_outcomes.exceptions import ConfigError


def _recoverable(values, hidden, constraints):
    """Brute-force audit: a hidden cell is recoverable if some constraint has exactly one
    hidden quantity. ``constraints``: list of (cells, total_cell or None)."""
    for cells, total in constraints:
        q = cells + ([total] if total is not None else [])
        if sum(hidden[c] for c in q) == 1:
            return True
    return False


def test_primary_threshold_default_is_counts_1_to_10():
    t = pd.DataFrame({"g": list("abcdef"), "n": [0, 1, 10, 11, 500, 600]})
    s = suppress(t)
    assert s.table["n"].tolist()[:4] == [0, "<11", "<11", 11]
    assert s.primary["n"].tolist() == [False, True, True, False, False, False]
    # two primary cells already protect each other in the single column constraint
    assert not s.complementary["n"].any()
    assert s.threshold == 11 and s.enabled


def test_single_small_cell_gets_smallest_positive_complement():
    # hand-worked: 120 + 64 + 30 + 4 = 218 (total published elsewhere); 4 is hidden, so the
    # smallest other positive cell (30) must go too, else 218 - 120 - 64 - 30 = 4.
    t = pd.DataFrame(
        {
            "cat": ["rec", "imp", "unch", "det"],
            "n": [120, 64, 30, 4],
            "pct": [55.0, 29.4, 13.8, 1.8],
        }
    )
    s = suppress(t, derived={"pct": "n"})
    assert s.table["n"].tolist() == [120, 64, "*", "<11"]
    assert s.table["pct"].tolist() == [55.0, 29.4, "*", "*"]
    assert s.complementary["n"].tolist() == [False, False, True, False]
    assert s.derived["pct"].tolist() == [False, False, True, True]
    assert s.n_hidden == 4


def test_zero_is_shown_and_not_used_as_complement_when_positive_exists():
    t = pd.DataFrame({"cat": list("abc"), "n": [0, 5, 40]})
    s = suppress(t)
    assert s.table["n"].tolist() == [0, "<11", "*"]


def test_total_row_is_used_when_no_positive_member_is_left():
    # members 0, 0, 7 with printed total 7: hiding 7 alone leaves it as total - 0 - 0
    t = pd.DataFrame({"cat": ["a", "b", "c", "Total"], "n": [0, 0, 7, 7]})
    s = suppress(t, total_row="Total")
    # the total (7) is itself small, so both are primary; nothing recoverable
    assert s.table["n"].tolist() == [0, 0, "<11", "<11"]
    t2 = pd.DataFrame({"cat": ["a", "b", "Total"], "n": [0, 3, 3]})
    assert suppress(t2, total_row="Total").table["n"].tolist() == [0, "<11", "<11"]


def test_crosstab_complementary_suppression_protects_rows_and_columns():
    # 3 x 3 cross-tab with row totals printed and column totals known
    t = pd.DataFrame(
        {
            "band": ["mild", "moderate", "severe"],
            "improved": [50, 3, 40],
            "unchanged": [20, 30, 25],
            "worse": [15, 22, 60],
        }
    )
    t["total"] = t[["improved", "unchanged", "worse"]].sum(axis=1)
    counts = ["improved", "unchanged", "worse", "total"]
    s = suppress(t, counts=counts, total_col="total")
    hidden = s.hidden[counts].to_numpy()
    assert hidden[1, 0]  # the 3
    # audit every constraint: no constraint may have exactly one hidden quantity
    constraints = []
    for j in range(4):
        constraints.append(([(i, j) for i in range(3)], None))
    for i in range(3):
        constraints.append(([(i, j) for j in range(3)], (i, 3)))
    assert not _recoverable(None, hidden, constraints)
    # minimal pattern: a 2x2 rectangle (4 cells) is the least that protects a single cell
    assert hidden[:, :3].sum() == 4


def test_by_groups_make_separate_constraints():
    t = pd.DataFrame(
        {
            "format": ["v", "v", "v", "p", "p", "p"],
            "cat": ["a", "b", "c"] * 2,
            "n": [100, 5, 60, 80, 70, 90],
        }
    )
    s = suppress(t, by="format")
    assert s.table["n"].tolist() == [100, "<11", "*", 80, 70, 90]


def test_iterates_until_stable_across_constraints():
    # the complement chosen for row 0 creates a single hidden cell in column 'y'
    t = pd.DataFrame({"g": ["r0", "r1", "r2"], "x": [2, 50, 60], "y": [30, 45, 70]})
    s = suppress(t, counts=["x", "y"], total_col=True)
    hidden = s.hidden[["x", "y"]].to_numpy()
    constraints = [([(i, 0) for i in range(3)], None), ([(i, 1) for i in range(3)], None)]
    constraints += [([(i, 0), (i, 1)], None) for i in range(3)]
    assert not _recoverable(None, hidden, constraints)
    assert hidden.sum() == 4


def test_configurable_threshold_and_label():
    t = pd.DataFrame({"cat": list("abc"), "n": [3, 5, 100]})
    s = suppress(t, threshold=5)
    assert s.table["n"].tolist() == ["<5", "*", 100]


def test_turning_off_is_explicit_and_recorded():
    t = pd.DataFrame({"cat": list("ab"), "n": [3, 100]})
    s = suppress(t, threshold=None)
    assert not s.enabled and s.threshold is None
    assert s.table["n"].tolist() == [3, 100]
    assert "OFF" in s.notes[0]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "11"])
def test_bad_threshold_message(bad):
    with pytest.raises(ConfigError, match="'threshold' parameter of suppress must be a positive"):
        suppress(pd.DataFrame({"n": [1]}), threshold=bad)


def test_missing_columns_listed():
    with pytest.raises(ConfigError, match=r"\['pct'\] not found.*Table columns: \['n'\]"):
        suppress(pd.DataFrame({"n": [1]}), derived={"pct": "n"})


def test_nan_counts_ignored_and_index_preserved():
    t = pd.DataFrame({"n": [np.nan, 4.0, 50.0, 60.0]}, index=["w", "x", "y", "z"])
    s = suppress(t)
    assert list(s.table.index) == ["w", "x", "y", "z"]
    assert s.table["n"].tolist()[1:] == ["<11", "*", 60.0]
    assert np.isnan(s.table["n"].tolist()[0])


def test_derived_of_several_counts():
    t = pd.DataFrame(
        {
            "g": ["a", "b", "c"],
            "n_pre": [50, 40, 30],
            "n_post": [45, 4, 28],
            "mean_change": [-5.1, -6.0, -4.2],
        }
    )
    s = suppress(t, counts=["n_pre", "n_post"], derived={"mean_change": ["n_pre", "n_post"]})
    assert s.table["mean_change"].tolist() == [-5.1, "*", "*"]


def test_random_tables_never_leave_a_single_hidden_quantity():
    rng = np.random.default_rng(7)
    for _ in range(200):
        r, c = rng.integers(1, 5), rng.integers(1, 5)
        vals = rng.choice([0, 1, 3, 9, 10, 11, 12, 40, 200], size=(r, c))
        t = pd.DataFrame(vals, columns=[f"n_{j}" for j in range(c)])
        counts = list(t.columns)
        s = suppress(t, counts=counts, total_col=True)
        hidden = s.hidden[counts].to_numpy()
        constraints = [([(i, j) for i in range(r)], None) for j in range(c)]
        constraints += [([(i, j) for j in range(c)], None) for i in range(r)]
        # a constraint made of one cell is its own published total: cannot be protected
        # inside the table, and the implementation warns about it
        multi = [(cells, t_) for cells, t_ in constraints if len(cells) > 1]
        if any(len(cells) == 1 and hidden[cells[0]] for cells, _ in constraints):
            assert any("could not be protected" in n for n in s.notes)
            continue
        assert not _recoverable(None, hidden, multi)
        small = (vals >= 1) & (vals < 11)
        assert (hidden | ~small).all()


def test_k_of_n_hides_k_when_remainder_is_small():
    # 95 of 100 responded: the 5 non-responders are a small cell, so 95 (and the rate) go
    t = pd.DataFrame({"g": ["a", "b", "c"], "k": [95, 40, 50], "n": [100, 90, 120]})
    t["rate"] = t["k"] / t["n"]
    s = suppress(t, counts=["k", "n"], complements={"k": "n"}, derived={"rate": "k"})
    assert s.table["k"].tolist()[0] == "*" and s.table["rate"].tolist()[0] == "*"
    # column constraint on k: a second k is hidden as its complement
    assert sum(v == "*" for v in s.table["k"].tolist()) == 2
    assert s.table["n"].tolist() == [100, 90, 120]


def test_two_way_long_table_with_within_and_total_rows():
    # outcome x format in long form, with the Overall rows as totals of each outcome
    fmt = ["Overall"] * 3 + ["virtual"] * 3 + ["in_person"] * 3
    out = ["rec", "imp", "det"] * 3
    n = [150, 120, 30, 70, 52, 3, 80, 68, 27]
    t = pd.DataFrame({"group": fmt, "outcome": out, "count": n})
    s = suppress(t, counts=["count"], by="outcome", total_row="Overall", within="group")
    hidden = s.hidden["count"].to_numpy()
    assert hidden[5]  # the 3
    # every constraint: within each format (implicit n) and across formats (Overall row)
    constraints = [([(i, 0) for i in range(k, k + 3)], None) for k in (0, 3, 6)]
    for o in range(3):
        constraints.append(([(3 + o, 0), (6 + o, 0)], (o, 0)))
    h = {(i, 0): hidden[i] for i in range(9)}
    assert not _recoverable(None, h, constraints)


def test_small_n_statistics_hidden_only_for_small_counts():
    # site c has 3 unpaired episodes (primary); its n_paired becomes a complement, but the
    # mean change of 40 people does not reveal any count and stays; site d (n 6) loses it
    t = pd.DataFrame(
        {
            "site": ["a", "b", "c", "d"],
            "n_episodes": [120, 90, 43, 6],
            "n_paired": [100, 80, 40, 6],
            "n_unpaired": [20, 10, 3, 0],
            "mean_change": [-5.0, -6.0, -4.0, -3.0],
        }
    )
    s = suppress(
        t,
        counts=["n_episodes", "n_paired", "n_unpaired"],
        total_col="n_episodes",
        small_n={"mean_change": "n_paired"},
    )
    assert s.table["mean_change"].tolist() == [-5.0, -6.0, -4.0, "*"]
    assert s.table.loc[2, "n_unpaired"] == "<11"
    assert s.table.loc[3, "n_paired"] == "<11"


def test_overlapping_rows_without_column_totals():
    # recovery is a subset of reliable improvement: rows are not a partition
    t = pd.DataFrame(
        {
            "outcome": ["recovery", "reliable improvement", "deterioration"],
            "count": [390, 573, 4],
            "n": [950, 1127, 1127],
        }
    )
    s = suppress(t, counts=["count", "n"], complements={"count": "n"}, column_totals=False)
    assert s.table["count"].tolist() == [390, 573, "<11"]
    assert not any("could not be protected" in n for n in s.notes)


def test_random_long_two_way_tables_are_protected():
    """Long (group x outcome) tables with Overall rows, as in the clinical-significance table:
    no within-group or across-group constraint is left with exactly one hidden quantity."""
    rng = np.random.default_rng(11)
    for _ in range(150):
        n_g, n_o = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        vals = rng.choice([0, 2, 7, 10, 11, 15, 60, 300], size=(n_g, n_o))
        groups = [f"g{i}" for i in range(n_g)]
        outcomes = [f"o{j}" for j in range(n_o)]
        rows = [("Overall", o, int(vals[:, j].sum())) for j, o in enumerate(outcomes)]
        rows += [
            (g, o, int(vals[i, j])) for i, g in enumerate(groups) for j, o in enumerate(outcomes)
        ]
        t = pd.DataFrame(rows, columns=["group", "outcome", "count"])
        s = suppress(t, counts=["count"], by="outcome", total_row="Overall", within="group")
        h = s.hidden["count"].to_numpy()
        cons = []
        for j in range(n_o):  # across groups: members vs the Overall row (explicit total)
            members = [(n_o + i * n_o + j, 0) for i in range(n_g)]
            cons.append((members, (j, 0)))
        for k in range(n_g + 1):  # within each group, including Overall (implicit total)
            cons.append(([(k * n_o + j, 0) for j in range(n_o)], None))
        hm = {(i, 0): bool(h[i]) for i in range(len(t))}
        if any("could not be protected" in n for n in s.notes):
            continue
        assert not _recoverable(None, hm, cons)
        small = (t["count"] >= 1) & (t["count"] < 11)
        assert h[small.to_numpy()].all()


def test_forced_cells_are_hidden_protected_and_hide_their_derived_values():
    # hand-worked: 'b' (40) must be hidden because another table gives it away; 40 alone in
    # the column 60 + 40 + 25 = 125 would come back by subtraction, so the smallest other
    # positive cell (25) goes too, and both percentages with them
    t = pd.DataFrame({"g": ["a", "b", "c"], "n": [60, 40, 25], "pct": [0.48, 0.32, 0.2]})
    force = pd.DataFrame({"n": [False, True, False]})
    s = suppress(t, derived={"pct": "n"}, force=force)
    assert s.table["n"].tolist() == [60, "*", "*"]
    assert s.table["pct"].tolist() == [0.48, "*", "*"]
    assert s.complementary["n"].tolist() == [False, True, True] and not s.primary["n"].any()
    assert any("other tables" in n for n in s.notes)
    # a forced cell that is also small stays primary ('<11'); an array mask works the same
    s2 = suppress(t.assign(n=[60, 4, 25]), force=np.array([[False, True, False]] * 3).T)
    assert s2.table["n"].tolist() == [60, "<11", "*"]
    # turned off, nothing is hidden, forced or not
    assert suppress(t, None, force=force).table["n"].tolist() == [60, 40, 25]
    with pytest.raises(ConfigError, match="'force' must have the table's shape"):
        suppress(t, force=np.zeros((2, 2), dtype=bool))


def _ctx_with(cells: dict, identities=(), threshold=11):
    from iop_outcomes._report.config import StudyConfig
    from iop_outcomes._report.context import Ctx

    ctx = Ctx(StudyConfig(threshold=threshold), strict=True)
    ctx.cells = {k: [(float(v), hidden)] for k, (v, hidden) in cells.items()}
    for total, members in identities:
        ctx.identity(total, members)
    return ctx


def test_cross_table_small_difference_hides_the_smaller_count():
    # hand-worked: 150 virtual episodes admitted (flow table), 145 with paired scores (change
    # table): 150 - 145 = 5 unpaired, a count of people from 1 to 10, so one of the two is
    # hidden everywhere: the smaller population (paired), as it hides least
    from iop_outcomes._report.disclosure import hidden_populations

    adm, pai = ("PHQ-9", "format", "virtual", "admitted"), ("PHQ-9", "format", "virtual", "paired")
    assert hidden_populations(_ctx_with({adm: (150, False), pai: (145, False)})) == {pai}
    # 11 apart: nothing to hide; the same count hidden in one table is hidden (returned) too
    assert hidden_populations(_ctx_with({adm: (156, False), pai: (145, False)})) == set()
    assert hidden_populations(_ctx_with({adm: (156, False), pai: (145, True)})) == {pai}
    # equal nested populations (every admitted episode paired) are hidden together
    assert hidden_populations(_ctx_with({adm: (145, False), pai: (145, True)})) == {adm, pai}
    # suppression off: nothing
    off = _ctx_with({adm: (150, False), pai: (145, False)})
    off.threshold = None
    assert hidden_populations(off) == set()


def test_cross_table_whole_cohort_minus_other_groups():
    # hand-worked: overall admitted 300 = 150 + 100 + 50; hybrid's 50 is hidden in some table,
    # so 300 - 150 - 100 would give it back: the smallest other group (100) is hidden too
    from iop_outcomes._report.disclosure import hidden_populations

    k = {g: ("PHQ-9", "format", g, "admitted") for g in ("in_person", "virtual", "hybrid")}
    cells = {
        ("PHQ-9", "*", "*", "admitted"): (300, False),
        k["in_person"]: (150, False),
        k["virtual"]: (100, False),
        k["hybrid"]: (50, True),
    }
    assert hidden_populations(_ctx_with(cells)) == {k["hybrid"], k["virtual"]}


def test_cross_table_sums_solved_together():
    # hand-worked: x = 5 (small, hidden), y = 50 and z = 60 hidden as complements. Three
    # published totals t1 = x + y = 55, t2 = x + z = 65, t3 = y + z = 110: every sum has two
    # hidden terms, so no single subtraction works, but (t1 + t2 - t3) / 2 = 5 = x. One more
    # count must go (the smallest visible total, 55), after which x is not determined.
    from iop_outcomes._report.disclosure import hidden_populations

    def key(p):
        return ("PHQ-9", "*", "*", f"flow|s|{p}")

    cells = {
        key("x"): (5, True),
        key("y"): (50, True),
        key("z"): (60, True),
        key("t1"): (55, False),
        key("t2"): (65, False),
        key("t3"): (110, False),
    }
    ids = [
        (key("t1"), [key("x"), key("y")]),
        (key("t2"), [key("x"), key("z")]),
        (key("t3"), [key("y"), key("z")]),
    ]
    got = hidden_populations(_ctx_with(cells, ids))
    assert got == {key("x"), key("y"), key("z"), key("t1")}


def test_shares_of_a_hidden_total_are_hidden():
    # hand-worked: 120 of a total of 240 is 0.5; with the total hidden (forced), 120 / 0.5
    # would give it back, so every share of the group goes; the total row's own share too
    t = pd.DataFrame(
        {"episodes": ["yes", "no", "total"], "n": [120, 120, 240], "pct": [0.5, 0.5, 1.0]}
    )
    force = pd.DataFrame({"n": [False, False, True]})
    s = suppress(t, total_row="total", shares={"pct": "n"}, force=force)
    assert s.table["pct"].tolist() == ["*", "*", "*"]
    # with the total visible, a share goes only with its own count: 4 is small, 236 its
    # complement (240 - 236 = 4), the total and its share 1.0 stay
    t2 = t.assign(n=[236, 4, 240], pct=[236 / 240, 4 / 240, 1.0])
    s = suppress(t2, total_row="total", shares={"pct": "n"})
    assert s.table["n"].tolist() == ["*", "<11", 240]
    assert s.table["pct"].tolist() == ["*", "*", 1.0]


def test_counts_of_one_group_under_two_instruments_are_related():
    # hand-worked (the demo's hybrid group): 178 episodes paired on the PHQ-9, 177 on the
    # GAD-7; neither set holds the other in general, but 178 - 177 = 1 is the net number of
    # episodes paired on one and not the other, so the smaller count is hidden
    from iop_outcomes._report.disclosure import hidden_populations

    def key(inst, pop, g="hybrid"):
        return (inst, "format", g, pop)

    phq, gad = key("PHQ-9", "paired"), key("GAD-7", "paired")
    assert hidden_populations(_ctx_with({phq: (178, False), gad: (177, False)})) == {gad}
    # whichever instrument has the smaller count: here the PHQ-9
    assert hidden_populations(_ctx_with({phq: (170, False), gad: (177, False)})) == {phq}
    # 11 apart, or in different groups: unrelated
    assert hidden_populations(_ctx_with({phq: (188, False), gad: (177, False)})) == set()
    other = key("GAD-7", "paired", "virtual")
    assert hidden_populations(_ctx_with({phq: (178, False), other: (177, False)})) == set()
    # equal counts are shown or hidden together: a reader would take one for the other
    assert hidden_populations(_ctx_with({phq: (177, False), gad: (177, True)})) == {phq, gad}
    # nested across instruments: the effect-size n of the GAD-7 within the PHQ-9 flow's
    # episodes measured after baseline (flow vs each instrument)
    flow, es = key("PHQ-9", "measured"), key("GAD-7", "es_n|g_av")
    assert hidden_populations(_ctx_with({flow: (178, False), es: (175, False)})) == {es}
    # outcomes counted among the episodes are not related across instruments (a PHQ-9
    # responder and a GAD-7 responder are different events)
    k1, k2 = key("PHQ-9", "rate_k|response"), key("GAD-7", "rate_k|response")
    assert hidden_populations(_ctx_with({k1: (75, False), k2: (69, False)})) == set()


def test_drr_e_and_nhs_denominators_are_related():
    # hand-worked: 356 episodes in the DRR-E denominator (PHQ-9 above 9 at an index score),
    # 347 at NHS caseness (PHQ-9 >= 10 or GAD-7 >= 8 at the first score, finished courses):
    # different rules picking mostly the same episodes; 356 - 347 = 9, so 347 is hidden
    from iop_outcomes._report.disclosure import hidden_populations

    def key(pop, inst="PHQ-9"):
        return (inst, "*", "*", pop)

    den, case = key("qm|den"), key("nhs_n_caseness")
    assert hidden_populations(_ctx_with({den: (356, False), case: (347, False)})) == {case}
    assert hidden_populations(_ctx_with({den: (340, False), case: (347, False)})) == {den}
    # the NHS n counts episodes paired on either instrument: it may exceed the PHQ-9's paired
    # episodes (GAD-7-only pairs) as well as fall short of them; either way the smaller goes
    n_all = key("nhs_n_all")
    paired = key("paired", "GAD-7")
    got = hidden_populations(_ctx_with({n_all: (1126, False), paired: (1124, False)}))
    assert got == {paired}
    got = hidden_populations(_ctx_with({n_all: (1120, False), paired: (1124, False)}))
    assert got == {n_all}
    # the primary instrument's overall paired n is a headline count (issue 11): the other
    # count of the pair is hidden instead, whichever is smaller
    headline = key("paired")
    for n in (1126, 1120):
        got = hidden_populations(_ctx_with({n_all: (n, False), headline: (1124, False)}))
        assert got == {n_all}


def test_headline_counts_are_complements_only_when_nothing_else_protects():
    """suppress(protect=...): a small unpaired count is protected by hiding the total rather
    than the headline paired n; with only the headline left, it is hidden (safety first)."""
    t = pd.DataFrame({"group": ["Overall"], "n_episodes": [236], "n_paired": [230], "n_un": [6]})
    protect = pd.DataFrame({"n_paired": [True]})
    kw = dict(counts=["n_episodes", "n_paired", "n_un"], total_col="n_episodes")
    assert suppress(t, **kw).table.iloc[0].tolist() == ["Overall", 236, "*", "<11"]
    got = suppress(t, protect=protect, **kw).table.iloc[0].tolist()
    assert got == ["Overall", "*", 230, "<11"]
    # "k of n": the remainder n - k = 6 is small; k is the headline, so n is hidden instead
    kn = pd.DataFrame({"k": [230], "n": [236]})
    assert suppress(kn, counts=["k", "n"], complements={"k": "n"}, column_totals=False).table[
        "k"
    ].tolist() == ["*"]
    got = suppress(
        kn,
        counts=["k", "n"],
        complements={"k": "n"},
        column_totals=False,
        protect=pd.DataFrame({"k": [True]}),
    ).table
    assert got.iloc[0].tolist() == [230, "*"]
    # nothing but protected cells to choose from: the protected cell goes
    t2 = pd.DataFrame({"a": [230], "b": [6]})
    got = suppress(t2, counts=["a", "b"], total_col=True, protect=pd.DataFrame({"a": [True]}))
    assert got.table.iloc[0].tolist() == ["*", "<11"]


# ------------------------------------------------------------------ policy "round5"
def _wilson(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval written out (Wilson 1927; Newcombe 1998, method 3)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_round5_rounds_counts_to_the_nearest_5_and_hides_1_to_4():
    t = pd.DataFrame({"group": list("abcdef"), "n": [7, 13, 2, 0, 8, 12]})
    got = suppress(t, 5, policy="round5").table["n"].tolist()
    assert got == [5, 15, "<5", 0, 10, 10]  # 7 -> 5, 13 -> 15, 2 -> "<5", 8 -> 10, 12 -> 10
    # a configured threshold of 11 shows counts 1-10 as "<11" and rounds the rest
    got = suppress(t.assign(n=[7, 13, 2, 0, 11, 12]), 11, policy="round5").table["n"].tolist()
    assert got == ["<11", 15, "<11", 0, 10, 10]
    # no complementary suppression: a total beside one small member stays shown (rounded)
    t = pd.DataFrame({"g": ["x", "y", "total"], "n": [3, 110, 113]})
    r = suppress(t, 5, policy="round5", total_row="total")
    assert r.table["n"].tolist() == ["<5", 110, 115] and r.policy == "round5"
    assert "rounded to the nearest 5" in r.notes[0] and "(1 cell)" in r.notes[0]


def test_round5_percentages_come_from_the_rounded_counts():
    """Worked example: 13 responders of 113 paired episodes are published as 15 of 115, and
    the rate as 15 / 115 = 13.04 %, not 13 / 113 = 11.50 % (which, printed to six decimals,
    is only 13 of 113 among the counts that round to 15 and 115). The Wilson interval of
    15 of 115 is 8.07 % to 20.41 % (formula written out in :func:`_wilson`, and
    statsmodels' proportion_confint(method="wilson"))."""
    t = pd.DataFrame({"k": [13, 2, 40], "n": [113, 113, 52], "rate": [13 / 113, 2 / 113, 40 / 52]})
    t["ci_low"], t["ci_high"] = 0.0, 1.0  # placeholders: recomputed from the rounded counts
    r = suppress(
        t,
        5,
        policy="round5",
        counts=["k", "n"],
        derived={c: ["k", "n"] for c in ("rate", "ci_low", "ci_high")},
        proportions={"rate": ("k", "n")},
        intervals={("ci_low", "ci_high"): ("k", "n")},
    ).table
    assert r.loc[0, ["k", "n"]].tolist() == [15, 115]
    assert r.loc[0, "rate"] == pytest.approx(0.130435, abs=1e-6)
    lo, hi = _wilson(15, 115)
    assert (round(lo, 4), round(hi, 4)) == (0.0807, 0.2041)
    assert r.loc[0, "ci_low"] == pytest.approx(lo, abs=1e-12)
    assert r.loc[0, "ci_high"] == pytest.approx(hi, abs=1e-12)
    sm = pytest.importorskip("statsmodels.stats.proportion")
    assert (r.loc[0, "ci_low"], r.loc[0, "ci_high"]) == pytest.approx(
        sm.proportion_confint(15, 115, method="wilson"), abs=1e-9
    )
    # a small k hides its rate and interval; 40 of 52 -> 40 of 50 = 80 %
    assert r.loc[1].tolist() == ["<5", 115, "*", "*", "*"]
    assert r.loc[2, "rate"] == pytest.approx(0.8)


def test_round5_other_statistics_are_rounded_and_hidden_for_small_counts():
    t = pd.DataFrame(
        {
            "n": [113, 3],
            "mean": [14.283186, 12.333333],  # 1614 / 113: the exact n behind it
            "ci_low": [13.1, 5.0],
            "pvalue": [0.012345, 0.5],
        }
    )
    r = suppress(
        t,
        5,
        policy="round5",
        counts=["n"],
        derived={"ci_low": "n", "pvalue": "n"},
        small_n={"mean": "n"},
    ).table
    assert r.loc[0].tolist() == [115, 14.3, 13.1, 0.01]
    assert r.loc[1].tolist() == ["<5", "*", "*", "*"]
    # at one decimal, every n that rounds to 115 has a whole-number sum of scores near
    # 14.3 * n: the mean no longer singles out n = 113 (it did at six decimals)
    near = [n for n in range(113, 118) if abs(14.283186 * n - round(14.283186 * n)) < 1e-4]
    assert near == [113]
    assert all(abs(14.3 * n - round(14.3 * n)) <= 0.05 * n for n in range(113, 118))


def test_round5_checks_policy_and_threshold():
    t = pd.DataFrame({"n": [7]})
    with pytest.raises(ConfigError, match=r"'policy' parameter of suppress must be one of"):
        suppress(t, policy="round10")
    for bad in (2, 7, 12):  # 2 would round to 0; with 7 a shown 5 could only be 7
        with pytest.raises(ConfigError, match=r"at least 3 and not 7, 12, 17"):
            suppress(t, bad, policy="round5")
    # off stays off whatever the policy
    assert suppress(t, None, policy="round5").table["n"].tolist() == [7]


def test_round5_proportions_only_in_their_rows():
    """Durability: rates in some rows, a mean change (points) in another."""
    t = pd.DataFrame(
        {
            "measure": ["change", "kept"],
            "n": [103, 62],
            "count": [np.nan, 48],
            "estimate": [0.4321, 48 / 62],
        }
    )
    r = suppress(
        t,
        5,
        policy="round5",
        counts=["n", "count"],
        derived={"estimate": ["n", "count"]},
        proportions={"estimate": ("count", "n")},
        proportion_rows=np.array([False, True]),
    ).table
    assert r["n"].tolist() == [105, 60]
    assert r.loc[0, "estimate"] == 0.4  # a mean: rounded to one decimal
    assert r.loc[1, "estimate"] == pytest.approx(50 / 60)  # 48 of 62 -> 50 of 60


def test_round5_shares_of_a_hidden_or_absent_total_are_hidden():
    t = pd.DataFrame({"g": ["a", "b", "total"], "n": [2, 1, 3], "share": [2 / 3, 1 / 3, 1.0]})
    r = suppress(t, 5, policy="round5", shares={"share": "n"}, total_row="total").table
    assert r["share"].tolist() == ["*", "*", "*"] and r["n"].tolist() == ["<5", "<5", "<5"]
    t = pd.DataFrame({"g": ["a", "b"], "n": [113, 37], "share": [113 / 150, 37 / 150]})
    r = suppress(t, 5, policy="round5", shares={"share": "n"}).table  # no total row
    assert r["n"].tolist() == [115, 35] and r["share"].tolist() == ["*", "*"]


def test_round5_ranges_that_pin_an_exact_count_are_broken():
    """Found by the attacker's audit of a 240-episode report: 116 in-person episodes admitted
    (shown 115: 113 to 117); 112 with an endpoint score and 4 without (110 and "<5": together
    109 to 116); 48 answered the 1-month follow-up and 68 did not (50 and 70: together 116 to
    124). Rounded, each is safe; added up, the episodes admitted can only be 116. The
    cross-table step hides one more count (the smallest shown one of a sum holding it), after
    which no count is pinned."""
    from iop_outcomes._report.disclosure import _round5_pins

    def key(pop):
        return ("PHQ-9", "format", "in_person", pop)

    adm, scored, none, resp, nores = (key(p) for p in ("adm", "scored", "none", "resp", "no"))
    reg = {adm: 116, scored: 112, none: 4, resp: 48, nores: 68}
    cons = [(adm, (scored, none)), (adm, (resp, nores))]
    out = _round5_pins(reg, {none}, cons, 5)
    assert out == {none, resp}  # resp (48, shown 50) is the smallest shown count of its sum
    # with 47 responders (shown 45: 45 to 47) the sums leave 116 to 117: nothing to hide
    assert _round5_pins({**reg, resp: 47, nores: 69}, {none}, cons, 5) == {none}
    # a headline count is hidden only when nothing else can be
    assert _round5_pins(reg, {none}, cons, 5, protected=frozenset({resp})) == {none, nores}
