"""The baseline bank rule, for comparison with the optimiser (same pre-assignment, same tables).

Rank free accounts by score (p_repay, then account id); fill the in-house teams, then the
channels (SMS for M1), then vendors cheapest commission first up to capacity and balance caps,
minimum shares first; then legal. Fraud and holds exactly as `decide`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign.decide import Decision, assemble, queue_summary
from collections_engine.assign.model_data import CENT, build_problem
from collections_engine.config.strategy import Strategy

__all__ = ["greedy_plan"]


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
        kept = pb.decision == "kept"
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
    a, pl = assemble(pb, choice, inputs, strategy, date)
    summary = queue_summary(pb, a, strategy, None)
    net = int(np.rint(a["expected_net"].to_numpy() * CENT).sum())
    return Decision(a, pl, pb.recalls.copy(), summary,
                    {"method": "greedy", "status": "HEURISTIC", "objective": net / CENT},
                    list(pb.warnings))
