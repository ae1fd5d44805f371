"""The version's report (report.json) and drift references (reference.json) from the test
rows of `train`: per segment and overall discrimination with DeLong intervals, deciles,
calibration by band, out-of-time stability, the families side by side, top features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine import stats as S
from collections_engine.scoring import metrics as M
from collections_engine.scoring.encode import Encoder
from collections_engine.scoring.points import band_of, band_order, points_of

__all__ = ["version_report", "family_block", "drift_reference", "dates_of"]


def dates_of(s: pd.Series) -> list[str]:
    return [pd.Timestamp(d).strftime("%Y-%m-%d") for d in sorted(s.unique())]


def version_report(strategy: Strategy, v: pd.DataFrame, segments: dict, boosters: dict, enc: Encoder,
            agree: dict, y: np.ndarray, p_final: np.ndarray, is_oot: np.ndarray,
            use: pd.DataFrame) -> dict:
    order = band_order(strategy.score)
    out: dict = {"segments": {}, "overall": {}}

    def block(d: pd.DataFrame) -> dict:
        yy = d["y"].to_numpy()
        band = band_of(points_of(d["p_final"].to_numpy(), strategy.score), strategy.score)
        return {"final": M.summary(yy, d["p_final"].to_numpy()),
                "pooled": M.summary(yy, d["p_pooled"].to_numpy()),
                "final_minus_pooled": S.auc_diff_delong(yy, d["p_final"].to_numpy(), d["p_pooled"].to_numpy()),
                "deciles": M.deciles(yy, d["p_final"].to_numpy()),
                "calibration_by_band": M.by_band(yy, d["p_final"].to_numpy(), band, order),
                "stability": [{"snapshot_date": pd.Timestamp(k).strftime("%Y-%m-%d"),
                               **M.summary(g["y"].to_numpy(), g["p_final"].to_numpy())}
                              for k, g in d.groupby("snapshot_date")]} | family_block(d)

    out["overall"] = block(v)
    for s, info in segments.items():
        d = v[v["segment"] == s]
        b = boosters[info["model"]]
        imp = b.feature_importance("gain")
        top = [{"feature": enc.features[i], "gain_share": float(imp[i] / max(imp.sum(), 1e-12))}
               for i in np.argsort(-imp, kind="stable")[:10] if imp[i] > 0]
        out["segments"][s] = {**(block(d) if len(d) else {}), "decision": info["decision"],
                              "model": info["model"], "top_features": top,
                              "family": info.get("family", "gbm"),
                              "family_decision": info.get("family_decision"),
                              "scorecard_name": info.get("scorecard"),
                              "reason_agreement": agree.get(s)}
    tr = ~is_oot
    out["train_window_auc"] = S.auc_delong(y[tr], p_final[tr])
    if agree:
        n = sum(a["rows"] for a in agree.values())
        out["reason_agreement"] = {k: sum(a[k] * a["rows"] for a in agree.values()) / n
                                   for k in ("top1", "top1_with_direction", "top3_overlap",
                                             "top3_same_set", "fast_top1_in_exact_top3")}
        out["reason_agreement"]["rows"] = n
    return out


def family_block(d: pd.DataFrame) -> dict:
    """LightGBM and scorecard side by side on the same test rows (where both exist)."""
    if "p_scorecard" not in d.columns:
        return {}
    both = d[d["p_scorecard"].notna()]
    if not len(both):
        return {}
    yy = both["y"].to_numpy()
    return {"gbm": M.summary(yy, both["p_gbm"].to_numpy()),
            "scorecard": M.summary(yy, both["p_scorecard"].to_numpy()),
            "gbm_minus_scorecard": S.auc_diff_delong(yy, both["p_gbm"].to_numpy(), both["p_scorecard"].to_numpy()),
            "reliability": {"gbm": M.reliability(yy, both["p_gbm"].to_numpy()),
                            "scorecard": M.reliability(yy, both["p_scorecard"].to_numpy())}}


def drift_reference(strategy: Strategy, feats: pd.DataFrame, p: np.ndarray, enc: Encoder) -> dict:
    pts = pd.Series(points_of(p, strategy.score))
    bands = band_of(pts.to_numpy(), strategy.score)
    return {
        "points": S.dist_reference(pts, "numeric"),
        "band_shares": {b: float(np.mean(bands == b)) for b in band_order(strategy.score)},
        "features": {c: S.dist_reference(feats[c].reset_index(drop=True), enc.types[c])
                     for c in enc.features if c in feats.columns and c != "queue"},
        "rows": int(len(p)),
        "what": "no-action scores and features of the held-out history rows",
    }
