"""`collections-engine generate`: bytes, the validator, exit codes, and the committed fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from collections_engine.cli import app
from collections_engine.config import load_strategy
from collections_engine.io import file_sha256
from collections_engine.io.load import load_book

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "data" / "fixtures" / "book"
STRATEGY = load_strategy(ROOT / "strategies" / "default.yaml")
runner = CliRunner()


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): file_sha256(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _generate(out: Path, *extra: str) -> None:
    res = runner.invoke(app, ["generate", "--out", str(out), "--accounts", "400", "--days", "3",
                              "--history-months", "4", *extra])
    assert res.exit_code == 0, res.output


def test_same_seed_same_bytes_and_other_seed_other_bytes(tmp_path: Path) -> None:
    _generate(tmp_path / "a", "--seed", "11")
    _generate(tmp_path / "b", "--seed", "11")
    _generate(tmp_path / "c", "--seed", "12")
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    assert ha == hb
    assert len(ha) == 9 + 4 + 6
    assert ha["accounts.parquet"] != hc["accounts.parquet"]
    assert {"truth/accounts.parquet", "truth/effects.parquet", "truth/rings.parquet",
            "truth/sources.parquet", "truth/state.parquet", "truth/world.json",
            "sources/bureau.parquet", "sources/telco.parquet",
            "sources/multi_lending.parquet", "sources/contact_repair.parquet"} <= set(ha)


def test_generated_book_passes_the_validator_without_warnings(tmp_path: Path) -> None:
    _generate(tmp_path / "book")
    book, warnings = load_book(tmp_path / "book", STRATEGY)
    assert warnings == []
    assert set(book.sources) == {s.name for s in STRATEGY.sources}
    assert book.outcomes is not None and book.placement_history is not None


def test_committed_fixture_loads_and_is_what_the_command_writes(tmp_path: Path) -> None:
    book, warnings = load_book(FIXTURE, STRATEGY)
    assert warnings == []
    first = book.snapshot_dates()[12]
    assert len(book.on(first)) == 3000
    res = runner.invoke(app, ["generate", "--out", str(tmp_path / "fx"), "--accounts", "3000",
                              "--days", "7", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert _hashes(tmp_path / "fx") == _hashes(FIXTURE)


@pytest.mark.parametrize("args, message", [
    (["--accounts", "0"], "--accounts: found 0"),
    (["--days", "0", "--history-months", "0"], "--history-months: found 0"),
    (["--first-night", "2025-06-07"], "a weekend day"),
    (["--first-night", "June"], "expected YYYY-MM-DD"),
])
def test_bad_arguments_exit_2_with_every_problem(tmp_path: Path, args: list[str],
                                                 message: str) -> None:
    res = runner.invoke(app, ["generate", "--out", str(tmp_path / "x"), *args])
    assert res.exit_code == 2
    assert message in res.output
    assert not (tmp_path / "x").exists()


def test_refuses_a_non_empty_folder_without_force(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = runner.invoke(app, ["generate", "--out", str(out), "--accounts", "50", "--days", "1",
                              "--history-months", "2"])
    assert res.exit_code == 2 and "--force" in res.output
    assert (out / "keep.txt").read_text() == "mine"
    res = runner.invoke(app, ["generate", "--out", str(out), "--accounts", "50", "--days", "1",
                              "--history-months", "2", "--force"])
    assert res.exit_code == 0, res.output
    assert not (out / "keep.txt").exists() and (out / "accounts.parquet").is_file()
