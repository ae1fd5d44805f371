"""The training window as model input, for every model fitted on it (`train`'s and the source
valuation's variants): the feature frame with the segment features and the queue
(`model_frame`), the encoder fitted on the training rows (`encode_window`), and the matrix with
every row's queue set to not worked (`no_action_matrix`, the no-action probability)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.features import build_features, feature_types
from collections_engine.scoring.data import NO_ACTION
from collections_engine.scoring.encode import Encoder

__all__ = ["SEGMENT_FEATURES", "model_frame", "encode_window", "no_action_matrix"]

SEGMENT_FEATURES = ("stage", "customer_line")


def model_frame(book: Book, rows: pd.DataFrame, strategy: Strategy, seg: pd.DataFrame,
                queue: pd.Series | None) -> pd.DataFrame:
    """Features plus the segment features and (when history has placements) the queue."""
    f = build_features(book, rows, strategy)
    for c in SEGMENT_FEATURES:
        f[c] = seg[c].astype("str").to_numpy()
    if queue is not None:
        f["queue"] = queue.astype("str").to_numpy()
    return f


def encode_window(feats: pd.DataFrame, train_mask: np.ndarray, warnings: list[str]
                  ) -> tuple[pd.DataFrame, Encoder, np.ndarray]:
    """The encoder fitted on the training rows (the segment features and the queue categorical;
    a feature empty in every training row is left out, said in `warnings`), the frame without
    those features, and every row encoded."""
    types = feature_types(feats)
    for c in SEGMENT_FEATURES + (("queue",) if "queue" in feats.columns else ()):
        types[c] = "categorical"
    trn = feats[train_mask]
    empty = [c for c in trn.columns if trn[c].isna().all()]
    if empty:
        warnings.append(f"{len(empty)} feature(s) empty in every training row, left out: "
                        + ", ".join(empty))
        feats = feats.drop(columns=empty)
    enc = Encoder.fit(feats[train_mask], {c: types[c] for c in feats.columns})
    return feats, enc, enc.transform(feats)


def no_action_matrix(X: np.ndarray, enc: Encoder, warnings: list[str] | None = None) -> np.ndarray:
    """A copy of X with every row's queue set to not worked; where training saw no not-worked
    row the queue is missing (the model's missing-queue branch), said in `warnings` if given."""
    Xna = X.copy()
    if "queue" in enc.features:
        lv = enc.levels["queue"]
        Xna[:, enc.features.index("queue")] = lv.index(NO_ACTION) if NO_ACTION in lv else np.nan
        if NO_ACTION not in lv and warnings is not None:
            warnings.append("placement_history has no 'not_worked' rows: the no-action score falls "
                            "back to the model's missing-queue branch")
    return Xna
