"""The ring graph as Spark jobs: identifier links, connected components, and each component's
communities computed where it lives.

1. `identifier_rows`: each scan batch of the identifiers typed by the loader's code and kept or
   dropped by `rings.graph.usable_rows` (kinds of the graph file, no blank value or customer,
   known on the date): rows (customer_id, kind, value), with each customer's first day seen and
   the table's problems, warnings and counts (`usable_links`: the rows alone).
2. `customer_edges`: value groups -> customer pairs, as `rings.graph.link_codes` projects them:
   a (kind, value) held by n distinct customers, 2 <= n <= hub_max_customers, links them; up to
   CLIQUE_MAX_DEGREE + 1 members as a clique (each pair kinds[kind] / (n - 1)), larger as a
   circulant (each member to the CIRCULANT_HALF_DEGREE next ones in customer-id order, each
   pair kinds[kind] / (2 * CIRCULANT_HALF_DEGREE)). A pair's weights from several values are
   summed in the worker by numpy in the order link_codes sums them (by weight, `np.add.reduceat`),
   so each weight is the in-process one to the bit.
3. `components`: connected components by contraction to the smallest neighbour (each round:
   every node points to its smallest smaller neighbour, pointers followed to their ends by
   pointer doubling, edges rewritten between the ends), each table written to parquet and read
   back; random graphs settle in a handful of rounds.
4. `component_states`: the communities alone, per part of whole components (`rings.per_component`),
   the parts' ring states merged on the driver. The night's ring job (`spark.ring_job`) deals
   every customer to parts the same way and runs the communities, the propensity and the
   members' rows together per part (`spark.ring_parts`).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.config.graph import GraphConfig
from collections_engine.rings.graph import CIRCULANT_HALF_DEGREE, CLIQUE_MAX_DEGREE

log = logging.getLogger("collections_engine")

__all__ = ["NODES_PER_PART", "usable_links", "customer_edges", "value_group_pairs", "value_key", "components",
           "component_states", "work_folder"]

# Customers of large components per part: a part's graph, Leiden and state are a few hundred
# megabytes in a Python worker at this size (the 1M book: 1.3M linked customers, 3 parts).
NODES_PER_PART = 500_000

# Edges left after a round of `components` at most this many: one task finishes (a few tens of
# megabytes of ids; the 1M book's graph has millions of edges before the first round).
LOCAL_FINISH_EDGES = 2_000_000

LINK_SCHEMA = "customer_id string, kind string, value string"
EDGE_SCHEMA = "lo string, hi string, w double"


# The identifier scan's rows (`identifier_rows`): t = LINK (a usable row: customer_id, kind,
# value, fp: `value_key`), FIRST (one per customer of a scan batch with a usable row or a
# first_seen known on the date: the earliest such first_seen in ns, null: none; kind "u": the
# customer has a usable row in the batch), and
# notes: PROBLEM, WARNING, STATS (JSON counts), INPUT (an InputError's problems) in `value`.
LINK, FIRST, PROBLEM, WARNING, STATS, INPUT = range(6)
NO_DAY = np.iinfo(np.int64).max
IDENT_SCHEMA = "t int, customer_id string, kind string, value string, ns long, fp long"


def identifier_rows(table, graph: GraphConfig, date: pd.Timestamp):
    """One scan of the identifiers (`table`: a `spark.tables.SparkTable`) for the whole ring step: each batch typed by the loader's
    code (`typed_table`: its problems), kept or dropped by `rings.graph.usable_rows` (its
    warnings and counts), and each customer's earliest `first_seen` known on the date (what
    `graph_phase` reads as first seen: rows dated on or before the date, usable or not)."""
    import json

    from collections_engine.codes import to_arrow
    from collections_engine.errors import InputError
    from collections_engine.rings.graph import usable_rows
    from collections_engine.spark.partition import typed_table

    date = pd.Timestamp(date)
    all_kinds = sorted(graph.kinds)
    label, nanos = table.label, table.nanos

    def notes(t: int, messages: list[str]) -> pa.RecordBatch:
        k = len(messages)
        return pa.RecordBatch.from_pydict({
            "t": pa.array([t] * k, pa.int32()), "customer_id": pa.nulls(k, pa.string()),
            "kind": pa.nulls(k, pa.string()), "value": pa.array(messages, pa.string()), "ns": pa.nulls(k, pa.int64()),
            "fp": pa.nulls(k, pa.int64())})

    def scan(batches):
        for batch in batches:
            t = pa.Table.from_batches([batch]).drop_columns([c for c in ("_f", "_r") if c in batch.schema.names])
            if t.num_rows == 0:
                continue
            df, problems, _ = typed_table("identifiers", t, label, nanos)
            if problems:
                yield notes(PROBLEM, problems)
            try:  # (a table with problems fails the night: its links are never used)
                rows, kind_codes, kinds, warnings, stats = usable_rows(df, graph, date)
            except InputError as exc:  # unknown kinds with `unknown_kinds: error`
                yield notes(INPUT, [str(p) for p in exc.problems])
                continue
            yield notes(STATS, [json.dumps(stats)])
            if warnings:
                yield notes(WARNING, warnings)
            cust = to_arrow(df["customer_id"])  # as astype("str") reads it, no Python string per row
            known = np.zeros(len(df), bool)
            ns = np.full(len(df), NO_DAY, np.int64)
            if "first_seen" in df.columns:
                seen = df["first_seen"].to_numpy("datetime64[ns]")
                known = ~np.isnat(seen) & (seen <= date.to_datetime64()) & df["customer_id"].notna().to_numpy()
                ns[known] = seen[known].view(np.int64)
            sel = np.flatnonzero(known | rows)
            if len(sel):  # the batch's customers: first day known on the date, and whether linked
                g = pa.table({"c": cust.take(pa.array(sel)), "ns": pa.array(ns[sel]), "u": pa.array(rows[sel])}) \
                    .group_by("c", use_threads=False).aggregate([("ns", "min"), ("u", "max")])
                k = g.num_rows
                first_ns = g.column("ns_min").to_numpy()
                yield pa.RecordBatch.from_pydict({
                    "t": pa.array(np.full(k, FIRST, np.int32)),
                    "customer_id": g.column("c").combine_chunks().cast(pa.string()),
                    "kind": pc.if_else(g.column("u_max").combine_chunks(), "u", pa.scalar(None, pa.string())),
                    "value": pa.nulls(k, pa.string()),
                    "ns": pa.array(first_ns, pa.int64(), mask=first_ns == NO_DAY), "fp": pa.nulls(k, pa.int64())})
            global_kind = np.array([all_kinds.index(k) for k in kinds] + [-1], np.int64)
            at = np.flatnonzero(rows)
            if len(at) == 0:
                continue
            take = pa.array(at)
            values = to_arrow(df["value"]).take(take).combine_chunks().cast(pa.string())
            yield pa.RecordBatch.from_pydict({
                "t": pa.array(np.full(len(at), LINK, np.int32)),
                "customer_id": cust.take(take).combine_chunks().cast(pa.string()),
                "kind": pa.array(kinds, pa.string()).take(pa.array(kind_codes[at])),
                "value": values, "ns": pa.nulls(len(at), pa.int64()),
                "fp": pa.array(value_key(values, global_kind[kind_codes[at]]).view(np.int64), pa.int64())})

    return table.map_in_arrow(scan, IDENT_SCHEMA)


def usable_links(table, graph: GraphConfig, date: pd.Timestamp):
    """DataFrame (customer_id, kind, value, fp: `value_key`) of the identifier rows `usable_rows` keeps."""
    from pyspark.sql import functions as F

    rows = identifier_rows(table, graph, date)
    return rows.where(F.col("t") == LINK).select("customer_id", "kind", "value", "fp")


def value_key(values: pa.Array, kind: np.ndarray) -> np.ndarray:
    """A 64-bit key per row of (kind, value): `rings.codes.fingerprints` of the value plus the
    kind's index in the graph file's sorted kinds times a large odd constant (`value_groups`'
    key). Equal (kind, value) always get equal keys; the shuffle and the count of repeated keys
    read only it, the exact grouping is done on the strings (`value_group_pairs`)."""
    from collections_engine.rings.codes import fingerprints

    key = fingerprints(values)
    key += kind.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return key


PAIR, LINKING = 0, 1
GROUP_SCHEMA = "t int, a string, b string, v string, w double, n long"


def customer_edges(links, graph: GraphConfig, parts: int, folder: str | None = None):
    """(edges (lo, hi, w): one row per linked pair, lo < hi; linking rows (customer_id, kind,
    value, n) after duplicates are dropped): DataFrames.

    `links`: usable rows (customer_id, kind, value, fp: `value_key`). Only rows whose key
    repeats can link anyone: the keys are counted (a shuffle of longs), the rows of repeated
    keys kept by a broadcast semi-join (about a sixth of the rows on the generated books), and
    dealt to `parts` partitions by their key, so each (kind, value) is whole in one partition.
    There `value_group_pairs` groups them exactly and projects the pairs with the in-process
    code (`rings.graph._group_pairs`); a pair's weights from several values are then summed
    per pair (`_sum_pairs`, a second shuffle by the pair). The group rows are saved under
    `folder` (parquet) when given, else persisted: both outputs read them."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    repeated = links.groupBy("fp").count().where(F.col("count") >= 2).select("fp")
    cand = links.join(F.broadcast(repeated), "fp", "left_semi")
    p = max(parts, 1)
    cand = cand.withColumn("_p", F.pmod(F.col("fp"), F.lit(p)).cast("int")).select(
        "_p", "customer_id", "kind", "value")
    kinds = sorted(graph.kinds)
    weights = [float(graph.kinds[k]) for k in kinds]
    hub_max = graph.hub_max_customers

    def run(t: pa.Table) -> pa.Table:
        return value_group_pairs(t, kinds, weights, hub_max)

    groups = cand.groupBy("_p").applyInArrow(run, GROUP_SCHEMA)
    if folder is not None:
        groups = _saved(groups.sparkSession, groups, folder)
    else:
        groups = groups.persist(StorageLevel.MEMORY_AND_DISK)
    pairs = groups.where(F.col("t") == PAIR).select(F.col("a").alias("lo"), F.col("b").alias("hi"), "w")
    pairs = pairs.withColumn("_p", F.pmod(F.xxhash64("lo", "hi"), F.lit(p)).cast("int"))
    edges = pairs.groupBy("_p").applyInArrow(_sum_pairs, EDGE_SCHEMA)
    shared = groups.where(F.col("t") == LINKING).select(
        F.col("a").alias("customer_id"), F.col("b").alias("kind"), F.col("v").alias("value"), "n")
    return edges, shared


def value_group_pairs(t: pa.Table, kinds: list[str], weights: list[float], hub_max: int) -> pa.Table:
    """One partition's rows (customer_id, kind, value), every (kind, value) whole in it: the
    linking groups as `rings.graph.sorted_linking_groups` makes them (sorted by kind, value and
    customer id, repeats of a customer dropped, n distinct customers, 2 <= n <= hub_max), their
    pairs by `rings.graph._group_pairs` (the in-process code: the same pairs and weights), as
    rows t = PAIR (a < b customer ids, w) and t = LINKING (a customer, b kind, v value, n)."""
    from collections_engine.codes import encode_arrow
    from collections_engine.rings.graph import _group_pairs, sorted_linking_groups

    empty = pa.table({"t": pa.array([], pa.int32()), "a": pa.array([], pa.string()), "b": pa.array([], pa.string()),
                      "v": pa.array([], pa.string()), "w": pa.array([], pa.float64()), "n": pa.array([], pa.int64())})
    if t.num_rows == 0:
        return empty
    k = pc.index_in(t.column("kind"), value_set=pa.array(kinds, t.column("kind").type)).to_numpy(
        zero_copy_only=False).astype(np.int64)
    (c,), cids = encode_arrow(t.column("customer_id"), sort=True)  # codes in customer-id order
    (h,), _ = encode_arrow(t.column("value"), sort=False)
    c, h = c.astype(np.int64), h.astype(np.int64)
    order = np.lexsort((c, h, k))
    lg, rows = sorted_linking_groups(k[order], h[order], c[order], hub_max)
    order, k, c, n = order[rows], lg.k, lg.c, lg.n
    if len(lg.group) == 0:
        return empty
    a, b, w = _group_pairs(c, lg.group, n, np.asarray(weights, np.float64)[k])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    m, r = len(lo), len(c)
    return pa.table({
        "t": pa.array(np.r_[np.full(m, PAIR, np.int32), np.full(r, LINKING, np.int32)]),
        "a": cids.take(pa.array(np.r_[lo, c])).cast(pa.string()),
        "b": pa.concat_arrays([cids.take(pa.array(hi)).cast(pa.string()),
                               pa.array(kinds, pa.string()).take(pa.array(k))]),
        "v": pa.concat_arrays([pa.nulls(m, pa.string()), t.column("value").take(pa.array(order)).combine_chunks()
                               .cast(pa.string())]),
        "w": pa.concat_arrays([pa.array(w, pa.float64()), pa.nulls(r, pa.float64())]),
        "n": pa.concat_arrays([pa.nulls(m, pa.int64()), pa.array(n, pa.int64())]),
    })


def _sum_pairs(t: pa.Table) -> pa.Table:
    """One row per pair, its weights added in increasing order by `np.add.reduceat` (what
    `link_codes` does on the whole graph: the same bits). Pairs sorted by their ids' codes in
    sorted order (`codes.encode_arrow`), not as Python strings."""
    from collections_engine.codes import encode_arrow

    w = t.column("w").to_numpy()
    if len(w) == 0:
        return pa.table({"lo": pa.array([], pa.string()), "hi": pa.array([], pa.string()),
                         "w": pa.array([], pa.float64())})
    (lo, hi), ids = encode_arrow(t.column("lo"), t.column("hi"), sort=True)
    order = np.lexsort((w, hi, lo))
    lo, hi, w = lo[order], hi[order], w[order]
    first = np.flatnonzero(np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])])
    return pa.table({"lo": ids.take(pa.array(lo[first])).cast(pa.string()),
                     "hi": ids.take(pa.array(hi[first])).cast(pa.string()),
                     "w": pa.array(np.add.reduceat(w, first), pa.float64())})


def components(spark, edges, folder: str, max_rounds: int = 64, local_edges: int = LOCAL_FINISH_EDGES):
    """DataFrame (id, comp): each linked customer's component, labelled by a customer id of it
    (every node of a component ends with the same label). RuntimeError after `max_rounds`.

    Contraction by smallest neighbour: each round, every node of the (contracted) graph points
    to its smallest neighbour when that is smaller than itself, the pointers are followed to
    their end by pointer doubling (a few self-joins of the pointer table), every customer's
    label moves to where its label points, and the edges are rewritten between the ends of the
    pointers (self-loops and repeats dropped). Nodes that point nowhere (local minima) are all
    that is left of the graph, so it shrinks every round until no edge is left: a path of any
    length with ids in order goes in one round.

    The later rounds move a few nodes each and cost a Spark job apiece: once a round leaves at
    most `local_edges` edges (a few tens of megabytes), one task finishes the contraction
    (`_smallest_ends`: each remaining node to its component's smallest id, by the in-process
    connected components). Labels are the same either way: every node of a component ends
    labelled by the component's smallest customer id (it has no smaller neighbour, so it never
    moves, and it is the one node left).

    Each table is written to `folder` (parquet) and read back: the next step starts from files,
    not from the previous steps' plan. (Spark's own checkpoints keep the original plan for size
    estimates, and the estimate of a self-joined plan squares every round: after a dozen rounds
    the planner alone ran for minutes.)"""
    from pyspark.sql import functions as F

    cur = _saved(spark, edges.select(F.col("lo").alias("a"), F.col("hi").alias("b")), f"{folder}/e_0")
    nodes = cur.select(F.col("a").alias("id")).unionByName(cur.select(F.col("b").alias("id"))).distinct()
    labels = _saved(spark, nodes.withColumn("comp", F.col("id")), f"{folder}/labels_0")
    for i in range(1, max_rounds + 1):
        ptr = _saved(spark, cur.groupBy(F.col("b").alias("id")).agg(F.min("a").alias("to")), f"{folder}/p_{i}_0")
        for j in range(1, 64):  # pointer doubling: to := to's to, until no pointer moves
            # whether a pointer moved is written with it: the check reads that column of the
            # saved table (no second join with the previous pointers)
            nxt = ptr.alias("x").join(ptr.alias("y"), F.col("x.to") == F.col("y.id"), "left").select(
                F.col("x.id").alias("id"), F.coalesce(F.col("y.to"), F.col("x.to")).alias("to"),
                (F.col("y.to").isNotNull() & (F.col("y.to") != F.col("x.to"))).alias("moved"))
            saved = _saved(spark, nxt, f"{folder}/p_{i}_{j}")
            ptr = saved.select("id", "to")
            if saved.where(F.col("moved")).limit(1).count() == 0:
                break
        labels = _saved(spark, _moved(labels, ptr), f"{folder}/labels_{i}")
        ends = ptr.select(F.col("id").alias("n"), "to")
        moved_a = cur.join(ends.withColumnRenamed("n", "a"), "a", "left").select(
            F.coalesce(F.col("to"), F.col("a")).alias("a"), "b")
        moved_b = moved_a.join(ends.withColumnRenamed("n", "b"), "b", "left").select(
            "a", F.coalesce(F.col("to"), F.col("b")).alias("b"))
        cur = _saved(spark, moved_b.where(F.col("a") != F.col("b")).select(
            F.least("a", "b").alias("a"), F.greatest("a", "b").alias("b")).distinct(), f"{folder}/e_{i}")
        left = cur.count()
        if left == 0:
            log.info("spark: connected components settled in %d rounds", i)
            return labels
        if left <= local_edges:  # the rest in one task: each node to its component's smallest id
            ends = _saved(spark, cur.repartition(1).mapInArrow(_smallest_ends, "id string, to string"),
                          f"{folder}/p_local")
            labels = _saved(spark, _moved(labels, ends), f"{folder}/labels_local")
            log.info("spark: connected components settled in %d rounds and one task (%d edges left)", i, left)
            return labels
    raise RuntimeError(f"connected components did not settle in {max_rounds} rounds")


def _moved(labels, ptr):
    """Each customer's label (id, comp) moved to where its label points (ptr: id -> to)."""
    from pyspark.sql import functions as F

    return labels.join(ptr.withColumnRenamed("id", "comp"), "comp", "left").select(
        "id", F.coalesce(F.col("to"), F.col("comp")).alias("comp"))


def _smallest_ends(batches):
    """mapInArrow over all the remaining edges (a, b) in one task: (id, to) for every node whose
    component's smallest id `to` is not itself."""
    from collections_engine.codes import encode_arrow
    from collections_engine.rings.community import components as np_components

    batches = [b for b in batches if b.num_rows]
    if not batches:
        return
    t = pa.Table.from_batches(batches)
    (a, b), ids = encode_arrow(t.column("a"), t.column("b"), sort=True)  # codes in id order
    label = np_components(len(ids), a.astype(np.int64), b.astype(np.int64))
    smallest = np.unique(label, return_index=True)[1][label]  # labels are numbered by smallest node
    moved = pa.array(np.flatnonzero(smallest != np.arange(len(ids))))
    yield pa.RecordBatch.from_pydict({"id": ids.take(moved).cast(pa.string()),
                                      "to": ids.take(pa.array(smallest)).take(moved).cast(pa.string())})


def _saved(spark, frame, path: str):
    frame.write.mode("overwrite").parquet(path)
    return spark.read.parquet(path)


def work_folder(spark) -> tuple[str, bool]:
    """Where the component rounds are written: under Spark's checkpoint folder when one is set
    (`--conf spark.checkpoint.dir=hdfs:///...` on a cluster: executors must see it), else a new
    local temporary folder (local masters). (folder, whether the caller removes it)."""
    import tempfile
    import uuid

    base = spark.sparkContext.getCheckpointDir() or spark.conf.get("spark.checkpoint.dir", None)
    if base:
        return f"{base.rstrip('/')}/collections-engine-components-{uuid.uuid4().hex[:12]}", False
    return tempfile.mkdtemp(prefix="ce-spark-components-"), True


def component_states(spark, edges, comps, graph: GraphConfig, nodes_per_part: int = NODES_PER_PART):
    """The ring state of every component of at least `ring.min_size` customers (pandas, as
    `rings.per_component.merge_states` gives it) and what was done."""
    from pyspark.sql import functions as F

    from collections_engine.rings.per_component import merge_states, part_communities

    sizes = comps.groupBy("comp").agg(F.count(F.lit(1)).alias("size"))
    big = comps.join(sizes.where(F.col("size") >= graph.ring.min_size), "comp").select("id", "comp")
    n_big = big.count()
    n_parts = max(1, math.ceil(n_big / max(nodes_per_part, 1)))
    part_of = big.withColumn("_part", F.pmod(F.xxhash64("comp"), F.lit(n_parts)).cast("int")).select(
        F.col("id").alias("lo"), "_part")
    work = edges.join(part_of, "lo")

    def run(t: pa.Table) -> pa.Table:
        night = part_communities(t.column("lo").to_numpy(zero_copy_only=False),
                                 t.column("hi").to_numpy(zero_copy_only=False), t.column("w").to_numpy(), graph)
        s = night.state
        return pa.table({"customer_id": pa.array(s["customer_id"].astype("str").to_numpy(dtype=object), pa.string()),
                         **{c: pa.array(s[c].to_numpy(np.uint64).view(np.int64), pa.int64())
                            for c in ("component_a", "component_b", "node_hash")},
                         **{c: pa.array(s[c].to_numpy(np.int64), pa.int64()) for c in ("community", "merged", "leiden")},
                         "graph_key": pa.array(s["graph_key"].astype("str").to_numpy(dtype=object), pa.string()),
                         "_part": pa.array(np.full(len(s), t.column("_part")[0].as_py() if t.num_rows else 0,
                                                   np.int32), pa.int32())})

    schema = ("customer_id string, component_a long, component_b long, node_hash long, community long, "
              "merged long, leiden long, graph_key string, _part int")
    out = work.groupBy("_part").applyInArrow(run, schema).toArrow()
    frames = []
    for p in sorted(set(out.column("_part").to_pylist())):
        sel = out.filter(pc.equal(out.column("_part"), p)).drop_columns(["_part"]).to_pandas()
        for c in ("component_a", "component_b", "node_hash"):
            sel[c] = sel[c].to_numpy(np.int64).view(np.uint64)
        frames.append(sel)
    state = merge_states(frames)
    info = {"mode": "full", "reason": "computed per part of whole components on Spark",
            "parts": n_parts, "customers_in_parts": int(n_big)}
    return state, info
