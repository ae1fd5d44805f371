"""Queue x stage effects from the engine's own logged history: inverse-propensity (Hajek) and
doubly robust (AIPW), with customer-clustered intervals; pure.

Why both: the issue asks for effects that stay honest once the engine decides. Inverse-propensity
weighting is unbiased when the logged propensities are right, but noisy (an explorer's weight is
k / explore, 60-100 at 5%). The doubly robust estimate adds an outcome model (repayment given
the account's score and size, per queue and stage): it is unbiased when either the propensities
or the outcome model are right, and its interval is narrower when the model predicts.

Rows: the history rows the engine's decisions randomised (propensity strictly between 0 and 1;
the explorable accounts). For stage s, R_s those rows (N of them), and queue q (the control is
`not_worked`), with w = 1 / propensity and A the queue the row got:
    IPW: theta_q = sum_{A=q} w y / W_q,                         W_q = sum_{A=q} w
    DR:  theta_q = mean_{R_s} mu_q(x) + sum_{A=q} w (y - mu_q(x)) / W_q
mu_q(x) a logistic regression of y on [logit(score), log(1 + amount)] fitted on the rows of
(q, s) (a constant where it has fewer than `min_fit` rows or one outcome). The effect is
theta_q / theta_not_worked. Intervals: the estimators' influence values summed per cluster
(customer, else account: an account explored on several nights is one unit), var(log effect)
= sum_c (sum_{i in c} psi_q,i / theta_q - psi_0,i / theta_0)^2 / N^2, and
exp(log effect +- z sd). A cell is `estimable` when at least `min_explored` of its rows and of
the stage's control rows came from exploration's draw (propensity below 0.5), and its queue is
not one exploration never draws (`never_explore`, legal by default: no estimate, reason
"excluded from exploration").

What either estimates is the effect on the explorable accounts (customers with one delinquent
account, not kept nor held), not on the whole book: where the effect differs by account
trait, the two differ (benchmarks/bench_experiments.py measures both against the world).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from collections_engine.assign.effects import CONTROL
from collections_engine.stats import z_of

__all__ = ["logged_effects", "mark_estimable", "influence", "outcome_features", "LOGGED_COLUMNS", "METHODS",
           "EXCLUDED"]

METHODS = ("ipw", "dr")
LOGGED_COLUMNS = ["method", "queue", "stage", "n", "explored", "n_control", "explored_control",
                  "repay_rate", "control_rate", "effect", "ci_low", "ci_high", "estimable", "reason"]
EXCLUDED = "excluded from exploration"


def outcome_features(rows: pd.DataFrame) -> np.ndarray:
    """The outcome model's inputs: logit of the night's score and log(1 + collectable)."""
    cols = []
    if "score" in rows.columns:
        p = np.clip(pd.to_numeric(rows["score"], errors="coerce").fillna(0.5).to_numpy(float), 1e-4, 1 - 1e-4)
        cols.append(np.log(p / (1 - p)))
    if "amount" in rows.columns:
        cols.append(np.log1p(np.clip(pd.to_numeric(rows["amount"], errors="coerce").fillna(0.0)
                                     .to_numpy(float), 0, None)))
    return np.column_stack(cols) if cols else np.zeros((len(rows), 0))


def _outcome_model(x: np.ndarray, y: np.ndarray, fit: np.ndarray, min_fit: int) -> np.ndarray:
    """mu(x) for every row from a logistic regression on the `fit` rows (their mean if too few)."""
    yf = y[fit]
    if fit.sum() == 0:
        return np.full(len(y), np.nan)
    if x.shape[1] == 0 or fit.sum() < min_fit or yf.min() == yf.max():
        return np.full(len(y), yf.mean())
    mean, sd = x[fit].mean(axis=0), x[fit].std(axis=0)
    sd[sd == 0] = 1.0
    z = (x - mean) / sd
    m = LogisticRegression(C=1.0, max_iter=200).fit(z[fit], yf)
    return m.predict_proba(z)[:, 1]


def influence(y: np.ndarray, w: np.ndarray, is_q: np.ndarray, mu: np.ndarray | None
           ) -> tuple[float, np.ndarray]:
    """(theta_q, influence value per row, scaled so var(theta) = sum_c (sum psi)^2 / N^2)."""
    n = len(y)
    wq = np.where(is_q, w, 0.0)
    total = wq.sum()
    if total <= 0:
        return float("nan"), np.zeros(n)
    base = np.zeros(n) if mu is None else mu
    resid = y - base
    corr = float((wq * resid).sum() / total)
    direct = float(base.mean())
    theta = direct + corr
    psi = (base - direct) + (n / total) * wq * (resid - corr)
    return theta, psi


def logged_effects(rows: pd.DataFrame, *, level: float = 0.95, min_explored: int = 30,
                   min_fit: int = 50, methods: tuple[str, ...] = METHODS,
                   excluded: frozenset[str] | set[str] = frozenset()) -> pd.DataFrame:
    """Per method, queue and stage: the effect from the randomised rows of `rows`.

    rows: one per history row with `account_id`, `stage`, `queue` ('not_worked' or '' for the
    control), `propensity`, `repaid` (0/1); optional `customer_id` (the cluster), `score` (the
    night's p_repay) and `amount` (collectable) for the outcome model.
    excluded: queues exploration never draws (`config.experiments.never_explored`): their rows
    are the solver's choices only (propensity 1 - explore), so a weighted mean of them is the
    confounded average of whom the engine chose, not an effect: no estimate, `estimable`
    false and `reason` "excluded from exploration" (neither covered nor missed). `reason` of
    another cell not estimable: too few explored rows in it or in the stage's control."""
    z = z_of(level)
    prop = pd.to_numeric(rows["propensity"], errors="coerce").to_numpy(float)
    keep = np.isfinite(prop) & (prop > 0) & (prop < 1)
    d = rows[keep].reset_index(drop=True)
    prop = prop[keep]
    queue = d["queue"].astype("str").replace({"": CONTROL, "nan": CONTROL}).to_numpy(dtype=object)
    stage = d["stage"].astype("str").to_numpy(dtype=object)
    y = pd.to_numeric(d["repaid"], errors="coerce").fillna(0).to_numpy(float)
    w = 1.0 / prop
    low = prop < 0.5
    x = outcome_features(d)
    cl = (d["customer_id"] if "customer_id" in d.columns else d["account_id"]).astype("str").to_numpy(dtype=object)
    out = []
    for s in sorted(pd.unique(stage[stage != ""])):
        m = stage == s
        ys, ws, qs, xs, ls = y[m], w[m], queue[m], x[m], low[m]
        codes, _ = pd.factorize(cl[m])
        is0 = qs == CONTROL
        if not is0.any():
            continue
        mus = {q: _outcome_model(xs, ys, qs == q, min_fit) for q in pd.unique(qs)}
        for method in methods:
            t0, p0 = influence(ys, ws, is0, mus[CONTROL] if method == "dr" else None)
            for q in sorted(set(qs) - {CONTROL}):
                isq = qs == q
                tq, pq = influence(ys, ws, isq, mus[q] if method == "dr" else None)
                with np.errstate(divide="ignore", invalid="ignore"):
                    eff = float(np.float64(tq) / np.float64(t0))
                    infl = np.bincount(codes, weights=pq / tq - p0 / t0)
                    sd = float(np.sqrt((infl ** 2).sum()) / len(ys))
                ok = np.isfinite(eff) and eff > 0 and np.isfinite(sd)
                out.append({"method": method, "queue": q, "stage": s, "n": int(isq.sum()),
                            "explored": int((isq & ls).sum()), "n_control": int(is0.sum()),
                            "explored_control": int((is0 & ls).sum()), "repay_rate": tq,
                            "control_rate": t0, "effect": eff,
                            "ci_low": eff * np.exp(-z * sd) if ok else np.nan,
                            "ci_high": eff * np.exp(z * sd) if ok else np.nan})
    e = pd.DataFrame(out, columns=[c for c in LOGGED_COLUMNS if c not in ("estimable", "reason")])
    return mark_estimable(e, min_explored, excluded)[LOGGED_COLUMNS]


def mark_estimable(e: pd.DataFrame, min_explored: int, excluded) -> pd.DataFrame:
    """`estimable` and, where not, the `reason`; an excluded queue's cells lose their estimate."""
    few = (e["explored"] < min_explored) | (e["explored_control"] < min_explored)
    out = e["queue"].isin(list(excluded)).to_numpy()
    e["estimable"] = ~few.to_numpy() & ~out
    e["reason"] = np.where(out, EXCLUDED, np.where(
        few, "too little exploration: " + e["explored"].astype(str) + " explored rows, "
        + e["explored_control"].astype(str) + " in the stage's control (need " + str(min_explored) + ")", ""))
    e.loc[out, ["effect", "ci_low", "ci_high"]] = np.nan
    return e
