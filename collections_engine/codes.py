"""Ids to integer codes, in one place (pyarrow hashing; much faster than pandas isin/merge).

Every step that turns string ids (accounts, customers, identifier values) or a few known values
(channels, hold kinds) into integer codes goes through here, so the codes mean the same thing
everywhere: `encode_arrow` / `encode` (one shared dictionary over several columns, in sorted
order or by first appearance), `sorted_codes` (`pd.factorize(sort=True)`), `lookup` (codes
against an existing dictionary), `sorted_levels` (a categorical of the present values in
sorted order), and `is_sorted` (the "already in order" test that lets a caller skip a sort).

Speed on the real book (pandas "str" columns backed by Arrow chunks): the columns' own Arrow
chunks are hashed in place (no `pa.array` round trip, no `combine_chunks` copy of tens of
millions of strings); one `pc.dictionary_encode` pass over all chunks gives the codes and the
dictionary, which is sorted once (when asked) and the codes mapped to their ranks. The
dictionary is handed back as an Arrow array (`encode_arrow`) so a caller that needs only a few
ids never builds millions of Python strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.frames import per_run, run_heads

__all__ = ["category_codes", "encode", "encode_arrow", "is_sorted", "lookup", "sorted_codes", "sorted_levels",
           "to_arrow", "to_object"]


def to_arrow(s: pd.Series | np.ndarray | pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """The column as a large_string ChunkedArray: an Arrow-backed column's own chunks (no
    copy of the characters beyond widening 32-bit offsets), anything else converted."""
    if isinstance(s, (pa.Array, pa.ChunkedArray)):
        data = s
    else:
        arr = s.array if isinstance(s, (pd.Series, pd.Index)) else s
        if isinstance(s, pd.Series) and isinstance(s.dtype, pd.CategoricalDtype):
            return _from_categorical(s)
        data = _arrow_backed(arr)  # pandas ArrowStringArray / ArrowExtensionArray
        if data is None and isinstance(s, pd.Series):
            data = _arrow_backed(s.astype("str").array)  # as `astype("str")` reads it
        if data is None:
            try:
                data = pa.array(arr, type=pa.large_string(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                data = pa.array(np.asarray(arr, dtype=object).astype(str), type=pa.large_string())
    if isinstance(data, pa.Array):
        data = pa.chunked_array([data])
    if data.type != pa.large_string():
        data = data.cast(pa.large_string()) if pa.types.is_string(data.type) else pa.chunked_array(
            [pa.array(np.asarray(data.to_numpy(zero_copy_only=False), dtype=object).astype(str),
                      type=pa.large_string())], type=pa.large_string())
    return data


def _arrow_backed(arr) -> pa.ChunkedArray | pa.Array | None:
    """The Arrow data behind an Arrow-backed pandas array, through pandas' public Arrow protocol
    (`__arrow_array__`: the array's own chunks, no copy); None for any other array."""
    dt = getattr(arr, "dtype", None)
    if isinstance(dt, pd.ArrowDtype) or (isinstance(dt, pd.StringDtype) and dt.storage == "pyarrow"):
        return arr.__arrow_array__()
    return None


def _from_categorical(s: pd.Series) -> pa.ChunkedArray:
    """A categorical column as large_string, decoded by its codes (what astype("str") reads,
    without a Python string per row)."""
    codes = s.cat.codes.to_numpy()
    cats = pa.array(np.asarray(s.cat.categories.astype("str"), dtype=object), pa.large_string())
    idx = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.chunked_array([cats.take(idx)], pa.large_string())


def category_codes(s: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """(codes, categories as str) of a categorical column (code -1: missing); None otherwise."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return None
    return s.cat.codes.to_numpy(), [str(c) for c in s.cat.categories]


def encode_arrow(*columns, sort: bool = True) -> tuple[list[np.ndarray], pa.Array]:
    """Codes (int32) of each column in one shared dictionary, and the dictionary (Arrow).

    With `sort`, codes are the ranks of the values in sorted order, so they do not depend on
    row order. Without it, they follow first appearance over the columns in turn. Nulls get -1.
    """
    data = [to_arrow(c) for c in columns]
    if sum(len(d) for d in data) == 0:
        return [np.array([], np.int32) for _ in data], pa.array([], pa.large_string())
    # Long tables are often grouped (identifiers by customer, contacts and payments by
    # account): only the first row of each run of equal values is hashed, the others copy
    # its code. A comparison of neighbours costs a fraction of a hash.
    pieces, expand = [], []
    for d in data:
        for ch in d.chunks:
            heads = run_heads(ch)
            if heads is None:
                pieces.append(ch)
                expand.append(None)
            else:
                pieces.append(ch.filter(pa.array(heads)))
                expand.append(np.cumsum(heads, dtype=np.int32) - 1)
    # One hash pass over every piece; every output chunk carries the final shared dictionary.
    enc = pc.dictionary_encode(pa.chunked_array(pieces, type=pa.large_string()))
    dictionary = enc.chunks[0].dictionary if enc.num_chunks else pa.array([], pa.large_string())
    if any(len(c.dictionary) != len(dictionary) for c in enc.chunks):  # never seen; be safe
        enc = enc.unify_dictionaries()
        dictionary = enc.chunks[0].dictionary
    rank = None
    if sort and len(dictionary):
        order = pc.array_sort_indices(dictionary).to_numpy()
        rank = np.empty(len(order) + 1, np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        rank[-1] = -1  # -1 (a missing value) stays -1
        dictionary = dictionary.take(pa.array(order))
    # Output chunks need not match the pieces (Arrow may drop empty ones): cut by lengths.
    idx = (np.concatenate([_indices(c).astype(np.int32, copy=False) for c in enc.chunks])
           if enc.num_chunks else np.zeros(0, np.int32))
    if rank is not None:
        idx = rank[idx]
    cuts = np.cumsum([0, *(len(p) for p in pieces)])
    parts = [idx[cuts[i]:cuts[i + 1]] if ex is None else idx[cuts[i]:cuts[i + 1]][ex]
             for i, ex in enumerate(expand)]
    flat = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    bounds = np.cumsum([0, *(len(d) for d in data)])
    codes = [flat[bounds[i]:bounds[i + 1]] for i in range(len(data))]
    return codes, dictionary


def _indices(chunk: pa.DictionaryArray) -> np.ndarray:
    ind = chunk.indices
    if ind.null_count:
        ind = pc.fill_null(ind, -1)
    return ind.to_numpy()


def to_object(dictionary: pa.Array, take: np.ndarray | None = None) -> np.ndarray:
    """The dictionary (or its entries at `take`) as an object array of Python strings."""
    d = dictionary if take is None else dictionary.take(pa.array(np.asarray(take, np.int64)))
    return np.asarray(d.to_numpy(zero_copy_only=False), dtype=object)


def encode(*columns, sort: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
    """Codes of each column in one shared dictionary, and the dictionary (object array).

    With `sort`, codes follow the sorted order of the values, so they do not depend on row
    order. Nulls get -1.
    """
    codes, dictionary = encode_arrow(*columns, sort=sort)
    return [c.astype(np.int64) for c in codes], to_object(dictionary)


def sorted_codes(s: pd.Series) -> np.ndarray:
    """`pd.factorize(s, sort=True)[0]` as int64 (equal values one code, codes in sorted order;
    byte order of UTF-8 is code point order, pandas' order of text; nulls -1)."""
    (codes,), _ = encode_arrow(s, sort=True)
    return codes.astype(np.int64)


def lookup(values, dictionary: pa.Array) -> np.ndarray:
    """int32 code of each value in `dictionary` (its position; -1: not in it). Columns sorted by
    id are looked up once per run of equal ids."""
    arr = to_arrow(values)
    return per_run(arr, lambda a: pc.index_in(a, value_set=dictionary)
                   .fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False))


def sorted_levels(s: pd.Series) -> pd.Series:
    """The column as a categorical of the values present, levels in sorted order (so sorting and
    grouping see the same order as the strings). A categorical read from the file's dictionary
    is taken as it is (its codes only: no string per row); text is dictionary-encoded by Arrow
    first."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        enc = pc.dictionary_encode(pa.array(s.array) if s.dtype != object else pa.array(s, from_pandas=True))
        s = pd.Series(enc.to_pandas(), index=s.index, name=s.name) if len(s) else s.astype("category")
    cat = s.array
    codes = cat.codes
    complete = len(codes) > 0 and codes.min() >= 0  # no missing value: Arrow works on the codes as they are
    if complete:  # the codes present, hashed in Arrow (no mask, no int64 copy of the column)
        present = np.zeros(len(cat.categories), bool)
        present[pc.unique(pa.array(codes)).to_numpy(zero_copy_only=False)] = True
    else:
        present = np.bincount(codes[codes >= 0], minlength=len(cat.categories)) > 0
    levels = [str(c) for c, p in zip(cat.categories, present) if p]
    order = sorted(range(len(levels)), key=levels.__getitem__)
    rank = np.full(len(cat.categories) + 1, -1, np.int64)  # last slot: missing (code -1)
    rank[np.flatnonzero(present)[order]] = np.arange(len(order))
    if complete and len(levels) == len(cat.categories) and order == list(range(len(order))):
        new = np.array(codes)  # the levels are already the present ones, in order (a copy: writable)
    elif complete:  # each code mapped in Arrow, in the codes' own width
        new = np.array(pc.take(pa.array(rank[:-1].astype(codes.dtype)), pa.array(codes)))
    else:
        new = rank[codes]
    return pd.Series(pd.Categorical.from_codes(new, categories=[levels[i] for i in order], validate=False),
                     index=s.index, name=s.name)


def is_sorted(values) -> bool:
    """Whether the values are in non-decreasing order, by comparing neighbours (a fraction of a
    sort): integer codes (numpy) or an Arrow-backed text column (False when it holds nulls)."""
    if isinstance(values, np.ndarray):
        return bool(len(values) < 2 or np.all(values[1:] >= values[:-1]))
    arr = to_arrow(values)
    if len(arr) < 2:
        return True
    if arr.null_count:
        return False
    return bool(pc.all(pc.less_equal(arr.slice(0, len(arr) - 1), arr.slice(1))).as_py())
