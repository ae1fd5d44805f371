"""Integer codes for string id columns (pyarrow hashing; much faster than pandas isin/merge).

Everything after encoding works on int64 arrays, so joins become array indexing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["encode", "to_arrow"]


def to_arrow(s: pd.Series | np.ndarray) -> pa.Array:
    arr = s.array if isinstance(s, pd.Series) else s
    try:
        out = pa.array(arr, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        out = pa.array(np.asarray(arr, dtype=object).astype(str), type=pa.large_string())
    return out


def encode(*columns: pd.Series | np.ndarray, sort: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
    """Codes of each column in one shared dictionary, and the dictionary (object array).

    With `sort`, codes follow the sorted order of the values, so they do not depend on row
    order. Nulls get -1.
    """
    arrays = [to_arrow(c) for c in columns]
    lengths = [len(a) for a in arrays]
    if sum(lengths) == 0:
        return [np.array([], np.int64) for _ in arrays], np.array([], dtype=object)
    chunked = pa.chunked_array(arrays, type=pa.large_string()).combine_chunks()
    d = pc.dictionary_encode(chunked)
    idx = d.indices.to_numpy(zero_copy_only=False)
    idx = np.where(pd.isna(idx), -1, idx).astype(np.int64) if d.indices.null_count else idx.astype(np.int64)
    dictionary = d.dictionary
    if sort and len(dictionary):
        order = pc.array_sort_indices(dictionary).to_numpy()
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        idx = np.where(idx >= 0, rank[np.maximum(idx, 0)], -1)
        dictionary = dictionary.take(pa.array(order))
    uniques = np.asarray(dictionary.to_pylist() if len(dictionary) < 1000 else dictionary.to_numpy(zero_copy_only=False), dtype=object)
    bounds = np.cumsum([0, *lengths])
    return [idx[bounds[i]:bounds[i + 1]] for i in range(len(arrays))], uniques
