"""The log-odds effects (`effects_model: logodds`) from a book's history, and at night.

As the multiplier estimates, they are fitted by `train` on the same history as the models
(`history_rows`: placement_history with its propensities, outcomes, the accounts' snapshots) and
approved with the model version (`logodds_effects.parquet`); the night does not read the
training tables. `night_effects` gives the placement step its effects and tonight's decision
inputs the `customer_line` the fitted cells need.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign.effects import held_on
from collections_engine.assign.logodds import LogOddsEffects
from collections_engine.config.strategy import Strategy
from collections_engine.segments import customer_line_of, stage_of

__all__ = ["history_rows", "night_effects"]

KEYS = ["account_id", "snapshot_date"]


def history_rows(placement_history: pd.DataFrame | None, outcomes: pd.DataFrame | None,
                 accounts: pd.DataFrame, strategy: Strategy, *, before: pd.Timestamp | None = None,
                 holds: pd.DataFrame | None = None) -> pd.DataFrame:
    """queue, propensity, repaid, stage, collectable, dpd, customer_line of each delinquent
    history row with an outcome (snapshots before `before`); rows held on their date get
    propensity 1 (left out of the fit, as `estimate_effects` leaves them out)."""
    cols = ["queue", "propensity", "repaid", "stage", "collectable", "dpd", "customer_line"]
    if placement_history is None or outcomes is None or not len(placement_history) or not len(outcomes):
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    ph = placement_history[KEYS + ["queue"] + (["propensity"] if "propensity" in placement_history.columns else [])]
    ph = ph.drop_duplicates(KEYS, keep="last")
    o = outcomes[KEYS + ["repaid"]].drop_duplicates(KEYS, keep="last")
    amount = strategy.outcome.amount
    acc = accounts[KEYS + ["dpd", amount, "open_date"]]
    d = ph.merge(o, on=KEYS, how="inner").merge(acc, on=KEYS, how="inner")
    if before is not None:
        d = d[pd.to_datetime(d["snapshot_date"]) < pd.Timestamp(before)]
    d = d[d["dpd"].to_numpy() > 0].reset_index(drop=True)
    prop = pd.to_numeric(d["propensity"], errors="coerce") if "propensity" in d.columns else \
        pd.Series(np.nan, index=d.index)
    prop = np.where(held_on(d[KEYS], holds), 1.0, prop.to_numpy(np.float64))
    return pd.DataFrame({
        "queue": d["queue"].astype("str").to_numpy(dtype=object), "propensity": prop,
        "repaid": pd.to_numeric(d["repaid"], errors="coerce").fillna(0).to_numpy(np.int8),
        "stage": stage_of(d["dpd"], strategy).to_numpy(dtype=object),
        "collectable": d[amount].fillna(0.0).clip(lower=0).to_numpy(np.float64),
        "dpd": d["dpd"].to_numpy(np.int64),
        "customer_line": customer_line_of(d["open_date"], d["snapshot_date"], strategy).to_numpy(dtype=object),
    })


def night_effects(inputs: pd.DataFrame, tonight: pd.DataFrame, strategy: Strategy, date: pd.Timestamp,
                  mode: str, multipliers: dict, table: pd.DataFrame | None
                  ) -> tuple[pd.DataFrame, dict | LogOddsEffects, list[str]]:
    """Tonight's inputs (with `customer_line`), the effects placement decides with and what the
    manager must read: mode `history`, the log-odds effects approved with the model version
    (`table`, `LogOddsEffects.to_frame`; the strategy's ln(effect) for a queue or stage it
    lacks); mode `strategy`, or a version trained without them, the multipliers as constant
    shifts ln(effect) (`build_problem` maps them)."""
    if mode != "history":
        return inputs, multipliers, []
    if table is None:
        return inputs, multipliers, [
            "effects_model: logodds, but the model version holds no log-odds effects (trained under "
            "another effects_model): each queue's effect decides as a constant log-odds shift ln(effect)"]
    line = pd.Series(customer_line_of(tonight["open_date"], date, strategy).to_numpy(dtype=object),
                     index=tonight["account_id"].astype("str").to_numpy())
    line = line[~line.index.duplicated(keep="last")]
    inputs = inputs.assign(customer_line=inputs["account_id"].astype("str").map(line).fillna("existing")
                           .astype("str").to_numpy())
    return inputs, LogOddsEffects.from_frame(table, strategy), []
