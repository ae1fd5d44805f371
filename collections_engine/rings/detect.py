"""Fraud-ring detection on one snapshot date: graph, communities, propensity, flags, ids.

A community (connected, see `community`) is a ring when it has at least `ring.min_size`
members and the mean fraud propensity of its members (confirmed: 1; others: the estimate of
`propensity`) reaches `ring.threshold`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config.graph import GraphConfig
from collections_engine.errors import InputError
from collections_engine.rings.community import find_communities
from collections_engine.rings.graph import clean_identifiers, link_customers
from collections_engine.rings.match import match_ring_ids
from collections_engine.rings.propensity import confirmed_on, customer_features, estimate

__all__ = ["RINGS_COLUMNS", "MEMBERS_COLUMNS", "RingsResult", "detect_rings", "empty_rings"]

RINGS_COLUMNS = ["ring_id", "customer_ids", "account_ids", "size", "score", "confirmed",
                 "evidence", "first_flagged", "score_unconfirmed"]
MEMBERS_COLUMNS = ["customer_id", "ring_id", "ring_score", "confirmed", "propensity"]


@dataclass
class RingsResult:
    """`rings`: CONTRACT.md's rings table (+ `score_unconfirmed`); `members`: one row per ring
    member for placement; `communities`: every community of at least `min_size` members with
    its score, flagged or not (for analysts and benchmarks)."""

    rings: pd.DataFrame
    members: pd.DataFrame
    communities: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, object] = field(default_factory=dict)


def empty_rings() -> pd.DataFrame:
    return pd.DataFrame({
        "ring_id": pd.Series([], dtype="str"), "customer_ids": pd.Series([], dtype=object),
        "account_ids": pd.Series([], dtype=object), "size": pd.Series([], dtype="int64"),
        "score": pd.Series([], dtype="float64"), "confirmed": pd.Series([], dtype="int64"),
        "evidence": pd.Series([], dtype="str"),
        "first_flagged": pd.Series([], dtype="datetime64[ns]"),
        "score_unconfirmed": pd.Series([], dtype="float64"),
    })


def detect_rings(
    book: Book, graph: GraphConfig, date: pd.Timestamp | str, *,
    previous: pd.DataFrame | None = None,
) -> RingsResult:
    """Rings on `date`; `previous` (an earlier rings table) keeps ring ids stable."""
    date = pd.Timestamp(date)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if graph.community.method == "louvain" and graph.community.objective != "modularity":
        raise InputError("graph file", [
            "community.objective: louvain optimises modularity only; found 'CPM', expected "
            "'modularity' (or method: leiden)"])
    clean, warnings, id_stats = clean_identifiers(book.identifiers, graph, date)
    cg = link_customers(clean, graph)
    timings["graph_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    labels = find_communities(cg.n_nodes, cg.u, cg.v, cg.w, graph.community, graph.ring.min_size)
    timings["communities_s"] = time.perf_counter() - t

    t = time.perf_counter()
    accounts = book.accounts
    if accounts is not None and "snapshot_date" in accounts.columns:
        accounts = accounts[accounts["snapshot_date"] <= date]
    population = pd.Index(np.unique(np.concatenate([
        clean["customer_id"].to_numpy(dtype=object),
        accounts["customer_id"].dropna().to_numpy(dtype=object) if accounts is not None else np.array([], object),
    ]).astype(str)), name="customer_id")
    shared_counts = pd.Series(np.bincount(cg.shared["node"].to_numpy(), minlength=cg.n_nodes),
                              index=pd.Index(cg.customers.astype(str)))
    feats = customer_features(population, accounts, book.payments, book.contacts, shared_counts, date)
    confirmed_ids = confirmed_on(book.fraud_labels, date)
    is_conf = population.isin(list(confirmed_ids))
    est, prop_info = estimate(feats, is_conf)
    prop = pd.Series(np.where(is_conf, 1.0, est), index=population)
    est_s = pd.Series(est, index=population)
    timings["propensity_s"] = time.perf_counter() - t

    t = time.perf_counter()
    in_comm = labels >= 0
    node_ids = cg.customers.astype(str)
    comm = pd.DataFrame({"node": np.flatnonzero(in_comm), "community": labels[in_comm],
                         "customer_id": node_ids[in_comm]})
    comm["propensity"] = prop.reindex(comm["customer_id"]).to_numpy()
    comm["estimate"] = est_s.reindex(comm["customer_id"]).to_numpy()
    comm["confirmed"] = comm["customer_id"].isin(list(confirmed_ids))
    comm["est_unconf"] = comm["estimate"].where(~comm["confirmed"])
    g = comm.groupby("community")
    summary = pd.DataFrame({"size": g.size(), "score": g["propensity"].mean(),
                            "confirmed": g["confirmed"].sum().astype("int64"),
                            "score_unconfirmed": g["est_unconf"].mean()})
    summary = summary[summary["size"] >= graph.ring.min_size]
    summary["flagged"] = summary["score"] >= graph.ring.threshold
    comm = comm[comm["community"].isin(summary.index)]
    communities = comm[["customer_id", "community", "propensity", "confirmed"]].merge(
        summary[["size", "score", "flagged"]], left_on="community", right_index=True)

    flagged = summary[summary["flagged"]]
    fm = comm[comm["community"].isin(flagged.index)].sort_values(["community", "customer_id"])
    member_lists = fm.groupby("community")["customer_id"].agg(list)
    ids = match_ring_ids(member_lists, previous, date)
    rings = _rings_table(flagged, member_lists, ids, fm, cg.shared, accounts)
    members = fm.assign(ring_id=fm["community"].map(ids["ring_id"]),
                        ring_score=fm["community"].map(flagged["score"]))
    members = members[MEMBERS_COLUMNS].sort_values("customer_id", ignore_index=True)
    members["customer_id"] = members["customer_id"].astype("str")
    members["ring_id"] = members["ring_id"].astype("str")
    timings["rings_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0

    stats: dict[str, object] = {
        "date": date.strftime("%Y-%m-%d"), "identifiers": id_stats, "graph": cg.stats,
        "communities_min_size": int(len(summary)), "rings": int(len(rings)),
        "ring_members": int(len(members)), "propensity": prop_info,
        "matched_previous": int((ids["matched_overlap"] > 0).sum()),
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    return RingsResult(rings, members, communities.reset_index(drop=True), warnings, stats)


def _rings_table(flagged: pd.DataFrame, member_lists: pd.Series, ids: pd.DataFrame,
                 fm: pd.DataFrame, shared: pd.DataFrame, accounts: pd.DataFrame | None) -> pd.DataFrame:
    if len(flagged) == 0:
        return empty_rings()
    node_comm = pd.Series(fm["community"].to_numpy(), index=fm["node"].to_numpy())
    # Evidence: per ring and kind, members sharing a value of that kind with another member.
    sh = shared[shared["node"].isin(node_comm.index)].copy()
    sh["community"] = node_comm.reindex(sh["node"]).to_numpy()
    per_value = sh.groupby(["community", "group"])["node"].transform("size")
    sh = sh[per_value >= 2]
    ev = sh.groupby(["community", "kind"])["node"].nunique()
    evidence = {c: json.dumps({k: int(n) for k, n in s.droplevel(0).items()}, sort_keys=True)
                for c, s in ev.groupby(level=0)}
    if accounts is not None and len(accounts):
        acc = accounts[["customer_id", "account_id"]].drop_duplicates()
        acc = acc.merge(fm[["customer_id", "community"]], on="customer_id")
        acc_lists = acc.sort_values("account_id").groupby("community")["account_id"].agg(list)
    else:
        acc_lists = pd.Series(dtype=object)
    idx = flagged.index
    rings = pd.DataFrame({
        "ring_id": ids.loc[idx, "ring_id"].astype("str").to_numpy(),
        "customer_ids": [list(map(str, member_lists[c])) for c in idx],
        "account_ids": [list(map(str, acc_lists.get(c, []))) for c in idx],
        "size": flagged["size"].astype("int64").to_numpy(),
        "score": flagged["score"].astype("float64").to_numpy(),
        "confirmed": flagged["confirmed"].astype("int64").to_numpy(),
        "evidence": pd.array([evidence.get(c, "{}") for c in idx], dtype="str"),
        "first_flagged": pd.to_datetime(ids.loc[idx, "first_flagged"]).astype("datetime64[ns]").to_numpy(),
        "score_unconfirmed": flagged["score_unconfirmed"].astype("float64").to_numpy(),
    })
    return rings.sort_values(["score", "ring_id"], ascending=[False, True], kind="mergesort",
                             ignore_index=True)
