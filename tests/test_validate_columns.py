"""Typing a table's columns (`validate.columns.coerce_table`): the integer fast path against the
float path, and date columns typed as columns of their own.

- An int / bool01 column read as integers takes `_integer_column`; the same values read as
  floats take the float path. Both give the same column (values and dtype) and the same
  problems, for integers float64 holds exactly, signed or not, valid or not (negative, not 0/1).
  Beyond 2**53 the integer path is exact; unsigned values above int64's largest are a problem.
- A date column read as datetime64[ns] at midnight becomes a column of its own (a copy, not
  pandas' lazy copy of the reader's frame: see `_to_date`): writing to the input afterwards
  does not change it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.schema import TableSpec
from collections_engine.validate.columns import coerce_table

SPEC = TableSpec("t", key=("id",), columns={"id": "id", "n": "int", "flag": "bool01", "day": "date"},
                 non_negative=("n",))


def _frame(n: list[int], flag: list[int], dtype: str) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"A{i}" for i in range(len(n))],
                         "n": np.array(n).astype(dtype), "flag": np.array(flag).astype(dtype),
                         "day": np.full(len(n), np.datetime64("2025-06-01", "ns"))})


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(["int64", "int32", "int8", "uint8", "uint16", "uint64"]))
def test_integer_columns_type_as_their_float_copies_do(data, dtype):
    info = np.iinfo(dtype)
    exact = 2**53  # float64 holds every integer up to here
    ints = st.one_of(st.integers(max(info.min, -5), min(info.max, 300)),
                     st.integers(max(info.min, -exact), min(info.max, exact)))
    rows = data.draw(st.integers(1, 40))
    n = data.draw(st.lists(ints, min_size=rows, max_size=rows))
    flag = data.draw(st.lists(st.one_of(st.sampled_from([0, 1]), ints), min_size=rows, max_size=rows))
    fast, fast_problems, _ = coerce_table(_frame(n, flag, dtype), SPEC, "t.parquet")
    slow, slow_problems, _ = coerce_table(_frame(n, flag, "float64"), SPEC, "t.parquet")
    assert fast_problems == slow_problems
    valid = {"n": True, "flag": all(v in (0, 1) for v in flag)}  # a 0/1 problem: the values are moot
    for col in ("n", "flag"):
        assert fast[col].dtype == slow[col].dtype
        assert not valid[col] or np.array_equal(fast[col].to_numpy(), slow[col].to_numpy())
    assert any("negative" in p for p in fast_problems) == any(v < 0 for v in n)
    assert any("not 0 or 1" in p for p in fast_problems) == any(v not in (0, 1) for v in flag)


def test_a_date_column_at_midnight_is_typed_as_a_column_of_its_own():
    df = _frame([1, 2, 3], [0, 1, 0], "int64")
    out, problems, _ = coerce_table(df, SPEC, "t.parquet")
    assert not problems
    assert out["day"].dtype == "datetime64[ns]"
    assert not np.shares_memory(out["day"].to_numpy(), df["day"].to_numpy())
    assert out["n"].dtype == "int64" and out["flag"].dtype == "int8"
    df.loc[0, "day"] = pd.Timestamp("2030-01-01")
    df.iloc[1, df.columns.get_loc("day")] = pd.Timestamp("2031-01-01")
    assert (out["day"] == pd.Timestamp("2025-06-01")).all()


def test_integers_beyond_float_precision_stay_exact_and_too_large_unsigned_is_a_problem():
    big = 2**62 + 1  # float64 would round it
    out, problems, _ = coerce_table(_frame([big, 7], [0, 1], "int64"), SPEC, "t.parquet")
    assert not problems and out["n"].tolist() == [big, 7]
    huge = np.array([2**64 - 5, 3], dtype=np.uint64)
    df = _frame([0, 0], [0, 1], "int64").assign(n=huge)
    out, problems, _ = coerce_table(df, SPEC, "t.parquet")
    assert len(problems) == 1 and "column 'n': 1 rows above 9223372036854775807" in problems[0]
