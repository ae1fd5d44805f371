"""Frame helpers every step shares.

pandas' `isin` on Arrow-backed strings (pandas 3's default `str` dtype) loops in Python: about
4 s for a million ids. `isin` here hands the work to Arrow's hash look-up (0.2 s). pandas'
`duplicated` factorizes Arrow strings slowly too (14 of 23 s on the 300k book's tables);
`duplicated` here codes string columns with Arrow's dictionary encoding and the rest with
pandas' factorize, then finds repeated code tuples in one int64 key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["isin", "duplicated"]


def isin(values: pd.Series, allowed: pd.Series | pd.Index | np.ndarray | tuple) -> np.ndarray:
    """Vectorised membership (pandas' isin on Arrow strings loops in Python)."""
    arr = pa.array(values.to_numpy(dtype=object) if values.dtype == object else values, from_pandas=True)
    pool = allowed if not isinstance(allowed, tuple) else list(allowed)
    # No unique() of the pool: Arrow's is_in builds its own hash set (repeats are fine), and a
    # pool of millions of ids (every account of the book) would be hashed twice.
    pool_arr = pa.array(pd.Series(pool).dropna().tolist() if isinstance(pool, list)
                        else pd.Series(pool).dropna(), from_pandas=True)
    if pool_arr.type != arr.type:
        pool_arr = pool_arr.cast(arr.type) if len(pool_arr) else pa.array([], type=arr.type)
    return pc.is_in(arr, value_set=pool_arr).fill_null(False).to_numpy(zero_copy_only=False)


def _codes(s: pd.Series) -> tuple[np.ndarray, int]:
    """Dense int64 codes of one column (nulls equal to each other) and their count."""
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


def duplicated(df: pd.DataFrame, columns: list[str] | None = None) -> np.ndarray:
    """Rows whose values in `columns` (default: all) repeat an earlier row: pandas'
    `df.duplicated(columns, keep="first")`, vectorised through integer codes."""
    cols = list(df.columns) if columns is None else list(columns)
    if not len(df) or not cols:
        return np.zeros(len(df), dtype=bool)
    key, size = _codes(df[cols[0]])
    for col in cols[1:]:
        codes, n = _codes(df[col])
        if size * n >= 2**62:  # compact the key before it could overflow
            key, uniques = pd.factorize(key)
            size = len(uniques)
        key, size = key * n + codes, size * n
    return pd.Series(key).duplicated(keep="first").to_numpy()
