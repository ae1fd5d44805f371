"""The nightly run end to end on the fixture book: seven nights, reruns, crashes, vendors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from collections_engine.cli import app
from collections_engine.config import load_strategy
from tests.pipeline_helpers import (BOOK, GRAPH, data_digest, fixture_nights, short_placement_strategy, train_fast,
                                    tree_digest)

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("pipeline")
    strategy = short_placement_strategy(tmp / "short.yaml")
    models = tmp / "models"
    train_fast(models, strategy)
    nights = _nights()
    return {"tmp": tmp, "strategy": strategy, "models": models, "nights": nights}


def _nights() -> list[str]:
    acc = pd.read_parquet(BOOK / "accounts.parquet", columns=["snapshot_date"])
    out = pd.read_parquet(BOOK / "outcomes.parquet", columns=["snapshot_date"])
    dates = sorted(set(pd.to_datetime(acc["snapshot_date"])) - set(pd.to_datetime(out["snapshot_date"])))
    return [d.date().isoformat() for d in dates]


def _args(s: dict[str, Path], runs: Path, night: str, *extra: str) -> list[str]:
    return ["run", "--data", str(BOOK), "--date", night, "--strategy", str(s["strategy"]),
            "--graph", str(GRAPH), "--models", str(s["models"]), "--out", str(runs), *extra]


def _run(s: dict[str, Path], runs: Path, night: str, *extra: str) -> int:
    result = runner.invoke(app, _args(s, runs, night, *extra))
    if result.exit_code != 0:
        print(result.output[-3000:])
    return result.exit_code


@pytest.fixture(scope="module")
def first_night(setup: dict) -> Path:
    """A runs folder holding the first night only (read-only: tests copy it)."""
    return fixture_nights(1, setup["strategy"], setup["models"], setup["tmp"] / "first_night")


@pytest.fixture(scope="module")
def week(setup: dict[str, Path]) -> Path:
    """The seven nights in one runs folder (run once per test session, see `fixture_nights`)."""
    return fixture_nights(len(setup["nights"]), setup["strategy"], setup["models"], setup["tmp"] / "runs")


def test_seven_nights_every_account_once_and_lifecycle(setup: dict, week: Path) -> None:
    nights = setup["nights"]
    assert len(nights) == 7
    acc = pd.read_parquet(BOOK / "accounts.parquet")
    acc["snapshot_date"] = pd.to_datetime(acc["snapshot_date"])
    totals = {"kept": 0, "returned": 0, "recalled": 0, "placed": 0}
    prev_open = None
    for night in nights:
        folder = week / night
        a = pd.read_parquet(folder / "assignments.parquet")
        tonight = acc[(acc["snapshot_date"] == pd.Timestamp(night)) & (acc["dpd"] > 0)]
        assert a["account_id"].is_unique
        assert set(a["account_id"]) == set(tonight["account_id"])  # nothing lost, nothing extra
        totals["kept"] += int((a["decision"] == "kept").sum())
        totals["placed"] += int((a["decision"] == "placed").sum())
        totals["returned"] += int((a["ended"] == "returned").sum())
        totals["recalled"] += int((a["ended"] == "recalled").sum())
        open_ = pd.read_parquet(folder / "placements.parquet")
        assert (pd.to_datetime(open_["ends_on"]) > pd.Timestamp(night)).all()
        if prev_open is not None:
            # a kept placement keeps its vendor and dates
            kept = a[a["decision"] == "kept"].merge(prev_open, on="account_id")
            assert (kept["queue"] == kept["vendor"]).all()
        prev_open = open_
        # recalls reach the vendor's recall file
        rec = a[a["ended"] == "recalled"]
        for vendor, rows in rec.groupby("previous_queue"):
            f = folder / "vendors" / vendor / f"recalls_{night}.csv"
            assert set(pd.read_csv(f, dtype=str)["account_id"]) >= set(rows["account_id"])
    assert totals["placed"] > 0 and totals["kept"] > 0 and totals["returned"] > 0, totals


def test_vendor_files_carry_only_file_fields(setup: dict, week: Path) -> None:
    strategy = load_strategy(setup["strategy"])
    night = setup["nights"][0]
    for v in strategy.vendors():
        f = week / night / "vendors" / v.name / f"placements_{night}.csv"
        cols = list(pd.read_csv(f, nrows=0).columns)
        assert cols[-1] == "currency"  # issue 18: the amounts' currency, beside the file_fields
        cols = cols[:-1]
        assert set(cols) <= set(v.file_fields), (v.name, cols)
        assert cols == [c for c in v.file_fields if c in cols]
        recall_cols = list(pd.read_csv(week / night / "vendors" / v.name / f"recalls_{night}.csv", nrows=0).columns)
        assert recall_cols == ["account_id", "ended", "reason"]


def test_rerun_same_inputs_is_byte_identical(setup: dict, week: Path) -> None:
    night = setup["nights"][2]
    before = data_digest(week / night)
    assert _run(setup, week, night) == 0
    assert data_digest(week / night) == before


def test_rerun_with_changed_inputs_refused_unless_force(setup: dict, week: Path) -> None:
    night = setup["nights"][-1]
    runs = setup["tmp"] / "changed_runs"
    shutil.copytree(week, runs)  # the week stays as it ran for the other tests
    changed = setup["tmp"] / "changed.yaml"
    changed.write_text(setup["strategy"].read_text().replace("capacity: 600", "capacity: 500"))
    args = _args(setup, runs, night)
    args[args.index("--strategy") + 1] = str(changed)
    before = tree_digest(runs / night)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "already exists with different inputs" in result.output + str(result.stderr)
    assert tree_digest(runs / night) == before
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0
    assert tree_digest(runs / night) != before  # the forced rerun replaced the night


STEPS = ["validate", "features", "score", "rings", "placement", "report", "write", "write_mid", "write_end"]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_killed_at_any_step_leaves_no_partial_folder(setup: dict, first_night: Path, step: str) -> None:
    runs = setup["tmp"] / f"crash_{step}"
    shutil.copytree(first_night, runs)
    first, second = setup["nights"][:2]
    before = tree_digest(runs / first)
    env = {**os.environ, "COLLECTIONS_ENGINE_FAIL_AT": step, "COLLECTIONS_ENGINE_FAIL_MODE": "kill"}
    proc = subprocess.run([sys.executable, "-m", "collections_engine", *_args(setup, runs, second)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 137, proc.stderr[-2000:]
    assert not (runs / second).exists()
    assert tree_digest(runs / first) == before  # yesterday's state untouched
    assert _run(setup, runs, second) == 0  # the next attempt cleans up and succeeds
    assert not [p for p in runs.iterdir() if p.name.startswith(".") and p.name != ".lock"]


def test_missed_night_reads_latest_earlier(setup: dict, first_night: Path) -> None:
    runs = setup["tmp"] / "missed"
    n = setup["nights"]
    shutil.copytree(first_night, runs)  # n[0] ran
    assert _run(setup, runs, n[2]) == 0  # n[1] missed
    import json

    rec = json.loads((runs / n[2] / "run.json").read_text())
    assert rec["previous_night"] == n[0]
    a = pd.read_parquet(runs / n[2] / "assignments.parquet")
    assert (a["decision"] == "kept").any()


def test_no_approved_model_exits_2(setup: dict, tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--data", str(BOOK), "--date", setup["nights"][0], "--strategy",
                                 str(setup["strategy"]), "--graph", str(GRAPH), "--models",
                                 str(tmp_path / "empty"), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert not (tmp_path / "runs" / setup["nights"][0]).exists()


def test_bad_date_exits_2(setup: dict, tmp_path: Path) -> None:
    result = runner.invoke(app, _args(setup, tmp_path / "runs", "2031-01-01"))
    assert result.exit_code == 2
    assert "no snapshot for --date 2031-01-01" in result.output + str(result.stderr)


def test_whatif_never_touches_runs(setup: dict, week: Path, tmp_path: Path) -> None:
    night = setup["nights"][0]
    before = tree_digest(week)
    changed = tmp_path / "more_agency.yaml"
    changed.write_text(setup["strategy"].read_text().replace("capacity: 150", "capacity: 60"))
    result = runner.invoke(app, ["whatif", "--runs", str(week), "--date", night, "--strategy", str(changed),
                                 "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert tree_digest(week) == before
    import json

    w = json.loads((tmp_path / "w" / "whatif.json").read_text())
    assert w["totals"]["moved"] > 0
    assert w["totals"]["net_whatif"] <= w["totals"]["net_ran"] + 1e-6  # less capacity cannot earn more


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(_chromium() is None, reason="Debian's chromium is not installed (scripts/test.sh installs it)")
def test_report_renders_in_headless_chromium(setup: dict, week: Path, tmp_path: Path) -> None:
    night = setup["nights"][1]
    report = week / night / "report.html"
    profile = tmp_path / "profile"
    dom = subprocess.run([_chromium(), *CHROME_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                          report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f"Collections night {night}" in dom.stdout
    assert dom.stdout.count("<svg") >= 4  # the charts are inline
    for heading in ("Expected recovery and cost by queue", "Capacity use and shadow prices",
                    "Scores and drift", "Fraud rings", "What changed since last night"):
        assert heading in dom.stdout
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), *CHROME_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    "--window-size=1280,2400", report.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000
    if os.environ.get("REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["REPORT_SCREENSHOT"])


def test_effects_estimated_at_training_are_used(setup: dict, week: Path) -> None:
    night = setup["nights"][0]
    eff = pd.read_parquet(week / night / "effects.parquet")
    hist = eff[eff["source"] == "history"]
    assert len(hist) > 0
    assert (hist["used"] == hist["effect"]).all()  # the approved estimate, not the strategy's figure
    strat = eff[eff["source"] == "strategy"]
    assert (strat["used"] == strat["strategy_effect"]).all()
