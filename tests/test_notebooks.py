"""Every notebook in notebooks/ (jupytext py:percent sources) executes on the demo data,
defines no functions, has one parameters cell of literals, and shows no identifiers."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import pandas as pd
import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.py"))


def test_the_suite_is_there():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) == 8 and names[0] == "01_quick_start"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(path):
    nb = jupytext.read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one parameters cell"
    tree = ast.parse(params[0].source)
    for node in tree.body:  # literals only, so papermill can override them
        assert isinstance(node, ast.Assign)
        ast.literal_eval(node.value)
    src = "\n".join(c.source for c in code)
    tree = ast.parse(src)
    assert not any(
        isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda) for n in ast.walk(tree)
    ), "notebooks define no functions"
    assert "import iop_outcomes as iop" in src
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 3


@pytest.fixture(scope="module")
def demo_ids():
    demo = pd.read_csv(
        ROOT / "data" / "demo" / "assessments.csv", usecols=["patient_id", "episode_id"]
    )
    return set(demo["patient_id"]) | set(demo["episode_id"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_without_identifiers(path, demo_ids):
    from iop_outcomes._report import find_identifiers

    nb = jupytext.read(path)
    t0 = time.time()
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NB_DIR)}}
    )
    client.execute()
    elapsed = time.time() - t0
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error"
            if "text" in out:
                texts.append(out["text"])
            for kind, val in out.get("data", {}).items():
                if kind.startswith("text/"):
                    texts.append(val if isinstance(val, str) else "".join(val))
    text = "\n".join(texts)
    assert find_identifiers(text, demo_ids) == []
    assert not re.search(r"\b[PE]\d{6}\b", text)
    assert elapsed < 180, f"{path.name} took {elapsed:.0f} s"  # guard against runaway cells
