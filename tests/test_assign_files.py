"""Vendor files carry only file_fields; worklists; greedy baseline; effect estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.assign import decide
from collections_engine.assign.effects import effects_dict, estimate_effects
from collections_engine.assign.files import vendor_files, worklists
from collections_engine.assign.greedy import greedy_plan
from collections_engine.config.strategy import Strategy
from tests.assign_builders import DATE, make_inputs, make_strategy

PERSONAL = ["name", "phone", "national_id", "address"]
CANDIDATES = ["account_id", "customer_id", "name", "phone", "national_id", "address", "overdue_amount",
              "dpd", "balance", "product", "stage", "band", "points", "placed_on", "ends_on", "not_a_column"]


def _book(n=40, seed=0):
    rng = np.random.default_rng(seed)
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.uniform(0.05, 0.8, n),
                      rng.integers(100, 5000, n).astype(float), list(range(n)), [""] * n, [0] * n)
    acc = inp[["account_id", "customer_id", "dpd", "overdue_amount", "balance"]].assign(
        product="card", credit_limit=1.0, secret_feature=7)
    cus = pd.DataFrame({"customer_id": inp["customer_id"], "name": "N", "phone": "P", "national_id": "ID",
                        "address": "AD", "income": 1.0})
    return inp, acc, cus


@settings(max_examples=25)
@given(st.lists(st.sampled_from(CANDIDATES), min_size=1, max_size=8, unique=True),
       st.lists(st.sampled_from(CANDIDATES), min_size=1, max_size=8, unique=True))
def test_only_file_fields_reach_vendor_files(f1, f2):
    s0 = make_strategy((2, 10, 10))
    qs = [q.model_copy(update={"file_fields": f1 if q.name == "v1" else f2}) if q.kind == "vendor" else q
          for q in s0.queues]
    s = s0.model_copy(update={"queues": qs})
    inp, acc, cus = _book()
    d = decide(inp, s, DATE)
    warns: list[str] = []
    files = vendor_files(d, inp, acc, cus, None, s, DATE, warnings=warns)
    for v, fields in (("v1", f1), ("v2", f2)):
        placements, recalls = files[v]
        assert list(placements.columns) == [f for f in fields if f != "not_a_column"]
        assert list(recalls.columns) == ["account_id", "ended", "reason"]
        assert len(placements) == ((d.assignments["queue"] == v) & (d.assignments["decision"] == "placed")).sum()
        for p in PERSONAL:
            if p not in fields:
                assert p not in placements.columns
                assert not placements.astype(str).isin([{"name": "N", "phone": "P", "national_id": "ID",
                                                         "address": "AD"}[p]]).any().any()
    if "not_a_column" in f1 + f2:
        assert any("not_a_column" in w for w in warns)


def test_worklists_in_priority_order():
    inp, _, _ = _book(60)
    d = decide(inp, make_strategy((10, 5, 5)), DATE)
    wl = worklists(d)
    team = wl["team"]
    assert len(team) == 10 and list(team["priority"]) == list(range(1, 11))
    assert team["expected_net"].is_monotonic_decreasing


def test_greedy_same_format_and_never_beats_optimum():
    inp, _, _ = _book(80, seed=2)
    s = make_strategy((10, 15, 10), min_share=(0.3, 0.2), max_balance=(20000.0, None), together=(True, False))
    g = greedy_plan(inp, s, DATE)
    d = decide(inp, s, DATE)
    assert list(g.assignments.columns) == list(d.assignments.columns)
    assert len(g.assignments) == len(inp)
    for q in s.work_queues():
        assert (g.assignments["queue"] == q.name).sum() <= q.capacity
    assert g.assignments["expected_net"].sum() <= d.assignments["expected_net"].sum() + 1e-6
    # the greedy rule takes the best scores for the team
    team = g.assignments[g.assignments["queue"] == "team"]["account_id"]
    p = inp.set_index("account_id")["p_repay"]
    assert p[team].min() >= p.drop(team.to_numpy()).max() - 1e-12


def test_estimate_effects_recovers_randomised_truth():
    rng = np.random.default_rng(11)
    n = 60000
    stage = rng.choice(["M1", "M2"], n)
    p0 = rng.uniform(0.05, 0.5, n)
    # randomised within eligibility: M1 -> team/v1/not_worked, M2 -> team/v1/v2/not_worked
    q = np.where(stage == "M1", rng.choice(["team", "v1", "not_worked"], n, p=[0.2, 0.3, 0.5]),
                 rng.choice(["team", "v1", "v2", "not_worked"], n, p=[0.1, 0.2, 0.3, 0.4]))
    prop = np.select([(stage == "M1") & (q == "team"), (stage == "M1") & (q == "v1"), stage == "M1",
                      q == "team", q == "v1", q == "v2"], [0.2, 0.3, 0.5, 0.1, 0.2, 0.3], 0.4)
    true = {("team", "M1"): 1.3, ("team", "M2"): 1.5, ("v1", "M1"): 1.4, ("v1", "M2"): 1.6, ("v2", "M2"): 1.8}
    e = np.array([true.get((a, b), 1.0) for a, b in zip(q, stage)])
    repaid = (rng.uniform(size=n) < np.minimum(1, p0 * e)).astype(int)
    keys = {"account_id": [f"A{i}" for i in range(n)], "snapshot_date": DATE}
    hist = pd.DataFrame({**keys, "queue": q, "propensity": prop})
    out = pd.DataFrame({**keys, "repaid": repaid, "recovered_amount": 0.0})
    stages = pd.DataFrame({**keys, "stage": stage})
    est = estimate_effects(hist, out, stages, make_strategy((1, 1, 1)))
    assert len(est) == 5
    for r in est.itertuples():
        assert r.ci_low <= true[(r.queue, r.stage)] <= r.ci_high
        assert r.agrees  # the strategy's effects are the truth here
    eff = effects_dict(est)
    assert set(eff) == set(true)
    d = decide(make_inputs(["M2"], [0.3], [1000.0], [0], [""], [0]), make_strategy((1, 1, 1)), DATE, effects=eff)
    assert len(d.assignments) == 1


def test_strategy_type():
    assert isinstance(make_strategy((1, 1, 1)), Strategy)
