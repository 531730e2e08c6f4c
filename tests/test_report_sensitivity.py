"""The sensitivity table cannot reveal a suppressed count through n_used + n_missing = N."""

import pandas as pd

from iop_outcomes._report.suppress import suppress


def test_hidden_missing_count_hides_its_n_used():
    # found by a new-user review: completers n_used 31 beside LOCF n_used 40 gave n_missing = 9
    t = pd.DataFrame(
        {
            "method": ["completers", "locf", "mi"],
            "n_used": [31, 40, 40],
            "n_missing": [9, 0, 0],
            "estimate": [-6.1, -5.2, -5.9],
        }
    )
    # the same options the report uses for its missing-data sensitivity table
    out = suppress(
        t,
        11,
        counts=["n_used", "n_missing"],
        total_col=True,
        column_totals=False,
        small_n={"estimate": "n_used"},
    ).table
    assert out.loc[0, "n_missing"] == "<11" and out.loc[0, "n_used"] == "*"
    assert out.loc[1, "n_used"] == 40 or str(out.loc[1, "n_used"]) == "40"
