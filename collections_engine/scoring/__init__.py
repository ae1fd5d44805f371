"""Segment models of repayment willingness: fit, version, approve, load and score."""

from collections_engine.scoring.fit import TrainConfig
from collections_engine.scoring.points import band_of, points_of
from collections_engine.scoring.score import SCORE_COLUMNS, ModelVersion, score
from collections_engine.scoring.store import approve, list_versions, load_version
from collections_engine.scoring.train import TrainedVersion, train

__all__ = ["TrainConfig", "TrainedVersion", "ModelVersion", "SCORE_COLUMNS", "train", "score",
           "load_version", "approve", "list_versions", "points_of", "band_of"]
