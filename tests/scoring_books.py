"""A small synthetic collections history with a planted signal, for the scoring tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.book import Book

QUEUES = {"M1": ["sms", "early_team"], "M2": ["early_team", "agency_north"],
          "M3": ["late_team", "agency_south"], "M4+": ["legal", "agency_east"]}


def _stage(dpd: np.ndarray) -> np.ndarray:
    return np.select([dpd <= 30, dpd <= 60, dpd <= 90], ["M1", "M2", "M3"], "M4+")


def synthetic_book(n_acc: int = 1500, n_snap: int = 4, seed: int = 0, drop_segment: str | None = None) -> Book:
    rng = np.random.default_rng(seed)
    snaps = pd.date_range("2025-06-30", periods=n_snap, freq="ME")
    acc = np.array([f"A{i:05d}" for i in range(n_acc)])
    cust = np.array([f"C{i // 2:05d}" for i in range(n_acc)])
    w = rng.normal(size=n_acc)                          # latent willingness
    age_days = np.where(rng.random(n_acc) < 0.3, rng.integers(20, 150, n_acc), rng.integers(250, 2500, n_acc))
    open_date = snaps[0] - pd.to_timedelta(age_days, "D")
    rows, outs, ph = [], [], []
    for k, d in enumerate(snaps):
        dpd = rng.choice([5, 20, 45, 75, 120], n_acc, p=[0.4, 0.2, 0.15, 0.1, 0.15]) + rng.integers(0, 10, n_acc)
        dpd = np.where(rng.random(n_acc) < 0.1, 0, dpd)
        overdue = np.round(200 + dpd * rng.uniform(5, 20, n_acc), 2)
        bal = np.round(overdue * rng.uniform(2, 8, n_acc), 2)
        stage = _stage(dpd)
        queue = np.where(rng.random(n_acc) < 0.35, "not_worked",
                         np.array([QUEUES[s][i % 2] for i, s in enumerate(stage)]))
        eff = np.where(queue == "not_worked", 1.0, 1.4)
        p = 1 / (1 + np.exp(-(1.3 * w - dpd / 50 + 0.3 * (age_days > 200) - 0.2)))
        y = (rng.random(n_acc) < np.minimum(p * eff, 0.98)).astype(np.int8)
        for i in range(n_acc):
            rows.append((d, acc[i], cust[i], "card" if i % 3 else "loan", open_date[i], int(dpd[i]),
                         overdue[i], bal[i], np.nan if i % 3 == 0 else float(bal[i] * 1.5)))
        outs.append(pd.DataFrame({"account_id": acc, "snapshot_date": d, "repaid": y,
                                  "recovered_amount": y * overdue}))
        ph.append(pd.DataFrame({"account_id": acc, "snapshot_date": d, "queue": queue}))
    accounts = pd.DataFrame(rows, columns=["snapshot_date", "account_id", "customer_id", "product",
                                           "open_date", "dpd", "overdue_amount", "balance", "credit_limit"])
    outcomes = pd.concat(outs, ignore_index=True)
    placement = pd.concat(ph, ignore_index=True)
    # payments: more often for willing accounts
    n_pay = rng.poisson(np.exp(0.8 * w + 1.0))
    pay_acc = np.repeat(acc, n_pay)
    pay_day = snaps[0] - pd.Timedelta(days=200) + pd.to_timedelta(
        rng.integers(0, 200 + 31 * n_snap, len(pay_acc)), "D")
    payments = pd.DataFrame({"account_id": pay_acc, "paid_on": pay_day,
                             "amount": np.round(rng.uniform(50, 500, len(pay_acc)), 2)})
    n_con = rng.poisson(4, n_acc)
    con_acc = np.repeat(acc, n_con)
    wi = np.repeat(w, n_con)
    outcome = np.where(rng.random(len(con_acc)) < 1 / (1 + np.exp(-wi)), "promise_kept", "promise_broken")
    outcome = np.where(rng.random(len(con_acc)) < 0.3, "no_answer", outcome)
    contacts = pd.DataFrame({"account_id": con_acc, "contacted_on": snaps[0] - pd.Timedelta(days=150)
                             + pd.to_timedelta(rng.integers(0, 150 + 31 * n_snap, len(con_acc)), "D"),
                             "channel": "call", "outcome": outcome})
    cids = np.unique(cust)
    customers = pd.DataFrame({"customer_id": cids, "name": "x", "phone": "1",
                              "income": np.round(rng.lognormal(9, 0.5, len(cids)), 0),
                              "region": rng.choice(["north", "south", "east"], len(cids))})
    bureau = pd.DataFrame({"customer_id": cust, "risk_score": np.round(600 + 60 * w + rng.normal(0, 40, n_acc))})
    if drop_segment:
        from pathlib import Path

        from collections_engine.config import load_strategy
        from collections_engine.segments import customer_line_of, segment_name, stage_of

        strat = load_strategy(Path(__file__).resolve().parents[1] / "strategies" / "default.yaml")
        seg = segment_name(customer_line_of(accounts["open_date"], accounts["snapshot_date"], strat),
                           stage_of(accounts["dpd"], strat).set_axis(accounts.index))
        drop = (seg == drop_segment).to_numpy()
        keys = accounts.loc[drop, ["account_id", "snapshot_date"]]
        outcomes = outcomes.merge(keys, how="left", indicator=True)
        outcomes = outcomes[outcomes["_merge"] == "left_only"].drop(columns="_merge")
    for t in (accounts, outcomes, placement, payments, contacts, customers, bureau):
        for c in ("account_id", "customer_id"):
            if c in t.columns:
                t[c] = t[c].astype("str")
    return Book(accounts=accounts, customers=customers, payments=payments, contacts=contacts,
                placement_history=placement, outcomes=outcomes, sources={"bureau": bureau})
