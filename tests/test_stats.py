"""Shared statistical building blocks (iop_outcomes._stats)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iop_outcomes._stats import newcombe_diff_ci

REF = Path(__file__).parent / "reference" / "stats"


# Newcombe RG (1998) Stat Med 17:873-890, Table II, method 10 (hybrid score interval without
# continuity correction), as printed in the paper: (k1, n1, k2, n2) -> (lower, upper).
NEWCOMBE_1998_TABLE_II = {
    "a": ((56, 70, 48, 80), (0.0524, 0.3339)),
    "b": ((9, 10, 3, 10), (0.1705, 0.8090)),
    "c": ((6, 7, 2, 7), (0.0582, 0.8062)),
    "d": ((5, 56, 0, 29), (-0.0381, 0.1926)),
    "e": ((0, 10, 0, 20), (-0.1611, 0.2775)),
    "f": ((10, 10, 0, 20), (0.6791, 1.0000)),
}


@pytest.mark.parametrize("example", sorted(NEWCOMBE_1998_TABLE_II))
def test_newcombe_matches_the_papers_table_ii(example):
    (k1, n1, k2, n2), (lo, hi) = NEWCOMBE_1998_TABLE_II[example]
    d, got_lo, got_hi = newcombe_diff_ci(k1, n1, k2, n2)
    assert float(d) == pytest.approx(k1 / n1 - k2 / n2)
    assert round(float(got_lo), 4) == lo
    assert round(float(got_hi), 4) == hi


def test_newcombe_matches_the_r_fixture_vectorized():
    ref = pd.read_csv(REF / "newcombe_diff_ci_expected.csv")
    for level, sub in ref.groupby("ci_level"):
        d, lo, hi = newcombe_diff_ci(sub["k1"], sub["n1"], sub["k2"], sub["n2"], ci_level=level)
        np.testing.assert_allclose(d, sub["estimate"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(lo, sub["ci_low"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(hi, sub["ci_high"], rtol=0, atol=1e-10)


def test_newcombe_agrees_with_statsmodels_and_is_antisymmetric():
    from statsmodels.stats.proportion import confint_proportions_2indep

    for k1, n1, k2, n2 in [(440, 1126, 401, 1090), (3, 25, 11, 30), (0, 12, 12, 12)]:
        d, lo, hi = newcombe_diff_ci(k1, n1, k2, n2, ci_level=0.9)
        ref = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", alpha=0.1)
        assert (float(lo), float(hi)) == pytest.approx(ref, abs=1e-10)
        # swapping the groups mirrors the interval
        d2, lo2, hi2 = newcombe_diff_ci(k2, n2, k1, n1, ci_level=0.9)
        assert (float(d2), float(lo2), float(hi2)) == pytest.approx((-d, -hi, -lo), abs=1e-12)


def test_newcombe_empty_group_gives_nan():
    d, lo, hi = newcombe_diff_ci([5, 5], [10, 0], [3, 3], [10, 10])
    assert np.isfinite(d[0]) and np.isnan(d[1]) and np.isnan(lo[1]) and np.isnan(hi[1])
