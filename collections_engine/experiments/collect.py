"""The I/O of `experiments`: read the finished nights and the outcomes that arrived for them,
and write the summary folder all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from collections_engine.config.experiments import never_explored
from collections_engine.errors import DataError
from collections_engine.experiments.estimate import logged_effects
from collections_engine.experiments.results import arm_results, realised_rows
from collections_engine.io import atomic_dir, read_table, write_csv
from collections_engine.io.load import read_data_tables
from collections_engine.io.runs import night_folders

__all__ = ["collect", "summarise", "write_summary"]


def collect(runs: Path, data: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(realised rows of every night with an outcome, the nights' stages, notes)."""
    runs = Path(runs)
    nights = night_folders(runs)
    problems = []
    if not nights:
        problems.append(f"{runs}: no finished night (RUNS/DATE/run.json); expected the nightly runs' folder")
    # a DATA folder or a database (--data postgresql://), typed and checked by the schema's specs
    # as the book is (a bad date or amount is named, never coerced); placement_history too, so
    # its problems come in the same error
    tables, bad, _ = read_data_tables(data, ("outcomes", "placement_history"))
    if "outcomes" not in tables:
        problems.append(f"{data}/outcomes: not found; expected the outcomes of the nights "
                        "(account_id, snapshot_date, repaid, recovered_amount)")
    problems += bad
    if problems:
        raise DataError(str(data), problems)
    outcomes = tables["outcomes"].copy()
    outcomes["snapshot_date"] = pd.to_datetime(outcomes["snapshot_date"])
    notes, parts, stages = [], [], []
    for night in nights:
        folder = runs / night
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        a = read_table(folder / "assignments.parquet")
        if (folder / "decision_inputs.parquet").is_file():
            # dpd: the customer's most advanced account tonight is the stratum it was randomised
            # in; p_repay and collectable: the outcome model of the doubly robust effects
            di = read_table(folder / "decision_inputs.parquet", columns=["account_id", "dpd", "p_repay",
                                                                          "collectable"]).set_index("account_id")
            di.index = di.index.astype("str")
            ids = a["account_id"].astype("str")
            a = a.assign(**{c: ids.map(di[c]).to_numpy() for c in ("dpd", "p_repay", "collectable")
                            if c not in a.columns})
        if "arm" not in a.columns or "arms" not in run:
            notes.append(f"{night}: run before experiments were logged (no arm); left out")
            continue
        day = pd.Timestamp(night)
        o = outcomes[outcomes["snapshot_date"] == day]
        st = pd.DataFrame({"account_id": a["account_id"].astype("str"), "snapshot_date": day,
                           "stage": a["stage"].astype("str"), "customer_id": a["customer_id"].astype("str")})
        if "p_repay" in a.columns:
            st["score"], st["amount"] = a["p_repay"].to_numpy(float), a["collectable"].to_numpy(float)
        stages.append(st)
        if not len(o):
            notes.append(f"{night}: no outcomes yet")
            continue
        r = realised_rows(a, o, run["arms"])
        r["night"] = night
        parts.append(r)
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["night", "arm", "customer_id", "recovery", "cost", "net", "explorer"])
    st = pd.concat(stages, ignore_index=True) if stages else pd.DataFrame(
        columns=["account_id", "snapshot_date", "stage"])
    return rows, st, notes


def summarise(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results per arm over all nights, net per account by night and arm)."""
    results = arm_results(rows)
    by_night = (rows.groupby(["night", "arm"], observed=True)
                .agg(account_nights=("net", "size"), net_per_account=("net", "mean"),
                     recovery_per_account=("recovery", "mean"), cost_per_account=("cost", "mean"))
                .reset_index()) if len(rows) else pd.DataFrame()
    return results, by_night


def effects_of(data: Path, stages: pd.DataFrame, strategy) -> pd.DataFrame | None:
    """Effects re-estimated from DATA's placement_history where it has propensities, on the
    rows of the nights in RUNS that the engine randomised: inverse-propensity and doubly robust
    (`estimate.logged_effects`), customer-clustered; `strategy_effect` the strategy's figure."""
    tables, problems, _ = read_data_tables(data, ("outcomes", "placement_history"))
    if problems:
        raise DataError(str(data), problems)
    ph, outcomes = tables.get("placement_history"), tables.get("outcomes")
    if ph is None or outcomes is None or "propensity" not in ph.columns:
        return None
    ph, outcomes, stages = ph.copy(), outcomes.copy(), stages.copy()
    for f in (ph, outcomes, stages):
        f["snapshot_date"] = pd.to_datetime(f["snapshot_date"])
        f["account_id"] = f["account_id"].astype("str")
    keys = ["account_id", "snapshot_date"]
    rows = (ph[keys + ["queue", "propensity"]].merge(outcomes[keys + ["repaid"]], on=keys, how="inner")
            .merge(stages.drop_duplicates(keys), on=keys, how="inner"))
    est = logged_effects(rows, excluded=never_explored(strategy))
    strat = {(q.name, s): float(v) for q in strategy.work_queues() for s, v in q.effect.items()}
    est["strategy_effect"] = [strat.get(k, np.nan) for k in zip(est["queue"], est["stage"])]
    return est


def write_summary(out: Path, results: pd.DataFrame, by_night: pd.DataFrame, effects: pd.DataFrame | None,
                  notes: list[str]) -> None:
    with atomic_dir(Path(out), replace=True) as tmp:
        write_csv(results, tmp / "experiments.csv")
        write_csv(by_night, tmp / "experiments_by_night.csv")
        if effects is not None:
            write_csv(effects, tmp / "effects.csv")
        (tmp / "notes.txt").write_text("".join(n + "\n" for n in notes), encoding="utf-8")
