"""Large nights with side constraints: CP-SAT on the accounts the Lagrangian prices do not settle.

The Lagrangian prices y = (lambda, mu, rho) give each free account i a priced value
r[i, j] = h[i, j] - lambda_j - mu_j a_i + rho_j - [j vendor] sum_v rho_v s_v (0 for its
fallback), and for every plan x that meets the constraints (weak duality, y >= 0):

    value(x) <= D(y) - sum_i (max_j r[i, j] - r[i, x_i])

So a plan better than an incumbent z loses less than G = D(y) - z against the priced best in
total: an account whose margin (best priced option minus the second best) exceeds G takes its
priced best in every better plan (reduced-cost fixing). The accounts with the smallest margins,
the ones a repair moved, and every account of a customer whose grouping is in question are
solved exactly by CP-SAT (capacities, balance caps, min shares, grouping; the rest fixed at the
incumbent); the hint is the incumbent. When every account with margin <= G was in the CP-SAT
part and CP-SAT proved it optimal, the plan is proven optimal; otherwise the status is FEASIBLE
and the gap is D(y) - value.

Deterministic: one worker, a fixed seed and a deterministic-time limit only (no wall clock).
The incumbent (the repaired priced-flow plan, which meets every constraint) stands where CP-SAT
finds nothing better within its work limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from ortools.sat.python import cp_model

from collections_engine.assign.core import Core

__all__ = ["SubResult", "priced_margins", "cpsat_refine", "CPSAT_WORKERS", "CPSAT_SEED"]

CPSAT_WORKERS = 1   # one worker: CP-SAT's sequential search is deterministic (2 interleaved
                    # workers are too, but took 4-10x the wall time per work unit on a busy 2-core box)
CPSAT_SEED = 7
NEG = np.iinfo(np.int64).min // 4


@dataclass
class SubResult:
    choice: np.ndarray      # column per core row (-1 fallback)
    proven: bool            # CP-SAT proved the sub-problem optimal and the fixing is exact
    sub_size: int           # accounts CP-SAT decided
    status: str             # CP-SAT status name
    bound: float            # proven upper bound on the gain (cents), from CP-SAT where exact


def priced_margins(c: Core, lam: np.ndarray, mu: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each core row's priced best column (-1 = fallback) and its margin over the second best."""
    S = float(rho @ c.ms) if len(rho) else 0.0
    r = c.h - lam[None, :] - c.amount[:, None] * mu[None, :] + (rho - np.where(c.vendor, S, 0.0))[None, :]
    r = np.where(c.e, r, -np.inf)
    r = np.concatenate([r, np.zeros((len(r), 1))], axis=1)  # the fallback
    if r.shape[1] == 1:
        return np.full(len(r), -1), np.full(len(r), np.inf)
    part = -np.partition(-r, 1, axis=1)
    best = r.argmax(axis=1)
    best = np.where(best == r.shape[1] - 1, -1, best)
    return best, part[:, 0] - part[:, 1]


def _grouping_pairs(c: Core) -> list[tuple[int, int]]:
    """Vendor column pairs a customer may not be split across (one of them keeps customers together)."""
    vend = np.flatnonzero(c.vendor)
    return [(v, w) for v in vend for w in vend if v < w and (c.together[v] or c.together[w])]


def _split_customers(c: Core, choice: np.ndarray) -> np.ndarray:
    """Customers the plan `choice` splits across two vendors of a grouping pair."""
    pairs = _grouping_pairs(c)
    if not pairs:
        return np.zeros(0, np.int64)
    bad = []
    for v, w in pairs:
        cv = np.unique(c.customer[choice == v])
        cw = np.unique(c.customer[choice == w])
        bad.append(np.intersect1d(cv, cw))
    return np.unique(np.concatenate(bad))


def select_sub(c: Core, choice0: np.ndarray, best: np.ndarray, margin: np.ndarray, size: int) -> np.ndarray:
    """Rows CP-SAT decides: the `size` smallest margins, rows the incumbent does not put at their
    priced best, and every row of a customer split (by the incumbent or the priced best)."""
    m = len(margin)
    sel = np.zeros(m, bool)
    if size >= m:
        sel[:] = True
    elif size > 0:
        sel[np.lexsort((np.arange(m), margin))[:size]] = True
    sel |= choice0 != best
    split = np.union1d(_split_customers(c, choice0), _split_customers(c, best))
    if len(split) or _grouping_pairs(c):
        # customers of selected rows with a vendor option: all their rows, so grouping is exact
        vend_rows = c.e[:, c.vendor].any(axis=1)
        cust = np.union1d(split, np.unique(c.customer[sel & vend_rows]))
        sel |= np.isin(c.customer, cust) & vend_rows
    return sel & c.e.any(axis=1)


def _share_fraction(s: float) -> tuple[int, int]:
    f = Fraction(s).limit_denominator(10**6)
    return f.numerator, f.denominator


def cpsat_refine(c: Core, choice0: np.ndarray, sel: np.ndarray, *, det_time: float = 60.0) -> SubResult:
    """Re-decide rows `sel` exactly (every side constraint), the others fixed at `choice0`."""
    C = c.h.shape[1]
    rows = np.flatnonzero(sel)
    fixed = ~sel & (choice0 >= 0)
    fcnt = np.bincount(choice0[fixed], minlength=C)
    fbal = np.bincount(choice0[fixed], weights=c.amount[fixed], minlength=C).astype(np.int64)
    model = cp_model.CpModel()
    ai, aj = np.nonzero(c.e[rows])
    keep = (c.h[rows[ai], aj] > 0) | c.vendor[aj]  # a non-positive team arc is never needed
    ai, aj = ai[keep], aj[keep]
    x = [model.new_bool_var(f"x{k}") for k in range(len(ai))]
    gain = c.h[rows[ai], aj]
    starts = np.searchsorted(ai, np.arange(len(rows) + 1))
    for t in range(len(rows)):
        if starts[t + 1] - starts[t] > 1:
            model.add_at_most_one(x[starts[t]:starts[t + 1]])
    by_col = [np.flatnonzero(aj == j) for j in range(C)]
    for j in range(C):
        xs = [x[k] for k in by_col[j]]
        if not xs:
            continue
        model.add(sum(xs) <= int(c.cap[j] - fcnt[j]))
        if c.bal[j] >= 0:
            model.add(cp_model.LinearExpr.weighted_sum(xs, c.amount[rows[ai[by_col[j]]]].tolist())
                      <= int(c.bal[j] - fbal[j]))
    _shares(model, c, x, aj, fcnt)
    hint = choice0[rows[ai]] == aj
    _grouping(model, c, x, rows, ai, aj, choice0, sel, hint)
    model.maximize(cp_model.LinearExpr.weighted_sum(x, gain.tolist()))
    for k in range(len(x)):  # the incumbent, complete (grouping variables hinted too)
        model.add_hint(x[k], bool(hint[k]))
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers = CPSAT_WORKERS
    p.random_seed = CPSAT_SEED
    p.max_deterministic_time = float(det_time)
    # presolve's big-overlap and at-most-one merging spent the whole budget on 2k accounts
    p.find_big_linear_overlap = False
    p.merge_at_most_one_work_limit = 0
    st = solver.solve(model)
    name = solver.status_name(st)
    choice = choice0.copy()
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE) and solver.objective_value >= int(gain[hint].sum()):
        on = np.array([solver.boolean_value(v) for v in x], dtype=bool) if x else np.zeros(0, bool)
        choice[rows] = -1
        choice[rows[ai[on]]] = aj[on]
        fixed_gain = int(c.h[np.flatnonzero(fixed), choice0[fixed]].sum())
        bound = fixed_gain + float(solver.best_objective_bound)
        return SubResult(choice, st == cp_model.OPTIMAL, len(rows), name, bound)
    return SubResult(choice, False, len(rows), name, float("inf"))


def _shares(model, c, x, aj, fcnt) -> None:
    """n_v >= s_v * (new vendor placements), in integers: den * n_v >= num * N."""
    vend = np.flatnonzero(c.vendor)
    if not (c.ms > 0).any():
        return
    all_v = [x[k] for k in np.flatnonzero(np.isin(aj, vend))]
    n_fixed = int(fcnt[vend].sum())
    for v in np.flatnonzero(c.ms > 0):
        num, den = _share_fraction(float(c.ms[v]))
        xv = [x[k] for k in np.flatnonzero(aj == v)]
        model.add(den * (int(fcnt[v]) + sum(xv)) >= num * (n_fixed + sum(all_v)))


def _grouping(model, c, x, rows, ai, aj, choice0, sel, hint) -> None:
    """Customers not split across a grouping pair of vendors, fixed rows included."""
    pairs = _grouping_pairs(c)
    if not pairs:
        return
    cust = c.customer[rows[ai]]
    isv = c.vendor[aj]
    # fixed rows of the same customers at a vendor forbid the conflicting vendors
    fixed_v = ~sel & (choice0 >= 0) & c.vendor[np.maximum(choice0, 0)]
    fv = {}
    for cu, v in zip(c.customer[fixed_v].tolist(), choice0[fixed_v].tolist()):
        fv.setdefault(cu, set()).add(v)
    conflict = {(v, w) for v, w in pairs} | {(w, v) for v, w in pairs}
    y, yh = {}, {}
    for k in np.flatnonzero(isv):
        cu, v = int(cust[k]), int(aj[k])
        if any((k2, v) in conflict for k2 in fv.get(cu, ())):
            model.add(x[k] == 0)
            continue
        key = (cu, v)
        if key not in y:
            y[key] = model.new_bool_var(f"y{cu}_{v}")
            yh[key] = False
        yh[key] = yh[key] or bool(hint[k])
        model.add_implication(x[k], y[key])
    for key, var in y.items():
        model.add_hint(var, yh[key])
    by_c = {}
    for (cu, v), var in y.items():
        by_c.setdefault(cu, []).append((v, var))
    for cu, vs in by_c.items():
        for a in range(len(vs)):
            for b in range(a + 1, len(vs)):
                if (vs[a][0], vs[b][0]) in conflict:
                    model.add_bool_or([vs[a][1].Not(), vs[b][1].Not()])
