"""A throw-away PostgreSQL server for the database tests, started by the project's scripts/pg.sh
(Debian's postgresql package; scripts/test.sh installs it where it is missing)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_SH = ROOT / "scripts" / "pg.sh"
NO_SERVER = 3  # pg.sh's exit status when no PostgreSQL server programs are installed


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server in a temporary folder and yield its URL; stop it and remove the folder at
    the end. Skips only where no server programs exist (fails instead under CI, where
    scripts/test.sh installs them); any other failure to start is a test failure."""
    folder = Path(tempfile.mkdtemp(prefix="ce-pg-")) / "server"
    proc = subprocess.run(["bash", str(PG_SH), "start", str(folder)], capture_output=True, text=True,
                          timeout=180)
    if proc.returncode != 0:
        subprocess.run(["bash", str(PG_SH), "stop", str(folder)], capture_output=True, timeout=120)
        reason = f"no PostgreSQL server can be started here: {proc.stderr.strip()[-400:]}"
        if proc.returncode == NO_SERVER and not os.environ.get("CI"):
            pytest.skip(reason)
        pytest.fail(f"scripts/pg.sh start failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    url = proc.stdout.strip().splitlines()[-1]
    try:
        yield url
    finally:
        subprocess.run(["bash", str(PG_SH), "stop", str(folder)], capture_output=True, timeout=120)
        try:
            folder.parent.rmdir()
        except OSError:
            pass
