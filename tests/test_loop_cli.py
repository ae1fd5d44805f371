"""simulate and backtest on the command line: bad input exits 2 with every problem named and
nothing written."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from typer.testing import CliRunner

from collections_engine.cli import app

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "data" / "fixtures" / "book"
runner = CliRunner()


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_simulate_refuses_a_night_the_world_is_not_at(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    before = _digest(data)
    res = runner.invoke(app, ["simulate", "--data", str(data), "--runs", str(tmp_path / "runs"),
                              "--date", "2025-06-02"])
    assert res.exit_code == 2, res.output
    # both problems at once: the world is at the last night, and no run folder for the night
    assert "state_date is 2025-06-10" in res.output
    assert "assignments.parquet: not found" in res.output
    assert _digest(data) == before


def test_simulate_needs_a_world_v2_book(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    (data / "truth" / "world.json").unlink()
    res = runner.invoke(app, ["simulate", "--data", str(data), "--runs", str(tmp_path / "runs"),
                              "--date", "2025-06-10"])
    assert res.exit_code == 2 and "truth/world.json: not found" in res.output


def test_backtest_names_every_bad_option(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    res = runner.invoke(app, ["backtest", "--data", str(FIXTURE), "--strategy",
                              str(tmp_path / "missing.yaml"), "--graph",
                              str(ROOT / "graphs" / "default.yaml"), "--models",
                              str(tmp_path / "models"), "--out", str(out), "--cycles", "0",
                              "--policies", "engine,magic"])
    assert res.exit_code == 2, res.output
    for text in ("--policies", "magic", "--cycles: found 0", "--strategy"):
        assert text in res.output, text
    assert not out.exists()
