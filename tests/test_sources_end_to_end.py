"""The `sources` command end to end on a tiny generated book, one source broken on purpose."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from collections_engine.cli import app

STRATEGY = Path(__file__).resolve().parents[1] / "strategies" / "default.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sources")
    data, out = tmp / "book", tmp / "out"
    r = CliRunner().invoke(app, ["generate", "--out", str(data), "--accounts", "700", "--days", "1",
                                 "--history-months", "6", "--seed", "4"])
    assert r.exit_code == 0, r.output
    # break two sources: multi_lending's table disappears, contact_repair's keys match nothing
    (data / "sources" / "multi_lending.parquet").unlink()
    cr = pd.read_parquet(data / "sources" / "contact_repair.parquet")
    cr["account_id"] = "ZZ" + cr["account_id"].astype(str)
    cr.to_parquet(data / "sources" / "contact_repair.parquet", index=False)
    shutil.rmtree(data / "truth")
    args = ["sources", "--data", str(data), "--strategy", str(STRATEGY),
            "--out", str(out), "--max-train-rows", "3000"]
    r = CliRunner().invoke(app, args)
    return r, out, args


def test_outputs_written_and_broken_sources_not_valued(run):
    r, out, _ = run
    assert r.exit_code == 0, r.output
    for f in ("sources.csv", "sources.json", "sources.html", "contributions.parquet"):
        assert (out / f).is_file()
    t = pd.read_csv(out / "sources.csv")
    status = t.groupby("source")["status"].first()
    assert status["bureau"] == "valued" and status["telco"] == "valued"
    assert status["multi_lending"] == "not valued" and status["contact_repair"] == "not valued"
    why = t.set_index("source")["why"]
    assert "matches no account_id" in why["contact_repair"]
    assert "multi_lending" in why["multi_lending"]
    b = t[(t["source"] == "bureau")].set_index("segment")
    assert {"overall", "new", "existing", "new/M1", "existing/M4+"} <= set(b.index)
    assert set(t["recommendation"]) <= {"keep", "drop", "inconclusive", "not valued"}
    doc = json.loads((out / "sources.json").read_text())
    assert doc["meta"]["estimator"].startswith("ipw")
    assert doc["meta"]["effects"].startswith("estimated on the training window")
    used = {e["source"] for e in doc["meta"]["effects_table"]}
    assert "history" in used
    assert any("contact_repair" in w for w in doc["meta"]["warnings"])
    html = (out / "sources.html").read_text()
    assert "<svg" in html and "not valued" in html and "http" not in html.split("<svg")[0]
    c = pd.read_parquet(out / "contributions.parquet")
    assert {"account_id", "contribution_bureau", "contribution_telco", "p_full"} <= set(c.columns)
    assert len(c) == b.loc["overall", "rows"]


def test_rerun_gives_the_same_bytes(run, tmp_path):
    r, out, args = run
    args = list(args)
    args[args.index("--out") + 1] = str(tmp_path / "again")
    r2 = CliRunner().invoke(app, args)
    assert r2.exit_code == 0, r2.output
    for f in ("sources.csv", "contributions.parquet"):
        assert (out / f).read_bytes() == (tmp_path / "again" / f).read_bytes()


def test_bad_option_is_exit_2(tmp_path, default_strategy_path):
    r = CliRunner().invoke(app, ["sources", "--data", str(tmp_path), "--strategy",
                                 str(default_strategy_path), "--out", str(tmp_path / "o"),
                                 "--estimator", "magic", "--effects", "guess"])
    assert r.exit_code == 2
    assert "--estimator" in r.output and "--effects" in r.output
    assert not (tmp_path / "o").exists()
