"""Champion/challenger nights: arms and propensities logged, exploration's propensities
against the draw and against Horvitz-Thompson counts, the fraud queue split by rank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from collections_engine.assign import decide
from collections_engine.assign.experiments import decide_night
from collections_engine.config import load_strategy
from collections_engine.config.experiments import arm_strategies
from collections_engine.pipeline import RunRequest, run_night
from tests.experiment_builders import experiment_night, write
from tests.pipeline_helpers import BOOK, GRAPH, data_digest


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The fixture night run under a test (`experiment_builders.experiment_night`, built once)."""
    return experiment_night(tmp_path_factory)


def test_nights_under_a_test_log_arms_and_propensities(night):
    runs, (n1, n2) = night["runs"], night["nights"][:2]
    a1 = pd.read_parquet(runs / n1 / "assignments.parquet")
    a2 = pd.read_parquet(runs / n2 / "assignments.parquet")
    for a in (a1, a2):
        assert set(a["arm"]) == {"champion", "north_m3", "lean"}
        assert a["propensity"].between(0, 1, inclusive="right").all()
        assert (a.loc[a["decision"].isin(["kept", "held", "fraud_hold"]), "propensity"] == 1).all()
        assert (a["reason"] == "explore").sum() > 0
    # an account kept under a vendor keeps its arm
    k = a2[a2["decision"] == "kept"].merge(a1[["account_id", "arm"]], on="account_id", suffixes=("", "_1"))
    assert len(k) and (k["arm"] == k["arm_1"]).all()
    # the whole night again into another folder: the same bytes
    run_night(RunRequest(data=BOOK, date=n1, strategy=night["exp"], graph=GRAPH, models=night["models"],
                         runs=night["tmp"] / "again"))
    assert data_digest(night["tmp"] / "again" / n1) == data_digest(runs / n1)

def test_no_experiment_is_decide_with_champion_columns(night):
    s = load_strategy(night["short"])
    date = night["nights"][0]
    plain = decide(night["inputs"], s, date)
    d = decide_night(night["inputs"], s, date)
    pd.testing.assert_frame_equal(d.assignments.drop(columns=["arm", "propensity"]), plain.assignments)
    assert (d.assignments["arm"] == "champion").all() and (d.assignments["propensity"] == 1).all()

@pytest.mark.slow
def test_exploration_propensities_are_honest(night):
    """With exact epsilon-greedy propensities, sum over explorable accounts of [queue = q] / p
    estimates the number of accounts that had q as an option (here q = not worked: all of them)."""
    doc = yaml.safe_load(night["short"].read_text())
    doc["experiments"] = {"explore": 0.3, "seed": 11, "arms": []}
    s = write(night["tmp"] / "explore.yaml", doc)
    strat = load_strategy(s)
    date = night["nights"][0]
    d = decide_night(night["inputs"], strat, date, arms=arm_strategies(strat, s, load_strategy))
    a = d.assignments
    explorable = a["propensity"] < 1
    ex = a["reason"].str.startswith("explore")
    n = int(explorable.sum())
    assert n > 500 and abs(ex.sum() / n - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    nw = explorable & (a["queue"] == "")
    w = 1 / a.loc[nw, "propensity"]
    est = float(w.sum())
    sd = float(np.sqrt(((w ** 2) * (1 - a.loc[nw, "propensity"])).sum()))
    assert abs(est - n) < 4 * sd + 1e-9, (est, n, sd)
    # explorers were placed within every capacity: decide_night checked the combined plan
    assert d.solver["experiments"]["arms"]["champion"]["explorers"] == int(ex.sum())

def test_propensities_count_explorers_sent_back_by_a_full_queue(night):
    """Half the free accounts explore into queues far too small for them: most explorers who
    draw a vendor or the early team find it full and are not worked. The logged probability of
    not worked must include that chance, or the control's inverse-propensity weights count the
    explorable accounts about twice (the old propensity: sum 4,982 for 2,544 accounts)."""
    doc = yaml.safe_load(night["short"].read_text())
    for q in doc["queues"]:
        if q["name"] == "early_team":
            q["capacity"] = 40
        if q["kind"] == "vendor":
            q["capacity"] = 30
    doc["experiments"] = {"explore": 0.5, "seed": 1, "arms": []}
    s = write(night["tmp"] / "overflow.yaml", doc)
    strat = load_strategy(s)
    d = decide_night(night["inputs"], strat, night["nights"][0], arms=arm_strategies(strat, s, load_strategy))
    a = d.assignments
    assert any("drawn queue was full" in w for w in d.warnings)
    explorable = a["propensity"] < 1
    n = int(explorable.sum())
    nw = explorable & (a["queue"] == "")
    p = a.loc[nw, "propensity"]
    est, sd = float((1 / p).sum()), float(np.sqrt(((1 - p) / p ** 2).sum()))
    assert n > 1000 and abs(est - n) < 4 * sd, (est, n, sd)

def test_propensities_against_the_draw_written_out():
    """`propensities` against the epsilon-greedy draw written out case by case."""
    from collections_engine.assign.experiments import propensities
    rng = np.random.default_rng(3)
    n, q, e = 300, 4, 0.2
    opts = rng.random((n, q)) < 0.6
    overflow = np.array([0.0, 0.5, 0.25, 1.0])
    taken = rng.integers(-1, q, n)
    plan = np.where(rng.random(n) < 0.5, taken, rng.integers(-1, q, n))
    explorable = rng.random(n) < 0.8
    got = propensities(e, opts, explorable, taken, plan, overflow)
    for i in range(n):
        k = opts[i].sum() + 1
        if not explorable[i]:
            want = 1.0
        elif taken[i] == -1:
            want = (1 - e) * (plan[i] == -1) + e / k * (1 + sum(overflow[j] for j in range(q) if opts[i, j]))
        else:
            want = (1 - e) * (plan[i] == taken[i]) + (e / k * (1 - overflow[taken[i]]) if opts[i, taken[i]] else 0.0)
        assert got[i] == pytest.approx(want), i

def test_fraud_queue_split_by_rank_passes_the_combined_check(night):
    """More fraud candidates than the fraud queue holds, spread over the arms: each arm's share
    is its candidates among the night's top `capacity` (confirmed, ring score), so no arm leaves
    a confirmed account unworked while another takes a lower-scored ring member."""
    doc = yaml.safe_load(night["short"].read_text())
    for q in doc["queues"]:
        if q["kind"] == "fraud":
            q["capacity"] = 25
    doc["experiments"] = {"seed": 3, "arms": [
        {"name": "a", "overrides": {"sms": {"cost_per_account": 0.1}}, "share": {s: 0.3 for s in ("M1", "M2", "M3")}},
        {"name": "b", "overrides": {"sms": {"cost_per_account": 0.2}}, "share": {s: 0.3 for s in ("M1", "M2", "M3")}}]}
    path = write(night["tmp"] / "fraud_split.yaml", doc)
    strat = load_strategy(path)
    df = night["inputs"].copy()
    free = np.flatnonzero((df["hold"].fillna("") == "").to_numpy())
    rng = np.random.default_rng(5)
    pick = rng.choice(free, 120, replace=False)
    conf = pick[:10]
    ring = pick[10:]
    df.loc[df.index[conf], "fraud_confirmed"] = True
    df.loc[df.index[ring], "ring_id"] = "R1"
    df.loc[df.index[ring], "ring_score"] = rng.uniform(0.1, 0.9, len(ring))
    d = decide_night(df, strat, night["nights"][0], arms=arm_strategies(strat, path, load_strategy))
    a = d.assignments.set_index("account_id")
    ids = df["account_id"].astype(str).to_numpy()
    # the obvious way: every candidate of the night ranked together, the first 25 held
    cand = df[(df["hold"].fillna("") == "") & (df["fraud_confirmed"].fillna(False).astype(bool)
                                               | (df["ring_id"].fillna("") != ""))]
    key = pd.DataFrame({"c": ~cand["fraud_confirmed"].fillna(False).astype(bool).to_numpy(),
                        "s": -cand["ring_score"].fillna(0.0).to_numpy(float),
                        "a": cand["account_id"].astype(str).to_numpy()})
    want = set(key.sort_values(["c", "s", "a"])["a"][:25])
    got = a.index[a["decision"] == "fraud_hold"]
    assert len(cand) > 100 and set(got) == want
    assert len(set(a.loc[ids[pick], "arm"])) == 3


def test_a_queue_never_explored_gets_no_explorer_and_honest_propensities(night):
    """`never_explore: [legal, agency_north]`: no explorer lands in agency_north (nor legal);
    the solver's agency_north accounts log 1 - explore (exploration never draws it); the
    not-worked rows still count the explorable accounts (Horvitz-Thompson, within 4 sd); the
    night's solver record names the excluded queues."""
    doc = yaml.safe_load(night["short"].read_text())
    e = 0.3
    doc["experiments"] = {"explore": e, "seed": 11, "arms": [], "never_explore": ["legal", "agency_north"]}
    s = write(night["tmp"] / "never_north.yaml", doc)
    strat = load_strategy(s)
    d = decide_night(night["inputs"], strat, night["nights"][0], arms=arm_strategies(strat, s, load_strategy))
    a = d.assignments
    ex = a["reason"].str.startswith("explore")
    explorable = a["propensity"] < 1
    assert ex.sum() > 300 and not (ex & a["queue"].isin(["agency_north", "legal"])).any()
    north = explorable & (a["queue"] == "agency_north")
    assert north.sum() > 0 and np.allclose(a.loc[north, "propensity"], 1 - e)
    assert (ex & a["queue"].str.startswith("agency_")).any()        # the other vendors are explored
    n = int(explorable.sum())
    p = a.loc[explorable & (a["queue"] == ""), "propensity"]
    est, sd = float((1 / p).sum()), float(np.sqrt(((1 - p) / p ** 2).sum()))
    assert abs(est - n) < 4 * sd, (est, n, sd)
    assert d.solver["experiments"]["never_explore"] == ["agency_north", "legal"]
