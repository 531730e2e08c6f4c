"""What the benchmark scripts share: running one timed step in a fresh Python process.

Each script passes its own ``STEP`` program (imports included, so they are timed with the
step and memory is the process's own peak); the step prints one JSON line last.
"""

from __future__ import annotations

import json
import subprocess
import sys


def run_step(code: str, *args: object) -> dict:
    """Run ``python -c code args...`` and return the JSON object on its last output line."""
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])
