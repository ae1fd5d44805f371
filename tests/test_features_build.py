"""Point-in-time features: no leakage, chunk-stable, equal to a slow obvious version."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collections_engine.book import Book
from collections_engine.config import load_strategy
from collections_engine.features import build_features, feature_types
from collections_engine.schema import OUTCOMES


def random_book(n_acc: int = 60, seed: int = 0) -> Book:
    rng = np.random.default_rng(seed)
    dates = pd.to_datetime(["2026-01-31", "2026-02-28", "2026-03-31"])
    acc_ids = [f"A{i:04d}" for i in range(n_acc)]
    cust_ids = [f"C{i // 2:04d}" for i in range(n_acc)]
    open_dates = pd.to_datetime("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n_acc), "D")
    rows = []
    for d in dates:
        for i in range(n_acc):
            if rng.random() < 0.85:
                rows.append((d, acc_ids[i], cust_ids[i], ["card", "loan"][i % 2], open_dates[i],
                             int(rng.integers(0, 120)), float(rng.integers(0, 5000)),
                             float(rng.integers(1000, 20000)),
                             np.nan if i % 2 else float(rng.integers(5000, 30000))))
    accounts = pd.DataFrame(rows, columns=["snapshot_date", "account_id", "customer_id", "product",
                                           "open_date", "dpd", "overdue_amount", "balance",
                                           "credit_limit"])
    n_pay = n_acc * 8
    payments = pd.DataFrame({
        "account_id": rng.choice(acc_ids, n_pay),
        "paid_on": pd.to_datetime("2025-09-01") + pd.to_timedelta(rng.integers(0, 240, n_pay), "D"),
        "amount": rng.integers(10, 900, n_pay).astype(float),
    })
    n_con = n_acc * 12
    contacts = pd.DataFrame({
        "account_id": rng.choice(acc_ids, n_con),
        "contacted_on": pd.to_datetime("2025-09-01") + pd.to_timedelta(rng.integers(0, 240, n_con), "D"),
        "channel": rng.choice(["sms", "call", "visit", "letter"], n_con),
        "outcome": rng.choice(list(OUTCOMES), n_con),
    })
    custs = sorted(set(cust_ids))
    customers = pd.DataFrame({
        "customer_id": custs, "name": [f"name {c}" for c in custs],
        "phone": [f"1380000{i:04d}" for i in range(len(custs))],
        "income": rng.integers(2000, 30000, len(custs)).astype(float),
        "city_tier": rng.choice(["1", "2", "3"], len(custs)),
    })
    bureau = pd.DataFrame({
        "customer_id": np.repeat(custs, 3),
        "snapshot_date": np.tile(pd.to_datetime(["2026-01-15", "2026-02-15", "2026-03-15"]), len(custs)),
        "score": rng.integers(300, 900, 3 * len(custs)).astype(float),
    })
    repair = pd.DataFrame({"account_id": acc_ids[::3], "new_phone_found": rng.integers(0, 2, len(acc_ids[::3]))})
    hold_acc = acc_ids[::5]
    holds = pd.DataFrame({
        "account_id": hold_acc,
        "hold": rng.choice(["dispute", "bankruptcy", "legal"], len(hold_acc)),
        "start": pd.to_datetime("2025-12-01") + pd.to_timedelta(rng.integers(0, 120, len(hold_acc)), "D"),
        "end": pd.to_datetime("2026-02-15") + pd.to_timedelta(rng.integers(0, 60, len(hold_acc)), "D"),
    })
    holds.loc[holds.index[::2], "end"] = pd.NaT
    fraud = pd.DataFrame({"customer_id": sorted(set(cust_ids))[::7]})
    fraud["confirmed_on"] = pd.to_datetime("2026-02-20")
    fraud.loc[fraud.index[::3], "confirmed_on"] = pd.NaT
    for t in (accounts, payments, contacts, customers, bureau, repair, holds, fraud):
        for c in ("account_id", "customer_id"):
            if c in t.columns:
                t[c] = t[c].astype("str")
    return Book(accounts=accounts, customers=customers, payments=payments, contacts=contacts,
                holds=holds, fraud_labels=fraud, sources={"bureau": bureau, "contact_repair": repair})


@pytest.fixture
def strategy(default_strategy_path):
    return load_strategy(default_strategy_path)


def test_no_leak_from_events_after_the_snapshot(strategy):
    book = random_book()
    rows = book.accounts
    before = build_features(book, rows, strategy)
    r = rows.iloc[5]
    later = r["snapshot_date"] + pd.Timedelta(days=1)
    book.payments = pd.concat([book.payments, pd.DataFrame(
        {"account_id": pd.Series([r["account_id"]], dtype="str"), "paid_on": [later], "amount": [1e6]})],
        ignore_index=True)
    book.contacts = pd.concat([book.contacts, pd.DataFrame(
        {"account_id": pd.Series([r["account_id"]] * 2, dtype="str"), "contacted_on": [later] * 2,
         "channel": ["call", "call"], "outcome": ["promise_kept", "right_party"]})], ignore_index=True)
    book.sources["bureau"] = pd.concat([book.sources["bureau"], pd.DataFrame(
        {"customer_id": pd.Series([r["customer_id"]], dtype="str"), "snapshot_date": [later],
         "score": [1.0]})], ignore_index=True)
    book.holds = pd.concat([book.holds, pd.DataFrame(
        {"account_id": pd.Series([r["account_id"]], dtype="str"), "hold": ["deceased"],
         "start": [later], "end": [pd.NaT]})], ignore_index=True)
    book.fraud_labels = pd.concat([book.fraud_labels, pd.DataFrame(
        {"customer_id": pd.Series([r["customer_id"]], dtype="str"), "confirmed_on": [later]})],
        ignore_index=True)
    later_acc = rows.iloc[[5]].assign(snapshot_date=later, dpd=0)
    book.accounts = pd.concat([book.accounts, later_acc], ignore_index=True)
    after = build_features(book, rows, strategy)
    same = rows["snapshot_date"] <= r["snapshot_date"]
    pd.testing.assert_frame_equal(before[same], after[same])
    # and the same events, dated on the snapshot day, do change that row (the test can fail)
    book.payments.loc[book.payments.index[-1], "paid_on"] = r["snapshot_date"]
    moved = build_features(book, rows, strategy)
    assert moved.loc[rows.index[5], "last_payment_amount"] == 1e6


def test_slice_gives_the_same_rows_as_the_whole(strategy):
    book = random_book(seed=1)
    rows = book.accounts
    whole = build_features(book, rows, strategy)
    for part in (rows.iloc[::7], rows.iloc[10:20], rows.iloc[[3]]):
        pd.testing.assert_frame_equal(build_features(book, part, strategy), whole.loc[part.index])


def test_personal_fields_are_never_features_and_sources_are_prefixed(strategy):
    book = random_book()
    f = build_features(book, book.accounts, strategy)
    for p in strategy.personal_fields:
        assert not any(c == p or c.endswith("_" + p) for c in f.columns)
    assert {"income", "city_tier", "bureau_score", "contact_repair_new_phone_found"} <= set(f.columns)
    types = feature_types(f)
    assert types["product"] == "categorical" and types["city_tier"] == "categorical"
    assert types["dpd"] == "numeric"


def _slow_reference(book: Book, row: pd.Series) -> dict[str, float]:
    """The obvious per-row version, for a handful of features."""
    s = row["snapshot_date"]
    p = book.payments[(book.payments["account_id"] == row["account_id"]) & (book.payments["paid_on"] <= s)]
    c = book.contacts[(book.contacts["account_id"] == row["account_id"]) & (book.contacts["contacted_on"] <= s)]
    b = book.sources["bureau"]
    b = b[(b["customer_id"] == row["customer_id"]) & (b["snapshot_date"] <= s)].sort_values("snapshot_date")
    in30 = p[p["paid_on"] > s - pd.Timedelta(days=30)]
    months = sum(
        bool(((p["paid_on"] > s - pd.Timedelta(days=30 * (k + 1))) & (p["paid_on"] <= s - pd.Timedelta(days=30 * k))).any())
        for k in range(6))
    last = p.sort_values("paid_on", kind="stable")
    kept = ((c["outcome"] == "promise_kept") & (c["contacted_on"] > s - pd.Timedelta(days=180))).sum()
    h = book.holds[(book.holds["account_id"] == row["account_id"]) & (book.holds["start"] <= s)
                   & (book.holds["end"].isna() | (book.holds["end"] >= s))]
    fl = book.fraud_labels[book.fraud_labels["customer_id"] == row["customer_id"]]
    acc = book.accounts[book.accounts["account_id"] == row["account_id"]]
    periods = sum(bool(((acc["snapshot_date"] > s - pd.Timedelta(days=30 * (k + 1)))
                        & (acc["snapshot_date"] <= s - pd.Timedelta(days=30 * k)) & (acc["dpd"] > 0)).any())
                  for k in range(1, 12))
    prev = acc[acc["snapshot_date"] <= s - pd.Timedelta(days=25)].sort_values("snapshot_date")
    voice = c[c["channel"].isin(["call", "visit"]) & (c["contacted_on"] > s - pd.Timedelta(days=365))]
    reached = voice["outcome"].isin(["right_party", "promise_to_pay", "promise_kept", "promise_broken", "refused"])
    return {
        "hold": sorted(h["hold"])[0] if len(h) else "none",
        "fraud_confirmed": float(bool((fl["confirmed_on"].isna() | (fl["confirmed_on"] <= s)).any())),
        "delinquent_periods_12m": float(periods),
        "dpd_a_month_ago": float(prev["dpd"].iloc[-1]) if len(prev) else np.nan,
        "reach_rate_365d": float(reached.mean()) if len(voice) else np.nan,
        "ever_paid": float(len(p) > 0),
        "days_since_last_payment": float((s - p["paid_on"].max()).days) if len(p) else np.nan,
        "payments_30d": float(len(in30)),
        "paid_amount_30d": float(in30["amount"].sum()),
        "months_with_payment_6m": float(months),
        "contact_attempts_90d": float((c["contacted_on"] > s - pd.Timedelta(days=90)).sum()),
        "promises_kept": float(kept),
        "wrong_numbers_90d": float(((c["outcome"] == "wrong_number")
                                    & (c["contacted_on"] > s - pd.Timedelta(days=90))).sum()),
        "bureau_score": float(b["score"].iloc[-1]) if len(b) else np.nan,
        "last_payment_date_ok": 1.0 if not len(last) else float(last["paid_on"].iloc[-1] <= s),
    }


def test_fast_features_equal_the_slow_obvious_version(strategy):
    book = random_book(n_acc=40, seed=3)
    rows = book.accounts
    f = build_features(book, rows, strategy)
    assert (f["hold"] != "none").any() and f["fraud_confirmed"].sum() > 0
    for i in range(0, len(rows), 3):
        ref = _slow_reference(book, rows.iloc[i])
        got = f.iloc[i]
        for k, v in ref.items():
            if isinstance(v, str):
                assert got[k] == v, (i, k)
            elif k in got.index:
                assert got[k] == pytest.approx(v, nan_ok=True), (i, k)


def test_without_optional_tables(strategy):
    book = random_book()
    bare = Book(accounts=book.accounts)
    f = build_features(bare, book.accounts.iloc[:10], strategy)
    assert len(f) == 10 and "dpd" in f.columns and "ever_paid" not in f.columns
