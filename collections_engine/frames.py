"""Frame helpers every step shares.

pandas' `isin` on Arrow-backed strings (pandas 3's default `str` dtype) loops in Python;
`isin` here hands the work to Arrow's hash look-up, an order of magnitude faster. pandas'
`duplicated` factorizes Arrow strings slowly too (most of the load step's time on large books;
figures in docs/notes/issue-7.md and the README's benchmark table); `duplicated` here compares neighbours on the columns the rows are sorted by (extracts usually
are) and codes the rest with Arrow's dictionary encoding or pandas' factorize into one int64 key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["any_remainder", "isin", "isin_many", "duplicated", "run_heads", "run_index", "per_run"]


RUN_SHARE = 0.3  # use runs only when at least this share of rows repeat the previous one


def run_heads(arr: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Mask of the rows that differ from the row before (the first row and nulls always do),
    or None when too few rows repeat their neighbour for runs to pay. Extracts sorted by id
    repeat each id over consecutive rows: work per run instead of per row. A comparison of
    neighbours costs a fraction of a hash."""
    n = len(arr)
    if n < 2:
        return None
    same = pc.fill_null(pc.equal(arr.slice(1), arr.slice(0, n - 1)), False).to_numpy(zero_copy_only=False)
    if same.mean() < RUN_SHARE:
        return None
    return np.r_[True, ~same]


def per_run(values: pa.Array | pa.ChunkedArray, fn) -> np.ndarray:
    """`fn(values)` (one numpy value per row), computed once per run of equal neighbours when
    runs pay: `fn` must treat equal values alike (a look-up, a test)."""
    heads = run_heads(values)
    if heads is None:
        return fn(values)
    return fn(values.filter(pa.array(heads)))[run_index(heads)]


def run_index(heads: np.ndarray) -> np.ndarray:
    """For each row, the position of its run among the runs (heads from `run_heads`); int32
    where it fits: half the memory to fault in for tens of millions of rows."""
    idx = np.cumsum(heads, dtype=np.int32 if len(heads) < 2**31 - 1 else np.int64)
    idx -= 1
    return idx


def isin(values: pd.Series, allowed: pd.Series | pd.Index | np.ndarray | tuple) -> np.ndarray:
    """Vectorised membership (pandas' isin on Arrow strings loops in Python)."""
    return isin_many([values], allowed)[0]


def isin_many(columns: list[pd.Series], allowed: pd.Series | pd.Index | np.ndarray | tuple) -> list[np.ndarray]:
    """`isin` of several columns against one pool with a single look-up: the pool (every
    account of the book, say) is hashed once, and each column is looked up once per run of
    equal neighbours (or once per level of a categorical)."""
    pool_arr = _pool_array(allowed)
    keys: list[pa.Array | pa.ChunkedArray] = []
    expand: list[tuple[np.ndarray | None, bool]] = []  # (index into the keys or None, categorical)
    for values in columns:
        if isinstance(values.dtype, pd.CategoricalDtype):  # look up each level once
            keys.append(pa.array(pd.Series(values.cat.categories, dtype=object), from_pandas=True))
            expand.append((values.cat.codes.to_numpy(), True))
            continue
        arr = pa.array(values.to_numpy(dtype=object) if values.dtype == object else values, from_pandas=True)
        heads = None if pa.types.is_null(arr.type) else run_heads(arr)  # all missing: never in the pool
        keys.append(arr if heads is None else arr.filter(pa.array(heads)))
        expand.append((None if heads is None else run_index(heads), False))
    typ = pool_arr.type
    if pa.types.is_null(typ) or not len(pool_arr):
        typ = next((k.type for k in keys if not pa.types.is_null(k.type)), pa.large_string())
    if pa.types.is_string(typ):
        typ = pa.large_string()
    try:
        pool_arr = pool_arr.cast(typ) if len(pool_arr) else pa.array([], type=typ)
        chunks = [c.cast(typ) if c.type != typ else c for k in keys
                  for c in (k.chunks if isinstance(k, pa.ChunkedArray) else [k])]
        hit = pc.is_in(pa.chunked_array(chunks, type=typ), value_set=pool_arr).fill_null(False) \
            .to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Types that do not cast to the pool's (text against integers, ...): each column on its
        # own, the pool cast to the column's type, as membership was tested before.
        hit = np.concatenate([_is_in_typed(k, _pool_array(allowed)) for k in keys]) if keys else np.zeros(0, bool)
    out, lo = [], 0
    for k, (index, categorical) in zip(keys, expand):
        h = hit[lo:lo + len(k)]
        lo += len(k)
        if categorical:
            out.append(np.r_[h, False][index])  # code -1 (missing) is never in the pool
        else:
            out.append(h if index is None else h[index])
    return out


def _pool_array(allowed) -> pa.Array:
    """The pool's values as Arrow, missing ones dropped (a categorical pool: its values). No
    unique(): Arrow's is_in builds its own hash set, repeats are fine."""
    pool = list(allowed) if isinstance(allowed, tuple) else allowed
    arr = pa.array(pd.Series(pool).dropna().tolist() if isinstance(pool, list) else pd.Series(pool).dropna(),
                   from_pandas=True)
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _is_in_typed(values: pa.Array | pa.ChunkedArray, p: pa.Array) -> np.ndarray:
    """Membership with the pool cast to the values' type; values of a type the pool cannot take
    are found nowhere."""
    if pa.types.is_null(values.type):
        return np.zeros(len(values), dtype=bool)
    try:
        p = p.cast(values.type) if len(p) else pa.array([], type=values.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.zeros(len(values), dtype=bool)
    return pc.is_in(values, value_set=p).fill_null(False).to_numpy(zero_copy_only=False)


# Rows per block of `any_remainder`: a block's temporaries stay in the CPU cache.
_BLOCK = 1 << 16


def any_remainder(x: np.ndarray, m: int, lo: int = 0) -> bool:
    """Whether any (x - lo) % m is not 0, a block at a time (no temporaries of the column's
    length: on a 13M-row column each would be 107 MB of fresh memory)."""
    for i in range(0, len(x), _BLOCK):
        if ((x[i:i + _BLOCK] - lo) % m).any():
            return True
    return False


def _int_codes(s: pd.Series) -> tuple[np.ndarray, int] | None:
    """Codes of an integer or date column by offset from its minimum (no hashing), when its
    range is small against its length (run numbers, days, counts); None otherwise. Dates at
    midnight count in days. Missing values (NaT) get code 0."""
    day = 1
    if pd.api.types.is_datetime64_any_dtype(s):
        if not isinstance(s.dtype, np.dtype):  # time zones: factorized
            return None
        unit = np.datetime_data(s.dtype)[0]
        day = int(np.timedelta64(1, "D") // np.timedelta64(1, unit)) if unit in ("ns", "us", "ms", "s") else 1
        v = s.to_numpy().view(np.int64)
        null = v == np.iinfo(np.int64).min
    elif isinstance(s.dtype, np.dtype) and (s.dtype.kind == "i" or (s.dtype.kind == "u" and s.dtype.itemsize < 8)):
        v = s.to_numpy().astype(np.int64, copy=False)
        null = None
    else:
        return None
    if not len(v):
        return np.zeros(0, np.int64), 1
    present = v if null is None or not null.any() else v[~null]
    if not len(present):
        return np.zeros(len(v), np.int64), 1
    lo, hi = int(present.min()), int(present.max())
    step = day if day > 1 and lo % day == 0 and not any_remainder(present, day, lo) else 1
    span = (hi - lo) // step + 1
    if span > 4 * len(v) + 1024:
        return None
    codes = v - lo  # in place from here: one array of the column's length, not three
    if step > 1:
        codes //= step
    codes += 1
    if null is not None and null.any():
        codes[null] = 0
    return codes, span + 1


def _codes(s: pd.Series) -> tuple[np.ndarray, int]:
    """Codes of one column (nulls equal to each other, distinct values distinct) and an upper
    bound of their count."""
    offset = _int_codes(s)
    if offset is not None:
        return offset
    if pd.api.types.is_string_dtype(s) or s.dtype == object:
        arr = pa.array(s.to_numpy(dtype=object) if s.dtype == object else s.array, from_pandas=True)
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            enc = pc.dictionary_encode(arr, null_encoding="encode")
            if isinstance(enc, pa.ChunkedArray):  # one memo table across chunks: a shared dictionary
                if enc.num_chunks == 0:
                    return np.zeros(0, np.int64), 0
                idx = [c.indices.to_numpy(zero_copy_only=False) for c in enc.chunks]
                return np.concatenate(idx).astype(np.int64), len(enc.chunks[-1].dictionary)
            return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(enc.dictionary)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes.astype(np.int64) + 1, len(uniques) + 1  # nulls (-1) become code 0


def _repeated(key: np.ndarray, size: int) -> np.ndarray:
    """Rows whose key occurs more than once (every copy): counted when the key space is small
    against the rows (one counting pass), by sorting otherwise."""
    if size <= 4 * len(key) + 1024:
        return np.bincount(key, minlength=size)[key] > 1
    order, same = _sorted_runs(key)
    out = np.empty(len(key), dtype=bool)
    out[order] = np.r_[same, False] | np.r_[False, same]
    return out


def _repeat_earlier(key: np.ndarray) -> np.ndarray:
    """Rows whose key occurred in an earlier row (`duplicated(keep="first")`): in a stable sort
    the first of equal keys is the earliest row."""
    order, same = _sorted_runs(key)
    out = np.empty(len(key), dtype=bool)
    out[order] = np.r_[False, same]
    return out


def _sorted_runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stable order of the keys and whether each sorted key equals the next. Keys built on
    sorted extracts are nearly sorted, which numpy's stable sort handles in a few passes
    (faster than a hash table on such keys)."""
    order = np.argsort(key, kind="stable")
    k = key[order]
    return order, k[1:] == k[:-1]


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s)


def _hashed_duplicated(df: pd.DataFrame, cols: list[str], rows: np.ndarray | None = None,
                       key: np.ndarray | None = None, size: int = 1) -> np.ndarray:
    """`duplicated` through integer codes. Cheap columns (numbers, dates) are coded first;
    before each text column (hashing strings is the cost), rows already unique on the columns
    so far are set aside: they cannot repeat an earlier row. With `rows` (increasing positions)
    and their `key` codes below `size` on earlier columns: among those rows only."""
    n = len(df)
    order = [c for c in cols if not _is_text(df[c])] + [c for c in cols if _is_text(df[c])]
    if rows is None:
        rows, key = np.arange(n), np.zeros(n, np.int64)
    for col in order:
        if _is_text(df[col]) and size > 1:
            again = _repeated(key, size)
            if not again.all():  # the key stays below `size`: no re-coding needed
                rows, key = rows[again], key[again]
            if not len(rows):
                break
        codes, m = _codes(df[col] if len(rows) == n else df[col].iloc[rows])
        if size * m >= 2**62:  # compact the key before it could overflow
            key, uniques = pd.factorize(key)
            size = len(uniques)
        key *= m  # in place: no two temporaries of the key's length per column
        key += codes
        size *= m
    out = np.zeros(n, dtype=bool)
    out[rows] = _repeat_earlier(key)
    return out


def _comparable(s: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """The column as Arrow when adjacent rows can be compared exactly: strings, integers and
    dates without nulls (floats are left out: NaN equals NaN for `duplicated`, not for Arrow)."""
    if s.dtype == object or s.hasnans:
        return None
    if isinstance(s.dtype, pd.CategoricalDtype):
        # Codes stand one-to-one for the values: rows in order of any such stand-in still have
        # their equal rows next to each other (comparing Arrow dictionaries is slow).
        return pa.array(s.cat.codes.to_numpy())
    if pd.api.types.is_string_dtype(s):
        return pa.array(s.array)
    if pd.api.types.is_integer_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return pa.array(s.to_numpy())
    return None


def _sorted_prefix(df: pd.DataFrame, cols: list[str]) -> tuple[int, np.ndarray]:
    """(k, tie): the rows are in lexicographic order of the first k `cols`, and tie[i] says
    that rows i and i + 1 are equal on them. Only adjacent comparisons: no hashing."""
    n = len(df)
    before = np.zeros(n - 1, bool)   # row i sorts strictly before row i + 1 on the prefix
    tie = np.ones(n - 1, bool)       # ... or equals it
    k = 0
    for col in cols:
        arr = _comparable(df[col])
        if arr is None:
            break
        a, b = arr.slice(0, n - 1), arr.slice(1)
        lt = pc.less(a, b).to_numpy(zero_copy_only=False)
        eq = pc.equal(a, b).to_numpy(zero_copy_only=False)
        new_before = before | (tie & lt)
        new_tie = tie & eq
        if not (new_before | new_tie).all():
            break
        before, tie, k = new_before, new_tie, k + 1
    return k, tie


def duplicated(df: pd.DataFrame, columns: list[str] | None = None) -> np.ndarray:
    """Rows whose values in `columns` (default: all) repeat an earlier row: pandas'
    `df.duplicated(columns, keep="first")`.

    Extracts usually come sorted by their leading columns: where the rows are in order of the
    first k columns, equal rows on those are neighbours, found by comparing each row with the
    next (no hashing); only rows inside a run of equal leading values go on to the hashed
    comparison of the other columns (integer codes, one int64 key).
    """
    cols = list(df.columns) if columns is None else list(columns)
    n = len(df)
    if not n or not cols:
        return np.zeros(n, dtype=bool)
    if n == 1:
        return np.zeros(1, dtype=bool)
    k, tie = _sorted_prefix(df, cols)
    if k == 0:
        return _hashed_duplicated(df, cols)
    same_prev = np.r_[False, tie]
    if k == len(cols):
        return same_prev
    in_run = same_prev | np.r_[tie, False]
    out = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(in_run)
    if len(idx):
        run = np.cumsum(~same_prev[idx])  # a run's rows are consecutive in idx; its first is not same_prev
        return _hashed_duplicated(df, cols[k:], rows=idx, key=run, size=int(run[-1]) + 1)
    return out
