"""LightGBM fitting with deterministic settings, early stopping and Platt calibration."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

__all__ = ["TrainConfig", "fit_booster", "platt_fit", "platt_apply", "lgb_params"]


@dataclass
class TrainConfig:
    seed: int = 1
    max_rows_per_segment: int = 50_000   # training-window rows sampled per segment
    max_rows_pooled: int = 150_000        # rows the pooled model trains on
    max_oot_rows_per_segment: int = 50_000
    holdout_share: float = 0.15           # share of history snapshot dates held out
    num_threads: int = 2
    learning_rate: float = 0.1
    num_leaves: int = 31
    max_rounds: int = 500
    early_stopping_rounds: int = 30
    min_rows_own_model: int = 200         # below this no own segment model is fitted at all
    reason_sample: int = 2000             # rows per segment for the reason-code tables
    agreement_sample: int = 600          # held-out rows per segment compared with TreeSHAP
    extra: dict = field(default_factory=dict)


def lgb_params(cfg: TrainConfig, n_rows: int, monotone: list[int]) -> dict:
    p = {
        "objective": "binary", "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": int(max(20, min(200, n_rows // 200))), "feature_fraction": 0.8,
        "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 127,
        "min_data_per_group": 50, "cat_smooth": 10.0, "max_cat_to_onehot": 8,
        "deterministic": True, "force_col_wise": True, "num_threads": cfg.num_threads,
        "seed": cfg.seed, "bagging_seed": cfg.seed, "feature_fraction_seed": cfg.seed,
        "data_random_seed": cfg.seed, "verbose": -1,
    }
    if any(monotone):
        p["monotone_constraints"] = monotone
        p["monotone_constraints_method"] = "basic"
    p.update(cfg.extra)
    return p


def fit_booster(X: np.ndarray, y: np.ndarray, X_es: np.ndarray, y_es: np.ndarray,
                params: dict, cfg: TrainConfig, categorical: list[int],
                names: list[str]) -> lgb.Booster:
    ds = lgb.Dataset(X, label=y, feature_name=names, categorical_feature=categorical,
                     free_raw_data=True, params={"max_bin": params["max_bin"], "verbose": -1})
    es = lgb.Dataset(X_es, label=y_es, reference=ds)
    callbacks = [lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)]
    return lgb.train(params, ds, num_boost_round=cfg.max_rounds, valid_sets=[es],
                     callbacks=callbacks)


def platt_fit(margin: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """p = sigmoid(a * margin + b) by maximum likelihood (Newton); identity when it cannot fit."""
    y = np.asarray(y, float)
    if len(y) < 30 or y.min() == y.max():
        return {"a": 1.0, "b": 0.0, "fitted": False, "rows": int(len(y))}
    x = np.asarray(margin, float)
    a, b = 1.0, 0.0
    for _ in range(50):
        z = np.clip(a * x + b, -35, 35)
        p = 1 / (1 + np.exp(-z))
        w = p * (1 - p) + 1e-12
        ga, gb = np.sum((p - y) * x), np.sum(p - y)
        haa, hab, hbb = np.sum(w * x * x) + 1e-9, np.sum(w * x), np.sum(w) + 1e-9
        det = haa * hbb - hab * hab
        if det <= 0:
            break
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) + abs(db) < 1e-10:
            break
    if not np.isfinite(a) or a <= 0:
        return {"a": 1.0, "b": 0.0, "fitted": False, "rows": int(len(y))}
    return {"a": float(a), "b": float(b), "fitted": True, "rows": int(len(y))}


def platt_apply(margin: np.ndarray, cal: dict) -> np.ndarray:
    z = np.clip(cal["a"] * np.asarray(margin, float) + cal["b"], -35, 35)
    return 1 / (1 + np.exp(-z))
