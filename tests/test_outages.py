"""Outages are not bad input (CONTRACT.md: exit 2 is bad input, 1 anything else): a runtime the
night needs that is missing is exit 1 with one line, so the cron job retries the night, and
nothing is written. (The unreachable database: tests/test_io_database.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from collections_engine.cli import app
from tests.pipeline_helpers import BOOK, GRAPH, ROOT

runner = CliRunner()


def test_spark_without_java_is_exit_1_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    result = runner.invoke(app, ["run", "--data", str(BOOK), "--date", "2025-06-02",
                                 "--strategy", str(ROOT / "strategies" / "default.yaml"), "--graph", str(GRAPH),
                                 "--models", str(tmp_path / "models"), "--out", str(tmp_path / "runs"),
                                 "--engine", "spark"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert errors[0].startswith("error: --engine spark: ") and "no Java found" in errors[0]
    assert not (tmp_path / "runs").exists()
