"""Appending row groups to a parquet file (loop/append.py) against the obvious way: every table
read back equals `concat_tables` of the rows kept and the rows added, with the file's schema;
the footer codec gives back the bytes it read; the full rewrite takes over where splicing
could be wrong."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from collections_engine.loop import append as ap
from collections_engine.loop.thrift import decode_struct, encode_struct


def _frame(rng: np.random.Generator, n: int, start: int) -> pd.DataFrame:
    day = pd.Timestamp("2025-01-01") + pd.to_timedelta(start + np.arange(n) // 7, unit="D")
    x = rng.normal(size=n)
    return pd.DataFrame({
        "snapshot_date": pd.Series(day.to_numpy().astype("datetime64[ns]")),
        "account_id": pd.Series([f"A{start + i:07d}" for i in range(n)], dtype="str"),
        "kind": pd.Series(rng.choice(["phone", "device", "email"], n), dtype="str"),
        "dpd": rng.integers(0, 400, n).astype(np.int64),
        "amount": np.where(rng.random(n) < 0.1, np.nan, x),
        "flag": (x > 0).astype(np.int8),
        "seen": pd.Series(np.where(rng.random(n) < 0.2, np.datetime64("NaT"),
                                   day.to_numpy()).astype("datetime64[ns]")),
    })


def _write(path: Path, df: pd.DataFrame, row_group_size: int | None = None, **kw) -> None:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, compression="zstd",
                   write_statistics=True, row_group_size=row_group_size, **kw)


def _rows(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def test_footer_codec_gives_back_the_bytes_it_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for kw in ({}, {"write_page_index": True}, {"row_group_size": 40}):
        buf = io.BytesIO()
        pq.write_table(_rows(_frame(rng, 300, 0)), buf, compression="zstd", **kw)
        blob = buf.getvalue()
        n = int.from_bytes(blob[-8:-4], "little")
        footer = blob[-8 - n:-8]
        fmd, end = decode_struct(footer)
        assert end == n and encode_struct(fmd) == footer


@settings(max_examples=25, deadline=None)
@given(base=hs.integers(1, 300), rg=hs.integers(7, 120), adds=hs.lists(hs.integers(0, 150),
       min_size=1, max_size=4), seed=hs.integers(0, 2**31 - 1))
def test_appended_file_reads_as_the_concatenation(tmp_path_factory: pytest.TempPathFactory,
                                                   base: int, rg: int, adds: list[int],
                                                   seed: int) -> None:
    tmp = tmp_path_factory.mktemp("app")
    rng = np.random.default_rng(seed)
    df = _frame(rng, base, 0)
    path = tmp / "t.parquet"
    _write(path, df, rg)
    expect = [df]
    for k, n in enumerate(adds):
        new = _frame(rng, n, sum(len(f) for f in expect))
        out = tmp / f"t{k}.parquet"
        assert ap.append_parquet(path, out, _rows(new))
        expect.append(new)
        path = out
        got = pq.read_table(path)
        want = pa.concat_tables([_rows(f) for f in expect]).cast(got.schema)
        assert got.equals(want)
        assert got.schema.equals(pq.read_schema(tmp / "t.parquet"), check_metadata=True)
        assert pq.ParquetFile(path).metadata.num_rows == sum(len(f) for f in expect)
    # the statistics still prune: a filtered read gives the rows of that day
    all_rows = pd.concat(expect, ignore_index=True)
    day = all_rows["snapshot_date"].iloc[len(all_rows) // 2]
    f = pq.read_table(path, filters=[("snapshot_date", "=", day)]).to_pandas()
    assert f["account_id"].tolist() == all_rows.loc[all_rows["snapshot_date"] == day,
                                                    "account_id"].tolist()


@settings(max_examples=20, deadline=None)
@given(base=hs.integers(20, 300), rg=hs.integers(7, 60), new=hs.integers(0, 100),
       seed=hs.integers(0, 2**31 - 1), data=hs.data())
def test_a_tail_rewrite_keeps_the_first_row_groups(tmp_path_factory: pytest.TempPathFactory,
                                                   base: int, rg: int, new: int, seed: int,
                                                   data: hs.DataObject) -> None:
    tmp = tmp_path_factory.mktemp("tail")
    rng = np.random.default_rng(seed)
    df = _frame(rng, base, 0)
    path = tmp / "t.parquet"
    _write(path, df, rg)
    n_rg = pq.ParquetFile(path).metadata.num_row_groups
    keep = data.draw(hs.integers(0, n_rg))
    pf = pq.ParquetFile(path)
    tail = pf.read_row_groups(range(keep, n_rg)).to_pandas()
    tail["dpd"] = tail["dpd"] + 1                 # the tail changes (truth's p_queue on night D)
    rows = pa.concat_tables([_rows(tail), _rows(_frame(rng, new, base))])
    assert ap.append_parquet(path, tmp / "out.parquet", rows, keep=keep)
    got = pq.read_table(tmp / "out.parquet")
    head = pf.read_row_groups(range(keep)) if keep else pf.schema_arrow.empty_table()
    assert got.equals(pa.concat_tables([head, rows.cast(head.schema)]))


def test_rewritten_whole_where_splicing_could_be_wrong(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    df, new = _frame(rng, 200, 0), _frame(rng, 50, 200)
    want = pd.concat([df, new], ignore_index=True)
    # a page index sits after the row groups: a tail cut would drop it
    p = tmp_path / "pi.parquet"
    _write(p, df, 50, write_page_index=True)
    assert not ap.append_parquet(p, tmp_path / "pi2.parquet", _rows(new), keep=2)
    assert pq.read_table(tmp_path / "pi2.parquet").to_pandas().equals(
        pd.concat([df.iloc[:100], new], ignore_index=True))
    # ... but appending after every row group keeps it valid
    assert ap.append_parquet(p, tmp_path / "pi3.parquet", _rows(new))
    assert pq.read_table(tmp_path / "pi3.parquet").to_pandas().equals(want)
    # new rows whose parquet schema is not the file's (int32 where the file has int64): refused
    a, b = io.BytesIO(), io.BytesIO()
    pq.write_table(_rows(df), a)
    pq.write_table(_rows(new.assign(dpd=new["dpd"].astype(np.int32))), b)
    fa = ap._footer(a.getvalue(), len(a.getvalue()))[0]
    fb = ap._footer(b.getvalue(), len(b.getvalue()))[0]
    assert ap._spliceable(fa, fa, 1) and not ap._spliceable(fa, fb, 1)
    # more row groups than MAX_ROW_GROUPS: compacted
    r = tmp_path / "many.parquet"
    _write(r, df, 1)
    assert ap.row_group_count(r) == 200
    monkeypatch.setattr(ap, "MAX_ROW_GROUPS", 150)
    assert not ap.append_parquet(r, tmp_path / "many2.parquet", _rows(new))
    assert ap.row_group_count(tmp_path / "many2.parquet") == 1
    assert pq.read_table(tmp_path / "many2.parquet").to_pandas().equals(want)


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    df, new = _frame(rng, 120, 0), _frame(rng, 30, 120)
    _write(tmp_path / "a.parquet", df, 50)
    ap.append_parquet(tmp_path / "a.parquet", tmp_path / "b.parquet", _rows(new))
    ap.append_parquet(tmp_path / "a.parquet", tmp_path / "c.parquet", _rows(new))
    assert (tmp_path / "b.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()
