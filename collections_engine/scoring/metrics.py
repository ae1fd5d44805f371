"""Model quality measures of the version report: AUC, Gini and KS together (`summary`), deciles,
calibration by band and reliability curves. The statistics under them (DeLong, KS, PSI,
intervals) live in `collections_engine.stats`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.stats import auc_delong, ks_stat

__all__ = ["deciles", "by_band", "summary", "reliability"]


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
