"""A parquet table's row groups read by pyarrow in the workers (`spark.direct`) hand a function
the batches Spark's scan hands it: the same rows, values and types in the same order, for a
folder of parts with dates, timestamps of both resolutions, categories, small integers and
flags, and hidden files beside the parts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.spark_helpers import require_spark, spark  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow

require_spark()


def _identity(batches):
    yield from batches


def _types(batches):
    """What the function is handed: each batch's column names and Arrow types, as text (Spark
    marks `_r` and `_f` not null; nullability is not a value)."""
    import pyarrow as pa

    for b in batches:
        yield pa.RecordBatch.from_pydict({"schema": pa.array([", ".join(f"{f.name} {f.type}" for f in b.schema)],
                                                             pa.string())})


def test_row_groups_read_in_the_workers_equal_sparks_scan(spark, tmp_path) -> None:
    from collections_engine.spark.tables import read_spark_table

    rng = np.random.default_rng(3)
    n = 2_500
    df = pd.DataFrame({
        "account_id": [f"A{i:07d}" for i in rng.permutation(n)],
        "snapshot_date": pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        "opened": (pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "min")).astype("datetime64[us]"),
        "day": (pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 99, n), "D")).date,
        "channel": pd.Categorical(rng.choice(["sms", "call", "visit"], n)),
        "stage": rng.integers(0, 5, n).astype("int8"),
        "flag": rng.random(n) < 0.3,
        "amount": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) * 100),
    })
    df["snapshot_date"] = df["snapshot_date"].astype("datetime64[ns]")
    folder = tmp_path / "accounts"
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(n), 3)):
        pq.write_table(pa.Table.from_pandas(df.iloc[part], preserve_index=False), folder / f"part-{k}.parquet",
                       row_group_size=300)
    (folder / "_SUCCESS").write_text("")
    t = read_spark_table(spark, str(folder), "parquet", "accounts", "accounts/")
    assert t.units is not None and len(t.units) == 9
    scan = replace(t, units=None).map_in_arrow(_identity, t.frame.schema).toArrow()
    direct = t.map_in_arrow(_identity, t.frame.schema).toArrow()
    order = [("_f", "ascending"), ("_r", "ascending")]
    # _r numbers the rows differently (Spark: a partition's id and row; here: the row in its
    # file); the order it gives is the same, and every other column equal
    scan, direct = scan.sort_by(order).drop_columns(["_r"]), direct.sort_by(order).drop_columns(["_r"])
    assert direct.schema == scan.schema
    assert direct.equals(scan)
    assert direct.column("account_id").to_pylist() == df["account_id"].tolist()
    # and the batches the function is handed have the same Arrow types both ways
    seen = [set(x.map_in_arrow(_types, "schema string").toArrow().column("schema").to_pylist())
            for x in (replace(t, units=None), t)]
    assert len(seen[0]) == 1 and seen[0] == seen[1], seen
