"""The customer-identifier graph, projected to a weighted customer-customer graph.

Pure steps: `clean_identifiers` (what is usable on the snapshot date) and `link_customers`
(who is linked to whom, and how strongly).

Weights. A value (kind, value) held by n distinct customers, 2 <= n <= hub_max_customers,
links them; n > hub_max_customers links nobody (a call-centre phone, an office address); n = 1
links nobody either (a customer linked only to itself). Every member receives a total link
strength of `kinds[kind]` from the value, spread evenly over the others (Newman's
collaboration weighting of a bipartite projection): each pair of a clique weighs
`kinds[kind] / (n - 1)`, so a phone shared by two customers weighs 1.0 per pair and one
shared by fifty weighs 0.02 per pair. Pairs linked by several values add up.

Projection without quadratic blow-up. A value with n <= CLIQUE_MAX_DEGREE + 1 members becomes
a clique (at most 136 pairs); a larger one (only when hubs are allowed to be large) becomes a
circulant graph: members in customer-id order, each linked to the CIRCULANT_HALF_DEGREE next
ones around the circle, each pair weighing `kinds[kind] / (2 * CIRCULANT_HALF_DEGREE)` so
every member keeps the strength `kinds[kind]`. The circulant is connected, symmetric (no member
is a centre, unlike a star, which would make one arbitrary member a hub) and has n * 8 pairs,
so the number of pairs is at most 8 per identifier row whatever the value sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.config.graph import GraphConfig
from collections_engine.errors import InputError
from collections_engine.rings.codes import encode

__all__ = [
    "CLIQUE_MAX_DEGREE", "CIRCULANT_HALF_DEGREE", "CustomerGraph",
    "clean_identifiers", "link_customers",
]

CLIQUE_MAX_DEGREE = 16
CIRCULANT_HALF_DEGREE = CLIQUE_MAX_DEGREE // 2


@dataclass(frozen=True)
class CustomerGraph:
    """Linked customers (node i is `customers[i]`, sorted) and weighted undirected edges u < v.

    `shared` holds one row per (node, kind, value group) of every linking value, for evidence.
    """

    customers: np.ndarray
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    shared: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)
    codes: np.ndarray = field(default_factory=lambda: np.array([], np.int64))  # customer codes

    @property
    def n_nodes(self) -> int:
        return len(self.customers)


def clean_identifiers(
    identifiers: pd.DataFrame | None, graph: GraphConfig, date: pd.Timestamp
) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    """The identifier rows usable on `date`: (customer_id, kind, value), one row each.

    Drops rows with an empty customer or value and rows first seen after `date` (a missing
    `first_seen` counts as known); duplicates are dropped (and counted) by `link_customers`. Unknown kinds: ignored with a warning, or an
    InputError naming every unknown kind and its first row numbers (`unknown_kinds: error`).
    Returns the rows, the warnings and counts of what was dropped.
    """
    cols = ["customer_id", "kind", "value"]
    if identifiers is None or len(identifiers) == 0:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in cols}), [], {"rows": 0}
    df = identifiers
    warnings: list[str] = []
    stats = {"rows": len(df)}

    kind = df["kind"].astype("str").str.strip()
    known = kind.isin(list(graph.kinds))
    if not known.all():
        bad = pd.DataFrame({"kind": kind[~known].to_numpy(), "row": np.flatnonzero(~known.to_numpy()) + 1})
        problems = []
        for k, rows in bad.groupby("kind", sort=True)["row"]:
            first = ", ".join(str(r) for r in rows.head(5))
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            problems.append(
                f"identifiers.kind: unknown kind {k!r} in {len(rows)} row(s) (rows {first}{more}); "
                f"expected one of the graph file's kinds: {', '.join(sorted(graph.kinds))}"
            )
        if graph.unknown_kinds == "error":
            raise InputError("identifiers", problems)
        warnings += [p + "; ignored" for p in problems]
    stats["unknown_kind"] = int((~known).sum())

    value = df["value"].astype("str")
    cust = df["customer_id"].astype("str")
    empty = value.isna() | (value.str.strip() == "") | cust.isna() | (cust.str.strip() == "")
    stats["empty"] = int((empty & known).sum())
    if stats["empty"]:
        warnings.append(f"identifiers: {stats['empty']} row(s) with an empty value or customer_id ignored")
    keep = known & ~empty
    if "first_seen" in df.columns:
        first_seen = pd.to_datetime(df["first_seen"])
        late = first_seen.notna() & (first_seen > pd.Timestamp(date))
        stats["not_yet_seen"] = int((late & keep).sum())
        keep &= ~late
    out = pd.DataFrame({"customer_id": cust[keep], "kind": kind[keep], "value": value[keep]})
    out = out.reset_index(drop=True)
    stats["used"] = len(out)
    return out, warnings, stats


def link_customers(
    clean: pd.DataFrame, graph: GraphConfig, *,
    customer_codes: np.ndarray | None = None, customer_ids: np.ndarray | None = None,
) -> CustomerGraph:
    """Project clean identifier rows to the weighted customer-customer graph (see module doc).

    `customer_codes` (one per row, into the sorted `customer_ids`) may be given when the caller
    has already encoded customers; otherwise they are computed here.
    """
    empty_shared = pd.DataFrame({"node": np.array([], np.int64), "kind": pd.Series([], dtype="str"),
                                 "group": np.array([], np.int64)})
    if len(clean) == 0:
        return CustomerGraph(np.array([], dtype=object), np.array([], np.int64), np.array([], np.int64),
                             np.array([], np.float64), empty_shared,
                             {"edges": 0, "hub_values": 0, "duplicates": 0}, np.array([], np.int64))
    if customer_codes is None or customer_ids is None:
        (customer_codes,), customer_ids = encode(clean["customer_id"])
    kind_codes, kinds = pd.factorize(clean["kind"], sort=True)
    # Values are grouped by their dictionary code: the numbering depends on row order, the
    # groups do not, and nothing below depends on the numbering (see the sum at the end).
    (vcode,), _ = encode(clean["value"], sort=False)
    order = np.lexsort((customer_codes, vcode, kind_codes))
    k, h, c = kind_codes[order], vcode[order], np.asarray(customer_codes, np.int64)[order]
    new_group = np.ones(len(k), bool)
    new_group[1:] = (k[1:] != k[:-1]) | (h[1:] != h[:-1])
    dup = np.zeros(len(k), bool)
    dup[1:] = ~new_group[1:] & (c[1:] == c[:-1])
    n_dup = int(dup.sum())
    k, c, new_group = k[~dup], c[~dup], new_group[~dup]
    group = np.cumsum(new_group) - 1
    sizes = np.bincount(group)
    n = sizes[group]
    hub = sizes > graph.hub_max_customers
    linking = (n >= 2) & (n <= graph.hub_max_customers)
    k, c, group, n = k[linking], c[linking], group[linking], n[linking]
    # Renumber linking groups densely and find each row's position within its group.
    group = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1 if len(group) else group
    idx = np.arange(len(group))
    start = np.zeros(len(group), np.int64)
    if len(group):
        first = np.ones(len(group), bool)
        first[1:] = group[1:] != group[:-1]
        start = np.maximum.accumulate(np.where(first, idx, 0))
    pos = idx - start
    kind_w = np.array([graph.kinds[x] for x in kinds], np.float64)[k]

    us, vs, ws = [], [], []
    clique = n <= CLIQUE_MAX_DEGREE + 1
    for d in range(1, CLIQUE_MAX_DEGREE + 1):
        sel = np.flatnonzero(clique & (pos + d < n))
        us.append(c[sel]); vs.append(c[sel + d]); ws.append(kind_w[sel] / (n[sel] - 1))
        if d <= CIRCULANT_HALF_DEGREE:
            sel = np.flatnonzero(~clique)
            partner = start[sel] + (pos[sel] + d) % n[sel]
            us.append(c[sel]); vs.append(c[partner])
            ws.append(kind_w[sel] / (2 * CIRCULANT_HALF_DEGREE))
    a, b, wt = np.concatenate(us), np.concatenate(vs), np.concatenate(ws)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    # Re-index nodes to linked customers only (ascending customer code = sorted ids).
    nodes = np.unique(c)
    remap = np.full(int(c.max()) + 1 if len(c) else 0, -1, np.int64)
    remap[nodes] = np.arange(len(nodes))
    lo, hi = remap[lo], remap[hi]
    nn = np.int64(max(len(nodes), 1))
    key = lo * nn + hi
    # Sum each pair's weights in a fixed order (by key, then weight): the same bits whatever
    # the input row order.
    o = np.lexsort((wt, key))
    key, wt = key[o], wt[o]
    keys, first_ix = np.unique(key, return_index=True)
    w = np.add.reduceat(wt, first_ix) if len(wt) else wt
    shared = pd.DataFrame({"node": remap[c], "kind": pd.array(np.asarray(kinds, dtype=object)[k], dtype="str"),
                           "group": group.astype(np.int64)})
    stats = {"edges": int(len(keys)), "hub_values": int(hub.sum()),
             "hub_rows": int(sizes[hub].sum()), "linking_values": int(group.max() + 1 if len(group) else 0),
             "linked_customers": int(len(nodes)), "duplicates": n_dup}
    return CustomerGraph(np.asarray(customer_ids, dtype=object)[nodes], keys // nn, keys % nn, w,
                         shared, stats, nodes)
