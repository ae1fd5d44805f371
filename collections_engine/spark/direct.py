"""Parquet row groups read by pyarrow in the Python workers, instead of Spark's scan.

A table Spark scans reaches a Python function (`mapInArrow`) through the JVM: every column
decoded into JVM rows, then each row written into Arrow again, hundreds of nanoseconds a value.
For parquet files the Python workers can open themselves (a local folder or file: the engine's
single-machine and NFS setups), each row group is one read unit instead: the task reads it with
pyarrow and the function gets the very batches Spark's scan would have handed it (the table's
Spark-typed columns, `_r` the row's place in its file, `_f` the file's rank), with no JVM row
in between. A table pyarrow cannot read with the same values (a type Spark would change,
hidden or non-parquet files in the folder, a lake URI) keeps Spark's scan.

The night's buckets (`bucket_of`, `OwnerBuckets`) are computed here too: Spark's `xxhash64` is
not in pyarrow, and every table of a night must go to its buckets by the same function, so a
night reads all its tables this way or none of them (`SparkEngine._night_parts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from collections_engine.rings.codes import text_hash as _text_hash

__all__ = ["ReadUnit", "read_units", "read_batches", "map_units", "bucket_of", "text_hash", "key_reads_as_text",
           "OwnerBuckets"]

# Rows per batch handed to the function where the session does not say
# (`spark.sql.execution.arrow.maxRecordsPerBatch`, session.ENGINE_CONF's value).
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class ReadUnit:
    path: str
    rank: int        # the file's rank in name order in its folder (`tables._file_rank`)
    row_group: int
    first_row: int   # the row group's first row in its file


def read_units(path: str, schema: pa.Schema, nanos: tuple[str, ...]) -> list[ReadUnit] | None:
    """The row groups of a local parquet file or folder whose every column pyarrow reads as
    `schema` (the Spark-typed Arrow schema) gives it, or None: Spark's scan is used then."""
    p = Path(path.removeprefix("file://"))
    if p.is_file():
        files = [(p, 0)]
    elif p.is_dir():
        names = sorted(f.name for f in p.iterdir() if f.is_file())
        shown = [n for n in names if not n.startswith((".", "_"))]  # what Spark reads
        if not shown or not all(n.endswith(".parquet") for n in shown):
            return None
        if any(f.is_dir() and not f.name.startswith((".", "_")) for f in p.iterdir()):
            return None  # Spark also reads subfolders (partitions): its scan
        files = [(p / n, names.index(n)) for n in shown]
    else:
        return None
    units = []
    for f, rank in files:
        try:
            meta = pq.ParquetFile(f)
        except (OSError, pa.ArrowException):
            return None
        if not _reads_as(meta.schema_arrow, schema, nanos):
            return None
        first = 0
        for g in range(meta.metadata.num_row_groups):
            units.append(ReadUnit(str(f), rank, g, first))
            first += meta.metadata.row_group(g).num_rows
    return units


def _reads_as(found: pa.Schema, wanted: pa.Schema, nanos: tuple[str, ...]) -> bool:
    """Whether every column of `wanted` is in `found` with a type whose values cast to it
    unchanged (only the kinds of cast Spark's own reading amounts to)."""
    for field in wanted:
        i = found.get_field_index(field.name)
        if i < 0:
            return False
        src, dst = found.field(i).type, field.type
        if pa.types.is_dictionary(src):
            src = src.value_type
        if src == dst:
            continue
        text = (pa.types.is_string(src) or pa.types.is_large_string(src)) and \
            (pa.types.is_string(dst) or pa.types.is_large_string(dst))
        nano = field.name in nanos and pa.types.is_timestamp(src) and src.unit == "ns" and dst == pa.int64()
        zoned = pa.types.is_timestamp(src) and pa.types.is_timestamp(dst) and src.unit == dst.unit \
            and src.tz is None and dst.tz in ("UTC", "+00:00")
        if not (text or nano or zoned):
            return False
    return True


def read_batches(units: list[ReadUnit], schema: pa.Schema, rows: int = BATCH_ROWS):
    """The units' rows as Spark's scan hands them to `mapInArrow`: `schema`'s columns, then
    `_r` (int64: the row's place in its file) and `_f` (int32: the file's rank)."""
    names = schema.names
    for u in units:
        done = u.first_row
        for batch in pq.ParquetFile(u.path).iter_batches(batch_size=rows, row_groups=[u.row_group], columns=names,
                                                         use_threads=False):
            n = batch.num_rows
            cols = [batch.column(batch.schema.get_field_index(f.name)).cast(f.type) for f in schema]
            cols += [pa.array(np.arange(done, done + n, dtype=np.int64)), pa.array(np.full(n, u.rank, np.int32))]
            done += n
            yield pa.RecordBatch.from_arrays(cols, names=[*names, "_r", "_f"])


def map_units(spark, units: list[ReadUnit], schema: pa.Schema, fn, out_schema: str):
    """DataFrame of `fn(batches)` over the units, one Spark task per unit (a range of unit
    numbers: nothing but the numbers goes through the JVM on the way in), in batches of the
    session's `maxRecordsPerBatch` rows, as Spark's scan would hand them."""
    n = len(units)
    rows = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", str(BATCH_ROWS)))
    rows = rows if rows > 0 else BATCH_ROWS

    def run(numbers):
        picked = [units[i] for b in numbers for i in b.column(0).to_pylist()]
        return fn(read_batches(picked, schema, rows))

    return spark.range(0, n, 1, max(n, 1)).mapInArrow(run, out_schema)


def bucket_of(ids, n_buckets: int) -> np.ndarray:
    """Each id's bucket (int32): `text_hash` of its text (as Spark's `cast(string)` writes it)
    modulo the bucket count. A function of the text alone, so every table and every worker
    agrees."""
    return (text_hash(ids) % np.uint64(n_buckets)).astype(np.int32)


def text_hash(ids) -> np.ndarray:
    """`rings.codes.text_hash` of each id's text as Spark's `cast(string)` writes it (every byte:
    `fingerprints`' three windows would put a family of long ids that differ elsewhere in one
    bucket)."""
    return _text_hash(_text(ids))


def _text(ids) -> pa.ChunkedArray:
    col = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(ids)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not pa.types.is_large_string(col.type):
        col = col.cast(pa.large_string())
    return col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col], pa.large_string())


def key_reads_as_text(t: pa.DataType) -> bool:
    """Whether an id column of this Spark-typed Arrow type becomes the same text through
    pyarrow's cast as through Spark's `cast(string)` (text and whole numbers; not floats,
    which Spark writes as "1.0" and pyarrow as "1")."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)


class OwnerBuckets:
    """Account id -> its customer's bucket, for the tables keyed by account (an account's rows go
    with its customer's): `owners` (account_id, customer_id) once per account, as the driver
    collected them. Looked up by `text_hash` (a sorted array: no hash table per batch) and
    confirmed on the text; a row whose hash misses or collides is looked up exactly. An
    account that is not in the accounts table goes by its own id (`bucket_of`), as on Spark's
    scan; the check reports it."""

    def __init__(self, owners: pa.Table, n_buckets: int) -> None:
        ids = _text(owners.column("account_id")).combine_chunks()
        fp = text_hash(ids)
        order = np.argsort(fp, kind="stable")
        self.fp = fp[order]
        self.ids = ids.take(pa.array(order))
        self.buckets = bucket_of(owners.column("customer_id"), n_buckets)[order]
        self.n_buckets = n_buckets

    def __call__(self, account_ids) -> np.ndarray:
        text = _text(account_ids).combine_chunks()
        out = bucket_of(text, self.n_buckets)
        if len(self.fp) == 0 or len(text) == 0:
            return out
        at = np.minimum(np.searchsorted(self.fp, text_hash(text)), len(self.fp) - 1)
        same = pc.fill_null(pc.equal(self.ids.take(pa.array(at)), text), False).to_numpy(zero_copy_only=False)
        out[same] = self.buckets[at[same]]
        rest = np.flatnonzero(~same & pc.is_valid(text).to_numpy(zero_copy_only=False))
        if len(rest):  # a hash shared by several accounts, or an account not in accounts
            exact = pc.fill_null(pc.index_in(text.take(pa.array(rest)), value_set=self.ids), -1).to_numpy()
            found = exact >= 0
            out[rest[found]] = self.buckets[exact[found]]
        return out
