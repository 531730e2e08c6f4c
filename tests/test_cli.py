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
