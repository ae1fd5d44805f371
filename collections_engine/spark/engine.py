"""The Spark engine: the driver's side of `run --engine spark`.

- `load_book`: find every input table as a Spark DataFrame (nothing typed yet), with its
  parquet row groups where pyarrow can read them as Spark would (`spark.direct`); the small
  tables placement needs on the driver (holds, fraud labels) are collected and typed there.
- `start_rings`: the ring step as Spark jobs beside the night's (`ring_job`); the night's
  buckets hand it their customers' own features and account owners.
- `score_night`: every table's rows (read by pyarrow in the workers, one task per row group,
  where every table of the night can be; else Spark's scan) go to the bucket of their customer
  (account-keyed tables through the account's customer), travel as Arrow blobs, and each
  bucket is typed, checked, featured and scored by the engine's own code in a Python worker
  (`partition.night_bucket`, applyInArrow), with the model version broadcast. What comes back to
  the driver: problems and warnings (merged), tonight's delinquent accounts and their scores, and
  drift counts. Placement, the report and the run folder then go on as in-process.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.book import Book
from collections_engine.codes import to_arrow
from collections_engine.errors import DataError, InputError
from collections_engine.io.load import TRAINING_TABLES
from collections_engine.report.nightly import PSI_ACT, PSI_WATCH
from collections_engine.schema import TABLES
from collections_engine.stats import psi, psi_counts
from collections_engine.spark.messages import empty_everywhere, merge_messages
from collections_engine.spark.partition import (
    BOOK_TABLES, NOTE_SCHEMA, NightContext, blobs_of, from_blob, night_bucket, typed_table,
)
from collections_engine.spark.session import spark_session
from collections_engine.validate.protective import protective_problems
from collections_engine.spark.tables import SparkTable, find_spark_table, read_spark_table

__all__ = ["SparkEngine", "bucket_count", "drift_from_counts"]

log = logging.getLogger("collections_engine")

# Accounts rows (a year of monthly snapshots included) per bucket: a bucket's tables are a few
# tens of megabytes in a Python worker.
ROWS_PER_BUCKET = 250_000



# The account -> customer map is broadcast to the scans of account-keyed tables up to this
# many accounts rows (the 1M book: 12.2M rows, about 1M accounts); above it the map is joined
# by a shuffle: the 3M book's map could not be built in a 3g heap ("Could not allocate memory
# to grow BytesToBytesMap", h22g's 3M night, session 10).
BROADCAST_OWNER_MAX_ROWS = 15_000_000


def bucket_count(accounts_rows: int, parallelism: int) -> int:
    """At least two buckets per core, and about ROWS_PER_BUCKET accounts rows in each."""
    return max(2 * max(parallelism, 1), math.ceil(accounts_rows / ROWS_PER_BUCKET))


class SparkEngine:
    """`run --engine spark`. `master`: a Spark master URL (None: local[*], or what spark-submit set)."""

    name = "spark"

    def __init__(self, master: str | None = None) -> None:
        self.master = master
        self.spark = None
        self._own_session = False
        self.tables: dict[str, SparkTable] = {}
        self.sources: dict[str, tuple[str, str, SparkTable]] = {}
        self.data = ""
        self.buckets = 0
        self.stats: dict[str, object] = {}
        # tonight's accounts at dpd 0 (after `score_night`): cured, not paid, endings
        self.current_ids: pd.Series | None = None
        self._rings = None        # the night's ring job (`start_rings`), fed by the night's buckets
        self._night_rows = None   # the night job's output, kept for the ring job
        self._owner_buckets = None  # broadcast `direct.OwnerBuckets` of a night read by pyarrow

    # -- reading ---------------------------------------------------------------------------
    def load_book(self, data: Path, strategy, *, skip: tuple[str, ...] = (),
                  night: bool = False) -> tuple[Book, list[str]]:
        from pyspark.sql import SparkSession

        t0 = time.perf_counter()
        self._own_session = SparkSession.getActiveSession() is None
        self.spark = spark_session(self.master)
        log.info("spark: session %s (%s) in %.1f s", self.spark.sparkContext.master,
                 "started" if self._own_session else "joined", time.perf_counter() - t0)
        self.data = str(data)
        if "://" not in self.data and not Path(self.data).is_dir():
            raise DataError(self.data, [f"DATA folder not found: {data}; expected a folder of tables"])
        problems: list[str] = []
        warnings: list[str] = []
        t0 = time.perf_counter()
        for name, spec in TABLES.items():
            if name in skip and not spec.required:
                continue
            found = find_spark_table(self.data, name)
            if found is None:
                if spec.required:
                    problems.append(f"{name}: table missing; expected {name}.parquet, {name}.csv or a "
                                    f"folder {name}/ of parts in {data}")
                continue
            path, fmt, label = found
            try:
                self.tables[name] = read_spark_table(self.spark, path, fmt, name, label)
            except Exception as exc:  # noqa: BLE001 - Spark's analysis errors name the file
                problems.append(f"{label}: cannot be read ({str(exc).splitlines()[0][:200]}); "
                                "expected a parquet, CSV or Delta table")
        for src in strategy.sources if strategy is not None else []:
            found = find_spark_table(f"{self.data.rstrip('/')}/sources", src.name)
            if found is None:
                warnings.append(f"sources/{src.name}: no table (parquet or csv); source '{src.name}' is not used tonight")
                continue
            path, fmt, label = found
            label = f"sources/{label}"
            try:
                t = read_spark_table(self.spark, path, fmt, f"source:{src.name}", label)
            except Exception as exc:  # noqa: BLE001
                warnings.append(f"{label}: cannot be read ({str(exc).splitlines()[0][:200]}); source "
                                f"'{src.name}' is not used")
                continue
            if src.key not in t.arrow_schema.names:
                warnings.append(f"{label}: missing its declared key column '{src.key}' (found "
                                f"{', '.join(t.arrow_schema.names)}); source '{src.name}' is not used")
                continue
            self.sources[src.name] = (src.key, label, t)
        if night:  # tables that protect people (validate.protective), as the in-process loader
            problems += protective_problems(
                set(self.tables) | {n for n in TABLES if any(p.startswith(f"{n}.") for p in problems)}, strategy,
                lambda n: f"{n}.parquet, {n}.csv or a folder {n}/ of parts in {data}")
        if "accounts" in self.tables:
            n_rows = self.tables["accounts"].frame.count()
            if n_rows == 0:
                problems.append(f"{self.tables['accounts'].label}: the table is empty; expected at least one row")
            self.buckets = bucket_count(n_rows, self.spark.sparkContext.defaultParallelism)
            # One shuffle partition per bucket: each task then holds one bucket's tables.
            self.spark.conf.set("spark.sql.shuffle.partitions", str(self.buckets))
            self.stats["accounts_rows"] = int(n_rows)
            self.stats["buckets"] = self.buckets
        if problems:
            raise DataError(f"DATA folder {data}", problems)
        for w in warnings:
            log.warning("%s", w)
        log.info("spark: %d tables found, %d buckets (%.1f s)", len(self.tables), self.buckets,
                 time.perf_counter() - t0)
        small = {n: self._collect(n) for n in ("holds", "fraud_labels") if n in self.tables}
        accounts = typed_table("accounts", self.tables["accounts"].arrow_schema.empty_table(),
                               self.tables["accounts"].label, self.tables["accounts"].nanos)[0]
        return Book(accounts=accounts, **small), warnings

    def _collect(self, name: str, frame=None) -> pd.DataFrame:
        t = self.tables[name]
        arrow = (frame if frame is not None else t.frame).toArrow()
        arrow = arrow.sort_by([("_f", "ascending"), ("_r", "ascending")]).drop_columns(["_f", "_r"])
        return typed_table(name, arrow, t.label, t.nanos)[0]

    # -- bucketing -------------------------------------------------------------------------
    def _bucket(self, col):
        from pyspark.sql import functions as F

        return F.pmod(F.xxhash64(F.col(col).cast("string")), F.lit(self.buckets)).cast("int")

    def _night_parts(self):
        """Every table's rows of the night as Arrow blobs, one per (scan batch, bucket), with
        `_b` their bucket: a customer's rows of every table in one bucket (an account's rows
        with its customer's, orphans by their own id: reported). Read by pyarrow in the workers
        where every table can be (`spark.direct`, one bucket function for all), else on Spark's
        scan, bucketed there."""
        from collections_engine.spark.direct import key_reads_as_text
        from collections_engine.spark.tables import DIRECT_READ

        items = [(n, self.tables[n], "customer_id" if "customer_id" in self.tables[n].arrow_schema.names
                  else "account_id") for n in BOOK_TABLES if n in self.tables]
        items += [(f"source:{s}", t, key) for s, (key, _, t) in self.sources.items()]
        acc = self.tables["accounts"].arrow_schema
        keys = [t.arrow_schema.field(key).type if key in t.arrow_schema.names else None for _, t, key in items]
        keys += [acc.field(c).type if c in acc.names else None for c in ("account_id", "customer_id")]
        direct = DIRECT_READ and all(t.units is not None for _, t, _ in items) \
            and all(k is not None and key_reads_as_text(k) for k in keys)
        self.stats["night_read"] = "pyarrow row groups" if direct else "spark scan"
        parts = None
        for kind, table, key in items:
            p = self._read_direct(kind, table, key) if direct else self._packed(kind, self._bucketed(table.frame, key))
            parts = p if parts is None else parts.unionByName(p)
        return parts

    def _owners(self):
        """(account_id, customer_id) once per account as text (the smallest customer id of an
        account seen with several), a DataFrame."""
        from pyspark.sql import functions as F

        return (self.tables["accounts"].frame.groupBy(F.col("account_id").cast("string").alias("account_id"))
                .agg(F.min(F.col("customer_id").cast("string")).alias("customer_id")))

    def _read_direct(self, kind: str, table: SparkTable, key: str):
        from collections_engine.spark.direct import OwnerBuckets, bucket_of
        from collections_engine.spark.partition import pack_batches

        n = self.buckets
        if key == "account_id" and self._owner_buckets is None:
            self._owner_buckets = self.spark.sparkContext.broadcast(OwnerBuckets(self._owners().toArrow(), n))
        owner = self._owner_buckets if key == "account_id" else None

        def pack(batches):
            for batch in batches:
                ids = batch.column(batch.schema.get_field_index(key))
                b = owner.value(ids) if owner is not None else bucket_of(ids, n)
                yield from pack_batches(kind, [batch.append_column("_b", pa.array(b, pa.int32()))])

        return table.map_in_arrow(pack, "_b int, " + NOTE_SCHEMA)

    def _bucketed(self, df, key: str):
        """The table's DataFrame with `_b`, bucketed by customer on Spark."""
        from pyspark.sql import functions as F

        if key == "customer_id":
            return df.withColumn("_b", self._bucket("customer_id"))
        owner = self._owners().select(F.col("account_id").alias("_aid"), self._bucket("customer_id").alias("_ob"))
        cols = df.columns
        side = F.broadcast(owner) if self.stats.get("accounts_rows", 0) <= BROADCAST_OWNER_MAX_ROWS else owner
        j = df.join(side, F.col("account_id").cast("string") == F.col("_aid"), "left")
        j = j.withColumn("_b", F.coalesce(F.col("_ob"), self._bucket("account_id")))
        return j.select(*cols, "_b")

    @staticmethod
    def _packed(kind: str, df):
        """The table's rows as Arrow blobs, one per (scan batch, bucket), made where the rows are
        read (mapInArrow): only blobs cross the shuffle, never rows one by one."""
        from collections_engine.spark.partition import pack_batches

        def pack(batches):
            return pack_batches(kind, batches)

        return df.mapInArrow(pack, "_b int, " + NOTE_SCHEMA)

    def _context(self, date, strategy, reference=None) -> NightContext:
        labels = {n: t.label for n, t in self.tables.items()}
        nanos = {n: t.nanos for n, t in self.tables.items()}
        schemas = {n: t.arrow_schema for n, t in self.tables.items()}
        for s, (_, label, t) in self.sources.items():
            nanos[f"source:{s}"] = t.nanos
            schemas[f"source:{s}"] = t.arrow_schema
        return NightContext(date=pd.Timestamp(date), strategy=strategy, labels=labels, nanos=nanos,
                            schemas=schemas, sources={s: (k, label) for s, (k, label, _) in self.sources.items()},
                            reference=reference, ring_rows=self._rings is not None)

    # -- the rings job ---------------------------------------------------------------------
    def start_rings(self, book, graph, date, previous) -> "_SparkJob":
        """The ring step as Spark jobs on a driver thread beside the night's job (`ring_job`):
        the graph and its components first, then, with the night buckets' own features, the
        parts of whole components, and the rings on the driver from the community members."""
        from collections_engine.spark.ring_job import RingJob

        self._rings = RingJob(self, graph, pd.Timestamp(date), previous, book.fraud_labels)
        return _SparkJob(self.spark, "rings", self._rings.run, lambda out: out)

    # -- the night job ---------------------------------------------------------------------
    def score_night(self, book: Book, date: pd.Timestamp, strategy, version, warnings: list[str],
                    reference: dict | None, rings: "_SparkJob | None" = None):
        """(tonight's delinquent accounts, their scores, the drift table); fills `book`'s
        accounts (tonight's) and customers (tonight's) for placement and the vendor files."""
        ctx = self._context(date, strategy, reference=reference)
        bc = self.spark.sparkContext.broadcast(version)
        parts = self._night_parts()

        def run(table):
            return night_bucket(table, ctx, bc.value)

        t0 = time.perf_counter()
        night = parts.groupBy("_b").applyInArrow(run, NOTE_SCHEMA)
        collect = night
        if self._rings is not None:
            # the buckets' ring rows stay in Spark (on disk) for the ring job; the rest comes here
            from pyspark import StorageLevel
            from pyspark.sql import functions as F

            night = self._night_rows = night.persist(StorageLevel.DISK_ONLY)
            collect = night.where(~F.col("kind").isin("ring_own", "ring_accounts"))
        try:
            notes = _SparkJob(self.spark, "night", collect.toArrow, None).result()
        except BaseException as exc:
            if self._rings is not None:
                self._rings.fail(exc)
            raise
        log.info("spark: night job (read, check, features, scores of %d buckets) in %.1f s", self.buckets,
                 time.perf_counter() - t0)
        bc.unpersist()
        if self._owner_buckets is not None:
            self._owner_buckets.unpersist()  # (still fetchable if the persisted night is recomputed)
            self._owner_buckets = None
        kinds = notes.column("kind").to_pylist()
        msgs = notes.column("message").to_pylist()
        problems = merge_messages([m for k, m in zip(kinds, msgs) if k == "problem"])
        if problems:
            if self._rings is not None:
                self._rings.fail(DataError(f"DATA folder {self.data}", problems))
            if rings is not None:
                rings.stop()
            problems += self._identifier_problems()
            raise DataError(f"DATA folder {self.data}", problems)
        dates = sorted({d for k, m in zip(kinds, msgs) if k == "dates" for d in json.loads(m)})
        if date.strftime("%Y-%m-%d") not in dates:
            error = InputError(self.data, [
                f"accounts: no snapshot for --date {date.strftime('%Y-%m-%d')}; expected one of the snapshot "
                f"dates ({dates[0] + ' .. ' + dates[-1] if dates else 'none'})"])
            if self._rings is not None:
                self._rings.fail(error)
            raise error
        if self._rings is not None:
            self._rings.night.set_result(night)
        tonight = _frames(blobs_of(notes, "tonight"))
        scores = _frames(blobs_of(notes, "scores"))
        n_scored = sum(k == "scores" for k in kinds)
        empty, per_bucket = empty_everywhere(
            [json.loads(m) for k, m in zip(kinds, msgs) if k == "score_warnings"], n_scored)
        found = merge_messages([m for k, m in zip(kinds, msgs) if k == "warning"])
        found += merge_messages([w for ws in per_bucket for w in ws]) + ([empty] if empty else [])
        for w in found:
            log.warning("%s", w)
        warnings += found
        # both in account-id order: each bucket scores each of its accounts tonight once
        tonight = tonight.iloc[tonight["account_id"].argsort(kind="stable")].reset_index(drop=True)
        scores = scores.iloc[scores["account_id"].argsort(kind="stable")].reset_index(drop=True)
        if len(scores) != len(tonight) or not pc.all(pc.equal(to_arrow(scores["account_id"]),
                                                              to_arrow(tonight["account_id"]))).as_py():
            raise RuntimeError("spark night: the buckets' scores are not one per account tonight")
        drift = drift_from_counts(reference, scores, [json.loads(m) for k, m in zip(kinds, msgs) if k == "drift"])
        book.accounts = tonight
        current = _frames(blobs_of(notes, "current"))
        self.current_ids = (current["account_id"] if len(current) else pd.Series([], dtype="str", name="account_id"))
        if "customers" in self.tables:
            book.customers = self._customers_of(blobs_of(notes, "customers"))
        return tonight, scores, drift

    def _customers_of(self, blobs: list) -> pd.DataFrame:
        """Tonight's customers' rows, as the buckets read them (a bucket holds every row of its
        customers), put in read order and typed as `_collect` types a table."""
        t = self.tables["customers"]
        tables = [from_blob(b) for b in blobs]
        arrow = pa.concat_tables(tables) if tables else t.frame.limit(0).toArrow()
        arrow = arrow.sort_by([("_f", "ascending"), ("_r", "ascending")]).drop_columns(["_f", "_r"])
        return typed_table("customers", arrow, t.label, t.nanos)[0]

    def _identifier_problems(self) -> list[str]:
        """On a night with bad tables: the identifiers' own problems too (every problem at once),
        each batch typed by the same code (the ring job, which checks them, was stopped)."""
        if "identifiers" not in self.tables:
            return []
        t = self.tables["identifiers"]
        label, nanos = t.label, t.nanos

        def check(batches):
            for batch in batches:
                table = pa.Table.from_batches([batch]).drop_columns(["_f", "_r"])
                _, p, _ = typed_table("identifiers", table, label, nanos)
                yield pa.RecordBatch.from_pydict({"message": pa.array(p, pa.string())})

        rows = t.map_in_arrow(check, "message string").toArrow().column("message").to_pylist()
        return merge_messages(rows)

    def close(self) -> None:
        if self._rings is not None:
            self._rings.fail(RuntimeError("the Spark night was closed"))
        if self._owner_buckets is not None:  # a night that stopped before its end
            self._owner_buckets.unpersist()
            self._owner_buckets = None
        if self._night_rows is not None and self.spark is not None:
            self._night_rows.unpersist()
            self._night_rows = None
        if self.spark is not None and self._own_session:
            self.spark.stop()
        self.spark = None


def _frames(blobs: list) -> pd.DataFrame:
    tables = [from_blob(b) for b in blobs]
    return pa.concat_tables(tables).to_pandas(date_as_object=False) if tables else pd.DataFrame()


def drift_from_counts(reference: dict | None, scores: pd.DataFrame, parts: list[dict]) -> pd.DataFrame:
    """`report.nightly.psi_table` from the buckets' counts (the features stay in the workers)."""
    import numpy as np

    if not reference:
        return pd.DataFrame(columns=["what", "psi", "level"])
    n = sum(p["n"] for p in parts)
    merged: dict[str, dict] = {}
    for p in parts:
        for name, c in p["features"].items():
            m = merged.setdefault(name, {"missing": 0, "levels": {}, "bins": None})
            m["missing"] += c["missing"]
            if "bins" in c:
                b = np.asarray(c["bins"], np.int64)
                m["bins"] = b if m["bins"] is None else m["bins"] + b
            else:
                for k, v in c["levels"].items():
                    m["levels"][k] = m["levels"].get(k, 0) + v
    rows = [("score points", psi(reference["points"], scores["points"]))]
    for name, ref in sorted(reference.get("features", {}).items()):
        if name in merged:
            cur = merged[name]
            counts = cur["levels"] if ref["kind"] == "categorical" else cur["bins"]
            rows.append((name, psi_counts(ref, counts, cur["missing"], n)))
    df = pd.DataFrame(rows, columns=["what", "psi"])
    df["level"] = np.select([df["psi"] >= PSI_ACT, df["psi"] >= PSI_WATCH], ["act", "watch"], "stable")
    head, rest = df.iloc[:1], df.iloc[1:].sort_values(["psi", "what"], ascending=[False, True])
    return pd.concat([head, rest], ignore_index=True)


class _SparkJob:
    """Spark jobs run on a driver thread (`action`: what runs them and returns the collected
    Arrow notes; its own job group, so it can be cancelled), for the ring step beside the
    night's job. `result()` -> what `finish` makes of the collected notes,
    with the seconds and (for rings) the worker's peak memory."""

    def __init__(self, spark, name: str, action, finish) -> None:
        from pyspark import InheritableThread

        self._spark = spark
        self._group = f"collections-engine-{name}-{uuid.uuid4().hex[:8]}"
        self._finish = finish
        self._out: list = []
        self._error: list[BaseException] = []

        def work() -> None:
            try:
                spark.sparkContext.setJobGroup(self._group, name, interruptOnCancel=True)
                self._out.append(action())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
                self._error.append(exc)

        self._thread = InheritableThread(target=work, daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if self._error:
            raise self._error[0]
        notes = self._out[0]
        if self._finish is None:
            return notes
        result, seconds, peak = self._finish(notes)
        return result, seconds, peak

    def stop(self) -> None:
        if self._thread.is_alive():
            self._spark.sparkContext.cancelJobGroup(self._group)
            self._thread.join()
