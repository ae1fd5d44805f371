"""Find and read the input tables on Spark: `DATA/NAME.parquet`, `DATA/NAME.csv`, or a folder
`DATA/NAME/` of parquet or CSV parts, or a Delta table (`DATA/NAME/_delta_log`, with
delta-spark installed). The same layout for `DATA/sources/NAME`.

Each table gets `_r`, its rows' order as read (files in name order, rows in file order), so
that partitions see their rows in the order the in-process engine reads them (ties in the
features break the same way). Typing and checks are the partitions' job (the engine's own
`validate` code on each partition), as in-process.

A local parquet table is also read unit by unit (its row groups) by pyarrow in the Python
workers where a job only hands its rows to Python (`SparkTable.map_in_arrow`, `spark.direct`):
the same batches without Spark's JVM rows in between.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from collections_engine.spark.direct import ReadUnit, map_units, read_units

__all__ = ["SparkTable", "find_spark_table", "read_spark_table", "ID_COLUMNS"]

# Off: every table through Spark's scan (the tests run both ways).
DIRECT_READ = True

# CSV columns always read as text (leading zeros survive), as the in-process CSV reader does.
ID_COLUMNS = ("account_id", "customer_id", "value")


@dataclass
class SparkTable:
    name: str
    label: str          # the file or folder name used in messages
    frame: object       # pyspark DataFrame with `_r`
    nanos: tuple[str, ...]  # parquet nanosecond timestamps read as int64 (turned back into dates)
    arrow_schema: pa.Schema  # what a partition receives (without `_r`)
    # the table's parquet row groups, where pyarrow reads them as Spark would (`spark.direct`)
    units: list[ReadUnit] | None = None

    def map_in_arrow(self, fn, schema: str):
        """`fn` (Arrow batches of the table's rows with `_r`, `_f` -> batches of `schema`) over
        the table: on its row groups read by pyarrow in the workers where it has them, else
        on Spark's scan."""
        if self.units is not None and DIRECT_READ:
            return map_units(self.frame.sparkSession, self.units, self.arrow_schema, fn, schema)
        return self.frame.mapInArrow(fn, schema)


def _is_local(data: str) -> bool:
    return "://" not in data or data.startswith("file://")


def find_spark_table(data: str, name: str) -> tuple[str, str, str] | None:
    """(path, format, label) of a table, or None when absent. Local folders are looked at
    directly; a lake URI is tried by Spark in `read_spark_table`."""
    if not _is_local(data):
        return f"{data.rstrip('/')}/{name}", "uri", name
    root = Path(data.removeprefix("file://"))
    for ext, fmt in ((".parquet", "parquet"), (".csv", "csv")):
        p = root / f"{name}{ext}"
        if p.is_file():
            return str(p), fmt, p.name
    folder = root / name
    if folder.is_dir():
        if (folder / "_delta_log").is_dir():
            return str(folder), "delta", f"{name}/ (delta)"
        if any(folder.glob("*.parquet")):
            return str(folder), "parquet", f"{name}/"
        if any(folder.glob("*.csv")):
            return str(folder), "csv", f"{name}/"
    return None


def _nanos_columns(path: str) -> tuple[str, ...]:
    """Columns stored as nanosecond timestamps (pandas' default), read by Spark as int64."""
    p = Path(path.removeprefix("file://"))
    files = [p] if p.is_file() else sorted(p.glob("*.parquet"))
    if not files:
        return ()
    schema = pq.read_schema(files[0])
    return tuple(f.name for f in schema
                 if pa.types.is_timestamp(f.type) and f.type.unit == "ns")


def read_spark_table(spark, path: str, fmt: str, name: str, label: str) -> SparkTable:
    """The table as a Spark DataFrame with `_r`; OSError-like failures raise ValueError."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_schema

    nanos: tuple[str, ...] = ()
    if fmt == "delta":
        if importlib.util.find_spec("delta") is None:
            raise ValueError(f"{label}: a Delta table; expected delta-spark installed "
                             "(pip install delta-spark) to read it")
        df = spark.read.format("delta").load(path)
    elif fmt == "csv":
        df = _read_csv(spark, path, name.split(":")[-1])
    elif fmt == "uri":
        df = _read_uri(spark, path)
    else:
        nanos = _nanos_columns(path)
        df = spark.read.parquet(path)
    # Rows in file order: monotonically_increasing_id right after the scan numbers the rows of
    # each split in order, and the splits of one file keep their order; files of a folder are
    # put in name order by a second key.
    df = df.withColumn("_r", F.monotonically_increasing_id())
    df = df.withColumn("_f", _file_rank(path) if fmt in ("parquet", "csv") else F.lit(0))
    schema = to_arrow_schema(df.drop("_f", "_r").schema, timezone="UTC")
    units = read_units(path, schema, nanos) if fmt == "parquet" else None
    return SparkTable(name, label, df, nanos, schema, units)


def _file_rank(path: str):
    """Each row's file's rank in name order (0 for a single file)."""
    from pyspark.sql import functions as F

    p = Path(path.removeprefix("file://"))
    if p.is_file():
        return F.lit(0)
    names = sorted(f.name for f in p.iterdir() if f.is_file())
    ranks = F.create_map(*[x for i, n in enumerate(names) for x in (F.lit(n), F.lit(i))])
    return F.coalesce(F.element_at(ranks, F.regexp_extract(F.input_file_name(), "[^/]*$", 0)), F.lit(-1))


def _read_csv(spark, path: str, name: str):
    """CSV with numbers typed as the in-process reader (pandas) types them: types inferred on
    the whole table, ids and dates kept as text (the partitions parse dates as in-process)."""
    from pyspark.sql import types as T

    from collections_engine.io.tables import csv_dtypes

    text = set(csv_dtypes(name)) | set(ID_COLUMNS)  # what the in-process CSV reader keeps as text
    inferred = spark.read.option("header", True).option("inferSchema", True).csv(path).schema
    fields = []
    for f in inferred.fields:
        keep_text = f.name in text or isinstance(f.dataType, (T.DateType, T.TimestampType,
                                                                     T.TimestampNTZType))
        kind = T.StringType() if keep_text else f.dataType
        if isinstance(kind, (T.ByteType, T.ShortType, T.IntegerType)):
            kind = T.LongType()  # pandas reads whole numbers as int64
        fields.append(T.StructField(f.name, kind, True))
    return spark.read.option("header", True).schema(T.StructType(fields)).csv(path)


def _read_uri(spark, path: str):
    """A lake path: a Delta table where delta-spark is installed, else parquet, else CSV."""
    errors = []
    readers = []
    if importlib.util.find_spec("delta") is not None:
        readers.append(lambda: spark.read.format("delta").load(path))
    readers += [lambda: spark.read.parquet(path), lambda: spark.read.parquet(path + ".parquet"),
                lambda: _read_csv(spark, path + ".csv", path.rstrip("/").rsplit("/", 1)[-1])]
    for read in readers:
        try:
            df = read()
            df.schema  # noqa: B018 - resolves the path
            return df
        except Exception as exc:  # noqa: BLE001 - Spark raises its own analysis errors
            errors.append(str(exc).splitlines()[0][:160])
    raise ValueError(f"{path}: cannot be read ({'; '.join(errors)}); expected a Delta, parquet or CSV table")
