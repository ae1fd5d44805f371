"""The core problem every solver path shares, and the counts-only min-cost flow on it.

For free account i and work queue j, the gain g[i, j] = expected net in j minus expected net
not worked (cents). Queues with no side constraint whose capacity covers every eligible account
are never contested: each account's best such option (or not worked) is its fallback fb[i], and
the solvers work on h[i, j] = g[i, j] - fb[i] over the remaining (capacitated) queues: the core.

Here, apart from the solver paths (solve.py, dual.py, exact.py) so that each imports it and
none imports another back: the core's arrays (`Core`, `build_core`), the top-k arc pruning, the
min-cost flow (`counts_flow`), its exact slot values (`flow_shadow`), the side-constraint check
(`violations`) and the min-share rule every plan meets last (`enforce_shares`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from collections_engine.assign.model_data import Problem

__all__ = ["Core", "build_core", "side_constrained_queues", "top_arcs", "counts_flow", "violations",
           "flow_shadow", "enforce_shares"]


def side_constrained_queues(pb: Problem) -> np.ndarray:
    """Queues bound by more than a count: balance caps; every vendor when a min share or
    customer grouping ties the vendors together."""
    side = pb.vendor & (pb.bal >= 0)
    if (pb.min_share > 0).any():
        side |= pb.vendor
    if pb.together.any() and pb.vendor.sum() > 1:
        side |= pb.vendor
    return side


@dataclass
class Core:
    rows: np.ndarray      # free account positions in pb
    h: np.ndarray         # int64 [m, C] gain over fallback
    e: np.ndarray         # bool [m, C] eligible
    cols: np.ndarray      # queue indices of C in pb
    cap: np.ndarray       # int64 [C]
    bal: np.ndarray       # int64 [C]; -1 none
    ms: np.ndarray        # float [C]
    vendor: np.ndarray    # bool [C]
    together: np.ndarray  # bool [C]
    amount: np.ndarray    # int64 [m]
    customer: np.ndarray  # int64 [m]
    fb: np.ndarray        # int64 [m]
    fbq: np.ndarray       # int [m] fallback queue (pb index) or -1
    base: int             # cents: sum of fallback net values


def build_core(pb: Problem) -> Core:
    """The free accounts' gains over their fallback on the contested (capacitated) queues."""
    rows = np.flatnonzero(pb.free)
    g = pb.gain()[rows]
    e = pb.elig[rows] & (pb.cap > 0)[None, :]
    e &= ~((pb.bal == 0)[None, :])
    side = side_constrained_queues(pb)
    uncap = ~side & (pb.cap >= e.sum(axis=0))
    gu = np.where(e & uncap[None, :], g, np.iinfo(np.int64).min // 4)
    best = gu.argmax(axis=1) if len(rows) else np.zeros(0, int)
    bestv = gu[np.arange(len(rows)), best] if len(rows) else np.zeros(0, np.int64)
    use = bestv > 0
    fb = np.where(use, bestv, 0).astype(np.int64)
    fbq = np.where(use, best, -1)
    cols = np.flatnonzero(~uncap & (pb.cap > 0))
    h = g[:, cols] - fb[:, None]
    base = int(pb.nw[rows].sum() + fb.sum())
    return Core(rows, h, e[:, cols], cols, pb.cap[cols], pb.bal[cols], pb.min_share[cols],
                pb.vendor[cols], pb.together[cols], pb.amount[rows], pb.customer[rows], fb, fbq, base)


def top_arcs(c: Core, k: int, positive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Arcs (account, column) among the top k of each column by h (ties: account order).

    With counts only, an account outside the top K = sum of capacities of column j by h[:, j]
    is never needed in j (swap it with a top-K account that is unassigned: the gain does not
    drop)."""
    ai, aj = [], []
    for j in range(c.h.shape[1]):
        m = c.e[:, j] if positive is None else c.e[:, j] & positive[:, j]
        idx = np.flatnonzero(m)
        if len(idx) > k:
            vals = c.h[idx, j]
            order = np.lexsort((idx, -vals))[:k]
            idx = np.sort(idx[order])
        ai.append(idx)
        aj.append(np.full(len(idx), j))
    if not ai:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(ai).astype(np.int64), np.concatenate(aj).astype(np.int64)


def counts_flow(c: Core, cap: np.ndarray) -> tuple[np.ndarray, int]:
    """Counts-only optimum by min-cost flow (OR-Tools SimpleMinCostFlow, numpy bulk arcs) on the
    pruned network; returns column per core row (-1 fallback), gain."""
    m, C = c.h.shape
    choice = np.full(m, -1, dtype=np.int64)
    if m == 0 or C == 0:
        return choice, 0
    k = int(min(cap.sum(), m))
    ai, aj = top_arcs(c, k, positive=c.h > 0)
    if len(ai) == 0:
        return choice, 0
    acc, local = np.unique(ai, return_inverse=True)
    na = len(acc)
    sink = na + C
    tails = np.concatenate([local, np.arange(na), na + np.arange(C)])
    heads = np.concatenate([na + aj, np.full(na, sink), np.full(C, sink)])
    caps = np.concatenate([np.ones(len(ai) + na, np.int64), cap.astype(np.int64)])
    costs = np.concatenate([-c.h[ai, aj], np.zeros(na + C, np.int64)])
    f = min_cost_flow.SimpleMinCostFlow()
    f.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32),
                                           caps, costs.astype(np.int64))
    sup = np.zeros(na + C + 1, np.int64)
    sup[:na] = 1
    sup[sink] = -na
    f.set_nodes_supplies(np.arange(na + C + 1, dtype=np.int32), sup)
    st = f.solve()
    if st != f.OPTIMAL:
        raise RuntimeError(f"min-cost flow status {st}")
    flows = f.flows(np.arange(len(ai), dtype=np.int32))
    used = flows > 0
    choice[acc[local[used]]] = aj[used]
    return choice, int(-f.optimal_cost())


def violations(c: Core, choice: np.ndarray) -> list[str]:
    """The side constraints (balance caps, min shares, grouping) a core plan breaks."""
    out = []
    C = c.h.shape[1]
    on = choice >= 0
    cnt = np.bincount(choice[on], minlength=C)
    bal = np.bincount(choice[on], weights=c.amount[on], minlength=C)
    for j in range(C):
        if c.bal[j] >= 0 and bal[j] > c.bal[j]:
            out.append(f"balance:{j}")
    nv = cnt[c.vendor].sum()
    for j in np.flatnonzero(c.ms > 0):
        if cnt[j] < c.ms[j] * nv - 1e-9:
            out.append(f"share:{j}")
    if c.together.any() and c.vendor.sum() > 1:
        vm = on & np.isin(choice, np.flatnonzero(c.vendor))
        pairs = np.unique(np.stack([c.customer[vm], choice[vm]], 1), axis=0)
        if len(pairs):
            cust, k = np.unique(pairs[:, 0], return_counts=True)
            multi = cust[k > 1]
            if len(multi):
                sub = pairs[np.isin(pairs[:, 0], multi)]
                flagged = np.bincount(sub[:, 0], weights=c.together[sub[:, 1]].astype(float))
                if (flagged[multi] > 0).any():
                    out.append("together")
    return out


def flow_shadow(c: Core, choice: np.ndarray) -> np.ndarray:
    """Exact value of one more slot in each queue for the counts-only optimum: the longest
    augmenting chain in the residual graph (an account moves from queue k, or from its
    fallback, into j; k's freed slot is worth V(k)). Bellman-Ford on C + 1 nodes."""
    m, C = c.h.shape
    if C == 0 or m == 0:
        return np.zeros(C)
    neg = np.iinfo(np.int64).min // 4
    src = np.where(choice >= 0, choice, C)  # C = fallback
    cur = np.where(choice >= 0, c.h[np.arange(m), np.maximum(choice, 0)], 0)
    w = np.full((C + 1, C), neg, dtype=np.int64)
    for j in range(C):
        d = np.where(c.e[:, j] & (src != j), c.h[:, j] - cur, neg)
        best = np.full(C + 1, neg, dtype=np.int64)
        np.maximum.at(best, src, d)
        w[:, j] = best
    V = np.zeros(C + 1, dtype=np.int64)
    for _ in range(C + 1):
        cand = np.where(w > neg, w + V[:, None], neg).max(axis=0)
        V[:C] = np.maximum(V[:C], np.maximum(cand, 0))
    full = np.bincount(choice[choice >= 0], minlength=C) >= c.cap
    return np.where(full, V[:C], 0).astype(float)


def enforce_shares(vendor: np.ndarray, ms: np.ndarray, h: np.ndarray, ch: np.ndarray) -> int:
    """Meet every min share by dropping the weakest placements (lowest `h[i, ch[i]]`) of the
    vendors above their share (dropping never breaks a capacity, balance cap or grouping, and
    the new-placement total falls until each short vendor's count covers its share: it ends, at
    worst with no placement). Columns of `ch` index `vendor`, `ms` and `h`'s columns.
    Changes `ch` in place; returns how many placements were dropped."""
    vend = np.flatnonzero(vendor)
    ms = np.asarray(ms, dtype=float)
    dropped = 0
    for _ in range(4 * len(vend) + 4):
        cnt = np.bincount(ch[ch >= 0], minlength=len(ms))
        nv = int(cnt[vend].sum())
        short = [v for v in vend if ms[v] > 0 and cnt[v] < ms[v] * nv - 1e-9]
        if not short:
            break
        # the largest total the short vendors allow, and who can give placements up
        limit = min(int(np.floor(cnt[v] / ms[v] + 1e-9)) for v in short)
        give = [v for v in vend if v not in short and cnt[v] > int(np.ceil(ms[v] * limit - 1e-9))]
        if not give:
            give = [v for v in vend if v not in short and cnt[v] > 0] or short
        idx = np.flatnonzero(np.isin(ch, give))
        order = idx[np.lexsort((idx, h[idx, ch[idx]]))]
        k = max(1, min(len(order), nv - limit))
        ch[order[:k]] = -1
        dropped += k
    return dropped
