"""`spark.direct` without Spark: the night's bucket function and the account -> customer bucket
lookup (fingerprints confirmed on the text, collisions and orphans looked up exactly) against a
plain dictionary; which parquet tables the workers may read themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.spark.direct import OwnerBuckets, bucket_of, read_batches, read_units

# 30-byte ids that differ only in byte 9, which `rings.codes.fingerprints` does not read (it
# reads the length and the words at 0, the middle and the end): equal fingerprints.
COLLIDING = [f"ACCOUNT-{c}-0000000000000000001" for c in "ABCDEFGH"]


def test_colliding_ids_share_a_fingerprint() -> None:
    from collections_engine.rings.codes import fingerprints

    assert len(set(fingerprints(pa.array(COLLIDING, pa.large_string())).tolist())) == 1


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
    (folder / "extra.csv").write_text("account_id\n")
    assert read_units(str(folder), schema, ("paid_on",)) is None
