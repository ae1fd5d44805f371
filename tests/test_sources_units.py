"""Data-source valuation: recommendation rules, Holm, the IPW estimator, source checks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from collections_engine.book import Book
from collections_engine.config import load_strategy
from collections_engine.sources import (DROP, INCONCLUSIVE, KEEP, check_sources, plan_values,
                                        recommend, scaled_strategy)
from collections_engine.stats import holm, paired_auc


def _row(**kw):
    base = dict(auc_diff=0.02, auc_diff_hi=0.03, p_holm=0.001, value_month=5000.0, value_lo=1000.0,
                value_hi=9000.0, cost_month=1000.0)
    base.update(kw)
    return base


@pytest.mark.parametrize("kw, expected", [
    ({}, KEEP),                                                        # significant and pays
    ({"p_holm": 0.02}, INCONCLUSIVE),                                  # not significant at 0.01
    ({"value_month": 800.0, "value_lo": -500.0, "value_hi": 2000.0}, INCONCLUSIVE),  # may not pay
    ({"value_month": 200.0, "value_lo": -500.0, "value_hi": 900.0}, DROP),  # interval below price
    ({"auc_diff": -0.01, "p_holm": 0.001}, INCONCLUSIVE),              # significant loss is no gain
    ({"auc_diff": 0.001, "auc_diff_hi": 0.004, "p_holm": 0.5, "value_lo": -1e5, "value_hi": 1e5}, DROP),
    ({"auc_diff": 0.004, "auc_diff_hi": 0.02, "p_holm": 0.5, "value_lo": -1e5, "value_hi": 1e5},
     INCONCLUSIVE),                                                    # wide AUC interval
    ({"p_holm": np.nan, "auc_diff": np.nan, "auc_diff_hi": np.nan}, INCONCLUSIVE),
])
def test_recommendation_rules(kw, expected):
    out = recommend(pd.DataFrame([_row(**kw)]), alpha=0.01, tight_auc=0.005)
    assert out["recommendation"].iloc[0] == expected
    assert out["why"].iloc[0]


def _holm_reject_bruteforce(p: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down procedure as written: reject the smallest p-values in order while
    p_(k) <= alpha / (m - k + 1)."""
    m = len(p)
    reject = np.zeros(m, bool)
    for k, i in enumerate(sorted(range(m), key=lambda j: (p[j], j))):
        if p[i] <= alpha / (m - k):
            reject[i] = True
        else:
            break
    return reject


def test_holm_matches_bruteforce_procedure():
    rng = np.random.default_rng(5)
    for trial in range(200):
        m = int(rng.integers(1, 12))
        p = np.where(rng.random(m) < 0.5, rng.random(m) * 0.02, rng.random(m))
        adj = holm(p)
        assert np.all(adj >= p - 1e-15) and np.all(adj <= 1)
        for alpha in (0.001, 0.01, 0.05, 0.2):
            np.testing.assert_array_equal(adj <= alpha, _holm_reject_bruteforce(p, alpha))


def test_holm_ignores_nan_and_small_example():
    adj = holm(np.array([0.01, np.nan, 0.04, 0.03]))
    np.testing.assert_allclose(adj[[0, 2, 3]], [0.03, 0.06, 0.06])
    assert np.isnan(adj[1])
    # brute force over every ordering of 4 values: adjusted = max over earlier of (m-j+1) p_(j)
    p = np.array([0.02, 0.001, 0.3, 0.0125])
    exp = np.empty(4)
    order = np.argsort(p)
    run = 0.0
    for k, i in enumerate(order):
        run = max(run, min(1.0, (4 - k) * p[i]))
        exp[i] = run
    for perm in itertools.permutations(range(4)):
        perm = list(perm)
        np.testing.assert_allclose(holm(p[perm]), exp[perm])


def test_paired_auc_identical_scores_has_no_difference():
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.3).astype(int)
    s = rng.random(400) + y * 0.5
    r = paired_auc(y, s, s)
    assert r["auc_diff"] == 0 and r["p_value"] == 1.0
    better = paired_auc(y, s, rng.random(400))
    assert better["auc_diff"] > 0.1 and better["p_value"] < 1e-6


def _strategy(default_strategy_path):
    return load_strategy(default_strategy_path)


def test_ipw_values_against_hand_computation(default_strategy_path):
    st = _strategy(default_strategy_path)
    # agency_north: commission 0.25, cost 0; early_team cost 15; sms cost 0.05
    rows = pd.DataFrame({
        "stage": ["M2", "M2", "M1", "M1"],
        "collectable": [1000.0, 2000.0, 500.0, 300.0],
        "queue": ["agency_north", "early_team", "not_worked", "sms"],
        "propensity": [0.25, 0.5, 0.2, np.nan],
        "recovered_amount": [800.0, 0.0, 100.0, 300.0],
    })
    plan = np.array(["agency_north", "agency_north", "not_worked", "early_team"], dtype=object)
    p_full = np.array([0.4, 0.3, 0.2, 0.5])
    ipw_rows = ~rows["propensity"].isna().to_numpy()
    v = plan_values(rows, plan, p_full, st, ipw_rows)
    expected = [
        800 * (1 - 0.25) / 0.25,        # plan == history: realised net / propensity
        0.0,                            # plan != history: contributes nothing
        100 / 0.2,                      # not worked in both: recovered / propensity, no cost
        min(1, 0.5 * 1.3) * 300 - 15,   # no propensity: full model expectation in early_team (M1 1.3)
    ]
    np.testing.assert_allclose(v, expected)
    # the doubly robust variant: model(q) + 1[q == h] * (realised - model(h)) / pi
    dr = plan_values(rows, plan, p_full, st, ipw_rows, mode="dr")
    m0 = min(1, 0.4 * 1.2) * 1000 * 0.75
    m1 = min(1, 0.3 * 1.2) * 2000 * 0.75
    assert dr[0] == pytest.approx(m0 + (600 - m0) / 0.25)
    assert dr[1] == pytest.approx(m1)
    assert dr[2] == pytest.approx(0.2 * 500 + (100 - 0.2 * 500) / 0.2)
    assert dr[3] == pytest.approx(expected[3])


def test_scaled_strategy_scales_capacity_and_balance(default_strategy_path):
    st = _strategy(default_strategy_path)
    small = scaled_strategy(st, 0.01)
    by = {q.name: q for q in small.queues}
    assert by["early_team"].capacity == 300
    assert by["agency_north"].max_balance == pytest.approx(2_000_000)
    assert all(q.capacity >= 1 for q in small.queues)


def _book() -> Book:
    acc = pd.DataFrame({"snapshot_date": pd.to_datetime(["2025-01-31"] * 3),
                        "account_id": pd.Series(["A1", "A2", "A3"], dtype="str"),
                        "customer_id": pd.Series(["C1", "C2", "C2"], dtype="str"),
                        "dpd": [10, 40, 0]})
    src = {
        "bureau": pd.DataFrame({"customer_id": pd.Series(["C1", "C2"], dtype="str"), "score": [1, 2]}),
        "telco": pd.DataFrame({"customer_id": pd.Series(["X9"], dtype="str"), "arpu": [3.0]}),
        "multi_lending": pd.DataFrame({"customer_id": pd.Series(["C1"], dtype="str"), "score": [5]}),
    }
    return Book(accounts=acc, sources=src)


def test_source_problems_are_warnings_and_others_still_valued(default_strategy_path):
    st = _strategy(default_strategy_path)
    book = _book()
    load_warn = ["sources/contact_repair: no table (parquet or csv); source 'contact_repair' is not used tonight"]
    valued, not_valued = check_sources(book, st, load_warn)
    assert valued == ["bureau"]
    assert "matches no customer_id" in not_valued["telco"]
    assert "collide" in not_valued["multi_lending"] and "bureau" in not_valued["multi_lending"]
    assert "no table" in not_valued["contact_repair"]
    book.sources["bureau"] = book.sources["bureau"].iloc[:0]
    valued, not_valued = check_sources(book, st, load_warn)
    assert valued == ["multi_lending"] and "no rows" in not_valued["bureau"]


def test_model_values_use_the_effects_given(default_strategy_path):
    st = _strategy(default_strategy_path)
    rows = pd.DataFrame({"stage": ["M1"], "collectable": [300.0], "queue": ["sms"],
                         "propensity": [np.nan], "recovered_amount": [0.0]})
    plan = np.array(["early_team"], dtype=object)
    none = np.zeros(1, bool)
    assert plan_values(rows, plan, np.array([0.5]), st, none)[0] == pytest.approx(0.5 * 1.3 * 300 - 15)
    v = plan_values(rows, plan, np.array([0.5]), st, none, effects={("early_team", "M1"): 1.1})
    assert v[0] == pytest.approx(0.5 * 1.1 * 300 - 15)


def _randomised_history(n: int, seed: int) -> pd.DataFrame:
    """M1 rows placed at random (sms 0.5, early_team 0.3, not_worked 0.2); true effects 1.08 and
    1.5 on p0; repay pays the collectable amount."""
    rng = np.random.default_rng(seed)
    q = rng.choice(["sms", "early_team", "not_worked"], n, p=[0.5, 0.3, 0.2])
    prop = np.select([q == "sms", q == "early_team"], [0.5, 0.3], 0.2)
    p0 = rng.uniform(0.1, 0.5, n)
    eff = np.select([q == "sms", q == "early_team"], [1.08, 1.5], 1.0)
    y = (rng.random(n) < p0 * eff).astype(np.int8)
    coll = rng.uniform(100, 1000, n)
    return pd.DataFrame({"account_id": [f"a{i}" for i in range(n)],
                         "snapshot_date": pd.Timestamp("2026-01-31"), "stage": "M1", "queue": q,
                         "propensity": prop, "y": y, "collectable": coll,
                         "recovered_amount": y * coll, "p0": p0})


def test_ipw_and_dr_are_unbiased_for_a_fixed_plan(default_strategy_path):
    """Over many randomised histories, IPW and DR of realised outcomes average to the plan's true
    expected net; DR (with a deliberately wrong model as control variate) is no less tight."""
    st = _strategy(default_strategy_path)
    plan = None
    ipw, dr, true = [], [], []
    for seed in range(60):
        r = _randomised_history(2000, seed)
        if plan is None:
            plan = np.where(r["p0"].to_numpy() > 0.3, "early_team", "sms").astype(object)
        eff = np.where(plan == "early_team", 1.5, 1.08)
        cost = np.where(plan == "early_team", 15.0, 0.05)
        true.append(float((r["p0"] * eff * r["collectable"] - cost).sum()))
        ok = np.ones(len(r), bool)
        wrong = np.full(len(r), 0.25)            # a poor model: the estimators must not care
        ipw.append(plan_values(r, plan, wrong, st, ok).sum())
        dr.append(plan_values(r, plan, wrong, st, ok, mode="dr").sum())
    ipw, dr, true = map(np.asarray, (ipw, dr, true))
    se = ipw.std(ddof=1) / np.sqrt(len(ipw))
    assert abs(ipw.mean() - true.mean()) < 3 * se
    assert abs(dr.mean() - true.mean()) < 3 * dr.std(ddof=1) / np.sqrt(len(dr))
    assert dr.std() < ipw.std()


def test_window_effects_use_training_rows_only(default_strategy_path):
    from collections_engine.sources.value import _window_effects
    st = _strategy(default_strategy_path)
    r = _randomised_history(6000, 3)
    train = np.arange(len(r)) < 4000
    eff, table = _window_effects(r, train, st)
    assert eff[("early_team", "M1")] == pytest.approx(1.5, abs=0.2)
    assert ("sms", "M1") in eff
    assert set(table.loc[table["source"] == "history", "queue"]) >= {"early_team", "sms"}
    flipped = r.assign(y=np.where(train, r["y"], 1 - r["y"]))    # held-out outcomes changed
    assert _window_effects(flipped, train, st)[0] == eff
    assert _window_effects(r, np.zeros(len(r), bool), st) == ({}, None)


def test_holdout_grows_only_while_training_keeps_its_rows():
    from collections_engine.scoring.data import holdout_dates
    big = np.repeat(np.arange(12), 19_000)          # 12 monthly snapshots of 19k rows
    assert holdout_dates(big, 0.15, 0.15, 80_000) == 2
    assert holdout_dates(big, 0.15, 0.5, 80_000) == 6      # 6 months left: 114k >= 80k
    assert holdout_dates(big, 0.15, 0.9, 80_000) == 7      # 5 months left: 95k; 4 would be 76k
    small = np.repeat(np.arange(12), 2_800)         # training never reaches 80k: the minimum
    assert holdout_dates(small, 0.15, 0.5, 80_000) == 2
    assert holdout_dates(np.repeat(np.arange(2), 10), 0.5, 0.9, 1) == 1   # one date left to train
    assert holdout_dates(np.zeros(5), 0.15, 0.5, 1) == 0   # a single snapshot: no time split


def test_valuation_and_placement_price_a_plan_with_the_same_expected_net():
    """The valuation's model expectation of a plan (sources.money) is placement's expected net of
    the same (account, queue) (build_problem, in cents): one formula, `assign.expected`. Per row
    within the half cent placement rounds to; not worked = p_repay x collectable."""
    from collections_engine.assign.model_data import build_problem
    from collections_engine.scoring.data import NO_ACTION
    from tests.assign_builders import DATE, make_inputs, make_strategy

    rng = np.random.default_rng(3)
    n = 300
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.uniform(0, 1, n),
                      np.round(rng.lognormal(6, 1.2, n), 2), list(range(n)), [""] * n, [0] * n)
    inp = inp.sort_values("account_id", kind="mergesort").reset_index(drop=True)  # the problem's row order
    s = make_strategy((50, 50, 50))
    pb = build_problem(inp, s, DATE)
    choice = np.array([rng.choice(np.flatnonzero(pb.elig[i])) if rng.random() < 0.8 else -1 for i in range(n)])
    plan = np.array([pb.queues[j] if j >= 0 else NO_ACTION for j in choice], dtype=object)
    value = plan_values(inp, plan, inp["p_repay"].to_numpy(), s, np.zeros(n, bool))
    cents = np.where(choice >= 0, pb.recovery[np.arange(n), np.maximum(choice, 0)] - pb.cost[np.maximum(choice, 0)],
                     pb.nw)
    assert len(set(plan)) == 4 and np.abs(value * 100 - cents).max() <= 0.5 + 1e-6
