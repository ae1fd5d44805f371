"""Effects from the engine's logged history (experiments/estimate.py): inverse-propensity and
doubly robust estimates against a planted truth, the existing estimator and their intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.assign.effects import estimate_effects
from collections_engine.config import load_strategy
from collections_engine.experiments.estimate import logged_effects
from tests.pipeline_helpers import ROOT

LIFT = {"early_team": 0.8, "sms": 0.3}   # log-odds lift per queue (M1)


def _history(n: int, seed: int, explore: float = 0.1) -> tuple[pd.DataFrame, dict[str, float]]:
    """A confounded engine with epsilon-greedy exploration over three options on M1: the
    optimiser sends good payers (high score) to the team, the rest to sms, nobody to not worked;
    exploration draws one of the three uniformly. Returns the rows and the true effects on them
    (mean p under the queue / mean p not worked)."""
    rng = np.random.default_rng(seed)
    score_logit = rng.normal(-0.5, 1.2, n)
    amount = rng.lognormal(7, 1, n)
    base = score_logit + 0.3 * rng.normal(size=n)
    plan = np.where(score_logit > 0, 0, 1)                      # 0 team, 1 sms, 2 not worked
    explorer = rng.random(n) < explore
    pick = rng.integers(0, 3, n)
    got = np.where(explorer, pick, plan)
    names = np.array(["early_team", "sms", "not_worked"])
    prop = (1 - explore) * (plan == got) + explore / 3
    lift = np.array([LIFT["early_team"], LIFT["sms"], 0.0])
    p = 1 / (1 + np.exp(-(base[:, None] + lift[None, :])))     # [n, 3]
    y = (rng.random(n) < p[np.arange(n), got]).astype(int)
    rows = pd.DataFrame({"account_id": [f"A{i:07d}" for i in range(n)], "stage": "M1", "queue": names[got],
                         "propensity": prop, "repaid": y, "score": 1 / (1 + np.exp(-score_logit)),
                         "amount": amount})
    truth = {q: float(p[:, j].mean() / p[:, 2].mean()) for j, q in enumerate(names[:2])}
    return rows, truth


def test_ipw_matches_the_existing_estimator_when_each_row_is_its_own_customer():
    """The Hajek IPW point estimate and (one row per cluster) its delta-method interval are the
    placement section's `estimate_effects` on the same rows."""
    rows, _ = _history(6000, 1)
    got = logged_effects(rows, methods=("ipw",)).set_index("queue")
    strategy = load_strategy(ROOT / "strategies" / "default.yaml")
    h = rows.assign(snapshot_date=pd.Timestamp("2026-01-05"))
    old = estimate_effects(h[["account_id", "snapshot_date", "queue", "propensity"]],
                           h[["account_id", "snapshot_date", "repaid"]],
                           h[["account_id", "snapshot_date", "stage"]], strategy).set_index("queue")
    for q in ("early_team", "sms"):
        for c in ("effect", "ci_low", "ci_high", "repay_rate", "control_rate"):
            assert got.loc[q, c] == pytest.approx(old.loc[q, c], rel=1e-3), (q, c)


def test_ipw_and_dr_recover_the_planted_effect_where_the_naive_rate_does_not():
    rows, truth = _history(40000, 2)
    e = logged_effects(rows).set_index(["method", "queue"])
    naive = rows.groupby("queue")["repaid"].mean()
    for q, t in truth.items():
        # what an engine learns from its own decisions weighted 1: far off (confounded)
        assert abs(np.log(naive[q] / naive["not_worked"] / t)) > 0.2
        for m in ("ipw", "dr"):
            assert e.loc[(m, q), "ci_low"] <= t <= e.loc[(m, q), "ci_high"], (m, q, t, e.loc[(m, q)])
        # the outcome model (score, amount) predicts: the doubly robust interval is narrower
        w_ipw = np.log(e.loc[("ipw", q), "ci_high"] / e.loc[("ipw", q), "ci_low"])
        w_dr = np.log(e.loc[("dr", q), "ci_high"] / e.loc[("dr", q), "ci_low"])
        assert w_dr < w_ipw, (q, w_dr, w_ipw)


def test_intervals_cover_about_95_percent():
    """Over 120 independent histories, each method's 95% interval covers the truth of its own
    history in 0.88-0.99 of them (binomial sd of the rate: 0.02)."""
    hits = {"ipw": 0, "dr": 0}
    cells = 0
    for seed in range(60):
        rows, truth = _history(4000, 100 + seed)
        e = logged_effects(rows).set_index(["method", "queue"])
        for q, t in truth.items():
            cells += 1
            for m in hits:
                hits[m] += bool(e.loc[(m, q), "ci_low"] <= t <= e.loc[(m, q), "ci_high"])
    for m, h in hits.items():
        assert 0.88 <= h / cells <= 0.99, (m, h, cells)


def test_dr_survives_a_wrong_outcome_model_and_clusters_repeat_accounts():
    """Scores that carry no signal (the outcome model learns nothing): DR is then IPW with
    constant predictions and still covers. An account seen on several nights is one cluster:
    its rows repeated three times give the same point estimate and the same interval (no new
    information), where counting the copies as other customers would narrow it by sqrt(3)."""
    rows, truth = _history(20000, 3)
    flat = rows.assign(score=0.5, amount=1.0)
    e = logged_effects(flat).set_index(["method", "queue"])
    for q, t in truth.items():
        assert e.loc[("dr", q), "effect"] == pytest.approx(e.loc[("ipw", q), "effect"], rel=1e-9)
        assert e.loc[("dr", q), "ci_low"] <= t <= e.loc[("dr", q), "ci_high"]
    once = logged_effects(rows, methods=("ipw",)).set_index("queue")
    copies = pd.concat([rows] * 3, ignore_index=True)
    thrice = logged_effects(copies, methods=("ipw",)).set_index("queue")
    apart = logged_effects(copies.assign(customer_id=[f"C{i}" for i in range(len(copies))]),
                           methods=("ipw",)).set_index("queue")
    for q in truth:
        assert thrice.loc[q, "effect"] == pytest.approx(once.loc[q, "effect"])
        w1, w3, wa = (np.log(f.loc[q, "ci_high"] / f.loc[q, "effect"]) for f in (once, thrice, apart))
        assert w3 == pytest.approx(w1, rel=1e-6) and wa == pytest.approx(w1 / np.sqrt(3), rel=1e-6)


@settings(max_examples=15)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=60, max_value=400),
       st.floats(min_value=0.02, max_value=0.5))
def test_rows_that_were_not_randomised_are_left_out(seed, n, explore):
    """Rows logged with propensity 1 (kept, held, customers with several accounts) or without
    one never enter: adding them changes nothing; `explored` counts rows below 0.5."""
    rows, _ = _history(n, seed, explore)
    base = logged_effects(rows)
    fixed = rows.sample(frac=0.5, random_state=seed).assign(propensity=1.0, repaid=1)
    missing = rows.head(5).assign(propensity=np.nan, repaid=0)
    more = logged_effects(pd.concat([rows, fixed, missing], ignore_index=True))
    pd.testing.assert_frame_equal(base, more)
    r = rows[(rows["propensity"] < 1)]
    for row in base.itertuples():
        want = int(((r["queue"] == row.queue) & (r["propensity"] < 0.5)).sum())
        assert row.explored == want


def test_a_queue_excluded_from_exploration_is_not_estimable_and_says_why():
    """The team is never explored (only the solver's choice, logged 1 - explore): its rows are
    whom the engine chose, so the weighted rate is confounded (off by more than e^0.2 here).
    Named in `excluded`, its cells carry no estimate, are not estimable and say "excluded from
    exploration"; the other cells are unchanged; a cell with too few explored rows says that."""
    from collections_engine.experiments.estimate import EXCLUDED

    rows, truth = _history(40000, 4)
    team_explored = (rows["queue"] == "early_team") & (rows["propensity"] < 0.5)
    # the same history as if exploration never drew the team: its explorers' draws removed
    rows = rows[~team_explored].reset_index(drop=True)
    rows.loc[rows["queue"] == "early_team", "propensity"] = 0.9
    plain = logged_effects(rows).set_index(["method", "queue"])
    assert abs(np.log(plain.loc[("ipw", "early_team"), "effect"] / truth["early_team"])) > 0.2
    e = logged_effects(rows, excluded={"early_team"}).set_index(["method", "queue"])
    for m in ("ipw", "dr"):
        team = e.loc[(m, "early_team")]
        assert not team["estimable"] and team["reason"] == EXCLUDED
        assert np.isnan(team["effect"]) and np.isnan(team["ci_low"]) and np.isnan(team["ci_high"])
        assert team["n"] == plain.loc[(m, "early_team"), "n"]
        pd.testing.assert_series_equal(e.loc[(m, "sms")], plain.loc[(m, "sms")])
        assert e.loc[(m, "sms"), "estimable"] and e.loc[(m, "sms"), "reason"] == ""
    few = logged_effects(rows.iloc[:600]).set_index(["method", "queue"])
    assert not few.loc[("dr", "early_team"), "estimable"]
    assert few.loc[("dr", "early_team"), "reason"].startswith("too little exploration: 0 explored rows")
