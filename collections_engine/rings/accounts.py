"""Per-account aggregates behind the propensity's own features, so that a night's features
follow from last night's aggregates and tonight's rows (`rings.carry`).

`propensity.customer_features` works row by row over the whole history (12.7M account rows,
22M contacts at 1M accounts). Every feature it builds is a minimum, a maximum, an "any" or a
count over a customer's rows, and every row belongs to one account; so per account:

- `cust`: its customer (code; -1: none), over the account rows known on the date;
- `sel`: it has a row opened on or before the date with a customer (what customer_features uses);
- `open_min`: earliest opening (int64 ns); `latest`, `dpd_l`, `open_l`: its latest snapshot
  and that row's dpd and opening (the date enters only when the features are made: age);
- `default_start`: earliest start of a delinquency (snapshot - dpd); `early`: one began
  within EARLY_DEFAULT_DAYS of opening;
- `last_paid`: its latest payment on or before the date; `n_con`, `n_wrong`, `n_noans`:
  contacts, wrong numbers and no-answers on or before the date.

`aggregate` builds them from rows (all of a night's, or only tonight's), `merge` adds tonight's
to last night's, `features` rolls them up to exactly `customer_features`' frame (minimum,
maximum, "any" and integer counts do not depend on how the rows are grouped; tested against it).
An account whose rows name two customers, or two rows of its latest snapshot, has no such
summary: `aggregate` says so (`problem`) and the caller uses `customer_features`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collections_engine.rings.propensity import EARLY_DEFAULT_DAYS, OWN_FEATURES, SHORT_TENURE_DAYS

__all__ = ["FIELDS", "add_accounts", "add_contacts", "add_payments", "aggregate", "empty", "features", "merge"]

FIELDS = ["cust", "sel", "open_min", "latest", "dpd_l", "open_l", "default_start", "early", "last_paid",
          "n_con", "n_wrong", "n_noans"]
_MAX, _MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min
_DAY = 86_400_000_000_000


def empty(n: int) -> dict[str, np.ndarray]:
    """The aggregates of n accounts with no rows."""
    return {"cust": np.full(n, -1, np.int64), "sel": np.zeros(n, bool), "open_min": np.full(n, _MAX, np.int64),
            "latest": np.full(n, _MIN, np.int64), "dpd_l": np.zeros(n, np.int64), "open_l": np.zeros(n, np.int64),
            "default_start": np.full(n, _MAX, np.int64), "early": np.zeros(n, bool),
            "last_paid": np.full(n, _MIN, np.int64), "n_con": np.zeros(n, np.int64),
            "n_wrong": np.zeros(n, np.int64), "n_noans": np.zeros(n, np.int64)}


def aggregate(n_acc: int, accounts: dict, payments: dict | None, contacts: dict | None,
              date: pd.Timestamp) -> tuple[dict[str, np.ndarray], str]:
    """The aggregates of accounts 0..n_acc-1 over the given rows known on `date` (inputs as
    `customer_features`' integer-coded dicts, `cust` -1 for rows not known), and a problem
    ("" when none) that rules the summary out. The same as `empty`, then `add_accounts`,
    `add_payments` and `add_contacts` in turn (a caller short of memory builds and drops one
    table's rows at a time)."""
    out = empty(n_acc)
    problem = add_accounts(out, accounts, date)
    if not problem:
        add_payments(out, payments, date)
        add_contacts(out, contacts, date)
    return out, problem


def add_accounts(out: dict[str, np.ndarray], accounts: dict, date: pd.Timestamp) -> str:
    """Fold account rows into `out` (made by `empty`); the problem, if any, that rules the
    summary out (`out` is then left partly filled, for no one to read)."""
    n_acc, d = len(out["cust"]), pd.Timestamp(date).value
    acc = np.asarray(accounts["acc"], np.int64)
    cust = np.asarray(accounts["cust"], np.int64)
    known = cust >= 0
    acc_k, cust_k = acc[known], cust[known]  # (each made once: 13M rows at 1M accounts)
    out["cust"][acc_k] = cust_k
    check = np.full(n_acc, _MIN, np.int64)
    np.maximum.at(check, acc_k, cust_k)
    two = bool((check[acc_k] != cust_k).any())
    del acc_k, cust_k, check
    if two:
        return "an account's rows name more than one customer"
    a_open = _ns(accounts["open_date"])
    sel = (a_open != _MIN) & (a_open <= d) & known
    a_acc, a_open, snap = acc[sel], a_open[sel], _ns(accounts["snapshot_date"])[sel]
    dpd = np.asarray(accounts["dpd"], np.int64)[sel]
    del acc, known, sel
    out["sel"][a_acc] = True
    np.minimum.at(out["open_min"], a_acc, a_open)
    np.maximum.at(out["latest"], a_acc, snap)
    last = np.flatnonzero(snap == out["latest"][a_acc])
    if len(last) and np.bincount(a_acc[last]).max() > 1:
        return "an account has two rows of its latest snapshot"
    out["dpd_l"][a_acc[last]], out["open_l"][a_acc[last]] = dpd[last], a_open[last]
    late = np.flatnonzero(dpd > 0)
    start = snap[late] - dpd[late] * _DAY
    np.minimum.at(out["default_start"], a_acc[late], start)
    out["early"][a_acc[late][(start - a_open[late]) / 86_400e9 <= EARLY_DEFAULT_DAYS]] = True
    return ""


def add_payments(out: dict[str, np.ndarray], payments: dict | None, date: pd.Timestamp) -> None:
    """Fold payment rows (None: no table) into `out`."""
    if payments is None or not len(payments["acc"]):
        return
    on, pacc = _ns(payments["paid_on"]), np.asarray(payments["acc"], np.int64)
    ok = (on != _MIN) & (on <= pd.Timestamp(date).value) & (pacc >= 0)
    np.maximum.at(out["last_paid"], pacc[ok], on[ok])


def add_contacts(out: dict[str, np.ndarray], contacts: dict | None, date: pd.Timestamp) -> None:
    """Fold contact rows (None: no table) into `out`."""
    if contacts is None or not len(contacts["acc"]):
        return
    n_acc = len(out["cust"])
    on, cacc = _ns(contacts["contacted_on"]), np.asarray(contacts["acc"], np.int64)
    ok = (on != _MIN) & (on <= pd.Timestamp(date).value) & (cacc >= 0)
    out["n_con"] += np.bincount(cacc[ok], minlength=n_acc)
    out["n_wrong"] += np.bincount(cacc[ok & np.asarray(contacts["wrong_number"], bool)], minlength=n_acc)
    out["n_noans"] += np.bincount(cacc[ok & np.asarray(contacts["no_answer"], bool)], minlength=n_acc)


def merge(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """Last night's aggregates (same account numbering as tonight's) with tonight's rows'."""
    both = (old["cust"] >= 0) & (new["cust"] >= 0)
    if (old["cust"][both] != new["cust"][both]).any():
        return old, "an account's rows name more than one customer"
    if ((old["latest"] == new["latest"]) & (new["latest"] != _MIN)).any():
        return old, "an account has two rows of its latest snapshot"
    later = new["latest"] > old["latest"]
    out = {"cust": np.where(old["cust"] >= 0, old["cust"], new["cust"]), "sel": old["sel"] | new["sel"],
           "open_min": np.minimum(old["open_min"], new["open_min"]),
           "latest": np.maximum(old["latest"], new["latest"]),
           "dpd_l": np.where(later, new["dpd_l"], old["dpd_l"]), "open_l": np.where(later, new["open_l"], old["open_l"]),
           "default_start": np.minimum(old["default_start"], new["default_start"]),
           "early": old["early"] | new["early"], "last_paid": np.maximum(old["last_paid"], new["last_paid"])}
    for k in ("n_con", "n_wrong", "n_noans"):
        out[k] = old[k] + new[k]
    return out, ""


def features(n: int, agg: dict[str, np.ndarray], shared_values: np.ndarray, date: pd.Timestamp) -> pd.DataFrame:
    """`customer_features`' frame for customers 0..n-1 from the aggregates."""
    date = pd.Timestamp(date)
    out = {f: np.zeros(n) for f in OWN_FEATURES}
    out["open_day"] = np.full(n, np.nan)
    out["shared_values"] = np.log1p(np.asarray(shared_values, float))
    cust_of = np.where(agg["sel"], agg["cust"], -1)
    acc = np.flatnonzero(cust_of >= 0)
    who = cust_of[acc]
    has_acc = np.zeros(n, bool)
    has_acc[who] = True
    opened = np.full(n, _MAX, np.int64)
    np.minimum.at(opened, who, agg["open_min"][acc])
    age_days = (date.value - opened[has_acc]) / 86_400e9
    out["short_tenure"][has_acc] = age_days < SHORT_TENURE_DAYS
    out["log_tenure"][has_acc] = np.log1p(np.maximum(age_days, 0) / 30.44)
    out["open_day"][has_acc] = opened[has_acc] / 86_400e9
    age = np.floor_divide(date.value - agg["open_l"][acc], _DAY).astype(float)
    share = np.clip(agg["dpd_l"][acc].astype(float) / np.maximum(age, 1.0), 0.0, 1.0)
    np.maximum.at(out["dpd_share_of_age"], who, share)
    early = np.zeros(n, bool)
    early[who[agg["early"][acc]]] = True
    out["early_default"] = early.astype(float)
    paid = np.zeros(n, bool)
    paid[who[agg["last_paid"][acc] != _MIN]] = True
    out["never_paid"] = (has_acc & ~paid).astype(float)
    defaulted, paid_after = np.zeros(n, bool), np.zeros(n, bool)
    defaulted[who[agg["default_start"][acc] < _MAX]] = True
    paid_after[who[agg["last_paid"][acc] > agg["default_start"][acc]]] = True
    out["unpaid_since_default"] = (defaulted & ~paid_after).astype(float)
    total = np.bincount(who, weights=agg["n_con"][acc].astype(float), minlength=n)
    wn = np.bincount(who, weights=agg["n_wrong"][acc].astype(float), minlength=n)
    na = np.bincount(who, weights=agg["n_noans"][acc].astype(float), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["wrong_number_share"] = np.where(total > 0, wn / np.maximum(total, 1), 0.0)
        out["no_answer_share"] = np.where(total > 0, na / np.maximum(total, 1), 0.0)
    names = OWN_FEATURES + ["open_day"]
    return pd.DataFrame({f: out[f] for f in names}, index=pd.RangeIndex(n), copy=False)


def _ns(x) -> np.ndarray:
    arr = x.to_numpy() if isinstance(x, pd.Series) else np.asarray(x)
    return np.asarray(arr, "datetime64[ns]").view(np.int64)
