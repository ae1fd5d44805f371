"""The ring step's fraud propensity computed where its rows live (docs/notes/issue-22.md).

`rings.detect` builds, for every customer of the night, its own features (from its accounts,
payments and contacts), graph features (sums over its edges), community features (sums over
its community's members) and per-kind counts of its linking values, then fits the out-of-fold
logistic model on a deterministic sample and estimates every customer. Each piece is local:

- own features read one customer's rows: one customer bucket (`bucket_features`);
- graph, community and shared-value features read a node's edges and its community, both
  inside its connected component: one part of whole components (`part_features`); customers
  without an edge are a part without edges;
- the sample is chosen row by row (`propensity.sample_rows`: a customer's own label and id
  hash, and the whole night's count of unconfirmed customers), so each part sends its share;
  the driver fits on the sample in customer-id order (`fit_sample`, `propensity.fit`);
- the estimate of a row reads only that row and its fold's model (`propensity.apply`): it is
  made in the part, with the model broadcast.

Every function is plain pandas and numpy, the same arithmetic as `rings.detect` in the same
order, so the pieces put together give the in-process estimates to the bit (tested against
`detect_rings` on generated books, `tests/test_spark_propensity.py`). The Spark engine's ring
job calls them: `bucket_features` in the night's buckets, the others through
`spark.ring_parts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from collections_engine.rings.propensity import (
    PropensityModel, apply, community_features, customer_features, fit, fold_hash, graph_features, sample_rows,
    shared_by_kind,
)

__all__ = ["PartFeatures", "bucket_features", "part_features", "part_sample", "fit_sample", "part_estimates"]


def _pick(col: pd.Series) -> np.ndarray:
    """A column as `rings.account_phase` hands it to the features (dates as datetime64[ns])."""
    return col.to_numpy() if pd.api.types.is_integer_dtype(col.dtype) else col.to_numpy("datetime64[ns]")


def bucket_features(accounts: pd.DataFrame, payments: pd.DataFrame | None, contacts: pd.DataFrame | None,
                    date: pd.Timestamp) -> pd.DataFrame:
    """The own features (`propensity.customer_features`' frame: `shared_values` is 0 here, the
    part sets it) of the customers of the account rows known on `date`, one row each, sorted by
    customer id (column `customer_id`). The tables hold every row of those customers and of
    their accounts (a customer bucket), typed by the loader."""
    date = pd.Timestamp(date)
    cust_col = accounts["customer_id"].astype("str")
    known = (accounts["snapshot_date"].to_numpy("datetime64[ns]") <= date.to_datetime64()
             if "snapshot_date" in accounts.columns else np.ones(len(accounts), bool))
    known &= accounts["customer_id"].notna().to_numpy()
    ids = np.unique(cust_col.to_numpy(dtype=object)[known]) if known.any() else np.array([], dtype=object)
    cust = np.full(len(accounts), -1, np.int64)
    cust[known] = np.searchsorted(ids, cust_col.to_numpy(dtype=object)[known])
    pieces = [accounts["account_id"]] + [t["account_id"] for t in (payments, contacts) if t is not None]
    codes, _ = pd.factorize(pd.concat([p.astype("str").where(p.notna(), None) for p in pieces],
                                      ignore_index=True))
    cuts = np.cumsum([0] + [len(p) for p in pieces])
    acc_codes = [codes[cuts[i]:cuts[i + 1]].astype(np.int64) for i in range(len(pieces))]
    a = {"cust": cust, "acc": acc_codes[0], "open_date": _pick(accounts["open_date"]),
         "dpd": _pick(accounts["dpd"]), "snapshot_date": _pick(accounts["snapshot_date"])}
    p = c = None
    i = 1
    if payments is not None:
        p = {"acc": acc_codes[i], "paid_on": _pick(payments["paid_on"])}
        i += 1
    if contacts is not None:
        outcome = contacts["outcome"].astype("str").where(contacts["outcome"].notna(), "")
        c = {"acc": acc_codes[i], "contacted_on": _pick(contacts["contacted_on"]),
             "wrong_number": (outcome == "wrong_number").to_numpy(bool),
             "no_answer": (outcome == "no_answer").to_numpy(bool)}
    feats = customer_features(len(ids), a, p, c, np.zeros(len(ids)), date)
    feats.insert(0, "customer_id", pd.array(ids, dtype="str"))
    return feats


@dataclass
class PartFeatures:
    """A part's customers (sorted ids), their feature frame (`rings.detect`'s columns, in its
    order), first day seen (the earlier of first opening and first identifier) and fold hash."""

    customer_ids: np.ndarray
    features: pd.DataFrame
    first_day: np.ndarray
    fold_hash: np.ndarray


def part_features(customer_ids: np.ndarray, own: pd.DataFrame, first_seen: np.ndarray, u: np.ndarray,
                  v: np.ndarray, w: np.ndarray, labels: np.ndarray, shared_node: np.ndarray,
                  shared_kind: np.ndarray, kinds: list[str]) -> PartFeatures:
    """The features of a part that holds whole components (or customers without an edge).

    `customer_ids`: the part's customers, sorted; `own`: `bucket_features`' columns (no
    `customer_id`) in that order, NaN `open_day` and zeros for a customer without accounts;
    `first_seen`: day number of each one's earliest identifier (NaN: none); `u`, `v`, `w`: the
    part's edges between positions, sorted by (u, v) (as `graph.link_codes` sorts the whole
    graph's); `labels`: community per customer (-1: none); `shared_node`, `shared_kind`: one
    row per (customer position, kind name) of each linking value it holds; `kinds`: the graph
    file's kinds. The steps and their order are `rings.detect._propensity_phase`'s."""
    n = len(customer_ids)
    feats = own.reset_index(drop=True).copy()
    counts = np.bincount(np.asarray(shared_node, np.int64), minlength=n).astype(float)
    feats["shared_values"] = np.log1p(counts)
    first_day = np.fmin(feats.pop("open_day").to_numpy(), np.asarray(first_seen, float))
    nodes = np.arange(n, dtype=np.int64)
    feats = graph_features(feats, nodes, np.asarray(u, np.int64), np.asarray(v, np.int64), np.asarray(w, float))
    feats = community_features(feats, nodes, np.asarray(labels, np.int64), open_day=first_day)
    by_kind = {k: np.zeros(n, np.int64) for k in kinds}
    shared_kind = np.asarray(shared_kind, dtype=object)
    for k in pd.unique(shared_kind):
        by_kind[str(k)] = np.bincount(np.asarray(shared_node, np.int64)[shared_kind == k], minlength=n)
    feats = shared_by_kind(feats, by_kind)
    return PartFeatures(np.asarray(customer_ids, dtype=object), feats, first_day,
                        fold_hash(np.asarray(customer_ids, dtype=object)))


def part_sample(part: PartFeatures, confirmed: np.ndarray, n_unconfirmed: int) -> pd.DataFrame:
    """The part's share of the fit sample: features, `_id`, `_confirmed`, `_hash`."""
    rows = np.flatnonzero(sample_rows(confirmed, part.fold_hash, n_unconfirmed))
    out = part.features.iloc[rows].reset_index(drop=True)
    return out.assign(_id=part.customer_ids[rows], _confirmed=np.asarray(confirmed, bool)[rows],
                      _hash=part.fold_hash[rows])


def fit_sample(samples: list[pd.DataFrame], n_unconfirmed: int) -> PropensityModel:
    """The propensity model from the parts' samples, put in customer-id order (the in-process
    row order), with the whole night's count of unconfirmed customers."""
    s = pd.concat(samples, ignore_index=True)
    s = s.iloc[np.argsort(s["_id"].to_numpy(dtype=object), kind="stable")].reset_index(drop=True)
    feats = s.drop(columns=["_id", "_confirmed", "_hash"])
    return fit(feats, s["_confirmed"].to_numpy(bool), fold_hash=s["_hash"].to_numpy(np.int64),
               n_unconfirmed=n_unconfirmed)


def part_estimates(model: PropensityModel, part: PartFeatures) -> np.ndarray:
    """The label-free estimate of each customer of the part (`rings.detect`'s `est`)."""
    return apply(model, part.features, fold_hash=part.fold_hash)
