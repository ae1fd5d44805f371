"""Small placement problems for the assign tests: a two-stage strategy with a team, two vendors
and a fraud queue (`make_strategy`), and tonight's decision inputs (`make_inputs`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy

__all__ = ["DATE", "make_inputs", "make_strategy"]

DATE = pd.Timestamp("2024-03-01")


def make_strategy(caps, min_share=(0.0, 0.0), max_balance=(None, None), together=(False, False),
                  fraud_cap=1) -> Strategy:
    return Strategy.model_validate({
        "name": "t", "stages": [{"name": "M1", "dpd_min": 1, "dpd_max": 30}, {"name": "M2", "dpd_min": 31}],
        "new_customer": {"max_account_age_months": 6}, "outcome": {"horizon_days": 30},
        "score": {"bands": [{"name": "A"}]}, "recall_on": ["stage_not_accepted"],
        "queues": [
            {"name": "team", "kind": "inhouse", "stages": ["M1", "M2"], "capacity": caps[0],
             "cost_per_account": 15, "effect": {"M1": 1.3, "M2": 1.5}},
            {"name": "v1", "kind": "vendor", "stages": ["M1", "M2"], "capacity": caps[1], "cost_per_account": 2,
             "commission": 0.2, "placement_days": 30, "file_fields": ["account_id"], "effect": {"M1": 1.4, "M2": 1.6},
             "min_share": min_share[0], "max_balance": max_balance[0], "keep_customer_together": together[0]},
            {"name": "v2", "kind": "vendor", "stages": ["M2"], "capacity": caps[2], "cost_per_account": 0,
             "commission": 0.3, "placement_days": 60, "file_fields": ["account_id"], "effect": {"M2": 1.8},
             "min_share": min_share[1], "max_balance": max_balance[1], "keep_customer_together": together[1]},
            {"name": "fraud_team", "kind": "fraud", "capacity": fraud_cap},
        ]})


def make_inputs(stage, p, amount, cust, open_vendor, ends_in, ring=None, hold=None) -> pd.DataFrame:
    n = len(stage)
    ends = [DATE + pd.Timedelta(days=int(d)) if v else pd.NaT for v, d in zip(open_vendor, ends_in)]
    return pd.DataFrame({
        "snapshot_date": DATE, "account_id": [f"A{i}" for i in range(n)], "customer_id": [f"C{c}" for c in cust],
        "stage": stage, "dpd": [10 if s == "M1" else 40 for s in stage], "p_repay": p, "points": 600.0, "band": "A",
        "overdue_amount": amount, "balance": amount, "collectable": amount,
        "hold": hold or [""] * n, "ring_id": ring or [""] * n, "ring_score": np.nan, "fraud_confirmed": False,
        "open_vendor": open_vendor, "placed_on": [DATE - pd.Timedelta(days=10) if v else pd.NaT for v in open_vendor],
        "ends_on": pd.to_datetime(ends)})
