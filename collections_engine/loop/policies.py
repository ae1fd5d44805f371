"""The placement policies a backtest compares, all behind one signature
`(inputs, strategy, date, effects) -> Decision`, the one `pipeline.run_night` calls (RunRequest's
`placement`; None = the engine's `decide`).

Every policy starts from the same pre-assignment (`build_problem`: holds, fraud, kept and
recalled placements, capacities, balance caps, minimum shares) and only the free accounts'
choice differs:
- engine: `assign.decide` (the approved model's p_repay x the approved effects, exact or gapped);
- greedy / greedy_net: the bank-rule peers of `assign.greedy`;
- random: the solver maximises random values, so every queue is filled to capacity with
  accounts chosen at random among the eligible (a random eligible policy that uses the
  capacity the bank pays for);
- oracle: the solver on the world's true expected net per account and queue (truth `p_repay`
  on the night and world v2's response with the account's traits): the best any placement could
  do with these capacities.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from collections_engine.assign.decide import RECALL_COLUMNS, Decision, assemble, queue_summary
from collections_engine.assign.model_data import CENT, Problem, build_problem
from collections_engine.assign.solve import solve
from collections_engine.config.strategy import Strategy
from collections_engine.loop.world import World, uniforms
from collections_engine.synth.world import queue_response

__all__ = ["Placement", "POLICIES", "policy_placement", "decide_problem"]

Placement = Callable[..., Decision]
POLICIES = ("engine", "greedy", "greedy_net", "random", "oracle")


def decide_problem(pb: Problem, inputs: pd.DataFrame, strategy: Strategy, date) -> Decision:
    """`assign.decide`'s second half on a problem whose values a policy has set."""
    sol = solve(pb, time_limit=30.0, method="auto", shadow=False)
    a, pl = assemble(pb, sol.choice, inputs, strategy, date)
    summary = queue_summary(pb, a, strategy, sol)
    solver = {"method": sol.method, "status": sol.status, "objective": sol.objective / CENT,
              "bound": sol.bound / CENT, "gap": sol.gap, "time_s": sol.time_s,
              "free_accounts": int(pb.free.sum()), "notes": list(sol.notes)}
    return Decision(a, pl, pb.recalls[RECALL_COLUMNS].copy(), summary, solver, list(pb.warnings))


def _random(seed: int, draw: int) -> Placement:
    def place(inputs: pd.DataFrame, strategy: Strategy, date, *, effects: dict | None = None
              ) -> Decision:
        pb = build_problem(inputs, strategy, date, effects)
        codes = np.arange(pb.n, dtype=np.int64)
        day = pd.Timestamp(date).to_datetime64()
        r = np.stack([uniforms(seed, draw, codes * 64 + j, day, "rpc")
                      for j in range(len(pb.queues))], axis=1)
        pb.recovery = (1 + np.floor(r * 1_000_000)).astype(np.int64)
        pb.cost = np.zeros_like(pb.cost)
        pb.nw = np.zeros_like(pb.nw)
        return decide_problem(pb, inputs, strategy, date)
    return place


def true_values(world: World, truth_p: pd.Series, tonight: pd.DataFrame, pb: Problem,
                strategy: Strategy, date) -> tuple[np.ndarray, np.ndarray]:
    """(recovery [n, Q], not worked [n]) in cents from the world's truth for a problem's rows."""
    from collections_engine.loop.simulate import _age_months, _stage_names

    ids = pd.Index(pd.Series(pb.account_id, dtype="str"))
    t = tonight.assign(account_id=tonight["account_id"].astype("str")).set_index("account_id")
    t = t.reindex(ids)
    st = world.state.frame
    pos = pd.Index(st["account_id"].astype("str")).get_indexer(ids)
    w = st["w"].to_numpy()[pos]
    ring = st["ring"].to_numpy(bool)[pos]
    reach = ~st["lost"].to_numpy(bool)[pos] | st["repaired"].to_numpy(bool)[pos]
    dpd = t["dpd"].to_numpy(np.int64)
    od = t["overdue_amount"].to_numpy(np.float64)
    new = _age_months(t["open_date"].to_numpy(), pd.Timestamp(date)) <= int(
        world.book["new_customer_max_age_months"])
    stage = _stage_names(world.book, dpd)
    p0 = np.clip(truth_p.reindex(ids).to_numpy(np.float64), 1e-4, 1 - 1e-4)
    logit = np.log(p0 / (1 - p0))
    amount = pb.amount.astype(np.float64)
    # partial payments count: the world pays part of the overdue amount with this probability
    part = 0.35 / (1 + np.exp(-(w + st["a"].to_numpy()[pos] - 0.5)))
    rec = np.zeros((pb.n, len(pb.queues)), dtype=np.int64)
    for j, q in enumerate(pb.queues):
        kind, lift = world.queue_kind_lift(np.full(pb.n, q, dtype=object), stage)
        share = queue_response(kind, lift, od, new, dpd, reach, w, ring).expected_share(logit, part)
        comm = float(getattr(strategy.queue(q), "commission", 0.0) or 0.0)
        rec[:, j] = np.rint(share * amount * (1 - comm)).astype(np.int64)
    none = queue_response(0, 0.0, od, new, dpd, reach, w, ring).expected_share(logit, part)
    return rec, np.rint(none * amount).astype(np.int64)


def _oracle(world_of: Callable[[], tuple[World, pd.Series, pd.DataFrame]]) -> Placement:
    def place(inputs: pd.DataFrame, strategy: Strategy, date, *, effects: dict | None = None
              ) -> Decision:
        world, truth_p, tonight = world_of()
        pb = build_problem(inputs, strategy, date, effects)
        pb.recovery, pb.nw = true_values(world, truth_p, tonight, pb, strategy, date)
        return decide_problem(pb, inputs, strategy, date)
    return place


def policy_placement(policy: str, *, seed: int = 0, draw: int = 0,
                     world_of: Callable[[], tuple[World, pd.Series, pd.DataFrame]] | None = None
                     ) -> Placement | None:
    """The placement callable of a policy (None: the engine's own `decide`)."""
    if policy == "engine":
        return None
    if policy == "greedy":
        from collections_engine.assign.greedy import greedy_plan
        return greedy_plan
    if policy == "greedy_net":
        from collections_engine.assign import greedy as g
        fn = getattr(g, "greedy_net_plan", None)
        if fn is None:
            raise ValueError("greedy_net: assign.greedy has no greedy_net_plan in this checkout")
        return fn
    if policy == "random":
        return _random(seed, draw)
    if policy == "oracle":
        if world_of is None:
            raise ValueError("oracle: needs the world")
        return _oracle(world_of)
    raise ValueError(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")
