"""Large problems with side constraints: Lagrangian dual bound + priced min-cost flow + repair.

The LP relaxation of the assignment (capacities, balance caps, min shares) has few coupling
rows, so its dual is a convex piecewise-linear function of a handful of prices
y = (lambda per capacity, mu per balance cap, rho per min share):
    D(y) = sum_i max(0, max_j h[i,j] - lambda_j - mu_j a_i + rho_j - [j vendor] sum_v rho_v s_v)
           + sum_j lambda_j cap_j + sum_j mu_j bal_j
Any y >= 0 gives an upper bound D(y) on the best plan (weak duality); we minimise it with a
box-step cutting-plane method (each evaluation is one vectorised pass over the accounts).
The plan: a min-cost flow on the gains priced by (mu, rho) (so capacities hold exactly), then
a repair for what prices leave: balance overshoot, a short min share, split customers. The gap
between the plan and the best bound is reported.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.optimize import linprog

from collections_engine.assign.core import Core, counts_flow, enforce_shares

__all__ = ["dual_plan", "MAX_ITER"]

MAX_ITER = 150  # cutting-plane iterations (typically 20-40 are needed)


class _Dual:
    def __init__(self, c: Core, bal_cols: np.ndarray, share_cols: np.ndarray):
        self.c = c
        self.C = c.h.shape[1]
        keep = c.e.any(axis=1)
        self.rows = np.flatnonzero(keep)
        self.h = np.where(c.e[keep], c.h[keep].astype(float), -np.inf)
        self.a = c.amount[keep].astype(float)
        self.bc = bal_cols
        self.sc = share_cols
        self.dim = self.C + len(bal_cols) + len(share_cols)

    def split(self, y):
        C = self.C
        lam = y[:C]
        mu = np.zeros(C)
        mu[self.bc] = y[C:C + len(self.bc)]
        rho = np.zeros(C)
        rho[self.sc] = y[C + len(self.bc):]
        return lam, mu, rho

    def priced(self, mu, rho):
        S = float(rho @ self.c.ms)
        return self.h - self.a[:, None] * mu[None, :] + (rho - np.where(self.c.vendor, S, 0.0))[None, :]

    def value(self, y):
        lam, mu, rho = self.split(y)
        r = self.priced(mu, rho) - lam[None, :]
        j = r.argmax(axis=1)
        best = r[np.arange(len(r)), j]
        on = best > 0
        D = best[on].sum() + lam @ self.c.cap + mu[self.bc] @ self.c.bal[self.bc]
        jj = j[on]
        cnt = np.bincount(jj, minlength=self.C).astype(float)
        bal = np.bincount(jj, weights=self.a[on], minlength=self.C)
        nv = cnt[self.c.vendor].sum()
        g = np.concatenate([self.c.cap - cnt, (self.c.bal - bal)[self.bc],
                            (cnt - self.c.ms * nv)[self.sc]])
        return float(D), g


def _minimise(dual: _Dual, y0: np.ndarray, scale: np.ndarray, max_iter: int = MAX_ITER, tol: float = 2e-5):
    """Box-step cutting planes in scaled coordinates; returns best y, its value, iterations.
    Stops on the model's predicted decrease or an iteration count, never on the clock, so the
    prices (and the plan) are the same on a busy machine."""
    d = dual.dim
    yc = y0.copy()
    Dc, gc = dual.value(yc)
    cuts_y, cuts_D, cuts_g = [yc.copy()], [Dc], [gc]
    best_y, best_D = yc.copy(), Dc
    box = 1.0
    it = 0
    for it in range(1, max_iter + 1):
        Y = np.array(cuts_y)
        G = np.array(cuts_g) * scale[None, :]  # gradient in scaled coordinates
        # variables: z (scaled y, d of them), t; min t s.t. D_k + G_k (z - z_k) <= t
        zk = Y / scale[None, :]
        A = np.hstack([G, -np.ones((len(Y), 1))])
        b = (G * zk).sum(axis=1) - np.array(cuts_D)
        zc = yc / scale
        bounds = [(max(0.0, zc[i] - box), zc[i] + box) for i in range(d)] + [(None, None)]
        res = linprog(np.r_[np.zeros(d), 1.0], A_ub=A, b_ub=b, bounds=bounds, method="highs")
        if res.status != 0:
            break
        z, model = res.x[:d], res.x[d]
        y = z * scale
        D, g = dual.value(y)
        cuts_y.append(y); cuts_D.append(D); cuts_g.append(g)
        if D < best_D:
            best_D, best_y = D, y.copy()
        pred = Dc - model
        if pred <= tol * max(1.0, abs(Dc)):
            on_edge = np.any(np.isclose(np.abs(z - zc), box) & (z > 1e-12))
            if not on_edge:
                break
            box *= 2
            continue
        if D <= Dc - 0.1 * pred:
            yc, Dc = y, D
            if np.any(np.isclose(np.abs(z - zc), box)):
                box *= 2
        else:
            box = max(box * 0.5, 1e-6)
        if len(cuts_y) > 150:  # keep the master small
            order = np.argsort(cuts_D)[:100]
            cuts_y = [cuts_y[k] for k in order]; cuts_D = [cuts_D[k] for k in order]; cuts_g = [cuts_g[k] for k in order]
    return best_y, best_D, it


def dual_plan(c: Core, lam0: np.ndarray, notes: list[str]):
    """Returns (choice over core rows, gain, bound gain, lambda cents/slot, mu per unit, rho cents)."""
    C = c.h.shape[1]
    bal_cols = np.flatnonzero(c.bal >= 0)
    share_cols = np.flatnonzero(c.ms > 0)
    dual = _Dual(c, bal_cols, share_cols)
    pos = dual.h[np.isfinite(dual.h) & (dual.h > 0)]
    hs = float(np.median(pos)) if len(pos) else 1.0
    As = float(np.median(dual.a[dual.a > 0])) if (dual.a > 0).any() else 1.0
    scale = np.r_[np.full(C, hs), np.full(len(bal_cols), hs / As), np.full(len(share_cols), hs)]
    y0 = np.r_[lam0, np.zeros(len(bal_cols) + len(share_cols))]
    y, bound, iters = _minimise(dual, y0, scale)
    lam, mu, rho = dual.split(y)
    notes.append(f"dual: {iters} cutting-plane iterations")
    # plan: counts exactly by min-cost flow on priced gains, then repair
    hp = np.full(c.h.shape, np.iinfo(np.int64).min // 4, dtype=np.int64)
    pr = dual.priced(mu, rho)
    hp[dual.rows] = np.where(np.isfinite(pr), np.rint(pr), hp[dual.rows]).astype(np.int64)
    choice, _ = counts_flow(replace(c, h=hp), c.cap)
    choice = _repair(c, choice, notes)
    on = choice >= 0
    gain = int(c.h[np.flatnonzero(on), choice[on]].sum())
    return choice, gain, int(np.floor(bound + 1e-6)), lam, mu, rho


def _repair(c: Core, choice: np.ndarray, notes: list[str]) -> np.ndarray:
    """What the prices leave broken, in order: split customers, balance caps, short min shares;
    then the freed slots refilled and the min shares enforced."""
    ch = choice.copy()
    moved = _rejoin_customers(c, ch)
    moved += _meet_balance_caps(c, ch)
    moved += _fill_short_shares(c, ch)
    filled = _refill(c, ch)
    dropped = enforce_shares(c.vendor, c.ms, c.h, ch)
    if moved or filled or dropped:
        notes.append(f"repair moved {moved} accounts, refilled {filled} freed slots, dropped {dropped} "
                     "vendor placements for the min shares")
    return ch


def _vendor_customers(c: Core, ch: np.ndarray) -> np.ndarray:
    """bool per customer code: the customer has an account at a vendor in `ch`."""
    has_vendor = np.zeros(c.customer.max() + 1, bool)
    has_vendor[c.customer[np.isin(ch, np.flatnonzero(c.vendor))]] = True
    return has_vendor


def _rejoin_customers(c: Core, ch: np.ndarray) -> int:
    """A customer split across vendors where one keeps customers together keeps the vendor
    with the larger total gain; its other vendor accounts fall back. Returns how many moved."""
    vend = np.flatnonzero(c.vendor)
    if not (c.together.any() and len(vend) > 1):
        return 0
    idx = np.flatnonzero(np.isin(ch, vend))
    if not len(idx):
        return 0
    cu, vv = c.customer[idx], ch[idx]
    pairs, inv = np.unique(np.stack([cu, vv], 1), axis=0, return_inverse=True)
    tot = np.bincount(inv.ravel(), weights=c.h[idx, vv])
    cust, k = np.unique(pairs[:, 0], return_counts=True)
    flagged = np.bincount(np.searchsorted(cust, pairs[:, 0]), weights=c.together[pairs[:, 1]])
    bad = cust[(k > 1) & (flagged > 0)]
    if not len(bad):
        return 0
    sel = np.isin(pairs[:, 0], bad)
    pb_, tb = pairs[sel], tot[sel]
    o = np.lexsort((pb_[:, 1], -tb, pb_[:, 0]))
    first = np.r_[True, pb_[o][1:, 0] != pb_[o][:-1, 0]]
    win = np.full(c.customer.max() + 1, -1, dtype=np.int64)
    win[pb_[o][first, 0]] = pb_[o][first, 1]
    w = win[c.customer[idx]]
    lose = (w >= 0) & (w != ch[idx])
    ch[idx[lose]] = -1
    return int(lose.sum())


def _meet_balance_caps(c: Core, ch: np.ndarray) -> int:
    """A column over its balance cap drops its lowest gains per unit of balance until it fits."""
    moved = 0
    for j in np.flatnonzero(c.bal >= 0):
        idx = np.flatnonzero(ch == j)
        over = c.amount[idx].sum() - c.bal[j]
        if over > 0:
            ratio = c.h[idx, j] / np.maximum(c.amount[idx], 1)
            o = idx[np.lexsort((idx, ratio))]
            k = int(np.searchsorted(np.cumsum(c.amount[o]), over)) + 1
            ch[o[:k]] = -1
            moved += k
    return moved


def _fill_short_shares(c: Core, ch: np.ndarray) -> int:
    """Each vendor short of its min share takes the best candidates (twice round the vendors),
    else the other vendors' weakest placements are dropped. Returns how many moved."""
    moved = 0
    for _ in range(2):
        for v in np.flatnonzero(c.ms > 0):
            moved += _fill_share(c, ch, v)
    return moved


def _fill_share(c: Core, ch: np.ndarray, v: int) -> int:
    """Vendor v's min share: add the best candidates, else drop other vendors' weakest."""
    C = c.h.shape[1]
    vend = np.flatnonzero(c.vendor)
    cnt = np.bincount(ch[ch >= 0], minlength=C)
    nv = cnt[vend].sum()
    need = int(np.ceil((c.ms[v] * nv - cnt[v]) / (1 - c.ms[v]) - 1e-9)) if c.ms[v] < 1 else 0
    if need <= 0:
        return 0
    # candidates: free accounts, and accounts in capped in-house queues of customers with
    # one account here (moving it splits no customer; the refill takes the slot it frees),
    # best first by what the move gains. Free accounts alone left a short vendor empty when
    # the dual plan had put all its eligible accounts in teams, and the drop below then
    # cascaded to no vendor placement at all (8-22% of the movable value lost, issue 16).
    single = np.bincount(c.customer)[c.customer] == 1
    in_team = (ch >= 0) & ~c.vendor[np.maximum(ch, 0)] & single
    cand = np.flatnonzero(((ch < 0) | in_team) & c.e[:, v] & ~_vendor_customers(c, ch)[c.customer])
    delta = c.h[cand, v] - np.where(ch[cand] >= 0, c.h[cand, np.maximum(ch[cand], 0)], 0)
    cand = cand[np.lexsort((cand, -delta))]
    room = c.cap[v] - cnt[v]
    cand = cand[:max(0, min(room, need))]
    if c.bal[v] >= 0:
        held = c.amount[ch == v].sum()
        cand = cand[np.cumsum(c.amount[cand]) <= c.bal[v] - held]
    ch[cand] = v
    moved = len(cand)
    if need - len(cand) > 0:  # drop the weakest placements of the other vendors
        cnt = np.bincount(ch[ch >= 0], minlength=C)
        nv = cnt[vend].sum()
        drop_n = int(np.ceil(nv - cnt[v] / c.ms[v] + 1e-9)) if c.ms[v] > 0 else 0
        others = np.flatnonzero(np.isin(ch, vend) & (ch != v))
        others = others[np.lexsort((others, c.h[others, ch[others]]))][:max(0, drop_n)]
        ch[others] = -1
        moved += len(others)
    return moved


def _refill(c: Core, ch: np.ndarray) -> int:
    """Slots the repair freed, refilled with the best positive gains (in-house columns first),
    keeping every side constraint. Returns how many accounts it placed."""
    C = c.h.shape[1]
    vend = np.flatnonzero(c.vendor)
    filled = 0
    for j in sorted(range(C), key=lambda j: (bool(c.vendor[j]), j)):
        cnt = np.bincount(ch[ch >= 0], minlength=C)
        room = int(c.cap[j] - cnt[j])
        if room <= 0:
            continue
        ok = (ch < 0) & c.e[:, j] & (c.h[:, j] > 0)
        if c.vendor[j]:
            ok &= ~_vendor_customers(c, ch)[c.customer]
            nv = cnt[vend].sum()
            for v in np.flatnonzero(c.ms > 0):
                if v != j:
                    room = min(room, int(np.floor(cnt[v] / c.ms[v] - nv + 1e-9)))
        cand = np.flatnonzero(ok)
        cand = cand[np.lexsort((cand, -c.h[cand, j]))][:max(0, room)]
        if c.bal[j] >= 0:
            cand = cand[np.cumsum(c.amount[cand]) <= c.bal[j] - c.amount[ch == j].sum()]
        if c.vendor[j] and len(cand):
            _, first = np.unique(c.customer[cand], return_index=True)  # one new account per customer
            cand = np.sort(cand[first])
        ch[cand] = j
        filled += len(cand)
    return filled
