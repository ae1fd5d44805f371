"""Model quality measures: AUC with DeLong confidence intervals, Gini, KS, deciles, bands, PSI."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

__all__ = ["auc_delong", "auc_diff_delong", "ks_stat", "deciles", "by_band", "psi", "dist_reference",
           "summary", "reliability"]


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
    z = norm.ppf(0.5 + level / 2)
    return {"auc": auc, "se": se, "lo": max(0.0, auc - z * se), "hi": min(1.0, auc + z * se),
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


def ks_stat(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y).astype(int)
    if len(y) == 0 or y.min() == y.max():
        return float("nan")
    order = np.argsort(-np.asarray(p, float), kind="stable")
    ys = y[order]
    tp = np.cumsum(ys) / ys.sum()
    fp = np.cumsum(1 - ys) / (1 - ys).sum()
    return float(np.max(np.abs(tp - fp)))


def deciles(y: np.ndarray, p: np.ndarray) -> list[dict[str, float]]:
    """Lift and capture of repayers by decile of predicted willingness (decile 1 = highest)."""
    y = np.asarray(y).astype(float)
    n = len(y)
    if n == 0 or y.sum() == 0:
        return []
    order = np.argsort(-np.asarray(p, float), kind="stable")
    dec = (np.arange(n) * 10 // n) + 1
    ys, ps = y[order], np.asarray(p, float)[order]
    base = y.mean()
    out, cum = [], 0.0
    for d in range(1, 11):
        m = dec == d
        if not m.any():
            continue
        cum += ys[m].sum()
        out.append({"decile": d, "rows": int(m.sum()), "mean_p": float(ps[m].mean()),
                    "repay_rate": float(ys[m].mean()), "lift": float(ys[m].mean() / base),
                    "capture": float(cum / y.sum())})
    return out


def by_band(y: np.ndarray, p: np.ndarray, band: np.ndarray, order: list[str]) -> list[dict[str, float]]:
    """Calibration by band: predicted mean against the observed repayment rate."""
    df = pd.DataFrame({"y": np.asarray(y, float), "p": np.asarray(p, float), "band": np.asarray(band)})
    out = []
    for b in order:
        s = df[df["band"] == b]
        out.append({"band": b, "rows": int(len(s)), "mean_p": float(s["p"].mean()) if len(s) else None,
                    "repay_rate": float(s["y"].mean()) if len(s) else None})
    return out


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
    idx = np.searchsorted(edges, x, side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1) / max(len(v), 1)
    return {"kind": "numeric", "missing": missing, "edges": edges.tolist(), "shares": counts.tolist()}


def psi(reference: dict, values: pd.Series, eps: float = 1e-4) -> float:
    """Population stability index of `values` against a `dist_reference` (missing is a bin)."""
    n = max(len(values), 1)
    if reference["kind"] == "categorical":
        levels = list(reference["levels"])
        cur = values.dropna().astype("str").value_counts()
        ref_sh = [reference["levels"][k] for k in levels]
        cur_sh = [cur.get(k, 0) / n for k in levels]
        other_ref = max(0.0, 1 - reference["missing"] - sum(ref_sh))
        other_cur = float(cur[~cur.index.isin(levels)].sum()) / n
        ref_sh += [reference["missing"], other_ref]
        cur_sh += [float(values.isna().mean()) if len(values) else 0.0, other_cur]
    else:
        x = pd.to_numeric(values, errors="coerce")
        edges = np.asarray(reference["edges"], float)
        xs = x.dropna().to_numpy(float)
        counts = np.bincount(np.searchsorted(edges, xs, side="right"), minlength=len(edges) + 1) / n
        ref_sh = list(reference["shares"]) + [reference["missing"]]
        cur_sh = list(counts) + [float(x.isna().mean()) if len(x) else 0.0]
    r = np.maximum(np.asarray(ref_sh, float), eps)
    c = np.maximum(np.asarray(cur_sh, float), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def summary(y: np.ndarray, p: np.ndarray) -> dict:
    a = auc_delong(y, p)
    return {**a, "gini": 2 * a["auc"] - 1 if a["auc"] == a["auc"] else np.nan,
            "gini_lo": 2 * a["lo"] - 1 if a["lo"] == a["lo"] else np.nan,
            "gini_hi": 2 * a["hi"] - 1 if a["hi"] == a["hi"] else np.nan,
            "ks": ks_stat(y, p), "repay_rate": float(np.mean(y)) if len(y) else np.nan}


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Calibration curve: rows in deciles of predicted p, mean predicted against observed rate."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if len(y) == 0:
        return []
    order = np.argsort(p, kind="stable")
    grp = np.empty(len(y), np.int64)
    grp[order] = np.arange(len(y)) * bins // len(y)
    out = []
    for g in range(bins):
        m = grp == g
        if m.any():
            out.append({"rows": int(m.sum()), "mean_p": float(p[m].mean()), "repay_rate": float(y[m].mean())})
    return out
