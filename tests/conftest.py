"""Shared test fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest


def _apt_busy() -> bool:
    out = subprocess.run(["pgrep", "-a", "apt|dpkg"], capture_output=True, text=True)
    return bool(out.stdout.strip())


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's headless Chromium, installed with apt-get on first use.

    ``apt-get update`` runs only when the package is not known yet; the fixture waits while
    another apt/dpkg process holds the lock. Skips when installation is impossible (no root,
    no network).
    """
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if path:
        return path
    # in CI (CI=true) a missing browser is a failure, not a skip: the browser test must run there
    give_up = pytest.fail if os.environ.get("CI") else pytest.skip
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        give_up("chromium is not installed and cannot be installed here (needs apt-get)")
    deadline = time.time() + 600
    while _apt_busy() and time.time() < deadline:
        time.sleep(5)
    known = subprocess.run(["apt-cache", "policy", "chromium"], capture_output=True, text=True)
    if "Candidate: (none)" in known.stdout or not known.stdout.strip():
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
    res = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    path = shutil.which("chromium")
    if res.returncode != 0 or not path:
        give_up(f"could not install chromium: {res.stderr[-500:]}")
    return path
