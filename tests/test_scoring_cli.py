"""train and approve through the command line: exit codes, messages, the version folder."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from collections_engine.cli import app
from collections_engine.io import write_parquet
from tests.scoring_books import synthetic_book

runner = CliRunner()


def _write_data(path):
    book = synthetic_book(n_acc=900, n_snap=3, seed=4)
    path.mkdir()
    for name in ("accounts", "customers", "payments", "contacts", "placement_history", "outcomes"):
        write_parquet(getattr(book, name), path / f"{name}.parquet")
    (path / "sources").mkdir()
    write_parquet(book.sources["bureau"], path / "sources" / "bureau.parquet")


def test_train_then_approve(tmp_path, default_strategy_path):
    data, models = tmp_path / "data", tmp_path / "models"
    _write_data(data)
    r = runner.invoke(app, ["approve", "--models", str(models)])
    assert r.exit_code == 2 and "no candidate model version" in r.output
    r = runner.invoke(app, ["train", "--data", str(data), "--strategy", str(default_strategy_path),
                            "--models", str(models)])
    assert r.exit_code == 0, r.output
    (vdir,) = [p for p in models.iterdir() if not p.name.startswith(".")]
    assert json.loads((vdir / "status.json").read_text())["status"] == "candidate"
    meta = json.loads((vdir / "version.json").read_text())
    assert meta["input_hashes"] and meta["code_hash"] and meta["encoder"]["features"]
    assert "<svg" in (vdir / "report.html").read_text() and (vdir / "report.json").is_file()
    r = runner.invoke(app, ["train", "--data", str(data), "--strategy", str(default_strategy_path),
                            "--models", str(models)])
    assert r.exit_code == 0 and "already exists" in r.output
    r = runner.invoke(app, ["approve", "--models", str(models), "--version", "nope"])
    assert r.exit_code == 2 and "no such model version" in r.output
    r = runner.invoke(app, ["approve", "--models", str(models), "--by", "Li Wei"])
    assert r.exit_code == 0 and vdir.name in r.output
    st = json.loads((vdir / "status.json").read_text())
    assert st["status"] == "approved" and st["approved_by"] == "Li Wei" and st["approved_at"]
