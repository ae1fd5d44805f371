"""Builders shared by the closed-loop tests (test_loop, test_loop_originations): a generated book
written to a folder, a 500-account book with an approved quick model, one night run, and the
committed fixture book's world and tonight."""

from __future__ import annotations

from pathlib import Path

import pytest

from collections_engine.config import load_strategy
from collections_engine.io import write_parquet
from collections_engine.io.load import load_book
from collections_engine.loop import read_world
from collections_engine.loop.store import read_at
from collections_engine.pipeline import RunRequest, run_night
from collections_engine.scoring import approve, train
from collections_engine.scoring.store import write_version
from collections_engine.synth import SynthParams, iter_book
from collections_engine.synth.state import json_bytes
from tests.pipeline_helpers import FAST, GRAPH, ROOT

STRATEGY_PATH = ROOT / "strategies" / "default.yaml"
STRATEGY = load_strategy(STRATEGY_PATH)
FIXTURE = ROOT / "data" / "fixtures" / "book"


def write_book(folder: Path, **kw) -> None:
    """Generate a book (`SynthParams` keywords) into `folder`, one file a table, as `generate` does."""
    for name, frame in iter_book(SynthParams(**kw), STRATEGY):
        path = folder / f"{name}.{'json' if isinstance(frame, dict) else 'parquet'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(frame, dict):
            path.write_bytes(json_bytes(frame))
        else:
            write_parquet(frame, path)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 500-account book (4 history months, 1 night) and an approved quick model."""
    root = tmp_path_factory.mktemp("loop")
    data, models = root / "data", root / "models"
    write_book(data, accounts=500, days=1, seed=11, history_months=4)
    book, _ = load_book(data, STRATEGY)
    trained = train(book, STRATEGY, FAST)
    write_version(trained, models, "mloop", {"input_hashes": {}, "note": "test"}, "<html></html>")
    approve(models, "mloop", by="tests")
    return data, models


def run_day(data: Path, models: Path, runs: Path, day: str) -> None:
    """Run one night with the default strategy and graph, as cron would."""
    run_night(RunRequest(data=data, date=day, strategy=STRATEGY_PATH, graph=GRAPH, models=models,
                         runs=runs))


def fixture_night() -> tuple:
    """The committed fixture book's world, its state date, and that night's accounts with their true p."""
    world = read_world(FIXTURE)
    day = world.state_date
    tonight = read_at(FIXTURE / "accounts.parquet", day)
    truth = read_at(FIXTURE / "truth" / "accounts.parquet", day)[["account_id", "p_repay"]]
    return world, day, tonight.merge(truth, on="account_id")
