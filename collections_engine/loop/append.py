"""Adding rows to a parquet file without decoding and re-encoding the rows it already holds.

`simulate` adds a month to tables that hold the whole history: at 1M accounts `accounts` and
`truth/accounts` have 17M rows, `identifiers` 19.5M, the sources 10M. Rewriting them whole each
cycle (decode, extend, encode) cost about 70 s of CPU, the bar being 60 s of wall time. A
parquet file is its row groups' bytes, then a footer (Thrift's FileMetaData) that lists the row
groups with their byte offsets. So the file with rows added is: the old file's bytes up to the
end of the row groups kept, the new rows' row groups as pyarrow encodes them with the same
schema and options, and one footer listing both, the new row groups' offsets moved by where
they now start. The rows read back are exactly `concat_tables([kept, new])` (tested against
that, on random tables); only the new rows are encoded.

`keep` < all row groups rewrites a tail (truth/accounts: night D's rows get their p_queue once
the night is decided): the caller reads those row groups, changes them and passes them back in
front of the new rows.

A full rewrite (the obvious way) is used whenever splicing could be wrong or untidy: the new
rows' parquet schema differs from the file's, the file is encrypted, has row groups in other
files, or has page indexes or bloom filters in the part kept by a tail rewrite (their bytes sit
after the row groups), or would hold more than `MAX_ROW_GROUPS` (a long loop of small months is
compacted once in a while). The bytes depend only on the file and the rows: same inputs, same
bytes.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from collections_engine.loop.thrift import I16, I64, LIST, STRUCT, Struct, decode_struct, \
    encode_struct, field, set_field

__all__ = ["encode", "append_parquet", "row_group_count", "MAX_ROW_GROUPS"]

MAGIC = b"PAR1"
MAX_ROW_GROUPS = 512

# parquet.thrift field ids
_FMD_SCHEMA, _FMD_NUM_ROWS, _FMD_ROW_GROUPS, _FMD_COLUMN_ORDERS, _FMD_ENCRYPTION = 2, 3, 4, 7, 8
_RG_COLUMNS, _RG_NUM_ROWS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 3, 5, 7
_CC_FILE_PATH, _CC_FILE_OFFSET, _CC_META = 1, 2, 3
_CC_OFFSET_INDEX, _CC_COLUMN_INDEX = 4, 6
_CM_DATA_PAGE, _CM_INDEX_PAGE, _CM_DICT_PAGE, _CM_BLOOM = 9, 10, 11, 14


def encode(table: pa.Table) -> bytes:
    """A table as the loop writes every parquet file: zstd, statistics (the next night's
    filtered reads prune row groups with them), pyarrow's defaults otherwise."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True)
    return buf.getvalue()


def _footer(head: bytes, size: int) -> tuple[Struct, int]:
    """(FileMetaData, where it starts) from the file's last bytes `head` (the file is `size`
    bytes long)."""
    if head[-4:] != MAGIC:
        raise ValueError("not a plain parquet file (encrypted footers end in PARE)")
    n = struct.unpack("<I", head[-8:-4])[0]
    start = size - 8 - n
    fmd, _ = decode_struct(head[len(head) - 8 - n:len(head) - 8])
    return fmd, start


def _read_footer(path: Path) -> tuple[Struct, int]:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(size - 8)
        n = struct.unpack("<I", fh.read(4))[0]
        fh.seek(size - 8 - n)
        return _footer(fh.read(n + 8), size)


def _chunks(rg: Struct) -> list[Struct]:
    return field(rg, _RG_COLUMNS)[1]


def _rg_start(rg: Struct) -> int:
    """Where a row group's first page starts."""
    starts = []
    for cc in _chunks(rg):
        meta = field(cc, _CC_META)
        d = field(meta, _CM_DICT_PAGE)
        starts.append(d if d is not None and d > 0 else field(meta, _CM_DATA_PAGE))
    return min(starts)


def _spliceable(old: Struct, new: Struct, keep: int) -> bool:
    if field(old, _FMD_ENCRYPTION) is not None:
        return False
    if encode_struct([[1, LIST, field(old, _FMD_SCHEMA)]]) != \
            encode_struct([[1, LIST, field(new, _FMD_SCHEMA)]]):
        return False
    if field(old, _FMD_COLUMN_ORDERS) != field(new, _FMD_COLUMN_ORDERS):
        return False
    rgs = field(old, _FMD_ROW_GROUPS)[1]
    if keep + len(field(new, _FMD_ROW_GROUPS)[1]) > MAX_ROW_GROUPS:
        return False
    for i, rg in enumerate(rgs):
        for cc in _chunks(rg):
            if field(cc, _CC_FILE_PATH) is not None:
                return False
            tail_cut = keep < len(rgs)
            if tail_cut and (field(cc, _CC_OFFSET_INDEX) is not None
                             or field(cc, _CC_COLUMN_INDEX) is not None
                             or field(field(cc, _CC_META), _CM_BLOOM) is not None):
                return False
    return True


def _moved(rg: Struct, shift: int, ordinal: int) -> Struct:
    """A new row group's metadata with every file offset moved by `shift`."""
    for cc in _chunks(rg):
        for fid in (_CC_FILE_OFFSET, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX):
            v = field(cc, fid)
            if v is not None and v > 0:
                set_field(cc, fid, I64, v + shift)
        meta = field(cc, _CC_META)
        for fid in (_CM_DATA_PAGE, _CM_INDEX_PAGE, _CM_DICT_PAGE, _CM_BLOOM):
            v = field(meta, fid)
            if v is not None and v > 0:
                set_field(meta, fid, I64, v + shift)
    v = field(rg, _RG_FILE_OFFSET)
    if v is not None and v > 0:
        set_field(rg, _RG_FILE_OFFSET, I64, v + shift)
    set_field(rg, _RG_ORDINAL, I16, ordinal)
    return rg


def row_group_count(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_row_groups


def append_parquet(path: Path, target: Path, rows: pa.Table, keep: int | None = None) -> bool:
    """Write to `target` the parquet file `path` with its first `keep` row groups (default all)
    followed by `rows` (cast to the file's schema). True when spliced, False when it had to
    rewrite the file whole (see the module's docstring). `target` is written and fsynced; the
    caller renames it."""
    path, target = Path(path), Path(target)
    schema = pq.read_schema(path)
    rows = rows.select(schema.names).cast(schema)
    old, cut = _read_footer(path)
    rgs = field(old, _FMD_ROW_GROUPS)[1]
    keep = len(rgs) if keep is None else keep
    if not 0 <= keep <= len(rgs):
        raise ValueError(f"{path}: keep {keep} of {len(rgs)} row groups")
    if len(rows) == 0 and keep == len(rgs):
        shutil.copyfile(path, target)
        _fsync(target)
        return True
    blob = encode(rows)
    new, new_cut = _footer(blob, len(blob))
    if not _spliceable(old, new, keep):
        kept = pq.ParquetFile(path).read_row_groups(range(keep)) if keep else schema.empty_table()
        _write(target, encode(pa.concat_tables([kept, rows])))
        return False
    if keep < len(rgs):
        cut = _rg_start(rgs[keep])
    shift = cut - len(MAGIC)
    kept = rgs[:keep]
    added = [_moved(rg, shift, keep + i) for i, rg in enumerate(field(new, _FMD_ROW_GROUPS)[1])]
    fmd = [list(e) for e in old]
    set_field(fmd, _FMD_ROW_GROUPS, LIST, (STRUCT, kept + added))
    set_field(fmd, _FMD_NUM_ROWS, I64,
              sum(field(rg, _RG_NUM_ROWS) for rg in kept + added))
    footer = encode_struct(fmd)
    shutil.copyfile(path, target)
    with open(target, "r+b") as fh:
        fh.truncate(cut)
        fh.seek(cut)
        fh.write(memoryview(blob)[len(MAGIC):new_cut])
        fh.write(footer)
        fh.write(struct.pack("<I", len(footer)))
        fh.write(MAGIC)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _write(target: Path, blob: bytes) -> None:
    with open(target, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync(target: Path) -> None:
    with open(target, "rb+") as fh:
        os.fsync(fh.fileno())
