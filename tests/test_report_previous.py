"""headline.json and the comparison with a previous report (compare_to / --compare-to)."""

import json
import re
import shutil
import warnings

import pandas as pd
import pytest

from iop_outcomes._report.previous import comparisons, differing_settings, read_previous
from iop_outcomes.exceptions import ConfigError

CFG = {"sensitivity": {"enabled": False}, "trajectories": {"enabled": False}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two quarters of one synthetic program, each written by a report run, the second
    compared with the first (and with a month whose counts are small)."""
    import iop_outcomes as iop

    root = tmp_path_factory.mktemp("reports")
    sim = iop.synth.generate(n_episodes=360, seed=3, start_date="2024-11-15", enrolment_days=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = iop.load(sim.data)
        iop.report(loaded, config=CFG, out=root / "2025-Q1", period="2025-Q1")
        iop.report(loaded, config=CFG, out=root / "2024-12", period="2024-12")
        q2 = iop.report(
            loaded, config=CFG, out=root / "2025-Q2", period="2025-Q2", compare_to=root / "2025-Q1"
        )
        small = iop.report(loaded, config=CFG, period="2025-Q2", compare_to=root / "2024-12")
    return root, q2, small, loaded


def _glance(html: str) -> dict[str, str]:
    body = html[html.index('class="glance"') : html.index("</table>", html.index('class="glance"'))]
    rows = re.findall(r"<th scope='row'>(.*?)</th><td>(.*?)</td>", body)
    return {k: v.replace("&lt;", "<") for k, v in rows}


def test_headline_json_holds_the_published_counts(runs):
    root, *_ = runs
    head = json.loads((root / "2025-Q1" / "headline.json").read_text(encoding="utf-8"))
    assert head["period"] == "2025-Q1" and head["instrument"] == "PHQ-9"
    rates = pd.read_csv(root / "2025-Q1" / "tables" / "rates_phq_9_format.csv", dtype=str)
    cs = pd.read_csv(root / "2025-Q1" / "tables" / "clinsig_phq_9.csv", dtype=str)
    overall = rates[rates["group"] == "Overall"].set_index("measure")
    expect = {
        "response": (overall.loc["response (≥50% reduction)", "k"], overall.iloc[0]["n"]),
        "remission": (overall.loc["remission", "k"], overall.loc["remission", "n"]),
        "recovered": tuple(
            cs[(cs["group"] == "Overall") & (cs["outcome"] == "recovered")][["count", "n"]].iloc[0]
        ),
    }
    got = {r["measure"]: (str(r["numerator"]), str(r["denominator"])) for r in head["rates"]}
    assert got == expect  # the CSV's text, hidden or not


def test_hidden_counts_are_written_as_published(runs):
    root, *_ = runs
    head = json.loads((root / "2024-12" / "headline.json").read_text(encoding="utf-8"))
    rates = pd.read_csv(root / "2024-12" / "tables" / "rates_phq_9_format.csv", dtype=str)
    r = rates[(rates["group"] == "Overall") & (rates["measure"] == "remission")].iloc[0]
    rem = next(x for x in head["rates"] if x["measure"] == "remission")
    assert str(rem["numerator"]) == r["k"]
    assert not str(rem["numerator"]).isdigit()  # the month is small: the count is hidden


def test_compare_to_gives_the_change_with_newcombes_interval(runs):
    from statsmodels.stats.proportion import confint_proportions_2indep

    root, q2, *_ = runs
    prev = json.loads((root / "2025-Q1" / "headline.json").read_text(encoding="utf-8"))
    cur = json.loads((root / "2025-Q2" / "headline.json").read_text(encoding="utf-8"))
    glance = _glance(q2.html())
    assert glance["Reporting period"] == (
        "2025-Q2 (1 April 2025 to 30 June 2025): episodes discharged in the period"
    )
    assert "discharged in the period" in glance["Episodes"]  # the flow's "admitted"
    labels = {
        "response": "Response (score at least halved)",
        "remission": "Remission (end score below 5)",
        "recovered": "Recovered (reliable and clinically significant)",
    }
    for m, label in labels.items():
        (k0, n0), (k1, n1) = (
            next((r["numerator"], r["denominator"]) for r in h["rates"] if r["measure"] == m)
            for h in (prev, cur)
        )
        assert all(isinstance(v, int) for v in (k0, n0, k1, n1)), m
        lo, hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
        d = k1 / n1 - k0 / n0
        want = (
            f"Previous period (2025-Q1): {100 * k0 / n0:.1f}%; change {100 * d:+.1f} percentage "
            f"points (95% CI {100 * lo:+.1f} to {100 * hi:+.1f})."
        )
        assert want in glance[label], (m, glance[label])


def test_a_hidden_previous_count_is_not_compared(runs):
    _, _, small, _ = runs
    glance = _glance(small.html())
    row = glance["Remission (end score below 5)"]
    assert "Previous period (2024-12): published as hidden (<11" in row or (
        "Previous period (2024-12): published as hidden (*)" in row
    )
    assert "so no change is computed" in row and "percentage points" not in row


def test_different_settings_are_named_instead_of_compared(runs, tmp_path):
    import iop_outcomes as iop

    root, *_, loaded = runs
    other = tmp_path / "other"
    shutil.copytree(root / "2025-Q1", other)
    head = json.loads((other / "headline.json").read_text(encoding="utf-8"))
    head["settings"]["remission"] = "endpoint below 10"
    head["settings"]["suppression"]["threshold"] = 5
    (other / "headline.json").write_text(json.dumps(head), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = iop.report(loaded, config=CFG, period="2025-Q2", compare_to=other)
    glance = _glance(rep.html())
    assert glance["Compared with the previous period (2025-Q1)"] == (
        "not compared: the previous period (2025-Q1) was built with a different definition of "
        "remission, small-cell suppression, so its rates do not measure the same thing."
    )
    assert "percentage points" not in "".join(glance.values())


def test_comparisons_unit():
    cur = {"rates": [{"measure": "response", "numerator": 48, "denominator": 80}]}
    prev = {
        "period": "2025-Q3",
        "rates": [{"measure": "response", "numerator": 56, "denominator": 70}],
    }
    # Newcombe (1998) Table II (a), the other way round: 48/80 - 56/70 = -0.2 (-0.3339, -0.0524)
    assert comparisons(cur, prev, 0.95) == {
        "response": "Previous period (2025-Q3): 80.0%; change -20.0 percentage points "
        "(95% CI -33.4 to -5.2)."
    }
    prev["rates"][0]["numerator"] = "<11"
    assert "published as hidden (<11)" in comparisons(cur, prev, 0.95)["response"]
    prev["rates"][0]["numerator"], cur["rates"][0]["denominator"] = 56, "*"
    assert "this period's count is hidden" in comparisons(cur, prev, 0.95)["response"]
    assert comparisons(cur, {"rates": []}, 0.95) == {}
    assert differing_settings({"settings": {"a": 1}}, {"settings": {"a": 1}}) == []


def test_read_previous_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"has no headline\.json: give the output folder"):
        read_previous(tmp_path)
    (tmp_path / "headline.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not a readable headline\.json"):
        read_previous(tmp_path)
    (tmp_path / "headline.json").write_text('{"rates": []}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"is not an iop_outcomes headline\.json"):
        read_previous(tmp_path)


def test_cli_period_options_fail_early_with_the_fix(tmp_path, capsys):
    from iop_outcomes.cli import main

    data = tmp_path / "scores.csv"
    data.write_text("patient_id,episode_id,instrument,assessment_date,total\n", encoding="utf-8")
    code = main(["report", str(data), "--out", str(tmp_path / "r"), "--period", "2025-Q5"])
    err = capsys.readouterr().err
    assert code == 3 and "The 'period' option --period must be a year (2025)" in err
    code = main(["report", str(data), "--out", str(tmp_path / "r"), "--compare-to", str(tmp_path)])
    assert code == 3 and "has no headline.json" in capsys.readouterr().err


def test_cli_report_with_period_and_compare_to(runs, tmp_path, capsys):
    from iop_outcomes.cli import main

    root, *_, loaded = runs
    data = tmp_path / "scores.csv"
    loaded.data.to_csv(data, index=False)
    study = tmp_path / "study.toml"
    study.write_text(
        '[report]\nperiod = "2025-Q1"\nperiod_by = "admission"\n'
        "[sensitivity]\nenabled = false\n[trajectories]\nenabled = false\n",
        encoding="utf-8",
    )
    out = tmp_path / "q2"
    argv = ["report", str(data), "--config", str(study), "--out", str(out), "-q"]
    argv += [
        "--period",
        "2025-Q2",
        "--period-by",
        "discharge",
        "--compare-to",
        str(root / "2025-Q1"),
    ]
    assert main(argv) == 0
    head = json.loads((out / "headline.json").read_text(encoding="utf-8"))
    assert head["period"] == "2025-Q2" and head["settings"]["period_by"] == "discharge"
    glance = _glance((out / "report.html").read_text(encoding="utf-8"))
    assert "Previous period (2025-Q1): " in glance["Response (score at least halved)"]
    assert (out / "tables" / "reporting_period.csv").exists()


def test_first_page_warns_against_reading_the_change_as_effect(runs):
    _, q2, *_ = runs
    assert "Nor that a change from the previous period" in _glance(q2.html())["Do not conclude"]
