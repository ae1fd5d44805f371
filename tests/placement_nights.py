"""Placement nights built to bind: three vendors with min shares, a balance cap, customer
grouping, capacities scaled to the book, open placements (kept, expired, stage recalls), holds
and fraud. Shared by the plan-check tests and the placement benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.config.strategy import Strategy

DATE = pd.Timestamp("2024-03-01")
STAGES = ["M1", "M2", "M3", "M4+"]
DPD = {"M1": 10, "M2": 40, "M3": 70, "M4+": 120}


def binding_strategy(n: int, *, shares=(0.3, 0.25, 0.2), cap_scale: float = 1.0, balance_frac: float = 0.5,
                     together=(True, True, False), one_collector: bool | None = None,
                     mean_amount: float = 3000.0) -> Strategy:
    """Capacities as fractions of a night of n accounts (x cap_scale); vendor_a's max_balance
    holds balance_frac of what its capacity would hold at the mean amount."""
    c = lambda f: max(1, int(round(f * n * cap_scale)))  # noqa: E731
    doc = {
        "name": "binding", "stages": [{"name": "M1", "dpd_min": 1, "dpd_max": 30},
                                      {"name": "M2", "dpd_min": 31, "dpd_max": 60},
                                      {"name": "M3", "dpd_min": 61, "dpd_max": 90}, {"name": "M4+", "dpd_min": 91}],
        "new_customer": {"max_account_age_months": 6}, "outcome": {"horizon_days": 30},
        "score": {"bands": [{"name": "A"}]}, "recall_on": ["stage_not_accepted"],
        "queues": [
            {"name": "early_team", "kind": "inhouse", "stages": ["M1", "M2"], "capacity": c(0.10),
             "cost_per_account": 15, "effect": {"M1": 1.3, "M2": 1.4}},
            {"name": "late_team", "kind": "inhouse", "stages": ["M3", "M4+"], "capacity": c(0.04),
             "cost_per_account": 40, "effect": {"M3": 1.6, "M4+": 1.5}},
            {"name": "vendor_a", "kind": "vendor", "stages": ["M2", "M3", "M4+"], "capacity": c(0.08),
             "cost_per_account": 0, "commission": 0.25, "placement_days": 90, "min_share": shares[0],
             "max_balance": float(round(balance_frac * c(0.08) * mean_amount, 2)),
             "keep_customer_together": together[0], "effect": {"M2": 1.2, "M3": 1.5, "M4+": 1.4},
             "file_fields": ["account_id"]},
            {"name": "vendor_b", "kind": "vendor", "stages": ["M3", "M4+"], "capacity": c(0.06),
             "cost_per_account": 0, "commission": 0.30, "placement_days": 60, "min_share": shares[1],
             "keep_customer_together": together[1], "effect": {"M3": 1.4, "M4+": 1.5},
             "file_fields": ["account_id"]},
            {"name": "vendor_c", "kind": "vendor", "stages": ["M2", "M3"], "capacity": c(0.05),
             "cost_per_account": 5, "commission": 0.20, "placement_days": 30, "min_share": shares[2],
             "keep_customer_together": together[2], "effect": {"M2": 1.25, "M3": 1.3},
             "file_fields": ["account_id"]},
            {"name": "sms", "kind": "channel", "stages": ["M1"], "capacity": c(1.0), "cost_per_account": 0.05,
             "effect": {"M1": 1.1}},
            {"name": "legal", "kind": "legal", "stages": ["M4+"], "capacity": c(0.01), "cost_per_account": 300,
             "effect": {"M4+": 1.8}},
            {"name": "fraud_team", "kind": "fraud", "capacity": c(0.002)},
        ]}
    if one_collector is not None:
        doc["one_collector_per_customer"] = one_collector
    return Strategy.model_validate(doc)


def binding_inputs(n: int, seed: int, *, open_frac: float = 0.06, hold_frac: float = 0.01,
                   ring_frac: float = 0.005, accounts_per_customer: float = 1.4,
                   date: pd.Timestamp = DATE) -> pd.DataFrame:
    """Decision inputs of a night of n delinquent accounts (the columns `decide` reads)."""
    rng = np.random.default_rng(seed)
    stage = rng.choice(STAGES, n, p=[0.45, 0.2, 0.15, 0.2])
    amount = np.round(rng.lognormal(7.6, 1.0, n), 2)
    cust = rng.integers(0, max(1, int(n / accounts_per_customer)), n)
    ov = np.where(rng.random(n) < open_frac, rng.choice(["vendor_a", "vendor_b", "vendor_c", "gone"], n,
                                                         p=[0.4, 0.3, 0.25, 0.05]), "")
    ends = date + pd.to_timedelta(rng.integers(-10, 60, n), unit="D")
    hold = np.where(rng.random(n) < hold_frac, rng.choice(["dispute", "legal", "deceased"], n), "")
    ring = np.where(rng.random(n) < ring_frac, np.char.add("R", rng.integers(0, 20, n).astype(str)), "")
    has = ov != ""
    return pd.DataFrame({
        "snapshot_date": date, "account_id": [f"A{i:07d}" for i in range(n)],
        "customer_id": [f"C{c:07d}" for c in cust], "stage": stage, "dpd": [DPD[s] for s in stage],
        "p_repay": rng.beta(2, 3, n), "points": 600.0, "band": "A", "overdue_amount": amount,
        "balance": amount * 3, "collectable": amount, "hold": hold, "ring_id": ring,
        "ring_score": np.where(ring != "", rng.random(n), np.nan),
        "fraud_confirmed": rng.random(n) < ring_frac / 4,
        "open_vendor": ov, "placed_on": pd.Series(date - pd.Timedelta(days=20), index=range(n)).where(has),
        "ends_on": pd.Series(ends).where(has)})
