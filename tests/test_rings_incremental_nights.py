"""Incremental ring nights through `run`: the state in the run folder, --full, and a damaged or
missing state (a full recompute with a warning, never a skipped fraud step)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from collections_engine.cli import app
from collections_engine.rings.carry import CARRY_TABLES
from collections_engine.rings.incremental import STATE_FILE
from tests.pipeline_helpers import (BOOK, GRAPH, data_digest, fixture_nights, short_placement_strategy, train_fast,
                                    unscored_nights)

runner = CliRunner()


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("incremental")
    strategy = short_placement_strategy(tmp / "short.yaml")
    models = tmp / "models"
    train_fast(models, strategy)
    d1, d2 = unscored_nights()[:2]
    s = {"tmp": tmp, "strategy": strategy, "models": models, "d1": d1, "d2": d2}
    s["runs"] = fixture_nights(1, strategy, models, tmp / "runs")  # d1
    s["full"] = _copy_first(s, "full")
    assert _run(s, s["full"], d2, "--full") == 0
    return s


def _run(s: dict, runs: Path, night: str, *extra: str):
    result = runner.invoke(app, ["run", "--data", str(BOOK), "--date", night, "--strategy", str(s["strategy"]),
                                 "--graph", str(GRAPH), "--models", str(s["models"]), "--out", str(runs), *extra])
    if result.exit_code != 0:
        print(result.output[-3000:])
    return result.exit_code


def _copy_first(s: dict, name: str) -> Path:
    runs = s["tmp"] / name
    shutil.copytree(s["runs"] / s["d1"], runs / s["d1"])
    return runs


def _rings_json(runs: Path, night: str) -> dict:
    return json.loads((runs / night / "run.json").read_text())


def test_second_night_is_incremental_and_full_is_a_switch(two_nights: dict) -> None:
    s = two_nights
    first = _rings_json(s["runs"], s["d1"])
    assert first["rings_communities"]["mode"] == "full"
    assert (s["runs"] / s["d1"] / STATE_FILE).is_file()
    inc = _copy_first(s, "inc")
    assert _run(s, inc, s["d2"]) == 0
    info = _rings_json(inc, s["d2"])["rings_communities"]
    assert info["mode"] == "incremental" and info["components_carried"] > 0
    # the same night again: the same bytes (the state is an input like the rest)
    before = data_digest(inc / s["d2"])
    assert _run(s, inc, s["d2"]) == 0
    assert data_digest(inc / s["d2"]) == before
    info = _rings_json(s["full"], s["d2"])["rings_communities"]
    assert info["mode"] == "full" and info["reason"] == "run --full" and info["components_carried"] == 0


@pytest.mark.parametrize("damage", ["garbage", "missing", "foreign"])
def test_a_damaged_or_missing_state_means_a_full_recompute_with_a_log_line(two_nights: dict, damage: str,
                                                                           caplog) -> None:
    s = two_nights
    runs = _copy_first(s, f"damaged_{damage}")
    state = runs / s["d1"] / STATE_FILE
    if damage == "garbage":
        state.write_bytes(b"PAR1 not a parquet file")
    elif damage == "missing":
        state.unlink()
    else:
        pd.read_parquet(state).assign(graph_key="another graph").to_parquet(state, index=False)
    reference = s["full"]
    with caplog.at_level("WARNING", logger="collections_engine"):
        assert _run(s, runs, s["d2"]) == 0
    assert any("every component recomputed" in r.getMessage() for r in caplog.records)
    report = _rings_json(runs, s["d2"])
    assert report["rings_communities"]["mode"] == "full"
    # the fraud step ran in full: the same rings as --full
    assert (runs / s["d2"] / "rings.parquet").read_bytes() == (reference / s["d2"] / "rings.parquet").read_bytes()
    warned = [w for w in report["warnings"] if "every component recomputed" in w]
    assert bool(warned) == (damage != "missing")  # a night from before states: the log only


def test_the_graph_is_built_from_the_carry_and_a_damaged_carry_is_a_warning(two_nights: dict, caplog) -> None:
    """The second night builds its identifier graph from the first night's carry (rings.carry);
    with the carry damaged it builds it from the whole book, says so, and finds the same rings."""
    s = two_nights
    assert all((s["runs"] / s["d1"] / f"ring_carry_{t}.parquet").is_file() for t in CARRY_TABLES)
    carried = _copy_first(s, "carried")
    assert _run(s, carried, s["d2"]) == 0
    assert _rings_json(carried, s["d2"])["rings_graph"]["mode"] == "carried"
    damaged = _copy_first(s, "carry_damaged")
    (damaged / s["d1"] / "ring_carry_links.parquet").write_bytes(b"PAR1 not a parquet file")
    with caplog.at_level("WARNING", logger="collections_engine"):
        assert _run(s, damaged, s["d2"]) == 0
    report = _rings_json(damaged, s["d2"])
    assert report["rings_graph"]["mode"] == "full"
    assert any("identifier graph built from the whole book" in w for w in report["warnings"])
    assert any("identifier graph built from the whole book" in r.getMessage() for r in caplog.records)
    for name in ("rings.parquet", STATE_FILE, "ring_carry_customers.parquet"):
        assert (damaged / s["d2"] / name).read_bytes() == (carried / s["d2"] / name).read_bytes(), name
    # the link rows are the same rows (in the order each way found them)
    links = [pd.read_parquet(r / s["d2"] / "ring_carry_links.parquet").sort_values(["cust_pos", "kind", "value"],
                                                                                  ignore_index=True)
             for r in (damaged, carried)]
    pd.testing.assert_frame_equal(*links)
    assert _rings_json(s["full"], s["d2"])["rings_graph"]["reason"].startswith("run --full")
