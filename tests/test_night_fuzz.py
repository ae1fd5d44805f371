"""The night fuzzer (issue 18): small books and strategies that are valid but strange, run through
`run` (two nights, so open placements carry over) and `whatif` in-process through the CLI. Every
command exits 0 or 2, never 1; every plan written passes the independent placement check
(`assign.check.check_plan`) read back from the run folder.

Examples: 15 by default (30 nights, about a minute of CPU); FUZZ_NIGHTS=N draws N books (2N
nights). For a long run:
  FUZZ_NIGHTS=100 FUZZ_NIGHTS_LOG=/tmp/nights.json COLLECTIONS_ENGINE_SERIAL=1 \
      .venv/bin/python -m pytest tests/test_night_fuzz.py -p no:cacheprovider -s
The count of nights run and their exit codes are printed at the end of the test (and written to
FUZZ_NIGHTS_LOG when set).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from typer.testing import CliRunner

from collections_engine.assign.check import check_plan
from collections_engine.cli import app
from collections_engine.config import load_strategy
from collections_engine.config.strategy import Strategy
from tests.night_books import NIGHT, PREV, NightCase, night_cases, strategy_file, write_book
from tests.pipeline_helpers import GRAPH, ROOT, train_fast

runner = CliRunner()
TALLY: Counter = Counter()
RELAXED = re.compile(r"vendor '(.+?)' can take no new account tonight")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One approved model version for every drawn night (trained on the fixture book with the
    default strategy: the fuzzed strategies keep its stages and new-customer rule)."""
    tmp = tmp_path_factory.mktemp("fuzz_models")
    out = tmp / "models"
    train_fast(out, ROOT / "strategies" / "default.yaml")
    yield out
    line = f"night fuzzer: {TALLY['nights']} nights run ({dict(sorted(TALLY.items()))})"
    print("\n" + line)
    if os.environ.get("FUZZ_NIGHTS_LOG"):
        Path(os.environ["FUZZ_NIGHTS_LOG"]).write_text(json.dumps(dict(TALLY), sort_keys=True) + "\n")


def _strategy_doc(doc: dict) -> dict:
    doc = dict(doc)
    for key in ("holds_table", "fraud_labels_table"):  # keys of issue 18: dropped where unknown
        if key not in Strategy.model_fields:
            doc.pop(key, None)
    return doc


def _check_night(folder: Path, strategy_path: Path, date: str) -> list[str]:
    inputs = pd.read_parquet(folder / "decision_inputs.parquet")
    plan = pd.read_parquet(folder / "assignments.parquet")
    placements = pd.read_parquet(folder / "placements.parquet")
    warnings = json.loads((folder / "run.json").read_text()).get("warnings", [])
    relaxed = {m.group(1): 0.0 for w in warnings if (m := RELAXED.search(str(w)))}
    return check_plan(inputs, plan, load_strategy(strategy_path), pd.Timestamp(date),
                      placements=placements, min_share_applied=relaxed)


class _Tracebacks(logging.Handler):
    """The CLI logs an exit-1 error's traceback at debug level: keep it for the failure message."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("Traceback"):
            self.last = text


def _invoke(args: list[str], case: NightCase, what: str) -> int:
    log = logging.getLogger("collections_engine")
    handler, level = _Tracebacks(), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        result = runner.invoke(app, args)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    TALLY[f"{what}_exit_{result.exit_code}"] += 1
    assert result.exit_code in (0, 2), (
        f"{what} exited {result.exit_code} on a valid night ({'; '.join(case.notes)}):\n"
        f"{result.output[-2000:]}\n{handler.last[-4000:]}")
    return result.exit_code


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("FUZZ_NIGHTS", "15")))  # 2 nights and a whatif each
@given(case=night_cases())
def test_strange_nights_exit_0_or_2_and_every_plan_passes_the_check(models: Path, case: NightCase) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ce-fuzz-"))
    try:
        data, runs = tmp / "data", tmp / "runs"
        write_book(case, data)
        strategy = strategy_file(_strategy_doc(case.strategy), tmp / "strategy.yaml")
        whatif = strategy_file(_strategy_doc(case.whatif_strategy), tmp / "whatif.yaml")
        for date in (PREV, NIGHT):
            code = _invoke(["run", "--data", str(data), "--date", date, "--strategy", str(strategy),
                            "--graph", str(GRAPH), "--models", str(models), "--out", str(runs)], case, "run")
            TALLY["nights"] += 1
            if code == 0:
                problems = _check_night(runs / date, strategy, date)
                assert not problems, f"plan of {date} breaks the contract ({'; '.join(case.notes)}): {problems}"
            else:
                assert not (runs / date).exists()  # nothing half-written
        if (runs / NIGHT / "run.json").is_file():
            _invoke(["whatif", "--runs", str(runs), "--date", NIGHT, "--strategy", str(whatif),
                     "--out", str(tmp / "whatif")], case, "whatif")
            TALLY["whatifs"] += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_empty_payments_and_fraud_labels_tables_make_features(tmp_path: Path) -> None:
    """Found by the fuzzer: a payments (or fraud_labels) table with a header and no rows made
    build_features index an empty array (IndexError, exit 1). Now: no payment, no label."""
    from collections_engine.features import build_features
    from collections_engine.io.load import load_book

    tiny = ROOT / "data" / "fixtures" / "tiny"
    data = tmp_path / "tiny"
    shutil.copytree(tiny, data)
    for name in ("payments", "fraud_labels"):
        header = (tiny / f"{name}.csv").read_text().splitlines()[0]
        (data / f"{name}.csv").write_text(header + "\n")
    strategy = load_strategy(ROOT / "strategies" / "default.yaml")
    book, _ = load_book(data, strategy)
    assert len(book.payments) == 0 and len(book.fraud_labels) == 0
    date = book.snapshot_dates()[-1]
    tonight = book.on(date)
    feats = build_features(book, tonight[tonight["dpd"] > 0], strategy)
    assert len(feats) == int((tonight["dpd"] > 0).sum())
    assert feats["last_payment_amount"].isna().all() and (feats["ever_paid"] == 0).all()
    assert (feats["fraud_confirmed"] == 0).all()
