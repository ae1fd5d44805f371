"""`collections-engine rings` through typer's CliRunner on the tiny fixture."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from collections_engine.cli import app

runner = CliRunner()


def data_with_a_ring(root: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(root / "data" / "fixtures" / "tiny", data)
    (data / "identifiers.csv").write_text(
        "customer_id,kind,value,first_seen\n"
        "C001,device,tok_d1,2024-03-15\nC002,device,tok_d1,\nC003,device,tok_d1,2023-06-30\n"
        "C001,phone,tok_p1,\nC002,phone,tok_p1,\nC003,shoe_size,tok_s,\n")
    return data


def graph_file(tmp_path: Path, extra: str = "") -> Path:
    g = tmp_path / "graph.yaml"
    g.write_text("kinds: {device: 1.0, phone: 1.0}\n" + extra + "ring: {min_size: 3, threshold: 0.3}\n")
    return g


def test_rings_command_writes_the_rings_table(root: Path, tmp_path: Path) -> None:
    data = data_with_a_ring(root, tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(app, ["rings", "--data", str(data), "--graph", str(graph_file(tmp_path)),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    rings = pd.read_parquet(out / "rings.parquet")
    assert rings["customer_ids"].map(list).tolist() == [["C001", "C002", "C003"]]
    assert rings["confirmed"].tolist() == [1]
    assert (out / "ring_members.parquet").is_file() and (out / "rings_summary.json").is_file()
    first = (out / "rings.parquet").read_bytes()
    res = runner.invoke(app, ["rings", "--data", str(data), "--graph", str(graph_file(tmp_path)),
                              "--out", str(out), "--previous", str(out / "rings.parquet")])
    assert res.exit_code == 0, res.output
    assert (out / "rings.parquet").read_bytes() == first        # same ids, same bytes


def test_unknown_kind_is_an_error_when_the_graph_says_so(root: Path, tmp_path: Path) -> None:
    data = data_with_a_ring(root, tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(app, ["rings", "--data", str(data), "--graph",
                              str(graph_file(tmp_path, "unknown_kinds: error\n")), "--out", str(out)])
    assert res.exit_code == 2
    assert "unknown kind 'shoe_size' in 1 row(s) (rows 6)" in res.output
    assert not out.exists()


def test_a_date_without_a_snapshot_is_refused(root: Path, tmp_path: Path) -> None:
    data = data_with_a_ring(root, tmp_path)
    res = runner.invoke(app, ["rings", "--data", str(data), "--graph", str(graph_file(tmp_path)),
                              "--out", str(tmp_path / "o"), "--date", "2026-13-01"])
    assert res.exit_code == 2 and "expected YYYY-MM-DD" in res.output
    res = runner.invoke(app, ["rings", "--data", str(data), "--graph", str(graph_file(tmp_path)),
                              "--out", str(tmp_path / "o"), "--date", "2020-01-01"])
    assert res.exit_code == 2 and "no accounts snapshot on that date" in res.output
