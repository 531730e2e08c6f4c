"""What the benchmark scripts share: running one timed step in a fresh Python process.

Each script passes its own ``STEP`` program (imports included, so they are timed with the
step and memory is the process's own peak); the step prints one JSON line last.

The steps import the package as an installed one does: from cached bytecode (pip compiles
the modules when it installs them). The processes share a bytecode cache in a temporary
folder (``PYTHONPYCACHEPREFIX``), so an environment that sets ``PYTHONDONTWRITEBYTECODE``
(as this machine's does) does not time the compiling of every module with the first step:
about 0.3 s a run for the library's ~120 modules, which an installed package never spends.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_PYCACHE = tempfile.mkdtemp(prefix="iop_bench_pycache_")
atexit.register(shutil.rmtree, _PYCACHE, ignore_errors=True)


def run_step(code: str, *args: object) -> dict:
    """Run ``python -c code args...`` and return the JSON object on its last output line."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def export_package(repo: Path, ref: str) -> tuple[Path, str, str]:
    """``iop_outcomes`` as it was at git ``ref`` of ``repo``, exported (``git archive``) into a
    new temporary directory, for benchmarks that run old and new code side by side. Returns
    the directory (the caller removes it), the full commit of ``ref`` and the short commit
    of ``HEAD``."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True
        ).stdout.strip()

    out = Path(tempfile.mkdtemp(prefix="iop_old_"))
    sha = git("rev-parse", ref)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", sha, "iop_outcomes"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out, sha, git("rev-parse", "--short", "HEAD")
