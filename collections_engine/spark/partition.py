"""What runs inside Spark's Python workers: one bucket of customers (every table's rows of
those customers, shipped as Arrow IPC blobs) through the engine's own code.

Each bucket is typed and checked by `validate` (coerce_table, check_book) exactly as the
in-process loader types the whole book, then `build_features` and `score` run on it: both are
per-account functions of the book (the same call on a slice gives the same rows), and a bucket
holds every row of its customers, so the rows that come back are the in-process rows.
Nothing here starts or touches Spark; it is plain pandas and pyarrow, testable on its own.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.book import Book
from collections_engine.features import build_features
from collections_engine.io.load import CATEGORY_COLUMNS, as_categories, type_source
from collections_engine.schema import TABLES
from collections_engine.scoring import score
from collections_engine.validate import check_book, coerce_table

__all__ = ["NOTE_SCHEMA", "NightContext", "to_blob", "from_blob", "blobs_of", "typed_table", "night_bucket",
           "drift_counts", "notes_table", "ring_accounts"]

# What every bucket returns: notes (problems, warnings, dates, drift counts) and result blobs.
NOTE_SCHEMA = "kind string, message string, blob binary"
BOOK_TABLES = ("accounts", "customers", "payments", "contacts", "holds", "fraud_labels")


def to_blob(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def from_blob(blob) -> pa.Table:
    """The table of a blob (bytes or an Arrow buffer)."""
    return pa.ipc.open_stream(blob).read_all()


def blobs_of(notes: pa.Table, kind: str) -> list[pa.Buffer]:
    """The blobs of the notes of `kind`, in order, as Arrow buffers read in place (no copy of
    the bytes into Python objects: the 1M night's collected notes are hundreds of megabytes)."""
    out: list[pa.Buffer] = []
    for batch in notes.select(["kind", "blob"]).to_batches():  # columns aligned, no copy
        kinds, blobs = batch.column(0), batch.column(1)
        for i in np.flatnonzero(pc.fill_null(pc.equal(kinds, kind), False).to_numpy(zero_copy_only=False)):
            blob = blobs[int(i)]
            if blob.is_valid:
                out.append(blob.as_buffer())
    return out


def pack_batches(kind: str, batches):
    """Per Arrow batch of a table (with `_b`), one row (bucket, kind, blob) per bucket present."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        b = batch.column(batch.schema.get_field_index("_b")).to_numpy(zero_copy_only=False)
        order = np.argsort(b, kind="stable")
        sb = b[order]
        cuts = np.flatnonzero(np.diff(sb)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(sb)]])
        table = pa.Table.from_batches([batch])
        buckets, blobs = [], []
        for lo, hi in zip(starts, ends):
            buckets.append(int(sb[lo]))
            blobs.append(to_blob(table.take(order[lo:hi])))
        yield pa.RecordBatch.from_pydict({
            "_b": pa.array(buckets, pa.int32()), "kind": pa.array([kind] * len(buckets), pa.string()),
            "message": pa.array([""] * len(buckets), pa.string()), "blob": pa.array(blobs, pa.binary())})


def frame_blob(df: pd.DataFrame) -> bytes:
    return to_blob(pa.Table.from_pandas(df, preserve_index=False))


@dataclass
class NightContext:
    """Everything a bucket needs besides its rows (pickled with the function; the model version
    travels separately as a broadcast)."""

    date: pd.Timestamp
    strategy: object
    labels: dict[str, str]                 # table -> file label for messages
    nanos: dict[str, tuple[str, ...]]      # table -> columns read as int64 nanoseconds
    schemas: dict[str, pa.Schema]          # table -> Arrow schema (for a table absent from a bucket)
    sources: dict[str, tuple[str, str]]    # source name -> (key column, label)
    reference: dict | None = None
    # the ring step's rows of each bucket too (`spark.ring_propensity.bucket_features`, `ring_accounts`)
    ring_rows: bool = False


def _gather(parts: pa.Table, wanted: dict[str, pa.Schema], keep_order: tuple[str, ...] = ()) -> dict[str, pa.Table]:
    """The bucket's tables from its blobs, in read order (file, then row), without `_b`, `_f`,
    `_r` (the tables in `keep_order` keep `_f`, `_r`); a table with no rows here is an empty
    table of its schema.

    Blobs are read in place (no copy of the bytes); each blob's rows are already in read order,
    so the blobs are put in order by their first row and concatenated; rows are sorted one by
    one only when blobs interleave (a scan split holding several small files)."""
    kinds = parts.column("kind").to_pylist()
    found: dict[str, list[pa.Table]] = {}
    i = 0
    for chunk in parts.column("blob").chunks:
        for k in range(len(chunk)):
            found.setdefault(kinds[i], []).append(pa.ipc.open_stream(chunk[k].as_buffer()).read_all())
            i += 1
    out = {}
    for name, schema in wanted.items():
        tabs = [t for t in found.pop(name, []) if t.num_rows]
        if not tabs:
            out[name] = schema.empty_table()
            continue
        if "_r" in tabs[0].column_names:
            tabs.sort(key=lambda t: (t.column("_f")[0].as_py(), t.column("_r")[0].as_py()))
        t = pa.concat_tables(tabs) if len(tabs) > 1 else tabs[0]
        if "_r" in t.column_names and not _in_order(t):
            t = t.sort_by([("_f", "ascending"), ("_r", "ascending")])
        drop = ("_b",) if name in keep_order else ("_b", "_f", "_r")
        out[name] = t.drop_columns([c for c in drop if c in t.column_names])
    return out


def _in_order(t: pa.Table) -> bool:
    f = t.column("_f").to_numpy()
    r = t.column("_r").to_numpy()
    return bool(np.all((f[1:] > f[:-1]) | ((f[1:] == f[:-1]) & (r[1:] > r[:-1]))))


def _arrow_to_pandas(t: pa.Table, nanos: tuple[str, ...]) -> pd.DataFrame:
    """As the in-process reader converts a parquet table: nanosecond timestamps that Spark read
    as integers become timestamps again, zoned ones (Spark's) plain UTC times."""
    cols = {}
    for i, f in enumerate(t.schema):
        col = t.column(i)
        if f.name in nanos and pa.types.is_integer(f.type):
            col = col.cast(pa.int64()).cast(pa.timestamp("ns"))
        elif pa.types.is_timestamp(f.type) and f.type.tz is not None:
            col = col.cast(pa.timestamp(f.type.unit))
        cols[f.name] = col
    return pa.table(cols).to_pandas(date_as_object=False) if cols else pd.DataFrame(index=range(t.num_rows))


def typed_table(name: str, t: pa.Table, label: str, nanos: tuple[str, ...] = ()):
    """(frame, problems, warnings): the in-process loader's typing of one table (`_read_one`)."""
    df = _arrow_to_pandas(t, nanos)
    spec = replace(TABLES[name], required=False)  # emptiness is judged on the whole table
    df, problems, warnings = coerce_table(df, spec, label, CATEGORY_COLUMNS.get(name, ()))
    as_categories(name, df)
    return df, problems, warnings


def notes_table(rows: list[tuple[str, str, bytes | None]]) -> pa.Table:
    kinds, msgs, blobs = zip(*rows) if rows else ((), (), ())
    return pa.table({"kind": pa.array(kinds, pa.string()), "message": pa.array(msgs, pa.string()),
                     "blob": pa.array(blobs, pa.binary())})


def night_bucket(parts: pa.Table, ctx: NightContext, version) -> pa.Table:
    """Type and check one bucket's tables, then features and scores of its accounts tonight."""
    wanted = {n: ctx.schemas[n] for n in BOOK_TABLES if n in ctx.schemas}
    wanted.update({f"source:{s}": ctx.schemas[f"source:{s}"] for s in ctx.sources})
    raw = _gather(parts, wanted, keep_order=("customers",))
    # the customers rows as read (with their place in the files): tonight's customers' rows go
    # back to the driver, which orders and types them as the loader would (no second Spark job)
    read_customers = raw.get("customers")
    if read_customers is not None and "_r" in read_customers.column_names:
        raw["customers"] = read_customers.drop_columns(["_f", "_r"])
    problems: list[str] = []
    warnings: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    for name in BOOK_TABLES:
        if name in raw:
            df, p, w = typed_table(name, raw[name], ctx.labels[name], ctx.nanos.get(name, ()))
            tables[name] = df
            problems += p
            warnings += w
    if "accounts" in tables:  # as in-process: the checks across tables run whatever else was found
        p, w = check_book(tables, ctx.labels, ctx.strategy)
        problems += p
        warnings += w
    sources = {}
    for src, (key, label) in ctx.sources.items():
        t = raw[f"source:{src}"]
        if t.num_rows:
            sources[src] = type_source(_arrow_to_pandas(t, ctx.nanos.get(f"source:{src}", ())), key, label, warnings)
    rows: list[tuple[str, str, bytes | None]] = [("problem", m, None) for m in problems]
    rows += [("warning", m, None) for m in warnings]
    acc = tables.get("accounts")
    if acc is not None and "snapshot_date" in acc and pd.api.types.is_datetime64_any_dtype(acc["snapshot_date"]):
        dates = sorted(d.strftime("%Y-%m-%d") for d in pd.to_datetime(acc["snapshot_date"].dropna().unique()))
        rows.append(("dates", json.dumps(dates), None))
    if problems or acc is None or not len(acc):
        return notes_table(rows)
    book = Book(**tables, sources=sources)
    if ctx.ring_rows:  # the ring step's own features and account owners of these customers
        from collections_engine.spark.ring_propensity import bucket_features

        own = bucket_features(acc, tables.get("payments"), tables.get("contacts"), ctx.date)
        rows.append(("ring_own", "", frame_blob(own)))
        rows.append(("ring_accounts", "", frame_blob(ring_accounts(acc, ctx.date))))
    tonight = book.on(ctx.date)
    # Tonight's accounts at dpd 0: an open placement of one of them ended 'cured', one absent
    # from tonight's snapshot 'paid' (assign.files.vendor_endings, as in-process).
    current = tonight.loc[(tonight["dpd"] == 0).to_numpy(), ["account_id"]].astype({"account_id": "str"})
    if len(current):
        rows.append(("current", "", frame_blob(current.reset_index(drop=True))))
    tonight = tonight[tonight["dpd"] > 0].sort_values("account_id", kind="stable").reset_index(drop=True)
    if len(tonight):
        score_warnings: list[str] = []
        feats = build_features(book, tonight, ctx.strategy)
        scores = score(version, feats, tonight, ctx.strategy, score_warnings)
        rows.append(("score_warnings", json.dumps(score_warnings), None))
        rows.append(("drift", json.dumps(drift_counts(ctx.reference, feats)), None))
        rows.append(("tonight", "", frame_blob(tonight)))
        rows.append(("scores", "", frame_blob(scores)))
        if read_customers is not None and "_r" in read_customers.column_names and read_customers.num_rows:
            ids = pa.array(pd.unique(tonight["customer_id"].astype("str")), pa.string())
            mine = read_customers.filter(pc.is_in(pc.cast(read_customers.column("customer_id"), pa.string()),
                                                  value_set=ids))
            if mine.num_rows:
                rows.append(("customers", "", to_blob(mine)))
    return notes_table(rows)


def ring_accounts(accounts: pd.DataFrame, date: pd.Timestamp) -> pd.DataFrame:
    """(account_id, customer_id) of every account row known on `date`, once each: the accounts
    `rings.detect` lists for a ring's members."""
    known = (accounts["snapshot_date"].to_numpy("datetime64[ns]") <= pd.Timestamp(date).to_datetime64()) \
        & accounts["customer_id"].notna().to_numpy()
    pairs = pd.DataFrame({"account_id": accounts["account_id"].astype("str").to_numpy(dtype=object)[known],
                          "customer_id": accounts["customer_id"].astype("str").to_numpy(dtype=object)[known]})
    return pairs.drop_duplicates(ignore_index=True)


def drift_counts(reference: dict | None, feats: pd.DataFrame) -> dict:
    """Per reference feature, the counts `scoring.metrics.psi` turns into shares: bins of the
    reference edges (numeric) or levels (categorical), and the missing count. Counts add up
    across buckets; shares would not."""
    out: dict[str, object] = {"n": int(len(feats)), "features": {}}
    if not reference:
        return out
    for name, ref in reference.get("features", {}).items():
        if name not in feats.columns:
            continue
        values = feats[name]
        if ref["kind"] == "categorical":
            cur = values.dropna().astype("str").value_counts()
            out["features"][name] = {"levels": {str(k): int(v) for k, v in cur.items()},
                                     "missing": int(values.isna().sum())}
        else:
            x = pd.to_numeric(values, errors="coerce")
            edges = np.asarray(ref["edges"], float)
            xs = x.dropna().to_numpy(float)
            counts = np.bincount(np.searchsorted(edges, xs, side="right"), minlength=len(edges) + 1)
            out["features"][name] = {"bins": counts.tolist(), "missing": int(x.isna().sum())}
    return out
