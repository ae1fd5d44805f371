"""one_collector_per_customer: every worked account of a customer in one queue (channels aside)."""

from __future__ import annotations

import pandas as pd
import pytest

from collections_engine.assign import check_plan, decide
from collections_engine.assign.model_data import build_problem
from tests import plan_check_reference as reference
from tests.placement_nights import DATE, binding_inputs, binding_strategy


def _splits(a: pd.DataFrame, strategy) -> int:
    kinds = {q.name: q.kind for q in strategy.queues}
    w = a[a["decision"].isin(["kept", "placed", "assigned"]) & a["queue"].map(kinds).isin(["inhouse", "vendor", "legal"])]
    n = w.groupby("customer_id")["queue"].nunique()
    return int((n > 1).sum())


@pytest.mark.slow
def test_one_collector_per_customer_off_splits_and_on_does_not():
    for n, open_frac in ((600, 0.0), (3000, 0.06)):  # the small exact path and the large one
        inp = binding_inputs(n, 21, open_frac=open_frac, accounts_per_customer=2.5)
        off = binding_strategy(n, shares=(0.2, 0.1, 0.1))
        on = binding_strategy(n, shares=(0.2, 0.1, 0.1), one_collector=True)
        d_off = decide(inp, off, DATE, shadow=False)
        assert _splits(d_off.assignments, off) > 0          # the rule matters on this book
        # the check knows the rule: the unconstrained plan fails it under the strategy with the key
        kw = {"placements": d_off.placements, "min_share_applied": d_off.min_share_applied}
        broken = check_plan(inp, d_off.assignments, on, DATE, **kw)
        assert any(v.startswith("one_collector_per_customer") for v in broken)
        # the same count as the first (pandas) version of the check
        assert broken == reference.check_plan(inp, d_off.assignments, on, DATE, **kw) or \
            [v.split("(e.g.")[0] for v in broken] == [v.split("(e.g.")[0] for v in
                                                       reference.check_plan(inp, d_off.assignments, on, DATE, **kw)]
        d_on = decide(inp, on, DATE, shadow=False)          # check on: raises on a broken plan
        kept_split = _splits(d_on.assignments[d_on.assignments["decision"] == "kept"], on)
        assert _splits(d_on.assignments, on) == kept_split  # only splits among earlier nights' placements
        assert d_on.solver["objective"] <= d_off.solver["bound"] + 1e-6
        assert d_on.assignments["expected_net"].sum() <= d_off.assignments["expected_net"].sum() + 1e-6


def test_key_defaults_off():
    assert binding_strategy(100).one_collector_per_customer is False


def _two_channels(n: int):
    """The binding strategy with one_collector_per_customer and two channels (sms, email) that
    both take M1 and whose capacities bind: where a split customer's M1 account moves off a team,
    both channels may take it."""
    doc = binding_strategy(n, shares=(0.2, 0.1, 0.1), one_collector=True).model_dump()
    for q in doc["queues"]:
        if q["name"] == "sms":
            q["capacity"] = int(0.42 * n)  # below the M1 accounts (45 %), above half of them
    sms = next(q for q in doc["queues"] if q["name"] == "sms")
    doc["queues"].insert(doc["queues"].index(sms) + 1, {**sms, "name": "email", "cost_per_account": 0.0,
                                                         "effect": {"M1": 1.05}, "capacity": int(0.42 * n)})
    return type(binding_strategy(1)).model_validate(doc)


@pytest.mark.slow
def test_moved_accounts_take_their_best_channel_once():
    """The one-collector repair sends an account that leaves a second collector to its best
    channel with room, once. Were it taken by both channels (the first's count holding an account
    that the second then took), the first would keep room with a positive-gain account unworked,
    or an account would sit in the worse channel while the better one has room. Sizes: the exact
    path (600) and the large one (Lagrangian + CP-SAT, 5,000)."""
    for n in (600, 5000):
        inp = binding_inputs(n, 5, accounts_per_customer=2.5, hold_frac=0.0, ring_frac=0.0)
        s = _two_channels(n)
        d = decide(inp, s, DATE, shadow=False)  # check on: raises on a broken plan
        assert check_plan(inp, d.assignments, s, DATE, placements=d.placements,
                          min_share_applied=d.min_share_applied) == []
        assert any("moved off a second collector" in x and "to a channel" in x for x in d.solver["notes"])
        pb = build_problem(inp, s, DATE, None)
        a = d.assignments.set_index("account_id").loc[pb.account_id]
        g = pb.gain()
        free = pb.free
        for j in ("sms", "email"):
            k = "email" if j == "sms" else "sms"
            jj, kk = pb.queues.index(j), pb.queues.index(k)
            cap = s.queue(j).capacity
            inj = (a["queue"] == j).to_numpy()
            if inj.sum() < cap:  # room left in j: nobody it takes with a positive gain is left unworked ...
                idle = free & (a["decision"] == "not_worked").to_numpy() & pb.elig[:, jj] & (g[:, jj] > 0)
                assert not idle.any(), (n, j, int(idle.sum()))
                # ... and nobody sits in the other channel while j would gain more
                worse = (a["queue"] == k).to_numpy() & pb.elig[:, jj] & (g[:, jj] > g[:, kk])
                assert not worse.any(), (n, j, int(worse.sum()))
