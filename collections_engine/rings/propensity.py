"""Fraud propensity per customer: 1 when confirmed, otherwise an estimate from what is known.

Features, all as of the snapshot date (nothing dated after it is used):
- `never_paid`: the customer has accounts opened on or before the date and no payment on any of
  them with `paid_on` <= date;
- `wrong_number_share`, `no_answer_share`: shares of the customer's contacts (`contacted_on` <=
  date) with outcome wrong_number, and no_answer (0 without contacts);
- `short_tenure`: the earliest account opened less than 6 months before the date, and
  `log_tenure` = log(1 + months since it opened);
- `dpd_share_of_age`: max over the customer's accounts (latest snapshot on or before the date)
  of dpd / days since opening, clipped to 1: near 1 means delinquent almost since opening;
- `shared_values`: log(1 + number of the customer's identifier values that link it to someone);
- `early_default`: an account's first delinquency (snapshot date - dpd, earliest seen) began
  within EARLY_DEFAULT_DAYS of its opening (first-payment default); `unpaid_since_default`: a
  delinquent customer with no payment after that start.
Graph features (neighbours' features, never their labels): `linked_customers` = log(1 + number
of customers linked to), and the link-weighted means over linked customers of
`dpd_share_of_age`, `wrong_number_share` and `never_paid` (`neighbour_*`). A ring is a group of
new, never-paying, unreachable customers tied together; one such customer among honest
neighbours is much less suspicious. Community features: log(1 + size) of the customer's
community and the community means of `dpd_share_of_age`, `wrong_number_share`, `never_paid`
and `short_tenure` (`community_*`; 0 outside communities). Per graph kind, `shared_<kind>` = log(1 + linking values of that kind): sharing a
device is not sharing a household address. Customers without accounts get 0 for the account
features.

Estimate. With at least MIN_LABELS confirmed customers (and as many others), a logistic
regression of "confirmed by the date" on the features, fitted out of fold (5 folds by a hash of
the customer id, so no customer's own label enters its own estimate). The police confirm only
some of the fraud, so P(confirmed | x) understates P(fraud | x); following Elkan & Noto (2008)
the estimate is P(confirmed | x) / c, clipped to [0, 1], with c the mean out-of-fold
P(confirmed | x) over the confirmed customers (the share of fraud that gets confirmed).
With fewer labels, the documented prior `PRIOR`: logit p = -4 + 1.5 never_paid
+ 1.5 wrong_number_share + 0.5 no_answer_share + 1 short_tenure + 1.5 dpd_share_of_age
+ 0.25 shared_values + 0.25 linked_customers + 1 each neighbour_* and community_* mean.

Age features (AGE_FEATURES) stay out of the logistic fit: labels come 60-200 days after first
sight, so a fit with age learns "young = honest" and misses young rings. `community_estimate`
fits the same positive-unlabelled model at community level (see its doc).

Circularity. No feature looks at anybody's label, and each estimate is out
of fold, so a confirmed member lifts its ring's score only through its own 1; the ring table
also reports `confirmed` and `score_unconfirmed` (the mean estimate over unconfirmed members).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

__all__ = ["AGE_FEATURES", "FEATURES", "fold_hash", "id_hash", "community_estimate", "MIN_LABELS", "PRIOR", "community_features", "confirmed_on",
           "customer_features", "estimate", "graph_features", "shared_by_kind", "PropensityModel", "fit", "apply",
           "sample_rows"]

OWN_FEATURES = ["never_paid", "wrong_number_share", "no_answer_share", "short_tenure", "log_tenure",
                "dpd_share_of_age", "shared_values", "early_default", "unpaid_since_default"]
GRAPH_FEATURES = ["linked_customers", "neighbour_dpd_share", "neighbour_wrong_number_share",
                  "neighbour_never_paid"]
COMMUNITY_FEATURES = ["community_size", "community_dpd_share", "community_wrong_number_share",
                      "community_never_paid", "community_short_tenure", "community_early_default",
                      "community_unpaid_since_default", "community_opened_together"]
FEATURES = OWN_FEATURES + GRAPH_FEATURES + COMMUNITY_FEATURES
MIN_LABELS = 30
# Features that grow with account age. Labels arrive 60-200 days after first sight, so among
# the labelled nearly everyone is old: a model fitted on these learns "young = not fraud"
# (labelling delay, not fraud) and scores young rings near 0. The logistic model leaves them
# out (the prior keeps them).
AGE_FEATURES = ["short_tenure", "log_tenure", "dpd_share_of_age", "neighbour_dpd_share",
                "community_dpd_share", "community_short_tenure"]
PRIOR = {"intercept": -4.0, "never_paid": 1.5, "wrong_number_share": 1.5, "no_answer_share": 0.5,
         "short_tenure": 1.0, "log_tenure": 0.0, "dpd_share_of_age": 1.5, "shared_values": 0.25,
         "linked_customers": 0.25, "neighbour_dpd_share": 1.0, "neighbour_wrong_number_share": 1.0,
         "neighbour_never_paid": 1.0, "community_size": 0.0, "community_dpd_share": 1.0,
         "community_wrong_number_share": 1.0, "community_never_paid": 1.0, "community_short_tenure": 1.0}
SHORT_TENURE_DAYS = 182
EARLY_DEFAULT_DAYS = 90
OPENED_TOGETHER_DAYS = 90
MAX_FIT_ROWS = 50_000
FOLDS = 5


def confirmed_on(fraud_labels: pd.DataFrame | None, date: pd.Timestamp) -> pd.Series:
    """Customer ids confirmed as fraud on or before `date` (a label without a date counts)."""
    if fraud_labels is None or len(fraud_labels) == 0:
        return pd.Series([], dtype="str")
    fl = fraud_labels
    ok = pd.Series(True, index=fl.index)
    if "confirmed_on" in fl.columns:
        d = pd.to_datetime(fl["confirmed_on"])
        ok = d.isna() | (d <= pd.Timestamp(date))
    return fl.loc[ok, "customer_id"].dropna().astype("str").reset_index(drop=True)


def customer_features(
    n: int,
    accounts: pd.DataFrame | dict | None,
    payments: pd.DataFrame | dict | None,
    contacts: pd.DataFrame | dict | None,
    shared_values: np.ndarray,
    date: pd.Timestamp,
) -> pd.DataFrame:
    """The features above for customers 0..n-1, from what is known on `date`.

    Integer-coded inputs (frames, or dicts of equal-length arrays): `accounts` (cust, acc,
    open_date, dpd, snapshot_date), `payments` (acc, paid_on), `contacts` (acc, contacted_on,
    and either outcome or the booleans wrong_number and no_answer); `acc` codes index one
    account space, `cust` codes 0..n-1; `shared_values[c]` is the number of linking values
    customer c holds. Every step is a numpy pass over the rows (no sort, no pandas groupby).
    """
    date = pd.Timestamp(date)
    out = {f: np.zeros(n) for f in OWN_FEATURES}
    out["open_day"] = np.full(n, np.nan)
    out["shared_values"] = np.log1p(np.asarray(shared_values, float))
    if accounts is None or len(accounts["cust"]) == 0:
        return _frame(out, n)
    n_acc = 1 + int(max([0] + [int(np.max(t["acc"])) for t in (accounts, payments, contacts)
                               if t is not None and len(t["acc"])]))
    # Each part keeps its per-row temporaries to itself, so at most one table's rows are
    # expanded at a time (the 1M book: 12.7M account rows, 22M contacts).
    acc = _account_part(accounts, n, n_acc, date)
    has_acc, opened = acc["has_acc"], acc["opened"]
    age_days = (date.value - opened[has_acc]) / 86_400e9
    out["short_tenure"][has_acc] = age_days < SHORT_TENURE_DAYS
    out["log_tenure"][has_acc] = np.log1p(np.maximum(age_days, 0) / 30.44)
    out["open_day"][has_acc] = opened[has_acc] / 86_400e9
    cust_of, default_start = acc["cust_of"], acc.get("default_start")
    if default_start is not None:
        out["dpd_share_of_age"] = acc["worst"]
        out["early_default"] = acc["early"].astype(float)
    paid, paid_after = _payment_part(payments, cust_of, default_start, n, date)
    out["never_paid"] = (has_acc & ~paid).astype(float)
    if default_start is not None:
        defaulted = np.zeros(n, bool)
        d_acc = np.flatnonzero(default_start < np.iinfo(np.int64).max)
        d_cust = cust_of[d_acc]
        defaulted[d_cust[d_cust >= 0]] = True
        out["unpaid_since_default"] = (defaulted & ~paid_after).astype(float)
    if contacts is not None and len(contacts["acc"]):
        total, wn, na = _contact_part(contacts, cust_of, n, date)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["wrong_number_share"] = np.where(total > 0, wn / np.maximum(total, 1), 0.0)
            out["no_answer_share"] = np.where(total > 0, na / np.maximum(total, 1), 0.0)
    return _frame(out, n)


def _frame(cols: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    """The feature frame in OWN_FEATURES order (+ open_day), without copying the columns."""
    names = OWN_FEATURES + ["open_day"]
    return pd.DataFrame({f: cols[f] for f in names}, index=pd.RangeIndex(n), copy=False)


def _account_part(accounts, n: int, n_acc: int, date: pd.Timestamp) -> dict[str, np.ndarray]:
    day_ns = 86_400_000_000_000
    a_open = _ns(accounts["open_date"])
    sel = np.flatnonzero((a_open != _NAT) & (a_open <= date.value) & (np.asarray(accounts["cust"]) >= 0))
    a_cust = np.asarray(accounts["cust"])[sel]
    a_acc = np.asarray(accounts["acc"])[sel]
    a_open = a_open[sel]
    res: dict[str, np.ndarray] = {}
    cust_of = np.full(n_acc, -1, np.int64)
    cust_of[a_acc] = a_cust
    has_acc = np.zeros(n, bool)
    has_acc[a_cust] = True
    opened = np.full(n, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(opened, a_cust, a_open)
    res.update(cust_of=cust_of, has_acc=has_acc, opened=opened)
    if "dpd" not in accounts:
        return res
    dpd = np.asarray(accounts["dpd"])[sel]
    snap = _ns(accounts["snapshot_date"])[sel]
    del sel
    # Each account's latest snapshot on or before the date (keys are unique per snapshot).
    latest = np.full(n_acc, np.iinfo(np.int64).min, np.int64)
    np.maximum.at(latest, a_acc, snap)
    last = np.flatnonzero(snap == latest[a_acc])
    del latest
    age = np.floor_divide(date.value - a_open[last], day_ns).astype(float)
    share = np.clip(dpd[last].astype(float) / np.maximum(age, 1.0), 0.0, 1.0)
    worst = np.zeros(n)
    np.maximum.at(worst, a_cust[last], share)
    del last, age, share
    # Start of each account's first delinquency seen so far: snapshot date - dpd.
    late = np.flatnonzero(dpd > 0)
    start = dpd[late].astype(np.int64)
    start *= -day_ns
    start += snap[late]
    del snap, dpd
    default_start = np.full(n_acc, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(default_start, a_acc[late], start)
    lag = (start - a_open[late]) / 86_400e9
    early = np.zeros(n, bool)
    early[a_cust[late][lag <= EARLY_DEFAULT_DAYS]] = True
    res.update(worst=worst, default_start=default_start, early=early)
    return res


def _payment_part(payments, cust_of: np.ndarray, default_start: np.ndarray | None, n: int,
                  date: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    paid = np.zeros(n, bool)
    paid_after = np.zeros(n, bool)
    if payments is None or len(payments["acc"]) == 0:
        return paid, paid_after
    paid_on = _ns(payments["paid_on"])
    pacc = np.asarray(payments["acc"])
    keep = np.flatnonzero((paid_on != _NAT) & (paid_on <= date.value) & (pacc >= 0))
    pacc, paid_on = pacc[keep].astype(np.int64), paid_on[keep]
    del keep
    payer = cust_of[pacc]
    paid[payer[payer >= 0]] = True
    if default_start is not None:
        after = (payer >= 0) & (paid_on > default_start[pacc])
        paid_after[payer[after]] = True
    return paid, paid_after


def _contact_part(contacts, cust_of: np.ndarray, n: int,
                  date: pd.Timestamp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    on = _ns(contacts["contacted_on"])
    cacc = np.asarray(contacts["acc"])
    keep = (on != _NAT) & (on <= date.value) & (cacc >= 0)
    if "wrong_number" in contacts:
        wrong, no_answer = np.asarray(contacts["wrong_number"], bool), np.asarray(contacts["no_answer"], bool)
    else:
        outcome = np.asarray(contacts["outcome"], dtype=object)
        wrong, no_answer = outcome == "wrong_number", outcome == "no_answer"
    who = np.where(keep, cust_of[np.maximum(cacc, 0)], -1)
    del keep
    ok = np.flatnonzero(who >= 0)
    who = who[ok]
    total = np.bincount(who, minlength=n).astype(float)
    wn = np.bincount(who[wrong[ok]], minlength=n).astype(float)
    na = np.bincount(who[no_answer[ok]], minlength=n).astype(float)
    return total, wn, na


_NAT = np.iinfo(np.int64).min


def _ns(x) -> np.ndarray:
    """Dates as int64 nanoseconds (NaT: the smallest int64)."""
    arr = x.to_numpy() if isinstance(x, pd.Series) else np.asarray(x)
    return np.asarray(arr, "datetime64[ns]").view(np.int64)


def graph_features(own: pd.DataFrame, nodes: np.ndarray, u: np.ndarray, v: np.ndarray,
                   w: np.ndarray) -> pd.DataFrame:
    """`own` plus GRAPH_FEATURES; node i of the edge list is customer `nodes[i]` of `own`."""
    out = own.copy(deep=False)
    for f in GRAPH_FEATURES:
        out[f] = 0.0
    if len(u) == 0:
        return out
    k = len(nodes)
    a, b, ww = np.r_[u, v], np.r_[v, u], np.r_[w, w]
    strength = np.bincount(a, weights=ww, minlength=k)
    degree = np.bincount(a, minlength=k)
    vals = np.zeros(len(own))
    vals[nodes] = np.log1p(degree)
    out["linked_customers"] = vals
    for src, dst in (("dpd_share_of_age", "neighbour_dpd_share"),
                     ("wrong_number_share", "neighbour_wrong_number_share"),
                     ("never_paid", "neighbour_never_paid")):
        x = own[src].to_numpy()[nodes]
        mean = np.bincount(a, weights=ww * x[b], minlength=k) / np.maximum(strength, 1e-12)
        vals = np.zeros(len(own))
        vals[nodes] = mean
        out[dst] = vals
    return out


def community_features(feats: pd.DataFrame, nodes: np.ndarray, labels: np.ndarray,
                       open_day: np.ndarray | None = None) -> pd.DataFrame:
    """`feats` plus COMMUNITY_FEATURES; node i (customer `nodes[i]`) is in community labels[i].

    `open_day[c]`: day number of customer c's first account opening (NaN without accounts).
    """
    out = feats.copy(deep=False)
    for f in COMMUNITY_FEATURES:
        out[f] = 0.0
    inside = labels >= 0
    if not inside.any():
        return out
    who, lab = nodes[inside], labels[inside]
    size = np.bincount(lab).astype(float)
    vals = np.zeros(len(out))
    vals[who] = np.log1p(size[lab])
    out["community_size"] = vals
    for src, dst in (("dpd_share_of_age", "community_dpd_share"),
                     ("wrong_number_share", "community_wrong_number_share"),
                     ("never_paid", "community_never_paid"), ("short_tenure", "community_short_tenure"),
                     ("early_default", "community_early_default"),
                     ("unpaid_since_default", "community_unpaid_since_default")):
        if src not in feats.columns:
            continue
        mean = np.bincount(lab, weights=feats[src].to_numpy()[who]) / size
        vals = np.zeros(len(out))
        vals[who] = mean[lab]
        out[dst] = vals
    if open_day is not None:
        # Share of the community that opened within OPENED_TOGETHER_DAYS of its median opening:
        # ring members open within weeks of each other, households over years.
        day = np.asarray(open_day, float)[who]
        med = pd.Series(day).groupby(lab).median().reindex(np.arange(len(size))).to_numpy()
        close = np.abs(day - med[lab]) <= OPENED_TOGETHER_DAYS
        vals = np.zeros(len(out))
        vals[who] = (np.bincount(lab, weights=close.astype(float), minlength=len(size)) / size)[lab]
        out["community_opened_together"] = vals
    return out


def id_hash(ids: np.ndarray) -> np.ndarray:
    """pandas' 64-bit hash of each id (uint64): what `estimate` folds by and what the ring
    state's node hashes start from; carried with the customers from night to night."""
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


def fold_hash(ids: np.ndarray | None = None, hashed: np.ndarray | None = None) -> np.ndarray:
    """The per-customer hash `estimate` folds and samples by (int64), from the ids or from
    their `id_hash`."""
    h = id_hash(ids) if hashed is None else np.asarray(hashed, np.uint64)
    return (h % np.uint64(1_000_003)).astype(np.int64)


def _fold(ids: np.ndarray) -> np.ndarray:
    # A hash of the customer id: a customer keeps its fold (and its place in the fit sample)
    # from night to night, so estimates do not jitter when other customers come and go.
    h = pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)
    return (h % np.uint64(1_000_003)).astype(np.int64)


def shared_by_kind(feats: pd.DataFrame, n_by_kind: dict[str, np.ndarray]) -> pd.DataFrame:
    """`feats` plus `shared_<kind>` = log(1 + linking values of that kind) per graph kind."""
    out = feats.copy(deep=False)
    for kind in sorted(n_by_kind):
        out[f"shared_{kind}"] = np.log1p(np.asarray(n_by_kind[kind], float))
    return out


def estimate(features: pd.DataFrame, confirmed: np.ndarray, ids: np.ndarray | None = None,
             fold_hash: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, object]]:
    """Estimated fraud propensity per row of `features` (labels ignored: see module doc).

    Returns the estimates (not yet set to 1 for confirmed customers) and what was done.
    `fold_hash`: `_fold(ids)` when the caller has it (the carried customers keep theirs).
    `apply(fit(...))`: the split lets an engine fit on a sample gathered from its partitions
    and apply per partition (`collections_engine.spark`), with the same bits.
    """
    h = _hash_of(len(features), ids, fold_hash)
    model = fit(features, confirmed, fold_hash=h)
    return apply(model, features, fold_hash=h), dict(model.info)


@dataclass
class PropensityModel:
    """What `fit` learned: the prior, or one logistic model per fold (or the fold's constant
    where its training rows held one class) and the label rate `c` (Elkan & Noto)."""

    method: str                                    # "prior" or "logistic"
    names: list[str]                               # the columns read, in order
    folds: list[tuple[float, np.ndarray] | float] = field(default_factory=list)
    c: float = 1.0
    info: dict[str, object] = field(default_factory=dict)


def _hash_of(n: int, ids: np.ndarray | None, fold_hash: np.ndarray | None) -> np.ndarray:
    if fold_hash is not None:  # `_fold(ids)`, carried from night to night (rings.carry)
        return np.asarray(fold_hash, np.int64)
    return _fold(np.asarray(ids, dtype=object) if ids is not None else np.arange(n).astype(str))


def sample_rows(confirmed: np.ndarray, fold_hash: np.ndarray, n_unconfirmed: int) -> np.ndarray:
    """The rows `fit` learns from (bool): every confirmed row and a deterministic subsample
    of the others by `fold_hash`, about MAX_FIT_ROWS of the `n_unconfirmed` of the whole
    table. A row's membership depends only on its own label and hash, so partitions can pick
    their part of the sample on their own."""
    y = np.asarray(confirmed, bool)
    keep_rate = min(1.0, MAX_FIT_ROWS / max(n_unconfirmed, 1))
    return y | (((np.asarray(fold_hash, np.int64) // FOLDS) % 1000) < keep_rate * 1000)


def fit(features: pd.DataFrame, confirmed: np.ndarray, ids: np.ndarray | None = None,
        fold_hash: np.ndarray | None = None, n_unconfirmed: int | None = None) -> PropensityModel:
    """The propensity model from `features` (every row, or only `sample_rows` of a larger table:
    then `n_unconfirmed` is the whole table's count of unconfirmed rows, and `fold_hash` the
    rows' hashes). Either gives the same model."""
    names = list(features.columns)
    y = np.asarray(confirmed, bool)
    n_pos = int(y.sum())
    n_neg = int((~y).sum()) if n_unconfirmed is None else int(n_unconfirmed)
    if n_pos < MIN_LABELS or n_neg < MIN_LABELS:
        return PropensityModel("prior", names, info={"method": "prior", "labels": n_pos})
    names = [f for f in names if f not in AGE_FEATURES]
    h = _hash_of(len(y), ids, fold_hash)
    fold = h % FOLDS
    # A deterministic subsample of the unconfirmed keeps the fit cheap on a large book; their
    # sample weight restores the base rate.
    keep_rate = min(1.0, MAX_FIT_ROWS / max(n_neg, 1))
    fit_rows = sample_rows(y, h, n_neg)
    weight = np.where(y, 1.0, 1.0 / keep_rate)
    cols = [features[f].to_numpy(float) for f in names]
    with threadpool_limits(1):  # small dense fits: BLAS threads only contend (5x slower)
        folds, coefs = _fit_folds(cols, y, fold, fit_rows, weight)
    # c: the mean out-of-fold estimate over the confirmed rows (all of them in the sample)
    conf = np.flatnonzero(y)
    g = _out_of_fold(folds, cols, fold, conf)
    c = float(g.mean()) if n_pos else 1.0
    info: dict[str, object] = {"method": "logistic", "labels": n_pos, "label_rate_c": round(c, 6)}
    if coefs:
        mean = np.mean(coefs, axis=0)
        info["coefficients"] = {"intercept": round(float(mean[0]), 4),
                                **{f: round(float(b), 4) for f, b in zip(names, mean[1:])}}
    return PropensityModel("logistic", names, folds, c, info)


def apply(model: PropensityModel, features: pd.DataFrame, ids: np.ndarray | None = None,
          fold_hash: np.ndarray | None = None) -> np.ndarray:
    """The estimate of every row of `features` (any slice of the rows gives the same values
    for those rows: each row reads only its own features and its fold's model)."""
    if model.method == "prior":
        # summed column by column in feature order, not as a matrix product: BLAS's last bit
        # depends on how many rows one call holds (2 of 10,125 rows differed by 4e-17 when the
        # fixture's customers were cut in seven), and a row must not depend on its partition
        z = np.zeros(len(features))
        for f in features.columns:
            z += PRIOR.get(f, 0.0) * features[f].to_numpy(float)
        z += PRIOR["intercept"]
        return 1.0 / (1.0 + np.exp(-z))
    fold = _hash_of(len(features), ids, fold_hash) % FOLDS
    cols = [features[f].to_numpy(float) for f in model.names]
    g = _out_of_fold(model.folds, cols, fold, np.arange(len(fold)))
    return np.clip(g / max(model.c, 1e-9), 0.0, 1.0)


def _fit_folds(cols: list[np.ndarray], y: np.ndarray, fold: np.ndarray, fit_rows: np.ndarray,
               weight: np.ndarray) -> tuple[list[tuple[float, np.ndarray] | float], list[np.ndarray]]:
    """Per fold, the model of P(confirmed | x) fitted on the other folds' sample rows (or that
    training set's label mean when it holds one class). Only the fit sample is ever a matrix
    (the 1M book's whole one would be 0.6 GB)."""
    folds: list[tuple[float, np.ndarray] | float] = []
    coefs = []
    fit = np.flatnonzero(fit_rows)
    x_fit, y_fit, w_fit, f_fit = np.column_stack([c[fit] for c in cols]), y[fit], weight[fit], fold[fit]
    for k in range(FOLDS):
        train = f_fit != k
        if y_fit[train].sum() == 0 or (~y_fit[train]).sum() == 0:
            folds.append(float(y_fit[train].mean()) if train.any() else 0.0)
            continue
        model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100)
        model.fit(x_fit[train], y_fit[train], sample_weight=w_fit[train])
        folds.append((float(model.intercept_[0]), model.coef_.ravel().astype(float)))
        coefs.append(np.r_[model.intercept_, model.coef_.ravel()])
    return folds, coefs


def _out_of_fold(folds: list[tuple[float, np.ndarray] | float], cols: list[np.ndarray], fold: np.ndarray,
                 rows: np.ndarray) -> np.ndarray:
    """P(confirmed | x) of `rows`, each from its fold's model: expit(intercept + sum of
    coef_f * x_f), summed in feature order without the matrix (sklearn's matrix product may
    differ in the last bit)."""
    g = np.zeros(len(rows))
    f_rows = fold[rows]
    for k, m in enumerate(folds):
        at = np.flatnonzero(f_rows == k)
        if isinstance(m, float):
            g[at] = m
            continue
        intercept, coef = m
        r = rows[at]
        z = np.full(len(r), intercept)
        for b, c in zip(coef, cols):
            z += float(b) * c[r]
        g[at] = expit(z)
    return g


# Community model (see `community_estimate`).
COMMUNITY_MODEL_OWN = ["never_paid", "wrong_number_share", "no_answer_share", "early_default",
                       "unpaid_since_default", "shared_values"]
COMMUNITY_MODEL_GROUP = ["community_opened_together", "community_size"]
MIN_COMMUNITY_LABELS = 10
LABEL_DELAY_DAYS = 200


def community_estimate(features: pd.DataFrame, code: np.ndarray, community: np.ndarray,
                       confirmed: np.ndarray, ids: np.ndarray, first_day: np.ndarray,
                       date: pd.Timestamp, ids_sorted: bool = False) -> tuple[pd.Series | None, dict[str, object]]:
    """P(the community is a ring) per community label, positive-unlabelled at community level.

    Row i: customer `code[i]` (row of `features`, `confirmed`, `ids`, `first_day`) is in
    `community[i]`. A community is labelled when any member is confirmed. Features: member
    means of COMMUNITY_MODEL_OWN and `shared_<kind>`, plus COMMUNITY_MODEL_GROUP; no age
    feature. The model is fitted only on communities whose median member was first seen at
    least LABEL_DELAY_DAYS before the date (labels come 60-200 days after first sight: younger
    communities cannot be labelled yet, and as negatives they would teach "new = honest");
    out of fold by a hash of the community's smallest member id; divided by c = mean
    out-of-fold estimate over labelled communities (Elkan & Noto), clipped to [0, 1].
    Returns None (and why) with fewer than MIN_COMMUNITY_LABELS labelled or unlabelled
    communities to fit on. `ids_sorted`: `ids` are in increasing order, so a community's
    smallest member id is that of its smallest code (an integer minimum instead of pandas'
    minimum of Python strings: 0.2 s per pass on the 1M book's 1.28M members).
    """
    cols = COMMUNITY_MODEL_OWN + sorted(c for c in features.columns if c.startswith("shared_")
                                        and c != "shared_values") + COMMUNITY_MODEL_GROUP
    cols = [c for c in cols if c in features.columns]
    frame = features[cols].iloc[code].reset_index(drop=True)
    frame["_comm"] = community
    frame["_conf"] = np.asarray(confirmed, bool)[code]
    frame["_day"] = np.asarray(first_day, float)[code]
    if ids_sorted:
        frame["_code"] = np.asarray(code, np.int64)
    else:
        frame["_id"] = np.asarray(ids, dtype=object)[code]
    g = frame.groupby("_comm", sort=True)
    smallest = (np.asarray(ids, dtype=object)[g["_code"].min().to_numpy()] if ids_sorted
                else g["_id"].min().to_numpy(dtype=object))
    x = g[cols].mean().to_numpy(float)
    y = g["_conf"].any().to_numpy()
    day = g["_day"].median().to_numpy()
    old = ~(day > pd.Timestamp(date).value / 86_400e9 - LABEL_DELAY_DAYS)  # unknown: old
    n_pos, n_neg = int((y & old).sum()), int((~y & old).sum())
    info: dict[str, object] = {"labelled_communities": n_pos, "fit_communities": int(old.sum())}
    if n_pos < MIN_COMMUNITY_LABELS or n_neg < MIN_COMMUNITY_LABELS:
        return None, {**info, "method": "none (too few labelled communities)"}
    fold = _fold(smallest) % FOLDS
    est = np.zeros(len(y))
    coefs = []
    with threadpool_limits(1):
        for k in range(FOLDS):
            train = old & (fold != k)
            if y[train].all() or not y[train].any():
                est[fold == k] = y[train].mean() if train.any() else 0.0
                continue
            model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100)
            model.fit(x[train], y[train])
            est[fold == k] = model.predict_proba(x[fold == k])[:, 1]
            coefs.append(np.r_[model.intercept_, model.coef_.ravel()])
    c = float(est[y].mean()) if y.any() else 1.0
    out = pd.Series(np.clip(est / max(c, 1e-9), 0.0, 1.0), index=g.size().index)
    info.update({"method": "logistic", "label_rate_c": round(c, 6)})
    if coefs:
        mean = np.mean(coefs, axis=0)
        info["coefficients"] = {"intercept": round(float(mean[0]), 4),
                                **{f: round(float(b), 4) for f, b in zip(cols, mean[1:])}}
    return out, info
