"""one_collector_per_customer: every worked account of a customer in one queue (channels aside)."""

from __future__ import annotations

import pandas as pd

from collections_engine.assign import check_plan, decide
from tests import plan_check_reference as reference
from tests.placement_nights import DATE, binding_inputs, binding_strategy


def _splits(a: pd.DataFrame, strategy) -> int:
    kinds = {q.name: q.kind for q in strategy.queues}
    w = a[a["decision"].isin(["kept", "placed", "assigned"]) & a["queue"].map(kinds).isin(["inhouse", "vendor", "legal"])]
    n = w.groupby("customer_id")["queue"].nunique()
    return int((n > 1).sum())


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
