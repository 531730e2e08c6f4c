"""Identifier scrubbing, formula-injection neutralisation, study configuration, rendering."""

import io
import zipfile

import pandas as pd
import pytest
from openpyxl import load_workbook

from iop_outcomes._report import (
    StudyConfig,
    find_identifiers,
    load_config,
    neutralise_formulas,
    scrub_identifiers,
)
from iop_outcomes._report.render import ReportTable, write_csv, write_xlsx
from iop_outcomes._report.safety import looks_like_person_name, name_like_values
from iop_outcomes.exceptions import ConfigError


def test_scrub_drops_identifiers_and_exact_dates():
    t = pd.DataFrame(
        {
            "Patient ID": ["p1"],
            "episode_id": ["e1"],
            "DOB": ["1980-01-01"],
            "assessment_date": ["2025-01-01"],
            "format": ["virtual"],
            "n": [12],
        }
    )
    assert list(scrub_identifiers(t).columns) == ["format", "n"]


def test_neutralise_formulas_keeps_numbers_numeric():
    t = pd.DataFrame(
        {
            "label": ["=cmd|' /C calc'!A0", "+1", "-x", "@SUM(1)", "\tz", "ok", "<11", None],
            "change": [-3.5, -1.0, 0.0, 2.0, 1.0, -7.25, 3.0, 1.0],
        }
    )
    out = neutralise_formulas(t)
    assert out["label"].tolist()[:7] == [
        "'=cmd|' /C calc'!A0",
        "'+1",
        "'-x",
        "'@SUM(1)",
        "'\tz",
        "ok",
        "<11",
    ]
    assert out["change"].tolist() == t["change"].tolist()
    assert pd.api.types.is_float_dtype(out["change"])


def test_files_are_neutralised_and_numbers_stay_numbers(tmp_path):
    t = ReportTable(
        key="t1",
        title='=HYPERLINK("http://x")',
        frame=pd.DataFrame({"=bad": ["=2+3", "a"], "change": [-4.5, 2.0], "n": ["<11", 40]}),
        notes=("-note",),
    )
    write_csv(t, tmp_path / "t1.csv")
    text = (tmp_path / "t1.csv").read_text()
    assert text.splitlines() == ["'=bad,change,n", "'=2+3,-4.5,<11", "a,2.0,40"]
    write_xlsx([t], tmp_path / "t.xlsx", title="=title", about=[("seed", "1")])
    wb = load_workbook(tmp_path / "t.xlsx")
    ws = wb["t1"]
    assert ws["A1"].value == "'=bad" and ws["A2"].value == "'=2+3"
    assert ws["B2"].value == -4.5 and ws["B2"].data_type == "n"
    assert ws["C2"].value == "<11" and ws["C3"].value == 40
    assert wb["about"]["A1"].value == "'=title"
    # no formula cells anywhere
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f"


def test_xlsx_is_byte_identical(tmp_path):
    t = ReportTable(key="a", title="A", frame=pd.DataFrame({"x": [1.5, 2.0]}))
    write_xlsx([t], tmp_path / "1.xlsx", title="T")
    write_xlsx([t], tmp_path / "2.xlsx", title="T")
    assert (tmp_path / "1.xlsx").read_bytes() == (tmp_path / "2.xlsx").read_bytes()
    with zipfile.ZipFile(io.BytesIO((tmp_path / "1.xlsx").read_bytes())) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_find_identifiers_whole_tokens():
    assert find_identifiers("P0001 and P00011", ["P0001", "P0002"]) == ["P0001"]
    assert find_identifiers("nothing here", ["P0001"]) == []


def test_config_defaults_and_toml(tmp_path):
    cfg = load_config()
    assert cfg.suppression_threshold == 11 and cfg.instruments == ("PHQ-9", "GAD-7")
    p = tmp_path / "study.toml"
    p.write_text(
        'title = "Pilot"\ninstruments = ["phq9"]\nseed = 7\n'
        '[comparison]\nmargin = { "PHQ 9" = 2.5 }\n'
        "[suppression]\nthreshold = 5\n"
        '[data]\nmapping = "m.toml"\n'
    )
    cfg = load_config(p)
    assert cfg.title == "Pilot" and cfg.instruments == ("PHQ-9",) and cfg.seed == 7
    assert cfg.margin_for("PHQ-9") == 2.5 and cfg.margin_for("GAD-7") is None
    assert cfg.suppression_threshold == 5
    assert cfg.mapping == str(tmp_path / "m.toml")
    assert '"threshold": 5' in cfg.to_json()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("titel = 'x'", r"Unknown key\(s\) \['titel'\] in the top level"),
        ("[suppression]\nthreshold = 0", "positive integer"),
        ("[suppression]\nthreshold = 'eleven'", "must be of type int"),
        ("[suppression]\nenabled = 'no'", "must be of type bool"),
        ("ci_level = 95", "between 0.5 and 1"),
        ("[comparison]\nmargin = -1", "positive number"),
        ("instruments = 'PHQ-9'", "must be of type list"),
        ("title = ", "not valid TOML"),
    ],
)
def test_config_validation_messages(tmp_path, text, match):
    p = tmp_path / "study.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(p)


def test_config_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/study.toml")


def test_turning_suppression_off_is_explicit():
    cfg = StudyConfig.from_dict({"suppression": {"enabled": False}})
    assert cfg.suppression_threshold is None


def test_iop_report_is_the_function_whatever_the_import_order():
    import importlib
    import sys

    import iop_outcomes as iop
    from iop_outcomes._report.build import report

    importlib.import_module("iop_outcomes._report")  # importing the package must not shadow it
    assert iop.report is report
    assert sys.modules["iop_outcomes._report"].report is report  # the package stays reachable


def test_report_classes_are_public_at_the_top_level():
    import iop_outcomes as iop
    from iop_outcomes._report.config import StudyConfig
    from iop_outcomes._report.document import Report

    assert iop.Report is Report and iop.StudyConfig is StudyConfig
    assert {"Report", "StudyConfig", "report", "to_sql"} <= set(iop.__all__)


def test_counts_in_running_text_are_suppressed():
    from iop_outcomes._report.format import is_count_key, safe_count

    assert safe_count(3, 11) == "<11" and safe_count(0, 11) == "0"
    assert safe_count(1127, 11) == "1,127" and safe_count(3, None) == "3"
    assert is_count_key("n_excluded") and is_count_key("n") and not is_count_key("seed")


def test_example_study_file_parses():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[1] / "docs" / "study.toml")
    assert cfg.margin_for("GAD-7") == 2.0 and cfg.suppression_threshold == 11
    assert cfg.sensitivity_methods[-1] == "mixed" and cfg.trajectories_enabled


@pytest.mark.parametrize(
    "value, expected",
    [
        ("Dr Jane Smith", True),
        ("Dr. Smith", True),
        ("Mrs Patel", True),
        ("Prof Ada Lovelace", True),
        ("Jane Smith", True),
        ("Mary-Jane O'Neil", True),
        ("North", False),
        ("North Clinic", False),
        ("Riverside Health Center", False),
        ("SITE A", False),
        ("in_person", False),
        ("Site 2", False),
        ("Dr", False),
        (None, False),
    ],
)
def test_person_name_like_labels(value, expected):
    assert looks_like_person_name(value) is expected


def test_name_like_values_per_column():
    d = pd.DataFrame(
        {
            "site": pd.Categorical(["North", "Dr Jane Smith", "East", None]),
            "program": ["Adult IOP", "Jane Smith", "Adult IOP", "Adult IOP"],
            "payer": ["Blue Cross", "Medicaid", "Self Pay", "Blue Cross"],
            "age": [30, 40, 50, 60],
        }
    )
    # payer labels are categories, not people: not checked by default
    assert name_like_values(d) == {"site": ["Dr Jane Smith"], "program": ["Jane Smith"]}
    assert name_like_values(d, ["payer", "age", "absent"]) == {"payer": ["Blue Cross", "Self Pay"]}


def test_numbered_patient_ids_do_not_stop_the_report_but_real_ids_are_still_caught(tmp_path):
    # REDCap numbers its records 1, 2, 3 ...: such ids cannot be told from counts, and the
    # report refused to write anything; ids that can be told apart are still looked for
    import warnings
    from types import SimpleNamespace

    import iop_outcomes as iop
    from iop_outcomes._report.build import _final_identifier_check, _identifiers
    from iop_outcomes.exceptions import IOPError

    sim = iop.synth.generate(n_episodes=120, seed=4).data
    numbered = {p: str(i + 1) for i, p in enumerate(pd.unique(sim["patient_id"]))}
    sim = sim.assign(
        patient_id=sim["patient_id"].map(numbered), episode_id=sim["episode_id"].str[1:]
    )
    cfg = {"sensitivity": {"methods": ["completers"]}, "trajectories": {"enabled": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = iop.report(sim, config=cfg, out=tmp_path)
    assert (tmp_path / "report.html").exists() and len(rep.tables) > 10

    def check(ids, shown):
        table = ReportTable("t", "T", pd.DataFrame({"group": [shown], "n": [12]}))
        rep = SimpleNamespace(html=lambda: "<p>report</p>", tables=[table])
        loaded = SimpleNamespace(data=pd.DataFrame({"patient_id": ids}))
        _final_identifier_check(rep, _identifiers(loaded))

    check(["12", "7"], "12")  # a count of 12: fine
    for leaked in ("P000123", "0012", "1234567"):  # named, zero-padded, MRN-length
        with pytest.raises(IOPError, match="identifier"):
            check([leaked, "7"], leaked)


def test_html_tables_read_in_plain_words_percentages_and_the_programs_labels():
    """Issue 11: plain headers with units, codes as words (a study file's [labels] first),
    proportions as percentages with one decimal; the CSV keeps the codes and proportions."""
    from iop_outcomes._report.render import ReportTable, _table_html

    frame = pd.DataFrame(
        {
            "measure": ["remission", "remission"],
            "group": ["virtual", "in_person"],
            "k": [124, "<11"],
            "n": [449, 499],
            "rate": [0.276169, "*"],
        }
    )
    t = ReportTable(
        "06_rates",
        "Table 6.",
        frame,
        percent=("rate",),
        labels={"virtual": "Telehealth"},
    )
    html = _table_html(t)
    for text in ("<th>Rate (%)</th>", "<th>Met</th>", ">27.6<", ">Telehealth<", ">In person<"):
        assert text in html, text
    for code in (">virtual<", ">in_person<", ">0.28<", ">rate<"):
        assert code not in html, code
    assert ">&lt;11<" in html and ">*<" in html  # hidden cells as they are
    cfg = StudyConfig.from_dict({"labels": {"virtual": "Telehealth"}})
    assert cfg.labels == {"virtual": "Telehealth"}
    with pytest.raises(ConfigError, match=r"\[labels\]"):
        StudyConfig.from_dict({"labels": {"virtual": 3}})


def test_file_cells_are_the_shareable_frame_cells():
    """file_cells (what the CSV and the workbook are written from) gives the cells of
    shareable_frame passed through cell_for_file, for every kind of column."""
    import numpy as np

    from iop_outcomes._report.render import cell_for_file, file_cells, shareable_frame

    frame = pd.DataFrame(
        {
            "label": ["=1+1", None, "ok", "-2 points"],
            "cat": pd.Categorical(["a", "=b", None, "a"]),
            "mixed": pd.Series(["x", 1, 2.5, None], dtype=object),
            "flag": pd.Series([True, None, False, True], dtype=object),
            "b": [True, False, True, False],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "when": pd.to_datetime(["2025-01-01", None, "2025-03-01", "2025-04-01"]),
            "x": [-0.0, np.nan, 1 / 3, np.inf],
            "patient_id": ["p1", "p2", "p3", "p4"],
            "=name": ["a", "b", "c", "d"],
        },
        index=pd.Index(["+r1", "r2", "r3", "r4"], name="row"),
    )
    for index in (False, True):
        t = ReportTable(key="t", title="T", frame=frame, index=index)
        df = shareable_frame(t.frame, t.index)
        cols, values = file_cells(t)
        assert cols == list(df.columns)
        expected = [[cell_for_file(v, c) for v in df[c].tolist()] for c in df.columns]
        assert repr(values) == repr(expected)
