"""Placement, part 2: solve the assignment of the free accounts exactly.

Notation (cents, integers): for free account i and work queue j, the gain g[i, j] = expected
net in j minus expected net not worked. Not worked is always open (no capacity), so:

1. *Fallback*: queues with no side constraint whose capacity covers every eligible account are
   never contested; each account's best such option (or not worked) is its fallback value fb[i].
   The solver then works on h[i, j] = g[i, j] - fb[i] over the remaining (capacitated) queues.
2. *Pruning*: with counts only, an account outside the top K = sum of capacities of queue j by
   h[:, j] is never needed in j (swap it with a top-K account that is unassigned: the gain does
   not drop). Arcs with h <= 0 are never needed either.
3. *Min-cost flow* (OR-Tools SimpleMinCostFlow, numpy bulk arcs) on the pruned network solves
   the counts-only problem exactly (core.py: the core arrays, pruning and flow every path shares). When the strategy has side constraints (max_balance,
   min_share, keep_customer_together) this is a relaxation: if its solution meets them it is
   optimal, and it is returned.
4. Otherwise an LP (HiGHS dual simplex through scipy) with the side constraints on the pruned
   arcs, priced against every eligible arc with its duals until no arc has a positive reduced
   cost (so the LP optimum is the optimum of the full LP, a valid bound). If integral, optimal.
   If not, the fractional accounts (and their customers' accounts) are re-solved as a small MIP
   with what the integral part left; the gap to the LP bound is reported.
   Small problems skip this and go straight to an exact MIP (HiGHS branch and bound); large ones
   take the Lagrangian dual + CP-SAT path (dual.py, exact.py). The LP/MIP model is lp.py.

Each path returns a `PathResult` (choice over the core's rows, gain and bound over the fallback,
status, method, prices); `solve` picks the path and turns the result into a `Solution`.

Every limit that can stop a solver here counts work, never wall-clock time, so the plan is the
same on an idle and on a busy machine: HiGHS branch and bound stops after MIP_NODE_LIMIT nodes
(then FEASIBLE with HiGHS's proven dual bound), CP-SAT on its deterministic time with one worker
and a fixed seed (exact.py), the Lagrangian dual on its iteration count (dual.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from collections_engine.assign import lp
from collections_engine.assign.core import (Core, build_core, counts_flow, enforce_shares, flow_shadow,
                                            side_constrained_queues, top_arcs, violations)
from collections_engine.assign.dual import dual_plan
from collections_engine.assign.exact import cpsat_refine, priced_margins, select_sub
from collections_engine.assign.lp import ArcModel, duals, price
from collections_engine.assign.model_data import CENT, Problem

__all__ = ["Solution", "PathResult", "solve", "side_constrained_queues"]

SMALL_ARCS = 4000      # at most this many arcs: exact MIP directly
SUB_ROWS = 300         # accounts CP-SAT re-decides on a large night, at first
CPSAT_DET_TIME = 1.0   # CP-SAT deterministic-time limit (work units, the same on any load)
TOL = 1e-6


@dataclass
class Solution:
    choice: np.ndarray            # int [n]: queue index, -1 not worked; only free rows are meaningful
    method: str
    status: str                   # OPTIMAL or FEASIBLE (gap reported)
    objective: int                # cents: total expected net of the free accounts
    bound: int                    # cents: proven upper bound
    time_s: float
    cap_dual: np.ndarray          # currency per slot [Q]; nan = not computed
    bal_dual: np.ndarray          # per currency unit of balance [Q]; nan where no cap
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float:
        return 0.0 if self.bound <= self.objective else (self.bound - self.objective) / max(1, abs(self.bound))


@dataclass
class PathResult:
    """What one solver path decided, over the core's rows and columns."""

    choice: np.ndarray                  # column per core row, -1 = fallback
    gain: int                           # cents over the fallback
    bound: int                          # cents over the fallback: proven upper bound
    status: str                         # OPTIMAL or FEASIBLE
    method: str
    cap_dual: np.ndarray | None = None  # [C] currency per slot, where the path prices capacity
    bal_dual: np.ndarray | None = None  # [C] per currency unit of balance


def solve(pb: Problem, *, time_limit: float | None = None, method: str = "auto",
          shadow: bool = True, det_time: float = CPSAT_DET_TIME) -> Solution:
    """Choose a queue (or not worked) for each free account, maximising total expected net.

    time_limit: not used (accepted so that existing callers run): nothing that shapes the plan
    stops on the clock; the limits are MIP_NODE_LIMIT, `det_time` and the dual's iterations.

    method: "auto" (flow, then LP/MIP when side constraints bite), "mip" (exact MIP on every
    eligible arc), "lp" (force the LP + repair path), "dual" (force the large-night path).
    det_time: CP-SAT's deterministic-time limit on large nights (never wall-clock time).
    """
    t0 = time.perf_counter()
    c = build_core(pb)
    notes: list[str] = []
    flow = _flow_path(c)
    res = flow
    if (violations(c, flow.choice) or method in ("mip", "lp", "dual")) and len(c.cols):
        res = _side_constrained(c, flow, method, notes, det_time)
    sol = _solution(pb, c, res, notes)
    if shadow and np.isnan(sol.cap_dual).all():
        if res.method == "min_cost_flow":
            sol.cap_dual[c.cols] = flow_shadow(c, res.choice) / CENT
        else:
            _shadow_resolve(pb, c, sol, method)
    sol.cap_dual[np.setdiff1d(np.arange(len(pb.queues)), c.cols)] = 0.0
    sol.time_s = time.perf_counter() - t0
    return sol


def _side_constrained(c: Core, flow: PathResult, method: str, notes: list[str],
                      det_time: float) -> PathResult:
    """The path for a night whose counts-only flow breaks a side constraint (or a forced method):
    exact MIP when small, LP + repair when asked, Lagrangian dual + CP-SAT when large."""
    minshare = bool((c.ms > 0).any())
    pos = c.h > 0
    if minshare:
        pos = pos | c.vendor[None, :]
    n_arcs = int((c.e & pos).sum())
    if not n_arcs:
        return flow
    if method == "dual" or (method == "auto" and n_arcs > SMALL_ARCS):
        return _large_path(c, flow.choice, notes, det_time)
    if method in ("mip", "auto"):
        res = _mip_path(c, c.e & pos, notes)
        return res if res is not None else _large_path(c, flow.choice, notes, det_time)
    if method == "lp":
        return _lp_path(c, minshare, notes)
    return flow


def _solution(pb: Problem, c: Core, res: PathResult, notes: list[str]) -> Solution:
    """The path's core plan as a plan over the problem's rows (fallbacks filled in), with
    one_collector_per_customer applied where the strategy asks for it."""
    Q = len(pb.queues)
    cap_dual = np.full(Q, np.nan)
    bal_dual = np.full(Q, np.nan)
    if res.cap_dual is not None:
        cap_dual[c.cols] = res.cap_dual
        bal_dual[c.cols] = res.bal_dual
    bound = c.base + res.bound
    objective = c.base + res.gain
    status = res.status
    choice = np.full(pb.n, -1, dtype=np.int64)
    choice[c.rows] = np.where(res.choice >= 0, c.cols[np.maximum(res.choice, 0)] if len(c.cols) else -1,
                              c.fbq)
    if pb.one_collector:
        choice, objective, status = _one_collector(pb, choice, objective, bound, status, notes)
    return Solution(choice, res.method, status, objective, max(bound, objective),
                    0.0, cap_dual, bal_dual, notes)


def _flow_path(c: Core) -> PathResult:
    """The counts-only optimum: optimal when it meets every side constraint."""
    choice, val = counts_flow(c, c.cap)
    return PathResult(choice, val, val, "OPTIMAL", "min_cost_flow")


def _mip_path(c: Core, arcs: np.ndarray, notes: list[str]) -> PathResult | None:
    """Exact MIP on every eligible arc (HiGHS, stopped by a node count); None when the node
    limit came before any plan (the large-night path always has one)."""
    ai, aj = np.nonzero(arcs)
    res = ArcModel(c, ai, aj, c.cap, c.bal).mip()
    if res.x is None:
        notes.append(f"HiGHS found no plan within {lp.MIP_NODE_LIMIT} nodes ({res.message}); "
                     "the Lagrangian + CP-SAT path decides")
        return None
    x = np.rint(res.x[:len(ai)]).astype(bool)
    choice = np.full(len(c.h), -1)
    choice[ai[x]] = aj[x]
    val = int(np.rint(-res.fun))
    bnd = getattr(res, "mip_dual_bound", None)
    bound = val if res.status == 0 or bnd is None else int(np.floor(-bnd))
    return PathResult(choice, val, bound, "OPTIMAL" if res.status == 0 else "FEASIBLE", "mip_highs")


def _one_collector(pb: Problem, choice: np.ndarray, objective: int, bound: int, status: str,
                   notes: list[str]) -> tuple[np.ndarray, int, str]:
    """one_collector_per_customer: a customer split across work queues (channels aside) keeps the
    queue with the larger total gain; the other accounts take their best channel with room, else
    nothing; then the min shares are met again. Dropping never breaks a capacity, balance cap or
    grouping, so the plan stays feasible; the bound (without this rule) stays valid."""
    rows = np.flatnonzero(pb.free)
    ch = choice[rows].copy()
    g = pb.gain()[rows]
    work = (ch >= 0) & ~pb.channel[np.maximum(ch, 0)]
    idx = np.flatnonzero(work)
    lose = idx[:0]
    if len(idx):
        cu, q = pb.customer[rows][idx], ch[idx]
        pairs, inv = np.unique(np.stack([cu, q], 1), axis=0, return_inverse=True)
        tot = np.bincount(inv.ravel(), weights=g[idx, q])
        o = np.lexsort((pairs[:, 1], -tot, pairs[:, 0]))  # per customer: the largest total gain first
        first = np.r_[True, pairs[o][1:, 0] != pairs[o][:-1, 0]]
        win_c, win_q = pairs[o][first, 0], pairs[o][first, 1]  # customers in ascending order
        lose = idx[win_q[np.searchsorted(win_c, cu)] != q]
    ch[lose] = -1
    moved = _to_channels(pb, rows, g, ch, lose)
    dropped = enforce_shares(pb.vendor, pb.min_share, g, ch)
    choice = choice.copy()
    choice[rows] = ch
    on = ch >= 0
    objective = int(pb.nw[rows].sum() + g[np.flatnonzero(on), ch[on]].sum())
    if len(lose) or dropped:
        notes.append(f"one_collector_per_customer: {len(lose)} accounts of split customers moved off a second "
                     f"collector ({moved} of them to a channel), {dropped} vendor placements dropped for the "
                     "min shares")
        status = "OPTIMAL" if objective >= bound else "FEASIBLE"
    return choice, objective, status


def _to_channels(pb: Problem, rows: np.ndarray, g: np.ndarray, ch: np.ndarray, lose: np.ndarray) -> int:
    """Each account in `lose` (positions in `rows`, not worked now) to its best channel with room
    and a positive gain, each at most once: rounds in which every account asks for its best
    channel still open and each channel takes the highest gains (then account order) up to its
    room; a channel that turns someone away is full. At most one round per channel, plus one.
    Changes `ch` in place; returns how many accounts it placed."""
    chans = np.flatnonzero(pb.channel)
    if not len(lose) or not len(chans):
        return 0
    neg = np.iinfo(np.int64).min
    used = np.bincount(ch[ch >= 0], minlength=len(pb.queues))
    room = np.maximum(pb.cap[chans] - used[chans], 0).astype(np.int64)
    gl = g[np.ix_(lose, chans)]
    gain = np.where(pb.elig[np.ix_(rows[lose], chans)] & (gl > 0), gl, neg)
    todo = np.ones(len(lose), bool)
    placed = 0
    for _ in range(len(chans) + 1):
        open_ = room > 0
        cur = np.where(open_[None, :], gain, neg)
        best = cur.argmax(axis=1)
        bv = cur[np.arange(len(lose)), best]
        ask = todo & (bv > neg)
        if not ask.any():
            break
        for k in np.flatnonzero(open_):
            who = np.flatnonzero(ask & (best == k))
            if not len(who):
                continue
            who = who[np.lexsort((who, -bv[who]))]
            took = who[:room[k]]
            ch[lose[took]] = chans[k]
            todo[took] = False
            placed += len(took)
            room[k] -= len(took)
            if len(who) > len(took):
                room[k] = 0  # full: the rest ask elsewhere next round
    return placed


def _large_path(c: Core, flow_choice: np.ndarray, notes: list[str], det_time: float) -> PathResult:
    """Lagrangian prices and a priced-flow plan (dual.py), then CP-SAT on the rows the prices do
    not settle (exact.py). The flow's slot values start the prices."""
    lam0 = flow_shadow(c, flow_choice)
    choice0, val0, lp_val, lam, mu, rho = dual_plan(c, lam0, notes)
    best, margin = priced_margins(c, lam, mu, rho)
    sel = select_sub(c, choice0, best, margin, SUB_ROWS)
    res = cpsat_refine(c, choice0, sel, det_time=det_time)  # choice0 (feasible) where no solution
    on = res.choice >= 0
    val = int(c.h[np.flatnonzero(on), res.choice[on]].sum())
    gap = lp_val - val
    exact_fix = bool(np.all((margin > gap + 1) | sel))  # every other row is settled by the prices
    bound = min(lp_val, int(np.floor(res.bound + 1e-6))) if exact_fix else lp_val
    bound = max(bound, val)
    notes.append(f"CP-SAT {res.status} on {res.sub_size} accounts (of {len(c.h)}); repaired plan "
                 f"{val0}, CP-SAT plan {val}, Lagrangian bound {lp_val} (cents over fallback); "
                 f"fixing {'exact' if exact_fix else 'not proven'}")
    status = "OPTIMAL" if val >= bound else "FEASIBLE"
    return PathResult(res.choice, val, bound, status, "lagrangian_dual+cpsat", lam / CENT, mu)


def _column_generation(c: Core, minshare: bool, notes: list[str]):
    """The LP over the top arcs, priced against every eligible arc until none has a positive
    reduced cost (at most 20 rounds). Returns (model, result) or None when there is no arc."""
    k = int(min(c.cap.sum(), len(c.h)))
    ai, aj = top_arcs(c, k, positive=c.h > 0)
    if len(ai) == 0:
        ai, aj = np.nonzero(c.e & (c.vendor[None, :] if minshare else c.h > 0))
        ai, aj = ai[:1].astype(np.int64), aj[:1].astype(np.int64)
    if len(ai) == 0:
        return None
    for it in range(20):
        model = ArcModel(c, ai, aj, c.cap, c.bal)
        res = model.lp()
        ni, nj = price(c, model, res)
        if len(ni) == 0:
            break
        ai = np.concatenate([ai, ni]); aj = np.concatenate([aj, nj])
        o = np.lexsort((aj, ai)); ai, aj = ai[o], aj[o]
    else:
        notes.append("column generation stopped after 20 rounds: LP bound may be loose")
    return model, res


def _lp_path(c: Core, minshare: bool, notes: list[str]) -> PathResult:
    """The LP (column generation); if integral, optimal; otherwise the fractional accounts and
    their customers' accounts are re-solved as a small MIP with what the integral part left."""
    C = c.h.shape[1]
    got = _column_generation(c, minshare, notes)
    if got is None:
        z = np.zeros(C)
        return PathResult(np.full(len(c.h), -1), 0, 0, "OPTIMAL", "lp_highs", z, z)
    model, res = got
    ai, aj = model.ai, model.aj
    lp_val = int(np.floor(-res.fun + 1e-6))
    d = duals(model, res, C)
    x = res.x[:len(ai)]
    frac = (x > TOL) & (x < 1 - TOL)
    choice = np.full(len(c.h), -1)
    one = x >= 1 - TOL
    choice[ai[one]] = aj[one]
    if not frac.any():
        return PathResult(choice, int(c.h[ai[one], aj[one]].sum()), lp_val, "OPTIMAL", "lp_highs",
                          d.lam / CENT, d.mu / CENT)
    _repair_fractional(c, model, frac, choice, notes)
    chosen = choice >= 0
    val = int(c.h[np.flatnonzero(chosen), choice[chosen]].sum())
    return PathResult(choice, val, lp_val, "FEASIBLE" if val < lp_val else "OPTIMAL", "lp_highs+repair_mip",
                      d.lam / CENT, d.mu / CENT)


def _repair_fractional(c: Core, model: ArcModel, frac: np.ndarray, choice: np.ndarray,
                       notes: list[str]) -> None:
    """Re-solve the customers of the LP's fractional arcs as a MIP, the integral rest fixed
    (a customer with an integral vendor placement constrains its re-solved accounts).
    Changes `choice` in place."""
    C = c.h.shape[1]
    ai, aj = model.ai, model.aj
    fcust = np.unique(c.customer[np.unique(ai[frac])])
    redo = np.isin(c.customer, fcust) & np.isin(np.arange(len(c.h)), ai)
    choice[redo] = -1
    keep = choice >= 0
    cnt = np.bincount(choice[keep], minlength=C)
    bal = np.bincount(choice[keep], weights=c.amount[keep], minlength=C).astype(np.int64)
    sel = redo[ai]
    sub_i, sub_j = ai[sel], aj[sel]
    sub = ArcModel(c, sub_i, sub_j, c.cap - cnt, np.where(c.bal >= 0, c.bal - bal, -1),
                   fixed_cnt=cnt.astype(float), fixed_vendor_total=float(cnt[c.vendor].sum()))
    res2 = sub.mip(gap=1e-6)
    notes.append(f"LP had {int(frac.sum())} fractional arcs; re-solved {int(redo.sum())} accounts as a MIP")
    if res2.x is not None:
        x2 = np.rint(res2.x[:len(sub_i)]).astype(bool)
        choice[sub_i[x2]] = sub_j[x2]
    else:
        notes.append(f"repair MIP failed ({res2.message}); those accounts fall back")


def _shadow_resolve(pb: Problem, c: Core, sol: Solution, method: str) -> None:
    """Shadow price of each full capacitated queue: re-solve (same method) with one more slot."""
    on = sol.choice[c.rows]
    for t, j in enumerate(c.cols):
        if int((on == j).sum()) < c.cap[t]:
            sol.cap_dual[j] = 0.0
            continue
        cap = pb.cap.copy()
        cap[j] += 1
        s2 = solve(replace(pb, cap=cap), method=method, shadow=False)
        sol.cap_dual[j] = (s2.objective - sol.objective) / CENT
