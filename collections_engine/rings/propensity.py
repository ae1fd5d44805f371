"""Fraud propensity per customer: 1 when confirmed, otherwise an estimate from what is known.

Features, all as of the snapshot date (nothing dated after it is used):
- `never_paid`: the customer has accounts opened on or before the date and no payment on any of
  them with `paid_on` <= date;
- `wrong_number_share`, `no_answer_share`: shares of the customer's contacts (`contacted_on` <=
  date) with outcome wrong_number, and no_answer (0 without contacts);
- `short_tenure`: the earliest account opened less than 6 months before the date;
- `shared_values`: log(1 + number of the customer's identifier values that link it to someone).
Customers without accounts get 0 for the account features.

Estimate. With at least MIN_LABELS confirmed customers (and as many others), a logistic
regression of "confirmed by the date" on the features, fitted out of fold (5 folds by a hash of
the customer id, so no customer's own label enters its own estimate). The police confirm only
some of the fraud, so P(confirmed | x) understates P(fraud | x); following Elkan & Noto (2008)
the estimate is P(confirmed | x) / c, clipped to [0, 1], with c the mean out-of-fold
P(confirmed | x) over the confirmed customers (the share of fraud that gets confirmed).
With fewer labels, the documented prior: logit p = -3 + 2.5 never_paid + 1.5 wrong_number_share
+ 0.5 no_answer_share + 1.0 short_tenure + 0.5 shared_values.

Circularity. No feature looks at neighbours' labels or at communities, and each estimate is out
of fold, so a confirmed member lifts its ring's score only through its own 1; the ring table
also reports `confirmed` and `score_unconfirmed` (the mean estimate over unconfirmed members).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

__all__ = ["FEATURES", "MIN_LABELS", "PRIOR", "confirmed_on", "customer_features", "estimate"]

FEATURES = ["never_paid", "wrong_number_share", "no_answer_share", "short_tenure", "shared_values"]
MIN_LABELS = 30
PRIOR = {"intercept": -3.0, "never_paid": 2.5, "wrong_number_share": 1.5, "no_answer_share": 0.5,
         "short_tenure": 1.0, "shared_values": 0.5}
SHORT_TENURE_DAYS = 182
MAX_FIT_ROWS = 200_000
FOLDS = 5


def confirmed_on(fraud_labels: pd.DataFrame | None, date: pd.Timestamp) -> set[str]:
    """Customers confirmed as fraud on or before `date` (a label without a date counts)."""
    if fraud_labels is None or len(fraud_labels) == 0:
        return set()
    fl = fraud_labels
    ok = pd.Series(True, index=fl.index)
    if "confirmed_on" in fl.columns:
        d = pd.to_datetime(fl["confirmed_on"])
        ok = d.isna() | (d <= pd.Timestamp(date))
    return set(fl.loc[ok, "customer_id"].dropna().astype(str))


def customer_features(
    customers: pd.Index,
    accounts: pd.DataFrame | None,
    payments: pd.DataFrame | None,
    contacts: pd.DataFrame | None,
    shared_values: pd.Series,
    date: pd.Timestamp,
) -> pd.DataFrame:
    """The features above for `customers` (index of ids), from what is known on `date`."""
    date = pd.Timestamp(date)
    out = pd.DataFrame(0.0, index=customers, columns=FEATURES)
    out["shared_values"] = np.log1p(shared_values.reindex(customers).fillna(0).to_numpy(float))
    if accounts is None or len(accounts) == 0:
        return out
    acc = accounts
    if "snapshot_date" in acc.columns:
        acc = acc[acc["snapshot_date"] <= date]
    acc = acc[acc["open_date"] <= date]
    acc = acc.drop_duplicates("account_id", keep="last")[["account_id", "customer_id", "open_date"]]
    acc = acc[acc["customer_id"].isin(customers)]
    opened = acc.groupby("customer_id")["open_date"].min()
    short = ((date - opened).dt.days < SHORT_TENURE_DAYS).astype(float)
    out.loc[short.index, "short_tenure"] = short.to_numpy()
    has_acc = pd.Series(True, index=opened.index)
    paid = pd.Series(False, index=opened.index)
    if payments is not None and len(payments):
        p = payments[(payments["paid_on"] <= date)]
        payers = acc.loc[acc["account_id"].isin(p["account_id"]), "customer_id"].unique()
        paid.loc[paid.index.isin(payers)] = True
    out.loc[has_acc.index, "never_paid"] = (~paid).astype(float).to_numpy()
    if contacts is not None and len(contacts):
        c = contacts[contacts["contacted_on"] <= date][["account_id", "outcome"]]
        c = c.merge(acc[["account_id", "customer_id"]], on="account_id", how="inner")
        if len(c):
            g = c.assign(wn=(c["outcome"] == "wrong_number").astype(float),
                         na=(c["outcome"] == "no_answer").astype(float)).groupby("customer_id")
            share = g[["wn", "na"]].mean()
            out.loc[share.index, "wrong_number_share"] = share["wn"].to_numpy()
            out.loc[share.index, "no_answer_share"] = share["na"].to_numpy()
    return out


def _fold(ids: pd.Index) -> np.ndarray:
    return (pd.util.hash_array(ids.to_numpy(dtype=object), categorize=False) % FOLDS).astype(np.int64)


def estimate(features: pd.DataFrame, confirmed: np.ndarray) -> tuple[np.ndarray, dict[str, object]]:
    """Estimated fraud propensity per row of `features` (labels ignored: see module doc).

    Returns the estimates (not yet set to 1 for confirmed customers) and what was done.
    """
    x = features[FEATURES].to_numpy(float)
    y = np.asarray(confirmed, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos < MIN_LABELS or n_neg < MIN_LABELS:
        z = PRIOR["intercept"] + x @ np.array([PRIOR[f] for f in FEATURES])
        return 1.0 / (1.0 + np.exp(-z)), {"method": "prior", "labels": n_pos}
    fold = _fold(features.index)
    # A deterministic subsample of the unconfirmed keeps the fit cheap on a large book; their
    # sample weight restores the base rate.
    h = pd.util.hash_array(features.index.to_numpy(dtype=object), categorize=False, hash_key="0123456789abcdef")
    keep_rate = min(1.0, MAX_FIT_ROWS / max(n_neg, 1))
    fit_rows = y | ((h % 1_000_003) < keep_rate * 1_000_003)
    weight = np.where(y, 1.0, 1.0 / keep_rate)
    g = np.zeros(len(y))
    coefs = []
    for k in range(FOLDS):
        train = fit_rows & (fold != k)
        if y[train].sum() == 0 or (~y[train]).sum() == 0:
            g[fold == k] = y[train].mean() if train.any() else 0.0
            continue
        model = LogisticRegression(C=1.0, max_iter=200)
        model.fit(x[train], y[train], sample_weight=weight[train])
        g[fold == k] = model.predict_proba(x[fold == k])[:, 1]
        coefs.append(np.r_[model.intercept_, model.coef_.ravel()])
    c = float(g[y].mean()) if n_pos else 1.0
    p = np.clip(g / max(c, 1e-9), 0.0, 1.0)
    info: dict[str, object] = {"method": "logistic", "labels": n_pos, "label_rate_c": round(c, 6)}
    if coefs:
        mean = np.mean(coefs, axis=0)
        info["coefficients"] = {"intercept": round(float(mean[0]), 4),
                                **{f: round(float(b), 4) for f, b in zip(FEATURES, mean[1:])}}
    return p, info
