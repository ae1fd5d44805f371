"""Which LightGBM model scores a segment: its own, its customer line's, or the pooled one.

Decided on the held-out calibration rows with paired DeLong AUC differences (`stats`):
`decide_line` per customer line (its model against the pooled one), then `decide_segment`
per segment (its own model against the parent its line chose).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine import stats as S

__all__ = ["POOLED", "line_model_name", "decide_line", "decide_segment"]

POOLED = "pooled"


def line_model_name(line: str) -> str:
    """The booster name of a customer line's model (all its stages)."""
    return f"{line}/all"


def decide_line(line: str, y: np.ndarray, margin: dict[str, np.ndarray], cal: np.ndarray,
                 seg: np.ndarray) -> dict:
    """A customer line's own model (its stages together) against the pooled model, on the line's
    held-out decision rows, compared within segments: the line model only when its AUC gain,
    averaged over the line's segments (weighted by rows; each segment's paired DeLong difference,
    independent across segments), exceeds one standard error (the pooled model, which sees the
    line as a feature, wins a tie). Within segments, because the stages' ranking is what both
    models share: a whole-line AUC is dominated by the stage (DPD) and dilutes a within-stage
    gain several times. Deciding per line pools the evidence of its stages, where one segment's
    few hundred held-out rows drown a difference of a few AUC points in noise."""
    name = line_model_name(line)
    if name not in margin:
        return {"model": "pooled", "why": "too few rows or one outcome class for a line model"}
    parts = []
    for s in sorted(pd.unique(seg[cal])):
        m = cal & (seg == s)
        if m.sum() >= 30 and len(np.unique(y[m])) == 2:
            d = S.auc_diff_delong(y[m], margin[name][m], margin[POOLED][m])
            if np.isfinite(d["diff"]) and np.isfinite(d["se"]):
                parts.append((int(m.sum()), d["diff"], d["se"]))
    if not parts:
        return {"model": "pooled", "why": "no usable held-out rows for the line"}
    n = np.array([p[0] for p in parts], float)
    w = n / n.sum()
    diff = float(np.sum(w * [p[1] for p in parts]))
    se = float(np.sqrt(np.sum(w ** 2 * np.square([p[2] for p in parts]))))
    m = "line" if diff > se else "pooled"
    return {"model": m, "diff": diff, "diff_se": se, "rows_compared": int(n.sum()),
            "segments_compared": len(parts),
            "why": "line model only if better than pooled within the line's segments by more "
                   "than one standard error"}


def decide_segment(s: str, own_ok: bool, n_hist: int, min_rows: int, y: np.ndarray,
            margin: dict[str, np.ndarray], cal: np.ndarray, parent: str = POOLED) -> dict:
    """The segment's own model against its parent (its line's model where the line chose one,
    else the pooled model); `model` says own, line or pooled, `against` the parent."""
    up = "pooled" if parent == POOLED else "line"
    base = {"segment_rows": n_hist, "min_segment_rows": min_rows, "against": parent}
    if not own_ok:
        why = "no training rows" if n_hist == 0 else "too few rows or one outcome class for an own model"
        return {**base, "model": up, "why": why}
    if cal.sum() < 30 or len(np.unique(y[cal])) < 2:
        m = "own" if n_hist >= min_rows else up
        return {**base, "model": m, "why": "no usable held-out rows; decided by size alone"}
    own = S.auc_delong(y[cal], margin[s][cal])
    pooled = S.auc_delong(y[cal], margin[POOLED][cal])
    d = S.auc_diff_delong(y[cal], margin[s][cal], margin[parent][cal])
    ev = {**base, "auc_own": own["auc"], "auc_pooled": pooled["auc"],
          "auc_against": S.auc_delong(y[cal], margin[parent][cal])["auc"], "diff": d["diff"],
          "diff_se": d["se"], "rows_compared": int(cal.sum())}
    if n_hist >= min_rows:
        m = "own" if d["diff"] >= 0 else up
        why = f"segment large enough: the better held-out AUC (own vs {up})"
    else:
        m = "own" if d["diff"] > d["se"] else up
        why = (f"small segment: own model only if better than the {up} model by more than one "
               "standard error")
    return {**ev, "model": m, "why": why}
