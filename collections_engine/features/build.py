"""Point-in-time features of account snapshot rows, from every table of the book.

`build_features(book, rows, strategy)` returns one row of features per input row (same index,
same order), using only what is dated on or before each row's snapshot date. It is a pure
per-row function of the book: the same call on any slice of `rows` gives the same feature rows
as on the whole, so callers may chunk freely.

Names are readable because they appear in reason codes ("days_since_last_payment, 45,
lowers"). Columns of `customers` and sources that are not numbers stay strings: the models
treat them as categories. `strategy.personal_fields` never become features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from collections_engine.book import Book
from collections_engine.config.strategy import Strategy
from collections_engine.frames import duplicated
from collections_engine.features.events import SPAN, Entities, EventIndex, day_numbers, entity_codes
from collections_engine.segments import account_age_months

__all__ = ["build_features", "feature_types", "FEATURE_DOCS", "ACCOUNT_BASE_COLUMNS"]

ACCOUNT_BASE_COLUMNS = (
    "snapshot_date", "account_id", "customer_id", "product", "open_date", "dpd",
    "overdue_amount", "balance", "credit_limit",
)

# Readable descriptions of the built-in features (the README lists them from here).
FEATURE_DOCS: dict[str, str] = {
    "dpd": "days past due on the snapshot date",
    "overdue_amount": "amount overdue",
    "balance": "outstanding balance",
    "credit_limit": "credit limit (empty for loans without one)",
    "utilisation": "balance / credit_limit",
    "overdue_share": "overdue_amount / balance",
    "product": "product (category)",
    "account_age_months": "whole calendar months since the account opened",
    "customer_accounts": "the customer's accounts in the book on the snapshot date",
    "customer_delinquent_accounts": "of those, delinquent (dpd > 0)",
    "ever_paid": "1 if any payment on or before the snapshot date",
    "days_since_last_payment": "days since the latest payment (empty: never paid)",
    "last_payment_amount": "amount of the latest payment",
    "payments_30d": "payments in the 30 days up to the snapshot date",
    "paid_amount_30d": "amount paid in those 30 days",
    "paid_amount_90d": "amount paid in the last 90 days",
    "paid_share_of_overdue_30d": "paid_amount_30d / overdue_amount",
    "months_with_payment_6m": "of the last six 30-day periods, how many had a payment",
    "contact_attempts_30d": "contact attempts (any channel, any outcome) in the last 30 days",
    "contact_attempts_90d": "contact attempts in the last 90 days",
    "right_party_contacts_90d": "contacts that reached the customer (right_party, promise_to_pay,"
                                " promise_kept, promise_broken, refused) in the last 90 days",
    "promises_to_pay_90d": "promises to pay made in the last 90 days",
    "promises_kept": "promises kept in the last 180 days",
    "promises_broken": "promises broken in the last 180 days",
    "promise_kept_ratio": "promises_kept / (promises_kept + promises_broken); empty if none",
    "refusals_90d": "refusals in the last 90 days",
    "wrong_numbers_90d": "wrong-number contacts in the last 90 days",
    "no_answers_30d": "unanswered attempts in the last 30 days",
    "days_since_last_contact": "days since the latest contact attempt",
    "days_since_last_right_party_contact": "days since the customer was last reached",
    "months_with_payment_12m": "of the last twelve 30-day periods, how many had a payment",
    "payments_365d": "payments in the last 365 days",
    "paid_amount_365d": "amount paid in the last 365 days",
    "voice_attempts_365d": "calls and visits in the last 365 days",
    "reach_rate_365d": "share of those calls and visits that reached the customer",
    "promises_kept_365d": "promises kept in the last 365 days",
    "promises_broken_365d": "promises broken in the last 365 days",
    "refusals_365d": "refusals in the last 365 days",
    "wrong_numbers_365d": "wrong-number contacts in the last 365 days",
    "delinquent_periods_12m": "of the eleven 30-day periods before the current one, how many saw"
                              " the account delinquent in an accounts row",
    "dpd_a_month_ago": "dpd in the latest accounts row at least 25 days before the snapshot",
    "hold": "the hold open on the snapshot date (dispute, bankruptcy, ...; 'none')",
    "fraud_confirmed": "1 when the customer has a fraud label confirmed on or before the snapshot"
                       " date (a label without a date counts as known)",
}

_REACHED = ("right_party", "promise_to_pay", "promise_kept", "promise_broken", "refused")


def feature_types(features: pd.DataFrame) -> dict[str, str]:
    """'numeric' or 'categorical' per feature column (strings and categories are categorical)."""
    out = {}
    for c in features.columns:
        dt = features[c].dtype
        numeric = pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
        out[c] = "numeric" if numeric or pd.api.types.is_bool_dtype(dt) else "categorical"
    return out


def build_features(book: Book, rows: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    """Features of each (account_id, snapshot_date) row as of its snapshot date."""
    rows = _with_account_columns(book, rows)
    # Work in (account, date) order: every look-up below is then a run of sorted searches, which
    # is several times faster; the result is put back in the caller's order at the end.
    acc_code, _ = pd.factorize(rows["account_id"], sort=False)
    order = np.lexsort((day_numbers(rows["snapshot_date"]), acc_code))
    if not np.array_equal(order, np.arange(len(rows))):
        out = _build(book, rows.iloc[order], strategy)
        return out.iloc[np.argsort(order, kind="stable")]
    return _build(book, rows, strategy)


def _build(book: Book, rows: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    personal = set(strategy.personal_fields)
    snap = day_numbers(rows["snapshot_date"])
    parts: list[pd.DataFrame] = [_account_features(book, rows, personal)]
    accounts = Entities(rows["account_id"])  # hashed once for every event table
    # (event codes are not kept in names here: each table's go once its features are made)
    if book.payments is not None:
        parts.append(_payment_features(book.payments, accounts.codes, accounts.of(book.payments["account_id"]),
                                       snap, rows))
    if book.contacts is not None:
        parts.append(_contact_features(book.contacts, accounts.codes, accounts.of(book.contacts["account_id"]),
                                       snap, rows.index))
    parts.append(_delinquency_history(book.accounts, rows, snap, accounts))
    if book.holds is not None:
        parts.append(_hold_features(book.holds, rows, snap, accounts))
    if book.fraud_labels is not None:
        parts.append(_fraud_features(book.fraud_labels, rows, snap))
    if book.customers is not None:
        parts.append(_customer_features(book.customers, rows, personal, snap,
                                        taken=set().union(*(p.columns for p in parts))))
    for src in strategy.sources:
        table = book.sources.get(src.name)
        if table is not None and src.key in table.columns:
            parts.append(_source_features(src.name, src.key, table, rows, personal, snap))
    out = pd.concat(parts, axis=1)
    out.index = rows.index
    return out


def _with_account_columns(book: Book, rows: pd.DataFrame) -> pd.DataFrame:
    need = [c for c in ("customer_id", "product", "open_date", "dpd", "overdue_amount", "balance")
            if c not in rows.columns]
    if not need:
        return rows
    acc = book.accounts
    extra = [c for c in acc.columns if c not in rows.columns]
    merged = rows[["account_id", "snapshot_date"]].merge(
        acc[["account_id", "snapshot_date", *extra]], on=["account_id", "snapshot_date"], how="left")
    merged.index = rows.index
    return pd.concat([rows, merged[extra]], axis=1)


def _account_features(book: Book, rows: pd.DataFrame, personal: set[str]) -> pd.DataFrame:
    f = pd.DataFrame(index=rows.index)
    f["dpd"] = rows["dpd"].astype(np.float64)
    f["overdue_amount"] = rows["overdue_amount"].astype(np.float64)
    f["balance"] = rows["balance"].astype(np.float64)
    limit = (rows["credit_limit"].astype(np.float64) if "credit_limit" in rows.columns
             else pd.Series(np.nan, index=rows.index))
    f["credit_limit"] = limit
    with np.errstate(divide="ignore", invalid="ignore"):
        f["utilisation"] = np.where(limit > 0, f["balance"] / limit, np.nan)
        f["overdue_share"] = np.where(f["balance"] > 0, f["overdue_amount"] / f["balance"], np.nan)
    f["product"] = rows["product"].astype("str")
    f["account_age_months"] = account_age_months(rows["open_date"], rows["snapshot_date"]).astype(np.float64)
    counts = _customer_counts(book.accounts, rows)
    f["customer_accounts"] = counts[:, 0]
    f["customer_delinquent_accounts"] = counts[:, 1]
    for c in rows.columns:  # extra accounts columns are features (CONTRACT.md)
        if c in ACCOUNT_BASE_COLUMNS or c in personal or c in f.columns:
            continue
        if c not in book.accounts.columns:
            continue  # a caller's helper column (stage, segment, ...), not a table column
        f[c] = _as_feature(rows[c], rows["snapshot_date"])
    return f


def _customer_counts(accounts: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Accounts and delinquent accounts of each row's customer on the row's snapshot date."""
    dates = pd.unique(rows["snapshot_date"])
    acc = accounts[accounts["snapshot_date"].isin(dates)]
    codes, ev_codes, _ = entity_codes(rows["customer_id"], acc["customer_id"])
    keep = ev_codes >= 0
    ev_keys = ev_codes[keep] * SPAN + day_numbers(acc["snapshot_date"])[keep]
    row_keys = codes * SPAN + day_numbers(rows["snapshot_date"])
    out = np.zeros((len(rows), 2))
    for j, mask in enumerate((None, acc["dpd"].to_numpy()[keep] > 0)):
        k = np.sort(ev_keys if mask is None else ev_keys[mask])
        out[:, j] = np.searchsorted(k, row_keys, side="right") - np.searchsorted(k, row_keys, side="left")
    return out


def _delinquency_history(accounts: pd.DataFrame, rows: pd.DataFrame, snap: np.ndarray,
                         entities: Entities | None = None) -> pd.DataFrame:
    """The account's own past delinquency, from earlier accounts rows (monthly or nightly alike)."""
    codes, ev_codes, _ = entity_codes(rows["account_id"], accounts["account_id"], entities)
    days = day_numbers(accounts["snapshot_date"])
    dpd = accounts["dpd"].to_numpy()
    every = EventIndex.build(ev_codes, days)
    delinquent = every.subset(dpd > 0)
    periods = np.zeros(len(snap))
    for k in range(1, 12):
        periods += delinquent.count(codes, snap - 30 * (k + 1), snap - 30 * k) > 0
    f = pd.DataFrame(index=rows.index)
    f["delinquent_periods_12m"] = periods
    prev = every.last(codes, snap - 25)
    f["dpd_a_month_ago"] = np.where(prev >= 0, dpd[np.maximum(prev, 0)], np.nan).astype(np.float64)
    return f


def _hold_features(holds: pd.DataFrame, rows: pd.DataFrame, snap: np.ndarray,
                   entities: Entities | None = None) -> pd.DataFrame:
    """The hold open on the snapshot date (the first by kind name when several), or 'none'."""
    codes, ev_codes, _ = entity_codes(rows["account_id"], holds["account_id"], entities)
    keep = ev_codes >= 0
    h = pd.DataFrame({"_code": ev_codes[keep], "hold": holds["hold"].astype("str").to_numpy()[keep],
                      "_start": day_numbers(holds["start"])[keep], "_end": day_numbers(holds["end"])[keep]})
    key = pd.DataFrame({"_code": codes, "_snap": snap, "_row": np.arange(len(rows))})
    m = key.merge(h, on="_code", how="inner")
    open_ = (m["_start"] <= m["_snap"]) & ((m["_end"] < -(SPAN // 8)) | (m["_end"] >= m["_snap"]))
    m = m[open_].sort_values(["_row", "hold"], kind="stable").drop_duplicates("_row")
    out = np.full(len(rows), "none", dtype=object)
    out[m["_row"].to_numpy()] = m["hold"].to_numpy()
    return pd.DataFrame({"hold": pd.Series(out, dtype="str").to_numpy()}, index=rows.index).astype("str")


def _fraud_features(labels: pd.DataFrame, rows: pd.DataFrame, snap: np.ndarray) -> pd.DataFrame:
    """1 when the customer is a confirmed fraud on the snapshot date (no date: always known)."""
    lab = labels.drop_duplicates("customer_id", keep="first")
    pos = pd.Index(lab["customer_id"].astype("str")).get_indexer(rows["customer_id"].astype("str"))
    conf = (day_numbers(lab["confirmed_on"]) if "confirmed_on" in lab.columns
            else np.full(len(lab), -(SPAN // 2)))
    known = np.zeros(len(rows))
    ok = pos >= 0
    d = conf[np.maximum(pos, 0)] if len(conf) else np.zeros(len(pos), dtype=np.int64)  # an empty table: none known
    known[ok] = ((d < -(SPAN // 8)) | (d <= snap))[ok]
    return pd.DataFrame({"fraud_confirmed": known}, index=rows.index)


def _payment_features(pay: pd.DataFrame, codes: np.ndarray, ev_codes: np.ndarray,
                      snap: np.ndarray, rows: pd.DataFrame) -> pd.DataFrame:
    amount = pay["amount"].to_numpy(dtype=np.float64)
    ev = EventIndex.build(ev_codes, day_numbers(pay["paid_on"]), {"amount": amount})
    f = pd.DataFrame(index=rows.index)
    lo_all = np.full(len(snap), -(SPAN // 4) + 1, dtype=np.int64)
    n_all = ev.count(codes, lo_all, snap)
    f["ever_paid"] = (n_all > 0).astype(np.float64)
    last_day = ev.last_day(codes, snap)
    f["days_since_last_payment"] = snap - last_day
    last = ev.last(codes, snap)
    # An empty payments table: no last payment for anyone (no position to take from).
    f["last_payment_amount"] = np.where(last >= 0, amount[np.maximum(last, 0)], np.nan) if len(amount) else np.nan
    f["payments_30d"] = ev.count(codes, snap - 30, snap).astype(np.float64)
    f["paid_amount_30d"] = ev.total("amount", codes, snap - 30, snap)
    f["paid_amount_90d"] = ev.total("amount", codes, snap - 90, snap)
    overdue = rows["overdue_amount"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f["paid_share_of_overdue_30d"] = np.where(overdue > 0, f["paid_amount_30d"] / overdue, np.nan)
    months = np.zeros(len(snap))
    for k in range(6):
        months += ev.count(codes, snap - 30 * (k + 1), snap - 30 * k) > 0
    f["months_with_payment_6m"] = months
    for k in range(6, 12):
        months += ev.count(codes, snap - 30 * (k + 1), snap - 30 * k) > 0
    f["months_with_payment_12m"] = months
    f["payments_365d"] = ev.count(codes, snap - 365, snap).astype(np.float64)
    f["paid_amount_365d"] = ev.total("amount", codes, snap - 365, snap)
    return f


def _contact_features(con: pd.DataFrame, codes: np.ndarray, ev_codes: np.ndarray,
                      snap: np.ndarray, index: pd.Index) -> pd.DataFrame:
    days = day_numbers(con["contacted_on"])
    outcome = _Coded(con["outcome"])

    everything = EventIndex.build(ev_codes, days)

    def of(mask: np.ndarray) -> EventIndex:
        return everything.subset(mask)

    f = pd.DataFrame(index=index)
    f["contact_attempts_30d"] = everything.count(codes, snap - 30, snap).astype(np.float64)
    f["contact_attempts_90d"] = everything.count(codes, snap - 90, snap).astype(np.float64)
    f["days_since_last_contact"] = snap - everything.last_day(codes, snap)
    reached = of(outcome.isin(_REACHED))
    f["right_party_contacts_90d"] = reached.count(codes, snap - 90, snap).astype(np.float64)
    f["days_since_last_right_party_contact"] = snap - reached.last_day(codes, snap)
    f["promises_to_pay_90d"] = of(outcome.isin(("promise_to_pay",))).count(codes, snap - 90, snap).astype(np.float64)
    kept = of(outcome.isin(("promise_kept",))).count(codes, snap - 180, snap).astype(np.float64)
    broken = of(outcome.isin(("promise_broken",))).count(codes, snap - 180, snap).astype(np.float64)
    f["promises_kept"] = kept
    f["promises_broken"] = broken
    with np.errstate(divide="ignore", invalid="ignore"):
        f["promise_kept_ratio"] = np.where(kept + broken > 0, kept / (kept + broken), np.nan)
    f["refusals_90d"] = of(outcome.isin(("refused",))).count(codes, snap - 90, snap).astype(np.float64)
    f["wrong_numbers_90d"] = of(outcome.isin(("wrong_number",))).count(codes, snap - 90, snap).astype(np.float64)
    f["no_answers_30d"] = of(outcome.isin(("no_answer",))).count(codes, snap - 30, snap).astype(np.float64)
    # a year of contact history: how often a call or visit reaches the customer, what they say
    voice = _Coded(con["channel"]).isin(("call", "visit"))
    voice_n = of(voice).count(codes, snap - 365, snap).astype(np.float64)
    reached_n = of(voice & outcome.isin(_REACHED)).count(codes, snap - 365, snap).astype(np.float64)
    f["voice_attempts_365d"] = voice_n
    with np.errstate(divide="ignore", invalid="ignore"):
        f["reach_rate_365d"] = np.where(voice_n > 0, reached_n / voice_n, np.nan)
    k365 = of(outcome.isin(("promise_kept",))).count(codes, snap - 365, snap).astype(np.float64)
    b365 = of(outcome.isin(("promise_broken",))).count(codes, snap - 365, snap).astype(np.float64)
    f["promises_kept_365d"] = k365
    f["promises_broken_365d"] = b365
    f["refusals_365d"] = of(outcome.isin(("refused",))).count(codes, snap - 365, snap).astype(np.float64)
    f["wrong_numbers_365d"] = of(outcome.isin(("wrong_number",))).count(codes, snap - 365, snap).astype(np.float64)
    return f


class _Coded:
    """A string column as integer codes, so that masks over tens of millions of rows are cheap."""

    def __init__(self, col: pd.Series) -> None:
        cat = pd.Categorical(col)
        self.codes = np.asarray(cat.codes)
        self.levels = [str(c) for c in cat.categories]

    def isin(self, values: tuple[str, ...]) -> np.ndarray:
        lut = np.zeros(len(self.levels) + 1, dtype=bool)  # the last slot: missing (code -1)
        lut[[i for i, c in enumerate(self.levels) if c in values]] = True
        return lut[self.codes]


def _customer_features(customers: pd.DataFrame, rows: pd.DataFrame, personal: set[str],
                       snap: np.ndarray, taken: set[str]) -> pd.DataFrame:
    cols = [c for c in customers.columns if c != "customer_id" and c not in personal]
    cust = _last_per_key(customers, "customer_id").set_index("customer_id")
    pos = _positions(rows["customer_id"], cust.index.to_series())
    f = pd.DataFrame(index=rows.index)
    for c in cols:
        name = c if c not in taken else f"customer_{c}"
        f[name] = _as_feature(_take(cust[c], pos), rows["snapshot_date"])
    return f


def _source_features(name: str, key: str, table: pd.DataFrame, rows: pd.DataFrame,
                     personal: set[str], snap: np.ndarray) -> pd.DataFrame:
    cols = [c for c in table.columns if c not in (key, "snapshot_date") and c not in personal]
    if "snapshot_date" in table.columns:
        # Point in time: the latest source row on or before each row's snapshot date.
        codes, ev_codes, _ = entity_codes(rows[key], table[key])
        ev = EventIndex.build(ev_codes, day_numbers(table["snapshot_date"]))
        pos = ev.last(codes, snap)
    else:
        t = _last_per_key(table, key)
        pos = _positions(rows[key], t[key])
        table = t
    f = pd.DataFrame(index=rows.index)
    for c in cols:
        label = c if c.startswith(f"{name}_") else f"{name}_{c}"
        f[label] = _as_feature(_take(table[c].reset_index(drop=True), pos), rows["snapshot_date"])
    return f


def _last_per_key(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """The last row of each key; the table itself when keys are unique (the loader already
    drops repeated keys, and a sorted key is checked without hashing)."""
    if not duplicated(table, [key]).any():
        return table
    return table.drop_duplicates(key, keep="last")


def _positions(keys: pd.Series, table_keys: pd.Series) -> np.ndarray:
    """Position of each key in table_keys (unique), -1 when absent."""
    arr = pa.array(table_keys.astype("str"))
    q = pa.array(keys.astype("str"))
    return pc.index_in(q, value_set=arr).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _take(values: pd.Series, pos: np.ndarray) -> pd.Series:
    """values[pos] with -1 -> missing, keeping a numeric or string dtype."""
    v = values.reset_index(drop=True)
    ok = pos >= 0
    if pd.api.types.is_datetime64_any_dtype(v.dtype):
        arr = np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[ns]")
        arr[ok] = v.to_numpy(dtype="datetime64[ns]")[pos[ok]]
        return pd.Series(arr)
    if pd.api.types.is_bool_dtype(v.dtype) or pd.api.types.is_numeric_dtype(v.dtype):
        arr = np.full(len(pos), np.nan)
        arr[ok] = v.to_numpy(dtype=np.float64, na_value=np.nan)[pos[ok]]
        return pd.Series(arr)
    arr = np.full(len(pos), None, dtype=object)
    arr[ok] = v.astype("str").to_numpy(dtype=object)[pos[ok]]
    return pd.Series(arr, dtype="str")


def _as_feature(col: pd.Series, snapshot_date: pd.Series) -> pd.Series:
    """Numbers as float64, dates as days before the snapshot, anything else as strings."""
    values = col.reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        days = (snapshot_date.reset_index(drop=True) - values).dt.days
        out = days.astype(np.float64).to_numpy()
    elif pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        return pd.Series(values.astype("str").to_numpy(), index=snapshot_date.index, dtype="str")
    return pd.Series(out, index=snapshot_date.index)
