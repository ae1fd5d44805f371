"""Integer helpers of the ring graph: dense labels, unique values and string fingerprints.

Ids become codes in `collections_engine.codes` (the one id coder); everything after encoding
works on int64 arrays, so joins become array indexing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from collections_engine.codes import to_arrow

__all__ = ["dense", "fingerprints", "mix64", "sorted_unique", "take_rows", "text_hash", "unique_inverse"]


# np.unique on large int64 arrays is slow in numpy 2.x (docs/notes/issue-17.md): the helpers
# below give the same results through a sort or, for small non-negative labels, a bincount.


def dense(labels: np.ndarray) -> np.ndarray:
    """Non-negative integer labels renumbered 0..k-1 in increasing order of value: what
    `np.unique(labels, return_inverse=True)[1]` gives, in one linear pass."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return np.zeros(0, np.int64)
    present = np.bincount(labels) > 0
    return (np.cumsum(present) - 1)[labels]


def sorted_unique(x: np.ndarray) -> np.ndarray:
    """`np.unique(x)` through a sort."""
    s = np.sort(np.asarray(x))
    if len(s) == 0:
        return s
    return s[np.r_[True, s[1:] != s[:-1]]]


def unique_inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(x, return_inverse=True)` through an argsort."""
    x = np.asarray(x)
    if len(x) == 0:
        return x, np.zeros(0, np.int64)
    order = np.argsort(x)
    s = x[order]
    first = np.r_[True, s[1:] != s[:-1]]
    inv = np.empty(len(x), np.int64)
    inv[order] = np.cumsum(first) - 1
    return s[first], inv


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64, in place (and returned): the ring step's one row and
    node hash mixer (fingerprints, the carry's digests, the ring state's node hashes)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def fingerprints(column) -> np.ndarray:
    """A 64-bit fingerprint per row of a string column, read straight from the Arrow buffers:
    the length and three 8-byte words (start, middle, end) of each string, mixed. Equal strings
    always get equal fingerprints; different ones rarely do (a collision only costs a
    needless exact comparison where it is used as a pre-filter). No Python object per row and
    no hash table: about 30 ns a row against ~200 ns for dictionary-encoding 17M distinct values.
    Strings over 24 bytes that differ only outside the three words share a fingerprint:
    `text_hash` reads every byte.
    """
    return _by_blocks(column, _block_fingerprints)


def text_hash(column) -> np.ndarray:
    """A 64-bit hash of every byte of each string (uint64): the sum over the bytes of
    (byte + 1) * P**position, plus the length, mixed by `mix64`; null strings hash as empty.
    About twice `fingerprints`' cost (0.30 against 0.16 s per 1M ids); what a hash must read
    where no exact comparison follows (the Spark engine's buckets, `spark.direct`)."""
    return _by_blocks(column, _block_text_hash)


def _by_blocks(column, block_fn) -> np.ndarray:
    """`block_fn` over each block of BLOCK rows of a string column, into one uint64 array (no
    copy of the whole column's parts at the end)."""
    chunks = to_arrow(column).chunks
    out = np.empty(sum(len(ch) for ch in chunks), np.uint64)
    lo = 0
    for ch in chunks:
        for start in range(0, len(ch), BLOCK):
            part = ch.slice(start, BLOCK)
            out[lo:lo + len(part)] = block_fn(part)  # never empty: starts < len(ch)
            lo += len(part)
    return out


def _string_buffers(ch: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a large_string array, as numpy views of its buffers."""
    bufs = ch.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int64, count=len(ch) + 1, offset=ch.offset * 8)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return off, data


# Rows per block of the element-wise passes below: a block's temporaries stay in the CPU cache
# (a pass over a whole 20M-row column allocates and first-touches 160 MB each time).
BLOCK = 1 << 16


def _block_fingerprints(ch: pa.Array) -> np.ndarray:
    off, data = _string_buffers(ch)
    start, length = off[:-1], np.diff(off)
    out = length.astype(np.uint64)
    out *= np.uint64(0xD6E8FEB86659FD93)
    long_ = length >= 8
    if len(data) >= 8 and long_.any():
        # Every 8-byte window of the data buffer as one unaligned uint64 (a view, no copy).
        words = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
        rows = np.flatnonzero(long_) if not long_.all() else None
        s = start if rows is None else start[rows]
        e = (off[1:] if rows is None else off[1:][rows]) - 8
        x = words[s]
        x *= _M1
        x += words[e] * _M2
        x ^= words[s + (e - s) // 2]
        if rows is None:
            out += x
        else:
            out[rows] += x
    short = np.flatnonzero(~long_)
    if len(short):  # strings of under 8 bytes (rare): bytes one by one, zero padded
        k = np.arange(8)
        idx = np.minimum(start[short, None] + k, max(len(data) - 1, 0))
        byte = data[idx].astype(np.uint64) if len(data) else np.zeros((len(short), 8), np.uint64)
        byte[k[None, :] >= length[short, None]] = 0
        out[short] += (byte << (k.astype(np.uint64) * np.uint64(8))).sum(axis=1, dtype=np.uint64)
    return mix64(out)


_P = np.uint64(0x100000001B3)          # text_hash: the multiplier of the polynomial in the bytes
_SEED = np.uint64(0x9E3779B97F4A7C15)


def _block_text_hash(ch: pa.Array) -> np.ndarray:
    off, data = _string_buffers(ch)
    length = np.diff(off)
    h = length.astype(np.uint64) + _SEED
    total = int(off[-1] - off[0])
    if total:
        data = data[off[0]:off[-1]]
        start = off[:-1] - off[0]
        pos = np.arange(total, dtype=np.int64) - np.repeat(start, length)  # each byte's place in its string
        powers = np.ones(int(length.max()), np.uint64)
        powers[1:] = np.cumprod(np.full(len(powers) - 1, _P, np.uint64))  # wraps mod 2**64
        term = data.astype(np.uint64)
        term += np.uint64(1)
        term *= powers[pos]
        filled = length > 0
        h[filled] += np.add.reduceat(term, start[filled])
    if ch.null_count:  # a null slot hashes as empty text, whatever bytes its offsets span
        h[~ch.is_valid().to_numpy(zero_copy_only=False)] = _SEED
    return mix64(h)


def take_rows(column, rows: np.ndarray) -> pa.ChunkedArray:
    """`column[rows]` (a string column, as `codes.to_arrow` reads it), chunk by chunk: Arrow's
    take on a chunked array joins the chunks first, a copy of the whole 19.5M-row identifier
    column (0.1-0.3 s) to pick the few thousand rows of a night."""
    col = to_arrow(column)
    rows = np.asarray(rows, np.int64)
    if col.num_chunks <= 1:
        return col.take(pa.array(rows)) if col.num_chunks else col
    order = None
    if len(rows) > 1 and (rows[1:] < rows[:-1]).any():
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
    bounds = np.cumsum([0, *(len(c) for c in col.chunks)])
    cuts = np.searchsorted(rows, bounds)
    parts = [ch.take(pa.array(rows[cuts[i]:cuts[i + 1]] - bounds[i]))
             for i, ch in enumerate(col.chunks) if cuts[i + 1] > cuts[i]]
    out = pa.chunked_array(parts, col.type)
    if order is not None:  # back to the order asked for (a take of the few rows picked)
        back = np.empty(len(order), np.int64)
        back[order] = np.arange(len(order))
        out = out.take(pa.array(back))
    return out
