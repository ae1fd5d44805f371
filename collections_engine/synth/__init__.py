"""The synthetic book: a collections portfolio with a known truth, for demos, tests, benchmarks.

`generate_book(SynthParams(...), strategy)` returns every table of a DATA folder (CONTRACT.md)
and the answer key under `truth/`; `ceiling_aucs` gives the best possible AUC per segment.
"""

from collections_engine.synth.book import generate_book, iter_book
from collections_engine.synth.params import SOURCE_ROLES, TRUE_EFFECTS, SynthParams
from collections_engine.synth.truth import auc, ceiling_aucs, effects_frame

__all__ = ["SynthParams", "generate_book", "iter_book", "ceiling_aucs", "auc", "effects_frame",
           "TRUE_EFFECTS", "SOURCE_ROLES", "default_strategy_path"]


def default_strategy_path():  # noqa: ANN201 - a Path
    """strategies/default.yaml of the checkout this package runs from."""
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "strategies" / "default.yaml"
