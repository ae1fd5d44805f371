"""`effects_model: logodds` through `train` and the nightly `run`: the shifts are fitted at
training, approved with the version, and each placed account is valued with its own cell's shift
(`--effects history`) or the strategy's ln(effect) (`--effects strategy`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from collections_engine.assign.logodds import LogOddsEffects
from collections_engine.cli import app
from collections_engine.config import load_strategy
from collections_engine.jobs import train_job
from collections_engine.scoring import approve
from tests.pipeline_helpers import BOOK, FAST, GRAPH, short_placement_strategy, unscored_nights

runner = CliRunner()
pytestmark = pytest.mark.slow   # train and two nights: about 30 s on the shared box


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("logodds")
    path = short_placement_strategy(tmp / "short.yaml")
    doc = yaml.safe_load(path.read_text())
    doc["effects_model"] = "logodds"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    models = tmp / "models"
    out = train_job(BOOK, path, models, FAST)
    approve(models, out.version_id, by="tests")
    date = unscored_nights()[0]
    runs = {}
    for mode in ("history", "strategy"):
        runs[mode] = tmp / f"runs_{mode}"
        r = runner.invoke(app, ["run", "--data", str(BOOK), "--date", date, "--strategy", str(path), "--graph",
                                str(GRAPH), "--models", str(models), "--out", str(runs[mode]), "--effects", mode])
        assert r.exit_code == 0, r.output[-3000:]
    return {"strategy": load_strategy(path), "version": out.path, "runs": runs, "date": date}


def _placed(folder: Path) -> pd.DataFrame:
    a = pd.read_parquet(folder / "assignments.parquet")
    inp = pd.read_parquet(folder / "decision_inputs.parquet")
    m = a.drop(columns=["stage"], errors="ignore").merge(inp[["account_id", "p_repay", "collectable", "stage", "dpd", "customer_line"]], on="account_id")
    return m[m["decision"].isin(["placed", "assigned"]) & (m["queue"] != "")].reset_index(drop=True)


def _check_values(placed: pd.DataFrame, strategy, delta) -> None:
    comm = {q.name: q.commission for q in strategy.vendors()}
    assert len(placed) > 50
    for q, g in placed.groupby("queue"):
        d = delta(q, g)
        p = g["p_repay"].to_numpy()
        want = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + d))) * g["collectable"].to_numpy() * (1 - comm.get(q, 0.0))
        assert np.abs(g["expected_recovery"].to_numpy() - want).max() <= 0.011, q


def test_train_stores_the_shifts_and_the_night_prices_each_cell(night):
    table = pd.read_parquet(night["version"] / "logodds_effects.parquet")
    assert {"queue", "stage", "cell", "delta", "balance_edges", "lines"} <= set(table.columns)
    model = LogOddsEffects.from_frame(table, night["strategy"])
    placed = _placed(night["runs"]["history"] / night["date"])
    assert set(placed["customer_line"]) <= {"new", "existing"}
    _check_values(placed, night["strategy"], lambda q, g: model.delta(q, g))
    # the cells differ: not one shift per (queue, stage)
    assert table.groupby(["queue", "stage"])["delta"].nunique().max() > 1


def test_effects_strategy_is_the_constant_shift(night):
    s = night["strategy"]
    eff = {(q.name, st): math.log(e) for q in s.work_queues() for st, e in q.effect.items()}
    placed = _placed(night["runs"]["strategy"] / night["date"]) if "customer_line" in pd.read_parquet(
        night["runs"]["strategy"] / night["date"] / "decision_inputs.parquet").columns else None
    if placed is None:   # no trait columns needed: the strategy's shifts
        a = pd.read_parquet(night["runs"]["strategy"] / night["date"] / "assignments.parquet")
        inp = pd.read_parquet(night["runs"]["strategy"] / night["date"] / "decision_inputs.parquet")
        placed = a.drop(columns=["stage"], errors="ignore").merge(inp[["account_id", "p_repay", "collectable", "stage"]], on="account_id")
        placed = placed[placed["decision"].isin(["placed", "assigned"]) & (placed["queue"] != "")].reset_index(drop=True)
    _check_values(placed, s, lambda q, g: np.array([eff[(q, st)] for st in g["stage"]]))
    run = json.loads((night["runs"]["strategy"] / night["date"] / "run.json").read_text())
    assert run["effects"]["mode"] == "strategy"
