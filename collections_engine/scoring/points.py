"""Points and bands from the strategy's score section (CONTRACT.md).

points = base_points + pdo / ln 2 * ln(odds / base_odds), odds = p / (1 - p); a band is the
first of `score.bands` (in file order) whose `min_points` the points reach; a band without
`min_points` takes everything below.
"""

from __future__ import annotations

import numpy as np

from collections_engine.config.strategy import Score

__all__ = ["points_of", "band_of", "band_order", "P_CLIP"]

P_CLIP = 1e-6


def points_of(p: np.ndarray, score: Score) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), P_CLIP, 1 - P_CLIP)
    odds = q / (1 - q)
    pts = score.base_points + score.points_to_double_odds / np.log(2) * np.log(odds / score.base_odds)
    return np.round(pts, 2)


def band_order(score: Score) -> list[str]:
    return [b.name for b in score.bands]


def band_of(points: np.ndarray, score: Score) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    out = np.full(len(pts), "", dtype=object)
    done = np.zeros(len(pts), dtype=bool)
    for b in score.bands:
        m = ~done if b.min_points is None else (~done & (pts >= b.min_points))
        out[m] = b.name
        done |= m
    return out
