"""Fraud-ring detection on one snapshot date: graph, communities, propensity, flags, ids.

A community (connected, see `community`) is a ring when it has at least `ring.min_size`
members and its score reaches `ring.threshold`: the larger of its members' mean fraud
propensity (confirmed: 1; others: the estimate of `propensity`) and the community model's
estimate (`propensity.community_estimate`); a community matching a ring of the previous table
(see `match`) stays flagged while its score is at least `ring.threshold - HOLD_MARGIN`.
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
from collections_engine.rings.community import find_communities, keep_cores, trim_weak_members
from collections_engine.rings.codes import encode
from collections_engine.rings.graph import clean_identifiers, link_customers
from collections_engine.rings.match import match_ring_ids
from collections_engine.rings.propensity import (
    community_estimate, community_features, confirmed_on, customer_features, estimate, graph_features, shared_by_kind,
)

__all__ = ["RINGS_COLUMNS", "MEMBERS_COLUMNS", "RingsResult", "detect_rings", "empty_rings"]

RINGS_COLUMNS = ["ring_id", "customer_ids", "account_ids", "size", "score", "confirmed",
                 "evidence", "first_flagged", "score_unconfirmed"]
HOLD_MARGIN = 0.1
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
    accounts = book.accounts
    if accounts is not None and "snapshot_date" in accounts.columns:
        accounts = accounts[accounts["snapshot_date"] <= date]
    labelled = confirmed_on(book.fraud_labels, date)
    # One code space for customers (sorted ids) and one for accounts: joins become indexing.
    (c_ident, c_acc, c_lab), customer_ids = encode(
        clean["customer_id"], accounts["customer_id"], labelled)
    n_cust = len(customer_ids)
    cg = link_customers(clean, graph, customer_codes=c_ident, customer_ids=customer_ids)
    timings["graph_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    labels = find_communities(cg.n_nodes, cg.u, cg.v, cg.w, graph.community, graph.ring.min_size)
    labels = trim_weak_members(labels, cg.u, cg.v, cg.w)
    labels = keep_cores(labels, cg.u, cg.v, cg.w)
    timings["communities_s"] = time.perf_counter() - t

    t = time.perf_counter()
    pay, con = book.payments, book.contacts
    (a_acc, a_pay, a_con), account_ids = encode(
        accounts["account_id"],
        pay["account_id"] if pay is not None else pd.Series([], dtype="str"),
        con["account_id"] if con is not None else pd.Series([], dtype="str"), sort=False)
    acc_codes = pd.DataFrame({"cust": c_acc, "acc": a_acc, "open_date": accounts["open_date"].to_numpy(),
                              "dpd": accounts["dpd"].to_numpy(),
                              "snapshot_date": accounts["snapshot_date"].to_numpy()})
    pay_codes = None if pay is None else pd.DataFrame({"acc": a_pay, "paid_on": pay["paid_on"].to_numpy()})
    con_codes = None if con is None else pd.DataFrame({
        "acc": a_con, "contacted_on": con["contacted_on"].to_numpy(), "outcome": con["outcome"].to_numpy()})
    shared_counts = np.zeros(n_cust)
    np.add.at(shared_counts, cg.codes[cg.shared["node"].to_numpy()], 1)
    feats = customer_features(n_cust, acc_codes, pay_codes, con_codes, shared_counts, date)
    first_day = np.fmin(feats.pop("open_day").to_numpy(), _first_seen_day(book.identifiers, customer_ids, date))
    feats = graph_features(feats, cg.codes, cg.u, cg.v, cg.w)
    feats = community_features(feats, cg.codes, labels, open_day=first_day)
    sh_kind = cg.shared["kind"].to_numpy(dtype=object)
    sh_code = cg.codes[cg.shared["node"].to_numpy()]
    feats = shared_by_kind(feats, {k: np.bincount(sh_code[sh_kind == k], minlength=n_cust)
                                   for k in graph.kinds})
    is_conf = np.zeros(n_cust, bool)
    is_conf[c_lab[c_lab >= 0]] = True
    est, prop_info = estimate(feats, is_conf, customer_ids)
    prop = np.where(is_conf, 1.0, est)
    timings["propensity_s"] = time.perf_counter() - t

    t = time.perf_counter()
    in_comm = np.flatnonzero(labels >= 0)
    code = cg.codes[in_comm]
    comm = pd.DataFrame({"node": in_comm, "community": labels[in_comm],
                         "customer_id": pd.array(customer_ids[code], dtype="str"), "code": code,
                         "propensity": prop[code], "confirmed": is_conf[code]})
    comm["est_unconf"] = np.where(is_conf[code], np.nan, est[code])
    g = comm.groupby("community")
    summary = pd.DataFrame({"size": g.size(), "score": g["propensity"].mean(),
                            "confirmed": g["confirmed"].sum().astype("int64"),
                            "score_unconfirmed": g["est_unconf"].mean()})
    summary = summary[summary["size"] >= graph.ring.min_size]
    comm = comm[comm["community"].isin(summary.index)]
    # Ring score: the larger of the members' mean propensity and the community model's estimate
    # (positive-unlabelled at community level, see propensity.community_estimate).
    comm_est, comm_info = community_estimate(feats, comm["code"].to_numpy(), comm["community"].to_numpy(),
                                             is_conf, customer_ids, first_day, date)
    prop_info = {**prop_info, "community_model": comm_info}
    if comm_est is not None:
        summary["score"] = np.maximum(summary["score"], comm_est.reindex(summary.index).fillna(0.0))
    # Flag at the threshold; a ring flagged last night stays flagged down to threshold -
    # HOLD_MARGIN (hysteresis), so a case does not flicker as the nightly estimates move.
    near = summary[summary["score"] >= graph.ring.threshold - HOLD_MARGIN]
    cm = comm[comm["community"].isin(near.index)].sort_values(["community", "code"])
    ids = match_ring_ids(cm.groupby("community")["customer_id"].agg(list), previous, date)
    held = ids["matched_overlap"].reindex(summary.index).fillna(0) > 0
    summary["flagged"] = (summary["score"] >= graph.ring.threshold) | held
    communities = comm[["customer_id", "community", "propensity", "confirmed"]].merge(
        summary[["size", "score", "flagged"]], left_on="community", right_index=True)

    flagged = summary[summary["flagged"]]
    ids = ids.loc[flagged.index]
    fm = comm[comm["community"].isin(flagged.index)].sort_values(["community", "code"])
    member_lists = fm.groupby("community")["customer_id"].agg(list)
    # Accounts of ring members (every account seen on or before the date), sorted.
    ring_of = np.full(n_cust, -1, np.int64)
    ring_of[fm["code"].to_numpy()] = fm["community"].to_numpy()
    acc_ring = pd.DataFrame({"community": ring_of[np.maximum(c_acc, 0)], "acc": a_acc})
    acc_ring = acc_ring[(c_acc >= 0) & (acc_ring["community"] >= 0)].drop_duplicates()
    acc_ring["account_id"] = account_ids[acc_ring["acc"].to_numpy()]
    acc_lists = acc_ring.sort_values(["community", "account_id"]).groupby("community")["account_id"].agg(list)
    rings = _rings_table(flagged, member_lists, ids, fm, cg.shared, acc_lists)
    members = fm.assign(ring_id=fm["community"].map(ids["ring_id"]),
                        ring_score=fm["community"].map(flagged["score"]))
    members = members.sort_values("code")[MEMBERS_COLUMNS].reset_index(drop=True)
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


def _first_seen_day(identifiers: pd.DataFrame | None, customer_ids: np.ndarray,
                    date: pd.Timestamp) -> np.ndarray:
    """Day number of each customer's earliest identifier `first_seen` on or before `date` (NaN
    when none): when a member's accounts have left the book, its identifiers still date it."""
    out = np.full(len(customer_ids), np.nan)
    if identifiers is None or "first_seen" not in identifiers.columns or len(identifiers) == 0:
        return out
    seen = pd.to_datetime(identifiers["first_seen"])
    ok = seen.notna() & (seen <= date)
    code = pd.Index(customer_ids).get_indexer(identifiers.loc[ok, "customer_id"].astype("str"))
    day = seen[ok].to_numpy("datetime64[ns]").view(np.int64) / 86_400e9
    known = code >= 0
    best = np.full(len(customer_ids), np.inf)
    np.minimum.at(best, code[known], day[known])
    out[np.isfinite(best)] = best[np.isfinite(best)]
    return out


def _rings_table(flagged: pd.DataFrame, member_lists: pd.Series, ids: pd.DataFrame,
                 fm: pd.DataFrame, shared: pd.DataFrame, acc_lists: pd.Series) -> pd.DataFrame:
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
