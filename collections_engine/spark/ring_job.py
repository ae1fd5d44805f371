"""The ring step as Spark jobs, on a driver thread beside the night's job. No task holds more
than a customer bucket's or a part's rows; the driver holds the fit sample and the members of
the communities.

1. One scan of the identifiers (`ring_graph.identifier_rows`): usable rows, each customer's
   first day seen, the table's problems, warnings and counts; saved to the work folder.
2. The graph once, as DataFrame jobs: linking values -> customer pairs and weights
   (`customer_edges`), connected components (`components`).
3. The customers of the step (those of usable identifier rows, of accounts known on the date,
   and the confirmed ones: `rings.graph_phase`'s code space), each with its own features (made
   by the night's customer buckets, `spark.partition.night_bucket`: the accounts, payments and
   contacts are read once, by the night), first day seen, component and label; dealt to parts
   of whole components (customers without an edge by their own id).
4. Per part (`spark.ring_parts.part_rings`, a cogroup of the part's customers and graph rows):
   communities, propensity features, the fit sample, the community members' rows.
5. On the driver (`ring_parts.finish_rings`): the propensity model fitted on the parts'
   samples, the members' estimates, the ring state in the whole graph's numbering, scores,
   flags, ring ids and tables (`rings.detect.rings_of_members`), with the flagged members'
   accounts from the night buckets' rows.

The ring carry (`rings.carry`: the identifier graph and account aggregates an in-process night
hands the next) is not built: run.json's `rings_graph` says so, and the next in-process night
builds its graph from the whole book, as after any night without a carry.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import shutil
import time
from concurrent.futures import Future
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.config.graph import GraphConfig
from collections_engine.errors import DataError, InputError
from collections_engine.rings.detect import RingsResult
from collections_engine.rings.propensity import confirmed_on
from collections_engine.spark.messages import merge_messages
from collections_engine.spark.partition import NOTE_SCHEMA, from_blob, notes_table, typed_table
from collections_engine.spark.ring_graph import (
    FIRST, INPUT, LINK, NODES_PER_PART, PROBLEM, STATS, WARNING, components, customer_edges, identifier_rows,
    work_folder,
)
from collections_engine.spark.ring_parts import EDGE, SHARED, finish_rings, part_rings
from collections_engine.spark.ring_propensity import bucket_features

__all__ = ["RingJob", "NO_CARRY"]

log = logging.getLogger("collections_engine")

NO_CARRY = ("the Spark engine builds no ring carry (the identifier graph and account aggregates stay in "
            "Spark's parts); the next in-process night builds its ring graph from the whole book")


class RingJob:
    """The ring step of one Spark night. `night` is completed by the night's job with its
    (persisted) output, whose `ring_own` and `ring_accounts` rows this job reads; or with the
    night's error, which ends this job too."""

    def __init__(self, engine, graph: GraphConfig, date: pd.Timestamp, previous: pd.DataFrame | None,
                 fraud_labels: pd.DataFrame | None) -> None:
        if graph.community.method == "louvain" and graph.community.objective != "modularity":
            raise InputError("graph file", [
                "community.objective: louvain optimises modularity only; found 'CPM', expected "
                "'modularity' (or method: leiden)"])
        self.engine, self.graph, self.date, self.previous = engine, graph, pd.Timestamp(date), previous
        self.confirmed = sorted(set(confirmed_on(fraud_labels, self.date)))
        self.night: Future = Future()
        self.own_columns = self._own_columns()

    def _own_columns(self) -> list[str]:
        """The own features' columns (`bucket_features` on the night tables' empty frames)."""
        empty = {}
        for name in ("accounts", "payments", "contacts"):
            t = self.engine.tables.get(name)
            empty[name] = (typed_table(name, t.arrow_schema.empty_table(), t.label, t.nanos)[0]
                           if t is not None else None)
        cols = bucket_features(empty["accounts"], empty["payments"], empty["contacts"], self.date).columns
        return [c for c in cols if c != "customer_id"]

    def fail(self, exc: BaseException) -> None:
        if not self.night.done():
            self.night.set_exception(exc)

    def run(self):
        """(RingsResult, seconds, the largest part worker's peak RSS in GiB)."""
        t0 = time.perf_counter()
        folder, own = work_folder(self.engine.spark)
        try:
            return self._run(folder, t0)
        finally:
            if own:
                shutil.rmtree(folder, ignore_errors=True)

    def _run(self, folder: str, t0: float):
        from pyspark.sql import functions as F

        spark, graph = self.engine.spark, self.graph
        laps: dict[str, float] = {}
        g = self._graph(folder)
        laps["graph_s"] = time.perf_counter() - t0
        log.info("spark: ring graph and components in %.1f s", laps["graph_s"])

        night = self.night.result()  # the night's buckets: own features and account owners
        laps["night_wait_s"] = time.perf_counter() - t0 - laps["graph_s"]
        cols = self.own_columns
        cust = _saved(spark, self._customers(night, g), f"{folder}/customers")
        n_customers = cust.count()
        n_unconfirmed = n_customers - len(self.confirmed)
        n_parts = max(1, math.ceil(n_customers / NODES_PER_PART))

        def part(col):
            return F.pmod(F.xxhash64(col), F.lit(n_parts)).cast("int")

        cust = cust.withColumn("_part", part(F.coalesce(F.col("comp"), F.col("customer_id")))).drop("comp")
        graph_rows = (g.edges.select(F.lit(EDGE).alias("t"), F.col("lo").alias("a"), F.col("hi").alias("b"),
                                     F.lit(None).cast("string").alias("v"), "w")
                      .unionByName(g.shared.select(F.lit(SHARED).alias("t"), F.col("customer_id").alias("a"),
                                                   F.col("kind").alias("b"), F.col("value").alias("v"),
                                                   F.lit(None).cast("double").alias("w")))
                      .join(g.comps.select(F.col("id").alias("a"), part(F.col("comp")).alias("_part")), "a"))

        def run_part(left: pa.Table, right: pa.Table) -> pa.Table:
            out = part_rings(left.drop_columns(["_part"]), right.drop_columns(["_part"]), graph, cols, n_unconfirmed)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
            return pa.concat_tables([out, notes_table([("peak", f"{peak:.6f}", None)])])

        notes = (cust.groupBy("_part").cogroup(graph_rows.groupBy("_part"))
                 .applyInArrow(run_part, NOTE_SCHEMA).toArrow())
        laps["parts_s"] = time.perf_counter() - t0 - laps["graph_s"] - laps["night_wait_s"]
        peaks = [float(m) for k, m in zip(notes.column("kind").to_pylist(), notes.column("message").to_pylist())
                 if k == "peak"]

        def accounts_of(wanted):
            return _accounts_of(night, wanted)

        rings, members, communities, stats, state = finish_rings(notes, graph, self.date, n_unconfirmed,
                                                                 accounts_of, self.previous)
        laps["rings_s"] = time.perf_counter() - t0 - sum(laps.values())
        stats["communities"].update({"parts": n_parts, "customers": int(n_customers)})
        stats.update({"identifiers": g.id_stats, "graph_carry": {"mode": "none", "reason": NO_CARRY},
                      "timings": {k: round(v, 3) for k, v in laps.items()}})
        log.info("spark: rings of %d parts (%d customers) in %.1f s", n_parts, n_customers,
                 time.perf_counter() - t0)
        result = RingsResult(rings, members, communities, g.warnings, stats, state, None)
        return result, time.perf_counter() - t0, max(peaks, default=0.0)

    def _graph(self, folder: str) -> _Graph:
        """Steps 1-2: the identifiers' one scan (problems and unknown kinds refused here), the
        customer edges, the shared values and the components, saved to the work folder; empty
        frames without an identifiers table."""
        from pyspark.sql import functions as F

        spark, eng, graph = self.engine.spark, self.engine, self.graph
        if "identifiers" not in eng.tables:
            links = spark.createDataFrame([], "customer_id string, kind string, value string")
            first = spark.createDataFrame([], "customer_id string, first_seen long")
            return _Graph(first.select("customer_id"), first,
                          spark.createDataFrame([], "lo string, hi string, w double"), links,
                          spark.createDataFrame([], "id string, comp string"), [], {})
        t = eng.tables["identifiers"]
        rows = _saved(spark, identifier_rows(t, graph, self.date), f"{folder}/ident")
        notes = rows.where(F.col("t") >= PROBLEM).select("t", "value").toArrow()
        kinds, msgs = notes.column("t").to_pylist(), notes.column("value").to_pylist()
        problems = [m for k, m in zip(kinds, msgs) if k == PROBLEM]
        if problems:
            raise DataError(f"DATA folder {eng.data}", merge_messages(problems))
        unknown = [m for k, m in zip(kinds, msgs) if k == INPUT]
        if unknown:
            raise InputError("identifiers", merge_messages(unknown))
        id_stats: dict[str, int] = {}
        for k, m in zip(kinds, msgs):
            if k == STATS:
                for key, val in json.loads(m).items():
                    id_stats[key] = id_stats.get(key, 0) + int(val)
        warnings = merge_messages([m for k, m in zip(kinds, msgs) if k == WARNING])
        links = rows.where(F.col("t") == LINK).select("customer_id", "kind", "value", "fp")
        seen = _saved(spark, rows.where(F.col("t") == FIRST).groupBy("customer_id").agg(
            F.min("ns").alias("first_seen"), F.max("kind").alias("linked")), f"{folder}/first")
        first = seen.select("customer_id", "first_seen")
        linked = seen.where(F.col("linked").isNotNull()).select("customer_id")
        edges, shared = customer_edges(links, graph, eng.buckets or 1, f"{folder}/groups")
        edges = _saved(spark, edges, f"{folder}/edges")
        shared = _saved(spark, shared.select("customer_id", "kind", "value"), f"{folder}/shared")
        return _Graph(linked, first, edges, shared, components(spark, edges, folder), warnings, id_stats)

    def _customers(self, night, g: _Graph):
        """Step 3: the step's customers (the night's, from its `ring_own` rows; the linked ones of
        the identifier scan; the confirmed ones), each with its own features, first day seen,
        component and label."""
        from pyspark.sql import functions as F

        spark, cols = self.engine.spark, self.own_columns
        own = night.where(F.col("kind") == "ring_own").select("blob").mapInArrow(
            _unpack(["customer_id", *cols], [pa.string()] + [pa.float64()] * len(cols)),
            "customer_id string, " + ", ".join(f"`{c}` double" for c in cols))
        confirmed = spark.createDataFrame([(c, True) for c in self.confirmed], "customer_id string, confirmed boolean")
        ids = (own.select("customer_id").unionByName(g.linked)
               .unionByName(confirmed.select("customer_id")).distinct())
        return (ids.join(own, "customer_id", "left").join(g.first, "customer_id", "left")
                .join(g.comps.withColumnRenamed("id", "customer_id"), "customer_id", "left")
                .join(F.broadcast(confirmed), "customer_id", "left")
                .withColumn("confirmed", F.coalesce(F.col("confirmed"), F.lit(False))))


class _Graph(NamedTuple):
    """The graph phase's frames (`RingJob._graph`) and the identifiers' warnings and counts."""
    linked: Any
    first: Any
    edges: Any
    shared: Any
    comps: Any
    warnings: list[str]
    id_stats: dict[str, int]


def _saved(spark, frame, path: str):
    frame.write.mode("overwrite").parquet(path)
    return spark.read.parquet(path)


def _unpack(names: list[str], types: list[pa.DataType]):
    """mapInArrow: the rows of each blob, with `names` cast to `types`."""
    def unpack(batches):
        for batch in batches:
            for blob in batch.column(0):
                t = from_blob(blob.as_py())
                t = pa.table([t.column(n).cast(ty) for n, ty in zip(names, types)], names=names)
                yield from t.to_batches()
    return unpack


def _accounts_of(night, wanted) -> tuple[list[str], list[str]]:
    """(account ids, customer ids) of the known accounts of the customers `wanted`, from the
    night buckets' `ring_accounts` rows (a Spark job over the persisted night output)."""
    from pyspark.sql import functions as F

    if len(wanted) == 0:
        return [], []
    value_set = pa.array([str(x) for x in wanted], pa.string())

    def pick(batches):
        for batch in batches:
            for blob in batch.column(0):
                t = from_blob(blob.as_py())
                col = t.column("customer_id")
                t = t.filter(pc.is_in(col, value_set=value_set.cast(col.type)))
                if t.num_rows:
                    yield from pa.table([t.column(c).cast(pa.string()) for c in ("account_id", "customer_id")],
                                        names=["account_id", "customer_id"]).to_batches()

    got = (night.where(F.col("kind") == "ring_accounts").select("blob")
           .mapInArrow(pick, "account_id string, customer_id string").toArrow())
    return got.column("account_id").to_pylist(), got.column("customer_id").to_pylist()
