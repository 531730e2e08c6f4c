"""Make docs/img/report-first-page.png: the top of the demo report as a reader first sees it.

Usage (from the repository root, after ``iop-outcomes demo``)::

    python docs/make_screenshot.py [--html reports/demo/report.html] [--out PNG] [--width 1280]

Headless Chromium (the browser ``iop-outcomes report --pdf`` uses, found the same way) takes a
screenshot of the report's first screen at ``--width`` CSS px; the page's column (the report
is at most 60rem = 960 px wide, centred) is cropped out and saved as a 64-colour PNG so the
committed image stays small (well under 300 KB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from iop_outcomes._report.pdf import OFFLINE_FLAGS, find_chromium

ROOT = Path(__file__).resolve().parents[1]


def screenshot(html: Path, out: Path, *, width: int = 1280, height: int = 1180) -> Path:
    """Screenshot ``html`` at ``width`` x ``height`` CSS px, crop to the report's column and
    write a palette PNG to ``out``."""
    exe = find_chromium()
    with tempfile.TemporaryDirectory(prefix="iop-shot-") as tmp:
        raw = Path(tmp) / "shot.png"
        cmd = [
            exe,
            *OFFLINE_FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--window-size={width},{height}",
            f"--screenshot={raw}",
            html.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")
        subprocess.run(cmd, capture_output=True, check=True, timeout=120)
        with Image.open(raw) as im:
            column = min(960, width)
            left = (width - column) // 2
            img = im.convert("RGB").crop((left, 0, left + column, height))
    out.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, optimize=True
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--html", default=str(ROOT / "reports" / "demo" / "report.html"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "report-first-page.png"))
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=1180)
    args = ap.parse_args()
    out = screenshot(Path(args.html), Path(args.out), width=args.width, height=args.height)
    print(f"{out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
