"""Score account snapshot rows with a loaded model version: CONTRACT.md's scores table.

What is scored is the no-action willingness: where the version was trained with the past queue
as a feature (placement_history present), every account is scored with queue = not_worked, so
placement can multiply the probability by each queue's effect. Per chunk: the same call on a
slice of rows gives the same scores as on the whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.errors import InputError
from collections_engine.scoring.data import NO_ACTION, segment_columns
from collections_engine.scoring.encode import Encoder
from collections_engine.scoring.fit import platt_apply
from collections_engine.scoring.points import band_of, points_of
from collections_engine.scoring.reasons import ReasonTable, reason_strings
from collections_engine.scoring.scorecard import apply_scorecard, p_of_points

__all__ = ["ModelVersion", "score", "SCORE_COLUMNS", "check_compatible"]

log = logging.getLogger("collections_engine.scoring")

SCORE_COLUMNS = ["account_id", "customer_id", "stage", "customer_line", "segment", "model_version",
                 "p_repay", "points", "band", "reason_1", "reason_2", "reason_3"]


@dataclass
class ModelVersion:
    version_id: str
    meta: dict
    boosters: dict[str, lgb.Booster]
    reasons: dict[str, ReasonTable]
    status: dict = field(default_factory=dict)
    path: str = ""
    scorecards: dict = field(default_factory=dict)   # name -> Scorecard (scorecard.py)

    @property
    def encoder(self) -> Encoder:
        return Encoder.from_json(self.meta["encoder"])


def check_compatible(version: ModelVersion, strategy: Strategy) -> None:
    """InputError unless the version's stages and new-customer rule are the strategy's."""
    problems = []
    stages = [s.model_dump() for s in strategy.stages]
    if version.meta["stages"] != stages:
        problems.append(f"stages differ: model version {version.version_id} was trained with "
                        f"{_stage_text(version.meta['stages'])}, the strategy has {_stage_text(stages)}; "
                        "train and approve a version for this strategy")
    if version.meta["new_customer"] != strategy.new_customer.model_dump():
        problems.append(f"new_customer differs: model version {version.version_id} has "
                        f"{version.meta['new_customer']}, the strategy has "
                        f"{strategy.new_customer.model_dump()}")
    uses_cards = any(i.get("family") == "scorecard" for i in version.meta["segments"].values())
    scale = ("base_points", "base_odds", "points_to_double_odds")
    mine = {k: strategy.score.model_dump()[k] for k in scale}
    theirs = {k: version.meta.get("score", {}).get(k) for k in scale}
    if uses_cards and mine != theirs:
        problems.append(f"score scale differs: model version {version.version_id}'s scorecards give "
                        f"points on {theirs}, the strategy has {mine}; train and approve a version "
                        "for this strategy")
    if problems:
        raise InputError(f"model version {version.version_id}", problems)


def _stage_text(stages: list[dict]) -> str:
    return ", ".join(f"{s['name']} {s['dpd_min']}-{s['dpd_max'] if s['dpd_max'] is not None else ''}"
                     for s in stages)


CHUNK_ROWS = 200_000


def score(version: ModelVersion, features: pd.DataFrame, rows: pd.DataFrame, strategy: Strategy,
          warnings: list[str] | None = None) -> pd.DataFrame:
    """Scores of delinquent rows (rows at dpd 0 are left out, with a warning).

    `features` is `build_features(book, rows, strategy)` (same index as `rows`). Problems that
    do not stop scoring (a missing feature, a new category level, an empty column) are appended
    to `warnings` and logged.
    """
    check_compatible(version, strategy)
    warn: list[str] = []
    seg = segment_columns(rows, strategy)
    delinquent = (seg["stage"] != "").to_numpy()
    if not delinquent.all():
        warn.append(f"{int((~delinquent).sum())} row(s) at dpd 0 are not delinquent and were not scored")
        rows, seg, features = rows[delinquent], seg[delinquent], features.loc[rows.index[delinquent]]
    enc = version.encoder
    extra = {"stage": seg["stage"].to_numpy(), "customer_line": seg["customer_line"].to_numpy()}
    if version.meta.get("has_queue_feature"):
        extra["queue"] = NO_ACTION
    frame = features.assign(**extra)  # copy-on-write: the feature columns are not copied
    present = [c for c in enc.features if c in frame.columns]
    empty = [c for c in present if len(frame) and frame[c].isna().all()]
    if empty:
        warn.append(f"{len(empty)} model feature(s) empty in every row tonight, treated as missing: "
                    + ", ".join(empty))
    warn += enc.problems(frame)
    n = len(rows)
    p = np.full(n, np.nan)
    card_pts = np.full(n, np.nan)   # scorecard segments: the points are the scorecard's sum
    reason_cols = [np.full(n, "", dtype=object) for _ in range(3)]
    segv = seg["segment"].to_numpy()
    kinds = [enc.types[c] for c in enc.features]
    levels = [enc.levels.get(c, []) for c in enc.features]
    segments = sorted(pd.unique(segv))
    # In chunks of consecutive rows (a slice of the frame, no row gather): the matrix of a
    # million rows would cost gigabytes at once. Each chunk's rows go to their segment's model.
    for lo in range(0, n, CHUNK_ROWS):
        X = enc.transform(frame.iloc[lo:lo + CHUNK_ROWS])
        seg_c = segv[lo:lo + CHUNK_ROWS]
        for s in segments:
            local = np.flatnonzero(seg_c == s)
            if not len(local):
                continue
            info = version.meta["segments"].get(s)
            model = info["model"] if info else "pooled"
            cal = info["calibration"] if info else version.meta["pooled_calibration"]
            table = version.reasons.get(s) or version.reasons["pooled"]
            Xs = X if len(local) == len(X) else X[local]
            m = local + lo
            if info and info.get("family") == "scorecard":
                total, top, sign = apply_scorecard(version.scorecards[info["scorecard"]], Xs,
                                                   enc.features, enc.levels)
                card_pts[m] = total / 100.0
                p[m] = p_of_points(card_pts[m], strategy.score)
            else:
                p[m] = platt_apply(version.boosters[model].predict(Xs, raw_score=True), cal)
                top, sign = table.top(Xs)
            for k, col in enumerate(reason_strings(top, sign, Xs, enc.features, kinds, levels)):
                reason_cols[k][m] = col
    pts = np.where(np.isnan(card_pts), points_of(p, strategy.score), card_pts)
    out = pd.DataFrame({
        "account_id": rows["account_id"].astype("str").array,   # no Python string per row
        "customer_id": rows["customer_id"].astype("str").array,
        "stage": seg["stage"].astype("str").array,   # Arrow-backed as they are: no object arrays
        "customer_line": seg["customer_line"].astype("str").array,
        "segment": seg["segment"].astype("str").array,
        "model_version": version.version_id,
        "p_repay": p,
        "points": pts,
        "band": band_of(pts, strategy.score),
        "reason_1": reason_cols[0], "reason_2": reason_cols[1], "reason_3": reason_cols[2],
    }, index=rows.index)
    for c in ("model_version", "band", "reason_1", "reason_2", "reason_3"):
        out[c] = out[c].astype("str")
    for w in warn:
        log.warning("%s", w)
    if warnings is not None:
        warnings.extend(warn)
    return out[SCORE_COLUMNS]
