"""Queue effects estimated from randomised placement history, compared with the strategy's.

For each stage s and queue q (including `not_worked`, the control), the inverse-propensity
weighted (Hajek) repayment rate
    r[q, s] = sum(w * repaid) / sum(w),   w = 1 / propensity (1 where not recorded)
and the effect e[q, s] = r[q, s] / r[not_worked, s], with a 95% interval from the delta
method on log e:  var(log e) = V_q / r_q^2 + V_0 / r_0^2,  V = sum(w^2 (y - r)^2) / sum(w)^2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.segments import stage_of

__all__ = ["estimate_effects", "effects_dict", "effects_table", "effects_from_table", "EFFECT_COLUMNS"]

EFFECT_COLUMNS = ["queue", "stage", "n", "n_control", "repay_rate", "control_rate", "effect",
                  "ci_low", "ci_high", "strategy_effect", "agrees"]
CONTROL = "not_worked"


def estimate_effects(placement_history: pd.DataFrame, outcomes: pd.DataFrame, stages: pd.DataFrame,
                     strategy: Strategy) -> pd.DataFrame:
    """Per queue x stage effect estimates.

    stages: account_id, snapshot_date and either `stage` or `dpd` (e.g. the accounts table):
    the stage of each history row on its snapshot date.
    """
    keys = ["account_id", "snapshot_date"]
    h = placement_history.copy()
    if "propensity" not in h.columns:
        h["propensity"] = np.nan
    st = stages[keys + [c for c in ("stage", "dpd") if c in stages.columns]].drop_duplicates(keys)
    if "stage" not in st.columns:
        st = st.assign(stage=stage_of(st["dpd"], strategy).to_numpy())
    d = h.merge(outcomes[keys + ["repaid"]], on=keys, how="inner").merge(st[keys + ["stage"]], on=keys, how="inner")
    d = d[d["stage"].astype(str) != ""]
    prop = d["propensity"].astype(float)
    d["w"] = np.where(prop.notna() & (prop > 0), 1.0 / prop.where(prop > 0, 1.0), 1.0)
    d["y"] = d["repaid"].astype(float)
    d["wy"] = d["w"] * d["y"]
    g = d.groupby(["queue", "stage"], observed=True)
    agg = g.agg(n=("y", "size"), sw=("w", "sum"), swy=("wy", "sum")).reset_index()
    agg["rate"] = agg["swy"] / agg["sw"]
    d = d.merge(agg[["queue", "stage", "rate", "sw"]], on=["queue", "stage"])
    d["v"] = (d["w"] * (d["y"] - d["rate"])) ** 2 / d["sw"] ** 2
    agg = agg.merge(d.groupby(["queue", "stage"], observed=True)["v"].sum().rename("var").reset_index(),
                    on=["queue", "stage"])
    ctl = agg[agg["queue"] == CONTROL].set_index("stage")
    eff = agg[agg["queue"] != CONTROL].copy()
    eff["n_control"] = eff["stage"].map(ctl["n"]).fillna(0).astype(np.int64)
    eff["control_rate"] = eff["stage"].map(ctl["rate"])
    cvar = eff["stage"].map(ctl["var"])
    eff["repay_rate"] = eff["rate"]
    with np.errstate(divide="ignore", invalid="ignore"):
        eff["effect"] = eff["rate"] / eff["control_rate"]
        se = np.sqrt(eff["var"] / eff["rate"] ** 2 + cvar / eff["control_rate"] ** 2)
    eff["ci_low"] = eff["effect"] * np.exp(-1.96 * se)
    eff["ci_high"] = eff["effect"] * np.exp(1.96 * se)
    strat = {(q.name, s): float(q.effect[s]) for q in strategy.work_queues() for s in q.effect}
    eff["strategy_effect"] = [strat.get((q, s), np.nan) for q, s in zip(eff["queue"], eff["stage"])]
    eff["agrees"] = (eff["strategy_effect"] >= eff["ci_low"]) & (eff["strategy_effect"] <= eff["ci_high"])
    eff["n"] = eff["n"].astype(np.int64)
    return eff.sort_values(["queue", "stage"], kind="mergesort")[EFFECT_COLUMNS].reset_index(drop=True)


def effects_dict(estimates: pd.DataFrame, *, min_n: int = 200) -> dict[tuple[str, str], float]:
    """Estimated effects usable by `decide(effects=...)`: rows with at least `min_n` accounts in
    the queue and in the control and a finite positive estimate; the rest keep the strategy's."""
    ok = (estimates["n"] >= min_n) & (estimates["n_control"] >= min_n) & np.isfinite(estimates["effect"]) \
        & (estimates["effect"] > 0)
    e = estimates[ok]
    return {(q, s): float(v) for q, s, v in zip(e["queue"], e["stage"], e["effect"])}


def effects_table(estimates: pd.DataFrame | None, strategy: Strategy, *, min_n: int = 200
                  ) -> tuple[pd.DataFrame, dict[tuple[str, str], float]]:
    """The effects placement multiplies p_repay by, one row per (queue, stage) of `strategy`:
    the history estimate where `effects_dict` accepts it, the strategy's effect elsewhere;
    `source` says which. Returns (table, the estimated effects to pass to `decide`)."""
    rows = [{"queue": q.name, "stage": s, "strategy_effect": float(v)}
            for q in strategy.work_queues() for s, v in q.effect.items()]
    table = pd.DataFrame(rows)
    chosen = effects_dict(estimates, min_n=min_n) if estimates is not None and len(estimates) else {}
    chosen = {k: v for k, v in chosen.items() if ((table["queue"] == k[0]) & (table["stage"] == k[1])).any()}
    if estimates is not None and len(estimates):
        table = table.merge(estimates.drop(columns=["strategy_effect", "agrees"], errors="ignore"),
                            on=["queue", "stage"], how="left")
        table["agrees"] = (table["strategy_effect"] >= table["ci_low"]) & (table["strategy_effect"] <= table["ci_high"])
    used = pd.Series([chosen.get(k) for k in zip(table["queue"], table["stage"])], dtype="float64")
    table["used"] = used.fillna(table["strategy_effect"]).to_numpy()
    table["source"] = np.where(used.notna(), "history", "strategy")
    return table, chosen


def effects_from_table(table: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The estimated effects a night used (rows with source 'history'), for `decide`."""
    e = table[table["source"] == "history"]
    return {(q, s): float(v) for q, s, v in zip(e["queue"], e["stage"], e["used"])}
