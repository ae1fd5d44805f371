"""The ring step per part of whole components, and its end on the driver (docs/notes/issue-22.md).

A part holds whole connected components of the customer graph (or customers without an edge):
its customers' rows (own features from the night's customer buckets, first day seen, confirmed),
its edges and the linking values its customers hold. Everything the in-process ring step
computes for a customer reads only rows inside its component, so a part computes, for its
customers, what `rings.detect` computes on the whole book:

- the communities of its components of at least `ring.min_size` (`per_component.graph_communities`);
- every customer's propensity features (`ring_propensity.part_features`) and its share of the
  fit sample (`part_sample`);
- for the members of communities of at least `ring.min_size` only: their features, first day,
  label and fold hash, and the linking values they hold (what the scores, flags and tables read).

`part_rings` runs in a Spark Python worker (a part's rows only); `finish_rings` on the driver
fits the propensity model on the parts' samples, estimates the members, merges the parts'
ring states into the whole graph's numbering and builds the rings from the members alone
(`rings.detect.rings_of_members`). Plain pandas and numpy: tested without Spark against
`detect_rings` (tests/test_spark_ring_night.py).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.codes import encode_arrow, to_arrow
from collections_engine.config.graph import GraphConfig
from collections_engine.rings.incremental import NightCommunities
from collections_engine.rings.codes import sorted_unique
from collections_engine.rings.per_component import coded_graph, graph_communities, merge_states
from collections_engine.rings.propensity import apply
from collections_engine.spark.partition import blobs_of, from_blob, notes_table, to_blob
from collections_engine.spark.ring_propensity import fit_sample, part_features, part_sample

__all__ = ["EDGE", "SHARED", "ROWS_PER_BLOB", "part_rings", "finish_rings", "state_arrow"]

EDGE, SHARED = 1, 2          # graph rows: t = EDGE (a = lo, b = hi, w) or SHARED (a = customer, b = kind, v = value)
ROWS_PER_BLOB = 100_000      # a part's member rows travel in blobs of at most this many rows
_DAY_NS = 86_400e9
_STATE_INTS = ("component_a", "component_b", "node_hash")


def _col(t: pa.Table, name: str) -> np.ndarray:
    return t.column(name).to_numpy(zero_copy_only=False)


def state_arrow(state: pd.DataFrame) -> pa.Table:
    """A ring state as Arrow (uint64 hashes as int64 bits: Spark has no unsigned type)."""
    return pa.table({"customer_id": pa.array(state["customer_id"].astype("str").to_numpy(dtype=object), pa.string()),
                     **{c: pa.array(state[c].to_numpy(np.uint64).view(np.int64), pa.int64()) for c in _STATE_INTS},
                     **{c: pa.array(state[c].to_numpy(np.int64), pa.int64()) for c in ("community", "merged", "leiden")},
                     "graph_key": pa.array(state["graph_key"].astype("str").to_numpy(dtype=object), pa.string())})


def _blobs(kind: str, frame: pd.DataFrame) -> list[tuple[str, str, bytes]]:
    return _table_blobs(kind, pa.Table.from_pandas(frame, preserve_index=False))


def _positions(values, sorted_ids: pa.Array) -> np.ndarray:
    """Each value's position in `sorted_ids` (unique): every value must be one of them (a part's
    graph rows name its own customers; members are in the state, shared rows are members')."""
    at = pc.index_in(values, value_set=sorted_ids)
    if at.null_count:
        raise ValueError("spark ring parts: a customer id that is not among the ids it must be one of")
    return at.to_numpy().astype(np.int64)


def _table_blobs(kind: str, t: pa.Table) -> list[tuple[str, str, bytes]]:
    return [(kind, "", to_blob(t.slice(lo, ROWS_PER_BLOB))) for lo in range(0, max(t.num_rows, 1), ROWS_PER_BLOB)]


def part_rings(customers: pa.Table, rows: pa.Table, graph: GraphConfig, own_columns: list[str],
               n_unconfirmed: int) -> pa.Table:
    """One part's ring rows (module doc) as notes: `sample`, `members`, `shared` (blobs),
    `state` (the part's ring state) and `info` (what the community step did, JSON).

    `customers`: customer_id, the own feature columns (null: no account known on the date),
    first_seen (int64 ns, null: none), confirmed; `rows`: t, a, b, v, w (EDGE and SHARED rows)."""
    customers = customers.sort_by("customer_id")
    sorted_ids = customers.column("customer_id").combine_chunks()
    ids = np.asarray(sorted_ids.to_numpy(zero_copy_only=False), dtype=object)
    n = len(ids)
    own = pd.DataFrame({c: customers.column(c).to_pandas().astype(float).to_numpy() for c in own_columns})
    rest = [c for c in own_columns if c != "open_day"]
    own[rest] = own[rest].fillna(0.0)
    seen = customers.column("first_seen").to_pandas().astype(float).to_numpy() / _DAY_NS
    confirmed = _col(customers, "confirmed").astype(bool)
    t = _col(rows, "t")
    e, s = pa.array(np.flatnonzero(t == EDGE)), pa.array(np.flatnonzero(t == SHARED))
    # ids to positions in the sorted customers by Arrow's hash lookup (no Python string sorted)
    u, v = _positions(rows.column("a").take(e), sorted_ids), _positions(rows.column("b").take(e), sorted_ids)
    order = np.lexsort((v, u))
    u, v, w = u[order], v[order], _col(rows, "w").astype(float)[e.to_numpy()][order]
    labels = np.full(n, -1, np.int64)
    night = None
    if len(e):
        nodes = sorted_unique(np.concatenate([u, v]))  # the part graph's customers, in id order
        cg = coded_graph(ids[nodes], np.searchsorted(nodes, u), np.searchsorted(nodes, v), w)
        night = graph_communities(cg, graph)
        labels[nodes] = night.labels
    sh_cust = rows.column("a").take(s)
    sh_node = _positions(sh_cust, sorted_ids)
    sh_kind = np.asarray(rows.column("b").take(s).to_numpy(zero_copy_only=False), dtype=object)
    pf = part_features(ids, own, seen, u, v, w, labels, sh_node, sh_kind, list(graph.kinds))
    out: list[tuple[str, str, bytes | None]] = []
    out += _blobs("sample", part_sample(pf, confirmed, n_unconfirmed))
    size = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, np.int64)
    member = np.flatnonzero((labels >= 0) & (size[np.maximum(labels, 0)] >= graph.ring.min_size)
                            if len(size) else np.zeros(n, bool))
    members = pf.features.iloc[member].reset_index(drop=True).assign(
        _id=pf.customer_ids[member], _confirmed=confirmed[member], _first_day=pf.first_day[member],
        _hash=pf.fold_hash[member])
    out += _blobs("members", members)
    mine = np.zeros(n, bool)
    mine[member] = True
    held = pa.array(np.flatnonzero(mine[sh_node]) if len(s) else np.zeros(0, np.int64))
    out += _table_blobs("shared", pa.table({"customer_id": sh_cust.take(held).cast(pa.string()),
                                            "kind": rows.column("b").take(s).take(held).cast(pa.string()),
                                            "value": rows.column("v").take(s).take(held).cast(pa.string())}))
    if night is not None:
        out.append(("state", "", to_blob(state_arrow(night.state))))
        out.append(("info", json.dumps(night.info), None))
    return notes_table(out)


def _arrow(notes: pa.Table, kind: str, sort: str | None = None) -> pa.Table | None:
    """The notes' blobs of `kind` as one table (sorted by the column `sort`, stable), or None."""
    tables = [from_blob(b) for b in blobs_of(notes, kind)]
    if not tables:
        return None
    t = pa.concat_tables(tables)
    return t.sort_by(sort) if sort else t


def _frames(notes: pa.Table, kind: str, sort: str | None = None) -> pd.DataFrame | None:
    t = _arrow(notes, kind, sort)
    return t.to_pandas() if t is not None else None


def _state(notes: pa.Table) -> pd.DataFrame:
    frames = []
    for b in blobs_of(notes, "state"):
        st = from_blob(b).to_pandas()
        for c in _STATE_INTS:
            st[c] = st[c].to_numpy(np.int64).view(np.uint64)
        frames.append(st)
    return merge_states(frames)


def finish_rings(notes: pa.Table, graph: GraphConfig, date: pd.Timestamp, n_unconfirmed: int, accounts_of,
                 previous: pd.DataFrame | None = None):
    """The night's rings from the parts' notes (`part_rings`): (rings, members, communities,
    stats, state). `accounts_of(ids)`: (account ids, customer ids) of the accounts known on the
    date of the customers `ids` (`rings.detect.rings_of_members`)."""
    from collections_engine.rings.detect import rings_of_members

    samples = _frames(notes, "sample")
    model = fit_sample([samples] if samples is not None else [], n_unconfirmed)
    state = _state(notes)
    members = _frames(notes, "members", sort="_id")  # in customer-id order (Arrow's stable sort)
    ids = members["_id"].to_numpy(dtype=object)
    id_arrow = to_arrow(members["_id"])
    # the whole graph's community numbers (`merge_states`: by smallest customer id, as in-process)
    at = _positions(id_arrow, to_arrow(state["customer_id"]).combine_chunks())
    labels = state["community"].to_numpy(np.int64)[at] if len(ids) else np.zeros(0, np.int64)
    feats = members.drop(columns=["_id", "_confirmed", "_first_day", "_hash"])
    est = apply(model, feats, fold_hash=members["_hash"].to_numpy(np.int64))
    shared = _frames(notes, "shared")
    if shared is None or not len(shared):
        shared = pd.DataFrame({"customer_id": pd.Series([], dtype=object), "kind": pd.Series([], dtype=object),
                               "value": pd.Series([], dtype=object)})
    # each (kind, value) numbered by first appearance (what MultiIndex.factorize numbers)
    (kc, vc), values = encode_arrow(shared["kind"], shared["value"], sort=False)
    group = pd.factorize(kc.astype(np.int64) * (len(values) + 1) + vc.astype(np.int64) + 1)[0]
    sh = pd.DataFrame({"node": _positions(to_arrow(shared["customer_id"]), id_arrow.combine_chunks()),
                       "kind": pd.array(shared["kind"].astype(object), dtype="str"), "group": group.astype(np.int64)})
    rings, ring_members, communities, stats = rings_of_members(
        graph, date, customer_ids=ids, labels=labels, features=feats, estimate=est,
        confirmed=members["_confirmed"].to_numpy(bool), first_day=members["_first_day"].to_numpy(float),
        shared=sh, accounts_of=accounts_of, previous=previous, propensity_info=model.info)
    info: dict[str, object] = {}
    for m in notes.filter(pc.equal(notes.column("kind"), "info")).column("message").to_pylist():
        for key, val in json.loads(m).items():
            if isinstance(val, (int, float)) and not isinstance(val, bool):
                info[key] = info.get(key, 0) + val
    stats["communities"] = {"mode": "full", "reason": "computed per part of whole components on Spark", **info}
    return rings, ring_members, communities, stats, state
