"""Queue effects: estimated from randomised placement history, and the ones a night decides with.

For each stage s and queue q (including `not_worked`, the control), the inverse-propensity
weighted (Hajek) repayment rate over the history rows that a randomised (or logged-propensity)
experiment placed:
    r[q, s] = sum(w * repaid) / sum(w),   w = 1 / propensity
and the effect e[q, s] = r[q, s] / r[not_worked, s], with a 95% interval from the delta
method on log e:  var(log e) = V_q / r_q^2 + V_0 / r_0^2,  V = sum(w^2 (y - r)^2) / sum(w)^2.

Rows that no experiment chose are left out, and counted:
- no propensity: nothing says the queue was drawn, so worked and not-worked accounts differ in
  who was chosen, not only in what was done to them (a plain ratio would credit the queue with
  the selection); `n_no_propensity`;
- held (propensity 1, or a hold open on the row's date in `holds`): the account could not be
  worked, so it is no part of the not-worked control (holds repay differently) nor of a queue's
  evidence (a legal hold sent to the legal queue was not drawn); `n_held`, `n_control_held`.
(`n_no_propensity`/`n_held` count a queue's rows, `n_control_*` the stage's not-worked rows.)

`Effects` is what a night decides with: one row per (queue, stage) the strategy's queues take,
each saying where its figure comes from (`source`: history, strategy or untested); its `values`
(or `effects_dict` of estimates) go to `decide(effects=...)`, and `effect_table` gives the
multiplier of every cell placement and the valuation of sources price with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy
from collections_engine.segments import stage_of
from collections_engine.vocabulary import NOT_WORKED

__all__ = ["estimate_effects", "effects_dict", "effect_table", "Effects", "EFFECT_COLUMNS", "EFFECT_MODES",
           "MIN_N", "held_on"]

EFFECT_COLUMNS = ["queue", "stage", "n", "n_control", "repay_rate", "control_rate", "effect",
                  "ci_low", "ci_high", "strategy_effect", "agrees", "n_no_propensity", "n_held",
                  "n_control_no_propensity", "n_control_held"]
CONTROL = NOT_WORKED  # the control of every effect
EFFECT_MODES = ("history", "strategy")
MIN_N = 200   # accounts in the queue and in the control before an estimate replaces the strategy's


def held_on(keys: pd.DataFrame, holds: pd.DataFrame | None) -> np.ndarray:
    """Rows (account_id, snapshot_date) with a hold open on that date (start <= date, end empty
    or after it: the rule `build_decision_inputs` applies at night)."""
    if holds is None or not len(holds):
        return np.zeros(len(keys), dtype=bool)
    h = holds[["account_id", "start"] + (["end"] if "end" in holds.columns else [])].copy()
    h["account_id"] = h["account_id"].astype("str")
    if "end" not in h.columns:
        h["end"] = pd.NaT
    k = keys.assign(_row=np.arange(len(keys)), account_id=keys["account_id"].astype("str"))
    m = k.merge(h, on="account_id", how="inner")
    date = pd.to_datetime(m["snapshot_date"])
    start, end = pd.to_datetime(m["start"]), pd.to_datetime(m["end"])
    hit = m.loc[((start <= date) & (end.isna() | (end > date))).to_numpy(), "_row"].to_numpy()
    out = np.zeros(len(keys), dtype=bool)
    out[hit] = True
    return out


def estimate_effects(placement_history: pd.DataFrame, outcomes: pd.DataFrame, stages: pd.DataFrame,
                     strategy: Strategy, *, holds: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per queue x stage effect estimates from the randomised rows of the history.

    stages: account_id, snapshot_date and either `stage` or `dpd` (e.g. the accounts table):
    the stage of each history row on its snapshot date. holds: the `holds` table (optional):
    rows held on their date are left out as propensity-1 rows are. Every (queue, stage) with a
    history row gets a row here, with n = 0 and no estimate where no randomised row supports it.
    """
    keys = ["account_id", "snapshot_date"]
    h = placement_history.copy()
    if "propensity" not in h.columns:
        h["propensity"] = np.nan
    st = stages[keys + [c for c in ("stage", "dpd") if c in stages.columns]].drop_duplicates(keys)
    if "stage" not in st.columns:
        st = st.assign(stage=stage_of(st["dpd"], strategy).to_numpy())
    d = h.merge(outcomes[keys + ["repaid"]], on=keys, how="inner").merge(st[keys + ["stage"]], on=keys, how="inner")
    d = d[d["stage"].astype(str) != ""].reset_index(drop=True)
    d["queue"] = d["queue"].astype("str")
    d["stage"] = d["stage"].astype("str")
    prop = pd.to_numeric(d["propensity"], errors="coerce").astype(float)
    held = (prop >= 1).to_numpy() | held_on(d[keys], holds)
    no_p = prop.isna().to_numpy() & ~held
    use = ~held & ~no_p & (prop > 0).to_numpy()
    d["held"], d["no_p"] = held.astype(np.int64), no_p.astype(np.int64)
    cells = d.groupby(["queue", "stage"], observed=True).agg(
        n_no_propensity=("no_p", "sum"), n_held=("held", "sum")).reset_index()
    r = d[use].copy()
    r["w"] = 1.0 / prop[use].to_numpy()
    r["y"] = r["repaid"].astype(float)
    r["wy"] = r["w"] * r["y"]
    g = r.groupby(["queue", "stage"], observed=True)
    agg = g.agg(n=("y", "size"), sw=("w", "sum"), swy=("wy", "sum")).reset_index()
    agg["rate"] = agg["swy"] / agg["sw"]
    r = r.merge(agg[["queue", "stage", "rate", "sw"]], on=["queue", "stage"])
    r["v"] = (r["w"] * (r["y"] - r["rate"])) ** 2 / r["sw"] ** 2
    agg = agg.merge(r.groupby(["queue", "stage"], observed=True)["v"].sum().rename("var").reset_index(),
                    on=["queue", "stage"])
    agg = cells.merge(agg, on=["queue", "stage"], how="left")
    agg["n"] = agg["n"].fillna(0).astype(np.int64)
    ctl = agg[agg["queue"] == CONTROL].set_index("stage")
    eff = agg[agg["queue"] != CONTROL].copy()
    eff["n_control"] = eff["stage"].map(ctl["n"]).fillna(0).astype(np.int64)
    eff["n_control_held"] = eff["stage"].map(ctl["n_held"]).fillna(0).astype(np.int64)
    eff["n_control_no_propensity"] = eff["stage"].map(ctl["n_no_propensity"]).fillna(0).astype(np.int64)
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
    for c in ("n_no_propensity", "n_held"):
        eff[c] = eff[c].astype(np.int64)
    return eff.sort_values(["queue", "stage"], kind="mergesort")[EFFECT_COLUMNS].reset_index(drop=True)


def effects_dict(estimates: pd.DataFrame, *, min_n: int = MIN_N) -> dict[tuple[str, str], float]:
    """Estimated effects usable by `decide(effects=...)`: rows with at least `min_n` accounts in
    the queue and in the control and a finite positive estimate; the rest keep the strategy's."""
    ok = (estimates["n"] >= min_n) & (estimates["n_control"] >= min_n) & np.isfinite(estimates["effect"]) \
        & (estimates["effect"] > 0)
    e = estimates[ok]
    return {(q, s): float(v) for q, s, v in zip(e["queue"], e["stage"], e["effect"])}


def effect_table(strategy: Strategy, effects: dict | None = None) -> dict[tuple[str, str], float]:
    """(queue, stage) -> effect: the strategy's, overridden by `effects` where given.

    `effects` maps (queue, stage) -> multiplier, or queue -> {stage: multiplier}.
    """
    out: dict[tuple[str, str], float] = {}
    for q in strategy.work_queues():
        for s in q.stages:
            out[(q.name, s)] = float(q.effect.get(s, 1.0))
    for k, v in (effects or {}).items():
        if isinstance(v, dict):
            for s, e in v.items():
                out[(str(k), str(s))] = float(e)
        else:
            out[(str(k[0]), str(k[1]))] = float(v)
    return out


_ESTIMATE_COLUMNS = [c for c in EFFECT_COLUMNS if c not in ("strategy_effect", "agrees")]
_COUNTS = ["n", "n_control", "n_no_propensity", "n_held", "n_control_no_propensity", "n_control_held"]


@dataclass(frozen=True)
class Effects:
    """The queue effects a night decides with, each saying where it comes from.

    table: one row per (queue, stage) the strategy's work queues take: `strategy_effect` (the
      YAML's), the history estimate's columns (`n`, `n_control`, `effect`, `ci_low`, `ci_high`,
      `agrees`, `n_no_propensity`, `n_held`, `n_control_held`; empty without history), `used`
      (the figure placement multiplies by) and `source`:
        history   the estimate (mode history, a randomised history with at least MIN_N accounts
                  in the queue and in the not-worked control of the stage);
        strategy  the YAML's figure, with history for the cell that was not used (mode strategy,
                  too few randomised rows, or a history without propensity);
        untested  the YAML's figure and no history row at all for the cell (e.g. a new vendor).
    mode: `history` or `strategy` (`--effects`); warnings: what the manager must read first.
    """

    table: pd.DataFrame
    mode: str = "history"
    warnings: tuple[str, ...] = field(default=())

    @classmethod
    def resolve(cls, strategy: Strategy, estimates: pd.DataFrame | None = None, *, mode: str = "history",
                min_n: int = MIN_N) -> Effects:
        """The effects of `strategy`'s queues, from `estimates` (`estimate_effects`, or the estimate
        columns of an earlier night's table) where `mode` is history and they hold enough
        randomised rows; the strategy's elsewhere. A history without propensity is not an
        experiment: every effect is then the strategy's, with a warning."""
        if mode not in EFFECT_MODES:
            raise ValueError(f"effects mode {mode!r}; expected one of {EFFECT_MODES}")
        table = pd.DataFrame([{"queue": q.name, "stage": s, "strategy_effect": float(v)}
                              for q in strategy.work_queues() for s, v in q.effect.items()],
                             columns=["queue", "stage", "strategy_effect"])
        est = _estimates_of(estimates)
        table = table.merge(est, on=["queue", "stage"], how="left")
        for c in _COUNTS:
            table[c] = table[c].fillna(0).astype(np.int64)
        table["agrees"] = (table["strategy_effect"] >= table["ci_low"]) & (table["strategy_effect"] <= table["ci_high"])
        warnings: list[str] = []
        chosen: dict[tuple[str, str], float] = {}
        if mode == "history" and len(est):
            chosen = effects_dict(table, min_n=min_n)
            warnings += _history_warnings(est)
        used = pd.Series([chosen.get(k) for k in zip(table["queue"], table["stage"])], dtype="float64")
        table["used"] = used.fillna(table["strategy_effect"]).to_numpy()
        rows = table["n"] + table["n_no_propensity"] + table["n_held"]
        table["source"] = np.where(used.notna(), "history", np.where(rows > 0, "strategy", "untested"))
        if mode == "history" and len(est):
            warnings += _untested_warnings(table)
        return cls(table=table, mode=mode, warnings=tuple(warnings))

    @classmethod
    def from_table(cls, table: pd.DataFrame, *, mode: str = "history") -> Effects:
        """A night's effects as written (`effects.parquet`)."""
        return cls(table=table.reset_index(drop=True), mode=mode)

    @property
    def values(self) -> dict[tuple[str, str], float]:
        """The estimated effects to pass to `decide(effects=...)` (rows with source history)."""
        e = self.table[self.table["source"] == "history"]
        return {(q, s): float(v) for q, s, v in zip(e["queue"], e["stage"], e["used"])}

    def estimates(self) -> pd.DataFrame:
        """The history estimate columns of the cells with history, for re-resolving under
        another strategy (`whatif`)."""
        e = _estimates_of(self.table)
        return e[(e["n"].fillna(0) + e["n_no_propensity"] + e["n_held"]) > 0].reset_index(drop=True)

    def source_of(self, queue: str, stage: str) -> tuple[str, int]:
        """(source, randomised history rows) of one cell; ('absent', 0) when the queue does not
        take the stage."""
        m = (self.table["queue"] == queue) & (self.table["stage"] == stage)
        if not m.any():
            return "absent", 0
        row = self.table[m].iloc[0]
        return str(row["source"]), int(row["n"]) if "n" in row and pd.notna(row["n"]) else 0

    def untested(self) -> list[str]:
        """'queue stage' of every cell with no history, in table order."""
        u = self.table[self.table["source"] == "untested"]
        return [f"{q} {s}" for q, s in zip(u["queue"], u["stage"])]

    def record(self) -> dict:
        """For run.json: the mode and, per source, the cells."""
        by = {s: [f"{q} {st}" for q, st in zip(g["queue"], g["stage"])]
              for s, g in self.table.groupby("source", sort=True)}
        return {"mode": self.mode, "cells": {s: by.get(s, []) for s in ("history", "strategy", "untested")},
                "control_held_excluded": int(self.table.drop_duplicates("stage")["n_control_held"].sum())
                if "n_control_held" in self.table else 0}


def _estimates_of(estimates: pd.DataFrame | None) -> pd.DataFrame:
    """The estimate columns; counts an older model version or run folder lacks are 0."""
    if estimates is None or not len(estimates) or "n" not in estimates.columns:
        return pd.DataFrame({c: pd.Series(dtype="str" if c in ("queue", "stage") else "float64")
                             for c in _ESTIMATE_COLUMNS})
    e = estimates.reindex(columns=_ESTIMATE_COLUMNS)
    for c in _COUNTS:
        e[c] = e[c].fillna(0).astype(np.int64)
    return e


def _history_warnings(est: pd.DataFrame) -> list[str]:
    ctl = est.drop_duplicates("stage")   # the control's counts repeat on each queue of a stage
    rand = int(est["n"].sum() + ctl["n_control"].sum())
    no_p = int(est["n_no_propensity"].sum() + ctl["n_control_no_propensity"].sum())
    held = int(est["n_held"].sum() + ctl["n_control_held"].sum())
    if rand == 0 and no_p > 0:
        return [f"placement_history has no propensity ({no_p:,d} placements): it is not a randomised "
                "experiment, so every queue effect is the strategy's (a ratio of worked to not-worked "
                "repayment would credit the queue with who was chosen for it)"]
    if no_p > 0:
        return [f"{no_p:,d} of {no_p + rand + held:,d} placements in placement_history "
                "have no propensity: left out of the effect estimates (not part of the experiment)"]
    return []


def _untested_warnings(table: pd.DataFrame) -> list[str]:
    """One line per queue with a stage no history row covers, where other queues have history."""
    u = table[table["source"] == "untested"]
    return [f"queue {q} has no placement history for {', '.join(g['stage'])}: its strategy effect"
            f"{'s' if len(g) > 1 else ''} ({', '.join(f'{s} {v:g}' for s, v in zip(g['stage'], g['used']))}) "
            "decide, untested"
            for q, g in u.groupby("queue", sort=False)]
