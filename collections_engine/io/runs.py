"""The RUNS folder: one sub-folder per business date, a lock, and yesterday's state."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from collections_engine.errors import InputError
from collections_engine.io.tables import read_table

__all__ = ["runs_lock", "previous_night", "night_folders", "clean_stale", "read_run_json",
           "read_previous_frame", "LockBusy"]

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class LockBusy(RuntimeError):
    """Another run holds the RUNS folder's lock."""


@contextmanager
def runs_lock(runs: Path) -> Iterator[None]:
    """An exclusive, non-blocking lock on RUNS/.lock for the whole run (released on exit)."""
    runs = Path(runs)
    runs.mkdir(parents=True, exist_ok=True)
    fd = os.open(runs / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"another run holds {runs / '.lock'}; try again when it has finished") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def night_folders(runs: Path) -> list[str]:
    """Dates of the complete nights in RUNS, sorted."""
    runs = Path(runs)
    if not runs.is_dir():
        return []
    return sorted(p.name for p in runs.iterdir()
                  if p.is_dir() and DATE_RE.match(p.name) and (p / "run.json").is_file())


def previous_night(runs: Path, date: pd.Timestamp) -> Path | None:
    """The latest complete night strictly before `date` (a missed night is skipped over)."""
    day = pd.Timestamp(date).date().isoformat()
    earlier = [d for d in night_folders(runs) if d < day]
    return Path(runs) / earlier[-1] if earlier else None


def clean_stale(runs: Path) -> list[str]:
    """Remove temporary folders that a killed run left behind (hidden, never a night)."""
    removed = []
    runs = Path(runs)
    if runs.is_dir():
        for p in runs.iterdir():
            if p.is_dir() and p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
    return sorted(removed)


def read_run_json(folder: Path) -> dict:
    path = Path(folder) / "run.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(str(path), [f"cannot read the run record ({exc})"]) from None


def read_previous_frame(folder: Path | None, name: str) -> pd.DataFrame | None:
    """A table of an earlier night (placements, rings), or None when there is none."""
    if folder is None:
        return None
    path = Path(folder) / name
    return read_table(path) if path.is_file() else None
