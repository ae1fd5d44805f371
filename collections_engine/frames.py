"""Frame helpers every step shares.

pandas' `isin` on Arrow-backed strings (pandas 3's default `str` dtype) loops in Python: about
4 s for a million ids. `isin` here hands the work to Arrow's hash look-up (0.2 s).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["isin"]


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
