"""Fit the segment models: one per customer line x stage, one per customer line, a pooled model,
the per-segment decision between them, calibration, reason tables, metrics and drift references.

`train(book, strategy, cfg)` is a pure step: it returns a `TrainedVersion` in memory; writing
it to MODELS/ is `store.write_version`'s job.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.errors import DataError
from collections_engine.features import build_features, feature_types
from collections_engine.scoring import metrics as M
from collections_engine.scoring.data import (
    NO_ACTION, account_draw, all_segments, oot_split, sample_per_segment, training_rows,
)
from collections_engine.scoring.encode import Encoder
from collections_engine.scoring.family import candidate_stability, fit_families, scorecard_p
from collections_engine.scoring.fit import TrainConfig, fit_booster, lgb_params, platt_apply, platt_fit
from collections_engine.scoring.points import band_of, band_order, points_of
from collections_engine.scoring.reasons import agreement, fit_reason_table

__all__ = ["TrainedVersion", "train", "model_frame"]

log = logging.getLogger("collections_engine.scoring")
SEGMENT_FEATURES = ("stage", "customer_line")
POOLED = "pooled"
SCORECARD_MIN_ROWS = 1000   # training-window rows (and 50 of each outcome) for an own scorecard


@dataclass
class TrainedVersion:
    meta: dict                                   # everything JSON: routing, encoder, windows, ...
    boosters: dict[str, lgb.Booster]             # "pooled" and segment names
    reasons: dict[str, dict]                     # segment -> reason table (json)
    reference: dict                              # drift references (json)
    report: dict                                 # metrics (json)
    validation: pd.DataFrame                     # held-out test rows with predictions
    warnings: list[str] = field(default_factory=list)
    scorecards: dict = field(default_factory=dict)  # name -> Scorecard (issue 21)


def model_frame(book: Book, rows: pd.DataFrame, strategy: Strategy, seg: pd.DataFrame,
                queue: pd.Series | None) -> pd.DataFrame:
    """Features plus the segment features and (when history has placements) the queue."""
    f = build_features(book, rows, strategy)
    for c in SEGMENT_FEATURES:
        f[c] = seg[c].astype("str").to_numpy()
    if queue is not None:
        f["queue"] = queue.astype("str").to_numpy()
    return f


def _monotone(enc: Encoder, strategy: Strategy, warnings: list[str]) -> list[int]:
    mono = dict(strategy.models.monotone)
    for name in sorted(mono):
        if name not in enc.types:
            warnings.append(f"models.monotone: feature '{name}' is not among the model features; ignored")
        elif enc.types[name] == "categorical":
            warnings.append(f"models.monotone: feature '{name}' is categorical; ignored")
    return [int(mono.get(c, 0)) if enc.types[c] == "numeric" else 0 for c in enc.features]


def train(book: Book, strategy: Strategy, cfg: TrainConfig | None = None) -> TrainedVersion:
    cfg = cfg or TrainConfig()
    clock = _Clock()
    warnings: list[str] = []
    rows = training_rows(book, strategy)
    has_queue = "queue" in rows.columns
    held, split_how = oot_split(rows, cfg.seed, cfg.holdout_share)
    if held.all() or not held.any():
        raise DataError("outcomes", ["too few history rows to hold any out for validation"])
    train_pos = sample_per_segment(rows, ~held, cfg.max_rows_per_segment, cfg.seed)
    oot_pos = sample_per_segment(rows, held, cfg.max_oot_rows_per_segment, cfg.seed + 1)
    log.info("training rows: %d (sampled %d), held out: %d (sampled %d); %s",
             int((~held).sum()), len(train_pos), int(held.sum()), len(oot_pos), split_how)
    use = rows.iloc[np.concatenate([train_pos, oot_pos])].reset_index(drop=True)
    is_oot = np.r_[np.zeros(len(train_pos), bool), np.ones(len(oot_pos), bool)]
    clock.lap("training rows")
    feats = model_frame(book, use, strategy, use, use["queue"] if has_queue else None)
    clock.lap(f"features of {len(use)} rows")
    types = feature_types(feats)
    for c in SEGMENT_FEATURES + (("queue",) if has_queue else ()):
        types[c] = "categorical"
    trn = feats[~is_oot]
    all_null = [c for c in trn.columns if trn[c].isna().all()]
    if all_null:
        warnings.append(f"{len(all_null)} feature(s) empty in every training row, left out: "
                        + ", ".join(all_null))
        feats = feats.drop(columns=all_null)
        types = {k: v for k, v in types.items() if k not in all_null}
    enc = Encoder.fit(feats[~is_oot], types)
    X = enc.transform(feats)
    y = use["y"].to_numpy(np.int8)
    seg = use["segment"].to_numpy()
    cat_idx = enc.categorical_indices()
    mono = _monotone(enc, strategy, warnings)
    # inner early-stopping fold (random by account) inside the training window
    es = account_draw(use["account_id"], cfg.seed, salt=23) < 0.2
    # the held-out rows: one half (by account) decides and calibrates, the other is the test
    calib_half = account_draw(use["account_id"], cfg.seed, salt=37) < 0.5
    fit_rows, es_rows = ~is_oot & ~es, ~is_oot & es
    cal_rows, test_rows = is_oot & calib_half, is_oot & ~calib_half

    boosters: dict[str, lgb.Booster] = {}
    params_used: dict[str, dict] = {}
    # pooled model, with the segment features
    rng = np.random.default_rng(cfg.seed + 2)
    pool_fit = np.flatnonzero(fit_rows)
    if len(pool_fit) > cfg.max_rows_pooled:
        pool_fit = np.sort(rng.choice(pool_fit, cfg.max_rows_pooled, replace=False))
    pool_es = np.flatnonzero(es_rows)
    if len(np.unique(y[pool_fit])) < 2 or len(np.unique(y[pool_es])) < 2:
        raise DataError("outcomes", ["the training rows hold only one outcome class; cannot fit"])
    p = lgb_params(cfg, len(pool_fit), mono)
    boosters[POOLED] = fit_booster(X[pool_fit], y[pool_fit], X[pool_es], y[pool_es], p, cfg,
                                   cat_idx, enc.features)
    params_used[POOLED] = p
    margin = {POOLED: boosters[POOLED].predict(X, raw_score=True)}
    clock.lap(f"pooled model ({boosters[POOLED].current_iteration()} rounds)")
    pooled_cal = platt_fit(margin[POOLED][cal_rows], y[cal_rows])

    # one model per customer line (its stages together): the middle ground between a segment's
    # own model and the pooled one, for a line whose relationship differs from the other's
    line_of = use["customer_line"].astype("str").to_numpy()
    for ln in ("new", "existing"):
        in_l = line_of == ln
        fit_l, es_l = fit_rows & in_l, es_rows & in_l
        if (fit_l.sum() + es_l.sum() >= cfg.min_rows_own_model and len(np.unique(y[fit_l])) == 2
                and len(np.unique(y[es_l])) == 2 and min(np.bincount(y[fit_l], minlength=2)) >= 10):
            name = line_model_name(ln)
            pos = np.flatnonzero(fit_l)          # at most the pooled model's rows
            if len(pos) > cfg.max_rows_pooled:
                pos = np.sort(rng.choice(pos, cfg.max_rows_pooled, replace=False))
            p = lgb_params(cfg, len(pos), mono)
            b = fit_booster(X[pos], y[pos], X[es_l], y[es_l], p, cfg, cat_idx, enc.features)
            boosters[name], params_used[name] = b, p
            margin[name] = np.full(len(y), np.nan)
            margin[name][in_l] = b.predict(X[in_l], raw_score=True)
            clock.lap(f"model {name} ({b.current_iteration()} rounds, {len(pos)} rows)")
    lines = {ln: _decide_line(ln, y, margin, cal_rows & (line_of == ln), seg)
             for ln in ("new", "existing")}
    parent = {ln: line_model_name(ln) if d["model"] == "line" else POOLED for ln, d in lines.items()}

    segments: dict[str, dict] = {}
    for s in all_segments(strategy):
        in_s = seg == s
        n_fit, n_es = int((fit_rows & in_s).sum()), int((es_rows & in_s).sum())
        n_hist = int(((rows["segment"] == s) & ~held).sum())
        info: dict = {"history_rows_train_window": n_hist,
                      "history_rows_held_out": int(((rows["segment"] == s) & held).sum()),
                      "sampled_fit_rows": n_fit, "sampled_early_stopping_rows": n_es,
                      "calibration_rows": int((cal_rows & in_s).sum()),
                      "test_rows": int((test_rows & in_s).sum())}
        own_ok = (n_fit + n_es >= cfg.min_rows_own_model
                  and len(np.unique(y[fit_rows & in_s])) == 2 and len(np.unique(y[es_rows & in_s])) == 2
                  and min(np.bincount(y[fit_rows & in_s], minlength=2)) >= 10)
        if own_ok:
            p = lgb_params(cfg, n_fit, mono)
            b = fit_booster(X[fit_rows & in_s], y[fit_rows & in_s], X[es_rows & in_s],
                            y[es_rows & in_s], p, cfg, cat_idx, enc.features)
            boosters[s] = b
            params_used[s] = p
            margin[s] = np.full(len(y), np.nan)
            margin[s][in_s] = b.predict(X[in_s], raw_score=True)
            clock.lap(f"model {s} ({b.current_iteration()} rounds, {n_fit} rows)")
        up = parent[s.split("/")[0]]
        info["decision"] = _decide(s, own_ok, n_hist, strategy.models.min_segment_rows,
                                   y, margin, cal_rows & in_s, up)
        chosen = s if info["decision"]["model"] == "own" else up
        info["model"] = chosen
        info["calibration"] = platt_fit(margin[chosen][cal_rows & in_s], y[cal_rows & in_s])
        if not info["calibration"]["fitted"]:
            info["calibration"] = dict(pooled_cal, segment_fallback="pooled overall calibration")
        segments[s] = info

    scorecards = fit_families(strategy, enc, X, y, seg, ~is_oot, cal_rows, segments, margin, has_queue,
                              SCORECARD_MIN_ROWS, cfg.seed, cfg.max_rows_pooled, warnings)
    if scorecards:
        clock.lap(f"{len(scorecards)} scorecard(s)")

    # final probabilities on all sampled rows (actual queue) and no-action probabilities
    p_final = np.full(len(y), np.nan)
    p_gbm = np.full(len(y), np.nan)
    p_card = np.full(len(y), np.nan)
    for s, info in segments.items():
        m = seg == s
        if m.any():
            p_gbm[m] = platt_apply(margin[info["model"]][m], info["calibration"])
            if info.get("scorecard"):
                p_card[m] = scorecard_p(scorecards[info["scorecard"]], X[m], enc, strategy, actual_queue=True)
            p_final[m] = p_card[m] if info["family"] == "scorecard" else p_gbm[m]
    p_pooled = platt_apply(margin[POOLED], pooled_cal)
    # each own segment model's probability, chosen or not (the choice is judged on the test rows)
    p_own = np.full(len(y), np.nan)
    p_line = np.full(len(y), np.nan)
    for s in segments:
        m = seg == s
        for name, out in ((s, p_own), (line_model_name(s.split("/")[0]), p_line)):
            if name in margin:
                out[m] = platt_apply(margin[name][m],
                                     platt_fit(margin[name][cal_rows & m], y[cal_rows & m]))

    Xna = X.copy()
    if has_queue:
        qj = enc.features.index("queue")
        lv = enc.levels["queue"]
        Xna[:, qj] = lv.index(NO_ACTION) if NO_ACTION in lv else np.nan
        if NO_ACTION not in lv:
            warnings.append("placement_history has no 'not_worked' rows: the no-action score falls "
                            "back to the model's missing-queue branch")
    p_noaction = np.full(len(y), np.nan)
    reasons: dict[str, dict] = {}
    agree: dict[str, dict] = {}
    for s, info in segments.items():
        m = seg == s
        if not m.any():
            continue
        b = boosters[info["model"]]
        if info["family"] == "scorecard":
            p_noaction[m] = scorecard_p(scorecards[info["scorecard"]], Xna[m], enc, strategy)
        else:
            p_noaction[m] = platt_apply(b.predict(Xna[m], raw_score=True), info["calibration"])
        samp = np.flatnonzero(m & ~is_oot)
        if len(samp) == 0:
            samp = np.flatnonzero(m)
        samp = samp[:: max(1, len(samp) // cfg.reason_sample)][: cfg.reason_sample]
        kinds = [enc.types[c] for c in enc.features]
        nlev = [len(enc.levels.get(c, [])) for c in enc.features]
        table = fit_reason_table(b, Xna[samp], enc.features, kinds, nlev)
        reasons[s] = table.to_json()
        ag = np.flatnonzero(m & test_rows)
        ag = ag[:: max(1, len(ag) // cfg.agreement_sample)][: cfg.agreement_sample]
        if len(ag):
            agree[s] = agreement(b, table, Xna[ag])
    # a pooled reason table for segments never seen in history (scored by the pooled model)
    samp = np.flatnonzero(~is_oot)
    samp = samp[:: max(1, len(samp) // cfg.reason_sample)][: cfg.reason_sample]
    reasons[POOLED] = fit_reason_table(boosters[POOLED], Xna[samp], enc.features,
                                       [enc.types[c] for c in enc.features],
                                       [len(enc.levels.get(c, [])) for c in enc.features]).to_json()

    clock.lap("reason tables and TreeSHAP agreement")
    validation = use.loc[test_rows, ["account_id", "customer_id", "snapshot_date", "segment", "stage",
                                     "customer_line", "y"] + (["queue"] if has_queue else [])].copy()
    validation["p_final"] = p_final[test_rows]
    validation["p_pooled"] = p_pooled[test_rows]
    validation["p_own"] = p_own[test_rows]
    validation["p_line"] = p_line[test_rows]
    validation["p_no_action"] = p_noaction[test_rows]
    if scorecards:
        validation["p_gbm"] = p_gbm[test_rows]
        validation["p_scorecard"] = p_card[test_rows]
    validation = validation.reset_index(drop=True)
    for c in ("segment", "stage", "customer_line", "queue"):
        if c in validation.columns:
            validation[c] = validation[c].astype("str")

    report = _report(strategy, validation, segments, boosters, enc, agree, y, p_final, is_oot, use)
    reference = _reference(strategy, feats[is_oot], p_noaction[is_oot], enc)
    report["scorecards"] = {n: c.to_json() for n, c in sorted(scorecards.items())}
    report["stability_vs_training"] = candidate_stability(
        scorecards, segments, Xna, seg, ~is_oot, is_oot, p_noaction, enc, strategy, feats)
    clock.lap("report and references")
    windows = {
        "train_dates": _dates(rows.loc[~held, "snapshot_date"]),
        "held_out_dates": _dates(rows.loc[held, "snapshot_date"]),
        "validation": split_how,
    }
    meta = {
        "stages": [s.model_dump() for s in strategy.stages],
        "new_customer": strategy.new_customer.model_dump(),
        "score": strategy.score.model_dump(),
        "segments": segments,
        "lines": lines,
        "encoder": enc.to_json(),
        "monotone": {c: m for c, m in zip(enc.features, mono) if m},
        "has_queue_feature": has_queue,
        "no_action": (f"queue fixed to '{NO_ACTION}' when scoring" if has_queue else
                      "placement_history missing: the model scores repayment under whatever "
                      "treatment the history had, not the no-action probability"),
        "windows": windows,
        "rows": {"history_with_outcome": int(len(rows)), "train_window": int((~held).sum()),
                 "held_out": int(held.sum()), "sampled_train": int(len(train_pos)),
                 "sampled_held_out": int(len(oot_pos))},
        "params": {k: {kk: vv for kk, vv in v.items()} for k, v in params_used.items()},
        "best_iterations": {k: int(b.best_iteration or b.current_iteration()) for k, b in boosters.items()},
        "pooled_calibration": pooled_cal,
        "train_config": {k: v for k, v in cfg.__dict__.items()},
        "warnings": warnings,
        "timings_s": clock.laps,
    }
    return TrainedVersion(meta=meta, boosters=boosters, reasons=reasons, reference=reference,
                          report=report, validation=validation, warnings=warnings,
                          scorecards=scorecards)


def line_model_name(line: str) -> str:
    """The booster name of a customer line's model (all its stages)."""
    return f"{line}/all"


class _Clock:
    """Progress lines for a long step (the CLI shows them on the terminal and under cron)."""

    def __init__(self) -> None:
        self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, what: str) -> None:
        now = time.perf_counter()
        self.laps[what] = round(now - self.t, 2)
        log.info("train: %s in %.1f s", what, now - self.t)
        self.t = now


def _decide_line(line: str, y: np.ndarray, margin: dict[str, np.ndarray], cal: np.ndarray,
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
            d = M.auc_diff_delong(y[m], margin[name][m], margin[POOLED][m])
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


def _decide(s: str, own_ok: bool, n_hist: int, min_rows: int, y: np.ndarray,
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
    own = M.auc_delong(y[cal], margin[s][cal])
    pooled = M.auc_delong(y[cal], margin[POOLED][cal])
    d = M.auc_diff_delong(y[cal], margin[s][cal], margin[parent][cal])
    ev = {**base, "auc_own": own["auc"], "auc_pooled": pooled["auc"],
          "auc_against": M.auc_delong(y[cal], margin[parent][cal])["auc"], "diff": d["diff"],
          "diff_se": d["se"], "rows_compared": int(cal.sum())}
    if n_hist >= min_rows:
        m = "own" if d["diff"] >= 0 else up
        why = f"segment large enough: the better held-out AUC (own vs {up})"
    else:
        m = "own" if d["diff"] > d["se"] else up
        why = (f"small segment: own model only if better than the {up} model by more than one "
               "standard error")
    return {**ev, "model": m, "why": why}


def _dates(s: pd.Series) -> list[str]:
    return [pd.Timestamp(d).strftime("%Y-%m-%d") for d in sorted(s.unique())]


def _report(strategy: Strategy, v: pd.DataFrame, segments: dict, boosters: dict, enc: Encoder,
            agree: dict, y: np.ndarray, p_final: np.ndarray, is_oot: np.ndarray,
            use: pd.DataFrame) -> dict:
    order = band_order(strategy.score)
    out: dict = {"segments": {}, "overall": {}}

    def block(d: pd.DataFrame) -> dict:
        yy = d["y"].to_numpy()
        band = band_of(points_of(d["p_final"].to_numpy(), strategy.score), strategy.score)
        return {"final": M.summary(yy, d["p_final"].to_numpy()),
                "pooled": M.summary(yy, d["p_pooled"].to_numpy()),
                "final_minus_pooled": M.auc_diff_delong(yy, d["p_final"].to_numpy(), d["p_pooled"].to_numpy()),
                "deciles": M.deciles(yy, d["p_final"].to_numpy()),
                "calibration_by_band": M.by_band(yy, d["p_final"].to_numpy(), band, order),
                "stability": [{"snapshot_date": pd.Timestamp(k).strftime("%Y-%m-%d"),
                               **M.summary(g["y"].to_numpy(), g["p_final"].to_numpy())}
                              for k, g in d.groupby("snapshot_date")]} | _families(d)

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
    out["train_window_auc"] = M.auc_delong(y[tr], p_final[tr])
    if agree:
        n = sum(a["rows"] for a in agree.values())
        out["reason_agreement"] = {k: sum(a[k] * a["rows"] for a in agree.values()) / n
                                   for k in ("top1", "top1_with_direction", "top3_overlap",
                                             "top3_same_set", "fast_top1_in_exact_top3")}
        out["reason_agreement"]["rows"] = n
    return out


def _families(d: pd.DataFrame) -> dict:
    """LightGBM and scorecard side by side on the same test rows (where both exist)."""
    if "p_scorecard" not in d.columns:
        return {}
    both = d[d["p_scorecard"].notna()]
    if not len(both):
        return {}
    yy = both["y"].to_numpy()
    return {"gbm": M.summary(yy, both["p_gbm"].to_numpy()),
            "scorecard": M.summary(yy, both["p_scorecard"].to_numpy()),
            "gbm_minus_scorecard": M.auc_diff_delong(yy, both["p_gbm"].to_numpy(), both["p_scorecard"].to_numpy()),
            "reliability": {"gbm": M.reliability(yy, both["p_gbm"].to_numpy()),
                            "scorecard": M.reliability(yy, both["p_scorecard"].to_numpy())}}


def _reference(strategy: Strategy, feats: pd.DataFrame, p: np.ndarray, enc: Encoder) -> dict:
    pts = pd.Series(points_of(p, strategy.score))
    bands = band_of(pts.to_numpy(), strategy.score)
    return {
        "points": M.dist_reference(pts, "numeric"),
        "band_shares": {b: float(np.mean(bands == b)) for b in band_order(strategy.score)},
        "features": {c: M.dist_reference(feats[c].reset_index(drop=True), enc.types[c])
                     for c in enc.features if c in feats.columns and c != "queue"},
        "rows": int(len(p)),
        "what": "no-action scores and features of the held-out history rows",
    }
