"""The statistics every part of the engine uses, defined once: AUC with DeLong standard errors
(alone and as a paired difference, with its interval and p-value), KS (plain and under bootstrap
weights), PSI (from values or from counts) and its reference distribution, normal intervals and
p-values, Holm's correction, and the account-clustered Poisson bootstrap.

Model versions (`scoring`), the nightly drift (`report.monitor`, `spark`), the source valuation
(`sources`) and the experiments (`experiments`) import them from here. Every function is pure and
vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

__all__ = ["z_of", "normal_interval", "percentile_interval", "two_sided_p", "auc_delong", "auc_diff_delong", "paired_auc",
           "ks_stat", "ks_boot", "dist_reference", "bin_index", "psi", "psi_counts", "holm", "boot_weights",
           "boot_sum"]


# ---- normal intervals ------------------------------------------------------------------------

def z_of(level: float = 0.95) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95)."""
    return float(norm.ppf(0.5 + level / 2))


def normal_interval(est: float, se: float, level: float = 0.95) -> tuple[float, float]:
    """est -/+ z * se."""
    z = z_of(level)
    return est - z * se, est + z * se


def percentile_interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The bootstrap percentile interval: the draws' quantiles at Phi(-z) and Phi(z)."""
    z = z_of(level)
    lo, hi = np.quantile(draws, [norm.cdf(-z), norm.cdf(z)])
    return float(lo), float(hi)


def two_sided_p(diff: float, se: float) -> float:
    """Two-sided normal p-value of diff / se (se > 0)."""
    return float(2 * norm.sf(abs(diff) / se))


# ---- AUC (DeLong) ----------------------------------------------------------------------------

def _placements(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """DeLong structural components V10 (per positive) and V01 (per negative), and the AUC."""
    pos, neg = p[y == 1], p[y == 0]
    m, n = len(pos), len(neg)
    r_all = rankdata(np.concatenate([pos, neg]))
    r_pos, r_neg = rankdata(pos), rankdata(neg)
    v10 = (r_all[:m] - r_pos) / n
    v01 = 1.0 - (r_all[m:] - r_neg) / m
    auc = float((r_all[:m].sum() - m * (m + 1) / 2) / (m * n))
    return v10, v01, auc


def auc_delong(y: np.ndarray, p: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """AUC with its DeLong standard error and a normal CI (NaN when a class is missing)."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        return {"auc": np.nan, "se": np.nan, "lo": np.nan, "hi": np.nan, "n": int(len(y)),
                "positives": int(y.sum()) if len(y) else 0}
    v10, v01, auc = _placements(y, p)
    se = float(np.sqrt(np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01))) \
        if len(v10) > 1 and len(v01) > 1 else np.nan
    lo, hi = normal_interval(auc, se, level)
    return {"auc": auc, "se": se, "lo": max(0.0, lo), "hi": min(1.0, hi),
            "n": int(len(y)), "positives": int(y.sum())}


def auc_diff_delong(y: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> dict[str, float]:
    """AUC(p1) - AUC(p2) on the same rows, with the paired DeLong standard error."""
    y = np.asarray(y).astype(int)
    if len(y) < 3 or y.min() == y.max() or y.sum() < 2 or (1 - y).sum() < 2:
        return {"diff": np.nan, "se": np.nan}
    a10, a01, a1 = _placements(y, np.asarray(p1, float))
    b10, b01, a2 = _placements(y, np.asarray(p2, float))
    s10 = np.cov(np.vstack([a10, b10]))
    s01 = np.cov(np.vstack([a01, b01]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(a10) + \
          (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / len(a01)
    return {"diff": a1 - a2, "se": float(np.sqrt(max(var, 0.0)))}


def paired_auc(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, level: float = 0.95
               ) -> dict[str, float]:
    """AUC(a) - AUC(b) on the same rows: DeLong paired SE, its CI and two-sided p-value."""
    a, b = auc_delong(y, p_a), auc_delong(y, p_b)
    d = auc_diff_delong(y, p_a, p_b)
    diff, se = d["diff"], d["se"]
    if np.isnan(diff):
        pval = np.nan
    elif se == 0 or np.isnan(se):
        pval = 1.0 if diff == 0 else 0.0
    else:
        pval = two_sided_p(diff, se)
    lo, hi = normal_interval(diff, 0.0 if np.isnan(se) else se, level)
    return {"auc_a": a["auc"], "auc_b": b["auc"], "auc_diff": diff, "auc_diff_se": se,
            "auc_diff_lo": lo, "auc_diff_hi": hi, "p_value": pval}


# ---- KS --------------------------------------------------------------------------------------

def _ks_sorted(wy: np.ndarray, wn: np.ndarray) -> np.ndarray:
    """max |TPR - FPR| from the repayers' and non-repayers' weights in score order (last axis)."""
    ty = np.cumsum(wy, axis=-1)
    tn = np.cumsum(wn, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.max(np.abs(ty / ty[..., -1:] - tn / tn[..., -1:]), axis=-1)


def ks_stat(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov separation of repayers and non-repayers by p (NaN with one class)."""
    y = np.asarray(y).astype(int)
    if len(y) == 0 or y.min() == y.max():
        return float("nan")
    ys = y[np.argsort(-np.asarray(p, float), kind="stable")].astype(np.float64)
    return float(_ks_sorted(ys, 1 - ys))


def ks_boot(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """KS of (y, p) and its value under each row of bootstrap weights `w` (n_boot x n)."""
    y = np.asarray(y).astype(np.float64)
    if len(y) == 0 or y.min() == y.max():
        return float("nan"), np.full(w.shape[0], np.nan)
    order = np.argsort(-np.asarray(p, np.float64), kind="stable")
    ys = y[order]
    ws = w[:, order]
    return float(_ks_sorted(ys, 1 - ys)), _ks_sorted(ws * ys, ws * (1 - ys))


# ---- PSI -------------------------------------------------------------------------------------

def dist_reference(values: pd.Series, kind: str, bins: int = 10) -> dict:
    """Reference distribution for PSI: quantile edges and shares (numeric) or level shares."""
    v = values
    missing = float(v.isna().mean()) if len(v) else 0.0
    if kind == "categorical":
        shares = v.dropna().astype("str").value_counts(normalize=False)
        total = max(len(v), 1)
        return {"kind": "categorical", "missing": missing,
                "levels": {str(k): float(c) / total for k, c in sorted(shares.items())}}
    x = pd.to_numeric(v, errors="coerce").dropna().to_numpy(dtype=float)
    if len(x) == 0:
        return {"kind": "numeric", "missing": missing, "edges": [], "shares": []}
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
    idx = bin_index(edges, x)
    counts = np.bincount(idx, minlength=len(edges) + 1) / max(len(v), 1)
    return {"kind": "numeric", "missing": missing, "edges": edges.tolist(), "shares": counts.tolist()}


def bin_index(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`np.searchsorted(edges, x, side="right")` (how many sorted edges are <= each value; no
    NaN in x): for a few edges and many values, one vector comparison per edge, several times
    faster than a binary search per value (PSI bins a million rows per feature each night)."""
    if len(edges) > 16 or len(x) < 4096:
        return np.searchsorted(edges, x, side="right")
    idx = np.zeros(len(x), np.intp)
    for e in edges:
        idx += x >= e
    return idx


def psi(reference: dict, values: pd.Series, eps: float = 1e-4) -> float:
    """Population stability index of `values` against a `dist_reference` (missing is a bin)."""
    if reference["kind"] == "categorical":
        counts = values.dropna().astype("str").value_counts()
        return psi_counts(reference, dict(counts.items()), int(values.isna().sum()), len(values), eps)
    x = pd.to_numeric(values, errors="coerce")      # a value that is not a number counts as missing
    edges = np.asarray(reference["edges"], float)
    bins = np.bincount(bin_index(edges, x.dropna().to_numpy(float)), minlength=len(edges) + 1)
    return psi_counts(reference, bins, int(x.isna().sum()), len(values), eps)


def psi_counts(reference: dict, counts: dict | np.ndarray | None, missing: int, rows: int,
               eps: float = 1e-4) -> float:
    """PSI from counts: level -> count (categorical) or the count in each of the reference's
    bins (numeric; None for none), `missing` rows without a value, `rows` in all. The shares are
    counts over rows; missing and (categorical) unseen levels are bins of their own."""
    n = max(rows, 1)
    if reference["kind"] == "categorical":
        counts = counts or {}
        levels = list(reference["levels"])
        ref_sh = [reference["levels"][k] for k in levels]
        cur_sh = [counts.get(k, 0) / n for k in levels]
        other_ref = max(0.0, 1 - reference["missing"] - sum(ref_sh))
        other_cur = float(sum(v for k, v in counts.items() if k not in reference["levels"])) / n
        ref_sh += [reference["missing"], other_ref]
        cur_sh += [missing / rows if rows else 0.0, other_cur]
    else:
        bins = np.zeros(len(reference["edges"]) + 1, np.int64) if counts is None else np.asarray(counts)
        ref_sh = list(reference["shares"]) + [reference["missing"]]
        cur_sh = list(bins / n) + [missing / rows if rows else 0.0]
    r = np.maximum(np.asarray(ref_sh, float), eps)
    c = np.maximum(np.asarray(cur_sh, float), eps)
    return float(np.sum((c - r) * np.log(c / r)))


# ---- multiple tests and the cluster bootstrap ------------------------------------------------

def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN stays NaN and does not count as a test.

    adj p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) for the ascending order p_(1) <= ...
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def boot_weights(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """Poisson(1) bootstrap weights, one per cluster (account) and replicate: n_boot x n_clusters.

    A row's weight is its cluster's (`w[:, cluster_code]`), so all rows of one account move
    together (the rows of one account on different dates are not independent)."""
    rng = np.random.default_rng(seed)
    return rng.poisson(1.0, size=(n_boot, n_clusters)).astype(np.float32)


def boot_sum(d: np.ndarray, w: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Bootstrap replicates of sum(d) with cluster weights w (n_boot x clusters); only the
    non-zero entries of d are touched."""
    d = np.asarray(d, np.float64)
    nz = np.flatnonzero(d)
    if len(nz) == 0:
        return np.zeros(w.shape[0])
    return w[:, cluster[nz]].astype(np.float64) @ d[nz]
