"""Shared setup for the nightly-run tests: the fixture book, a quickly trained approved model."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from pathlib import Path

import yaml

from collections_engine.assign.effects import estimate_effects
from collections_engine.config import load_strategy
from collections_engine.io.load import load_book
from collections_engine.scoring import TrainConfig, approve, train
from collections_engine.scoring.store import write_version

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "data" / "fixtures" / "book"
GRAPH = ROOT / "graphs" / "default.yaml"

# Light settings: the tests check the run's mechanics, not the models' quality.
FAST = TrainConfig(seed=1, max_rounds=40, early_stopping_rounds=10, reason_sample=400,
                   agreement_sample=100, max_rows_per_segment=5000, max_rows_pooled=20000)


def short_placement_strategy(path: Path) -> Path:
    """The default strategy with placement periods short enough to expire within a week and
    vendor capacities small enough to bind on the fixture book."""
    doc = yaml.safe_load((ROOT / "strategies" / "default.yaml").read_text())
    for q in doc["queues"]:
        if q["kind"] == "vendor":
            q["placement_days"] = {"agency_north": 3, "agency_south": 2, "agency_east": 4}[q["name"]]
            q["capacity"] = 120
        if q["name"] == "late_team":
            q["capacity"] = 150
        if q["name"] == "early_team":
            q["capacity"] = 600
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# One trained, approved models folder per strategy text for the whole test session: nine test
# modules train the same FAST model on the same book (most with the same short strategy), and
# training is deterministic, so each gets a copy of the first one's folder instead of training
# it again (and `fast_model` hands the trained model itself to the modules that write their own
# versions).
_TRAINED: dict[str, Path] = {}


def train_fast(models: Path, strategy_path: Path) -> str:
    """An approved FAST model version trained on the fixture book, in `models` (a new folder)."""
    key = hashlib.sha256(strategy_path.read_bytes()).hexdigest()
    vid = "mtest" + key[:8]
    if models.exists() and any(models.iterdir()):  # a folder with versions already: train into it
        return _train_fast(models, strategy_path, vid)
    if key not in _TRAINED:
        cache = Path(tempfile.mkdtemp(prefix="ce-tests-models-"))
        atexit.register(shutil.rmtree, cache, True)
        _train_fast(cache / "models", strategy_path, vid)
        _TRAINED[key] = cache / "models"
    shutil.copytree(_TRAINED[key], models, dirs_exist_ok=True)
    return vid


_FITS: dict[str, object] = {}


def fast_model(strategy_path: Path):
    """The FAST model (`scoring.train`'s result) of the fixture book under this strategy, trained
    once per session for each strategy text (read-only: callers write versions from it)."""
    key = hashlib.sha256(strategy_path.read_bytes()).hexdigest()
    if key not in _FITS:
        strategy = load_strategy(strategy_path)
        book, _ = load_book(BOOK, strategy)
        _FITS[key] = train(book, strategy, FAST)
    return _FITS[key]


def _train_fast(models: Path, strategy_path: Path, vid: str) -> str:
    strategy = load_strategy(strategy_path)
    book, _ = load_book(BOOK, strategy)
    trained = fast_model(strategy_path)
    estimates = estimate_effects(book.placement_history, book.outcomes, book.accounts, strategy,
                                 holds=book.holds)
    write_version(trained, models, vid, {"input_hashes": {}, "note": "test"}, "<html></html>", estimates)
    approve(models, vid, by="tests")
    return vid


# The fixture book's nights run in order under one strategy text and one models folder, once per
# test session: several modules need the same first nights (a night's outputs depend only on the
# inputs and the nights before it, and carry no path), so each gets a copy of the first k.
_NIGHTS: dict[tuple[str, str], Path] = {}


def fixture_nights(k: int, strategy_path: Path, models: Path, dest: Path) -> Path:
    """`dest` (a new folder): a runs folder holding the fixture book's first `k` unscored nights,
    run with `run` in date order under this strategy and models (GRAPH's ring settings). The
    nights are run once per session for each strategy text and models folder content and copied."""
    from typer.testing import CliRunner

    from collections_engine.cli import app

    key = (hashlib.sha256(strategy_path.read_bytes()).hexdigest(),
           hashlib.sha256(repr(sorted(tree_digest(models).items())).encode()).hexdigest())
    if key not in _NIGHTS:
        cache = Path(tempfile.mkdtemp(prefix="ce-tests-nights-"))
        atexit.register(shutil.rmtree, cache, True)
        _NIGHTS[key] = cache / "runs"
    runs = _NIGHTS[key]
    nights = unscored_nights()[:k]
    assert len(nights) == k, f"the fixture book has {len(unscored_nights())} nights, asked for {k}"
    for night in nights:
        if not (runs / night).is_dir():
            result = CliRunner().invoke(app, ["run", "--data", str(BOOK), "--date", night, "--strategy",
                                              str(strategy_path), "--graph", str(GRAPH), "--models", str(models),
                                              "--out", str(runs)])
            assert result.exit_code == 0, result.output[-3000:]
    dest.mkdir(parents=True)
    for p in runs.iterdir():
        if p.is_dir() and p.name in nights:
            shutil.copytree(p, dest / p.name)
        elif p.is_file():  # the runs folder's lock
            shutil.copy2(p, dest / p.name)
    return dest


def tree_digest(folder: Path, pattern: str = "*") -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob(pattern)) if p.is_file()}


DATA_FILES = ("*.parquet", "*.csv", "manifest.json")


def data_digest(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for pat in DATA_FILES:
        out.update(tree_digest(folder, pat))
    return out


def unscored_nights() -> list[str]:
    """The fixture book's nightly snapshots (dates with accounts but no outcomes yet), oldest first."""
    import pandas as pd

    acc = pd.read_parquet(BOOK / "accounts.parquet", columns=["snapshot_date"])
    out = pd.read_parquet(BOOK / "outcomes.parquet", columns=["snapshot_date"])
    nights = sorted(set(pd.to_datetime(acc["snapshot_date"])) - set(pd.to_datetime(out["snapshot_date"])))
    return [d.date().isoformat() for d in nights]
