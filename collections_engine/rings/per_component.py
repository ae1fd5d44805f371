"""The community step on a part of the customer graph that holds whole components, and the
parts' results put back together: what a distributed engine (`collections_engine.spark`) runs
where each component lives.

Every piece of the community step acts within one connected component (see `incremental`):
Leiden's per-component modularity, the merge of entangled neighbours, the split into connected
parts, the refinement of large communities, the trims and the cores. So the step can run on
any set of whole components, and `part_communities` on a part gives, for those components, what
`incremental.night_communities` gives on the whole graph, with one exception: Leiden draws its
random node order for the graph it is given in one call, so on a part the draws differ from
the whole graph's and a community can come out differently where the optimum is not clear.
A part that is the whole graph gives the same bytes.

`merge_states` joins the parts' ring states (one row per customer of a component of at least
`ring.min_size`, `incremental.STATE_COLUMNS`) into the state of the whole graph, labels
renumbered by each label's smallest customer id as a whole-graph run numbers them. Given to
`detect_rings(..., state=...)`, whose graph has the same components (same members, same
weights: the component hashes say so), every component is carried and the night's rings are
built from these communities; a component whose hash differs is recomputed there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from collections_engine.codes import encode, to_arrow
from collections_engine.config.graph import GraphConfig
from collections_engine.rings.graph import CustomerGraph
from collections_engine.rings.incremental import STATE_COLUMNS, NightCommunities, night_communities

__all__ = ["part_graph", "coded_graph", "part_communities", "graph_communities", "merge_states"]

LABELS = ("community", "merged", "leiden")


def part_graph(lo, hi, w: np.ndarray) -> CustomerGraph:
    """The customer graph of some whole components from its edges by customer id (lo < hi as
    strings, one row per pair, weights already summed): nodes in sorted id order and edges
    sorted by (u, v), as `graph.link_codes` makes the whole graph's. The ids are coded by
    Arrow (`codes.encode`: one hash pass, the dictionary sorted), never sorted as Python
    strings."""
    (u, v), customers = encode(lo, hi, sort=True)
    return coded_graph(customers, u, v, w)


def coded_graph(customers: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> CustomerGraph:
    """`part_graph` from edges already coded: `customers` sorted (every one an endpoint), `u`,
    `v` positions in it."""
    u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
    order = np.lexsort((v, u))
    shared = pd.DataFrame({"node": np.array([], np.int64), "kind": pd.Series([], dtype="str"),
                           "group": np.array([], np.int64)})
    return CustomerGraph(np.asarray(customers, dtype=object), u[order], v[order], np.asarray(w, np.float64)[order],
                         shared, {"edges": int(len(u))}, np.arange(len(customers), dtype=np.int64))


def part_communities(lo, hi, w: np.ndarray, graph: GraphConfig,
                     state: pd.DataFrame | None = None, why_full: str = "") -> NightCommunities:
    """`night_communities` on the part given by its edges (`part_graph`); `state`: the previous
    night's state rows of the part's customers (checked by `incremental.check_state`), or None."""
    return graph_communities(part_graph(lo, hi, w), graph, state, why_full)


def graph_communities(cg: CustomerGraph, graph: GraphConfig, state: pd.DataFrame | None = None,
                      why_full: str = "") -> NightCommunities:
    """`part_communities` on a part's graph already made (`coded_graph`)."""
    return night_communities(cg, graph, state, why_full or "no ring state given")


def merge_states(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The whole graph's ring state from the parts' (each numbered within its part): rows sorted
    by customer id, every label renumbered 0..k-1 by its smallest customer id (-1 kept)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in zip(
            STATE_COLUMNS, ["str", "uint64", "uint64", "uint64", "int64", "int64", "int64", "str"])})
    offsets = np.cumsum([0] + [int(p["leiden"].max()) + 1 + int(p["merged"].max()) + 1
                               + int(p["community"].max()) + 1 for p in parts[:-1]])
    frame = pd.concat([p.assign(**{c: np.where(p[c].to_numpy(np.int64) >= 0,
                                               p[c].to_numpy(np.int64) + off, -1) for c in LABELS})
                       for p, off in zip(parts, offsets)], ignore_index=True)
    # sorted by customer id with Arrow's stable sort (byte order of UTF-8 is the code point order
    # pandas sorts text by); a repeat is then next to its twin
    ids = to_arrow(frame["customer_id"])
    order = pc.sort_indices(ids)
    frame = frame.take(order.to_numpy()).reset_index(drop=True)
    ids = ids.take(order)
    if len(ids) > 1 and pc.any(pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py():
        raise ValueError("merge_states: a customer is in two parts; parts must hold whole components")
    for c in LABELS:
        frame[c] = _by_first_row(frame[c].to_numpy(np.int64))
    frame["graph_key"] = pd.Categorical(frame["graph_key"].astype("str"))
    return frame[STATE_COLUMNS]


def _by_first_row(labels: np.ndarray) -> np.ndarray:
    """Labels (-1: none) renumbered by each label's first row (rows are in customer id order)."""
    inside = np.flatnonzero(labels >= 0)
    out = np.full(len(labels), -1, np.int64)
    if len(inside) == 0:
        return out
    _, first, inv = np.unique(labels[inside], return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    out[inside] = rank[inv.ravel()]
    return out
