"""The only code that opens files: read input tables, write outputs atomically."""

from collections_engine.io.atomic import atomic_dir, write_bytes_atomic
from collections_engine.io.hashing import file_sha256
from collections_engine.io.tables import (
    TABLES,
    find_table,
    read_table,
    write_csv,
    write_parquet,
)

__all__ = [
    "TABLES",
    "atomic_dir",
    "write_bytes_atomic",
    "find_table",
    "read_table",
    "write_csv",
    "write_parquet",
    "file_sha256",
]
