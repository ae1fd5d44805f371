"""`jobs.first_night`, the night `demo` runs: the first snapshot without outcomes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from collections_engine.errors import InputError
from collections_engine.jobs import first_night
from tests.pipeline_helpers import BOOK, unscored_nights


def test_the_first_snapshot_without_outcomes(tmp_path: Path) -> None:
    assert first_night(BOOK) == unscored_nights()[0] == "2025-06-02"
    # CSV tables are read the same way
    for name in ("accounts", "outcomes"):
        pd.read_parquet(BOOK / f"{name}.parquet", columns=["snapshot_date"]).to_csv(tmp_path / f"{name}.csv", index=False)
    assert first_night(tmp_path) == "2025-06-02"


def test_without_outcomes_the_first_snapshot_all_scored_the_last_no_accounts_exit_2(tmp_path: Path) -> None:
    shutil.copy(BOOK / "accounts.parquet", tmp_path / "accounts.parquet")
    dates = pd.read_parquet(BOOK / "accounts.parquet", columns=["snapshot_date"])["snapshot_date"]
    assert first_night(tmp_path) == dates.min().strftime("%Y-%m-%d")  # no outcomes: every snapshot a night
    dates.to_frame().to_parquet(tmp_path / "outcomes.parquet")  # every snapshot has outcomes: the last
    assert first_night(tmp_path) == dates.max().strftime("%Y-%m-%d")
    with pytest.raises(InputError, match="accounts"):
        first_night(tmp_path / "nothing")
