"""What-if: re-decide a finished night under a changed strategy, never touching RUNS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from collections_engine.assign.effects import effects_from_table
from collections_engine.config import load_strategy
from collections_engine.dates import parse_day
from collections_engine.errors import InputError
from collections_engine.experiments.whatif import by_arm, whatif_decision
from collections_engine.io import atomic_dir, read_table, write_parquet
from collections_engine.report.whatif import compare_plans, whatif_report

__all__ = ["run_whatif"]


def run_whatif(runs: Path, date: str, strategy_path: Path, out: Path) -> dict[str, Any]:
    strategy = load_strategy(strategy_path)
    parse_day(date)  # strict YYYY-MM-DD: the folder name of the night
    folder = Path(runs) / date
    needed = ["decision_inputs.parquet", "assignments.parquet", "queue_summary.parquet"]
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise InputError(str(folder), [f"{n}: not found; expected a finished night's run folder" for n in missing])
    inputs = read_table(folder / "decision_inputs.parquet")
    before = read_table(folder / "assignments.parquet")
    qs_before = read_table(folder / "queue_summary.parquet")
    effects = None
    if (folder / "effects.parquet").is_file():  # the estimated effects the night used
        effects = effects_from_table(read_table(folder / "effects.parquet"))
    # a night under a champion/challenger test is re-decided arm by arm, or the warning says the
    # changed strategy applies to every account as the champion (experiments/whatif.py)
    decision, arms_mode, arm_notes = whatif_decision(inputs, strategy, strategy_path, pd.Timestamp(date), effects,
                                                     before, Path(runs), folder)
    decision.warnings = arm_notes + list(decision.warnings)
    diff = compare_plans(before, decision.assignments, qs_before, decision.queue_summary)
    totals = {
        "net_ran": float(before["expected_net"].sum()),
        "net_whatif": float(decision.assignments["expected_net"].sum()),
        "moved": int(len(diff["moved_accounts"])),
    }
    html = whatif_report(date, strategy.name, diff, totals, strategy.currency, list(decision.warnings))
    payload = {
        "date": date, "strategy": strategy.name, "totals": totals,
        "by_queue": diff["by_queue"].to_dict(orient="records"),
        "moves": diff["moves"].to_dict(orient="records"),
        "capacity": diff["capacity"].to_dict(orient="records"),
        "solver": decision.solver, "warnings": list(decision.warnings),
        "arms": {"mode": arms_mode, "by_arm": by_arm(before, decision.assignments).to_dict(orient="records")},
    }
    with atomic_dir(Path(out), replace=True) as tmp:
        (tmp / "whatif.html").write_text(html, encoding="utf-8")
        (tmp / "whatif.json").write_text(json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")
        write_parquet(diff["moved_accounts"], tmp / "moved_accounts.parquet")
        write_parquet(decision.assignments, tmp / "assignments_whatif.parquet")
    return totals
