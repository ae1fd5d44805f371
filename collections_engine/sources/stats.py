"""Statistics of the valuation: Holm correction, paired AUC and KS changes, bootstrap sums.

Every function is pure and vectorised; the paired comparisons always use the same rows for
both variants (the out-of-time rows), so the row-to-row noise cancels.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from collections_engine.scoring.metrics import auc_delong, auc_diff_delong

__all__ = ["holm", "paired_auc", "ks_boot", "boot_weights", "boot_sum"]

Z95 = float(norm.ppf(0.975))


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


def paired_auc(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray) -> dict[str, float]:
    """AUC(a) - AUC(b) on the same rows: DeLong paired SE, 95% CI and two-sided p-value."""
    a, b = auc_delong(y, p_a), auc_delong(y, p_b)
    d = auc_diff_delong(y, p_a, p_b)
    diff, se = d["diff"], d["se"]
    if np.isnan(diff):
        pval = np.nan
    elif se == 0 or np.isnan(se):
        pval = 1.0 if diff == 0 else 0.0
    else:
        pval = float(2 * norm.sf(abs(diff) / se))
    se0 = 0.0 if np.isnan(se) else se
    return {"auc_a": a["auc"], "auc_b": b["auc"], "auc_diff": diff, "auc_diff_se": se,
            "auc_diff_lo": diff - Z95 * se0, "auc_diff_hi": diff + Z95 * se0, "p_value": pval}


def boot_weights(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """Poisson(1) bootstrap weights, one per cluster (account) and replicate: n_boot x n_clusters.

    A row's weight is its cluster's (`w[:, cluster_code]`), so all rows of one account move
    together (the rows of one account on different dates are not independent)."""
    rng = np.random.default_rng(seed)
    return rng.poisson(1.0, size=(n_boot, n_clusters)).astype(np.float32)


def ks_boot(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """KS of (y, p) and its value under each row of bootstrap weights `w` (n_boot x n)."""
    y = np.asarray(y).astype(np.float64)
    if len(y) == 0 or y.min() == y.max():
        return float("nan"), np.full(w.shape[0], np.nan)
    order = np.argsort(-np.asarray(p, np.float64), kind="stable")
    ys = y[order]
    ws = w[:, order]

    def ks(wy: np.ndarray, wn: np.ndarray) -> np.ndarray:
        ty = np.cumsum(wy, axis=-1)
        tn = np.cumsum(wn, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.max(np.abs(ty / ty[..., -1:] - tn / tn[..., -1:]), axis=-1)

    point = float(ks(ys, 1 - ys))
    return point, ks(ws * ys, ws * (1 - ys))


def boot_sum(d: np.ndarray, w: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Bootstrap replicates of sum(d) with cluster weights w (n_boot x clusters); only the
    non-zero entries of d are touched."""
    d = np.asarray(d, np.float64)
    nz = np.flatnonzero(d)
    if len(nz) == 0:
        return np.zeros(w.shape[0])
    return w[:, cluster[nz]].astype(np.float64) @ d[nz]
