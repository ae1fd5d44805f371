"""Model approvals with history: append-only records, the candidate beside the champion, refusal
of a worse candidate without --force, rollback, and `run --model-version`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from collections_engine.cli import app
from collections_engine.config import load_strategy
from collections_engine.errors import InputError
from collections_engine.io.load import load_book
from collections_engine.jobs import approve_job, review_job
from collections_engine.scoring import load_version, train
from collections_engine.scoring.compare import compare_predictions, rescore_rows, shared_rows
from collections_engine.scoring.store import (ApprovalRefused, approval_history, approve, champion,
                                              review, rollback, write_version)
from tests.pipeline_helpers import BOOK, FAST, GRAPH, ROOT, data_digest, fast_model, short_placement_strategy

runner = CliRunner()
STRATEGY = ROOT / "strategies" / "default.yaml"
WEAK = replace(FAST, max_rounds=1, num_leaves=2)   # a one-split model: clearly worse


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two versions trained on the fixture book with the same seed (same held-out rows): a good
    one and a one-split one, plus the short-placement strategy the nightly runs use."""
    tmp = tmp_path_factory.mktemp("approvals")
    strategy_path = short_placement_strategy(tmp / "short.yaml")
    strategy = load_strategy(strategy_path)
    book, _ = load_book(BOOK, strategy)
    good, weak = fast_model(strategy_path), train(book, strategy, WEAK)
    return {"tmp": tmp, "strategy_path": strategy_path, "strategy": strategy, "book": book,
            "good": good, "weak": weak}


def _models(trained, path: Path) -> Path:
    write_version(trained["good"], path, "mgood", {"input_hashes": {}}, "<html></html>")
    write_version(trained["weak"], path, "mweak", {"input_hashes": {}}, "<html></html>")
    return path


def _files(models: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((models / "approvals").glob("*.json"))}


def test_comparison_matches_obvious_versions():
    rng = np.random.default_rng(3)
    y = rng.random(3000) < 0.4
    champ = np.clip(0.4 + 0.25 * (y - 0.4) + rng.normal(0, 0.2, 3000), 0.01, 0.99)
    cand = np.clip(champ + rng.normal(0, 0.25, 3000), 0.01, 0.99)   # the champion plus noise
    c = compare_predictions(y, cand, champ)
    assert c["candidate"]["auc"] == pytest.approx(roc_auc_score(y, cand))
    assert c["champion"]["auc"] == pytest.approx(roc_auc_score(y, champ))
    assert c["auc_diff"]["diff"] == pytest.approx(roc_auc_score(y, cand) - roc_auc_score(y, champ))
    assert c["verdict"] == "worse" and c["auc_diff"]["hi"] < 0
    for side in ("candidate", "champion"):
        assert c[side]["ks_lo"] <= c[side]["ks"] <= c[side]["ks_hi"]
        assert c[side]["calibration"]["repay_rate"] == pytest.approx(y.mean())
    same = compare_predictions(y, champ, champ)
    assert same["verdict"] == "not_worse" and same["psi_scores"] == pytest.approx(0, abs=1e-9)
    assert compare_predictions(y[:50], cand[:50], champ[:50])["verdict"] == "not_comparable"


@settings(max_examples=25)
@given(st.integers(0, 10_000))
def test_verdict_is_the_paired_interval(seed):
    """worse exactly when the paired interval of the AUC difference lies below zero."""
    rng = np.random.default_rng(seed)
    n = 400
    y = rng.random(n) < 0.5
    a = y * rng.uniform(0, 1) + rng.normal(0, 1, n)
    b = y * rng.uniform(0, 1) + rng.normal(0, 1, n)
    c = compare_predictions(y, a, b)
    if c["verdict"] == "not_comparable":
        return
    d = c["auc_diff"]
    assert d["lo"] <= d["diff"] <= d["hi"]
    assert (c["verdict"] == "worse") == (d["hi"] < 0)
    assert (c["verdict"] == "better") == (d["lo"] > 0)


def test_worse_candidate_refused_then_forced_and_records_append_only(trained, tmp_path):
    models = _models(trained, tmp_path / "models")
    first = approve(models, "mgood", by="Li Wei")
    assert first["record"]["champion_before"] is None and champion(models) == "mgood"
    status_good = (models / "mgood" / "status.json").read_bytes()
    before = _files(models)
    with pytest.raises(ApprovalRefused, match="worse than the champion mgood") as exc:
        approve(models, "mweak", by="Li Wei")
    assert exc.value.review["comparison"]["verdict"] == "worse"
    assert _files(models) == before and champion(models) == "mgood"    # nothing recorded
    with pytest.raises(InputError, match="without --reason"):
        approve(models, "mweak", by="Li Wei", force=True)
    forced = approve(models, "mweak", by="Ana", force=True, reason="faster to explain")
    assert champion(models) == "mweak"
    rec = forced["record"]
    assert rec["forced"] and rec["reason"] == "faster to explain" and rec["by"] == "Ana"
    assert rec["comparison"]["verdict"] == "worse" and rec["champion_before"] == "mgood"
    # re-approving the first version appends; no earlier record or status changes
    again = approve(models, "mgood", by="Bo")
    after = _files(models)
    assert {k: after[k] for k in before} == before and len(after) == 3
    assert (models / "mgood" / "status.json").read_bytes() == status_good
    assert [r["action"] for r in approval_history(models)] == ["approve"] * 3
    assert again["record"]["chain"] == ["mgood", "mweak", "mgood"]


def test_the_approve_commands_jobs(trained, tmp_path):
    """The path `approve` takes: review_job (nothing to show before a champion; then the candidate
    beside it), approve_job refusing a worse candidate with nothing recorded, then forced."""
    models = _models(trained, tmp_path / "models")
    first = review_job(models, "mgood")
    assert not first.compared and first.rescore is None and first.review["comparison"] is None
    approve_job(models, first, "Li Wei")
    rv = review_job(models, "mweak")
    assert rv.compared and rv.review["champion"] == "mgood" and rv.review["comparison"]["verdict"] == "worse"
    before = _files(models)
    with pytest.raises(ApprovalRefused, match="worse than the champion mgood"):
        approve_job(models, rv, "Li Wei")
    assert _files(models) == before and champion(models) == "mgood"
    rec = approve_job(models, rv, "Ana", force=True, reason="simpler")["record"]
    assert rec["forced"] and rec["by"] == "Ana" and champion(models) == "mweak"
    assert rec["comparison"] == rv.review["comparison"]


def test_rollback_walks_the_chain_back(trained, tmp_path):
    models = _models(trained, tmp_path / "models")
    with pytest.raises(InputError, match="no model version was ever approved"):
        rollback(models, by="x")
    approve(models, "mgood", by="a")
    with pytest.raises(InputError, match="no earlier one"):
        rollback(models, by="x")
    approve(models, "mweak", by="a", force=True, reason="test")
    rec = rollback(models, by="Li Wei")
    assert rec["action"] == "rollback" and rec["version_id"] == "mgood"
    assert rec["champion_before"] == "mweak" and champion(models) == "mgood"
    assert load_version(models).version_id == "mgood"
    assert load_version(models, "mweak").version_id == "mweak"   # still approved, on request


def test_champion_rescored_from_the_data_on_the_candidates_rows(trained, tmp_path):
    """The champion's probabilities rebuilt from DATA equal what training stored for the rows it
    held out (the path `approve --data` takes when two versions share too few rows)."""
    models = _models(trained, tmp_path / "models")
    v = load_version(models, "mgood", approved_only=False)
    val = trained["good"].validation
    p = rescore_rows(v, trained["book"], trained["strategy"], val)
    np.testing.assert_allclose(p, val["p_final"].to_numpy(), rtol=1e-9, atol=1e-12)
    approve(models, "mgood", by="a")
    # shared rows are enough here; a rescore forced through review gives the same verdict
    calls = []

    def rescore(version, rows):
        calls.append(version.version_id)
        return rescore_rows(version, trained["book"], trained["strategy"], rows)

    rv = review(models, "mweak", rescore)
    assert rv["comparison"]["verdict"] == "worse" and calls == []
    shared = shared_rows(trained["weak"].validation, trained["good"].validation)
    assert rv["comparison"]["rows"] == len(shared) > 100
    # the champion's held-out rows moved away: nothing shared, the champion is rescored from DATA
    val2 = trained["good"].validation.assign(snapshot_date=pd.Timestamp("2001-01-31"))
    (models / "mgood" / "validation.parquet").unlink()
    val2.to_parquet(models / "mgood" / "validation.parquet")
    alone = review(models, "mweak")["comparison"]
    assert alone["verdict"] == "not_comparable" and "--data" in alone["why"]
    rv2 = review(models, "mweak", rescore)
    assert calls == ["mgood"] and rv2["comparison"]["verdict"] == "worse"
    assert rv2["comparison"]["auc_diff"]["diff"] == pytest.approx(rv["comparison"]["auc_diff"]["diff"])
    r = runner.invoke(app, ["approve", "--models", str(models), "--version", "mweak", "--data", str(BOOK),
                            "--strategy", str(trained["strategy_path"])])
    assert r.exit_code == 2 and "scored on them from the data" in r.output and "worse" in r.output
    r = runner.invoke(app, ["approve", "--models", str(models), "--version", "mweak", "--data", str(BOOK)])
    assert r.exit_code == 2 and "--data and --strategy" in r.output


def _run_args(trained, models: Path, runs: Path, night: str, *extra: str) -> list[str]:
    return ["run", "--data", str(BOOK), "--date", night, "--strategy", str(trained["strategy_path"]),
            "--graph", str(GRAPH), "--models", str(models), "--out", str(runs), *extra]


@pytest.mark.slow
def test_cli_refuses_then_rollback_reproduces_the_night(trained, tmp_path):
    models = _models(trained, tmp_path / "models")
    night = sorted(pd.to_datetime(pd.read_parquet(BOOK / "accounts.parquet",
                                                  columns=["snapshot_date"])["snapshot_date"]).unique())[-7]
    night = pd.Timestamp(night).date().isoformat()
    r = runner.invoke(app, ["approve", "--models", str(models), "--version", "mgood", "--by", "Li Wei"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, _run_args(trained, models, tmp_path / "a", night)).exit_code == 0
    r = runner.invoke(app, ["approve", "--models", str(models), "--version", "mweak"])
    assert r.exit_code == 2 and "worse than the champion mgood" in r.output and "--force" in r.output
    assert "AUC (95% DeLong)" in r.output and "PSI between their scores" in r.output
    r = runner.invoke(app, ["approve", "--models", str(models), "--version", "mweak", "--force"])
    assert r.exit_code == 2 and "--reason" in r.output
    r = runner.invoke(app, ["approve", "--models", str(models), "--version", "mweak", "--force",
                            "--reason", "regulator asked for the simpler model", "--by", "Ana"])
    assert r.exit_code == 0 and "forced" in r.output, r.output
    assert runner.invoke(app, _run_args(trained, models, tmp_path / "b", night)).exit_code == 0
    r = runner.invoke(app, ["approve", "--models", str(models), "--rollback", "--by", "Li Wei"])
    assert r.exit_code == 0 and "mgood is the champion again" in r.output, r.output
    assert runner.invoke(app, _run_args(trained, models, tmp_path / "c", night)).exit_code == 0
    r = runner.invoke(app, _run_args(trained, models, tmp_path / "d", night, "--model-version", "mgood"))
    assert r.exit_code == 0
    a, b, c, d = (data_digest(tmp_path / x / night) for x in "abcd")
    assert a == c == d and a != b
    # run.json: the same but for when and how long (timings, timestamps, host, memory)
    volatile = {"started_at", "finished_at", "timings_s", "peak_rss_gib", "rings_parts_s", "host"}

    def stable(x: str) -> dict:
        j = json.loads((tmp_path / x / night / "run.json").read_text())
        j["solver"] = {k: v for k, v in j["solver"].items() if k != "time_s"}
        return {k: v for k, v in j.items() if k not in volatile}

    assert stable("a") == stable("c") == stable("d") != stable("b")
    # report.html shows the solver's time: byte-stable once the report is (issue 18)
    for x in "acd":
        assert json.loads((tmp_path / x / night / "run.json").read_text())["model_version"] == "mgood"
    r = runner.invoke(app, _run_args(trained, models, tmp_path / "e", night, "--model-version", "nope"))
    assert r.exit_code == 2 and "model version nope not found" in r.output
    assert not (tmp_path / "e" / night).exists()
    recs = approval_history(models)
    assert [(x["action"], x["version_id"]) for x in recs] == [
        ("approve", "mgood"), ("approve", "mweak"), ("rollback", "mgood")]
    assert recs[1]["reason"] == "regulator asked for the simpler model"
