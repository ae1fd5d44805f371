"""`spark.direct` without Spark: the night's bucket function (every byte of the id's text,
against a slow obvious version; long ids spread), the account -> customer bucket lookup (hashes
confirmed on the text, collisions and orphans looked up exactly) against a plain dictionary;
which parquet tables and id columns the workers may read themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.rings import codes
from collections_engine.spark.direct import (
    OwnerBuckets, bucket_of, key_reads_as_text, read_batches, read_units, text_hash,
)

# 30-byte ids that differ only in byte 9, which `rings.codes.fingerprints` does not read (it
# reads the length and the words at 0, the middle and the end): equal fingerprints.
COLLIDING = [f"ACCOUNT-{c}-0000000000000000001" for c in "ABCDEFGH"]


def _slow_hash(text: str | None) -> int:
    """`text_hash` the obvious way: Python integers, one byte at a time, then splitmix64."""
    m = (1 << 64) - 1
    data = (text or "").encode()
    h = (len(data) + 0x9E3779B97F4A7C15) & m
    for i, b in enumerate(data):
        h = (h + (b + 1) * pow(0x100000001B3, i, 1 << 64)) & m
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & m
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & m
    return h ^ (h >> 31)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=70), st.sampled_from(COLLIDING)), max_size=30),
       st.integers(1, 7))
def test_text_hash_equals_the_slow_version(texts: list, block: int) -> None:
    old = codes.BLOCK
    codes.BLOCK = block  # several blocks, and ids at their edges
    try:
        got = text_hash(pa.array(texts, pa.string())).tolist()
    finally:
        codes.BLOCK = old
    assert got == [_slow_hash(t) for t in texts]


def test_long_ids_that_share_a_fingerprint_spread_over_buckets() -> None:
    from collections_engine.rings.codes import fingerprints

    assert len(set(fingerprints(pa.array(COLLIDING, pa.large_string())).tolist())) == 1
    assert len(set(text_hash(pa.array(COLLIDING)).tolist())) == len(COLLIDING)
    ids = pa.array([f"CUSTOMER{i:06d}-RETAIL-BANKING-UNIT" for i in range(100_000)])
    counts = np.bincount(bucket_of(ids, 64), minlength=64)
    assert counts.max() < 1.15 * len(ids) / 64 and counts.min() > 0.85 * len(ids) / 64, counts


def test_only_text_and_whole_number_ids_go_the_direct_way() -> None:
    """Spark's cast(string) writes a float id 1.0 as "1.0", pyarrow's as "1": such a night keeps
    Spark's scan, or an account's rows could miss its customer's bucket."""
    assert key_reads_as_text(pa.string()) and key_reads_as_text(pa.large_string()) and key_reads_as_text(pa.int64())
    assert not key_reads_as_text(pa.float64()) and not key_reads_as_text(pa.timestamp("us"))


def test_bucket_of_reads_the_text_as_spark_casts_it() -> None:
    n = 7
    ints = bucket_of(pa.array([12, 3, 40_000_000_001], pa.int64()), n)
    text = bucket_of(pa.array(["12", "3", "40000000001"], pa.string()), n)
    big = bucket_of(pa.chunked_array([["12"], ["3", "40000000001"]], pa.large_string()), n)
    cats = bucket_of(pa.array(["12", "3", "40000000001"]).dictionary_encode(), n)
    assert ints.tolist() == text.tolist() == big.tolist() == cats.tolist()
    assert ((ints >= 0) & (ints < n)).all() and ints.dtype == np.int32


ids = st.one_of(st.sampled_from(COLLIDING), st.text(st.characters(codec="utf-8"), max_size=12))


@settings(max_examples=60, deadline=None)
@given(owners=st.dictionaries(ids, st.text(max_size=6), max_size=25),
       asked=st.lists(st.one_of(ids, st.none()), max_size=40), n=st.integers(1, 9))
def test_owner_buckets_equal_a_dictionary_lookup(owners: dict, asked: list, n: int) -> None:
    table = pa.table({"account_id": pa.array(list(owners), pa.string()),
                      "customer_id": pa.array(list(owners.values()), pa.string())})
    lookup = OwnerBuckets(table, n)
    got = lookup(pa.array(asked, pa.string()))
    by_customer = dict(zip(owners, bucket_of(table.column("customer_id"), n).tolist())) if owners else {}
    for a, b in zip(asked, got.tolist()):
        if a is None:
            continue  # a missing id: the check reports it; any bucket will do
        want = by_customer[a] if a in by_customer else int(bucket_of(pa.array([a]), n)[0])  # orphan: its own id
        assert b == want, (a, b, want)


def test_read_units_of_a_folder_and_what_they_refuse(tmp_path) -> None:
    """Every row group of every part, files ranked in name order as Spark's scan ranks them;
    None (Spark's scan then) for a folder with other files or a column that would read
    differently."""
    folder = tmp_path / "payments"
    folder.mkdir()
    df = pd.DataFrame({"account_id": [f"a{i}" for i in range(10)],
                       "paid_on": pd.date_range("2025-01-01", periods=10).astype("datetime64[ns]"),
                       "amount": np.arange(10, dtype=float)})
    pq.write_table(pa.Table.from_pandas(df.iloc[:7], preserve_index=False), folder / "part-1.parquet", row_group_size=3)
    pq.write_table(pa.Table.from_pandas(df.iloc[7:], preserve_index=False), folder / "part-0.parquet")
    (folder / "_SUCCESS").write_text("")
    schema = pa.schema([("account_id", pa.string()), ("paid_on", pa.int64()), ("amount", pa.float64())])
    units = read_units(str(folder), schema, ("paid_on",))
    assert [(u.path.rsplit("/", 1)[1], u.rank, u.row_group, u.first_row) for u in units] == [
        ("part-0.parquet", 1, 0, 0), ("part-1.parquet", 2, 0, 0), ("part-1.parquet", 2, 1, 3), ("part-1.parquet", 2, 2, 6)]
    got = pa.Table.from_batches(list(read_batches(units, schema, rows=2)))
    assert got.column("account_id").to_pylist() == [f"a{i}" for i in [7, 8, 9, 0, 1, 2, 3, 4, 5, 6]]
    assert got.column("_r").to_pylist() == [0, 1, 2, 0, 1, 2, 3, 4, 5, 6]
    assert got.column("_f").to_pylist() == [1] * 3 + [2] * 7
    assert got.column("paid_on").to_pylist() == df["paid_on"].to_numpy().view(np.int64)[[7, 8, 9, *range(7)]].tolist()
    # not the nanosecond column Spark reads as integers: Spark's scan
    assert read_units(str(folder), schema, ()) is None
    # a column missing, or a CSV beside the parts: Spark's scan
    assert read_units(str(folder), schema.append(pa.field("x", pa.int64())), ("paid_on",)) is None
    # a subfolder (Spark reads its files too: partitions), then a CSV beside the parts: Spark's scan
    (folder / "year=2025").mkdir()
    assert read_units(str(folder), schema, ("paid_on",)) is None
    (folder / "year=2025").rmdir()
    (folder / "extra.csv").write_text("account_id\n")
    assert read_units(str(folder), schema, ("paid_on",)) is None


def test_timestamps_read_directly_only_where_spark_reads_the_same_values(tmp_path) -> None:
    """Zoned nanoseconds read as integers (Spark's nanosAsLong), naive microseconds as Spark's
    UTC microseconds; milliseconds (Spark widens them) keep Spark's scan."""
    when = pd.Series(pd.date_range("2025-01-01", periods=3, freq="h"))
    for unit, tz, spark_type, nanos, direct_ok in [
            ("ns", "UTC", pa.int64(), ("t",), True), ("us", None, pa.timestamp("us", tz="UTC"), (), True),
            ("ms", None, pa.timestamp("us", tz="UTC"), (), False)]:
        values = when.dt.tz_localize(tz) if tz else when
        path = tmp_path / f"t_{unit}.parquet"
        pq.write_table(pa.table({"t": pa.array(values, pa.timestamp(unit, tz=tz))}), path)
        schema = pa.schema([("t", spark_type)])
        units = read_units(str(path), schema, nanos)
        assert (units is not None) == direct_ok, unit
        if units:
            got = pa.Table.from_batches(list(read_batches(units, schema))).column("t")
            assert got.type == spark_type
            assert got.cast(pa.int64()).to_pylist() == pa.array(values, pa.timestamp(unit, tz=tz)).cast(
                pa.int64()).to_pylist()


def test_a_null_slot_hashes_as_empty_text_whatever_bytes_it_spans() -> None:
    """Arrow lets a null slot's offsets span bytes: they are not the id's text."""
    validity = pa.array([True, False, True]).buffers()[1]
    offsets = pa.py_buffer(np.array([0, 3, 6, 9], np.int64).tobytes())
    arr = pa.Array.from_buffers(pa.large_string(), 3, [validity, offsets, pa.py_buffer(b"abcXYZdef")], null_count=1)
    assert text_hash(arr).tolist() == [_slow_hash("abc"), _slow_hash(None), _slow_hash("def")]
