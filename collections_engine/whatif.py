"""What-if: re-decide a finished night under a changed strategy, never touching RUNS.

The night's own queue effects come back from its `effects.parquet`: the history estimates it had
(re-resolved under the changed strategy, so a new queue is 'untested' and an edited `effect`
that history overrides is named as unused) and the YAML figures it ran with, which, with
`queue_summary.parquet` and `run.json`, tell which edited values had no effect tonight.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from collections_engine.assign.effects import EFFECT_MODES, Effects
from collections_engine.config import load_strategy
from collections_engine.config.strategy import Strategy, VendorQueue
from collections_engine.dates import parse_day
from collections_engine.errors import InputError
from collections_engine.experiments.whatif import by_arm, whatif_decision
from collections_engine.io.runfolder import write_whatif_folder
from collections_engine.io.runs import read_finished_night
from collections_engine.report.whatif import compare_plans, whatif_report

__all__ = ["run_whatif", "unused_edits"]


def run_whatif(runs: Path, date: str, strategy_path: Path, out: Path, effects: str = "history") -> dict[str, Any]:
    """Re-decide the night; returns the totals with `unused_edits` and `untested` (lists of lines)."""
    if effects not in EFFECT_MODES:
        raise InputError("--effects", [f"found {effects!r}; expected one of {', '.join(EFFECT_MODES)}"])
    strategy = load_strategy(strategy_path)
    parse_day(date)  # strict YYYY-MM-DD: the folder name of the night
    night = read_finished_night(runs, date)
    night_mode = (night.run.get("effects") or {}).get("mode", "history")
    night_eff = Effects.from_table(night.effects, mode=night_mode) if night.effects is not None else None
    eff = Effects.resolve(strategy, night_eff.estimates() if night_eff is not None else None, mode=effects)
    # a night under a champion/challenger test is re-decided arm by arm, or the warning says the
    # changed strategy applies to every account as the champion (experiments/whatif.py)
    decision, arms_mode, arm_notes = whatif_decision(night, strategy, strategy_path, pd.Timestamp(date), eff.values)
    decision.warnings = arm_notes + list(decision.warnings)
    before = night.assignments
    diff = compare_plans(before, decision.assignments, night.queue_summary, decision.queue_summary)
    moved = diff["moved_accounts"].merge(night.inputs[["account_id", "stage"]], on="account_id", how="left")
    unused = unused_edits(strategy, eff, night_eff, night.queue_summary, night.run, moved)
    warnings = list(eff.warnings)
    if night_eff is not None and night_mode != effects:
        warnings.append(f"the night ran with --effects {night_mode}; this what-if uses --effects {effects}: "
                        "the difference includes that change, not only the edits")
    warnings += list(decision.warnings)
    totals = {
        "net_ran": float(before["expected_net"].sum()),
        "net_whatif": float(decision.assignments["expected_net"].sum()),
        "moved": int(len(diff["moved_accounts"])),
    }
    untested = eff.untested()
    html = whatif_report(date, strategy.name, diff, totals, strategy.currency, warnings,
                         effects=eff.table, unused_edits=unused)
    payload = {
        "date": date, "strategy": strategy.name, "totals": totals,
        "by_queue": diff["by_queue"].to_dict(orient="records"),
        "moves": diff["moves"].to_dict(orient="records"),
        "capacity": diff["capacity"].to_dict(orient="records"),
        "effects": {**eff.record(), "table": eff.table.to_dict(orient="records")},
        "unused_edits": unused, "untested": untested,
        "solver": decision.solver, "warnings": warnings,
        "arms": {"mode": arms_mode, "by_arm": by_arm(before, decision.assignments).to_dict(orient="records")},
    }
    write_whatif_folder(out, html=html, payload=payload, moved=diff["moved_accounts"],
                        assignments=decision.assignments)
    return {**totals, "unused_edits": unused, "untested": untested, "effects": eff.mode}


def unused_edits(strategy: Strategy, effects: Effects, night_effects: Effects | None, qs_before: pd.DataFrame,
                 night: dict, moved: pd.DataFrame) -> list[str]:
    """Each value of `strategy` that differs from what the night ran with and did not change
    tonight's decisions, with why: an `effect` the history estimate overrides is not used at all;
    any other edit of a queue no account moved in or out of changed nothing tonight.

    The night's values come from its run folder: `effect` from effects.parquet, `capacity` and
    `max_balance` from queue_summary.parquet, `cost_per_account` and `commission` from run.json's
    arms, `min_share` from run.json's solver record. moved: account_id, queue_ran, queue_whatif,
    stage (the accounts whose queue differs)."""
    def touched(queue: str, stage: str | None = None) -> bool:
        m = (moved["queue_ran"] == queue) | (moved["queue_whatif"] == queue)
        if stage is not None:
            m &= moved["stage"] == stage
        return bool(m.any())

    lines: list[str] = []
    if night_effects is not None:
        old = {(q, s): float(v) for q, s, v in
               zip(night_effects.table["queue"], night_effects.table["stage"], night_effects.table["strategy_effect"])}
        for row in effects.table.itertuples(index=False):
            was = old.get((row.queue, row.stage))
            if was is None or math.isclose(was, row.strategy_effect):
                continue
            edit = f"queues.{row.queue}.effect.{row.stage} edited {was:g}->{row.strategy_effect:g}"
            if row.source == "history":
                lines.append(f"{edit}: not used, effects come from history ({int(row.n):,d} placements; "
                             "--effects strategy decides with the YAML's)")
            elif not touched(row.queue, row.stage):
                lines.append(f"{edit}: used, but no {row.stage} account moved in or out of {row.queue} tonight")
    qs = qs_before.set_index("queue")
    terms = (((night.get("arms") or {}).get("arms") or {}).get("champion") or {}).get("queues", {})
    shares = {r["vendor"]: float(r["asked"]) for r in (night.get("solver") or {}).get("min_shares", [])}
    for q in strategy.work_queues() + [q for q in strategy.queues if q.kind == "fraud"]:
        if q.name not in qs.index:
            continue   # a queue the night did not have: its effects are 'untested'
        was: dict[str, float | None] = {"capacity": float(qs.at[q.name, "capacity"])}
        mb = qs.at[q.name, "max_balance"] if "max_balance" in qs.columns else float("nan")
        if isinstance(q, VendorQueue):
            was["max_balance"] = None if pd.isna(mb) else float(mb)
            was["min_share"] = shares.get(q.name, 0.0)
        if q.name in terms:
            was["cost_per_account"] = float(terms[q.name]["cost_per_account"])
            if isinstance(q, VendorQueue):
                was["commission"] = float(terms[q.name]["commission"])
        for key, old_v in was.items():
            new_v = getattr(q, key, None)
            new_v = None if new_v is None else float(new_v)
            if old_v == new_v or (old_v is not None and new_v is not None and math.isclose(old_v, new_v)):
                continue
            if touched(q.name):
                continue
            why = f"no account moved in or out of {q.name} tonight"
            held = int(qs.at[q.name, "accounts"])
            if key == "capacity" and old_v is not None and new_v is not None and held < min(old_v, new_v):
                why += f" (the capacity does not bind: {held:,d} held)"
            lines.append(f"queues.{q.name}.{key} edited {_fmt(old_v)}->{_fmt(new_v)}: {why}")
    return lines


def _fmt(v: float | None) -> str:
    if v is None:
        return "none"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"
