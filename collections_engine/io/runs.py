"""The RUNS folder: one sub-folder per business date, a lock, and yesterday's state."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collections_engine.errors import InputError
from collections_engine.io.tables import read_table

__all__ = ["runs_lock", "previous_night", "night_folders", "clean_stale", "read_run_json",
           "read_previous_frame", "read_previous_night", "PreviousNight", "read_finished_night",
           "FinishedNight", "FINISHED_NIGHT_TABLES", "LockBusy", "RING_STATE_FILE"]

RING_STATE_FILE = "ring_state.parquet"  # what a night's ring step leaves for the next (rings.incremental)

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


@dataclass
class PreviousNight:
    """What the nights before tonight left in RUNS, read once at the start of the run.

    `folder`: the latest complete night before tonight (None on the first night). Its tables
    (None where absent): `rings`, `placements` (the open placements tonight goes on from),
    `assignments` and `ring_state` (a ring state that cannot be read is None, with
    `ring_state_error` saying why: the ring step then recomputes every component). `earlier`:
    run.json of every complete night before tonight, oldest first (the drift trend)."""

    folder: Path | None = None
    rings: pd.DataFrame | None = None
    placements: pd.DataFrame | None = None
    assignments: pd.DataFrame | None = None
    ring_state: pd.DataFrame | None = None
    ring_state_error: str = ""
    earlier: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        return self.folder.name if self.folder is not None else None


def read_previous_night(runs: Path, date: pd.Timestamp) -> PreviousNight:
    """The earlier nights' outputs tonight's run reads, as one object (see `PreviousNight`)."""
    day = pd.Timestamp(date).date().isoformat()
    earlier = [read_run_json(Path(runs) / d) for d in night_folders(runs) if d < day]
    prev = previous_night(runs, date)
    if prev is None:
        return PreviousNight(earlier=earlier)
    state, error = None, ""
    try:
        state = read_previous_frame(prev, RING_STATE_FILE)
    except Exception as exc:  # noqa: BLE001 - any damage to the file: the ring step recomputes everything
        error = f"{RING_STATE_FILE} of night {prev.name} unreadable ({type(exc).__name__})"
    return PreviousNight(folder=prev, rings=read_previous_frame(prev, "rings.parquet"),
                         placements=read_previous_frame(prev, "placements.parquet"),
                         assignments=read_previous_frame(prev, "assignments.parquet"),
                         ring_state=state, ring_state_error=error, earlier=earlier)


# The tables a finished night's run folder must hold for the night to be re-decided.
FINISHED_NIGHT_TABLES = ("decision_inputs.parquet", "assignments.parquet", "queue_summary.parquet")


@dataclass
class FinishedNight:
    """A finished night's run folder as `whatif` re-decides it (read only; RUNS is not touched).

    `inputs` (decision_inputs.parquet), `assignments` and `queue_summary` as the night decided;
    `run`: its run.json ({} where absent); `effects`: its effects.parquet (None where absent).
    The night before it is read only on demand (`previous_assignments`): only a what-if over a
    champion/challenger test needs the arms its open placements ran under."""

    runs: Path
    folder: Path
    inputs: pd.DataFrame
    assignments: pd.DataFrame
    queue_summary: pd.DataFrame
    run: dict = field(default_factory=dict)
    effects: pd.DataFrame | None = None

    def previous_assignments(self) -> pd.DataFrame | None:
        """assignments.parquet of the night this one followed (run.json's `previous_night`), or
        None when there was none or its file is gone."""
        prev = self.run.get("previous_night")
        return read_previous_frame(Path(self.runs) / str(prev), "assignments.parquet") if prev else None


def read_finished_night(runs: Path, date: str) -> FinishedNight:
    """RUNS/DATE as one object (see `FinishedNight`); a folder without the tables a night writes
    is an input error naming each one missing."""
    folder = Path(runs) / date
    missing = [n for n in FINISHED_NIGHT_TABLES if not (folder / n).is_file()]
    if missing:
        raise InputError(str(folder), [f"{n}: not found; expected a finished night's run folder" for n in missing])
    inputs, assignments, queue_summary = (read_table(folder / n) for n in FINISHED_NIGHT_TABLES)
    run = read_run_json(folder) if (folder / "run.json").is_file() else {}
    return FinishedNight(runs=Path(runs), folder=folder, inputs=inputs, assignments=assignments,
                         queue_summary=queue_summary, run=run, effects=read_previous_frame(folder, "effects.parquet"))
