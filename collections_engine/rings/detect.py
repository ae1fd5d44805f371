"""Fraud-ring detection on one snapshot date: graph, communities, propensity, flags, ids.

A community (connected, see `community`) is a ring when it has at least `ring.min_size`
members, its score reaches `ring.threshold` (the larger of its members' mean fraud propensity,
confirmed: 1, others: the estimate of `propensity`, and the community model's estimate,
`propensity.community_estimate`) and the members who are not confirmed carry evidence of their
own of at least `ring.evidence_threshold` (`flag`); a community matching a ring of the previous
table (see `match`) stays flagged down to both thresholds minus `ring.hold_margin`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collections_engine.book import Book
from collections_engine.config.graph import GraphConfig
from collections_engine.errors import InputError
from collections_engine.steps import Laps
from collections_engine.rings.community import find_communities, keep_cores, trim_weak_members  # noqa: F401 (benchmarks wrap them)
from collections_engine.codes import encode, to_object
from collections_engine.rings.flag import member_links, reasons, unconfirmed_evidence
from collections_engine.rings.incremental import night_communities
from collections_engine.rings.account_phase import AccountPhase, account_phase, account_prep
from collections_engine.rings.carry import Carry
from collections_engine.rings.graph import CustomerGraph, clean_identifiers, link_codes, link_customers, usable_rows, value_groups  # noqa: F401 (link_customers: benchmarks wrap it)
from collections_engine.rings.graph_phase import GraphPhase, Hashes, graph_phase
from collections_engine.rings.match import match_ring_ids
from collections_engine.rings.propensity import (
    community_estimate, community_features, estimate, fold_hash, graph_features, shared_by_kind,
)

__all__ = ["RINGS_COLUMNS", "MEMBERS_COLUMNS", "RingsResult", "detect_rings", "empty_rings"]

RINGS_COLUMNS = ["ring_id", "customer_ids", "account_ids", "size", "score", "confirmed",
                 "evidence", "first_flagged", "score_unconfirmed", "evidence_unconfirmed", "reason", "links"]
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
    # what the next night starts from (`incremental.STATE_FILE` in the run folder)
    state: pd.DataFrame | None = None
    # the identifier graph's inputs for the next night (`carry`; one file per frame)
    carry: Carry | None = None


def empty_rings() -> pd.DataFrame:
    return pd.DataFrame({
        "ring_id": pd.Series([], dtype="str"), "customer_ids": pd.Series([], dtype=object),
        "account_ids": pd.Series([], dtype=object), "size": pd.Series([], dtype="int64"),
        "score": pd.Series([], dtype="float64"), "confirmed": pd.Series([], dtype="int64"),
        "evidence": pd.Series([], dtype="str"),
        "first_flagged": pd.Series([], dtype="datetime64[ns]"),
        "score_unconfirmed": pd.Series([], dtype="float64"),
        "evidence_unconfirmed": pd.Series([], dtype="float64"),
        "reason": pd.Series([], dtype="str"), "links": pd.Series([], dtype="str"),
    })


def detect_rings(
    book: Book, graph: GraphConfig, date: pd.Timestamp | str, *,
    previous: pd.DataFrame | None = None, state: pd.DataFrame | None = None, why_full: str = "",
    carry: Carry | None = None, release: Callable[[tuple[str, ...]], None] | None = None,
) -> RingsResult:
    """Rings on `date`; `previous` (an earlier rings table) keeps ring ids stable; `state` (the
    previous night's ring state, checked by `incremental.check_state`) recomputes only the
    components of the graph that changed since (None: all of them, for the reason `why_full`);
    `carry` (the previous night's carried identifier graph, `carry.check_carry`) builds the graph
    from tonight's rows only when the past rows are unchanged (`graph_phase`).

    Phases: graph, communities, propensity, scores and flags, tables (each timed).

    `release(names)`: called with the book's tables read for the last time, this function's
    references to them (and to their row hashes and the carry's parts read) dropped, so a
    caller that lets go of its own can hand their memory back before the later phases (the
    forked child of the nightly run: `pipeline._detect`): ("identifiers",) after the graph
    phase, the others (RELEASED_LAST) after the own features."""
    date = pd.Timestamp(date)
    laps = Laps()
    if graph.community.method == "louvain" and graph.community.objective != "modularity":
        raise InputError("graph file", [
            "community.objective: louvain optimises modularity only; found 'CPM', expected "
            "'modularity' (or method: leiden)"])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ring-digests") as side:
        # The row hashes behind the carry's digests (a pass over 64M rows at 1M accounts, in
        # numpy and Arrow, which release the GIL) on the second core beside the graph phase;
        # pure, so the same bytes either way.
        # Of the tables' row hashes only the digests of tonight and of the carry's night are
        # kept (`Hashes`: summed a block of rows at a time, the whole hashes never made).
        hashes = Hashes(book, side, dates=(date, *((carry.date,) if carry is not None else ())))
        # then what the own features read before the graph is known (the payments' and
        # contacts' digests, tonight's account codes): on the worker while the graph is built
        prep = side.submit(account_prep, book, date, carry, hashes)
        try:
            gp = graph_phase(book, graph, date, carry, why_full or "no carried identifier graph given", hashes,
                             release_carry=release is not None)
            laps.lap("graph_s")
            if release is not None:  # the identifier rows and the carried graph are read
                hashes.forget("value_fp", "identifiers", "accounts")
                if carry is not None:
                    carry.customers = carry.links = None
                release(("identifiers",))
            # the own features on the same worker (after the hashes) while the communities are found
            own = side.submit(_own_phase, book, gp, date, carry, hashes, prep)
            night = night_communities(gp.cg, graph, state, why_full or "no ring state given",
                                      id_hash=gp.id_hash[gp.cg.codes] if gp.id_hash is not None else None)
            labels = night.labels
            laps.lap("communities_s")
            ap = own.result()
            if release is not None:  # nothing below reads the book's rows, the carry or the hashes
                own = hashes = carry = None
                gp.acc_cust = _released
                release(RELEASED_LAST)
            pp = _propensity_phase(book, graph, gp, labels, date, ap=ap)
            laps.lap("propensity_s")
        except BaseException:
            side.shutdown(wait=False, cancel_futures=True)  # bad input: do not hash the rest
            raise
    comm, summary, comm_info = _score_phase(graph, gp, pp, labels, date)
    ids = _flag_phase(graph, comm, summary, previous, date)
    rings, members = _tables_phase(gp, pp, comm, summary, ids, graph)
    laps.lap("rings_s")
    timings = {**laps.laps, "total_s": laps.total()}
    communities = comm[["customer_id", "community", "propensity", "confirmed"]].merge(
        summary[["size", "score", "flagged", "evidence_unconfirmed"]], left_on="community", right_index=True)
    stats: dict[str, object] = {
        "date": date.strftime("%Y-%m-%d"), "identifiers": gp.id_stats, "graph": gp.cg.stats,
        "communities_min_size": int(len(summary)), "rings": int(len(rings)),
        "ring_members": int(len(members)),
        "held_back_for_evidence": int(((summary["score"] >= graph.ring.threshold) & ~summary["flagged"]).sum()),
        "propensity": {**pp.info, "community_model": comm_info},
        "matched_previous": int((ids["matched_overlap"] > 0).sum()),
        "communities": night.info, "graph_carry": gp.carry_info, "features_carry": pp.accounts.info,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    return RingsResult(rings, members, communities.reset_index(drop=True), gp.warnings, stats, night.state, gp.carry)


# The book's tables the ring step reads until its own features are done (`release`).
RELEASED_LAST = ("accounts", "payments", "contacts", "fraud_labels")


def _released(mask: np.ndarray) -> np.ndarray:
    raise RuntimeError("the book's account rows were released (detect_rings(release=...))")


@dataclass
class _PropensityPhase:
    feats: pd.DataFrame
    est: np.ndarray           # label-free estimate per customer
    prop: np.ndarray          # 1 when confirmed, else est
    is_conf: np.ndarray
    first_day: np.ndarray
    info: dict[str, object]
    accounts: AccountPhase    # own features' source and each account's customer


def _own_phase(book: Book, gp: GraphPhase, date: pd.Timestamp, carry: Carry | None,
               hashes: Hashes | None, prep: Future | None = None) -> AccountPhase:
    """The customers' own features (`account_phase`): they do not depend on the communities.
    `prep`: `account_prep`'s result, being made on the worker."""
    shared_node = gp.cg.shared["node"].to_numpy()
    shared_counts = np.bincount(gp.cg.codes[shared_node], minlength=len(gp.customer_ids)).astype(float)
    return account_phase(book, gp, date, carry, shared_counts, hashes,
                         prep.result() if prep is not None else None)


def _propensity_phase(book: Book, graph: GraphConfig, gp: GraphPhase, labels: np.ndarray,
                      date: pd.Timestamp, carry: Carry | None = None, hashes: Hashes | None = None,
                      ap: AccountPhase | None = None) -> _PropensityPhase:
    """The propensities; `ap`: the own features when the caller has them (`_own_phase`)."""
    if ap is None:
        ap = _own_phase(book, gp, date, carry, hashes)
    cg, n_cust = gp.cg, len(gp.customer_ids)
    feats = ap.feats
    first_day = np.fmin(feats.pop("open_day").to_numpy(), gp.first_seen)
    feats = graph_features(feats, cg.codes, cg.u, cg.v, cg.w)
    feats = community_features(feats, cg.codes, labels, open_day=first_day)
    (sh_kind,), sh_kinds = encode(cg.shared["kind"])
    sh_code = cg.codes[cg.shared["node"].to_numpy()]
    by_kind = {k: np.zeros(n_cust, np.int64) for k in graph.kinds}
    for i, k in enumerate(sh_kinds):  # one pass per graph kind (a handful), not per row
        by_kind[k] = np.bincount(sh_code[sh_kind == i], minlength=n_cust)
    feats = shared_by_kind(feats, by_kind)
    is_conf = np.zeros(n_cust, bool)
    is_conf[gp.c_lab[gp.c_lab >= 0]] = True
    est, info = estimate(feats, is_conf, gp.customer_ids,
                         fold_hash=fold_hash(hashed=gp.id_hash) if gp.id_hash is not None else None)
    return _PropensityPhase(feats, est, np.where(is_conf, 1.0, est), is_conf, first_day, info, ap)


def _score_phase(graph: GraphConfig, gp: GraphPhase, pp: _PropensityPhase, labels: np.ndarray,
                 date: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
    """Members of communities of at least min_size (`comm`) and per community (`summary`): size,
    score = max(member mean, community model), confirmed, score_unconfirmed and the evidence
    the unconfirmed members carry (`flag.unconfirmed_evidence`)."""
    in_comm = np.flatnonzero(labels >= 0)
    code = gp.cg.codes[in_comm]
    comm = pd.DataFrame({"node": in_comm, "community": labels[in_comm],
                         "customer_id": pd.array(gp.customer_ids[code], dtype="str"), "code": code,
                         "propensity": pp.prop[code], "confirmed": pp.is_conf[code]})
    comm["est_unconf"] = np.where(pp.is_conf[code], np.nan, pp.est[code])
    g = comm.groupby("community")
    summary = pd.DataFrame({"size": g.size(), "member_mean": g["propensity"].mean(),
                            "confirmed": g["confirmed"].sum().astype("int64"),
                            "score_unconfirmed": g["est_unconf"].mean()})
    summary = summary[summary["size"] >= graph.ring.min_size]
    comm = comm[comm["community"].isin(summary.index)]
    comm_est, comm_info = community_estimate(pp.feats, comm["code"].to_numpy(), comm["community"].to_numpy(),
                                             pp.is_conf, gp.customer_ids, pp.first_day, date, ids_sorted=True)
    summary["community_model"] = (comm_est.reindex(summary.index).fillna(0.0) if comm_est is not None
                                  else pd.Series(0.0, index=summary.index))
    summary["score"] = np.maximum(summary["member_mean"], summary["community_model"])
    link = member_links(comm, gp.cg.shared, graph.ring.link_evidence)
    ev = unconfirmed_evidence(comm, link, comm_est)
    summary = summary.join(ev)
    return comm, summary, comm_info


def _flag_phase(graph: GraphConfig, comm: pd.DataFrame, summary: pd.DataFrame,
                previous: pd.DataFrame | None, date: pd.Timestamp) -> pd.DataFrame:
    """Sets summary["flagged"] and ["held"]; returns the ring ids of the flagged communities.

    Flag: score >= threshold and evidence_unconfirmed >= evidence_threshold. A community
    matching a ring of the previous table stays flagged down to both minus hold_margin
    (hysteresis), so a case does not flicker as the nightly estimates move."""
    r = graph.ring
    near = summary[(summary["score"] >= r.threshold - r.hold_margin)
                   & (summary["evidence_unconfirmed"] >= r.evidence_threshold - r.hold_margin)]
    cm = comm[comm["community"].isin(near.index)].sort_values(["community", "code"])
    ids = match_ring_ids(cm.groupby("community")["customer_id"].agg(list), previous, date)
    matched = ids["matched_overlap"].reindex(summary.index).fillna(0) > 0
    fresh = (summary["score"] >= r.threshold) & (summary["evidence_unconfirmed"] >= r.evidence_threshold)
    summary["flagged"] = fresh | matched
    summary["held"] = matched & ~fresh
    return ids.loc[summary.index[summary["flagged"]]]


def _tables_phase(gp: GraphPhase, pp: _PropensityPhase, comm: pd.DataFrame, summary: pd.DataFrame,
                  ids: pd.DataFrame, graph: GraphConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    flagged = summary[summary["flagged"]]
    fm = comm[comm["community"].isin(flagged.index)].sort_values(["community", "code"])
    member_lists = fm.groupby("community")["customer_id"].agg(list)
    # Accounts of ring members (every account seen on or before the date), sorted.
    ring_of = np.full(len(gp.customer_ids), -1, np.int64)
    ring_of[fm["code"].to_numpy()] = fm["community"].to_numpy()
    ap = pp.accounts
    acc_comm = ring_of[ap.cust]
    in_ring = np.flatnonzero(acc_comm >= 0)
    acc_ring = pd.DataFrame({"community": acc_comm[in_ring], "acc": ap.acc[in_ring]}).drop_duplicates()
    acc_ring["account_id"] = to_object(ap.account_ids, acc_ring["acc"].to_numpy())
    acc_lists = acc_ring.sort_values(["community", "account_id"]).groupby("community")["account_id"].agg(list)
    flagged = flagged.assign(reason=reasons(flagged, list(graph.ring.link_evidence)))
    rings = _rings_table(flagged, member_lists, ids, fm, gp.cg.shared, acc_lists)
    members = fm.assign(ring_id=fm["community"].map(ids["ring_id"]),
                        ring_score=fm["community"].map(flagged["score"]))
    members = members.sort_values("code")[MEMBERS_COLUMNS].reset_index(drop=True)
    members["customer_id"] = members["customer_id"].astype("str")
    members["ring_id"] = members["ring_id"].astype("str")
    return rings, members


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
    links = _links(sh, fm)
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
        "evidence_unconfirmed": flagged["evidence_unconfirmed"].astype("float64").to_numpy(),
        "reason": pd.array(flagged["reason"].to_numpy(dtype=object), dtype="str"),
        "links": pd.array([links.get(c, '{"confirmed": [], "values": []}') for c in idx], dtype="str"),
    })
    return rings.sort_values(["score", "ring_id"], ascending=[False, True], kind="mergesort",
                             ignore_index=True)


def _links(sh: pd.DataFrame, fm: pd.DataFrame) -> dict[int, str]:
    """Per ring (community): JSON {"confirmed": [member positions], "values": [[kind, [member
    positions]], ...]}, positions into the ring's sorted `customer_ids`, one entry per shared
    value held by two or more members (for the report's network picture)."""
    pos = fm.groupby("community").cumcount().to_numpy()
    pos_of = pd.Series(pos, index=fm["node"].to_numpy())
    conf = fm.loc[fm["confirmed"].to_numpy(bool)]
    conf_pos = pd.Series(pos[fm["confirmed"].to_numpy(bool)], index=conf["community"].to_numpy())
    sh = sh.assign(pos=pos_of.reindex(sh["node"]).to_numpy()).sort_values(["community", "kind", "group", "pos"])
    vals = sh.groupby(["community", "kind", "group"], sort=False)["pos"].agg(list)
    out: dict[int, dict] = {}
    for (c, kind, _), p in vals.items():
        out.setdefault(int(c), {"confirmed": [], "values": []})["values"].append([str(kind), [int(x) for x in p]])
    for c, p in conf_pos.groupby(level=0):
        out.setdefault(int(c), {"confirmed": [], "values": []})["confirmed"] = sorted(int(x) for x in p)
    for d in out.values():  # value groups are numbered in row order: sort by content
        d["values"].sort()
    return {c: json.dumps(d, sort_keys=True, separators=(",", ":")) for c, d in out.items()}


def rings_of_members(graph: GraphConfig, date: pd.Timestamp | str, *, customer_ids: np.ndarray, labels: np.ndarray,
                     features: pd.DataFrame, estimate: np.ndarray, confirmed: np.ndarray, first_day: np.ndarray,
                     shared: pd.DataFrame, accounts_of, previous: pd.DataFrame | None = None,
                     propensity_info: dict[str, object] | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, object]]:
    """`detect_rings`' last phases (scores, flags, ring ids, tables) from the members of the
    communities of at least `ring.min_size` alone, for an engine that found the communities and
    the propensities where the rows live (`collections_engine.spark`): nothing here reads a
    customer outside those communities.

    `customer_ids`: the members, sorted; `labels`: each one's community, numbered as the whole
    graph numbers them; `features`, `estimate` (label-free), `confirmed`, `first_day`: theirs,
    as `_propensity_phase` makes them; `shared`: (node, kind, group) per linking value a member
    holds (node: position in `customer_ids`; any group numbering); `accounts_of(ids)`:
    (account ids, customer ids) of the accounts known on the date of the customers `ids` (the
    flagged members). Returns (rings, members, communities, stats) as `detect_rings` fills
    them."""
    import pyarrow as pa

    date = pd.Timestamp(date)
    ids = np.asarray(customer_ids, dtype=object)
    n = len(ids)
    empty = np.zeros(0, np.int64)
    cg = CustomerGraph(ids, empty, empty, np.zeros(0), shared, {}, np.arange(n, dtype=np.int64))
    gp = GraphPhase(cg, ids, empty, np.asarray(first_day, float), [], {}, lambda mask: empty)
    is_conf = np.asarray(confirmed, bool)
    est = np.asarray(estimate, float)
    pp = _PropensityPhase(features, est, np.where(is_conf, 1.0, est), is_conf, np.asarray(first_day, float),
                          dict(propensity_info or {}), None)  # accounts: the flagged members' (below)
    labels = np.asarray(labels, np.int64)
    comm, summary, comm_info = _score_phase(graph, gp, pp, labels, date)
    ring_ids = _flag_phase(graph, comm, summary, previous, date)
    flagged = comm.loc[comm["community"].isin(summary.index[summary["flagged"]]), "code"].to_numpy()
    acc_ids, owners = accounts_of(ids[np.sort(flagged)])
    acc_codes, acc_dict = pd.factorize(pd.Series(np.asarray(acc_ids, dtype=object)))
    pp.accounts = AccountPhase(pd.DataFrame(), acc_codes.astype(np.int64),
                               np.searchsorted(ids, np.asarray(owners, dtype=object)).astype(np.int64),
                               pa.array(np.asarray(acc_dict, dtype=object), pa.string()))
    rings, members = _tables_phase(gp, pp, comm, summary, ring_ids, graph)
    communities = comm[["customer_id", "community", "propensity", "confirmed"]].merge(
        summary[["size", "score", "flagged", "evidence_unconfirmed"]], left_on="community", right_index=True)
    stats: dict[str, object] = {
        "date": date.strftime("%Y-%m-%d"), "communities_min_size": int(len(summary)), "rings": int(len(rings)),
        "ring_members": int(len(members)),
        "held_back_for_evidence": int(((summary["score"] >= graph.ring.threshold) & ~summary["flagged"]).sum()),
        "propensity": {**pp.info, "community_model": comm_info},
        "matched_previous": int((ring_ids["matched_overlap"] > 0).sum()),
    }
    return rings, members, communities.reset_index(drop=True), stats
