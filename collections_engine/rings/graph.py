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

    @property
    def n_nodes(self) -> int:
        return len(self.customers)


def clean_identifiers(
    identifiers: pd.DataFrame | None, graph: GraphConfig, date: pd.Timestamp
) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    """The identifier rows usable on `date`: (customer_id, kind, value), one row each.

    Drops rows with an empty customer or value, rows first seen after `date` (a missing
    `first_seen` counts as known) and duplicates. Unknown kinds: ignored with a warning, or an
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
    n = len(out)
    out = out.drop_duplicates(ignore_index=True)
    stats["duplicates"] = n - len(out)
    stats["used"] = len(out)
    return out, warnings, stats


def link_customers(clean: pd.DataFrame, graph: GraphConfig) -> CustomerGraph:
    """Project clean identifier rows to the weighted customer-customer graph (see module doc)."""
    empty_shared = pd.DataFrame({"node": np.array([], np.int64), "kind": pd.Series([], dtype="str"),
                                 "group": np.array([], np.int64)})
    if len(clean) == 0:
        return CustomerGraph(np.array([], dtype=object), *(np.array([], np.int64),) * 2,
                             np.array([], np.float64), empty_shared, {"edges": 0, "hub_values": 0})
    cust_codes, customers = pd.factorize(clean["customer_id"], sort=True)
    kind_codes, kinds = pd.factorize(clean["kind"], sort=True)
    # Values are grouped by a 64-bit hash (order-free, fast); a collision would need 2**32 values.
    vhash = pd.util.hash_array(clean["value"].to_numpy(dtype=object), categorize=False)
    order = np.lexsort((cust_codes, vhash, kind_codes))
    k, h, c = kind_codes[order], vhash[order], cust_codes[order].astype(np.int64)
    new_group = np.ones(len(k), bool)
    new_group[1:] = (k[1:] != k[:-1]) | (h[1:] != h[:-1])
    dup = np.zeros(len(k), bool)
    dup[1:] = ~new_group[1:] & (c[1:] == c[:-1])
    k, c, new_group = k[~dup], c[~dup], new_group[~dup]
    group = np.cumsum(new_group) - 1
    sizes = np.bincount(group)
    n = sizes[group]
    hub = sizes > graph.hub_max_customers
    linking = (n >= 2) & (n <= graph.hub_max_customers)
    k, c, group, n = k[linking], c[linking], group[linking], n[linking]
    # Renumber linking groups densely (ascending, so deterministic) and find each row's position.
    _, group = np.unique(group, return_inverse=True)
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
    # Re-index nodes to linked customers only.
    linked = np.unique(c)
    remap = np.full(len(customers), -1, np.int64)
    remap[linked] = np.arange(len(linked))
    lo, hi = remap[lo], remap[hi]
    nn = np.int64(len(linked))
    keys, inv = np.unique(lo * nn + hi, return_inverse=True)
    w = np.bincount(inv.ravel(), weights=wt, minlength=len(keys))
    shared = pd.DataFrame({"node": remap[c], "kind": pd.array(np.asarray(kinds)[k], dtype="str"),
                           "group": group.astype(np.int64)})
    stats = {"edges": int(len(keys)), "hub_values": int(hub.sum()),
             "hub_rows": int(sizes[hub].sum()), "linking_values": int(group.max() + 1 if len(group) else 0),
             "linked_customers": int(len(linked))}
    return CustomerGraph(np.asarray(customers, dtype=object)[linked], keys // nn, keys % nn, w,
                         shared, stats)
