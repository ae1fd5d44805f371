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
   the counts-only problem exactly. When the strategy has side constraints (max_balance,
   min_share, keep_customer_together) this is a relaxation: if its solution meets them it is
   optimal, and it is returned.
4. Otherwise an LP (HiGHS dual simplex through scipy) with the side constraints on the pruned
   arcs, priced against every eligible arc with its duals until no arc has a positive reduced
   cost (so the LP optimum is the optimum of the full LP, a valid bound). If integral, optimal.
   If not, the fractional accounts (and their customers' accounts) are re-solved as a small MIP
   with what the integral part left; the gap to the LP bound is reported.
   Small problems skip this and go straight to an exact MIP (HiGHS branch and bound).

Every limit that can stop a solver here counts work, never wall-clock time, so the plan is the
same on an idle and on a busy machine: HiGHS branch and bound stops after MIP_NODE_LIMIT nodes
(then FEASIBLE with HiGHS's proven dual bound), CP-SAT on its deterministic time with one worker
and a fixed seed (exact.py), the Lagrangian dual on its iteration count (dual.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import numpy as np
from ortools.graph.python import min_cost_flow
from scipy import sparse
from scipy.optimize import LinearConstraint, linprog, milp

from collections_engine.assign.dual import dual_plan, enforce_shares
from collections_engine.assign.exact import cpsat_refine, priced_margins, select_sub
from collections_engine.assign.model_data import CENT, Problem

__all__ = ["Solution", "solve", "side_constrained_queues"]

SMALL_ARCS = 4000      # at most this many arcs: exact MIP directly
MIP_NODE_LIMIT = 20000  # HiGHS branch-and-bound nodes (a work limit; small nights need a few dozen)
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
class _Core:
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


def _core(pb: Problem) -> _Core:
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
    return _Core(rows, h, e[:, cols], cols, pb.cap[cols], pb.bal[cols], pb.min_share[cols],
                 pb.vendor[cols], pb.together[cols], pb.amount[rows], pb.customer[rows], fb, fbq, base)


def _top_arcs(c: _Core, k: int, positive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Arcs (account, column) among the top k of each column by h (ties: account order)."""
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


def _flow(c: _Core, cap: np.ndarray) -> tuple[np.ndarray, int]:
    """Counts-only optimum by min-cost flow; returns column per core row (-1 fallback), gain."""
    m, C = c.h.shape
    choice = np.full(m, -1, dtype=np.int64)
    if m == 0 or C == 0:
        return choice, 0
    k = int(min(cap.sum(), m))
    ai, aj = _top_arcs(c, k, positive=c.h > 0)
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


def _violations(c: _Core, choice: np.ndarray) -> list[str]:
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


class _Model:
    """Sparse LP/MIP over a set of arcs with every side constraint."""

    def __init__(self, c: _Core, ai: np.ndarray, aj: np.ndarray, cap: np.ndarray, bal: np.ndarray,
                 fixed_cnt: np.ndarray | None = None, fixed_vendor_total: float = 0.0):
        self.ai, self.aj = ai, aj
        C = c.h.shape[1]
        na = len(ai)
        acc, loc = np.unique(ai, return_inverse=True)
        self.acc, self.loc = acc, loc
        blocks, ub = [], []
        # account rows
        blocks.append(sparse.csr_matrix((np.ones(na), (loc, np.arange(na))), shape=(len(acc), na)))
        ub.append(np.ones(len(acc)))
        self.r_acc = (0, len(acc))
        r = len(acc)
        blocks.append(sparse.csr_matrix((np.ones(na), (aj, np.arange(na))), shape=(C, na)))
        ub.append(cap.astype(float))
        self.r_cap = (r, r + C)
        r += C
        bj = np.flatnonzero(c.bal >= 0)
        self.bal_cols = bj
        if len(bj):
            sel = np.isin(aj, bj)
            rowmap = np.full(C, -1)
            rowmap[bj] = np.arange(len(bj))
            blocks.append(sparse.csr_matrix((c.amount[ai[sel]] / CENT, (rowmap[aj[sel]], np.flatnonzero(sel))),
                                            shape=(len(bj), na)))
            ub.append(bal[bj] / CENT)
        self.r_bal = (r, r + len(bj))
        r += len(bj)
        sj = np.flatnonzero(c.ms > 0)
        self.share_cols = sj
        if len(sj):
            isv = c.vendor[aj]
            vals, ri, ci = [], [], []
            fixed_cnt = np.zeros(C) if fixed_cnt is None else fixed_cnt
            sub = []
            for t, j in enumerate(sj):
                coef = np.where(isv, c.ms[j], 0.0) - (aj == j)
                nz = np.flatnonzero(coef)
                vals.append(coef[nz]); ri.append(np.full(len(nz), t)); ci.append(nz)
                sub.append(fixed_cnt[j] - c.ms[j] * fixed_vendor_total)
            blocks.append(sparse.csr_matrix((np.concatenate(vals), (np.concatenate(ri), np.concatenate(ci))),
                                            shape=(len(sj), na)))
            ub.append(np.array(sub))
        self.r_share = (r, r + len(sj))
        r += len(sj)
        # grouping: z[c, v] for customers with >= 2 accounts holding vendor arcs
        nz_ = 0
        if c.together.any() and c.vendor.sum() > 1:
            vm = c.vendor[aj]
            cust = c.customer[ai]
            ca = np.unique(np.stack([cust[vm], ai[vm]], 1), axis=0)
            cc, k = np.unique(ca[:, 0], return_counts=True)
            multi = cc[k > 1]
            gsel = vm & np.isin(cust, multi)
            if gsel.any():
                cv = np.stack([cust[gsel], aj[gsel]], 1)
                zkeys, zinv = np.unique(cv, axis=0, return_inverse=True)
                nz_ = len(zkeys)
                arcs = np.flatnonzero(gsel)
                link = sparse.csr_matrix(
                    (np.concatenate([np.ones(len(arcs)), -np.ones(len(arcs))]),
                     (np.concatenate([np.arange(len(arcs))] * 2),
                      np.concatenate([arcs, na + zinv.ravel()]))), shape=(len(arcs), na + nz_))
                # pairs (c, v flagged) x (c, w != v)
                zk = zkeys
                a = np.arange(nz_)
                order = np.lexsort((zk[:, 1], zk[:, 0]))
                zc = zk[order, 0]
                starts = np.searchsorted(zc, np.unique(zc))
                ends_ = np.append(starts[1:], len(zc))
                pi, pj = [], []
                sizes = ends_ - starts
                for s in np.unique(sizes):
                    if s < 2:
                        continue
                    st = starts[sizes == s]
                    for u in range(s):
                        for w in range(u + 1, s):
                            x, y = order[st + u], order[st + w]
                            keep = c.together[zk[x, 1]] | c.together[zk[y, 1]]
                            pi.append(x[keep]); pj.append(y[keep])
                pi = np.concatenate(pi) if pi else np.zeros(0, int)
                pj = np.concatenate(pj) if pj else np.zeros(0, int)
                pair = sparse.csr_matrix((np.ones(2 * len(pi)), (np.concatenate([np.arange(len(pi))] * 2),
                                                                 na + np.concatenate([pi, pj]))),
                                         shape=(len(pi), na + nz_))
                del a
                blocks = [sparse.hstack([b, sparse.csr_matrix((b.shape[0], nz_))]) for b in blocks]
                blocks += [link, pair]
                ub += [np.zeros(len(arcs)), np.ones(len(pi))]
        self.nz = nz_
        self.A = sparse.vstack(blocks).tocsr()
        self.ub = np.concatenate(ub)
        self.c = np.concatenate([-c.h[ai, aj].astype(float), np.zeros(nz_)])

    def lp(self):
        res = linprog(self.c, A_ub=self.A, b_ub=self.ub, bounds=(0, 1), method="highs-ds")
        if res.status != 0:
            raise RuntimeError(f"LP status {res.status}: {res.message}")
        return res

    def mip(self, gap: float = 0.0, node_limit: int | None = None):
        """HiGHS branch and bound, stopped by a node count only (deterministic; no clock)."""
        integ = np.ones(len(self.c))
        res = milp(self.c, integrality=integ, bounds=(0, 1),
                   constraints=LinearConstraint(self.A, -np.inf, self.ub),
                   options={"node_limit": int(MIP_NODE_LIMIT if node_limit is None else node_limit),
                            "mip_rel_gap": gap, "disp": False})
        return res


def _duals(model: _Model, res, C: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    y = -res.ineqlin.marginals  # >= 0 for the max problem
    pi = y[model.r_acc[0]:model.r_acc[1]]
    lam = y[model.r_cap[0]:model.r_cap[1]]
    mu = np.zeros(C)
    mu[model.bal_cols] = y[model.r_bal[0]:model.r_bal[1]]
    rho = np.zeros(C)
    rho[model.share_cols] = y[model.r_share[0]:model.r_share[1]]
    return pi, lam, mu, rho


def _price(c: _Core, model: _Model, res) -> tuple[np.ndarray, np.ndarray]:
    """Eligible arcs outside the model with a positive reduced cost (cents)."""
    C = c.h.shape[1]
    pi_acc, lam, mu, rho = _duals(model, res, C)
    pi = np.zeros(len(c.h))
    pi[model.acc] = pi_acc
    shr = rho @ c.ms if len(rho) else 0.0
    rc = c.h - lam[None, :] - (c.amount[:, None] / CENT) * mu[None, :] - pi[:, None]
    rc = rc - np.where(c.vendor, shr, 0.0)[None, :] + rho[None, :]
    inside = np.zeros_like(c.e)
    inside[model.ai, model.aj] = True
    cand = c.e & ~inside & (rc > 0.5)
    i, j = np.nonzero(cand)
    return i.astype(np.int64), j.astype(np.int64)


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
    Q = len(pb.queues)
    c = _core(pb)
    C = len(c.cols)
    notes: list[str] = []
    choice_c, val = _flow(c, c.cap)
    viol = _violations(c, choice_c)
    cap_dual = np.full(Q, np.nan)
    bal_dual = np.full(Q, np.nan)
    status, used = "OPTIMAL", "min_cost_flow"
    bound = c.base + val
    if (viol or method in ("mip", "lp", "dual")) and C:
        minshare = (c.ms > 0).any()
        pos = c.h > 0
        if minshare:
            pos = pos | c.vendor[None, :]
        n_arcs = int((c.e & pos).sum())
        large = n_arcs > 0 and (method == "dual" or (method == "auto" and n_arcs > SMALL_ARCS))
        if n_arcs and (method == "mip" or (method == "auto" and n_arcs <= SMALL_ARCS)):
            ai, aj = np.nonzero(c.e & pos)
            model = _Model(c, ai, aj, c.cap, c.bal)
            res = model.mip()
            if res.x is not None:
                x = np.rint(res.x[:len(ai)]).astype(bool)
                choice_c = np.full(len(c.h), -1)
                choice_c[ai[x]] = aj[x]
                val = int(np.rint(-res.fun))
                bnd = getattr(res, "mip_dual_bound", None)
                bound = c.base + (val if res.status == 0 or bnd is None else int(np.floor(-bnd)))
                status = "OPTIMAL" if res.status == 0 else "FEASIBLE"
                used = "mip_highs"
            else:  # the node limit came before any plan: the large-night path always has one
                notes.append(f"HiGHS found no plan within {MIP_NODE_LIMIT} nodes ({res.message}); "
                             "the Lagrangian + CP-SAT path decides")
                large = True
        elif n_arcs and method == "lp":
            choice_c, val, lp_val, cap_d, bal_d, used, status = _lp_path(c, minshare, notes)
            bound = c.base + lp_val
            cap_dual[c.cols] = cap_d
            bal_dual[c.cols] = bal_d
        if large:
            lam0 = _flow_shadow(c, choice_c)
            choice_c, val, bnd, status, lam, mu = _large_exact(c, lam0, notes, det_time)
            used = "lagrangian_dual+cpsat"
            bound = c.base + bnd
            cap_dual[c.cols] = lam / CENT
            bal_dual[c.cols] = mu
    objective = c.base + val
    choice = np.full(pb.n, -1, dtype=np.int64)
    full = np.where(choice_c >= 0, c.cols[np.maximum(choice_c, 0)] if C else -1, c.fbq)
    choice[c.rows] = full
    if pb.one_collector:
        choice, objective, status = _one_collector(pb, choice, objective, bound, status, notes)
    sol = Solution(choice, used, status, objective, max(bound, objective),
                   0.0, cap_dual, bal_dual, notes)
    if shadow and np.isnan(cap_dual).all():
        if used == "min_cost_flow":
            sol.cap_dual[c.cols] = _flow_shadow(c, choice_c) / CENT
        else:
            _shadow_resolve(pb, c, sol, method)
    uncap = np.setdiff1d(np.arange(Q), c.cols)
    sol.cap_dual[uncap] = 0.0
    sol.time_s = time.perf_counter() - t0
    return sol


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
    dropped = enforce_shares(SimpleNamespace(vendor=pb.vendor, ms=pb.min_share, h=g), ch)
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


def _large_exact(c: _Core, lam0: np.ndarray, notes: list[str], det_time: float):
    """Lagrangian prices and a priced-flow plan (dual.py), then CP-SAT on the rows the prices do
    not settle (exact.py). Returns (choice, gain, bound gain, status, lambda cents, mu)."""
    choice0, val0, lp_val, lam, mu, rho = dual_plan(c, _flow, lam0, notes)
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
    return res.choice, val, bound, status, lam, mu


def _lp_path(c: _Core, minshare: bool, notes: list[str]):
    C = c.h.shape[1]
    k = int(min(c.cap.sum(), len(c.h)))
    ai, aj = _top_arcs(c, k, positive=c.h > 0)
    if len(ai) == 0:
        ai, aj = np.nonzero(c.e & (c.vendor[None, :] if minshare else c.h > 0))
        ai, aj = ai[:1].astype(np.int64), aj[:1].astype(np.int64)
    if len(ai) == 0:
        z = np.zeros(C)
        return np.full(len(c.h), -1), 0, 0, z, z, "lp_highs", "OPTIMAL"
    for it in range(20):
        model = _Model(c, ai, aj, c.cap, c.bal)
        res = model.lp()
        ni, nj = _price(c, model, res)
        if len(ni) == 0:
            break
        ai = np.concatenate([ai, ni]); aj = np.concatenate([aj, nj])
        o = np.lexsort((aj, ai)); ai, aj = ai[o], aj[o]
    else:
        notes.append("column generation stopped after 20 rounds: LP bound may be loose")
    lp_val = int(np.floor(-res.fun + 1e-6))
    _, lam, mu, _ = _duals(model, res, C)
    x = res.x[:len(ai)]
    frac = (x > TOL) & (x < 1 - TOL)
    choice = np.full(len(c.h), -1)
    one = x >= 1 - TOL
    choice[ai[one]] = aj[one]
    if not frac.any():
        return choice, int(c.h[ai[one], aj[one]].sum()), lp_val, lam / CENT, mu / CENT, "lp_highs", "OPTIMAL"
    facc = np.unique(ai[frac])
    fcust = np.unique(c.customer[facc])
    redo = np.isin(c.customer, fcust) & np.isin(np.arange(len(c.h)), ai)
    choice[redo] = -1
    keep = choice >= 0
    cnt = np.bincount(choice[keep], minlength=C)
    bal = np.bincount(choice[keep], weights=c.amount[keep], minlength=C).astype(np.int64)
    sel = redo[ai]
    sub_i, sub_j = ai[sel], aj[sel]
    # a customer with an integral vendor placement constrains its re-solved accounts
    sub = _Model(c, sub_i, sub_j, c.cap - cnt, np.where(c.bal >= 0, c.bal - bal, -1),
                 fixed_cnt=cnt.astype(float), fixed_vendor_total=float(cnt[c.vendor].sum()))
    res2 = sub.mip(gap=1e-6)
    notes.append(f"LP had {int(frac.sum())} fractional arcs; re-solved {int(redo.sum())} accounts as a MIP")
    if res2.x is not None:
        x2 = np.rint(res2.x[:len(sub_i)]).astype(bool)
        choice[sub_i[x2]] = sub_j[x2]
    else:
        notes.append(f"repair MIP failed ({res2.message}); those accounts fall back")
    chosen = choice >= 0
    val = int(c.h[np.flatnonzero(chosen), choice[chosen]].sum())
    return choice, val, lp_val, lam / CENT, mu / CENT, "lp_highs+repair_mip", "FEASIBLE" if val < lp_val else "OPTIMAL"


def _flow_shadow(c: _Core, choice: np.ndarray) -> np.ndarray:
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


def _shadow_resolve(pb: Problem, c: _Core, sol: Solution, method: str) -> None:
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
