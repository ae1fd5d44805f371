"""Placement, part 3: the night's decision as CONTRACT.md tables.

`decide(inputs, strategy, date)` = build_problem -> solve -> frames. The formulas (cents):
  recovery[i, q] = round(min(1, p_repay[i] * effect[q, stage[i]]) * collectable[i] * (1 - commission[q]))
  net[i, q]      = recovery[i, q] - cost_per_account[q]
  not worked     : recovery p_repay[i] * collectable[i], cost 0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.assign.check import require_plan
from collections_engine.assign.model_data import CENT, Problem, build_problem, sorted_by_account
from collections_engine.assign.solve import Solution, solve
from collections_engine.config.strategy import Strategy, VendorQueue
from collections_engine.frames import isin
from collections_engine.vocabulary import ASSIGNED, KEPT, NEW_DECISIONS, NOT_WORKED, PLACED

__all__ = ["Decision", "decide", "ASSIGNMENT_COLUMNS", "PLACEMENT_COLUMNS", "RECALL_COLUMNS",
           "assemble"]

ASSIGNMENT_COLUMNS = ["account_id", "customer_id", "stage", "queue", "decision", "ended",
                      "previous_queue", "reason", "expected_recovery", "expected_cost",
                      "expected_net", "priority"]
PLACEMENT_COLUMNS = ["account_id", "vendor", "placed_on", "ends_on"]
RECALL_COLUMNS = ["account_id", "vendor", "reason"]


@dataclass
class Decision:
    assignments: pd.DataFrame
    placements: pd.DataFrame
    recalls: pd.DataFrame
    queue_summary: pd.DataFrame
    solver: dict
    warnings: list[str] = field(default_factory=list)
    # vendor -> the min_share applied tonight where the strategy's could not be met (named in
    # the warnings and run.json: share asked, share applied); `check_plan` accepts exactly these
    min_share_applied: dict[str, float] = field(default_factory=dict)


def _not_worked_reason(pb: Problem, rows: np.ndarray) -> np.ndarray:
    g = pb.gain(rows)
    e = pb.elig[rows]
    any_e = e.any(axis=1)
    best = np.where(e, g, np.iinfo(np.int64).min).max(axis=1) if len(rows) else np.zeros(0)
    return np.where(~any_e, "no_queue_for_stage",
                    np.where(best > 0, "capacity_full", "no_positive_net")).astype(object)


def _priority(queue: np.ndarray, net: np.ndarray, account_id: np.ndarray) -> np.ndarray:
    """Rank within the queue by expected net (highest first), then account id (1 = first);
    0 = no queue. One stable sort of integer keys (queue code, net, id rank) over the rows with
    a queue: the id rank is the row order where the ids are in order (the problem's rows are),
    their sorted rank otherwise (missing ids last, as pandas sorts them)."""
    codes, uniq = pd.factorize(queue)  # a missing queue (-1) ranks as a queue of its own
    none = [k for k, u in enumerate(uniq) if u == ""]
    rows = np.flatnonzero(codes != none[0]) if none else np.arange(len(queue))
    ids = np.asarray(account_id, dtype=object)[rows]
    try:
        in_order = len(ids) < 2 or bool((ids[1:] >= ids[:-1]).all())
    except TypeError:  # missing ids
        in_order = False
    if in_order:
        tie = np.arange(len(rows))
    else:
        tie, _ = pd.factorize(ids, sort=True)
        tie = np.where(tie < 0, len(ids), tie)
    q = codes[rows].astype(np.int64)
    n = -np.asarray(net, dtype=np.int64)[rows]
    lo, hi = (int(n.min()), int(n.max())) if len(n) else (0, 0)
    if in_order and hi - lo < 2**40 and len(uniq) < 2**22:
        order = np.argsort((q + 1) * 2**40 + (n - lo), kind="stable")
    else:
        order = np.lexsort((tie, n, q))
    qs = q[order]
    pos = np.arange(len(order))
    grp_start = np.r_[0, np.flatnonzero(qs[1:] != qs[:-1]) + 1] if len(qs) else np.zeros(0, np.int64)
    starts = np.repeat(grp_start, np.diff(np.r_[grp_start, len(order)]))
    out = np.zeros(len(queue), np.int64)
    out[rows[order]] = pos - starts + 1
    return out


def assemble(pb: Problem, choice: np.ndarray, inputs: pd.DataFrame, strategy: Strategy,
             date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assignments and open placements from a problem and a choice per account (-1 = none)."""
    date = pd.Timestamp(date)
    df = sorted_by_account(inputs)
    names = np.array(pb.queues + [""], dtype=object)
    queue = pb.queue.copy()
    decision = pb.decision.copy()
    reason = pb.reason.copy()
    rec = pb.pre_recovery.copy()
    cost = pb.pre_cost.copy()
    f = np.flatnonzero(pb.free)
    ch = choice[f]
    on = ch >= 0
    fi, fj = f[on], ch[on]
    queue[fi] = names[fj]
    decision[fi] = np.where(pb.vendor[fj], PLACED, ASSIGNED)
    rec[fi] = pb.recovery[fi, fj]
    cost[fi] = pb.cost[fj]
    off = f[~on]
    decision[off] = NOT_WORKED
    why = _not_worked_reason(pb, off)
    # "prior reason; why" where the account had a reason already (a recall), else "why":
    # text joined only on those few rows (np.char over every row costs a few tenths of a second)
    prior = reason[off]
    joined = prior != ""
    if joined.any():
        why[joined] = np.char.add(np.char.add(prior[joined].astype(str), "; "), why[joined].astype(str))
    reason[off] = why
    rec[off] = pb.nw[off]
    cost[off] = 0
    net = rec - cost
    out = pd.DataFrame({
        "account_id": pd.Series(pb.account_id, dtype="str"),
        "customer_id": df["customer_id"].astype("str").array,  # Arrow as it is (no Python strings)
        "stage": pd.Series(pb.stage, dtype="str"),
        "queue": pd.Series(queue, dtype="str"),
        "decision": pd.Series(decision, dtype="str"),
        "ended": pd.Series(pb.ended, dtype="str"),
        "previous_queue": pd.Series(pb.previous, dtype="str"),
        "reason": pd.Series(reason, dtype="str"),
        "expected_recovery": rec / CENT,
        "expected_cost": cost / CENT,
        "expected_net": net / CENT,
    })
    out["customer_id"] = out["customer_id"].astype("str")
    # priority: rank within the queue by expected net, then account id (1 = first); 0 = no queue
    out["priority"] = _priority(queue, net, pb.account_id)
    pl = _open_after_tonight(pb, queue, decision, df, strategy, date)
    return out[ASSIGNMENT_COLUMNS], pl[PLACEMENT_COLUMNS]


def _open_after_tonight(pb: Problem, queue: np.ndarray, decision: np.ndarray, df: pd.DataFrame,
                        strategy: Strategy, date: pd.Timestamp) -> pd.DataFrame:
    """The open placements after tonight: the kept ones as they were, tonight's new ones from
    `date` for their vendor's `placement_days`; by account id."""
    kept = decision == KEPT
    placed = decision == PLACED
    days = {q.name: q.placement_days for q in strategy.vendors()}
    pq = queue[placed]
    new = pd.DataFrame({
        "account_id": pb.account_id[placed], "vendor": pq,
        "placed_on": np.full(placed.sum(), date.to_datetime64()),
        "ends_on": date.to_datetime64() + np.array([days[v] for v in pq], dtype="timedelta64[D]")
        .astype("timedelta64[ns]"),
    })
    old = pd.DataFrame({"account_id": pb.account_id[kept], "vendor": queue[kept],
                        "placed_on": pd.to_datetime(df["placed_on"]).to_numpy()[kept],
                        "ends_on": pd.to_datetime(df["ends_on"]).to_numpy()[kept]})
    pl = pd.concat([old, new], ignore_index=True).sort_values("account_id", kind="mergesort")
    pl = pl.reset_index(drop=True)
    for c in ("account_id", "vendor"):
        pl[c] = pl[c].astype("str")
    for c in ("placed_on", "ends_on"):
        pl[c] = pd.to_datetime(pl[c]).astype("datetime64[ns]")
    return pl


def queue_summary(pb: Problem, a: pd.DataFrame, strategy: Strategy, sol: Solution | None) -> pd.DataFrame:
    rows = []
    amount = pd.Series(pb.amount / CENT)
    qi = {q: i for i, q in enumerate(pb.queues)}
    new = isin(a["decision"], NEW_DECISIONS)
    kept = (a["decision"] == KEPT).to_numpy()
    queue = a["queue"]
    names = [q.name for q in strategy.queues]
    if isinstance(queue.dtype, pd.StringDtype) and not queue.isna().any() and len(set(names)) == len(names):
        # one pass over the queue column: codes of the names (Arrow), then integer compares
        code = pc.index_in(pa.array(queue.array), value_set=pa.array(names, pa.large_string()))
        code = code.fill_null(-1).to_numpy(zero_copy_only=False)
        in_queue = {name: code == k for k, name in enumerate(names)}
    else:
        in_queue = {q.name: (queue == q.name).to_numpy() for q in strategy.queues}
    for q in strategy.queues:
        m = in_queue[q.name]
        j = qi.get(q.name)
        cap = q.capacity
        row = {
            "queue": q.name, "kind": q.kind, "accounts": int(m.sum()),
            "new_tonight": int((m & new).sum()),
            "kept": int((m & kept).sum()),
            "capacity": int(cap), "use": float(m.sum() / cap) if cap else float("nan"),
            "balance": float(amount[m].sum()),
            "max_balance": float(q.max_balance) if isinstance(q, VendorQueue) and q.max_balance else float("nan"),
            "expected_recovery": float(a["expected_recovery"][m].sum()),
            "expected_cost": float(a["expected_cost"][m].sum()),
            "expected_net": float(a["expected_net"][m].sum()),
            "shadow_price_capacity": float(sol.cap_dual[j]) if (sol is not None and j is not None) else float("nan"),
            "shadow_price_balance": float(sol.bal_dual[j]) if (sol is not None and j is not None
                                                               and pb.bal_total[j] >= 0) else float("nan"),
        }
        rows.append(row)
    rows.append(not_worked_row(a, amount, (a["queue"] == "").to_numpy()))
    return pd.DataFrame(rows)


def not_worked_row(a: pd.DataFrame, amount: np.ndarray, m: np.ndarray) -> dict:
    """The queue summary's `not_worked` row over the rows `m` of assignments `a`."""
    return {"queue": NOT_WORKED, "kind": "", "accounts": int(m.sum()), "new_tonight": int(m.sum()),
            "kept": 0, "capacity": 0, "use": float("nan"), "balance": float(amount[m].sum()),
            "max_balance": float("nan"), "expected_recovery": float(a["expected_recovery"][m].sum()),
            "expected_cost": 0.0, "expected_net": float(a["expected_net"][m].sum()),
            "shadow_price_capacity": float("nan"), "shadow_price_balance": float("nan")}


def solver_info(pb: Problem, sol: Solution) -> dict:
    """Status and gap for run.json. The gap is relative to the value decisions can move: the
    plan's gain over working nobody (free accounts only); `gap_total` divides by the bound on
    the free accounts' total expected net, which includes every no-action value."""
    nobody = int(pb.nw[pb.free].sum())
    movable = sol.objective - nobody
    slack = max(0, sol.bound - sol.objective)
    return {"method": sol.method, "status": sol.status, "objective": sol.objective / CENT,
            "bound": sol.bound / CENT, "movable_value": movable / CENT, "not_worked_value": nobody / CENT,
            "gap": slack / max(1, abs(movable)), "gap_total": slack / max(1, abs(sol.bound)),
            "time_s": sol.time_s, "free_accounts": int(pb.free.sum()), "notes": list(sol.notes)}


def share_report(a: pd.DataFrame, strategy: Strategy, applied: dict[str, float]) -> list[dict]:
    """Per vendor with a min_share: asked, applied tonight (relaxed where named), met."""
    placed = a["decision"] == PLACED
    total = int(placed.sum())
    out = []
    for v in strategy.vendors():
        if v.min_share <= 0:
            continue
        n = int((placed & (a["queue"] == v.name)).sum())
        out.append({"vendor": v.name, "asked": float(v.min_share), "applied": float(applied.get(v.name, v.min_share)),
                    "met": round(n / total, 6) if total else 0.0, "placed": n, "vendor_placements": total})
    return out


def decide(inputs: pd.DataFrame, strategy: Strategy, date, *, effects: dict | None = None,
           time_limit: float | None = None, method: str = "auto", shadow: bool = True,
           check: bool = True) -> Decision:
    """Re-decide a night from its decision inputs alone (see `build_decision_inputs`).

    effects: (queue, stage) -> multiplier overriding the strategy's (e.g. from
    `estimate_effects(...)` through `effects_dict`); default the strategy's.
    time_limit: not used (kept for existing callers): the solvers stop on work limits only, so
    the plan does not depend on how busy the machine is.
    check: run the independent `check_plan` on the plan and raise `PlanError` (a bug: exit 1,
    nothing written) when it breaks the contract; only benchmarks timing the solve turn it off.
    """
    pb = build_problem(inputs, strategy, date, effects)
    sol = solve(pb, method=method, shadow=shadow)
    a, pl = assemble(pb, sol.choice, inputs, strategy, date)
    summary = queue_summary(pb, a, strategy, sol)
    warnings = list(pb.warnings)
    full = summary[(summary["kind"] != "") & (summary["accounts"] >= summary["capacity"]) & (summary["capacity"] > 0)]
    short = int((a["reason"] == "capacity_full").sum())
    if short:
        warnings.append(f"{short} accounts not worked for lack of capacity (full: {', '.join(full['queue'])})")
    solver = solver_info(pb, sol)
    solver["min_shares"] = share_report(a, strategy, pb.min_share_applied)
    for r in solver["min_shares"]:
        if r["applied"] < r["asked"]:
            warnings.append(f"min_share not met: vendor {r['vendor']!r} asked {r['asked']:g}, met {r['met']:.4f} "
                            f"({r['placed']} of {r['vendor_placements']} new vendor placements tonight)")
    applied = dict(pb.min_share_applied)
    if check:
        require_plan(inputs, a, strategy, date, placements=pl, min_share_applied=applied)
    return Decision(a, pl, pb.recalls[RECALL_COLUMNS].copy(), summary, solver, warnings, applied)
