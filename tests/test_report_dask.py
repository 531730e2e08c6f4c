"""``iop.report(..., engine="dask")`` and ``iop-outcomes report --engine dask``: with no more
episodes than the model sample the report is the in-memory one (every table's CSV byte for
byte, the HTML outside the provenance block); with fewer, the two model sections are fitted on
a stratified sample and say so; on the test suite's 2-worker LocalCluster."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

import iop_outcomes as iop
from iop_outcomes._report.on_dask import sample_episodes
from iop_outcomes.cli import EXIT_INPUT, main
from iop_outcomes.exceptions import ConfigError

dd = pytest.importorskip("dask.dataframe")

_PROV = re.compile(r'<dl class="prov">.*?</dl>', re.S)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return iop.synth.generate(n_episodes=300, seed=21).data


@pytest.fixture(scope="module")
def in_memory(raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mem")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        iop.report(raw, out=out, strict=True)
    return out


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((d / "tables").glob("*.csv"))}


def test_dask_report_equals_the_in_memory_one(dask_client, raw, in_memory, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        iop.report(dd.from_pandas(raw, npartitions=3, sort=False), out=tmp_path, strict=True)
    got, want = _files(tmp_path), _files(in_memory)
    assert len(want) > 25 and got.keys() == want.keys()
    assert [k for k in want if got[k] != want[k]] == []
    html, mem_html = (tmp_path / "report.html").read_text(), (in_memory / "report.html").read_text()
    assert _PROV.sub("", html) == _PROV.sub("", mem_html)
    assert "<dt>Computed on</dt><dd>Dask (3 partitions)</dd>" in html
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["engine"] == {
        "name": "dask",
        "partitions": 3,
        "model_sample": None,
        "stratified_by": None,
    }
    assert "random sample" not in html


def test_model_sections_on_a_stated_sample(dask_client, raw, tmp_path):
    """Fewer episodes than the data: the models are fitted on the sample and say so; every
    episode-level table is still the whole data's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = iop.report(
            dd.from_pandas(raw, npartitions=2, sort=False), engine="dask", model_sample=120
        )
        whole = iop.report(raw)
    html = rep.html()
    said = "Fitted on a random sample of 120 of the 300 episodes, stratified by format"
    assert html.count(said) == 2  # trajectories and missing-data sensitivity
    sens = rep.table("missing_data_sensitivity")
    completers = sens[(sens["method"] == "completers") & (sens["contrast"].fillna("") == "")]
    n = pd.to_numeric(completers[["n_used", "n_missing"]].iloc[0], errors="coerce")
    assert n.sum() == 120 or n.isna().any()  # the sample's episodes (unless a cell is hidden)
    for key in ("change_summary_phq_9", "participant_flow"):
        if key in whole.keys:
            pd.testing.assert_frame_equal(rep.table(key), whole.table(key))


def test_sample_is_stratified_and_reproducible():
    ep = pd.DataFrame(
        {
            "episode_id": [f"e{i:03d}" for i in range(100)],
            "format": ["virtual"] * 61 + ["in_person"] * 37 + [None] * 2,
        }
    )
    a = sample_episodes(ep, "format", 50, seed=7)
    assert list(a) == list(sample_episodes(ep, "format", 50, seed=7))
    got = ep.set_index("episode_id").loc[a, "format"].fillna("-").value_counts().to_dict()
    # quotas 30.5, 18.5, 1.0: floors 30 + 18 + 1 = 49; the one left goes to the largest
    # remainder, a tie (0.5, 0.5) to the first level in sorted order (in_person)
    assert got == {"virtual": 30, "in_person": 19, "-": 1}
    assert len(set(a)) == 50


def test_cli_engine_dask_on_a_directory_with_a_scheduler(dask_client, raw, in_memory, tmp_path):
    src = tmp_path / "exports"
    src.mkdir()
    cut = len(raw) // 2
    raw.iloc[:cut].to_parquet(src / "part-0.parquet", index=False)
    raw.iloc[cut:].to_parquet(src / "part-1.parquet", index=False)
    out = tmp_path / "out"
    args = ["report", str(src), "--out", str(out), "--engine", "dask", "--quiet"]
    assert main([*args, "--scheduler", dask_client.scheduler.address]) == 0
    # rows are named by file, but the rows and so every table are the in-memory ones
    got, want = _files(out), _files(in_memory)
    assert [k for k in want if got[k] != want[k]] == []


def test_internal_outputs_are_refused_in_a_directory(raw, tmp_path):
    raw.iloc[:50].to_parquet(tmp_path / "part-0.parquet", index=False)
    raw.iloc[50:60].to_csv(tmp_path / "INTERNAL-identifiable-caseload.csv", index=False)
    with pytest.raises(ConfigError, match="internal, identifiable output"):
        iop.report(str(tmp_path), engine="dask")


def test_errors_name_the_fix(raw, tmp_path, capsys):
    ddf = dd.from_pandas(raw, npartitions=2, sort=False)
    with pytest.raises(ConfigError, match="reporting period is not available with engine='dask'"):
        iop.report(ddf, period="2025")
    with pytest.raises(ConfigError, match="add engine='dask'"):
        iop.report(raw, scheduler="tcp://127.0.0.1:1")
    args = ["report", str(tmp_path), "--out", str(tmp_path / "o"), "--engine", "dask"]
    assert main([*args, "--to-sql", "sqlite:///x.db"]) == EXIT_INPUT
    assert "add --no-episode-table to\n  --to-sql" in capsys.readouterr().err
    assert main([*args[:-2], "--scheduler", "tcp://127.0.0.1:1"]) == EXIT_INPUT
    assert "add --engine dask" in capsys.readouterr().err
