"""The log-odds effect model (`effects_model: logodds`, assign/logodds.py): a planted effect by
account trait is recovered from a generated randomised history (IPW, with propensities that
depend on what drives repayment); the expected value placement decides with against a slow
obvious version; the plans keep every contract rule (the brute-force and plan-check tests of
assign/ with the model switched on)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from collections_engine.assign import check_plan, decide
from collections_engine.assign.expected import logodds_net, logodds_recovery
from collections_engine.assign.greedy import greedy_net_plan, greedy_plan
from collections_engine.assign.logodds import MONTH_BANDS, constant_logodds, fit_logodds, trait_cells
from collections_engine.assign.model_data import build_problem
from collections_engine.config.strategy import Strategy
from collections_engine.sources.money import plan_values
from tests.assign_builders import DATE, make_inputs, make_strategy
from tests.placement_nights import binding_inputs, binding_strategy
from tests.test_assign_exact import brute_force, check_feasible, instances

BANDS = [(100.0, 1000.0), (2000.0, 5000.0), (8000.0, 20000.0)]   # collectable thirds, well apart


def logodds(s: Strategy) -> Strategy:
    return s.model_copy(update={"effects_model": "logodds"})


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def planted_history(n: int, seed: int, planted: dict, base: float = -0.8) -> pd.DataFrame:
    """History rows of a two-stage book: queue drawn with a propensity that depends on a trait z
    which also raises repayment (so unweighted rates are biased), repaid drawn from
    sigmoid(base + 0.3 z + (M2: -0.4) + planted[queue, stage, band, line])."""
    rng = np.random.default_rng(seed)
    stage = rng.choice(["M1", "M2"], n)
    band = rng.integers(0, 3, n)
    lo, hi = np.array(BANDS).T
    coll = np.round(lo[band] + rng.random(n) * (hi[band] - lo[band]), 2)
    line = rng.choice(["new", "existing"], n)
    z = rng.choice([-1.0, 1.0], n)
    p_team = np.where(z > 0, 0.6, 0.2)          # the team gets the better payers more often
    p_v1 = np.full(n, 0.2)
    u = rng.random(n)
    queue = np.where(u < p_team, "team", np.where(u < p_team + p_v1, "v1", "not_worked"))
    prop = np.where(queue == "team", p_team, np.where(queue == "v1", p_v1, 1 - p_team - p_v1))
    shift = np.array([planted.get((q, s, int(b), ln), 0.0) for q, s, b, ln in zip(queue, stage, band, line)])
    lp = base + 0.3 * z - 0.4 * (stage == "M2") + shift
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(np.int8)
    return pd.DataFrame({"queue": queue, "propensity": prop, "repaid": y, "stage": stage, "collectable": coll,
                         "dpd": np.where(stage == "M1", 10, 40), "customer_line": line})


planted_effects = st.fixed_dictionaries({
    "team": st.tuples(st.floats(-0.3, 1.2), st.floats(-0.6, 0.6), st.floats(-0.6, 0.6)),
    "v1": st.tuples(st.floats(-0.3, 1.2), st.floats(-0.6, 0.6), st.floats(-0.6, 0.6)),
})


@settings(max_examples=8, deadline=None)
@given(eff=planted_effects, seed=st.integers(0, 10**6))
def test_a_planted_logodds_effect_by_trait_is_recovered(eff, seed):
    """delta[q, stage, band, line] = a + b (band - 1) + c [new], the same in both stages: each
    cell's estimate within 0.25 of what was planted (the cells' marginal log-odds, with z's
    mild spread inside a cell), and the IPW estimate closer than the unweighted one would be."""
    planted = {(q, s, b, ln): a + bb * (b - 1) + c * (ln == "new")
               for q, (a, bb, c) in eff.items() for s in ("M1", "M2") for b in range(3) for ln in ("new", "existing")}
    rows = planted_history(120_000, seed, planted)
    s = logodds(make_strategy((10, 10, 10)))
    model = fit_logodds(rows, s)
    assert (model.stage_table.set_index(["queue", "stage"]).loc[[("team", "M1"), ("team", "M2"), ("v1", "M1"),
                                                                  ("v1", "M2")], "source"] == "history").all()
    probe = pd.DataFrame([{"stage": st_, "collectable": np.mean(BANDS[b]), "dpd": 10 if st_ == "M1" else 40,
                           "customer_line": ln, "q": q, "b": b}
                          for q in ("team", "v1") for st_ in ("M1", "M2") for b in range(3) for ln in ("new", "existing")])
    codes = model.codes(probe)
    for q in ("team", "v1"):
        m = (probe["q"] == q).to_numpy()
        got = model.delta(q, codes=codes[m])
        want = np.array([planted[(q, a, b, ln)] for a, b, ln in
                         zip(probe.loc[m, "stage"], probe.loc[m, "b"], probe.loc[m, "customer_line"])])
        assert np.abs(got - want).max() < 0.25, (q, got, want)
    # the weights matter: team's unweighted rate mixes in the better payers it was given more often
    team = rows[(rows["queue"] == "team") & (rows["stage"] == "M1")]
    ctl = rows[(rows["queue"] == "not_worked") & (rows["stage"] == "M1")]
    naive = _logit(team["repaid"].mean()) - _logit(ctl["repaid"].mean())
    est = float(model.stage_table.set_index(["queue", "stage"]).loc[("team", "M1"), "delta"])
    true_avg = np.mean([planted[("team", "M1", b, ln)] for b in range(3) for ln in ("new", "existing")])
    assert abs(est - true_avg) < abs(naive - true_avg)


def test_thin_cells_shrink_to_the_stage_and_thin_stages_keep_the_strategy():
    planted = {("team", s, b, ln): 0.5 for s in ("M1", "M2") for b in range(3) for ln in ("new", "existing")}
    rows = planted_history(6_000, 3, planted)
    s = logodds(make_strategy((10, 10, 10)))
    model = fit_logodds(rows, s, min_n=200)
    st_ = model.stage_table.set_index(["queue", "stage"])
    assert st_.loc[("v2", "M2"), "source"] == "strategy"          # v2 never drawn
    assert st_.loc[("v2", "M2"), "delta"] == pytest.approx(math.log(1.8))
    # a single effect everywhere: the between-cell variance is small, every cell near the stage's
    cells = model.cells[model.cells["queue"] == "team"]
    assert (cells["shrink"] < 0.9).all()
    for stg, g in cells.groupby("stage"):
        d = float(st_.loc[("team", stg), "delta"])
        assert np.all(np.abs(g["delta"] - d) <= np.abs(g["raw"].fillna(d) - d) + 1e-12)
    # every stage of a queue the strategy has, nothing else
    assert set(model.shifts) == {"team", "v1", "v2"}
    assert len(model.shifts["team"]) == model.n_cells


def test_strategy_effects_become_a_constant_logodds_shift():
    s = logodds(make_strategy((5, 5, 5)))
    m = constant_logodds(s)
    probe = pd.DataFrame({"stage": ["M1", "M2", "M2"], "collectable": [10.0, 1e6, 50.0], "dpd": [5, 40, 400]})
    assert m.delta("team", probe) == pytest.approx([math.log(1.3), math.log(1.5), math.log(1.5)])
    assert m.delta("v2", probe) == pytest.approx([0.0, math.log(1.8), math.log(1.8)])
    assert m.delta("nobody", probe) == pytest.approx([0.0, 0.0, 0.0])
    over = constant_logodds(s, {("team", "M1"): 2.0})
    assert over.delta("team", probe)[0] == pytest.approx(math.log(2.0))


def test_logodds_value_against_the_slow_formula():
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.random(200), [0.0, 1.0]])
    d = rng.normal(0, 1, len(p))
    a = rng.uniform(10, 5000, len(p))
    got = logodds_net(p, d, a, 0.25, 3.0)
    for i in range(len(p)):
        want = (0.0 if p[i] == 0 else a[i] * 0.75 if p[i] == 1 else _sig(_logit(p[i]) + d[i]) * a[i] * 0.75) - 3.0
        assert got[i] == pytest.approx(want, rel=1e-12, abs=1e-9)
    assert logodds_recovery(p, 0.0, a) == pytest.approx(p * a)


def test_build_problem_values_each_account_with_its_cell_shift():
    """The recovery matrix placement decides with, against a per-account loop over the fitted model."""
    planted = {(q, s, b, ln): (0.9 if q == "team" else 0.3) - 0.4 * b + 0.3 * (ln == "new")
               for q in ("team", "v1") for s in ("M1", "M2") for b in range(3) for ln in ("new", "existing")}
    model = fit_logodds(planted_history(40_000, 1, planted), logodds(make_strategy((10, 10, 10))))
    inp = binding_like(300, 9)
    s = logodds(make_strategy((50, 50, 50)))
    pb = build_problem(inp, s, DATE, model)
    df = inp.sort_values("account_id", kind="mergesort").reset_index(drop=True)
    for j, q in enumerate(s.work_queues()):
        comm = getattr(q, "commission", 0.0)
        for i in range(len(df)):
            row = df.iloc[[i]]
            if not pb.elig[i, j]:
                continue
            d = float(model.delta(q.name, row)[0])
            want = _sig(_logit(row["p_repay"].iloc[0]) + d) * round(row["collectable"].iloc[0] * 100) * (1 - comm)
            assert pb.recovery[i, j] == round(want)


def binding_like(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stage = rng.choice(["M1", "M2"], n)
    band = rng.integers(0, 3, n)
    lo, hi = np.array(BANDS).T
    amount = np.round(lo[band] + rng.random(n) * (hi[band] - lo[band]), 2).tolist()
    inp = make_inputs(list(stage), rng.uniform(0.02, 0.95, n).tolist(), amount, rng.integers(0, n, n).tolist(),
                      [""] * n, [0] * n)
    return inp.assign(customer_line=rng.choice(["new", "existing"], n))


@settings(max_examples=40, deadline=None)
@given(instances)
def test_decide_equals_brute_force_with_logodds(x):
    """test_assign_exact's brute force with each account valued at sigmoid(logit p + ln effect)."""
    stage, p, amount, cust, ov, ends_in, caps, ms, mb, tog = x
    s = logodds(make_strategy(caps, ms, mb, tog))
    inp = make_inputs(stage, p, [float(a) for a in amount], cust, ov, ends_in)

    def rec(i, q, stg, pi, amt, comm):
        return _sig(_logit(pi) + math.log(q.effect[stg])) * amt * (1 - comm)

    best = brute_force(inp, s, rec)
    d = decide(inp, s, DATE)
    check_feasible(d, inp, s)
    assert d.solver["status"] == "OPTIMAL"
    assert int(np.rint(d.assignments["expected_net"].to_numpy() * 100).sum()) == best


@pytest.mark.parametrize("n,shares", [(3000, (0.2, 0.15, 0.1)), (3000, (0.35, 0.25, 0.15)), (400, (0.3, 0.25, 0.2))])
def test_logodds_plans_keep_every_rule(n, shares):
    """The binding nights of the plan-check tests (shares, balance caps, grouping, open
    placements, holds, fraud) decided with a fitted trait model: the independent check passes
    for the engine and both peers, and the peers never beat the engine's bound."""
    planted = {(q, st_, b, ln): (0.9 if q == "team" else 0.4) - 0.5 * b + 0.4 * (ln == "new")
               for q in ("team", "v1") for st_ in ("M1", "M2") for b in range(3) for ln in ("new", "existing")}
    s = logodds(binding_strategy(n, shares=shares))
    hist = planted_history(30_000, 2, planted)
    hist["queue"] = hist["queue"].replace({"team": "early_team", "v1": "vendor_a"})
    model = fit_logodds(hist, s)
    assert (model.stage_table.set_index(["queue", "stage"]).loc[[("early_team", "M1"), ("vendor_a", "M2")],
                                                                "source"] == "history").all()
    inp = binding_inputs(n, 2)
    inp["customer_line"] = np.where(np.arange(n) % 3 == 0, "new", "existing")
    d = decide(inp, s, DATE, effects=model, shadow=False)
    if n >= 3000:   # the path production takes on a large night
        assert d.solver["method"] == "lagrangian_dual+cpsat"
    for plan in (d, greedy_plan(inp, s, DATE, effects=model), greedy_net_plan(inp, s, DATE, effects=model)):
        assert check_plan(inp, plan.assignments, s, DATE, placements=plan.placements,
                          min_share_applied=plan.min_share_applied) == []
        slack = d.solver["bound"] - d.solver["objective"]
        assert plan.assignments["expected_net"].sum() <= d.assignments["expected_net"].sum() + slack + 1e-6
    # the trait model moves plans: a different plan from the multiplier's on the same night
    m = decide(inp, binding_strategy(n, shares=shares), DATE, shadow=False)
    assert (m.assignments["queue"].to_numpy() != d.assignments["queue"].to_numpy()).any()


def test_the_key_is_opt_in_and_checked():
    s = make_strategy((5, 5, 5))
    assert s.effects_model == "multiplier"
    doc = s.model_dump()
    with pytest.raises(ValidationError, match="effects_model"):
        Strategy.model_validate({**doc, "effects_model": "log-odds"})
    with pytest.raises(ValueError, match="effects_model: logodds"):
        build_problem(binding_like(20, 1), s, DATE, constant_logodds(s))
    # a model fitted by line needs the line of tonight's accounts
    model = fit_logodds(planted_history(2_000, 1, {}), logodds(s))
    with pytest.raises(ValueError, match="customer_line"):
        build_problem(binding_like(20, 1).drop(columns="customer_line"), logodds(s), DATE, model)


def test_valuation_values_rows_with_the_same_formula():
    """sources.money's model expectation under logodds: each row at its plan's cell shift."""
    s = logodds(make_strategy((5, 5, 5)))
    model = fit_logodds(planted_history(20_000, 4, {("team", "M1", 0, "new"): 1.0}), s)
    rows = binding_like(200, 3)
    plan = np.random.default_rng(2).choice(["team", "v1", "not_worked"], len(rows))
    plan = np.where((plan == "v1") & (rows["stage"].to_numpy() == "M1"), "v1", plan)
    p = rows["p_repay"].to_numpy()
    got = plan_values(rows, plan, p, s, np.zeros(len(rows), bool), effects=model)
    for i in range(len(rows)):
        q = s.queue(plan[i]) if plan[i] != "not_worked" else None
        d = float(model.delta(plan[i], rows.iloc[[i]])[0]) if q is not None else 0.0
        comm = getattr(q, "commission", 0.0) if q is not None else 0.0
        cost = q.cost_per_account if q is not None else 0.0
        assert got[i] == pytest.approx(_sig(_logit(p[i]) + d) * rows["collectable"].iloc[i] * (1 - comm) - cost)


def test_trait_cells_are_one_per_stage_band_line_month():
    edges = np.array([1000.0, 5000.0])
    f = pd.DataFrame({"stage": ["M1", "M2", "M2", "X"], "collectable": [10.0, 1000.0, 1e5, 1.0],
                      "dpd": [10, 40, 200, 5], "customer_line": ["new", "existing", "new", "new"]})
    c = trait_cells(f, ["M1", "M2"], edges, ("new", "existing"))
    per_stage = 3 * 2 * len(MONTH_BANDS)
    assert c[0] == 0 * per_stage + ((0 * 2 + 0) * len(MONTH_BANDS) + 0)
    assert c[1] == 1 * per_stage + ((1 * 2 + 1) * len(MONTH_BANDS) + 1)
    assert c[2] == 1 * per_stage + ((2 * 2 + 0) * len(MONTH_BANDS) + 4)
    assert c[3] == -1
