"""Read input tables (parquet or CSV) and write output tables byte-for-byte reproducibly."""

from __future__ import annotations

import io as _io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from collections_engine.io.atomic import write_bytes_atomic
from collections_engine.io.csvsafe import csv_text
from collections_engine.schema import TABLES

CUSTOMER_FIELDS = ("name", "phone", "national_id", "address")  # config.strategy's, without importing config

__all__ = ["TABLES", "find_table", "read_table", "write_parquet", "write_csv", "csv_dtypes", "parquet_bytes_all"]


def find_table(data: Path, name: str) -> Path | None:
    """`DATA/NAME.parquet` or `DATA/NAME.csv` (parquet wins), or None when absent."""
    for ext in (".parquet", ".csv"):
        p = Path(data) / f"{name}{ext}"
        if p.is_file():
            return p
    return None


def read_table(path: Path, columns: list[str] | None = None, *,
               categories: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read one table as it is on disk; typing and checks are `validate`'s job.

    CSV id-like columns are read as strings so that leading zeros survive. Parquet text columns
    named in `categories` are read as categoricals straight from the file's dictionary pages
    (no string per row is made).
    """
    path = Path(path)
    if path.suffix == ".parquet":
        wanted = ()
        if categories:
            schema = pq.read_schema(path)
            # get_field_index: -1 for a missing or repeated name (Arrow's read then names the problem)
            fields = [schema.field(i) for c in categories if (i := schema.get_field_index(c)) >= 0]
            wanted = [f.name for f in fields if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        return pq.read_table(path, columns=columns, read_dictionary=wanted or None).to_pandas(date_as_object=False)
    return pd.read_csv(path, usecols=columns, dtype=csv_dtypes(path.stem), keep_default_na=True,
                       low_memory=False)


def csv_dtypes(name: str) -> dict[str, str]:
    """What a CSV table's columns are read as: the schema's text, id and date columns as text
    (leading zeros survive; `validate` types and checks them, naming bad rows), id-like columns
    of any table as text. Numbers are parsed by the reader, whole file at once (`low_memory=False`:
    pandas' chunked guessing gave one column two types and a DtypeWarning on stderr) and exactly
    (pandas' default parser is round-trip exact: the same float a parquet copy holds)."""
    out = {c: "str" for c in ("account_id", "customer_id", "value")}
    if name == "customers":  # personal fields are text: a phone '+86...' or '0755...' keeps its sign and zeros
        out.update({c: "str" for c in CUSTOMER_FIELDS})
    spec = TABLES.get(name)
    if spec is not None:
        for col, kind in {**spec.columns, **spec.optional_columns}.items():
            if kind in ("id", "str", "date"):
                out[col] = "str"
    return out


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=False)
    buf = _io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True)
    return buf.getvalue()


def parquet_bytes_all(frames: list[pd.DataFrame], threads: int = 2) -> list[bytes]:
    """`write_parquet`'s bytes of each frame, several frames at a time: Arrow encodes and
    compresses without holding the GIL, so a run folder's tables use both cores (the same bytes
    as one at a time: each file is its own frame's)."""
    if threads <= 1 or len(frames) < 2:
        return [_parquet_bytes(df) for df in frames]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(_parquet_bytes, frames))


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write a frame as parquet: same frame, same bytes (no index, fixed compression)."""
    write_bytes_atomic(Path(path), _parquet_bytes(df))


def write_csv(df: pd.DataFrame, path: Path, *, encoding: str = "utf-8") -> None:
    """Write a frame as spreadsheet-safe CSV (`csvsafe`): '\\n' line ends, ISO dates, in
    `encoding` (strict: the caller makes the text encodable first, see `assign.files`)."""
    write_bytes_atomic(Path(path), csv_text(df).encode(encoding))

