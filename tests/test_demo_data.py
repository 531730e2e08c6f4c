"""The committed demo data are exactly what the committed script produces."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_data_regenerate_byte_identical(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_demo", ROOT / "data" / "demo" / "make_demo.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for path in mod.write(tmp_path):
        committed = ROOT / "data" / "demo" / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{path.name} differs: rerun data/demo/make_demo.py"
        )
