"""Write a table that arrives in parts into one parquet file, one part in memory at a time.

`generate --parts K` draws a book part by part (`synth.parts`); each table's parts are appended
to the same file as row groups. A table whose rows come by date (then account) is interleaved
date by date: each part's rows are first spilled to a temporary file with one row group per
date, and at the end every date's row groups are copied part after part, so the whole file has
the order of a book drawn at once (the parts' ids ascend, so within a date the accounts do too).
Same parts, same bytes: fixed compression, statistics written, the first part's schema.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["PartsWriter"]

_OPTIONS = {"compression": "zstd", "write_statistics": True}


class PartsWriter:
    """Append frames to ROOT/NAME.parquet; `date_major` names the tables (and their date column)
    to interleave by date. `close()` finishes every file and returns the rows per table."""

    def __init__(self, root: Path, date_major: dict[str, str]) -> None:
        self.root = Path(root)
        self.date_major = date_major
        self.spill = self.root / ".parts"
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}
        self.spilled: dict[str, list[tuple[Path, dict]]] = {}

    def _table(self, name: str, frame: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
        return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)

    def _writer(self, path: Path, name: str, table: pa.Table) -> pq.ParquetWriter:
        if name not in self.writers:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers[name] = pq.ParquetWriter(path, table.schema, **_OPTIONS)
        return self.writers[name]

    def add(self, name: str, frame: pd.DataFrame) -> None:
        """One part's rows of table `name` (parts in order)."""
        self.rows[name] = self.rows.get(name, 0) + len(frame)
        schema = self.writers[name].schema if name in self.writers else None
        if name in self.date_major:
            self._spill(name, frame)
            return
        table = self._table(name, frame, schema)
        self._writer(self.root / f"{name}.parquet", name, table).write_table(table)

    def _spill(self, name: str, frame: pd.DataFrame) -> None:
        col = self.date_major[name]
        day = frame[col].to_numpy()
        if len(day) > 1 and not (day[1:] >= day[:-1]).all():
            order = np.argsort(day, kind="stable")
            frame, day = frame.iloc[order].reset_index(drop=True), day[order]
        parts = self.spilled.setdefault(name, [])
        path = self.spill / f"{name.replace('/', '__')}.{len(parts)}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        schema = parts[0][2] if parts else None
        table = self._table(name, frame, schema)
        groups: dict = {}
        with pq.ParquetWriter(path, table.schema, compression="lz4") as w:
            starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]]) if len(day) else []
            ends = list(starts[1:]) + [len(day)]
            for k, (a, b) in enumerate(zip(starts, ends)):
                w.write_table(table.slice(a, b - a), row_group_size=b - a)
                groups[day[a]] = k
        parts.append((path, groups, table.schema))

    def close(self) -> dict[str, int]:
        for name, parts in self.spilled.items():
            days = sorted(set().union(*(g for _, g, _ in parts)))
            schema = parts[0][2]
            path = self.root / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            with pq.ParquetWriter(path, schema, **_OPTIONS) as w:
                files = [pq.ParquetFile(p) for p, _, _ in parts]
                for d in days:
                    for f, (_, groups, _) in zip(files, parts):
                        if d in groups:
                            w.write_table(f.read_row_group(groups[d]))
                for f in files:
                    f.close()
        for w in self.writers.values():
            w.close()
        shutil.rmtree(self.spill, ignore_errors=True)
        return dict(self.rows)
