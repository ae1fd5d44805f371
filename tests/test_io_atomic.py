"""All-or-nothing folders, the RUNS lock and finding the previous night."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from collections_engine.io import atomic_dir, write_csv, write_parquet
from collections_engine.io.runs import LockBusy, clean_stale, previous_night, runs_lock


def test_atomic_dir_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "night"
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("boom")
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replace_keeps_old_until_done(tmp_path: Path) -> None:
    final = tmp_path / "night"
    final.mkdir()
    (final / "old.txt").write_text("yesterday")
    with pytest.raises(RuntimeError):
        with atomic_dir(final, replace=True) as tmp:
            (tmp / "new.txt").write_text("x")
            raise RuntimeError("boom")
    assert (final / "old.txt").read_text() == "yesterday"
    with atomic_dir(final, replace=True) as tmp:
        (tmp / "new.txt").write_text("x")
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]


def test_writes_are_byte_identical(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": ["x", "y"], "d": pd.to_datetime(["2026-01-01", "2026-01-02"]), "v": [1.5, 2.0]})
    for i in (1, 2):
        write_parquet(df, tmp_path / f"{i}.parquet")
        write_csv(df, tmp_path / f"{i}.csv")
    assert (tmp_path / "1.parquet").read_bytes() == (tmp_path / "2.parquet").read_bytes()
    assert (tmp_path / "1.csv").read_text() == "a,d,v\nx,2026-01-01,1.5\ny,2026-01-02,2.0\n"


def test_lock_is_exclusive(tmp_path: Path) -> None:
    with runs_lock(tmp_path):
        with pytest.raises(LockBusy, match="another run holds"):
            with runs_lock(tmp_path):
                pass
    with runs_lock(tmp_path):  # released
        pass


def test_previous_night_skips_incomplete_and_missed(tmp_path: Path) -> None:
    for day, complete in [("2026-11-02", True), ("2026-11-03", True), ("2026-11-04", False)]:
        (tmp_path / day).mkdir()
        if complete:
            (tmp_path / day / "run.json").write_text("{}")
    (tmp_path / ".2026-11-05.tmp-abc").mkdir()
    assert previous_night(tmp_path, pd.Timestamp("2026-11-06")).name == "2026-11-03"
    assert previous_night(tmp_path, pd.Timestamp("2026-11-03")).name == "2026-11-02"
    assert previous_night(tmp_path, pd.Timestamp("2026-11-02")) is None
    assert clean_stale(tmp_path) == [".2026-11-05.tmp-abc"]
