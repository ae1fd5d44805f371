"""Which model family scores each segment: LightGBM or the white-box scorecard.

`models.family` (per strategy) and `models.family_by_segment` (overrides) say gbm, scorecard or
auto. For auto the two are compared on the segment's calibration half of the held-out rows
(out of time): the paired DeLong test of AUC(LightGBM as chosen for the segment) minus
AUC(scorecard); LightGBM is picked only when it is better by more than 1.96 standard errors,
otherwise the scorecard (simpler, readable) wins the tie. A segment too small for its own
scorecard uses a pooled scorecard fitted on every segment with stage and customer line as
characteristics.
"""

from __future__ import annotations

import numpy as np

from collections_engine.config.strategy import Strategy
from collections_engine import stats as S
from collections_engine.scoring.data import NO_ACTION, sample_rows
from collections_engine.scoring.design import SEGMENT_FEATURES
from collections_engine.scoring.encode import Encoder
from collections_engine.scoring.scorecard import (
    Scorecard, ScorecardConfig, apply_scorecard, fit_scorecard, p_of_points,
)

__all__ = ["fit_families", "scorecard_p", "POOLED_SCORECARD", "Z_TIE"]

POOLED_SCORECARD = "pooled"
Z_TIE = 1.96


def scorecard_p(sc: Scorecard, X: np.ndarray, enc: Encoder, strategy: Strategy,
                actual_queue: bool = False) -> np.ndarray:
    """The card's probability; `actual_queue`: with the queue in X (validation), else fixed."""
    pts, _, _ = apply_scorecard(sc, X, enc.features, enc.levels, fixed=not actual_queue)
    return p_of_points(pts / 100.0, strategy.score)


def fit_families(strategy: Strategy, enc: Encoder, X: np.ndarray, y: np.ndarray, seg: np.ndarray,
                 train_rows: np.ndarray, cal_rows: np.ndarray, segments: dict[str, dict],
                 margin: dict[str, np.ndarray], has_queue: bool, min_rows: int, seed: int,
                 max_pooled_rows: int, warnings: list[str],
                 cfg: ScorecardConfig | None = None) -> dict[str, Scorecard]:
    """Fit the scorecards the strategy asks for and record each segment's family in
    `segments[s]` (`family`, `scorecard`, `family_decision`). Returns the scorecards by name."""
    wanted = {s: strategy.models.family_of(s) for s in segments}
    if all(f == "gbm" for f in wanted.values()):
        for info in segments.values():
            info["family"] = "gbm"
        return {}
    mono = dict(strategy.models.monotone)
    fixed = {"queue": NO_ACTION} if has_queue else {}
    cards: dict[str, Scorecard] = {}
    for s in sorted(segments):
        if wanted[s] == "gbm":
            continue
        m_fit, m_cal = train_rows & (seg == s), cal_rows & (seg == s)
        yy = y[m_fit]
        if len(yy) >= min_rows and min(np.bincount(yy, minlength=2)) >= 50:
            sc = fit_scorecard(s, X[m_fit], yy, enc.features, enc.types, enc.levels, mono,
                               strategy.score, fixed, X[m_cal], y[m_cal], cfg,
                               exclude=SEGMENT_FEATURES)
            if sc is not None:
                cards[s] = sc
    need_pooled = [s for s in segments if wanted[s] != "gbm" and s not in cards]
    if need_pooled:
        pos = sample_rows(train_rows, max_pooled_rows, seed + 5)
        if len(np.unique(y[pos])) == 2:
            sc = fit_scorecard(POOLED_SCORECARD, X[pos], y[pos], enc.features, enc.types, enc.levels,
                               mono, strategy.score, fixed, X[cal_rows], y[cal_rows], cfg)
            if sc is not None:
                cards[POOLED_SCORECARD] = sc
    for s, info in segments.items():
        f = wanted[s]
        name = s if s in cards else (POOLED_SCORECARD if POOLED_SCORECARD in cards else None)
        if f == "gbm":
            info.update(family="gbm", family_decision={"family": "gbm", "why": "the strategy says gbm"})
            continue
        if name is None:
            warnings.append(f"segment {s}: no scorecard could be fitted (no informative characteristic); "
                            "scored by LightGBM")
            info.update(family="gbm", family_decision={"family": "gbm", "why": "no scorecard could be fitted"})
            continue
        info["scorecard"] = name
        cal = cal_rows & (seg == s)
        ev: dict = {}
        if cal.sum() >= 30 and len(np.unique(y[cal])) == 2:
            p_sc = scorecard_p(cards[name], X[cal], enc, strategy, actual_queue=True)
            g = margin[info["model"]][cal]
            d = S.auc_diff_delong(y[cal], g, p_sc)
            ev = {"auc_gbm": S.auc_delong(y[cal], g)["auc"], "auc_scorecard": S.auc_delong(y[cal], p_sc)["auc"],
                  "gbm_minus_scorecard": d["diff"], "diff_se": d["se"], "rows_compared": int(cal.sum())}
        if f == "scorecard":
            info.update(family="scorecard", family_decision={"family": "scorecard", **ev,
                                                             "why": "the strategy says scorecard"})
            continue
        if not ev or not np.isfinite(ev["diff_se"]):
            info.update(family="scorecard", family_decision={
                "family": "scorecard", **ev, "why": "auto: no usable held-out rows to compare; the simpler family"})
            continue
        gbm_better = ev["gbm_minus_scorecard"] > Z_TIE * ev["diff_se"]
        info.update(family="gbm" if gbm_better else "scorecard", family_decision={
            "family": "gbm" if gbm_better else "scorecard", **ev,
            "why": ("auto: LightGBM's AUC is higher by more than 1.96 DeLong standard errors"
                    if gbm_better else "auto: no significant AUC difference (DeLong, 5%), or the "
                    "scorecard is better: the scorecard wins the tie")})
    return cards


def candidate_stability(cards: dict[str, Scorecard], segments: dict[str, dict], X: np.ndarray,
                        seg: np.ndarray, train_rows: np.ndarray, held_rows: np.ndarray,
                        p_noaction: np.ndarray, enc: Encoder, strategy: Strategy,
                        features: "pd.DataFrame") -> dict:
    """The candidate against its training reference: PSI of score points (held-out rows against
    the training window, no-action scores), PSI of each feature, and for each scorecard the CSI
    of every characteristic over its own bins (training counts against the held-out rows of
    the segments it scores)."""
    import pandas as pd

    from collections_engine.scoring.points import points_of
    from collections_engine.scoring.scorecard import bin_index

    pts = points_of(p_noaction, strategy.score)
    ref = S.dist_reference(pd.Series(pts[train_rows]), "numeric")
    out: dict = {"points_psi": S.psi(ref, pd.Series(pts[held_rows])), "features_psi": {}, "csi": {}}
    for c in enc.features:
        if c in ("queue",) + SEGMENT_FEATURES or c not in features.columns:
            continue
        r = S.dist_reference(features.loc[train_rows, c].reset_index(drop=True), enc.types[c])
        out["features_psi"][c] = S.psi(r, features.loc[held_rows, c].reset_index(drop=True))
    col = {c: j for j, c in enumerate(enc.features)}
    for name, sc in cards.items():
        segs = [s for s, i in segments.items() if i.get("scorecard") == name] or [name]
        m = held_rows & np.isin(seg, segs)
        csi = {}
        for ch in sc.scored():
            tr = np.asarray(ch.count, float) / max(sum(ch.count), 1)
            idx = bin_index(ch, X[m, col[ch.name]], enc.levels.get(ch.name))
            cur = np.bincount(idx, minlength=ch.n_bins) / max(int(m.sum()), 1)
            a, b = np.maximum(tr, 1e-4), np.maximum(cur, 1e-4)
            csi[ch.name] = float(np.sum((b - a) * np.log(b / a)))
        out["csi"][name] = csi
    return out
