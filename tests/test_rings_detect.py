"""Communities, ring flags, propensity and stable ids on small hand-made books."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from collections_engine.config.graph import GraphConfig
from collections_engine.errors import InputError
from collections_engine.rings import detect_rings, find_communities, match_ring_ids
from collections_engine.rings.community import trim_weak_members
from collections_engine.rings.propensity import MIN_LABELS, confirmed_on, estimate
from tests.ring_books import DATE, KINDS, book_of, clique


def two_cliques_weak_bridge(n: int = 5) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    u, v = [], []
    for off in (0, n):
        for i in range(n):
            for j in range(i + 1, n):
                u.append(off + i); v.append(off + j)
    u.append(0); v.append(n)
    return 2 * n, np.array(u), np.array(v), np.ones(len(u))


@pytest.mark.parametrize("method", ["leiden", "louvain"])
def test_per_component_modularity_splits_a_bridged_pair_among_many_components(method: str) -> None:
    # One component of two 5-cliques joined by one edge, plus 300 separate triangles. On the
    # whole graph modularity's resolution limit would merge the pair; per component it does not.
    n, u, v, w = two_cliques_weak_bridge()
    us, vs = [u], [v]
    for t in range(300):
        b = n + 3 * t
        us.append(np.array([b, b, b + 1])); vs.append(np.array([b + 1, b + 2, b + 2]))
    u, v = np.concatenate(us), np.concatenate(vs)
    w = np.ones(len(u))
    cfg = GraphConfig(kinds=KINDS, community={"method": method}).community
    labels = find_communities(n + 900, u, v, w, cfg, min_size=3)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:10])) == 1 and labels[0] != labels[5]
    assert len(np.unique(labels)) == 302


def test_weak_members_are_trimmed_and_rings_stay_connected() -> None:
    # A 4-clique (strength 3 each) with a pendant hanging on by 0.25 and another by 1.0.
    u = np.array([0, 0, 0, 1, 1, 2, 3, 0])
    v = np.array([1, 2, 3, 2, 3, 3, 4, 5])
    w = np.array([1, 1, 1, 1, 1, 1, 0.25, 1.0])
    out = trim_weak_members(np.zeros(6, np.int64), u, v, w, min_strength=0.6)
    assert list(out) == [0, 0, 0, 0, -1, 0]


def test_a_ring_with_a_confirmed_member_is_flagged_with_its_evidence() -> None:
    rows = clique("r", 5) + clique("r", 3, "phone") + clique("h", 4, "address")
    book = book_of(rows, labels=["r0"], never_paid=True)
    graph = GraphConfig(kinds=KINDS, ring={"min_size": 3, "threshold": 0.5})
    res = detect_rings(book, graph, DATE)
    assert len(res.rings) >= 1
    ring = res.rings.set_index("ring_id").loc[res.members.set_index("customer_id").loc["r0", "ring_id"]]
    assert ring["customer_ids"] == [f"r{i}" for i in range(5)]
    assert ring["account_ids"] == [f"Ar{i}" for i in range(5)]
    assert ring["size"] == 5 and ring["confirmed"] == 1
    assert ring["evidence"] == '{"device": 5, "phone": 3}'
    assert ring["first_flagged"] == DATE
    props = res.members.set_index("customer_id")["propensity"]
    assert props["r0"] == 1.0
    assert ring["score"] == pytest.approx(props[ring["customer_ids"]].mean())
    assert list(res.rings.columns[:8]) == ["ring_id", "customer_ids", "account_ids", "size", "score",
                                          "confirmed", "evidence", "first_flagged"]


def test_threshold_and_min_size_gate_the_flag() -> None:
    rows = clique("r", 5) + clique("s", 2)
    res = detect_rings(book_of(rows), GraphConfig(kinds=KINDS, ring={"min_size": 3, "threshold": 1.0}), DATE)
    assert len(res.rings) == 0 and len(res.members) == 0
    res = detect_rings(book_of(rows), GraphConfig(kinds=KINDS, ring={"min_size": 3, "threshold": 0.0}), DATE)
    assert res.rings["size"].tolist() == [5]


def test_same_rings_whatever_the_row_order_and_the_global_random_state_untouched() -> None:
    rng = np.random.default_rng(3)
    rows = [(f"c{rng.integers(60):02d}", str(rng.choice(list(KINDS))), f"v{rng.integers(25)}")
            for _ in range(200)]
    graph = GraphConfig(kinds=KINDS, ring={"min_size": 3, "threshold": 0.0})
    random.seed(11)
    state = random.getstate()
    a = detect_rings(book_of(rows), graph, DATE)
    assert random.getstate() == state
    b = detect_rings(book_of(list(reversed(rows))), graph, DATE)
    pd.testing.assert_frame_equal(a.rings, b.rings)
    pd.testing.assert_frame_equal(a.members, b.members)


def test_louvain_with_cpm_is_refused() -> None:
    graph = GraphConfig(kinds=KINDS, community={"method": "louvain", "objective": "CPM"})
    with pytest.raises(InputError, match="louvain optimises modularity only"):
        detect_rings(book_of(clique("r", 3)), graph, DATE)


def test_ring_ids_survive_growth_and_splits_keep_the_closest_part() -> None:
    d1, d2 = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02")
    first = match_ring_ids(pd.Series({0: ["a", "b", "c"], 1: ["x", "y", "z"]}), None, d1)
    prev = pd.DataFrame({"ring_id": first["ring_id"], "customer_ids": [["a", "b", "c"], ["x", "y", "z"]],
                         "first_flagged": first["first_flagged"]})
    assert first["ring_id"].str.match(r"^R[0-9a-f]{10}$").all()
    tonight = pd.Series({5: ["a", "b", "c", "d", "e", "f", "g"], 6: ["x", "y"], 7: ["z", "q", "r"], 8: ["m", "n", "o"]})
    ids = match_ring_ids(tonight, prev, d2)
    assert ids.loc[5, "ring_id"] == first.loc[0, "ring_id"] and ids.loc[5, "first_flagged"] == d1
    assert ids.loc[6, "ring_id"] == first.loc[1, "ring_id"]          # the closer part of the split
    assert ids.loc[7, "ring_id"] not in set(first["ring_id"]) and ids.loc[7, "first_flagged"] == d2
    assert ids["ring_id"].is_unique
    again = match_ring_ids(tonight, prev, d2)
    pd.testing.assert_frame_equal(ids, again)


def test_labels_after_the_date_are_not_known_yet() -> None:
    fl = pd.DataFrame({"customer_id": pd.Series(["a", "b", "c"], dtype="str"),
                       "confirmed_on": pd.to_datetime(["2026-01-01", None, "2026-03-01"])})
    assert sorted(confirmed_on(fl, DATE)) == ["a", "b"]


def test_propensity_prior_with_few_labels_and_logistic_with_enough() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    x = pd.DataFrame({"never_paid": rng.random(n) < 0.1, "wrong_number_share": rng.random(n) * 0.1,
                      "no_answer_share": 0.0, "short_tenure": rng.random(n) < 0.2,
                      "early_default": rng.random(n) < 0.2,
                      "shared_values": np.log1p(rng.integers(0, 3, n))}).astype(float)
    fraud = (x["never_paid"] > 0) & (x["early_default"] > 0)
    y = fraud.to_numpy() & (rng.random(n) < 0.5)
    p, info = estimate(x, np.zeros(n, bool))
    assert info["method"] == "prior" and ((p > 0) & (p < 1)).all()
    assert int(y.sum()) >= MIN_LABELS
    p, info = estimate(x, y)
    assert info["method"] == "logistic"
    assert p[fraud.to_numpy()].mean() > 0.7 > 0.1 > p[~fraud.to_numpy()].mean()


def test_propensity_transfers_to_young_fraud_without_labels() -> None:
    # Labels arrive late: only old fraudsters are confirmed. The logistic model must not learn
    # "young = honest" from that (age features are left out of the fit, AGE_FEATURES).
    rng = np.random.default_rng(1)
    n = 4000
    x = pd.DataFrame({"never_paid": rng.random(n) < 0.2, "short_tenure": rng.random(n) < 0.3,
                      "early_default": rng.random(n) < 0.2}).astype(float)
    fraud = ((x["never_paid"] > 0) & (x["early_default"] > 0)).to_numpy()
    young = x["short_tenure"].to_numpy() > 0
    y = fraud & ~young & (rng.random(n) < 0.6)
    assert int(y.sum()) >= MIN_LABELS and (fraud & young).sum() >= 5
    p, info = estimate(x, y)
    assert info["method"] == "logistic" and "short_tenure" not in info["coefficients"]
    assert p[fraud & young].mean() > 0.5 > 0.1 > p[~fraud].mean()


def test_entangled_neighbours_merge_but_separate_structures_do_not() -> None:
    from collections_engine.rings.community import merge_entangled

    n, u, v, w = two_cliques_weak_bridge()           # 1 of 21 links crosses: two rings
    member = np.repeat([0, 1], 5)
    assert len(set(merge_entangled(member, u, v, w))) == 2
    u2, v2 = np.r_[u, [1, 2, 3]], np.r_[v, [6, 7, 8]]  # 4 of 24 cross: one ring cut in two
    assert len(set(merge_entangled(member, u2, v2, np.ones(len(u2))))) == 1


def _clique_edges(nodes: list[int], w: float) -> list[tuple[int, int, float]]:
    return [(a, b, w) for i, a in enumerate(nodes) for b in nodes[i + 1:]]


def test_address_only_ring_next_to_a_strong_household_is_not_trimmed() -> None:
    # 14 members sharing one address (strength 0.5 each) and, in the same community, a household
    # of 4 sharing address and landline (strength 1.5 each) tied to one member by an employer.
    ring, house = list(range(14)), list(range(14, 18))
    edges = _clique_edges(ring, 0.5 / 13) + _clique_edges(house, 1.5 / 3) + [(0, 14, 0.01)]
    u, v, w = (np.array(x) for x in zip(*edges))
    out = trim_weak_members(np.zeros(18, np.int64), u, v, w)
    assert (out[ring] >= 0).all() and len(set(out[ring])) == 1
    # Co-workers hanging on a strong ring (employer links, far below the ring's strength) go.
    edges = _clique_edges(list(range(6)), 1 / 5) + [(0, k, 0.2 / 10) for k in range(6, 16)]
    u, v, w = (np.array(x) for x in zip(*edges))
    out = trim_weak_members(np.zeros(16, np.int64), u, v, w)
    assert (out[:6] >= 0).all() and (out[6:] == -1).all()


def test_keep_cores_keeps_the_strongest_block_not_the_largest() -> None:
    from collections_engine.rings.community import keep_cores

    ring = list(range(6))                       # one device shared by 6: 0.2 per pair
    coworkers = [5] + list(range(6, 12))        # one employer shared by 7 through member 5
    edges = _clique_edges(ring, 0.2) + _clique_edges(coworkers, 0.2 / 6)
    u, v, w = (np.array(x) for x in zip(*edges))
    labels = np.zeros(12, np.int64)
    assert (keep_cores(labels, u, v)[6:] >= 0).all()          # by size: the co-workers' block
    out = keep_cores(labels, u, v, w)
    assert (out[:6] >= 0).all() and (out[6:] == -1).all()


def test_community_model_scores_young_unlabelled_rings() -> None:
    from collections_engine.rings.propensity import community_estimate

    rng = np.random.default_rng(3)
    n_comm, size = 400, 4
    is_ring = np.arange(n_comm) < 60
    young = rng.random(n_comm) < 0.3
    comm = np.repeat(np.arange(n_comm), size)
    n = len(comm)
    feats = pd.DataFrame({
        "never_paid": 0.0, "wrong_number_share": rng.random(n) * 0.05, "no_answer_share": 0.1,
        "early_default": np.where(is_ring[comm], rng.random(n) < 0.9, rng.random(n) < 0.05),
        "unpaid_since_default": 0.0, "shared_values": 1.0,
        "community_opened_together": np.where(is_ring[comm], 1.0, rng.random(n_comm)[comm] * 0.5),
        "community_size": np.log1p(size)}).astype(float)
    date = pd.Timestamp("2026-01-31")
    first_day = np.where(young[comm], date.value / 86_400e9 - 30, date.value / 86_400e9 - 900)
    # Half the old rings have a confirmed member; young ones have none (labels come late).
    labelled = is_ring & ~young & (np.arange(n_comm) % 2 == 0)
    confirmed = np.zeros(n, bool)
    confirmed[np.flatnonzero(labelled[comm])[::size]] = True
    ids = np.array([f"C{i:05d}" for i in range(n)], dtype=object)
    est, info = community_estimate(feats, np.arange(n), comm, confirmed, ids, first_day, date)
    assert info["method"] == "logistic" and est is not None
    # the sorted-ids path (a community's smallest member by its smallest code, as detect calls
    # it) equals the minimum of the id strings: members interleaved across communities, codes
    # with gaps and decreasing within a community
    order = np.lexsort((comm, np.tile(np.arange(size), n_comm)))
    code = 2 * (n - 1 - order)
    spread = pd.DataFrame(0.0, index=np.arange(2 * n), columns=feats.columns)
    spread.iloc[code] = feats.iloc[order].to_numpy()
    wide = np.array([f"C{i:05d}" for i in range(2 * n)], dtype=object)
    got = []
    for by_code in (False, True):
        conf2, day2 = np.zeros(2 * n, bool), np.zeros(2 * n)
        conf2[code], day2[code] = confirmed[order], first_day[order]
        got.append(community_estimate(spread, code, comm[order], conf2, wide, day2, date, ids_sorted=by_code))
    assert got[0][1]["method"] == "logistic" and got[0][1] == got[1][1]
    pd.testing.assert_series_equal(got[0][0], got[1][0], check_exact=True)
    e = est.reindex(np.arange(n_comm)).to_numpy()
    assert e[is_ring & young].mean() > 0.5 > 0.1 > e[~is_ring].mean()
    # Too few labelled communities: no community model.
    est, info = community_estimate(feats, np.arange(n), comm, np.zeros(n, bool), ids, first_day, date)
    assert est is None
