"""decide() against brute force on small random instances (open placements, min shares,
balance caps, customer grouping), and shadow prices: LP duals vs re-solves."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.assign import decide
from collections_engine.assign.check import check_plan
from collections_engine.assign.model_data import build_problem
from collections_engine.assign.solve import solve
from collections_engine.config.strategy import Strategy
from tests.assign_builders import DATE, make_inputs, make_strategy

def _multiplier(i: int, q, stage: str, p: float, amount: int, comm: float) -> float:
    return min(1.0, p * q.effect[stage]) * amount * (1 - comm)


def brute_force(inp: pd.DataFrame, s: Strategy, recovery=_multiplier) -> int:
    """The obvious way: enumerate every choice of every free account (cents). recovery(i, queue,
    stage, p, amount in cents, commission): the expected recovery of account i in the queue
    (default the multiplier, min(1, p x effect))."""
    qs = s.work_queues()
    n = len(inp)
    amt = np.rint(inp["collectable"].to_numpy() * 100).astype(np.int64)
    p = inp["p_repay"].to_numpy()
    val = np.zeros((n, len(qs) + 1), dtype=np.int64)
    ok = np.zeros((n, len(qs) + 1), dtype=bool)
    ok[:, -1] = True
    val[:, -1] = np.rint(p * amt)
    for j, q in enumerate(qs):
        comm = getattr(q, "commission", 0.0)
        for i in range(n):
            if inp["stage"][i] in q.stages:
                rec = recovery(i, q, inp["stage"][i], p[i], amt[i], comm)
                val[i, j] = round(rec) - round(q.cost_per_account * 100)
                ok[i, j] = True
    vend = [j for j, q in enumerate(qs) if q.kind == "vendor"]
    kept = np.full(n, -1)
    for i in range(n):
        v = inp["open_vendor"][i]
        if v:
            j = [q.name for q in qs].index(v)
            if inp["ends_on"][i] > DATE and inp["stage"][i] in qs[j].stages:
                kept[i] = j
    free = np.flatnonzero(kept < 0)
    base = int(sum(val[i, kept[i]] for i in range(n) if kept[i] >= 0))
    cap = np.array([q.capacity for q in qs]) - np.bincount(kept[kept >= 0], minlength=len(qs))
    cap = np.maximum(cap, 0)
    bal = [q.max_balance * 100 if getattr(q, "max_balance", None) else None for q in qs]
    kbal = [amt[kept == j].sum() for j in range(len(qs))]
    flags = [getattr(q, "keep_customer_together", False) for q in qs]
    cust = inp["customer_id"].to_numpy()

    def conflict(vendors_by_cust):
        for vs in vendors_by_cust.values():  # (vendor, new?); old conflicts among kept ones stand
            for (a, na), (b, nb) in itertools.combinations(vs, 2):
                if (na or nb) and a != b and (flags[a] or flags[b]):
                    return True
        return False

    # min share applies to vendors that can take some new account tonight (documented rule)
    share = {}
    for j in vend:
        if qs[j].min_share > 0 and cap[j] > 0:
            fits = [i for i in free if ok[i, j] and (bal[j] is None or amt[i] <= max(0, bal[j] - kbal[j]))
                    and not any(kept[k] >= 0 and kept[k] != j and (flags[kept[k]] or flags[j])
                                for k in range(n) if cust[k] == cust[i])]
            if fits:
                share[j] = qs[j].min_share
    options = [[o for o in range(len(qs) + 1) if ok[i, o]] for i in free]
    prods = list(itertools.product(*options))
    combos = np.array(prods, dtype=np.int64).reshape(len(prods), len(free))
    good = np.ones(len(combos), dtype=bool)
    for j in range(len(qs)):
        on = combos == j
        good &= on.sum(axis=1) <= cap[j]
        if j in vend and bal[j] is not None:
            good &= ~on.any(axis=1) | (kbal[j] + (on * amt[free]).sum(axis=1) <= bal[j])
    nv = np.isin(combos, vend).sum(axis=1)
    for j, sh in share.items():
        good &= (combos == j).sum(axis=1) >= sh * nv - 1e-9
    # grouping: every pair of a customer's accounts, at least one of them a new placement
    fpos = {i: t for t, i in enumerate(free)}
    for a, b in itertools.combinations(range(n), 2):
        if cust[a] != cust[b] or (kept[a] >= 0 and kept[b] >= 0):
            continue
        va = combos[:, fpos[a]] if a in fpos else np.full(len(combos), kept[a])
        vb = combos[:, fpos[b]] if b in fpos else np.full(len(combos), kept[b])
        fl = np.array(flags + [False])
        clash = np.isin(va, vend) & np.isin(vb, vend) & (va != vb) & (fl[va] | fl[vb])
        good &= ~clash
    best = int(val[free[None, :], combos][good].sum(axis=1).max()) if len(free) else 0
    return base + best


instances = st.integers(1, 8).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from(["M1", "M2"]), min_size=n, max_size=n),
    st.lists(st.floats(0.02, 0.9), min_size=n, max_size=n),
    st.lists(st.integers(100, 5000), min_size=n, max_size=n),
    st.lists(st.integers(0, 2), min_size=n, max_size=n),
    st.lists(st.sampled_from(["", "", "v1", "v2"]), min_size=n, max_size=n),
    st.lists(st.integers(-5, 20), min_size=n, max_size=n),
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.sampled_from([(0.0, 0.0), (0.5, 0.0), (0.3, 0.3), (0.0, 0.6)]),
    st.sampled_from([(None, None), (60.0, None), (None, 40.0), (30.0, 80.0)]),
    st.sampled_from([(False, False), (True, False), (False, True), (True, True)]),
))


def check_feasible(d, inp, s):
    """The independent contract check (assign/check.py), plus the counts seen from here."""
    assert check_plan(inp, d.assignments, s, DATE, placements=d.placements,
                      min_share_applied=d.min_share_applied) == []
    a = d.assignments
    assert len(a) == len(inp) and a["account_id"].is_unique
    for q in s.work_queues():
        held = a[a["queue"] == q.name]
        kept_over = (held["decision"] == "kept").sum() >= q.capacity
        assert len(held) <= q.capacity or kept_over


@settings(max_examples=60)
@given(instances)
def test_decide_equals_brute_force(x):
    stage, p, amount, cust, ov, ends_in, caps, ms, mb, tog = x
    s = make_strategy(caps, ms, mb, tog)
    inp = make_inputs(stage, p, [float(a) for a in amount], cust, ov, ends_in)
    best = brute_force(inp, s)
    d = decide(inp, s, DATE)
    check_feasible(d, inp, s)
    got = int(np.rint(d.assignments["expected_net"].to_numpy() * 100).sum())
    assert d.solver["status"] == "OPTIMAL"
    assert got == best
    # the LP + repair path: never better than the optimum, its bound never below it
    pb = build_problem(inp, s, DATE)
    sol = solve(pb, method="lp", shadow=False)
    pre = int((pb.pre_recovery - pb.pre_cost)[~pb.free].sum())
    assert sol.objective + pre <= best
    assert sol.bound + pre >= best


def test_shadow_prices_lp_dual_vs_resolve():
    rng = np.random.default_rng(3)
    n = 40
    s = make_strategy((5, 6, 4))
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.uniform(0.05, 0.6, n), rng.integers(200, 3000, n)
                      .astype(float), list(range(n)), [""] * n, [0] * n)
    pb = build_problem(inp, s, DATE)
    flow = solve(pb)                     # counts only: min-cost flow + longest augmenting chain
    lp = solve(pb, method="lp")          # LP duals
    assert flow.method == "min_cost_flow"
    for j, q in enumerate(pb.queues):
        caps = []
        for dc in (+1, -1):
            cap = pb.cap.copy()
            cap[j] += dc
            from dataclasses import replace
            caps.append(solve(replace(pb, cap=cap), method="mip", shadow=False).objective)
        up = (caps[0] - flow.objective) / 100
        down = (flow.objective - caps[1]) / 100
        assert flow.cap_dual[j] == up, q
        assert up - 1e-6 <= lp.cap_dual[j] <= down + 1e-6, q


def test_large_path_feasible_and_bounded_by_exact_mip():
    """The Lagrangian + priced flow + repair path (used on big nights) against the exact MIP."""
    rng = np.random.default_rng(8)
    n = 1000
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.beta(2, 3, n),
                      np.round(rng.lognormal(7, 1, n), 2), list(rng.integers(0, 760, n)), [""] * n, [0] * n)
    s = make_strategy((120, 160, 120), min_share=(0.3, 0.2), max_balance=(280000.0, None), together=(True, False))
    pb = build_problem(inp, s, DATE)
    big = solve(pb, method="dual", shadow=False)
    exact = solve(pb, method="mip", shadow=False)
    assert big.method.startswith("lagrangian") and exact.status == "OPTIMAL"
    assert big.objective <= exact.objective <= big.bound
    assert big.gap < 0.005
    from collections_engine.assign.core import build_core, violations
    c = build_core(pb)
    local = np.full(len(c.rows), -1)
    col = {q: t for t, q in enumerate(c.cols)}
    ch = big.choice[c.rows]
    m = np.isin(ch, c.cols)
    local[m] = [col[q] for q in ch[m]]
    assert violations(c, local) == []
    for j, q in enumerate(pb.queues):
        assert (big.choice == j).sum() <= pb.cap[j]


def test_highs_stops_on_a_node_count_never_on_the_clock(monkeypatch):
    """Small nights go to HiGHS branch and bound: it is given a node limit and no time limit, so
    the plan cannot depend on how busy the machine is; a limit reached is said (FEASIBLE with
    HiGHS's proven bound), and a limit reached before any plan hands the night to the
    Lagrangian + CP-SAT path. Every plan passes the check (decide's default)."""
    import collections_engine.assign.lp as sm  # the LP/MIP model of the solver
    from tests.placement_nights import DATE as NIGHT, binding_inputs, binding_strategy

    seen = []
    real = sm.milp

    def spy(*a, **k):
        seen.append(dict(k["options"]))
        return real(*a, **k)

    monkeypatch.setattr(sm, "milp", spy)
    inp = binding_inputs(400, 2, accounts_per_customer=2.0)
    s = binding_strategy(400, shares=(0.35, 0.25, 0.2), balance_frac=0.3)
    d = decide(inp, s, NIGHT, shadow=False)
    assert d.solver["method"] == "mip_highs" and d.solver["status"] == "OPTIMAL"
    assert seen and all("time_limit" not in o and o["node_limit"] == sm.MIP_NODE_LIMIT for o in seen)
    again = decide(inp, s, NIGHT, shadow=False)
    pd.testing.assert_frame_equal(again.assignments, d.assignments)

    monkeypatch.setattr(sm, "MIP_NODE_LIMIT", 1)  # this night needs more than the root node
    one = decide(inp, s, NIGHT, shadow=False)
    assert one.solver["status"] == "FEASIBLE" and one.solver["bound"] > one.solver["objective"]
    assert one.solver["bound"] >= d.solver["objective"] - 1e-6 >= one.solver["objective"] - 1e-6

    monkeypatch.setattr(sm, "MIP_NODE_LIMIT", 0)  # no plan from HiGHS at all
    none = decide(inp, s, NIGHT, shadow=False)
    assert none.solver["method"] == "lagrangian_dual+cpsat"
    assert any("HiGHS found no plan" in x for x in none.solver["notes"])
    assert none.solver["objective"] <= d.solver["objective"] + 1e-6
    assert (none.solver["status"] == "OPTIMAL") == (none.solver["objective"] >= none.solver["bound"])
