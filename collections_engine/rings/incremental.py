"""Incremental nights: recompute only the parts of the customer graph that changed.

Every part of the community step acts within one connected component of the customer graph:
Leiden's per-component modularity (see `community`), the merge of entangled neighbours, the
split into connected parts, the refinement of large communities, the trim of weak members and
the biconnected cores. So a component whose members and edges (with their weights) are the
same as last night's may keep last night's communities, and only the others need the optimiser.

The state a night leaves for the next (`STATE_FILE` in the run folder, one row per customer of
a component of at least `ring.min_size` members, sorted by customer id):
- `customer_id`;
- `component_a`, `component_b`: a 128-bit hash of the customer's component, in two 64-bit
  lanes, from its members' `node_hash`es (lane a) and a second lane built the same way;
- `node_hash`: a 64-bit hash of the customer's id and its edges (both ends' ids, the weight's
  bits): equal when nothing around the customer changed;
- `community`: the customer's community after every repair (-1: trimmed), numbered by each
  community's smallest customer id;
- `merged`: its community after the merge of entangled neighbours, before the refinement of
  large communities (a union of `leiden` communities, holding whole `community` ones);
- `leiden`: Leiden's own membership before the repairs (what the next night warm-starts from);
- `graph_key`: a hash of the graph file's keys that shape the graph and its communities
  (`kinds`, `hub_max_customers`, `community`, `ring.min_size`) and of the state's layout.

Tonight:
1. A component of at least `min_size` whose hash is among last night's keeps its members'
   communities (carried).
2. A changed component (new members, a new or dropped identifier, a weight that moved because
   a shared value gained a holder) of at most `community.local_above` customers is recomputed
   whole, from scratch: exactly what a full night computes for it, since Leiden runs one call
   per component (`community`). In a larger changed component the customers whose `node_hash`
   changed, or who are new, and their neighbours are the seeds; last night's `merged`
   communities holding a seed, plus the new customers, are recomputed, and the rest of the
   component keeps its communities. On the
   generated books a giant component (employers and addresses) holds a third of the linked
   customers and changes every night; this keeps its recompute to the neighbourhood of the change
   (the dynamic-graph "delta-screening" idea, Zarayeneh and Kalyanaraman 2021).
3. What is recomputed goes through the whole community step (Leiden, merge, split, refine,
   trims, cores; `parallel.community_step`, in forked processes when it is large); in the large
   components' neighbourhoods Leiden starts from last night's membership of those customers
   (python-igraph's `initial_membership`; new customers start alone, a community whose component fell
   apart starts as one part per component) and with each node's weight as in its whole
   component (strength / sqrt(component strength)), so the per-component modularity optimised
   on the part is exactly the whole component's with the rest fixed.
4. Labels are renumbered by smallest customer, as a full run numbers them.

What it guarantees, and what not:
- With no change at all, every component is carried and the communities (so the rings table)
  are the same bytes as the night the state came from (tested). Same inputs and the same state
  give the same bytes.
- A component carried or recomputed whole has exactly the communities a full recompute gives
  it, as long as it was never recomputed around a change (a component above `local_above`, or
  one carried from before the change to one Leiden call per component): with no such component,
  the incremental night is the full recompute's bytes (hypothesis test). In a component
  recomputed around a change, communities next to the recomputed part are not re-optimised (a
  node on the border cannot move into them) and the merge of entangled neighbours sees only
  the part's own links.
  `benchmarks/bench_rings_incremental.py` measures the agreement with a full recompute night
  after night (docs/notes/issue-17.md); where communities are clear (planted rings joined by weak
  links) the flagged rings equal a full recompute's exactly (hypothesis test).
- A missing, unreadable or foreign state (another graph file, another layout), or `run --full`,
  means a full recompute; the reason is logged and recorded in the ring stats and run.json, and
  the fraud step itself is never skipped.
- Louvain has no warm start: changed components are recomputed whole, from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.config.graph import GraphConfig
from collections_engine.codes import to_arrow
from collections_engine.io.hashing import json_sha256
from collections_engine.rings.codes import BLOCK, dense, mix64
from collections_engine.rings.community import by_smallest_node, components
from collections_engine.rings.parallel import StepJob, community_step
from collections_engine.rings.graph import CustomerGraph

__all__ = ["STATE_COLUMNS", "STATE_FILE", "NightCommunities", "check_state", "component_hashes",
           "night_communities", "node_hashes", "state_key"]

STATE_FILE = "ring_state.parquet"
STATE_COLUMNS = ["customer_id", "component_a", "component_b", "node_hash", "community", "merged", "leiden",
                 "graph_key"]
_LAYOUT = "ring-state-3"  # 3: Leiden one call per component (issue 17, session 10)

_P = [np.uint64(x) for x in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                             0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)]


@dataclass
class NightCommunities:
    """Tonight's communities (one label per node of the graph, -1: none), the state for the
    next night, and what was done (`mode` full or incremental, why, components and customers
    recomputed and carried)."""

    labels: np.ndarray
    state: pd.DataFrame
    info: dict[str, object] = field(default_factory=dict)


def state_key(graph: GraphConfig) -> str:
    """Hash of what shapes the graph and its communities, and of the state's layout: a state
    made under other keys is not used (a full recompute instead)."""
    shape = {"layout": _LAYOUT, "kinds": dict(sorted(graph.kinds.items())),
             "hub_max_customers": graph.hub_max_customers,
             # the worker keys change how long the step takes, never its result
             "community": graph.community.model_dump(mode="json", exclude={"workers", "parallel_min_nodes"}),
             "min_size": graph.ring.min_size}
    return json_sha256(shape)[:32]


def check_state(frame: pd.DataFrame | None, graph: GraphConfig) -> tuple[pd.DataFrame | None, str]:
    """The previous night's state if it can be used, else None; and why not (or "")."""
    if frame is None:
        return None, "no ring state from the previous night"
    missing = [c for c in STATE_COLUMNS if c not in frame.columns]
    if missing:
        return None, f"ring state lacks column(s) {', '.join(missing)}"
    try:
        ids = frame["customer_id"]
        ints = {c: frame[c].to_numpy(np.int64) for c in ("community", "merged", "leiden")}
        hashes = {c: frame[c].to_numpy(np.uint64) for c in ("component_a", "component_b", "node_hash")}
        keys = pd.unique(frame["graph_key"].astype("str"))
    except (TypeError, ValueError, OverflowError) as exc:
        return None, f"ring state has a column of the wrong type ({exc})"
    if ids.isna().any() or not ids.is_unique:
        return None, "ring state has missing or repeated customer_id values"
    if len(keys) > 1 or (len(keys) == 1 and keys[0] != state_key(graph)):
        return None, "ring state was made with other graph keys (kinds, hubs, community, min_size)"
    if any((x < -1).any() for x in ints.values()) or (ints["leiden"] < 0).any() or (ints["merged"] < 0).any():
        return None, "ring state has community labels out of range"
    return pd.DataFrame({"customer_id": ids.astype("str").to_numpy(dtype=object), **hashes, **ints}), ""


def node_hashes(customers: np.ndarray, u: np.ndarray, v: np.ndarray,
                w: np.ndarray, id_hash: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit lanes of a hash per node: its customer id and its edges (both ends' ids,
    either way round, and the weight's bits), each mixed, summed (order-free). A node whose
    hash is last night's has the same neighbours with the same weights."""
    n = len(customers)
    # pandas' hash of each id (`id_hash`: the caller's, carried from night to night)
    ha = (pd.util.hash_array(np.asarray(customers, dtype=object)) if id_hash is None else id_hash).astype(np.uint64)
    hb = mix64(ha ^ _P[5])
    wbits = np.ascontiguousarray(w, np.float64).view(np.uint64)
    lanes = []
    for node, (p, q, r) in ((ha, _P[:3]), (hb, _P[3:])):
        total = mix64(node * r)
        for lo in range(0, len(u), BLOCK):  # block by block: the temporaries stay in the cache
            bu, bv = u[lo:lo + BLOCK], v[lo:lo + BLOCK]
            a, b = node[bu], node[bv]
            e = a + b
            e *= p  # symmetric in the two ends
            a ^= b
            a *= q
            e += a
            b = wbits[lo:lo + BLOCK] * r
            e += mix64(b)
            mix64(e)
            np.add.at(total, bu, e)  # wrapping sums: the same whatever the order
            np.add.at(total, bv, e)
        lanes.append(mix64(total))
    return lanes[0], lanes[1]


def component_hashes(na: np.ndarray, nb: np.ndarray, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit lanes of a hash per component (labels `comp` per node) from its nodes' hashes
    (`node_hashes`: ids and edges) and its size: equal components give equal hashes whatever
    the numbering of the nodes."""
    n_comp = int(comp.max()) + 1 if len(comp) else 0
    size = np.bincount(comp, minlength=n_comp).astype(np.uint64)
    lanes = []
    for node, p in ((na, _P[0]), (nb, _P[3])):
        total = size * p
        np.add.at(total, comp, node)
        lanes.append(mix64(total))
    return lanes[0], lanes[1]


def night_communities(cg: CustomerGraph, graph: GraphConfig, state: pd.DataFrame | None,
                      why_full: str = "", id_hash: np.ndarray | None = None) -> NightCommunities:
    """Communities of tonight's graph, recomputing only what differs from the checked `state`
    (`check_state`); `state` None: a full recompute, for `why_full`; `id_hash`: pandas' hash
    of each node's customer id when the caller has it. Phases: what changed
    (`_changes`), what to recompute (`_redo_nodes`), the recompute (`_recompute`), the labels
    and the next state (`_night_labels`)."""
    n, min_size = cg.n_nodes, graph.ring.min_size
    comp = components(n, cg.u, cg.v)
    # a full night: every component from scratch, the step started before the state's hashes
    # (in forked workers when large; components below min_size are left out by the step itself)
    job = StepJob(n, cg.u, cg.v, cg.w, graph.community, min_size, comp=comp) if state is None else None
    try:
        ch = _changes(cg, state, min_size, id_hash, comp)
    except BaseException:
        if job is not None:
            job.stop()
        raise
    local = state is not None and graph.community.method == "leiden"
    redo, whole, affected = _redo_nodes(cg, state, ch, local, graph.community.local_above)
    sub = np.flatnonzero(redo)
    if job is not None:
        labels_sub, raw_sub, merged_sub = (x[sub] for x in job.result())
    else:
        labels_sub, raw_sub, merged_sub = _recompute(cg, graph, state, ch, sub, whole, local)
    kept = np.flatnonzero(ch.in_big & ~redo) if state is not None else np.zeros(0, np.int64)
    out = {}
    for col, fresh in (("community", labels_sub), ("merged", merged_sub), ("leiden", raw_sub)):
        lab = np.full(n, -1, np.int64)
        lab[sub] = fresh
        if len(kept):
            old = state[col].to_numpy(np.int64)[ch.prev_row[kept]]
            lab[kept] = np.where(old >= 0, old + int(fresh.max(initial=-1)) + 1, -1)
        out[col] = by_smallest_node(lab)
    n_changed = int(ch.changed.sum())
    info = {
        "mode": "full" if state is None else "incremental", "reason": why_full if state is None else "",
        "components": int(ch.big.sum()), "components_recomputed": n_changed,
        "components_carried": int(ch.big.sum()) - n_changed, "customers_changed": affected,
        "customers_recomputed": int(len(sub)), "customers_carried": int(len(kept)),
    }
    keep = out["leiden"] >= 0
    out_state = pd.DataFrame({
        "customer_id": pd.array(np.asarray(cg.customers, dtype=object)[keep], dtype="str"),
        "component_a": ch.ca[ch.comp[keep]], "component_b": ch.cb[ch.comp[keep]], "node_hash": ch.na[keep],
        "community": out["community"][keep], "merged": out["merged"][keep], "leiden": out["leiden"][keep],
        "graph_key": pd.Categorical([state_key(graph)] * int(keep.sum())),
    })
    return NightCommunities(out["community"], out_state, info)


@dataclass
class _Changes:
    """Components, their hashes and sizes; which large ones changed; each node's hash and its
    row in last night's state (-1: none)."""

    comp: np.ndarray
    big: np.ndarray
    in_big: np.ndarray
    changed: np.ndarray
    na: np.ndarray
    nb: np.ndarray
    ca: np.ndarray
    cb: np.ndarray
    prev_row: np.ndarray


def _changes(cg: CustomerGraph, state: pd.DataFrame | None, min_size: int,
             id_hash: np.ndarray | None, comp: np.ndarray) -> _Changes:
    n, u, v, w = cg.n_nodes, cg.u, cg.v, cg.w
    big = (np.bincount(comp) if n else np.zeros(0, np.int64)) >= min_size
    na, nb = node_hashes(cg.customers, u, v, w, id_hash) if n else (np.zeros(0, np.uint64),) * 2
    ca, cb = component_hashes(na, nb, comp) if n else (np.zeros(0, np.uint64),) * 2
    in_big = big[comp] if n else np.zeros(0, bool)
    changed = big.copy()
    prev_row = np.full(n, -1, np.int64)
    if state is not None and n:
        prev = state[["component_a", "component_b"]].drop_duplicates()
        hit = pd.DataFrame({"component_a": ca, "component_b": cb}).merge(
            prev.assign(hit=True), how="left", on=["component_a", "component_b"])["hit"]
        changed &= ~hit.fillna(False).to_numpy(bool)
        nodes = np.flatnonzero(in_big)
        prev_row[nodes] = _index_of(cg.customers[nodes], state["customer_id"])
        lost = in_big & ~changed[comp] & (prev_row < 0)  # not for equal hashes; recompute anyway
        changed[comp[lost]] = True
    return _Changes(comp, big, in_big, changed, na, nb, ca, cb, prev_row)


def _index_of(values: np.ndarray, pool: pd.Series) -> np.ndarray:
    """Position of each of `values` (strings) in `pool` (unique strings; -1: absent): Arrow's
    hash look-up, 0.4 s where pandas' `get_indexer` takes 1.9 s on 1.3M object strings."""
    found = pc.index_in(pa.array(np.asarray(values, dtype=object), pa.large_string()),
                        value_set=to_arrow(pool))  # (an Arrow-backed column read as it is)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _redo_nodes(cg: CustomerGraph, state: pd.DataFrame | None, ch: _Changes, local: bool,
                local_above: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The nodes to recompute and, among them, those of components recomputed whole (from
    scratch, as a full night computes them): every node of a changed component, except (Leiden
    with a state) in a changed component of more than `local_above` customers, where only the
    merged communities of last night that hold a node whose edges changed, or a neighbour of
    one, are recomputed (the rest keeps its communities: see the module doc)."""
    n, u, v = cg.n_nodes, cg.u, cg.v
    redo = ch.changed[ch.comp] if n else np.zeros(0, bool)
    if not (local and n):
        return redo, redo.copy(), 0
    whole = redo & (np.bincount(ch.comp)[ch.comp] <= local_above)
    redo = redo & ~whole  # the large changed components: around the change only
    found = redo & (ch.prev_row >= 0)
    hash_of = state["node_hash"].to_numpy(np.uint64)
    touched = redo & ~found
    touched[found] |= hash_of[ch.prev_row[found]] != ch.na[found]
    seed = touched.copy()
    seed[v[touched[u]]] = True
    seed[u[touched[v]]] = True
    merged_of = np.full(n, -1, np.int64)
    merged_of[found] = state["merged"].to_numpy(np.int64)[ch.prev_row[found]]
    hot = np.zeros(int(merged_of.max(initial=0)) + 1, bool)
    hot[merged_of[seed & (merged_of >= 0)]] = True
    part = seed | ((merged_of >= 0) & hot[np.maximum(merged_of, 0)])
    in_whole = np.flatnonzero(whole)
    seen = np.zeros(n, bool)  # the customers of the whole components whose own edges changed
    seen[in_whole[ch.prev_row[in_whole] < 0]] = True
    old = in_whole[ch.prev_row[in_whole] >= 0]
    seen[old[hash_of[ch.prev_row[old]] != ch.na[old]]] = True
    return whole | part, whole, int(touched.sum() + seen.sum())


def _recompute(cg: CustomerGraph, graph: GraphConfig, state: pd.DataFrame | None, ch: _Changes,
               sub: np.ndarray, whole: np.ndarray, local: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole community step (`parallel.community_step`) on the nodes `sub`: those of the
    components recomputed whole (`whole`) from scratch, exactly as a full night; the others (parts
    of large changed components) warm-started from last night's Leiden membership, with each
    node's weight as in its whole component (module doc). Labels over `sub`, any numbering."""
    n, u, v, w = cg.n_nodes, cg.u, cg.v, cg.w
    c, min_size = graph.community, graph.ring.min_size
    out = [np.full(len(sub), -1, np.int64) for _ in range(3)]
    offset = 0
    for fresh in (True, False):
        pick = whole[sub] if fresh else ~whole[sub]
        nodes = sub[pick]
        if len(nodes) == 0:
            continue
        redo = np.zeros(n, bool)
        redo[nodes] = True
        e = redo[u] & redo[v]
        remap = np.full(n, -1, np.int64)
        remap[nodes] = np.arange(len(nodes))
        su, sv, sw = remap[u[e]], remap[v[e]], w[e]
        initial, weights, size_floor = None, None, min_size
        if not fresh:
            start = state["leiden"].to_numpy(np.int64)[np.maximum(ch.prev_row[nodes], 0)]
            initial = np.where(ch.prev_row[nodes] >= 0, start, -2 - np.arange(len(nodes)))  # new customers start alone
            if local:
                # the part keeps the node weights it has in its whole component (module doc of community)
                strength = np.bincount(u, weights=w, minlength=n) + np.bincount(v, weights=w, minlength=n)
                weights = (strength / np.sqrt(np.bincount(ch.comp, weights=strength)[ch.comp]))[nodes]
                size_floor = 1  # a part's small pieces belong to large components
        res = community_step(len(nodes), su, sv, sw, c, size_floor, initial=initial, node_weights=weights)
        for k in range(3):
            out[k][pick] = np.where(res[k] >= 0, res[k] + offset, -1)
        offset += len(nodes)
    return out[0], out[1], out[2]
