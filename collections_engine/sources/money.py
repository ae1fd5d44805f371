"""The money side: plans decided with each variant's scores, valued by one estimator that does
not depend on the variant.

Plans: on each held-out snapshot date, `assign.decide` with the strategy, capacities (and
vendor balance caps) scaled by (accounts delinquent that date) / (accounts delinquent on the
book's latest night), so they bind as they do at night.

Value of account row i under a plan that puts it in queue q (not worked = `not_worked`):
- IPW (placement_history gives the propensity pi_i of the queue h_i it was really in):
    v_i = 1[q == h_i] * (recovered_i * (1 - commission_h) - cost_h) / pi_i
  (Horvitz-Thompson; unbiased for the plan's realised net when every queue a plan may choose
  had a positive chance in history);
- otherwise the full model's expectation, the formula `decide` uses (`assign.expected`):
    v_i = min(1, p_full_i * effect[q, stage_i]) * collectable_i * (1 - commission_q) - cost_q,
  or with the strategy's `effects_model: logodds`
    v_i = sigmoid(logit p_full_i + delta[q, cell_i]) * collectable_i * (1 - commission_q) - cost_q.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign import build_decision_inputs, decide
from collections_engine.assign.effects import effect_table
from collections_engine.assign.expected import expected_net, logodds_net
from collections_engine.assign.logodds import LogOddsEffects
from collections_engine.assign.model_data import logodds_model
from collections_engine.config.strategy import Strategy, VendorQueue
from collections_engine.scoring.data import NO_ACTION

__all__ = ["scaled_strategy", "decide_plans", "plan_values", "queue_terms"]


def scaled_strategy(strategy: Strategy, factor: float) -> Strategy:
    """Capacities (and vendor max_balance) times `factor`; a positive capacity stays >= 1."""
    queues = []
    for q in strategy.queues:
        upd: dict = {}
        if q.capacity > 0:
            upd["capacity"] = max(1, int(round(q.capacity * factor)))
        if isinstance(q, VendorQueue) and q.max_balance:
            upd["max_balance"] = float(q.max_balance) * factor
        queues.append(q.model_copy(update=upd))
    return strategy.model_copy(update={"queues": queues})


def decide_plans(rows: pd.DataFrame, p_no_action: np.ndarray, strategy: Strategy,
                 night_volume: int, holds: pd.DataFrame | None,
                 time_limit: float = 20.0, effects: dict | LogOddsEffects | None = None
                 ) -> tuple[np.ndarray, list[dict]]:
    """Queue per row (`not_worked` when none) deciding each snapshot date on its own.

    effects: (queue, stage) -> multiplier overriding the strategy's, as `decide` takes them
    (the valuation passes the effects estimated on the training window's placement history,
    as the nightly run uses the effects estimated at training), or the fitted log-odds effects
    under `effects_model: logodds` (the rows' customer_line goes with the inputs for them)."""
    out = np.full(len(rows), NO_ACTION, dtype=object)
    info: list[dict] = []
    dates = rows["snapshot_date"].to_numpy()
    for d in np.unique(dates):
        m = np.flatnonzero(dates == d)
        part = rows.iloc[m]
        factor = len(part) / max(night_volume, 1)
        strat = scaled_strategy(strategy, factor)
        scores = pd.DataFrame({"account_id": part["account_id"].astype("str").to_numpy(),
                               "p_repay": p_no_action[m]})
        inputs = build_decision_inputs(part, scores, strat, pd.Timestamp(d), holds=holds)
        if strategy.effects_model == "logodds" and "customer_line" in part.columns:
            line = pd.Series(part["customer_line"].astype("str").to_numpy(),
                             index=part["account_id"].astype("str").to_numpy())
            inputs = inputs.assign(customer_line=inputs["account_id"].astype("str").map(line).to_numpy())
        dec = decide(inputs, strat, pd.Timestamp(d), effects=effects, time_limit=time_limit,
                     shadow=False)
        q = dec.assignments.set_index("account_id")["queue"].astype("str")
        got = part["account_id"].astype("str").map(q).fillna("").to_numpy(dtype=object)
        out[m] = np.where(got == "", NO_ACTION, got)
        info.append({"snapshot_date": pd.Timestamp(d).strftime("%Y-%m-%d"), "accounts": int(len(m)),
                     "capacity_factor": float(factor), "status": dec.solver["status"],
                     "method": dec.solver["method"]})
    return out, info


def queue_terms(strategy: Strategy) -> tuple[dict[str, float], dict[str, float]]:
    """commission and cost_per_account per queue name (0 for not_worked and fraud)."""
    comm = {q.name: float(q.commission) for q in strategy.vendors()}
    cost = {q.name: float(q.cost_per_account) for q in strategy.work_queues()}
    return comm, cost


def _expected(plan: np.ndarray, rows: pd.DataFrame, p_full: np.ndarray, strategy: Strategy,
              effects: dict | LogOddsEffects | None = None) -> np.ndarray:
    """The full model's expected net of each row in queue `plan` (decide's formula)."""
    comm, cost = queue_terms(strategy)
    if strategy.effects_model == "logodds":
        return _expected_logodds(plan, rows, p_full, strategy, effects)
    eff = effect_table(strategy, effects)
    pc = pd.Series(plan).map(comm).fillna(0.0).to_numpy(np.float64)
    pk = pd.Series(plan).map(cost).fillna(0.0).to_numpy(np.float64)
    stage = rows["stage"].astype("str").to_numpy(dtype=object)
    e = np.ones(len(plan))
    for (q, s), v in eff.items():        # a few (queue, stage) pairs, not a per-account loop
        e[(plan == q) & (stage == s)] = v
    coll = rows["collectable"].to_numpy(np.float64)
    return expected_net(p_full, e, coll, pc, np.where(plan == NO_ACTION, 0.0, pk))


def _expected_logodds(plan: np.ndarray, rows: pd.DataFrame, p_full: np.ndarray, strategy: Strategy,
                      effects: dict | LogOddsEffects | None) -> np.ndarray:
    """`_expected` under the log-odds effects: each row's shift in its plan's queue."""
    comm, cost = queue_terms(strategy)
    model = logodds_model(strategy, effects)
    codes = model.codes(rows)
    delta = np.zeros(len(plan))
    for q in model.shifts:               # a few queues, not a per-account loop
        m = plan == q
        delta[m] = model.delta(q, codes=codes[m])
    pc = pd.Series(plan).map(comm).fillna(0.0).to_numpy(np.float64)
    pk = pd.Series(plan).map(cost).fillna(0.0).to_numpy(np.float64)
    coll = rows["collectable"].to_numpy(np.float64)
    return logodds_net(p_full, delta, coll, pc, np.where(plan == NO_ACTION, 0.0, pk))


def plan_values(rows: pd.DataFrame, plan: np.ndarray, p_full: np.ndarray, strategy: Strategy,
                ipw_rows: np.ndarray, mode: str = "ipw", effects: dict | LogOddsEffects | None = None
                ) -> np.ndarray:
    """Value of each row under `plan`: IPW where `ipw_rows`, the full model's expectation else.

    rows: stage, collectable, and for IPW rows queue (history), propensity, recovered_amount.
    mode "dr" (doubly robust) adds the full model's expectation as a control variate on the
    IPW rows: model(q) + 1[q == h] * (realised - model(h)) / pi.
    effects: the (queue, stage) multipliers of the model's expectation (default the strategy's).
    """
    comm, cost = queue_terms(strategy)
    plan = np.asarray(plan, dtype=object)
    model = _expected(plan, rows, p_full, strategy, effects)
    if not ipw_rows.any():
        return model
    hist = rows["queue"].astype("str").to_numpy(dtype=object)
    hc = pd.Series(hist).map(comm).fillna(0.0).to_numpy(np.float64)
    hk = pd.Series(hist).map(cost).fillna(0.0).to_numpy(np.float64)
    net = rows["recovered_amount"].to_numpy(np.float64) * (1 - hc) - np.where(hist == NO_ACTION, 0.0, hk)
    prop = rows["propensity"].to_numpy(np.float64)
    if mode == "dr":
        net = net - _expected(hist, rows, p_full, strategy, effects)
    with np.errstate(divide="ignore", invalid="ignore"):
        ipw = np.where(plan == hist, net / prop, 0.0)
    if mode == "dr":
        ipw = ipw + model
    return np.where(ipw_rows, ipw, model)
