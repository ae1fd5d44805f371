"""The baseline bank rule, for comparison with the optimiser (same pre-assignment, same tables).

Rank free accounts by score (p_repay, then account id); fill the in-house teams, then the
channels (SMS for M1), then vendors cheapest commission first up to capacity and balance caps,
minimum shares first; then legal. Fraud and holds exactly as `decide`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign.core import enforce_shares
from collections_engine.assign.decide import Decision, assemble, queue_summary
from collections_engine.assign.model_data import CENT, build_problem
from collections_engine.config.strategy import Strategy
from collections_engine.vocabulary import KEPT

__all__ = ["greedy_plan", "greedy_net_plan"]


def greedy_plan(inputs: pd.DataFrame, strategy: Strategy, date, *, effects: dict | None = None) -> Decision:
    pb = build_problem(inputs, strategy, date, effects)
    df = inputs.sort_values("account_id", kind="mergesort").reset_index(drop=True)
    p = df["p_repay"].to_numpy(float)
    rank = np.lexsort((pb.account_id.astype(str), -p))  # best score first
    choice = np.full(pb.n, -1, dtype=np.int64)
    cap = pb.cap.copy()
    bal = pb.bal.copy()
    kinds = {q.name: q.kind for q in strategy.work_queues()}
    qi = {q: j for j, q in enumerate(pb.queues)}
    cust_vendor = np.full(pb.customer.max() + 1 if pb.n else 0, -1, dtype=np.int64)
    if pb.n and pb.together.any():
        kept = pb.decision == KEPT
        cust_vendor[pb.customer[kept]] = [qi[q] for q in pb.queue[kept]]

    def fill(j: int, limit: int) -> int:
        cand = rank[(choice[rank] < 0) & pb.elig[rank, j]]
        if pb.vendor[j] and pb.together.any():
            other = cust_vendor[pb.customer[cand]]
            ok = (other < 0) | (other == j) | ~(pb.together[j] | pb.together[np.maximum(other, 0)])
            cand = cand[ok]
        cand = cand[:max(0, min(limit, cap[j]))]
        if bal[j] >= 0:
            cand = cand[np.cumsum(pb.amount[cand]) <= bal[j]]
            bal[j] -= pb.amount[cand].sum()
        choice[cand] = j
        cap[j] -= len(cand)
        if pb.vendor[j]:
            cust_vendor[pb.customer[cand]] = j
        return len(cand)

    for kind in ("inhouse", "channel"):
        for q, k in kinds.items():
            if k == kind:
                fill(qi[q], int(cap[qi[q]]))
    vend = sorted([q.name for q in strategy.vendors()], key=lambda v: (strategy.queue(v).commission, v))
    free_v = (choice < 0) & pb.elig[:, pb.vendor].any(axis=1)
    total = int(min(free_v.sum(), cap[pb.vendor].sum()))
    for v in vend:  # minimum shares first, of the placements we expect to make
        j = qi[v]
        if pb.min_share[j] > 0:
            fill(j, int(np.ceil(pb.min_share[j] * total)))
    for v in vend:
        fill(qi[v], int(cap[qi[v]]))
    for q, k in kinds.items():
        if k == "legal":
            fill(qi[q], int(cap[qi[q]]))
    _meet_shares(pb, choice)
    a, pl = assemble(pb, choice, inputs, strategy, date)
    summary = queue_summary(pb, a, strategy, None)
    net = int(np.rint(a["expected_net"].to_numpy() * CENT).sum())
    return Decision(a, pl, pb.recalls.copy(), summary,
                    {"method": "greedy", "status": "HEURISTIC", "objective": net / CENT},
                    list(pb.warnings), dict(pb.min_share_applied))


def greedy_net_plan(inputs: pd.DataFrame, strategy: Strategy, date, *, effects: dict | None = None) -> Decision:
    """The stronger peer: what a careful analyst would do in a spreadsheet. Every (account, queue)
    pair is ranked by expected net over not worked per unit of the queue's scarce capacity (one
    slot; for a balance-capped vendor, the account's share of the cap per slot when larger), best
    first; each account takes its best pair while the queue has room (count and balance), customers
    kept together as `greedy_plan` does; min shares first, as `greedy_plan` does."""
    pb = build_problem(inputs, strategy, date, effects)
    choice = np.full(pb.n, -1, dtype=np.int64)
    g = np.where(pb.elig, pb.gain(), 0)
    per_slot = np.where(pb.bal_total > 0, pb.bal_total / np.maximum(pb.cap_total, 1), 0)
    units = np.maximum(1.0, pb.amount[:, None] / np.where(per_slot > 0, per_slot, np.inf)[None, :])
    i, j = np.nonzero(pb.elig & (g > 0))
    score = g[i, j] / units[i, j]
    order = np.lexsort((j, i, -score))
    cap, bal = pb.cap.copy(), pb.bal.copy()
    cust_vendor = np.full(pb.customer.max() + 1 if pb.n else 0, -1, dtype=np.int64)
    kept = pb.decision == KEPT
    cust_vendor[pb.customer[kept]] = [pb.queues.index(q) for q in pb.queue[kept]]
    vend = pb.vendor
    _share_first(pb, choice, cap, bal, cust_vendor, g / units)
    cnt = np.bincount(choice[choice >= 0], minlength=len(pb.queues))
    shares = [(v, float(pb.min_share[v])) for v in np.flatnonzero(pb.min_share > 0)]
    # one pass over the ranked pairs (a peer for the benchmarks, not a production path)
    for a, q in zip(i[order].tolist(), j[order].tolist()):
        if choice[a] >= 0 or cap[q] <= 0 or (bal[q] >= 0 and pb.amount[a] > bal[q]):
            continue
        if vend[q] and pb.together.any():
            other = cust_vendor[pb.customer[a]]
            if other >= 0 and other != q and (pb.together[q] or pb.together[other]):
                continue
        if vend[q] and not _share_room(cnt, pb.vendor, shares, q):
            continue
        choice[a] = q
        cnt[q] += 1
        cap[q] -= 1
        if bal[q] >= 0:
            bal[q] -= pb.amount[a]
        if vend[q]:
            cust_vendor[pb.customer[a]] = q
    _meet_shares(pb, choice)
    a, pl = assemble(pb, choice, inputs, strategy, date)
    net = int(np.rint(a["expected_net"].to_numpy() * CENT).sum())
    return Decision(a, pl, pb.recalls.copy(), queue_summary(pb, a, strategy, None),
                    {"method": "greedy_net", "status": "HEURISTIC", "objective": net / CENT}, list(pb.warnings),
                    dict(pb.min_share_applied))


def _meet_shares(pb, choice: np.ndarray) -> None:
    """A bank's rule still honours its vendor contracts: where the fill missed a min share, the
    weakest placements of the vendors above their share are dropped (`enforce_shares`)."""
    g = np.where(pb.elig, pb.gain(), 0)
    enforce_shares(pb.vendor, pb.min_share, g, choice)


def _share_first(pb, choice, cap, bal, cust_vendor, g) -> None:
    """Each vendor with a min share first takes its share of the vendor placements expected
    (eligible free accounts, capped by the vendors' room), best ranking value first."""
    free_v = (choice < 0) & pb.elig[:, pb.vendor].any(axis=1)
    total = int(min(free_v.sum(), cap[pb.vendor].sum()))
    for q in np.flatnonzero(pb.min_share > 0):
        cand = np.flatnonzero((choice < 0) & pb.elig[:, q] & (cust_vendor[pb.customer] < 0))
        cand = cand[np.lexsort((cand, -g[cand, q]))][:max(0, min(int(np.ceil(pb.min_share[q] * total)), cap[q]))]
        if bal[q] >= 0:
            cand = cand[np.cumsum(pb.amount[cand]) <= bal[q]]
            bal[q] -= pb.amount[cand].sum()
        _, first = np.unique(pb.customer[cand], return_index=True)
        cand = cand[np.sort(first)]
        choice[cand] = q
        cap[q] -= len(cand)
        cust_vendor[pb.customer[cand]] = q


def _share_room(cnt: np.ndarray, vendor: np.ndarray, shares: list[tuple[int, float]], q: int) -> bool:
    """Whether one more placement with vendor q keeps every vendor's min share."""
    nv = int(cnt[vendor].sum()) + 1
    return all(cnt[v] + (v == q) >= s * nv - 1e-9 for v, s in shares)
