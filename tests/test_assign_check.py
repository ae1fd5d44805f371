"""The independent plan check: it accepts the engine's plans and names every way a broken one
breaks the contract (each mutation below must be caught, so each test can fail)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.assign import decide
from collections_engine.assign.check import PlanError, check_plan
from tests import plan_check_reference as reference
from tests.placement_nights import DATE, binding_inputs, binding_strategy

N = 3000


@pytest.fixture(scope="module")
def night():
    inp = binding_inputs(N, 11)
    s = binding_strategy(N, shares=(0.2, 0.15, 0.1), cap_scale=1.0, balance_frac=0.8)
    d = decide(inp, s, DATE)
    return inp, s, d


def _check(night, a=None, pl=None, applied=None):
    inp, s, d = night
    return check_plan(inp, d.assignments if a is None else a, s, DATE,
                      placements=d.placements if pl is None else pl,
                      min_share_applied=d.min_share_applied if applied is None else applied)


def _set(a: pd.DataFrame, rows, **cols) -> pd.DataFrame:
    a = a.copy()
    for k, v in cols.items():
        a.loc[rows, k] = v
    return a


def test_engine_plan_passes(night):
    assert _check(night) == []


def test_structure(night):
    a = night[2].assignments
    assert any("more than once" in v for v in _check(night, pd.concat([a, a.iloc[:1]])))
    assert any("no row" in v for v in _check(night, a.iloc[1:]))
    assert any("not in the strategy" in v for v in _check(night, _set(a, a.index[:1], queue="nowhere")))


def test_holds_and_fraud_are_never_skipped(night):
    inp, s, d = night
    a = d.assignments
    held = a.index[(inp.set_index("account_id").loc[a["account_id"], "hold"].to_numpy() == "dispute")]
    assert len(held)
    v = _check(night, _set(a, held[:1], queue="early_team", decision="assigned"))
    assert any(x.startswith("hold:") for x in v)
    fr = a.index[a["decision"] == "fraud_hold"]
    assert len(fr)
    v = _check(night, _set(a, fr[:1], queue="sms", decision="assigned"))
    assert any(x.startswith("fraud:") for x in v)
    # the fraud queue takes confirmed and higher ring scores first
    over = a.index[(a["decision"] == "not_worked") & a["reason"].str.startswith("fraud")]
    if len(over):
        swapped = _set(_set(a, fr[:1], queue="", decision="not_worked"), over[-1:], queue="fraud_team",
                       decision="fraud_hold")
        assert any("lower-priority" in x for x in _check(night, swapped))


def test_capacity_balance_share_grouping(night):
    inp, s, d = night
    a = d.assignments
    nw = a.index[(a["decision"] == "not_worked") & a["stage"].isin(["M3", "M4+"]) & (a["reason"] == "capacity_full")]
    assert len(nw) > 10
    # capacity: one more account in the full late team
    late = s.queue("late_team")
    assert (a["queue"] == "late_team").sum() == late.capacity
    assert any(v.startswith("capacity: queue 'late_team'") for v in _check(night, _set(a, nw[:1], queue="late_team",
                                                                                           decision="assigned")))
    # max_balance: the biggest unworked accounts to vendor_a
    amt = inp.set_index("account_id")["collectable"]
    big = a.loc[nw].assign(x=amt.loc[a.loc[nw, "account_id"]].to_numpy()).sort_values("x").index[-50:]
    assert any(v.startswith("max_balance: vendor 'vendor_a'") for v in
               _check(night, _set(a, big, queue="vendor_a", decision="placed")))
    # min_share: vendor_c's new placements taken away
    c = a.index[(a["queue"] == "vendor_c") & (a["decision"] == "placed")]
    assert len(c)
    v = _check(night, _set(a, c, queue="", decision="not_worked"))
    assert any(x.startswith("min_share: vendor 'vendor_c'") for x in v)
    # ... accepted when the engine named that share as relaxed to 0
    assert not any(x.startswith("min_share: vendor 'vendor_c'")
                   for x in _check(night, _set(a, c, queue="", decision="not_worked"), applied={"vendor_c": 0.0}))
    # grouping: a customer placed with vendor_a gets a second account at vendor_b
    pv = a[a["decision"].isin(["placed", "kept"]) & (a["queue"] == "vendor_a")]
    other = a[(a["customer_id"].isin(pv["customer_id"])) & (a["decision"] == "not_worked")
              & a["stage"].isin(["M3", "M4+"]) & (a["reason"] == "capacity_full")]
    assert len(other)
    v = _check(night, _set(a, other.index[:1], queue="vendor_b", decision="placed"))
    assert any(x.startswith("keep_customer_together") for x in v)


def test_stage_and_open_placements(night):
    inp, s, d = night
    a = d.assignments
    m1 = a.index[a["queue"] == "sms"]
    assert any(v.startswith("stage:") for v in _check(night, _set(a, m1[:1], queue="late_team", decision="assigned")))
    kept = a.index[a["decision"] == "kept"]
    assert len(kept)
    v = _check(night, _set(a, kept[:1], queue="", decision="not_worked"))
    assert any("not kept with their vendor" in x for x in v)
    rec = a.index[a["ended"] == "recalled"]
    assert len(rec)
    assert any(x.startswith("recall:") or x.startswith("ended:") for x in _check(night, _set(a, rec[:1], ended="")))
    # open placements after tonight must be the kept and placed rows with their dates
    pl = d.placements.copy()
    pl.loc[pl.index[:1], "ends_on"] = pl["ends_on"].iloc[0] + pd.Timedelta(days=1)
    assert any(x.startswith("placements:") for x in _check(night, pl=pl))
    assert any(x.startswith("placements:") for x in _check(night, pl=d.placements.iloc[1:]))


def test_decide_refuses_a_broken_plan(monkeypatch):
    """A plan that fails the check is a bug: decide raises (the CLI exits 1, nothing written)."""
    import importlib
    dm = importlib.import_module("collections_engine.assign.decide")
    inp = binding_inputs(400, 3)
    s = binding_strategy(400)
    real = dm.solve

    def broken(pb, **kw):
        sol = real(pb, **kw)
        sol.choice[pb.free & pb.elig[:, pb.queues.index("late_team")]] = pb.queues.index("late_team")
        return sol

    monkeypatch.setattr(dm, "solve", broken)
    with pytest.raises(PlanError, match="capacity: queue 'late_team'"):
        decide(inp, s, DATE)
    assert decide(inp, s, DATE, check=False) is not None


def test_both_peers_keep_the_contract_and_never_beat_the_engine():
    from collections_engine.assign.greedy import greedy_net_plan, greedy_plan
    for n, shares in ((3000, (0.2, 0.15, 0.1)), (3000, (0.35, 0.25, 0.15))):
        inp = binding_inputs(n, 2)
        s = binding_strategy(n, shares=shares)
        d = decide(inp, s, DATE, shadow=False)
        for plan in (greedy_plan(inp, s, DATE), greedy_net_plan(inp, s, DATE)):
            assert check_plan(inp, plan.assignments, s, DATE, placements=plan.placements,
                              min_share_applied=plan.min_share_applied) == []
            slack = d.solver["bound"] - d.solver["objective"]
            assert plan.assignments["expected_net"].sum() <= d.assignments["expected_net"].sum() + slack + 1e-6


def _rules(problems: list[str]) -> list[str]:
    """The violations without their example ids (the two versions may pick other examples)."""
    return sorted(re.sub(r"\(e\.g\. [^)]*\)|e\.g\. customers [^)]*\)", "", p) for p in problems)


VALUES = {"queue": ["", "early_team", "late_team", "vendor_a", "vendor_b", "vendor_c", "sms", "legal",
                    "fraud_team", "nowhere"],
          "decision": ["kept", "placed", "assigned", "fraud_hold", "held", "not_worked", "lost"],
          "ended": ["", "recalled", "returned", "vanished"],
          "previous_queue": ["", "vendor_a", "vendor_b", "gone"]}


@settings(max_examples=30)
@given(edits=st.lists(st.tuples(st.sampled_from(sorted(VALUES)), st.integers(0, 10**6), st.integers(0, 9)),
                      max_size=6),
       rows_from=st.sampled_from(["any", "worked", "open"]), structure=st.sampled_from(["", "dup", "drop", "extra"]),
       pl_edit=st.sampled_from(["", "drop", "vendor", "ends_on", "placed_on", "dup"]))
def test_check_names_the_same_rules_as_the_reference(night, edits, rows_from, structure, pl_edit):
    """The fast check (integer codes) against its first version (pandas string merges, kept in
    tests/plan_check_reference.py) on randomly broken plans: the same broken rules, the same counts."""
    inp, s, d = night
    a = d.assignments.copy()
    pool = {"any": a.index, "worked": a.index[a["queue"] != ""], "open": a.index[a["previous_queue"] != ""]}[rows_from]
    for col, r, v in edits:
        a.loc[pool[r % len(pool)], col] = VALUES[col][v % len(VALUES[col])]
    if structure == "dup":
        a = pd.concat([a, a.iloc[[5, 9]]], ignore_index=True)
    elif structure == "drop":
        a = a.drop(a.index[[3, 4]]).reset_index(drop=True)
    elif structure == "extra":
        a = pd.concat([a, a.iloc[:1].assign(account_id="Z0000000")], ignore_index=True)
    pl = d.placements.copy()
    if pl_edit == "drop":
        pl = pl.iloc[1:]
    elif pl_edit == "vendor":
        pl.loc[pl.index[:2], "vendor"] = "vendor_c"
    elif pl_edit in ("ends_on", "placed_on"):
        pl.loc[pl.index[-3:], pl_edit] = pl[pl_edit].iloc[-3:] + pd.Timedelta(days=2)
    elif pl_edit == "dup":
        pl = pd.concat([pl, pl.iloc[:1]], ignore_index=True)
    kw = {"placements": pl, "min_share_applied": d.min_share_applied}
    fast = check_plan(inp, a, s, DATE, **kw)
    slow = reference.check_plan(inp, a, s, DATE, **kw)
    assert _rules(fast) == _rules(slow)
    if not (edits or structure or pl_edit):
        assert fast == []

