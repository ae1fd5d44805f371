"""The shared frame helpers against pandas' own (slow on Arrow strings, but obviously right)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collections_engine.frames import duplicated, isin, isin_many

SMALL_TEXT = st.one_of(st.none(), st.sampled_from(["", "A1", "A2", "a1", "A10", "é"]))
SMALL_NUM = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, 2.0, float("nan")]))
SMALL_INT = st.integers(-2, 2)
SMALL_DATE = st.one_of(st.none(), st.sampled_from(["2025-01-01", "2025-01-02"]))


@st.composite
def frames(draw):
    n = draw(st.integers(0, 30))
    return pd.DataFrame({
        "id": pd.array(draw(st.lists(SMALL_TEXT, min_size=n, max_size=n)), dtype="str"),
        "amount": pd.array(draw(st.lists(SMALL_NUM, min_size=n, max_size=n)), dtype="float64"),
        "n": np.array(draw(st.lists(SMALL_INT, min_size=n, max_size=n)), dtype=np.int64),
        "day": pd.to_datetime(pd.Series(draw(st.lists(SMALL_DATE, min_size=n, max_size=n)), dtype=object)),
        "obj": pd.Series(draw(st.lists(SMALL_TEXT, min_size=n, max_size=n)), dtype=object),
    })


@given(frames(), st.lists(st.sampled_from(["id", "amount", "n", "day", "obj"]), unique=True, max_size=5))
def test_duplicated_matches_pandas(df, cols):
    expected = df.duplicated(cols or None, keep="first").to_numpy()
    assert np.array_equal(duplicated(df, cols or None), expected)


def test_duplicated_wide_key_does_not_overflow():
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame({f"c{i}": pd.array(rng.integers(0, 900, n).astype(str), dtype="str") for i in range(8)})
    df = pd.concat([df, df.iloc[[5, 17, 17]]], ignore_index=True)
    assert np.array_equal(duplicated(df), df.duplicated(keep="first").to_numpy())
    assert duplicated(df).sum() == 3


@given(st.lists(SMALL_TEXT, max_size=20), st.lists(SMALL_TEXT, max_size=8))
def test_isin_matches_python(values, pool):
    assert np.array_equal(isin(pd.Series(values, dtype="str"), pd.Series(pool, dtype="str")),
                          _in_python(values, pool))


@given(st.lists(SMALL_TEXT, max_size=20), st.lists(SMALL_TEXT, max_size=8), st.booleans())
def test_isin_many_with_categoricals_matches_python(values, pool, categorical_pool):
    """Several columns in one look-up, categorical columns and a categorical pool included."""
    cols = [pd.Series(values, dtype="str"), pd.Series(values, dtype="category"),
            pd.Series(values, dtype=object)]
    p = pd.Series(pool, dtype="category" if categorical_pool else "str")
    for got in isin_many(cols, p):
        assert np.array_equal(got, _in_python(values, pool))


def _in_python(values, pool) -> np.ndarray:
    wanted = {p for p in pool if p is not None}
    return np.array([v is not None and v in wanted for v in values], dtype=bool)


@given(frames(), st.lists(st.sampled_from(["id", "amount", "n", "day", "obj"]), unique=True, max_size=5),
       st.lists(st.sampled_from(["id", "n", "day"]), unique=True, min_size=1, max_size=3))
def test_duplicated_matches_pandas_on_sorted_rows(df, cols, order):
    """Sorted extracts take the neighbour-comparison path; the answer must not change."""
    df = df.sort_values(order, kind="stable", na_position="last").reset_index(drop=True)
    expected = df.duplicated(cols or None, keep="first").to_numpy()
    assert np.array_equal(duplicated(df, cols or None), expected)


def test_duplicated_sorted_extract_with_repeats_inside_runs():
    rng = np.random.default_rng(1)
    n = 5000
    df = pd.DataFrame({"account_id": pd.array(np.sort(rng.integers(0, 400, n)).astype(str), dtype="str"),
                       "day": pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 5, n), "D"),
                       "channel": pd.array(rng.choice(["sms", "call"], n), dtype="str"),
                       "amount": rng.choice([1.0, np.nan, 2.5], n)})
    df = df.sort_values("account_id", kind="stable").reset_index(drop=True)
    expected = df.duplicated(keep="first").to_numpy()
    assert 0 < expected.sum() < n
    assert np.array_equal(duplicated(df), expected)
    assert np.array_equal(duplicated(df, ["account_id", "day"]), df.duplicated(["account_id", "day"]).to_numpy())


@pytest.mark.parametrize("seed", [2, 3])
def test_duplicated_identifiers_shaped_extract_matches_pandas(seed):
    """The identifiers' shape at a size where the sorted-prefix path codes only the rows inside
    runs: sorted by customer, kinds in file order (not sorted) within a customer, text values
    and dates, full-row repeats planted and near-repeats (same customer, kind and date, another
    value) that only the text column tells apart."""
    rng = np.random.default_rng(seed)
    customers = 60_000
    per = rng.integers(1, 7, customers)
    cust = np.repeat(np.arange(customers), per)
    n = len(cust)
    kinds = np.array(["phone", "device", "address"])[np.arange(n) % 3]
    values = np.char.add("v", rng.integers(0, n // 2, n).astype(str))
    seen = np.datetime64("2024-07-01") + rng.integers(0, 3, n).astype("timedelta64[D]")
    df = pd.DataFrame({"customer_id": pd.array(np.char.add("C", cust.astype(str)), dtype="str"),
                       "kind": pd.Categorical(kinds), "value": pd.array(values, dtype="str"),
                       "first_seen": seen.astype("datetime64[ns]")})
    again = rng.random(n) < 0.02  # full repeats of the row before
    rows = np.flatnonzero(again[1:]) + 1
    df.iloc[rows] = df.iloc[rows - 1].to_numpy()
    df = df.sort_values("customer_id", kind="stable").reset_index(drop=True)
    expected = df.duplicated(keep="first").to_numpy()
    assert 0.01 < expected.mean() < 0.05
    assert np.array_equal(duplicated(df), expected)
    assert np.array_equal(duplicated(df, ["customer_id", "kind", "value"]),
                          df.duplicated(["customer_id", "kind", "value"], keep="first").to_numpy())

@given(st.lists(st.tuples(SMALL_TEXT, st.integers(1, 4)), max_size=12), st.lists(SMALL_TEXT, max_size=8))
def test_isin_on_runs_of_repeated_ids(runs, pool):
    """Ids repeated over consecutive rows (a sorted extract) take the one-look-up-per-run path."""
    values = [v for v, k in runs for _ in range(k)]
    assert np.array_equal(isin(pd.Series(values, dtype="str"), pd.Series(pool, dtype="str")),
                          _in_python(values, pool))


@given(st.lists(SMALL_TEXT, max_size=20), st.lists(SMALL_TEXT, max_size=8))
def test_isin_on_categories(values, pool):
    assert np.array_equal(isin(pd.Series(values, dtype="category"), pd.Series(pool, dtype="str")),
                          _in_python(values, pool))


WIDE_INT = st.one_of(st.integers(-2, 2), st.sampled_from([-(2**62), 2**62, 10**12]))
STAMP = st.one_of(st.none(), st.sampled_from(["2025-01-01", "2025-01-02", "2025-01-01 06:00", "1969-12-31"]))


@given(st.data(), st.sampled_from(["ns", "us", "s"]))
def test_duplicated_offset_codes_match_pandas(data, unit):
    """Integers and dates are coded by their offset from the minimum when their range is small:
    wide ranges, times of day, missing dates, dates before 1970 and other units must not change
    the answer."""
    n = data.draw(st.integers(0, 40))
    df = pd.DataFrame({
        "run": np.sort(np.array(data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), np.int64)),
        "big": np.array(data.draw(st.lists(WIDE_INT, min_size=n, max_size=n)), np.int64),
        "small": np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), np.uint8),
        "at": pd.to_datetime(pd.Series(data.draw(st.lists(STAMP, min_size=n, max_size=n)), dtype=object),
                             format="mixed").astype(f"datetime64[{unit}]"),
        "txt": pd.array(data.draw(st.lists(SMALL_TEXT, min_size=n, max_size=n)), dtype="str"),
    })
    cols = data.draw(st.lists(st.sampled_from(list(df.columns)), unique=True, min_size=1, max_size=5))
    assert np.array_equal(duplicated(df, cols), df.duplicated(cols, keep="first").to_numpy())


def test_duplicated_times_of_day_and_wide_integers_are_distinct():
    for days in (["2025-01-01", "2025-01-01 06:00", "2025-01-01", "2025-01-02", None, None],
                 ["1969-12-31", "1969-12-31 06:00", "1969-12-31", "1970-01-01", None, None]):
        for unit in ("ns", "us", "s"):
            at = pd.Series(pd.to_datetime(days, format="mixed")).astype(f"datetime64[{unit}]")
            df = pd.DataFrame({"at": at, "n": np.array([1, 1, 1, 2**62, 2**62, 2**62], np.int64)})
            assert duplicated(df).tolist() == [False, False, True, False, False, True]
            assert duplicated(df, ["at"]).tolist() == [False, False, True, False, False, True]
            assert duplicated(df, ["n"]).tolist() == [False, True, True, False, True, True]


@given(st.lists(st.tuples(st.sampled_from(["b", "a", "c"]), st.integers(0, 2)), max_size=30),
       st.booleans(), st.booleans())
def test_duplicated_on_categoricals_matches_pandas(rows, sorted_levels, sort_rows):
    """Categoricals (read from parquet dictionaries) take part in the sorted-prefix path through
    their codes, whether or not the levels are sorted."""
    if sort_rows:
        rows = sorted(rows)
    levels = ["a", "b", "c"] if sorted_levels else ["c", "a", "b"]
    df = pd.DataFrame({"kind": pd.Categorical([r[0] for r in rows], categories=levels),
                       "n": np.array([r[1] for r in rows], np.int64)})
    for cols in (["kind"], ["kind", "n"], ["n", "kind"]):
        assert np.array_equal(duplicated(df, cols), df.duplicated(cols, keep="first").to_numpy())


@pytest.mark.parametrize("where", [None, 0, 65535, 65536, 3 * 65536 + 4])
def test_any_remainder_reads_every_block(where):
    """`frames.any_remainder` (a block of 65,536 rows at a time) against the whole-column
    remainder, with the one value off the step at a block's edge, in the last partial block,
    or nowhere; negative values (dates before 1970) included."""
    from collections_engine.frames import any_remainder

    day = 86_400_000_000_000
    x = (np.random.default_rng(5).integers(-20_000, 20_000, 3 * 65536 + 5) * day).astype(np.int64)
    if where is not None:
        x[where] += 1
    lo = int(x.min())
    assert any_remainder(x, day) == bool((x % day).any()) == (where is not None)
    assert any_remainder(x, day, lo) == bool(((x - lo) % day).any())
