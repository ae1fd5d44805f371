"""Per-table checks: required columns, types, nulls, ranges, unique keys. Vectorised.

Each check returns problem strings naming the file, the column, how many rows, what was found
and what was expected, and the first few offending rows by number (1-based data rows) and key;
never the value of a personal field.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.frames import any_remainder, duplicated, isin
from collections_engine.schema import TableSpec

__all__ = ["coerce_table", "rows_hint", "isin", "MAX_SHOWN"]

MAX_SHOWN = 5


def rows_hint(df: pd.DataFrame, mask: np.ndarray, key: tuple[str, ...]) -> str:
    """'rows 3 (A1, 2026-01-31), 9 (...)': the first offending rows, by number and key."""
    idx = np.flatnonzero(mask)[:MAX_SHOWN]
    parts = []
    cols = [c for c in key if c in df.columns]
    for i in idx:
        vals = []
        for c in cols:
            v = df[c].iat[i]
            if isinstance(v, pd.Timestamp):
                v = v.date().isoformat()
            vals.append("null" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
        parts.append(f"{i + 1} ({', '.join(vals)})" if vals else f"{i + 1}")
    more = " ..." if int(mask.sum()) > MAX_SHOWN else ""
    return f"rows {', '.join(parts)}{more}"


def _to_id(s: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    if pd.api.types.is_integer_dtype(s) and not s.hasnans:
        return s.astype("str"), np.zeros(len(s), bool), ""
    if pd.api.types.is_float_dtype(s):
        bad = s.isna().to_numpy() | (s.fillna(0) % 1 != 0).to_numpy()
        return s.astype("Int64").astype("str") if not bad.any() else s.astype("str"), bad, "a non-integer number"
    out = s.astype("str")
    empty = pc.equal(pa.array(out.array), "").fill_null(True).to_numpy(zero_copy_only=False)
    bad = s.isna().to_numpy() | empty
    return out, bad, "an empty id"


_MIN_DATE = np.datetime64("1900-01-01")
_MAX_DATE = np.datetime64("2200-01-01")
_MIN_NS, _MAX_NS = (d.astype("datetime64[ns]").astype(np.int64) for d in (_MIN_DATE, _MAX_DATE))


def _midnights_in_range(vals: np.ndarray) -> np.ndarray | None:
    """datetime64[ns] values unchanged when every present one is a midnight inside the accepted
    years (the usual extract: one pass, no conversion); None otherwise."""
    ns = vals.astype("datetime64[ns]", copy=False)
    i = ns.view(np.int64)
    nat = np.iinfo(np.int64).min
    lo = i.min() if len(i) else 0
    present = i[i != nat] if lo == nat else i
    if not len(present):
        return ns
    if any_remainder(present, 86_400_000_000_000):
        return None
    if present.min() < _MIN_NS or present.max() >= _MAX_NS:
        return None
    return ns


def _to_date(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(datetime64[ns] at midnight, mask of values that are present but not dates).

    Accepts date/datetime columns and 'YYYY-MM-DD' strings (a time part is ignored); years
    outside 1900..2199 count as not dates.
    """
    if pd.api.types.is_datetime64_any_dtype(s):
        raw = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        vals = raw.to_numpy()
        fast = _midnights_in_range(vals)
        if fast is not None:
            # A column of its own (a copy). Not pandas' lazy copy of the reader's frame: at 1M
            # accounts that made the night's forked ring child about 10 s slower (measured,
            # docs/notes/issue-17.md section 11), more than the copy costs here.
            return pd.Series(fast, index=s.index, copy=True), np.zeros(len(s), bool)
    elif s.dtype == object and hasattr(s.dropna().head(1).tolist()[0] if s.notna().any() else "", "year"):
        vals = pd.to_datetime(s, errors="coerce").to_numpy()  # python date objects
    else:
        text = s.astype("str").str.slice(0, 10).where(s.notna(), None)
        vals = pd.to_datetime(text, errors="coerce", format="%Y-%m-%d").to_numpy()
    vals = vals.astype("datetime64[D]")
    present = ~np.isnat(vals)
    out_of_range = present & ((vals < _MIN_DATE) | (vals >= _MAX_DATE))
    vals = np.where(out_of_range, np.datetime64("NaT"), vals).astype("datetime64[ns]")
    out = pd.Series(vals, index=s.index, copy=False)
    bad = (np.isnat(vals) & s.notna().to_numpy())
    return out, bad


def _to_num(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64"), np.zeros(len(s), bool)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("float64"), np.zeros(len(s), bool)
    out = pd.to_numeric(s, errors="coerce")
    bad = (out.isna() & s.notna()).to_numpy()
    return out.astype("float64"), bad


def coerce_table(
    df: pd.DataFrame, spec: TableSpec, label: str, categories: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Type the contract columns of one table; return (frame, problems, warnings).

    Text columns named in `categories` may stay categoricals (read from the file's dictionary);
    every other text column becomes strings."""
    missing = [c for c in spec.columns if c not in df.columns]
    problems = _shape_problems(df, spec, label, missing)
    df = df.copy(deep=False)
    for col, kind in {**spec.columns, **spec.optional_columns}.items():
        if col in df.columns:
            df[col] = _coerce_column(df, col, kind, spec, label, categories, problems)
    warnings: list[str] = []
    if not missing and len(df):
        df = _key_rows(df, spec, label, problems, warnings)
    return df, problems, warnings


def _shape_problems(df: pd.DataFrame, spec: TableSpec, label: str, missing: list[str]) -> list[str]:
    """Missing contract columns, and an empty table that must have rows."""
    problems = []
    if missing:
        problems.append(
            f"{label}: missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
            f"expected columns {', '.join(spec.columns)} (found {', '.join(map(str, df.columns)) or 'none'})"
        )
    if spec.required and len(df) == 0:
        problems.append(f"{label}: the table is empty; expected at least one row")
    return problems


def _coerce_column(df: pd.DataFrame, col: str, kind: str, spec: TableSpec, label: str,
                   categories: tuple[str, ...], problems: list[str]) -> pd.Series:
    """One column typed by its kind (id, date, num, int, bool01, str); its problems appended."""
    s = df[col]
    null = s.isna().to_numpy()
    if kind == "id":
        out, bad, what = _to_id(s)
        if bad.any():
            problems.append(f"{label}: column '{col}': {int(bad.sum())} rows with a missing or invalid id "
                            f"({what}); expected a non-empty id; {rows_hint(df, bad, spec.key)}")
        return out
    if kind == "date":
        out, bad = _to_date(s)
        if bad.any():
            problems.append(f"{label}: column '{col}': {int(bad.sum())} rows that are not dates; "
                            f"expected YYYY-MM-DD; {rows_hint(df, bad, spec.key)}")
    elif kind in ("num", "int", "bool01"):
        out = _number_column(df, col, kind, spec, label, null, problems)
    elif (col in categories and isinstance(s.dtype, pd.CategoricalDtype)
          and all(isinstance(c, str) for c in s.cat.categories)):
        out = s  # text read from the file's dictionary: kept as categories (no string per row)
    else:  # str
        out = s.astype("str").where(s.notna(), None) if not pd.api.types.is_string_dtype(s) else s
        out = out.astype("str") if not null.any() else out
    if col not in spec.nullable and null.any():
        problems.append(f"{label}: column '{col}': {int(null.sum())} rows empty; expected a value; "
                        f"{rows_hint(df, null, spec.key)}")
    return out


def _number_column(df: pd.DataFrame, col: str, kind: str, spec: TableSpec, label: str, null: np.ndarray,
                   problems: list[str]) -> pd.Series:
    """A num / int / bool01 column as float64 (int64 or int8 when whole and complete), with its
    problems: not numbers, fractions in an int column, values other than 0/1, negative values."""
    s = df[col]
    if kind in ("int", "bool01") and isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":
        return _integer_column(df, col, kind, spec, label, problems)
    out, bad = _to_num(s)
    if bad.any():
        problems.append(f"{label}: column '{col}': {int(bad.sum())} rows that are not numbers; "
                        f"expected a number; {rows_hint(df, bad, spec.key)}")
    vals = out.to_numpy()
    present = ~np.isnan(vals)
    if kind == "int":
        frac = present & (np.mod(np.where(present, vals, 0), 1) != 0)
        if frac.any():
            problems.append(f"{label}: column '{col}': {int(frac.sum())} rows with a fraction; "
                            f"expected a whole number; {rows_hint(df, frac, spec.key)}")
    if kind == "bool01":
        nb = present & ~np.isin(vals, (0.0, 1.0))
        if nb.any():
            problems.append(f"{label}: column '{col}': {int(nb.sum())} rows not 0 or 1; "
                            f"expected 0/1; {rows_hint(df, nb, spec.key)}")
    if col in spec.non_negative:
        neg = present & (np.where(present, vals, 0) < 0)
        if neg.any():
            problems.append(f"{label}: column '{col}': {int(neg.sum())} rows with a negative value; "
                            f"expected >= 0; {rows_hint(df, neg, spec.key)}")
    if kind == "int" and not null.any() and not bad.any():
        out = out.astype("int64")
    elif kind == "bool01" and not null.any() and not bad.any():
        out = out.astype("int8")
    return out


def _integer_column(df: pd.DataFrame, col: str, kind: str, spec: TableSpec, label: str,
                    problems: list[str]) -> pd.Series:
    """`_number_column` of an int / bool01 column read as integers (no nulls, no fractions): the
    same checks and result without the round trip through float64 (two arrays of the column's
    length less, at 13M account rows). Exact where float64 rounded (beyond 2**53); unsigned
    values too large for int64 are a problem."""
    s = df[col]
    vals = s.to_numpy()
    if vals.dtype == np.uint64:
        big = vals > np.iinfo(np.int64).max
        if big.any():
            problems.append(f"{label}: column '{col}': {int(big.sum())} rows above {np.iinfo(np.int64).max}; "
                            f"expected a whole number a signed 64-bit integer holds; {rows_hint(df, big, spec.key)}")
    if kind == "bool01":
        nb = (vals != 0) & (vals != 1)
        if nb.any():
            problems.append(f"{label}: column '{col}': {int(nb.sum())} rows not 0 or 1; "
                            f"expected 0/1; {rows_hint(df, nb, spec.key)}")
    if col in spec.non_negative and vals.dtype.kind == "i":
        neg = vals < 0
        if neg.any():
            problems.append(f"{label}: column '{col}': {int(neg.sum())} rows with a negative value; "
                            f"expected >= 0; {rows_hint(df, neg, spec.key)}")
    return s.astype("int64" if kind == "int" else "int8")


def _key_rows(df: pd.DataFrame, spec: TableSpec, label: str, problems: list[str],
              warnings: list[str]) -> pd.DataFrame:
    """A repeated unique key is a problem; fully duplicated rows of other tables are dropped
    with a warning."""
    if spec.unique_key:
        dup = duplicated(df, list(spec.key))
        if dup.any():
            problems.append(f"{label}: {int(dup.sum())} rows repeat the key ({', '.join(spec.key)}); "
                            f"expected each key once; {rows_hint(df, dup, spec.key)}")
        return df
    dup = duplicated(df)
    if dup.any():
        warnings.append(f"{label}: {int(dup.sum())} fully duplicated rows dropped; "
                        f"{rows_hint(df, dup, spec.key)}")
        df = df.loc[~dup].reset_index(drop=True)
    return df
