"""The sparse LP/MIP over a set of (account, column) arcs with every side constraint.

Rows, in order (the duals are read back by these ranges):
- one per account: at most one arc (<= 1);
- one per column: capacity;
- one per balance-capped column: collectable of its arcs (currency units) <= the cap;
- one per min-share vendor v: s_v * (vendor arcs) - (arcs of v) <= what fixed placements owe;
- keep_customer_together, for customers with >= 2 accounts holding vendor arcs: z[c, v] >= each
  arc of c at v (link rows), and z[c, v] + z[c, w] <= 1 for a pair where v or w keeps customers
  together (pair rows).
Solved by HiGHS through scipy: dual simplex for the LP, branch and bound for the MIP, stopped by
a node count only (deterministic; never the clock).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import LinearConstraint, linprog, milp

from collections_engine.assign.core import Core
from collections_engine.assign.model_data import CENT

__all__ = ["ArcModel", "Duals", "duals", "price", "MIP_NODE_LIMIT"]

MIP_NODE_LIMIT = 20000  # HiGHS branch-and-bound nodes (a work limit; small nights need a few dozen)


def _account_rows(loc: np.ndarray, n_acc: int, na: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(na), (loc, np.arange(na))), shape=(n_acc, na))


def _capacity_rows(aj: np.ndarray, C: int, na: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(na), (aj, np.arange(na))), shape=(C, na))


def _balance_rows(c: Core, ai: np.ndarray, aj: np.ndarray, bj: np.ndarray) -> sparse.csr_matrix:
    """Collectable (currency units) of each balance-capped column `bj`'s arcs."""
    C, na = c.h.shape[1], len(ai)
    sel = np.isin(aj, bj)
    rowmap = np.full(C, -1)
    rowmap[bj] = np.arange(len(bj))
    return sparse.csr_matrix((c.amount[ai[sel]] / CENT, (rowmap[aj[sel]], np.flatnonzero(sel))),
                             shape=(len(bj), na))


def _share_rows(c: Core, aj: np.ndarray, sj: np.ndarray, fixed_cnt: np.ndarray | None,
                fixed_vendor_total: float) -> tuple[sparse.csr_matrix, np.ndarray]:
    """s_v * (vendor arcs) - (arcs of v) <= fixed_cnt[v] - s_v * fixed_vendor_total, per v in sj."""
    C, na = c.h.shape[1], len(aj)
    isv = c.vendor[aj]
    vals, ri, ci = [], [], []
    fixed_cnt = np.zeros(C) if fixed_cnt is None else fixed_cnt
    sub = []
    for t, j in enumerate(sj):
        coef = np.where(isv, c.ms[j], 0.0) - (aj == j)
        nz = np.flatnonzero(coef)
        vals.append(coef[nz]); ri.append(np.full(len(nz), t)); ci.append(nz)
        sub.append(fixed_cnt[j] - c.ms[j] * fixed_vendor_total)
    block = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(ri), np.concatenate(ci))),
                              shape=(len(sj), na))
    return block, np.array(sub)


def _conflicting_pairs(c: Core, zk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (x, y) of grouping variables z = (customer, vendor) of one customer where either
    vendor keeps customers together."""
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
    return pi, pj


def _grouping_rows(c: Core, ai: np.ndarray, aj: np.ndarray):
    """Link and pair rows over the arcs plus z[c, v] for customers with >= 2 accounts holding
    vendor arcs; None when no customer needs them. Returns (link, pair, their bounds, len(z))."""
    na = len(ai)
    vm = c.vendor[aj]
    cust = c.customer[ai]
    ca = np.unique(np.stack([cust[vm], ai[vm]], 1), axis=0)
    cc, k = np.unique(ca[:, 0], return_counts=True)
    multi = cc[k > 1]
    gsel = vm & np.isin(cust, multi)
    if not gsel.any():
        return None
    cv = np.stack([cust[gsel], aj[gsel]], 1)
    zkeys, zinv = np.unique(cv, axis=0, return_inverse=True)
    nz = len(zkeys)
    arcs = np.flatnonzero(gsel)
    link = sparse.csr_matrix(
        (np.concatenate([np.ones(len(arcs)), -np.ones(len(arcs))]),
         (np.concatenate([np.arange(len(arcs))] * 2),
          np.concatenate([arcs, na + zinv.ravel()]))), shape=(len(arcs), na + nz))
    pi, pj = _conflicting_pairs(c, zkeys)
    pair = sparse.csr_matrix((np.ones(2 * len(pi)), (np.concatenate([np.arange(len(pi))] * 2),
                                                     na + np.concatenate([pi, pj]))),
                             shape=(len(pi), na + nz))
    return link, pair, [np.zeros(len(arcs)), np.ones(len(pi))], nz


class ArcModel:
    """Sparse LP/MIP over the arcs (ai, aj) with every side constraint; `cap`, `bal` what is
    left of each column, `fixed_cnt`/`fixed_vendor_total` placements already made (min shares
    count them)."""

    def __init__(self, c: Core, ai: np.ndarray, aj: np.ndarray, cap: np.ndarray, bal: np.ndarray,
                 fixed_cnt: np.ndarray | None = None, fixed_vendor_total: float = 0.0):
        self.ai, self.aj = ai, aj
        C = c.h.shape[1]
        na = len(ai)
        acc, loc = np.unique(ai, return_inverse=True)
        self.acc, self.loc = acc, loc
        blocks = [_account_rows(loc, len(acc), na), _capacity_rows(aj, C, na)]
        ub = [np.ones(len(acc)), cap.astype(float)]
        self.r_acc = (0, len(acc))
        self.r_cap = (len(acc), len(acc) + C)
        r = len(acc) + C
        self.bal_cols = np.flatnonzero(c.bal >= 0)
        if len(self.bal_cols):
            blocks.append(_balance_rows(c, ai, aj, self.bal_cols))
            ub.append(bal[self.bal_cols] / CENT)
        self.r_bal = (r, r + len(self.bal_cols))
        r += len(self.bal_cols)
        self.share_cols = np.flatnonzero(c.ms > 0)
        if len(self.share_cols):
            block, bound = _share_rows(c, aj, self.share_cols, fixed_cnt, fixed_vendor_total)
            blocks.append(block)
            ub.append(bound)
        self.r_share = (r, r + len(self.share_cols))
        self.nz = 0
        grouping = _grouping_rows(c, ai, aj) if c.together.any() and c.vendor.sum() > 1 else None
        if grouping is not None:
            link, pair, bounds, self.nz = grouping
            blocks = [sparse.hstack([b, sparse.csr_matrix((b.shape[0], self.nz))]) for b in blocks]
            blocks += [link, pair]
            ub += bounds
        self.A = sparse.vstack(blocks).tocsr()
        self.ub = np.concatenate(ub)
        self.c = np.concatenate([-c.h[ai, aj].astype(float), np.zeros(self.nz)])

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


@dataclass
class Duals:
    """The LP's prices (>= 0 for the max problem), per row kind."""

    pi: np.ndarray   # per account of the model
    lam: np.ndarray  # per column: capacity, cents per slot
    mu: np.ndarray   # per column: balance cap, per currency unit (0 where none)
    rho: np.ndarray  # per column: min share (0 where none)


def duals(model: ArcModel, res, C: int) -> Duals:
    y = -res.ineqlin.marginals  # >= 0 for the max problem
    mu = np.zeros(C)
    mu[model.bal_cols] = y[model.r_bal[0]:model.r_bal[1]]
    rho = np.zeros(C)
    rho[model.share_cols] = y[model.r_share[0]:model.r_share[1]]
    return Duals(y[model.r_acc[0]:model.r_acc[1]], y[model.r_cap[0]:model.r_cap[1]], mu, rho)


def price(c: Core, model: ArcModel, res) -> tuple[np.ndarray, np.ndarray]:
    """Eligible arcs outside the model with a positive reduced cost (cents)."""
    d = duals(model, res, c.h.shape[1])
    pi = np.zeros(len(c.h))
    pi[model.acc] = d.pi
    shr = d.rho @ c.ms if len(d.rho) else 0.0
    rc = c.h - d.lam[None, :] - (c.amount[:, None] / CENT) * d.mu[None, :] - pi[:, None]
    rc = rc - np.where(c.vendor, shr, 0.0)[None, :] + d.rho[None, :]
    inside = np.zeros_like(c.e)
    inside[model.ai, model.aj] = True
    cand = c.e & ~inside & (rc > 0.5)
    i, j = np.nonzero(cand)
    return i.astype(np.int64), j.astype(np.int64)
