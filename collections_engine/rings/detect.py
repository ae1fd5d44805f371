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
import pyarrow.compute as pc

from collections_engine.book import Book
from collections_engine.config.graph import GraphConfig
from collections_engine.errors import InputError
from collections_engine.rings.community import find_communities, keep_cores, trim_weak_members
from collections_engine.rings.codes import category_codes, encode, encode_arrow, to_arrow, to_object
from collections_engine.rings.graph import clean_identifiers, link_codes, link_customers, usable_rows, value_groups  # noqa: F401 (link_customers: benchmarks wrap it)
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
    ident = book.identifiers
    accounts = book.accounts
    if ident is None or len(ident) == 0:
        _, warnings, id_stats = clean_identifiers(None, graph, date)
        ident = pd.DataFrame({c: pd.Series([], dtype="str") for c in ("customer_id", "kind", "value")})
        keep, kind_codes, kinds = np.zeros(0, bool), np.zeros(0, np.int64), []
    else:
        keep, kind_codes, kinds, warnings, id_stats = usable_rows(ident, graph, date)
    # Account rows known on the date, as a mask (no copy of the 12-month history frame).
    if "snapshot_date" in accounts.columns:
        a_known = accounts["snapshot_date"].to_numpy("datetime64[ns]") <= date.to_datetime64()
    else:
        a_known = np.ones(len(accounts), bool)
    labelled = confirmed_on(book.fraud_labels, date)
    # One code space for customers: the customers of the usable identifier rows, of the
    # accounts on or before the date and of the labels, numbered in sorted id order, so joins
    # become indexing. Encoded on the whole columns, then narrowed to those customers.
    (ci_all, ca_all, cl_all), cust_dict = encode_arrow(ident["customer_id"], accounts["customer_id"], labelled)
    used = np.zeros(len(cust_dict) + 1, bool)  # last slot: code -1 (missing)
    used[ci_all[keep]] = True
    used[ca_all[a_known]] = True
    used[cl_all] = True
    used[-1] = False
    remap = (np.cumsum(used) - 1).astype(np.int32)
    remap[~used] = -1
    ci_all, c_lab = remap[ci_all], remap[cl_all]
    c_acc = np.where(a_known, remap[ca_all], -1)  # -1: a row after the date
    del ca_all, cl_all
    customer_ids = to_object(cust_dict, np.flatnonzero(used[:-1]))
    n_cust = len(customer_ids)
    vcode = value_groups(ident["value"], kind_codes, keep)
    cg = link_codes(kind_codes, kinds, vcode, np.where(keep, ci_all, -1), customer_ids, graph)
    # Done with the per-identifier-row arrays (19.5M rows on the 1M book) before Leiden.
    first_seen = _first_seen_day(ident, ci_all, n_cust, date)
    del vcode, ci_all, keep, kind_codes
    timings["graph_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    labels = find_communities(cg.n_nodes, cg.u, cg.v, cg.w, graph.community, graph.ring.min_size)
    labels = trim_weak_members(labels, cg.u, cg.v, cg.w)
    labels = keep_cores(labels, cg.u, cg.v, cg.w)
    timings["communities_s"] = time.perf_counter() - t

    t = time.perf_counter()
    pay, con = book.payments, book.contacts
    (a_acc, a_pay, a_con), account_dict = encode_arrow(
        accounts["account_id"],
        pay["account_id"] if pay is not None else pd.Series([], dtype="str"),
        con["account_id"] if con is not None else pd.Series([], dtype="str"), sort=False)
    acc_codes = {"cust": c_acc, "acc": a_acc, "open_date": _dates(accounts["open_date"]),
                 "dpd": accounts["dpd"].to_numpy(), "snapshot_date": _dates(accounts["snapshot_date"])}
    pay_codes = None if pay is None else {"acc": a_pay, "paid_on": _dates(pay["paid_on"])}
    con_codes = None if con is None else {
        "acc": a_con, "contacted_on": _dates(con["contacted_on"]),
        "wrong_number": _equals(con["outcome"], "wrong_number"), "no_answer": _equals(con["outcome"], "no_answer")}
    shared_node = cg.shared["node"].to_numpy()
    shared_counts = np.bincount(cg.codes[shared_node], minlength=n_cust).astype(float)
    feats = customer_features(n_cust, acc_codes, pay_codes, con_codes, shared_counts, date)
    first_day = np.fmin(feats.pop("open_day").to_numpy(), first_seen)
    feats = graph_features(feats, cg.codes, cg.u, cg.v, cg.w)
    feats = community_features(feats, cg.codes, labels, open_day=first_day)
    (sh_kind,), sh_kinds = encode(cg.shared["kind"])
    sh_code = cg.codes[shared_node]
    by_kind = {k: np.zeros(n_cust, np.int64) for k in graph.kinds}
    for i, k in enumerate(sh_kinds):  # one pass per graph kind (a handful), not per row
        by_kind[k] = np.bincount(sh_code[sh_kind == i], minlength=n_cust)
    feats = shared_by_kind(feats, by_kind)
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
    acc_comm = np.where(c_acc >= 0, ring_of[np.maximum(c_acc, 0)], -1)
    in_ring = np.flatnonzero((acc_comm >= 0) & (a_acc >= 0))
    acc_ring = pd.DataFrame({"community": acc_comm[in_ring], "acc": a_acc[in_ring]}).drop_duplicates()
    acc_ring["account_id"] = to_object(account_dict, acc_ring["acc"].to_numpy())
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


def _first_seen_day(identifiers: pd.DataFrame, codes: np.ndarray, n: int,
                    date: pd.Timestamp) -> np.ndarray:
    """Day number of each of the n customers' earliest identifier `first_seen` on or before
    `date` (NaN when none): when a member's accounts have left the book, its identifiers still
    date it. `codes`: each identifier row's customer code (-1: not a customer of the step)."""
    out = np.full(n, np.nan)
    if "first_seen" not in identifiers.columns or len(identifiers) == 0:
        return out
    seen = pd.to_datetime(identifiers["first_seen"]).to_numpy("datetime64[ns]")
    ok = ~np.isnat(seen) & (seen <= date.to_datetime64()) & (codes >= 0)
    best = np.full(n, np.inf)
    np.minimum.at(best, codes[ok], seen[ok].view(np.int64) / 86_400e9)
    out[np.isfinite(best)] = best[np.isfinite(best)]
    return out


def _dates(col: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    x = col.to_numpy("datetime64[ns]")
    return x if rows is None else x[rows]


def _equals(col: pd.Series, value: str) -> np.ndarray:
    """col == value per row (missing: False), through Arrow or the categories: no Python
    string per row."""
    cat = category_codes(col)
    if cat is not None:
        codes, cats = cat
        hit = np.array([c == value for c in cats] + [False], bool)
        return hit[np.where(codes < 0, len(cats), codes)]
    return pc.fill_null(pc.equal(to_arrow(col), value), False).to_numpy(zero_copy_only=False).astype(bool)


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
    # json.dumps({kind: count}, sort_keys=True) per ring, built for all rings at once: the
    # groupby already orders kinds within a ring; each distinct kind is JSON-quoted once.
    kinds = ev.index.get_level_values(1).astype(str)
    quoted = {k: json.dumps(k) for k in pd.unique(kinds)}
    pieces = pd.Series(kinds.map(quoted).to_numpy(dtype=object), index=ev.index.get_level_values(0))
    pieces = pieces + ": " + ev.to_numpy().astype(np.int64).astype(str)
    evidence = ("{" + pieces.groupby(level=0, sort=True).agg(", ".join) + "}").to_dict()
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
