"""`io.runs.read_finished_night`: the one reader of a finished night's run folder that `whatif`
re-decides (the tables, run.json, effects.parquet, and the night before it on demand)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from collections_engine.errors import InputError
from collections_engine.io.runs import FINISHED_NIGHT_TABLES, read_finished_night


def _night(runs: Path, date: str, tables=FINISHED_NIGHT_TABLES, run: dict | None = None,
           arm: str = "champion") -> Path:
    folder = runs / date
    folder.mkdir(parents=True)
    for i, name in enumerate(tables):
        pd.DataFrame({"account_id": ["a1", "a2"], "arm": [arm, arm], "n": [i, i]}).to_parquet(folder / name)
    if run is not None:
        (folder / "run.json").write_text(json.dumps(run))
    return folder


def test_every_missing_table_is_named(tmp_path: Path) -> None:
    _night(tmp_path, "2025-06-03", tables=("assignments.parquet",))
    with pytest.raises(InputError) as exc:
        read_finished_night(tmp_path, "2025-06-03")
    text = str(exc.value)
    assert "2025-06-03" in text and "decision_inputs.parquet: not found" in text
    assert "queue_summary.parquet: not found" in text and "assignments.parquet: not found" not in text


def test_the_tables_the_record_and_the_night_before(tmp_path: Path) -> None:
    _night(tmp_path, "2025-06-02", arm="challenger")
    folder = _night(tmp_path, "2025-06-03", run={"previous_night": "2025-06-02", "effects": {"mode": "strategy"}})
    pd.DataFrame({"queue": ["sms"], "stage": ["M1"]}).to_parquet(folder / "effects.parquet")
    night = read_finished_night(tmp_path, "2025-06-03")
    assert night.folder == folder and night.run["effects"]["mode"] == "strategy"
    assert [int(t["n"].iloc[0]) for t in (night.inputs, night.assignments, night.queue_summary)] == [0, 1, 2]
    assert list(night.effects["queue"]) == ["sms"]
    prev = night.previous_assignments()
    assert list(prev["arm"]) == ["challenger", "challenger"]
    (tmp_path / "2025-06-02" / "assignments.parquet").unlink()
    assert night.previous_assignments() is None       # the night before is gone: no arms to keep


def test_a_night_without_record_or_effects(tmp_path: Path) -> None:
    _night(tmp_path, "2025-06-03")
    night = read_finished_night(tmp_path, "2025-06-03")
    assert night.run == {} and night.effects is None and night.previous_assignments() is None
