"""Placement lifecycle, holds, fraud, bad input and determinism of decide()."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.assign import ASSIGNMENT_COLUMNS, build_decision_inputs, decide
from collections_engine.assign.check import check_plan
from tests.assign_builders import DATE, make_inputs, make_strategy

DECISIONS = {"kept", "placed", "assigned", "fraud_hold", "held", "not_worked"}


def _checked(d, inp, s):
    """Every plan made here passes the independent contract check."""
    assert check_plan(inp, d.assignments, s, DATE, placements=d.placements,
                      min_share_applied=d.min_share_applied) == []
    return d


def _one(d, acc):
    return d.assignments.set_index("account_id").loc[acc]


def test_contract_columns_and_every_account_once():
    inp = make_inputs(["M1", "M2", "M2"], [0.3, 0.2, 0.1], [1000.0, 2000.0, 500.0], [0, 1, 2], ["", "", ""], [0, 0, 0])
    s = make_strategy((1, 1, 1))
    d = _checked(decide(inp, s, DATE), inp, s)
    assert list(d.assignments.columns) == ASSIGNMENT_COLUMNS
    assert sorted(d.assignments["account_id"]) == ["A0", "A1", "A2"]
    assert set(d.assignments["decision"]) <= DECISIONS
    assert set(d.assignments["ended"]) <= {"", "recalled", "returned"}


def test_holds_fraud_and_recalls():
    s = make_strategy((5, 5, 5), fraud_cap=1)
    inp = make_inputs(["M2"] * 5, [0.5] * 5, [1000.0] * 5, [0, 1, 2, 3, 4], ["v2", "", "v1", "", ""], [30] * 5,
                      ring=["", "R1", "R1", "R2", ""], hold=["dispute", "", "", "", ""])
    inp.loc[2, "ring_score"] = 0.9
    inp.loc[1, "ring_score"] = 0.8
    inp.loc[3, "ring_score"] = 0.7
    d = _checked(decide(inp, s, DATE), inp, s)
    a0, a1, a2, a3 = (_one(d, f"A{i}") for i in range(4))
    assert (a0["decision"], a0["queue"], a0["ended"]) == ("held", "", "recalled")
    assert (a2["decision"], a2["queue"], a2["ended"]) == ("fraud_hold", "fraud_team", "recalled")  # top score
    for a in (a1, a3):  # fraud queue full: never with a vendor, team or channel
        assert (a["decision"], a["queue"]) == ("not_worked", "")
        assert "fraud queue full" in a["reason"]
    r = d.recalls.set_index("account_id")
    assert r.loc["A0", "vendor"] == "v2" and r.loc["A0", "reason"] == "hold:dispute"
    assert r.loc["A2", "vendor"] == "v1" and r.loc["A2", "reason"].startswith("fraud")
    assert set(d.placements["account_id"]) <= {"A4"}
    assert any("fraud" in w for w in d.warnings)


def test_placement_lifecycle_kept_returned_stage_recall():
    s = make_strategy((0, 1, 1))
    # A0 kept with v2 (M2, not expired); A1 expired -> returned and decided afresh;
    # A2 open with v2 but now M1 (v2 takes M2 only) -> recalled stage_not_accepted
    inp = make_inputs(["M2", "M2", "M1"], [0.3, 0.3, 0.3], [1000.0, 1000.0, 1000.0], [0, 1, 2],
                      ["v2", "v1", "v2"], [5, 0, 5])
    d = _checked(decide(inp, s, DATE), inp, s)
    a0, a1, a2 = (_one(d, f"A{i}") for i in range(3))
    assert (a0["decision"], a0["queue"], a0["previous_queue"]) == ("kept", "v2", "v2")
    assert a1["ended"] == "returned" and a1["decision"] in {"placed", "not_worked", "assigned"}
    assert a2["ended"] == "recalled" and a2["reason"].startswith("stage_not_accepted")
    pl = d.placements.set_index("account_id")
    assert pl.loc["A0", "ends_on"] == DATE + pd.Timedelta(days=5)  # kept keeps its end date
    new = pl.drop("A0")
    assert (new["placed_on"] == DATE).all()
    # capacity counts kept placements: v2 is full (1 kept), so nobody else goes to v2
    assert (d.assignments["queue"] == "v2").sum() == 1


def test_bad_input_is_a_warning_not_an_error():
    s = make_strategy((1, 1, 1), fraud_cap=0)
    # two kept placements with v2 whose capacity is 1; a vendor (v2 takes M2) no account is
    # eligible for among the free accounts; a fraud account with a fraud queue of capacity 0
    inp = make_inputs(["M2", "M2", "M1", "M1"], [0.3] * 4, [1000.0] * 4, [0, 1, 2, 3], ["v2", "v2", "", ""],
                      [10, 10, 0, 0], ring=["", "", "", "R9"])
    d = _checked(decide(inp, s, DATE), inp, s)
    text = " | ".join(d.warnings)
    assert "exceed its capacity" in text
    assert "fraud" in text
    a = d.assignments.set_index("account_id")
    assert (a.loc[["A0", "A1"], "decision"] == "kept").all()
    assert a.loc["A3", "decision"] == "not_worked" and "fraud" in a.loc["A3", "reason"]
    s2 = make_strategy((0, 0, 3), min_share=(0.0, 0.5))
    inp2 = make_inputs(["M1", "M1"], [0.3, 0.3], [1000.0, 1000.0], [0, 1], ["", ""], [0, 0])
    d2 = _checked(decide(inp2, s2, DATE), inp2, s2)
    assert any("'v2'" in w and "min_share" in w for w in d2.warnings)
    assert set(d2.assignments["reason"]) <= {"", "capacity_full", "no_positive_net", "no_queue_for_stage"}
    assert d.recalls.empty


def test_deterministic_and_order_free():
    rng = np.random.default_rng(5)
    n = 300
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.uniform(0.05, 0.8, n),
                      rng.integers(100, 5000, n).astype(float), list(rng.integers(0, 200, n)),
                      [""] * n, [0] * n)
    s = make_strategy((30, 40, 30), min_share=(0.3, 0.2), max_balance=(50000.0, None), together=(True, False))
    d1 = _checked(decide(inp, s, DATE), inp, s)
    d2 = _checked(decide(inp.sample(frac=1.0, random_state=1), s, DATE), inp, s)
    pd.testing.assert_frame_equal(d1.assignments, d2.assignments)
    pd.testing.assert_frame_equal(d1.placements, d2.placements)


def test_build_decision_inputs_joins():
    tonight = pd.DataFrame({"snapshot_date": DATE, "account_id": ["a1", "a2", "a3"], "customer_id": ["c1", "c2", "c3"],
                            "product": "card", "open_date": DATE, "dpd": [5, 45, 0],
                            "overdue_amount": [100.0, 200.0, 0.0], "balance": [1000.0, 2000.0, 10.0],
                            "credit_limit": np.nan})
    scores = pd.DataFrame({"account_id": ["a1", "a2"], "p_repay": [0.4, 0.2], "points": [610.0, 580.0],
                           "band": ["B", "C"]})
    holds = pd.DataFrame({"account_id": ["a2", "a2", "a1"], "hold": ["dispute", "legal", "dispute"],
                          "start": [DATE - pd.Timedelta(days=3)] * 2 + [DATE - pd.Timedelta(days=9)],
                          "end": [pd.NaT, pd.NaT, DATE - pd.Timedelta(days=1)]})
    fraud = pd.DataFrame({"customer_id": ["c1"], "ring_id": ["R1"], "ring_score": [0.7], "confirmed": [False]})
    op = pd.DataFrame({"account_id": ["a1"], "vendor": ["v1"], "placed_on": [DATE - pd.Timedelta(days=2)],
                       "ends_on": [DATE + pd.Timedelta(days=20)]})
    s = make_strategy((1, 1, 1))
    x = build_decision_inputs(tonight, scores, s, DATE, holds=holds, fraud=fraud, open_placements=op)
    assert list(x["account_id"]) == ["a1", "a2"]  # dpd 0 is not delinquent
    assert list(x["stage"]) == ["M1", "M2"]
    assert list(x["hold"]) == ["", "legal"]       # a1's hold ended; legal wins over dispute
    assert x.loc[0, "ring_id"] == "R1" and x.loc[0, "open_vendor"] == "v1"
    assert list(x["collectable"]) == [100.0, 200.0]
    d = _checked(decide(x, s, DATE), x, s)  # decide runs from the inputs alone
    assert set(d.assignments["account_id"]) == {"a1", "a2"}
