"""The iop-outcomes command line: subcommands, exit codes, error paragraphs."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from iop_outcomes.cli import EXIT_INPUT, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    clean, messy = d / "clean.csv", d / "messy.csv"
    assert main(["synth", "--n-episodes", "150", "--seed", "3", "--out", str(clean)]) == 0
    assert main(["synth", "--n-episodes", "80", "--seed", "4", "--out", str(messy), "--messy"]) == 0
    return d, clean, messy


def test_help_shows_examples_and_exit_codes():
    out = subprocess.run(
        [sys.executable, "-m", "iop_outcomes.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "iop-outcomes demo" in out.stdout and "exit codes" in out.stdout
    for cmd in ("demo", "validate", "summary", "report", "synth"):
        assert cmd in out.stdout


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["validate"])
    assert e.value.code == EXIT_USAGE
    assert main([]) == EXIT_USAGE


def test_synth_writes_contract_csv(files):
    _, clean, messy = files
    df = pd.read_csv(clean)
    assert {"patient_id", "instrument", "assessment_date", "item_1"} <= set(df.columns)
    assert df["episode_id"].nunique() == 150
    assert len(pd.read_csv(messy)) > 0


def test_validate_lenient_and_strict(files, capsys):
    d, clean, messy = files
    assert main(["validate", str(clean)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Rows read" in out
    ledger = d / "ledger.csv"
    code = main(["validate", str(messy), "--strict", "--ledger-out", str(ledger)])
    assert code == EXIT_PROBLEMS
    err = capsys.readouterr().err
    assert "quarantined" in err and "Traceback" not in err
    led = pd.read_csv(ledger)
    assert len(led) == len(pd.read_csv(messy))
    assert set(led["disposition"]) <= {"accepted", "repaired", "quarantined"}
    # the ledger CSV is neutralised against formula injection
    assert not led.astype(str).apply(lambda s: s.str.match(r"^[=+@]")).to_numpy().any()


def test_summary_text_and_json(files, capsys):
    _, clean, _ = files
    assert main(["summary", str(clean)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "PHQ-9 symptom change" in out and "rows read" in out
    assert main(["summary", str(clean), "--json", "--by", "site"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["ledger"]["rows_read"] == sum(
        data["ledger"][k] for k in ("accepted", "repaired", "quarantined")
    )
    rows = data["change"]["PHQ-9"]
    assert rows[0]["site"] == "Overall" and rows[0]["n_episodes"] == 150
    assert data["suppression_threshold"] == 11
    assert "P000001" not in json.dumps(data)


def test_report_with_config(files, capsys):
    d, clean, _ = files
    cfg = d / "study.toml"
    cfg.write_text(
        'title = "CLI test report"\n[sensitivity]\nenabled = false\n[suppression]\nthreshold = 5\n'
    )
    out = d / "rep"
    assert main(["report", str(clean), "--config", str(cfg), "--out", str(out), "-q"]) == 0
    html = (out / "report.html").read_text()
    assert "CLI test report" in html and "shown as &#x27;&lt;5&#x27;" in html
    assert (out / "tables.xlsx").exists() and len(list((out / "tables").glob("*.csv"))) > 10
    assert "Report written to" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["validate", "/no/such/file.csv"], "does not exist"),
        (["report", "/no/such/file.csv", "--out", "x"], "does not exist"),
        (["synth", "--n-episodes", "0", "--out", "x.csv"], "--n-episodes must be a positive"),
    ],
)
def test_errors_are_one_paragraph_without_traceback(argv, needle, capsys):
    assert main(argv) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.startswith("iop-outcomes: error:") and needle in err
    assert "Traceback" not in err


def test_bad_config_message_and_debug_traceback(files, capsys):
    d, clean, _ = files
    cfg = d / "bad.toml"
    cfg.write_text("[suppression]\nthreshold = 0\n")
    argv = ["report", str(clean), "--config", str(cfg), "--out", str(d / "x")]
    assert main(argv) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "positive integer" in err and "Traceback" not in err
    assert main([*argv, "--debug"]) == EXIT_INPUT
    assert "Traceback" in capsys.readouterr().err


def test_console_script_entry_point():
    from importlib.metadata import entry_points

    eps = [e for e in entry_points(group="console_scripts") if e.name == "iop-outcomes"]
    assert eps and eps[0].value == "iop_outcomes.cli:main"


# ------------------------------------------------------------- reading options


@pytest.fixture(scope="module")
def sheets(tmp_path_factory):
    """A workbook whose data sit on the second sheet below two title rows, the same data as a
    titled CSV, and an episode table for a file without episode columns."""
    import iop_outcomes as iop

    d = tmp_path_factory.mktemp("reading")
    data = iop.synth.generate(n_episodes=40, seed=21).data
    data["assessment_date"] = data["assessment_date"].dt.strftime("%Y-%m-%d")
    ep_cols = ["admit_date", "discharge_date", "discharge_status", "site"]
    episodes = data[["episode_id", *ep_cols]].drop_duplicates("episode_id")
    for c in ep_cols[:2]:
        episodes[c] = pd.to_datetime(episodes[c]).dt.strftime("%Y-%m-%d")
    episodes.to_csv(d / "episodes.csv", index=False)
    data.drop(columns=ep_cols).to_csv(d / "scores.csv", index=False)
    xlsx = d / "visits.xlsx"
    with pd.ExcelWriter(xlsx) as xw:
        pd.DataFrame({"About": ["PHQ-9 export"]}).to_excel(xw, sheet_name="Notes", index=False)
        data.to_excel(xw, sheet_name="PHQ scores", index=False, startrow=2)
        pd.DataFrame({"Clinic report": []}).to_excel(xw, sheet_name="PHQ scores", index=False)
    titled = d / "titled.csv"
    titled.write_text("Clinic report\nexported 2026-04-01\n" + data.to_csv(index=False))
    (d / "header_only.csv").write_text("patient_id,instrument,assessment_date,total\n")
    return d, len(data)


def test_validate_reads_a_sheet_below_title_rows(sheets, capsys):
    d, n = sheets
    ledger = d / "ledger.csv"
    argv = ["validate", str(d / "visits.xlsx"), "--sheet", "PHQ scores", "--skip-rows", "2"]
    assert main([*argv, "--ledger-out", str(ledger)]) == EXIT_OK
    assert f"Rows read {n:,}" in capsys.readouterr().out
    assert len(pd.read_csv(ledger)) == n  # one ledger row per input row
    assert main(["validate", str(d / "visits.xlsx"), "--sheet", "1", "--skip-rows", "2"]) == EXIT_OK
    assert main(["validate", str(d / "titled.csv"), "--skip-rows", "2"]) == EXIT_OK
    assert f"Rows read {n:,}" in capsys.readouterr().out


def test_validate_sheet_and_header_messages(sheets, capsys):
    d, _ = sheets
    assert main(["validate", str(d / "visits.xlsx"), "--skip-rows", "2"]) == EXIT_PROBLEMS
    err = capsys.readouterr().err
    assert err.startswith(
        "iop-outcomes: the data could not be loaded: 'visits.xlsx': sheet 'Notes'"
    )
    assert " ".join(err.split()).endswith(
        "Sheets found: 'Notes', 'PHQ scores'. 'PHQ scores' has the required columns and rows: "
        "choose it with sheet='PHQ scores' (iop.load) or --sheet 'PHQ scores' (command line)."
    )
    assert main(["validate", str(d / "header_only.csv")]) == EXIT_PROBLEMS
    err = " ".join(capsys.readouterr().err.split())
    assert err == (
        "iop-outcomes: the data could not be loaded: 'header_only.csv' has a header but no rows: "
        "the columns 'patient_id', 'instrument', 'assessment_date', 'total' and no data below "
        "them. Check that the export finished (and that its filter matched any rows)."
    )
    assert main(["summary", str(d / "header_only.csv")]) == EXIT_INPUT
    with pytest.raises(SystemExit) as e:
        main(["validate", str(d / "titled.csv"), "--skip-rows", "-1"])
    assert e.value.code == EXIT_USAGE
    assert "--skip-rows: must be a whole number >= 0, got '-1'" in capsys.readouterr().err


def test_summary_joins_the_episode_table_and_reads_wide_files(sheets, capsys):
    d, n = sheets
    argv = ["summary", str(d / "scores.csv"), "--by", "site", "--json"]
    assert main(argv) == EXIT_OK
    alone = json.loads(capsys.readouterr().out)
    assert main([*argv, "--episodes", str(d / "episodes.csv")]) == EXIT_OK
    joined = json.loads(capsys.readouterr().out)
    assert joined["ledger"]["rows_read"] == alone["ledger"]["rows_read"] == n
    # site comes from the episode table: only the joined data can be grouped by it
    assert "site" not in alone["change"]["PHQ-9"][0]
    assert joined["change"]["PHQ-9"][0]["site"] == "Overall"
    assert main([*argv, "--episodes", str(d / "none.csv")]) == EXIT_INPUT
    assert "File not found: " in capsys.readouterr().err
    wide = d / "wide.csv"
    pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(12)],
            "phq9_intake": [18, 20, 15, 22, 17, 19, 16, 21, 18, 20, 14, 23],
            "phq9_intake_date": "2025-01-06",
            "phq9_discharge": [9, 12, None, 10, 8, 11, 7, 13, 9, 10, 6, 12],
            "phq9_discharge_date": "2025-02-17",
        }
    ).to_csv(wide, index=False)
    assert main(["summary", str(wide), "--wide", "--json"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["ledger"]["rows_read"] == 23  # one ledger row per non-empty score cell


def test_report_reads_with_the_data_table_and_flags_override_it(sheets, capsys):
    d, _ = sheets
    cfg = d / "study.toml"
    cfg.write_text(
        '[data]\nsheet = "Notes"\nskip_rows = 2\n'
        "[sensitivity]\nenabled = false\n[trajectories]\nenabled = false\n"
    )
    out = d / "rep"
    argv = ["report", str(d / "visits.xlsx"), "--config", str(cfg), "--out", str(out), "-q"]
    assert main(argv) == EXIT_INPUT  # the [data] sheet is the wrong one
    assert "'visits.xlsx': sheet 'Notes' is empty. Sheets found:" in capsys.readouterr().err
    assert main([*argv, "--sheet", "PHQ scores"]) == EXIT_OK
    prov = json.loads((out / "provenance.json").read_text())
    assert (prov["configuration"]["sheet"], prov["configuration"]["skip_rows"]) == (
        "PHQ scores",
        2,
    )


def test_monitor_renamed_flag_names_the_new_one(capsys):
    from iop_outcomes.cli import main

    with pytest.raises(SystemExit) as e:
        main(["monitor", "x.csv", "--as-of", "2025-06-30", "--out", "o", "--reference", "c.csv"])
    assert e.value.code == 2
    assert "--reference is now --curves" in capsys.readouterr().err
