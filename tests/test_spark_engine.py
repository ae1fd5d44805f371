"""`run --engine spark` (local[2]) on the fixture book: the same night as in-process, and bad
input told with every problem, nothing written. Needs pyspark and Java (scripts/test.sh
installs both); CI fails rather than skips when they are missing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from collections_engine.cli import app
from collections_engine.rings.carry import CARRY_TABLES
from collections_engine.spark.ring_job import NO_CARRY
from tests.spark_helpers import require_spark, spark  # noqa: F401 - the fixture
from tests.pipeline_helpers import BOOK, GRAPH, short_placement_strategy, train_fast

pytestmark = pytest.mark.slow
runner = CliRunner()
NIGHT = "2025-06-02"
NEXT = "2025-06-03"

require_spark()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("spark")
    strategy = short_placement_strategy(tmp / "short.yaml")
    train_fast(tmp / "models", strategy)
    return {"tmp": tmp, "strategy": strategy, "models": tmp / "models"}


def _run(s: dict, data: Path, runs: Path, *extra: str, date: str = NIGHT):
    return runner.invoke(app, ["run", "--data", str(data), "--date", date, "--strategy", str(s["strategy"]),
                               "--graph", str(GRAPH), "--models", str(s["models"]), "--out", str(runs), *extra])


def _book_with_endings(folder: Path) -> Path:
    """The fixture book with, in NEXT's snapshot, every 3rd account cured (dpd 0, nothing
    overdue) and every 3rd but one gone (paid off): the generator's nightly snapshots hold only
    delinquent accounts, and few of tonight's placements leave the book by the next night."""
    shutil.copytree(BOOK, folder)
    acc = pd.read_parquet(folder / "accounts.parquet")
    on_next = (acc["snapshot_date"] == pd.Timestamp(NEXT)).to_numpy()
    i = np.arange(len(acc)) % 3
    acc.loc[on_next & (i == 0), "dpd"] = 0
    acc.loc[on_next & (i == 0), "overdue_amount"] = 0.0
    acc = acc.loc[~(on_next & (i == 1))].reset_index(drop=True)
    acc.to_parquet(folder / "accounts.parquet", index=False)
    return folder


def test_spark_night_equals_in_process_night(spark, setup: dict) -> None:
    a, b = setup["tmp"] / "inprocess", setup["tmp"] / "spark"
    data = _book_with_endings(setup["tmp"] / "cures")
    assert _run(setup, data, a).exit_code == 0
    r = _run(setup, data, b, "--engine", "spark", "--spark-master", "local[2]")
    assert r.exit_code == 0, r.output[-3000:]
    fa, fb = a / NIGHT, b / NIGHT
    files = sorted(p.relative_to(fa).as_posix() for p in fa.rglob("*") if p.is_file())
    # The one difference in the file list: the Spark night writes no ring carry (its reason in
    # run.json's rings_graph; the next in-process night builds its ring graph from the book).
    carry = [f for f in files if f.startswith("ring_carry_")]
    assert carry == sorted(f"ring_carry_{t}.parquet" for t in CARRY_TABLES)
    files = [f for f in files if f not in carry]
    assert files == sorted(p.relative_to(fb).as_posix() for p in fb.rglob("*") if p.is_file())
    # Scores within 1e-9 (the bar) and in fact the same bits; then every data file, decisions,
    # rings and every file a vendor or a team receives: the same bytes.
    sa, sb = pd.read_parquet(fa / "scores.parquet"), pd.read_parquet(fb / "scores.parquet")
    assert np.abs(sa["p_repay"].to_numpy() - sb["p_repay"].to_numpy()).max() <= 1e-9
    for f in files:
        if f not in ("run.json", "report.html", "timings.json"):  # times differ run to run
            assert (fa / f).read_bytes() == (fb / f).read_bytes(), f
    first = [json.loads((f / "run.json").read_text()) for f in (fa, fb)]
    # The next night ends some of these placements: paid (off tonight's book) and cured (in it at
    # dpd 0) are told apart on Spark as in-process, so every vendor's recall file is the same.
    assert _run(setup, data, a, date=NEXT).exit_code == 0
    r = _run(setup, data, b, "--engine", "spark", "--spark-master", "local[2]", date=NEXT)
    assert r.exit_code == 0, r.output[-3000:]
    fa, fb = a / NEXT, b / NEXT
    recalls = sorted(p.relative_to(fa).as_posix() for p in fa.rglob("recalls_*.csv"))
    assert recalls == sorted(p.relative_to(fb).as_posix() for p in fb.rglob("recalls_*.csv"))
    endings = pd.concat([pd.read_csv(fa / f) for f in recalls])
    assert {"paid", "cured"} <= set(endings["ended"]), endings["ended"].value_counts()
    for f in recalls:
        assert (fa / f).read_bytes() == (fb / f).read_bytes(), f
    ja, jb = (json.loads((f / "run.json").read_text()) for f in (fa, fb))
    assert ja["counts"]["ended_cured"] > 0 and ja["counts"]["ended_paid"] > 0
    assert {k: v for k, v in ja["counts"].items() if k.startswith("ended_")} == \
        {k: v for k, v in jb["counts"].items() if k.startswith("ended_")}
    # the first night's run.json: the same counts and warnings
    ja, jb = first
    assert ja["counts"] == jb["counts"] and ja["warnings"] == jb["warnings"]
    assert jb["engine"]["name"] == "spark" and "engine" not in ja
    assert jb["engine"]["night_read"] == "pyarrow row groups"  # the fixture's parquet: the direct read
    assert jb["rings_graph"] == {"mode": "none", "reason": NO_CARRY} and ja["rings_graph"]["mode"] == "full"


def test_spark_bad_book_exit_2_every_problem_nothing_written(spark, setup: dict) -> None:
    data = setup["tmp"] / "bad"
    shutil.copytree(BOOK, data)
    acc = pd.read_parquet(data / "accounts.parquet")
    acc.loc[5, "overdue_amount"] = -10.0
    acc.loc[len(acc) - 7, "customer_id"] = ""
    acc.to_parquet(data / "accounts.parquet", index=False)
    ids = pd.read_parquet(data / "identifiers.parquet")
    ids.loc[2, "customer_id"] = None
    ids.to_parquet(data / "identifiers.parquet", index=False)
    heads = {}
    for engine in ("inprocess", "spark"):
        runs = setup["tmp"] / f"bad_runs_{engine}"
        r = _run(setup, data, runs, "--engine", engine)
        assert r.exit_code == 2, r.output[-3000:]
        assert not (runs / NIGHT).exists()
        heads[engine] = sorted(re.sub(r"; rows .*", "", line) for line in r.output.splitlines()
                               if line.startswith("  - "))
    assert any("overdue_amount" in h for h in heads["spark"])
    # Every problem the in-process run finds, the Spark run finds, with the same counts (the
    # identifiers' only through the ring job's own check).
    assert heads["spark"] == heads["inprocess"], heads


def test_unknown_engine_exits_2(setup: dict) -> None:
    r = _run(setup, BOOK, setup["tmp"] / "x", "--engine", "dask")
    assert r.exit_code == 2 and "expected inprocess or spark" in r.output


def test_csv_tables_typed_as_in_process(spark, root: Path, default_strategy_path: Path) -> None:
    """The CSV book read by Spark and typed by the partitions' code equals the loader's book."""
    from collections_engine.config import load_strategy
    from collections_engine.io.load import TRAINING_TABLES, load_book
    from collections_engine.spark.engine import SparkEngine

    data = root / "data" / "fixtures" / "tiny"
    strategy = load_strategy(default_strategy_path)
    book, _ = load_book(data, strategy, skip=TRAINING_TABLES)
    engine = SparkEngine("local[2]")
    engine.load_book(data, strategy, skip=TRAINING_TABLES)
    assert set(engine.tables) == {n for n in book.table_names()}
    for name in engine.tables:
        pd.testing.assert_frame_equal(engine._collect(name).reset_index(drop=True),
                                      getattr(book, name).reset_index(drop=True), check_categorical=False)


@pytest.mark.parametrize("owner_join", ["broadcast", "shuffle"])
def test_spark_night_through_sparks_scan(spark, setup: dict, monkeypatch, owner_join: str) -> None:
    """Spark's own scan (tables pyarrow could not read as Spark does: CSV, Delta, lake URIs,
    float ids), with the account -> customer map broadcast, and joined without a broadcast hint
    as above `BROADCAST_OWNER_MAX_ROWS` accounts rows: the same night as in-process."""
    from collections_engine.spark import engine, tables

    if owner_join == "shuffle":
        monkeypatch.setattr(engine, "BROADCAST_OWNER_MAX_ROWS", 0)
    monkeypatch.setattr(tables, "DIRECT_READ", False)
    a, b = setup["tmp"] / f"inprocess_{owner_join}", setup["tmp"] / f"spark_{owner_join}"
    assert _run(setup, BOOK, a).exit_code == 0
    r = _run(setup, BOOK, b, "--engine", "spark", "--spark-master", "local[2]")
    assert r.exit_code == 0, r.output[-3000:]
    fa, fb = a / NIGHT, b / NIGHT
    assert json.loads((fb / "run.json").read_text())["engine"]["night_read"] == "spark scan"
    for f in ("scores.parquet", "assignments.parquet", "rings.parquet", "placements.parquet"):
        assert (fa / f).read_bytes() == (fb / f).read_bytes(), f
