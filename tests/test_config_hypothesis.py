"""Mutated strategy and graph files: accepted, or exit 2 naming the mutated path; never a traceback."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given
from typer.testing import CliRunner

from collections_engine.cli import app
from tests.strategies import dotted, mutated_yaml

ROOT = Path(__file__).resolve().parents[1]
STRATEGY = yaml.safe_load((ROOT / "strategies" / "default.yaml").read_text())
GRAPH = yaml.safe_load((ROOT / "graphs" / "default.yaml").read_text())
runner = CliRunner()


def _check(tmp: Path, doc: dict, kind: str, path: tuple) -> None:
    f = tmp / "mutated.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = runner.invoke(app, ["check", str(f)])
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code in (0, 2), out
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 2:
        # the mutated path, or the section holding it, is named
        prefixes = [dotted(path[:i]) for i in range(len(path), 0, -1)]
        assert any(p and p in out for p in prefixes) or "(top level)" in out, (path, out)
    if kind == "unknown_key":
        assert result.exit_code == 2 and "unknown key" in out


@given(mutated_yaml(STRATEGY))
def test_mutated_strategy(tmp_path_factory, mutation) -> None:
    doc, kind, path = mutation
    _check(tmp_path_factory.mktemp("s"), doc, kind, path)


@given(mutated_yaml(GRAPH))
def test_mutated_graph(tmp_path_factory, mutation) -> None:
    doc, kind, path = mutation
    _check(tmp_path_factory.mktemp("g"), doc, kind, path)
