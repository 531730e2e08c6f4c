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


def _apt_install(package: str) -> subprocess.CompletedProcess:
    """``apt-get install`` one Debian package, waiting (up to 10 minutes) while another
    apt/dpkg process holds the lock; ``apt-get update`` first only when the package is not
    known yet. Returns the install's result (the caller checks it)."""
    deadline = time.time() + 600
    while _apt_busy() and time.time() < deadline:
        time.sleep(5)
    known = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True)
    if "Candidate: (none)" in known.stdout or not known.stdout.strip():
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
    return subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", package],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


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
    res = _apt_install("chromium")
    path = shutil.which("chromium")
    if res.returncode != 0 or not path:
        give_up(f"could not install chromium: {res.stderr[-500:]}")
    return path


def _postgres_bindir() -> str | None:
    """Directory of ``initdb`` and ``pg_ctl``: Debian keeps them in /usr/lib/postgresql/<ver>/bin
    (off PATH); the newest version wins."""
    import glob

    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return os.path.dirname(found[-1])
    path = shutil.which("initdb")
    return os.path.dirname(path) if path else None


def _install_postgresql(give_up) -> str:
    """Install Debian's ``postgresql`` package (one xdist worker at a time: a file lock)."""
    import fcntl

    if shutil.which("apt-get") is None or os.geteuid() != 0:
        give_up("PostgreSQL (initdb) is not installed and cannot be installed here (needs apt-get)")
    with open("/tmp/iop_outcomes-postgresql-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bindir = _postgres_bindir()
        if bindir:  # another worker installed it while this one waited
            return bindir
        res = _apt_install("postgresql")
        bindir = _postgres_bindir()
        if res.returncode != 0 or not bindir:
            give_up(f"could not install postgresql: {res.stderr[-500:]}")
        return bindir


def start_postgres(give_up=pytest.skip):
    """Start a throw-away PostgreSQL server; returns ``(url, stop)``.

    initdb in a fresh temporary directory (owned by the ``postgres`` user when running as root:
    PostgreSQL refuses to run as root), trust authentication for the superuser ``iop``, listening
    on a free port of 127.0.0.1 and on a socket in that directory, with durability off
    (``fsync``, ``synchronous_commit``, ``full_page_writes``) for speed. ``stop()`` stops it and
    removes the directory. Used by the ``postgres_url`` fixture and by bench/bench_sql.py.
    """
    import socket
    import tempfile

    bindir = _postgres_bindir() or _install_postgresql(give_up)
    root = os.geteuid() == 0
    as_user: list[str] = []
    if root:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            give_up("running as root and there is no 'postgres' user to run PostgreSQL as")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = tempfile.mkdtemp(prefix="iop-pg-")
    if root:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data = os.path.join(base, "data")
    run = {"capture_output": True, "text": True, "cwd": base}
    res = subprocess.run(
        [
            *as_user,
            f"{bindir}/initdb",
            "-D",
            data,
            "-U",
            "iop",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        **run,
    )
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        give_up(f"initdb failed: {res.stderr[-500:]}")
    for _attempt in range(3):  # a free port; another process may take it first: try again
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=40 -c shared_buffers=64MB"
        )
        start = [f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", f"{base}/log", "-w"]
        res = subprocess.run([*as_user, *start, "-t", "60", "start"], **run)
        log = open(f"{base}/log").read()[-500:] if os.path.exists(f"{base}/log") else ""
        if res.returncode == 0 or "already in use" not in log:
            break
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        give_up(f"PostgreSQL did not start: {res.stderr[-300:]} {log}")

    def stop() -> None:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], **run)
        shutil.rmtree(base, ignore_errors=True)

    return f"postgresql://iop@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a real PostgreSQL server started for this test session (one per xdist worker).

    Debian's ``postgresql`` package is installed with apt-get when ``initdb`` is missing; skips
    (fails in CI) when that is impossible. Tests create their own database with ``pg_database``.
    """
    pytest.importorskip("adbc_driver_postgresql", reason="needs iop_outcomes[sql]")
    give_up = pytest.fail if os.environ.get("CI") else pytest.skip
    url, stop = start_postgres(give_up)
    yield url
    stop()


@pytest.fixture
def pg_database(postgres_url, request):
    """A fresh, empty database on the session's PostgreSQL server; its URL."""
    import re

    import adbc_driver_postgresql.dbapi as dbapi

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50]
    with dbapi.connect(postgres_url, autocommit=True) as con, con.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def dask_client():
    """A ``distributed.LocalCluster`` with 2 worker processes (1 thread each) and its Client,
    the default scheduler while it lives (one per test session / xdist worker). The Dask
    path's results are compared with the in-memory ones on it (tests/test_dask_*.py)."""
    pytest.importorskip("distributed", reason="needs iop_outcomes[dask]")
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
