"""Feature matrix for LightGBM: fixed feature order and category codes learned in training.

Categories are coded by the training levels (sorted); a level not seen in training, and a
missing value, become NaN, which LightGBM sends down its missing-value branch. A feature the
version was trained on but missing tonight is all-NaN (treated as missing) and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from collections_engine.codes import lookup

__all__ = ["Encoder"]


@dataclass
class Encoder:
    features: list[str]
    types: dict[str, str]                                   # numeric | categorical
    levels: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame, types: dict[str, str]) -> "Encoder":
        feats = list(frame.columns)
        levels = {c: sorted(frame[c].dropna().astype("str").unique().tolist())
                  for c in feats if types[c] == "categorical"}
        return cls(features=feats, types={c: types[c] for c in feats}, levels=levels)

    def categorical_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.features) if self.types[c] == "categorical"]

    def problems(self, frame: pd.DataFrame) -> list[str]:
        """What `transform` would treat as missing: features absent from `frame`, and category
        levels not seen in training (with up to five of them)."""
        out: list[str] = []
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            out.append(f"{len(missing)} model feature(s) missing tonight, treated as missing: "
                       + ", ".join(missing))
        for c in self.features:
            if c in missing or self.types[c] != "categorical":
                continue
            s = frame[c].astype("str")
            vc = s.value_counts(dropna=True)
            values, counts = vc.index.to_numpy(dtype=object), vc.to_numpy()
            unseen = pd.Index(self.levels[c]).get_indexer(values) < 0  # each distinct value once
            if unseen.any():
                new = sorted(values[unseen].tolist())[:5]
                out.append(f"feature {c}: {int(counts[unseen].sum())} row(s) with a level not seen in "
                           f"training ({', '.join(map(str, new))}), treated as missing")
        return out

    def transform(self, frame: pd.DataFrame, warnings: list[str] | None = None) -> np.ndarray:
        """(rows x features) float64 matrix in training order; problems appended to `warnings`."""
        if warnings is not None:
            warnings.extend(self.problems(frame))
        out = np.full((len(frame), len(self.features)), np.nan)
        for j, c in enumerate(self.features):
            if c not in frame.columns:
                continue
            col = frame[c]
            if self.types[c] == "categorical":
                # Arrow's hash look-up of the text (what `astype("str")` reads): pandas'
                # get_indexer makes a Python string per row
                codes = lookup(col, self._dictionary(c))
                out[:, j] = np.where(codes >= 0, codes, np.nan)
            else:
                out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def _dictionary(self, c: str) -> pa.Array:
        """The training levels of a categorical feature as Arrow text (position = code)."""
        return pa.array(list(self.levels[c]), type=pa.large_string())

    def to_json(self) -> dict:
        return {"features": self.features, "types": self.types, "levels": self.levels}

    @classmethod
    def from_json(cls, d: dict) -> "Encoder":
        return cls(features=list(d["features"]), types=dict(d["types"]), levels={k: list(v) for k, v in d["levels"].items()})
