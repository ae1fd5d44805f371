"""A vendor with no placement tonight: its file's date fields are empty, not a crash."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign.inputs import FirstRows


def test_no_keys_onto_a_date_column() -> None:
    placements = pd.DataFrame({"account_id": pd.Series([], dtype="str"),
                               "placed_on": pd.Series([], dtype="datetime64[ns]")})
    keys = pd.Series(["A1", "A2"], dtype="str")
    out = FirstRows(keys, placements, "account_id", keep=None)("placed_on", np.zeros(0, np.int64))
    assert len(out) == 0 and out.dtype == placements["placed_on"].dtype
    # with keys, as pandas' map: missing dates
    got = FirstRows(keys, placements, "account_id", keep=None)("placed_on")
    assert got.isna().all() and len(got) == 2
