"""The variant models: one cheap pooled LightGBM per feature set, all on the same rows.

Variants, for the valued sources S: `full` (internal features + every s in S), `internal`
(no source), `without:s` (full minus s) and `with:s` (internal plus s). Each is a single
pooled model with the segment (stage, customer line) and, when placement_history exists, the
queue the account was in as features, as the segment models of `scoring` have; the
no-action probability used for placement fixes the queue to `not_worked`. Same training
sample, same early-stopping fold, same seeds and num_threads for every variant, so the only
difference between two variants is their features.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import lightgbm as lgb
import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.features import build_features
from collections_engine.scoring.data import account_draw
from collections_engine.scoring.design import encode_window, model_frame, no_action_matrix
from collections_engine.scoring.encode import Encoder
from collections_engine.scoring.fit import TrainConfig, fit_booster, lgb_params

__all__ = ["ValuationConfig", "VariantModels", "source_feature_groups", "fit_variants",
           "variant_names"]


@dataclass
class ValuationConfig:
    seed: int = 1
    holdout_share: float = 0.15        # least share of history snapshot dates held out (out of time)
    max_holdout_share: float = 0.5     # up to this share while the training window still holds
                                       # max_train_rows rows (scoring.data.holdout_dates)
    max_train_rows: int = 80_000       # training-window rows sampled for the variant models
    max_oot_rows: int = 150_000        # held-out rows used (sampled beyond this, money rescaled)
    learning_rate: float = 0.1
    num_leaves: int = 15
    max_rounds: int = 400
    early_stopping_rounds: int = 30
    num_threads: int = 1              # 2 threads measured 5-16x slower on the shared 2-core box
    n_boot_money: int = 1000           # bootstrap replicates of the money value (by account)
    n_boot_ks: int = 200               # bootstrap replicates of the KS change (by account)
    alpha: float = 0.01                # significance after Holm correction, for "keep"
    tight_auc: float = 0.005           # "no gain, tight interval": AUC-change CI below this
    decide_time_limit: float = 20.0
    effects: str = "history"           # queue effects for plans and model values: "history"
                                       # (estimated on the training window) or "strategy"
    estimator: str = "ipw"             # "ipw"; "dr" (IPW + the full model as control variate);
                                       # "model" (the full model's expectation on every row)
    extra: dict = field(default_factory=lambda: {"max_bin": 63})

    def train_config(self) -> TrainConfig:
        return TrainConfig(seed=self.seed, num_threads=self.num_threads,
                           learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                           max_rounds=self.max_rounds,
                           early_stopping_rounds=self.early_stopping_rounds, extra=dict(self.extra))


@dataclass
class VariantModels:
    features: list[str]                       # encoder order
    groups: dict[str, list[str]]              # "internal" and each source -> its feature names
    variants: dict[str, list[str]]            # variant name -> feature names
    p_actual: dict[str, np.ndarray]           # variant -> P(repay | actual queue), held-out rows
    p_no_action: dict[str, np.ndarray]        # variant -> P(repay | not worked), held-out rows
    contributions: pd.DataFrame               # held-out rows x source: log-odds contribution (full)
    rounds: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def variant_names(sources: list[str]) -> list[str]:
    out = ["full", "internal"]
    for s in sources:
        out += [f"without:{s}", f"with:{s}"]
    return out


def source_feature_groups(book: Book, rows: pd.DataFrame, strategy: Strategy,
                          sources: list[str]) -> dict[str, list[str]]:
    """Feature names each source adds (found on a handful of rows), and the internal ones."""
    probe = rows.head(5)
    internal = list(build_features(replace(book, sources={}), probe, strategy).columns)
    groups = {"internal": internal}
    base = set(internal)
    for s in sources:
        cols = build_features(replace(book, sources={s: book.sources[s]}), probe, strategy).columns
        groups[s] = [c for c in cols if c not in base]
    return groups


def fit_variants(book: Book, strategy: Strategy, train_rows: pd.DataFrame, oot_rows: pd.DataFrame,
                 sources: list[str], cfg: ValuationConfig) -> VariantModels:
    """Fit every variant on `train_rows` and predict the held-out `oot_rows`."""
    warnings: list[str] = []
    book = replace(book, sources={s: book.sources[s] for s in sources})
    has_queue = "queue" in train_rows.columns
    use = pd.concat([train_rows, oot_rows], ignore_index=True)
    is_oot = np.r_[np.zeros(len(train_rows), bool), np.ones(len(oot_rows), bool)]
    feats = model_frame(book, use, strategy, use, use["queue"] if has_queue else None)
    _, enc, X = encode_window(feats, ~is_oot, warnings)
    groups = _feature_groups(book, use, strategy, sources, enc.features)
    variants = _variant_columns(enc.features, groups, sources)
    es = account_draw(use["account_id"], cfg.seed, salt=41) < 0.2
    Xo = X[is_oot]
    fits = _fit_each(variants, enc, X, use["y"].to_numpy(np.int8), ~is_oot & ~es, ~is_oot & es,
                     Xo, no_action_matrix(Xo, enc), cfg, strategy)
    cdf = _source_contributions(fits, variants["full"], groups, sources, len(oot_rows))
    return VariantModels(features=enc.features, groups=groups, variants=variants, p_actual=fits.p_actual,
                         p_no_action=fits.p_no_action, contributions=cdf, rounds=fits.rounds, warnings=warnings)


def _feature_groups(book: Book, rows: pd.DataFrame, strategy: Strategy, sources: list[str],
                    features: list[str]) -> dict[str, list[str]]:
    """Each source's encoded features; "internal": every encoded feature no source adds."""
    groups = source_feature_groups(book, rows, strategy, sources)
    present = set(features)
    groups = {k: [c for c in v if c in present] for k, v in groups.items()}
    groups["internal"] = [c for c in features if c not in {f for s in sources for f in groups[s]}]
    return groups


def _variant_columns(features: list[str], groups: dict[str, list[str]],
                     sources: list[str]) -> dict[str, list[str]]:
    """Variant name -> its feature names, in encoder order."""
    variants: dict[str, list[str]] = {}
    allsrc = [f for s in sources for f in groups[s]]
    for name in variant_names(sources):
        if name == "full":
            cols = groups["internal"] + allsrc
        elif name == "internal":
            cols = list(groups["internal"])
        elif name.startswith("without:"):
            s = name.split(":", 1)[1]
            cols = groups["internal"] + [f for f in allsrc if f not in set(groups[s])]
        else:
            cols = groups["internal"] + groups[name.split(":", 1)[1]]
        variants[name] = [c for c in features if c in set(cols)]
    return variants


@dataclass
class _Fits:
    p_actual: dict[str, np.ndarray]
    p_no_action: dict[str, np.ndarray]
    rounds: dict[str, int]
    boosters: dict[str, lgb.Booster]
    Xna: np.ndarray
    features: list[str]


def _fit_each(variants: dict[str, list[str]], enc: Encoder, X: np.ndarray, y: np.ndarray,
              fit_rows: np.ndarray, es_rows: np.ndarray, Xo: np.ndarray, Xna: np.ndarray,
              cfg: ValuationConfig, strategy: Strategy) -> _Fits:
    """One booster per distinct feature set (same rows, fold, seeds), predicting the held-out
    rows in their actual queue and not worked."""
    tcfg = cfg.train_config()
    mono_cfg = dict(strategy.models.monotone)
    f = _Fits({}, {}, {}, {}, Xna, enc.features)
    cache: dict[tuple[str, ...], str] = {}
    for name, cols in variants.items():
        key = tuple(cols)
        if key in cache:                 # e.g. one valued source: without:s == internal
            first = cache[key]
            f.p_actual[name], f.p_no_action[name], f.rounds[name] = \
                f.p_actual[first], f.p_no_action[first], f.rounds[first]
            f.boosters[name] = f.boosters[first]
            continue
        cache[key] = name
        idx = [enc.features.index(c) for c in cols]
        cat = [i for i, c in enumerate(cols) if enc.types[c] == "categorical"]
        mono = [int(mono_cfg.get(c, 0)) if enc.types[c] == "numeric" else 0 for c in cols]
        params = lgb_params(tcfg, int(fit_rows.sum()), mono)
        b = fit_booster(X[fit_rows][:, idx], y[fit_rows], X[es_rows][:, idx], y[es_rows],
                        params, tcfg, cat, cols)
        it = int(b.best_iteration or b.current_iteration())
        f.boosters[name] = b
        f.rounds[name] = it
        f.p_actual[name] = b.predict(Xo[:, idx], num_iteration=it)
        f.p_no_action[name] = b.predict(Xna[:, idx], num_iteration=it)
    return f


def _source_contributions(f: _Fits, full_cols: list[str], groups: dict[str, list[str]],
                          sources: list[str], n: int) -> pd.DataFrame:
    """Each source's contribution to the full model's no-action log-odds (TreeSHAP)."""
    idx = [f.features.index(c) for c in full_cols]
    contrib = f.boosters["full"].predict(f.Xna[:, idx], num_iteration=f.rounds["full"], pred_contrib=True)
    pos = {c: i for i, c in enumerate(full_cols)}
    cdf = pd.DataFrame(index=pd.RangeIndex(n))
    for s in sources:
        j = [pos[c] for c in groups[s] if c in pos]
        cdf[s] = contrib[:, j].sum(axis=1) if j else 0.0
    return cdf
