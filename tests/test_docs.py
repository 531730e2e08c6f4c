"""The documentation: docs/api.md's generated table is current, and the API reference site
(docs/site: Sphinx + numpydoc + autosummary, the notebooks as a gallery) builds with warnings
as errors.

The site build here renders the notebooks without executing them (``nb_execution_mode=off``):
tests/test_notebooks.py executes every notebook already, and two runs of the same notebook at
once would write the same files. ``python -m sphinx -W --keep-going -b html docs/site
build/docs`` (README, "Building the API reference") executes them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _make_api_table():
    spec = importlib.util.spec_from_file_location(
        "make_api_table", ROOT / "docs" / "make_api_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_table_is_current():
    table = _make_api_table()
    text = table.API_MD.read_text()
    assert table.updated(text) == text, (
        "docs/api.md's table of public functions is stale: run python docs/make_api_table.py"
    )


def test_api_table_lists_every_top_level_function():
    import iop_outcomes as iop

    block = _make_api_table().render()
    for name in iop.__all__:
        obj = getattr(iop, name)
        if callable(obj) and not isinstance(obj, type):
            assert f"| `{name}` |" in block


@pytest.mark.docs
def test_the_reference_site_builds_without_warnings(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-D",
        "nb_execution_mode=off",
        "-d",
        str(tmp_path / "doctrees"),
        str(ROOT / "docs" / "site"),
        str(tmp_path / "html"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    # -q: stderr holds only the warnings (numpydoc's details on the indented lines below each)
    blocks = dict.fromkeys(b.strip() for b in re.split(r"\n(?=\S)", out.stderr) if b.strip())
    report = "\n".join(blocks)
    assert out.returncode == 0, f"the site has warnings:\n{report}"
    html = tmp_path / "html"
    assert (html / "api" / "generated" / "iop_outcomes.compare.html").exists()
    assert (html / "api" / "generated" / "iop_outcomes.plots.plot_km.html").exists()
    assert "One instrument rule" in (html / "rules.html").read_text()
    gallery = sorted(p.name for p in (html / "notebooks").glob("[0-9][0-9]_*.html"))
    assert len(gallery) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))) >= 8
