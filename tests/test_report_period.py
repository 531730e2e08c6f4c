"""The reporting period: parsing, which episodes it selects, the accounting of the others."""

import warnings

import pandas as pd
import pytest

from iop_outcomes._report.period import parse_period, select_period
from iop_outcomes.exceptions import ConfigError, DataError


@pytest.mark.parametrize(
    ("text", "start", "end", "norm"),
    [
        ("2025", "2025-01-01", "2025-12-31", "2025"),
        ("2025-Q1", "2025-01-01", "2025-03-31", "2025-Q1"),
        ("2025-q4", "2025-10-01", "2025-12-31", "2025-Q4"),
        ("2024-02", "2024-02-01", "2024-02-29", "2024-02"),  # a leap year's February
        ("2025-01-15", "2025-01-15", "2025-01-15", "2025-01-15"),
        ("2025-Q1..2025-Q4", "2025-01-01", "2025-12-31", "2025-Q1..2025-Q4"),
        ("2025-01-01..2025-03-31", "2025-01-01", "2025-03-31", "2025-01-01..2025-03-31"),
        ("2024-11..2025-Q1", "2024-11-01", "2025-03-31", "2024-11..2025-Q1"),
        (" 2024 .. 2025-06 ", "2024-01-01", "2025-06-30", "2024..2025-06"),
    ],
)
def test_every_form_of_period(text, start, end, norm):
    p = parse_period(text)
    assert (str(p.start.date()), str(p.end.date()), p.text, p.by) == (
        start,
        end,
        norm,
        "discharge",
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("2025-Q5", r"must be a year \(2025\), a quarter \(2025-Q1\).*Got '2025-Q5' instead"),
        ("Q1 2025", r"Got 'Q1 2025' instead"),
        ("2025-13", r"month 13, which does not exist: months are 01 to 12"),
        ("2025-02-30", r"2025-02-30, a day that does not exist"),
        ("2025-Q1..", r"one '\.\.' between two ends"),
        ("2025..2026..2027", r"one '\.\.' between two ends"),
        ("2025-Q4..2025-Q1", r"starts after it ends .*write the earlier end first, e\.g\. "),
        ("", r"Got '' instead"),
    ],
)
def test_period_errors_say_the_fix(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_period(text)


def test_period_by_and_source_in_messages(tmp_path):
    from iop_outcomes._report.config import load_config

    with pytest.raises(ConfigError, match=r"'period_by' parameter must be one of"):
        parse_period("2025", by="referral")
    with pytest.raises(ConfigError, match=r"'period' option --period must be"):
        parse_period("last year", source="option --period")
    study = tmp_path / "study.toml"
    study.write_text('[report]\nperiod = "2025-q2..2025-Q3"\nperiod_by = "admission"\n')
    cfg = load_config(study)
    assert (cfg.period, cfg.period_by) == ("2025-Q2..2025-Q3", "admission")
    assert cfg.to_dict()["period"] == "2025-Q2..2025-Q3"
    assert "period" not in load_config(None).to_dict()  # unset: recorded only when set
    study.write_text('[report]\nperiod = "2025-Q0"\n')
    with pytest.raises(ConfigError, match=r"'period' key in \[report\] of .*study\.toml must be"):
        load_config(study)
    study.write_text('[report]\nperiod = ""\n')
    with pytest.raises(ConfigError, match=r"'period' key in \[report\] of .*Got '' instead"):
        load_config(study)
    study.write_text('[report]\nperiod_by = "referral"\n')
    with pytest.raises(ConfigError, match=r"'period_by' key in \[report\] of .*must be one of"):
        load_config(study)
    study.write_text('[report]\nperiods = "2025"\n')
    with pytest.raises(ConfigError, match=r"Unknown key\(s\) \['periods'\] in \[report\]"):
        load_config(study)


# A hand-built cohort: 8 episodes with 2 rows each (E8 has GAD-7 rows only).
# episode: admit_date, discharge_date, first assessment
EPISODES = {
    "E1": ("2024-12-20", "2025-01-15", "2024-12-20"),
    "E2": ("2025-01-05", "2025-02-20", "2025-01-05"),
    "E3": ("2025-03-10", "2025-04-20", "2025-03-10"),
    "E4": ("2024-10-01", "2024-12-31", "2024-10-01"),
    "E5": ("2025-02-01", None, "2025-02-01"),  # still open
    "E6": (None, "2025-03-31", "2025-02-15"),  # no admission date: its first assessment
    "E7": ("2025-04-01", "2025-05-01", "2025-04-01"),
    "E8": ("2025-01-10", "2025-02-10", "2025-01-10"),
}


def _rows() -> pd.DataFrame:
    out = []
    for i, (e, (adm, dis, first)) in enumerate(EPISODES.items()):
        for k, (tp, total) in enumerate((("intake", 18), ("discharge", 9))):
            out.append(
                {
                    "patient_id": f"P{i:03d}",
                    "episode_id": e,
                    "instrument": "GAD-7" if e == "E8" else "PHQ-9",
                    "assessment_date": (pd.Timestamp(first) + pd.Timedelta(days=21 * k)).date(),
                    "timepoint": tp,
                    "total": total - (4 if e == "E8" else 0),
                    "admit_date": adm,
                    "discharge_date": dis,
                    "format": ("in_person", "virtual")[i % 2],
                }
            )
    return pd.DataFrame(out)


def test_selection_by_discharge_and_by_admission_counted_by_hand():
    from types import SimpleNamespace

    data = _rows().assign(
        admit_date=lambda d: pd.to_datetime(d["admit_date"]),
        discharge_date=lambda d: pd.to_datetime(d["discharge_date"]),
        assessment_date=lambda d: pd.to_datetime(d["assessment_date"]),
    )
    loaded = SimpleNamespace(data=data)
    kept, sel = select_period(loaded, parse_period("2025-Q1"))
    # discharged 2025-01-01..2025-03-31 (both ends included: E6 on 31 March)
    assert sel.place.to_dict() == {
        "E1": "in",
        "E2": "in",
        "E3": "after",
        "E4": "before",  # discharged 31 December 2024
        "E5": "undated",
        "E6": "in",
        "E7": "after",
        "E8": "in",
    }
    assert sorted(kept.data["episode_id"].unique()) == ["E1", "E2", "E6", "E8"]
    c = sel.counts("PHQ-9").set_index("place")
    assert c["episodes"].to_dict() == {"in": 3, "before": 1, "after": 2, "undated": 1}
    assert c["rows"].to_dict() == {"in": 8, "before": 2, "after": 4, "undated": 2}
    assert c["rows"].sum() == len(data)  # every row placed once

    kept, sel = select_period(loaded, parse_period("2025-Q1", by="admission"))
    assert sel.place.to_dict() == {
        "E1": "before",
        "E2": "in",
        "E3": "in",
        "E4": "before",
        "E5": "in",
        "E6": "in",  # no admit_date: its first assessment, 15 February
        "E7": "after",
        "E8": "in",
    }
    c = sel.counts("PHQ-9").set_index("place")
    assert c["episodes"].to_dict() == {"in": 4, "before": 2, "after": 1, "undated": 0}
    assert c["rows"].to_dict() == {"in": 10, "before": 4, "after": 2, "undated": 0}


def test_a_period_without_episodes_says_where_they_were():
    from types import SimpleNamespace

    data = _rows().assign(discharge_date=lambda d: pd.to_datetime(d["discharge_date"]))
    with pytest.raises(DataError, match=r"2023-Q1 .* selects no episode .*discharged after"):
        select_period(SimpleNamespace(data=data), parse_period("2023-Q1"))


def test_report_counts_the_episodes_outside_the_period():
    import iop_outcomes as iop

    cfg = {
        "suppression": {"enabled": False},  # tiny counts, checked by hand
        "sensitivity": {"enabled": False},
        "trajectories": {"enabled": False},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(_rows())
        rep = iop.report(loaded, config=cfg, period="2025-Q1")
    assert len(loaded.ledger) == 16  # every row stays in the ledger, in the period or not
    t = rep.table("reporting_period").set_index("episodes")["n"]
    # episodes of any instrument (E8 has GAD-7 rows only), as the participant flow counts them
    assert t.to_dict() == {
        "discharged in the period (analysed)": 4,
        "discharged before the period": 1,
        "discharged after the period": 2,
        "no discharge date (still in treatment, or not recorded)": 1,
    }
    # the analyses see the 4 episodes of the period (the flow's "admitted"), 3 with PHQ-9
    flow = rep.table("participant_flow").set_index("status")
    assert flow.loc["admitted", "All"] == 4
    assert flow.loc["baseline measured", "All"] == 3
    html = rep.html()
    assert "2025-Q1 (1 January 2025 to 31 March 2025): episodes discharged in the period" in html
    assert "covers the episodes discharged in the reporting period 2025-Q1" in html

    # by admission, over the study file's setting; an empty place is left out of the table
    rep = iop.report(
        loaded,
        config={**cfg, "report": {"period_by": "discharge"}},
        period="2025-Q1",
        period_by="admission",
    )
    t = rep.table("reporting_period").set_index("episodes")["n"]
    assert t.to_dict() == {  # no episode without a date: that row is left out
        "admitted in the period (analysed)": 5,
        "admitted before the period": 2,
        "admitted after the period": 1,
    }


def test_a_few_episodes_outside_the_period_hide_nothing_else(tmp_path):
    """8 of 300 episodes admitted after the period: "<11", alone. With a total row the
    complement would have been the number admitted, hidden then in every table."""
    import iop_outcomes as iop

    sim = iop.synth.generate(n_episodes=300, seed=3, start_date="2024-11-15", enrolment_days=200)
    cfg = {"sensitivity": {"enabled": False}, "trajectories": {"enabled": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(sim.data)
        _, sel = select_period(loaded, parse_period("2024-11..2025-06", by="admission"))
        rep = iop.report(
            loaded, config=cfg, period="2024-11..2025-06", period_by="admission", out=tmp_path
        )
    counts = sel.counts(None).set_index("place")["episodes"]
    assert counts.to_dict() == {"in": 292, "before": 0, "after": 8, "undated": 0}
    written = pd.read_csv(tmp_path / "tables" / "reporting_period.csv", dtype=str)
    assert written.values.tolist() == [
        ["admitted in the period (analysed)", "292"],
        ["admitted after the period", "<11"],
    ]
    flow = pd.read_csv(tmp_path / "tables" / "participant_flow.csv", dtype=str)
    assert flow.loc[flow["stage"] == "admitted", "All"].tolist() == ["292"]
    change = rep.table("change_phq_9_format")
    assert change.loc[change["group"] == "Overall", "n_episodes"].tolist() == [292]


def test_without_a_period_the_first_page_gives_the_data_dates():
    from iop_outcomes._report.narrative.summary import period_text

    d = pd.DataFrame(
        {
            "admit_date": pd.to_datetime(["2025-01-03", "2025-03-30"]),
            "assessment_date": pd.to_datetime(["2025-01-03", "2025-05-02"]),
        }
    )
    assert (
        period_text(d)
        == "admissions January 2025 to March 2025; questionnaires January 2025 to May 2025"
    )
