"""Fit the segment models: one per customer line x stage, one per customer line, a pooled model,
the per-segment decision between them, calibration, reason tables, metrics and drift references.

`train(book, strategy, cfg)` is a pure step: it returns a `TrainedVersion` in memory; writing
it to MODELS/ is `store.write_version`'s job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.errors import DataError
from collections_engine.scoring.data import (
    NO_ACTION, account_draw, all_segments, cap_rows, oot_split, sample_per_segment, training_rows,
)
from collections_engine.scoring.decide import POOLED, decide_line, decide_segment, line_model_name
from collections_engine.scoring.design import encode_window, model_frame, no_action_matrix
from collections_engine.scoring.encode import Encoder
from collections_engine.scoring.evaluate import dates_of, drift_reference, version_report
from collections_engine.scoring.family import candidate_stability, fit_families, scorecard_p
from collections_engine.scoring.fit import TrainConfig, fit_booster, lgb_params, platt_apply, platt_fit
from collections_engine.scoring.reasons import agreement, fit_reason_table
from collections_engine.steps import Laps

__all__ = ["TrainedVersion", "train"]

log = logging.getLogger("collections_engine.scoring")
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


def _monotone(enc: Encoder, strategy: Strategy, warnings: list[str]) -> list[int]:
    mono = dict(strategy.models.monotone)
    for name in sorted(mono):
        if name not in enc.types:
            warnings.append(f"models.monotone: feature '{name}' is not among the model features; ignored")
        elif enc.types[name] == "categorical":
            warnings.append(f"models.monotone: feature '{name}' is categorical; ignored")
    return [int(mono.get(c, 0)) if enc.types[c] == "numeric" else 0 for c in enc.features]


def train(book: Book, strategy: Strategy, cfg: TrainConfig | None = None) -> TrainedVersion:
    """The phases in order: the training window and its sample, the design matrix and the row
    folds, the LightGBM models (pooled, per line, per segment) with each segment's choice and
    calibration, the scorecards, the probabilities, the reason tables, then the report."""
    cfg = cfg or TrainConfig()
    clock = Laps(log_as="train", digits=2)
    warnings: list[str] = []
    win = _window(book, strategy, cfg)
    clock.lap("training rows")
    d = _design(book, strategy, win, cfg, warnings, clock)
    fits = _fit_models(d, win, strategy, cfg, clock)
    scorecards = fit_families(strategy, d.enc, d.X, d.y, d.seg, ~d.is_oot, d.cal_rows, fits.segments,
                              fits.margin, d.has_queue, SCORECARD_MIN_ROWS, cfg.seed,
                              cfg.max_rows_pooled, warnings)
    if scorecards:
        clock.lap(f"{len(scorecards)} scorecard(s)")
    probs = _probabilities(d, fits, scorecards, strategy)
    Xna = no_action_matrix(d.X, d.enc, warnings)
    p_noaction = _no_action_p(d, fits, scorecards, strategy, Xna)
    reasons, agree = _reason_tables(d, fits, Xna, cfg)
    clock.lap("reason tables and TreeSHAP agreement")
    validation = _validation_frame(d, probs, p_noaction, bool(scorecards))
    report = version_report(strategy, validation, fits.segments, fits.boosters, d.enc, agree, d.y,
                     probs["p_final"], d.is_oot, d.use)
    reference = drift_reference(strategy, d.feats[d.is_oot], p_noaction[d.is_oot], d.enc)
    report["scorecards"] = {n: c.to_json() for n, c in sorted(scorecards.items())}
    report["stability_vs_training"] = candidate_stability(
        scorecards, fits.segments, Xna, d.seg, ~d.is_oot, d.is_oot, p_noaction, d.enc, strategy, d.feats)
    clock.lap("report and references")
    meta = _meta(strategy, cfg, win, d, fits, warnings, clock)
    return TrainedVersion(meta=meta, boosters=fits.boosters, reasons=reasons, reference=reference,
                          report=report, validation=validation, warnings=warnings,
                          scorecards=scorecards)


@dataclass
class _Window:
    """The training window: every history row with an outcome, which are held out (and how),
    and the sampled rows the models use (`use`: the training sample, then the held-out one)."""
    rows: pd.DataFrame
    held: np.ndarray
    split_how: str
    n_train_sampled: int
    n_oot_sampled: int
    use: pd.DataFrame
    is_oot: np.ndarray


def _window(book: Book, strategy: Strategy, cfg: TrainConfig) -> _Window:
    rows = training_rows(book, strategy)
    held, split_how = oot_split(rows, cfg.seed, cfg.holdout_share)
    if held.all() or not held.any():
        raise DataError("outcomes", ["too few history rows to hold any out for validation"])
    train_pos = sample_per_segment(rows, ~held, cfg.max_rows_per_segment, cfg.seed)
    oot_pos = sample_per_segment(rows, held, cfg.max_oot_rows_per_segment, cfg.seed + 1)
    log.info("training rows: %d (sampled %d), held out: %d (sampled %d); %s",
             int((~held).sum()), len(train_pos), int(held.sum()), len(oot_pos), split_how)
    use = rows.iloc[np.concatenate([train_pos, oot_pos])].reset_index(drop=True)
    is_oot = np.r_[np.zeros(len(train_pos), bool), np.ones(len(oot_pos), bool)]
    return _Window(rows, held, split_how, len(train_pos), len(oot_pos), use, is_oot)


@dataclass
class _Design:
    """The sampled rows as model input, and the four row folds: `fit_rows` and `es_rows` (early
    stopping, random by account) inside the training window; of the held-out rows, one half by
    account decides and calibrates (`cal_rows`), the other is the test (`test_rows`)."""
    use: pd.DataFrame
    is_oot: np.ndarray
    has_queue: bool
    feats: pd.DataFrame
    enc: Encoder
    X: np.ndarray
    y: np.ndarray
    seg: np.ndarray
    cat_idx: list[int]
    mono: list[int]
    fit_rows: np.ndarray
    es_rows: np.ndarray
    cal_rows: np.ndarray
    test_rows: np.ndarray


def _design(book: Book, strategy: Strategy, win: _Window, cfg: TrainConfig, warnings: list[str],
            clock: Laps) -> _Design:
    use, is_oot = win.use, win.is_oot
    has_queue = "queue" in use.columns
    feats = model_frame(book, use, strategy, use, use["queue"] if has_queue else None)
    clock.lap(f"features of {len(use)} rows")
    feats, enc, X = encode_window(feats, ~is_oot, warnings)
    mono = _monotone(enc, strategy, warnings)
    es = account_draw(use["account_id"], cfg.seed, salt=23) < 0.2
    calib_half = account_draw(use["account_id"], cfg.seed, salt=37) < 0.5
    return _Design(use=use, is_oot=is_oot, has_queue=has_queue, feats=feats, enc=enc,
                   X=X, y=use["y"].to_numpy(np.int8), seg=use["segment"].to_numpy(),
                   cat_idx=enc.categorical_indices(), mono=mono,
                   fit_rows=~is_oot & ~es, es_rows=~is_oot & es,
                   cal_rows=is_oot & calib_half, test_rows=is_oot & ~calib_half)


@dataclass
class _Fits:
    """The LightGBM models: boosters and their parameters by name, each one's raw margin on the
    sampled rows (NaN outside its rows), the pooled calibration, each line's and each segment's
    decision (`segments[s]` also gets `family` and `scorecard` from `fit_families`)."""
    boosters: dict[str, lgb.Booster] = field(default_factory=dict)
    params: dict[str, dict] = field(default_factory=dict)
    margin: dict[str, np.ndarray] = field(default_factory=dict)
    pooled_cal: dict = field(default_factory=dict)
    lines: dict[str, dict] = field(default_factory=dict)
    segments: dict[str, dict] = field(default_factory=dict)


def _fit_models(d: _Design, win: _Window, strategy: Strategy, cfg: TrainConfig, clock: Laps
                ) -> _Fits:
    fits = _Fits()
    rng = np.random.default_rng(cfg.seed + 2)     # the pooled model's sample, then the lines'
    _fit_pooled(d, cfg, rng, fits, clock)
    _fit_lines(d, cfg, rng, fits, clock)
    _fit_segments(d, win, strategy, cfg, fits, clock)
    return fits


def _fit_one(d: _Design, cfg: TrainConfig, fits: _Fits, name: str, fit_pos: np.ndarray,
             es: np.ndarray, rows: np.ndarray | None) -> lgb.Booster:
    """Fit booster `name` on the rows at `fit_pos` (early stopping on the rows `es` selects)
    and keep its margin on the rows mask `rows` selects (every row when None)."""
    p = lgb_params(cfg, len(fit_pos), d.mono)
    b = fit_booster(d.X[fit_pos], d.y[fit_pos], d.X[es], d.y[es], p, cfg, d.cat_idx,
                    d.enc.features)
    fits.boosters[name], fits.params[name] = b, p
    if rows is None:
        fits.margin[name] = b.predict(d.X, raw_score=True)
    else:
        fits.margin[name] = np.full(len(d.y), np.nan)
        fits.margin[name][rows] = b.predict(d.X[rows], raw_score=True)
    return b


def _can_fit(d: _Design, fit: np.ndarray, es: np.ndarray, min_rows: int) -> bool:
    """Enough rows, both outcomes in the fit and early-stopping rows, ten of each to fit on."""
    return bool(fit.sum() + es.sum() >= min_rows and len(np.unique(d.y[fit])) == 2
                and len(np.unique(d.y[es])) == 2 and min(np.bincount(d.y[fit], minlength=2)) >= 10)


def _fit_pooled(d: _Design, cfg: TrainConfig, rng: np.random.Generator, fits: _Fits,
                clock: Laps) -> None:
    """One model over every segment, with the segment features: every segment's fallback."""
    pool_fit = cap_rows(np.flatnonzero(d.fit_rows), cfg.max_rows_pooled, rng)
    pool_es = np.flatnonzero(d.es_rows)
    if len(np.unique(d.y[pool_fit])) < 2 or len(np.unique(d.y[pool_es])) < 2:
        raise DataError("outcomes", ["the training rows hold only one outcome class; cannot fit"])
    b = _fit_one(d, cfg, fits, POOLED, pool_fit, pool_es, None)
    clock.lap(f"pooled model ({b.current_iteration()} rounds)")
    fits.pooled_cal = platt_fit(fits.margin[POOLED][d.cal_rows], d.y[d.cal_rows])


def _fit_lines(d: _Design, cfg: TrainConfig, rng: np.random.Generator, fits: _Fits,
               clock: Laps) -> None:
    """One model per customer line (its stages together): the middle ground between a
    segment's own model and the pooled one, for a line whose relationship differs from the
    other's; `fits.lines` says which each line keeps."""
    line_of = d.use["customer_line"].astype("str").to_numpy()
    for ln in ("new", "existing"):
        in_l = line_of == ln
        fit_l, es_l = d.fit_rows & in_l, d.es_rows & in_l
        if _can_fit(d, fit_l, es_l, cfg.min_rows_own_model):
            name = line_model_name(ln)
            pos = cap_rows(np.flatnonzero(fit_l), cfg.max_rows_pooled, rng)   # as the pooled one
            b = _fit_one(d, cfg, fits, name, pos, es_l, in_l)
            clock.lap(f"model {name} ({b.current_iteration()} rounds, {len(pos)} rows)")
    fits.lines = {ln: decide_line(ln, d.y, fits.margin, d.cal_rows & (line_of == ln), d.seg)
                  for ln in ("new", "existing")}


def _fit_segments(d: _Design, win: _Window, strategy: Strategy, cfg: TrainConfig, fits: _Fits,
                  clock: Laps) -> None:
    """Each segment's own model where it has the rows, the choice between it and its parent
    (the line's model or the pooled one), and the chosen model's calibration."""
    parent = {ln: line_model_name(ln) if dl["model"] == "line" else POOLED
              for ln, dl in fits.lines.items()}
    rows, held = win.rows, win.held
    for s in all_segments(strategy):
        in_s = d.seg == s
        n_fit, n_es = int((d.fit_rows & in_s).sum()), int((d.es_rows & in_s).sum())
        n_hist = int(((rows["segment"] == s) & ~held).sum())
        info: dict = {"history_rows_train_window": n_hist,
                      "history_rows_held_out": int(((rows["segment"] == s) & held).sum()),
                      "sampled_fit_rows": n_fit, "sampled_early_stopping_rows": n_es,
                      "calibration_rows": int((d.cal_rows & in_s).sum()),
                      "test_rows": int((d.test_rows & in_s).sum())}
        own_ok = _can_fit(d, d.fit_rows & in_s, d.es_rows & in_s, cfg.min_rows_own_model)
        if own_ok:
            b = _fit_one(d, cfg, fits, s, np.flatnonzero(d.fit_rows & in_s), d.es_rows & in_s, in_s)
            clock.lap(f"model {s} ({b.current_iteration()} rounds, {n_fit} rows)")
        up = parent[s.split("/")[0]]
        cal = d.cal_rows & in_s
        info["decision"] = decide_segment(s, own_ok, n_hist, strategy.models.min_segment_rows,
                                   d.y, fits.margin, cal, up)
        chosen = s if info["decision"]["model"] == "own" else up
        info["model"] = chosen
        info["calibration"] = platt_fit(fits.margin[chosen][cal], d.y[cal])
        if not info["calibration"]["fitted"]:
            info["calibration"] = dict(fits.pooled_cal, segment_fallback="pooled overall calibration")
        fits.segments[s] = info


def _probabilities(d: _Design, fits: _Fits, scorecards: dict, strategy: Strategy
                   ) -> dict[str, np.ndarray]:
    """Every sampled row's probabilities under the queue it was in: the final one (the
    segment's family and model), LightGBM's and the scorecard's, the pooled model's, and each
    own segment and line model's, chosen or not (the choice is judged on the test rows)."""
    n = len(d.y)
    p = {k: np.full(n, np.nan) for k in ("p_final", "p_gbm", "p_card", "p_own", "p_line")}
    for s, info in fits.segments.items():
        m = d.seg == s
        if m.any():
            p["p_gbm"][m] = platt_apply(fits.margin[info["model"]][m], info["calibration"])
            if info.get("scorecard"):
                p["p_card"][m] = scorecard_p(scorecards[info["scorecard"]], d.X[m], d.enc, strategy,
                                             actual_queue=True)
            p["p_final"][m] = p["p_card"][m] if info["family"] == "scorecard" else p["p_gbm"][m]
    p["p_pooled"] = platt_apply(fits.margin[POOLED], fits.pooled_cal)
    for s in fits.segments:
        m = d.seg == s
        for name, out in ((s, p["p_own"]), (line_model_name(s.split("/")[0]), p["p_line"])):
            if name in fits.margin:
                cal = platt_fit(fits.margin[name][d.cal_rows & m], d.y[d.cal_rows & m])
                out[m] = platt_apply(fits.margin[name][m], cal)
    return p


def _no_action_p(d: _Design, fits: _Fits, scorecards: dict, strategy: Strategy,
                 Xna: np.ndarray) -> np.ndarray:
    """Each sampled row's no-action probability, as the night scores it."""
    p = np.full(len(d.y), np.nan)
    for s, info in fits.segments.items():
        m = d.seg == s
        if not m.any():
            continue
        if info["family"] == "scorecard":
            p[m] = scorecard_p(scorecards[info["scorecard"]], Xna[m], d.enc, strategy)
        else:
            b = fits.boosters[info["model"]]
            p[m] = platt_apply(b.predict(Xna[m], raw_score=True), info["calibration"])
    return p


def _reason_tables(d: _Design, fits: _Fits, Xna: np.ndarray, cfg: TrainConfig
                   ) -> tuple[dict[str, dict], dict[str, dict]]:
    """Per segment, the reason table of its LightGBM model on an even sample of its training
    rows and its agreement with exact TreeSHAP on test rows; a pooled table for segments never
    seen in history (scored by the pooled model)."""
    kinds = [d.enc.types[c] for c in d.enc.features]
    nlev = [len(d.enc.levels.get(c, [])) for c in d.enc.features]
    reasons: dict[str, dict] = {}
    agree: dict[str, dict] = {}
    for s, info in fits.segments.items():
        m = d.seg == s
        if not m.any():
            continue
        b = fits.boosters[info["model"]]
        samp = np.flatnonzero(m & ~d.is_oot)
        samp = _even(samp if len(samp) else np.flatnonzero(m), cfg.reason_sample)
        table = fit_reason_table(b, Xna[samp], d.enc.features, kinds, nlev)
        reasons[s] = table.to_json()
        ag = _even(np.flatnonzero(m & d.test_rows), cfg.agreement_sample)
        if len(ag):
            agree[s] = agreement(b, table, Xna[ag])
    samp = _even(np.flatnonzero(~d.is_oot), cfg.reason_sample)
    reasons[POOLED] = fit_reason_table(fits.boosters[POOLED], Xna[samp], d.enc.features, kinds,
                                       nlev).to_json()
    return reasons, agree


def _even(pos: np.ndarray, k: int) -> np.ndarray:
    """At most k of `pos`, evenly spaced (a fixed, seed-free sample)."""
    return pos[:: max(1, len(pos) // k)][:k]


def _validation_frame(d: _Design, p: dict[str, np.ndarray], p_noaction: np.ndarray,
                      with_cards: bool) -> pd.DataFrame:
    """The test rows with every probability (validation.parquet)."""
    t = d.test_rows
    v = d.use.loc[t, ["account_id", "customer_id", "snapshot_date", "segment", "stage",
                      "customer_line", "y"] + (["queue"] if d.has_queue else [])].copy()
    for k in ("p_final", "p_pooled", "p_own", "p_line"):
        v[k] = p[k][t]
    v["p_no_action"] = p_noaction[t]
    if with_cards:
        v["p_gbm"] = p["p_gbm"][t]
        v["p_scorecard"] = p["p_card"][t]
    v = v.reset_index(drop=True)
    for c in ("segment", "stage", "customer_line", "queue"):
        if c in v.columns:
            v[c] = v[c].astype("str")
    return v


def _meta(strategy: Strategy, cfg: TrainConfig, win: _Window, d: _Design, fits: _Fits,
          warnings: list[str], clock: Laps) -> dict:
    """Everything JSON about the version: routing, encoder, windows, rows, parameters."""
    rows, held = win.rows, win.held
    return {
        "stages": [s.model_dump() for s in strategy.stages],
        "new_customer": strategy.new_customer.model_dump(),
        "score": strategy.score.model_dump(),
        "segments": fits.segments,
        "lines": fits.lines,
        "encoder": d.enc.to_json(),
        "monotone": {c: m for c, m in zip(d.enc.features, d.mono) if m},
        "has_queue_feature": d.has_queue,
        "no_action": (f"queue fixed to '{NO_ACTION}' when scoring" if d.has_queue else
                      "placement_history missing: the model scores repayment under whatever "
                      "treatment the history had, not the no-action probability"),
        "windows": {"train_dates": dates_of(rows.loc[~held, "snapshot_date"]),
                    "held_out_dates": dates_of(rows.loc[held, "snapshot_date"]),
                    "validation": win.split_how},
        "rows": {"history_with_outcome": int(len(rows)), "train_window": int((~held).sum()),
                 "held_out": int(held.sum()), "sampled_train": int(win.n_train_sampled),
                 "sampled_held_out": int(win.n_oot_sampled)},
        "params": {k: dict(v) for k, v in fits.params.items()},
        "best_iterations": {k: int(b.best_iteration or b.current_iteration())
                            for k, b in fits.boosters.items()},
        "pooled_calibration": fits.pooled_cal,
        "train_config": dict(cfg.__dict__),
        "warnings": warnings,
        "timings_s": clock.laps,
    }
