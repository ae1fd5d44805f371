"""Segment models of repayment willingness: fit, version, approve, load and score."""

import os

# LightGBM's OpenMP threads spin while they wait by default; on a batch machine shared with
# other jobs that spinning steals the cores they wait for (a fit on a busy 2-core box took
# markedly longer with it). Must be set before the OpenMP runtime starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections_engine.scoring.fit import TrainConfig
from collections_engine.scoring.points import band_of, points_of
from collections_engine.scoring.score import SCORE_COLUMNS, ModelVersion, score
from collections_engine.scoring.store import approve, list_versions, load_version
from collections_engine.scoring.train import TrainedVersion, train

__all__ = ["TrainConfig", "TrainedVersion", "ModelVersion", "SCORE_COLUMNS", "train", "score",
           "load_version", "approve", "list_versions", "points_of", "band_of"]
