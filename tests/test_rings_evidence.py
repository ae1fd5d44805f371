"""Issue 17: a community is a ring only when its unconfirmed members carry evidence of their own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from collections_engine.config import load_graph, load_strategy
from collections_engine.config.graph import GraphConfig
from collections_engine.errors import ConfigError
from collections_engine.io import write_parquet
from collections_engine.io.load import load_book
from collections_engine.rings import detect_rings
from collections_engine.rings.flag import member_links, unconfirmed_evidence
from collections_engine.synth import SynthParams, generate_book
from tests.ring_households import households_flagged, plant_households
from tests.ring_books import DATE, KINDS, book_of, clique

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("book")
    strategy = load_strategy(ROOT / "strategies" / "default.yaml")
    for name, frame in generate_book(SynthParams(accounts=20000, days=1, seed=11), strategy).items():
        if not isinstance(frame, pd.DataFrame):  # truth/world.json
            continue
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        write_parquet(frame, data / f"{name}.parquet")
    return data


def test_one_label_households_in_a_generated_book_are_never_flagged(generated: Path) -> None:
    book, _ = load_book(generated)
    truth = pd.read_parquet(generated / "truth" / "rings.parquet")
    date = book.snapshot_dates()[-1]
    book, hh = plant_households(book, date, set(truth["customer_id"]), n=10, seed=3)
    graph = load_graph(ROOT / "graphs" / "default.yaml")
    res = detect_rings(book, graph, date)
    assert (households_flagged(hh, res.members)["relatives_in_rings"] == 0).all()
    # The confirmed members are still confirmed (they go to the fraud queue on their own label)
    # and no community holding a planted member is flagged.
    c = res.communities.merge(hh, on="customer_id")
    assert c["household"].nunique() == 10 and not c["flagged"].any()
    assert res.stats["held_back_for_evidence"] >= 10
    # Without the rule (evidence_threshold 0) the same households are flagged: the test can fail.
    loose = graph.model_copy(update={"ring": graph.ring.model_copy(update={"evidence_threshold": 0.0})})
    res0 = detect_rings(book, loose, date)
    assert (households_flagged(hh, res0.members)["relatives_in_rings"] > 0).sum() >= 8
    # Planted rings are still found as before.
    pred = set(res.members["customer_id"])
    assert pred <= set(res0.members["customer_id"])
    assert len(pred & set(truth["customer_id"])) == len(set(res0.members["customer_id"]) & set(truth["customer_id"]))


def test_relatives_with_propensity_or_device_links_to_the_confirmed_make_a_ring() -> None:
    # Three households of 3 sharing an address, long-standing paying customers; one member of
    # each confirmed. Household "d" also shares one device with its confirmed member; in "p"
    # the two relatives opened recently and never paid (high propensity of their own).
    rows = (clique("a", 3, "address") + clique("d", 3, "address") + clique("d", 3, "device")
            + clique("p", 3, "address"))
    book = book_of(rows, labels=["a0", "d0", "p0"], never_paid=False)
    young = book.accounts["customer_id"].isin(["p1", "p2"])
    book.accounts["open_date"] = np.where(young, DATE - pd.Timedelta(days=40), DATE - pd.Timedelta(days=2000))
    book.payments = book.payments[~book.payments["account_id"].isin(["Ap1", "Ap2"])].reset_index(drop=True)
    graph = GraphConfig(kinds=KINDS, ring={"min_size": 3, "threshold": 0.3, "evidence_threshold": 0.3,
                                           "link_evidence": {"device": 0.5}})
    res = detect_rings(book, graph, DATE)
    flagged = {c for ids in res.rings["customer_ids"] for c in ids}
    ev = res.communities.drop_duplicates("community").set_index(res.communities.drop_duplicates("community")["customer_id"].str[0])
    assert {"d0", "d1", "d2", "p1", "p2"} <= flagged and not {"a0", "a1", "a2"} & flagged
    assert ev.loc["d", "evidence_unconfirmed"] >= 0.5
    assert ev.loc["a", "evidence_unconfirmed"] < 0.3
    assert ev.loc["p", "evidence_unconfirmed"] > ev.loc["a", "evidence_unconfirmed"]
    ring = res.rings[res.rings["customer_ids"].map(lambda ids: ids[0] == "d0")].iloc[0]
    assert "confirmed fraud" in ring["reason"] and "device" in ring["reason"]
    links = json.loads(ring["links"])
    assert links["confirmed"] == [0] and ["device", [0, 1, 2]] in links["values"]


def test_evidence_matches_the_formula_member_by_member() -> None:
    rng = np.random.default_rng(5)
    n = 40
    comm = pd.DataFrame({"node": np.arange(n), "community": rng.integers(0, 6, n),
                         "confirmed": rng.random(n) < 0.3, "propensity": rng.random(n)})
    comm.loc[comm["confirmed"], "propensity"] = 1.0
    group = rng.integers(0, 25, 120)  # a group is one (kind, value)
    shared = pd.DataFrame({"node": rng.integers(0, n, 120), "group": group,
                           "kind": np.array(["device", "address", "phone"])[group % 3]}).drop_duplicates()
    link = member_links(comm, shared, {"device": 0.4, "phone": 0.2})
    # Slow obvious version: for each unconfirmed member, the values it holds that a confirmed
    # member of its own community also holds.
    for i, r in comm.iterrows():
        best = 0.0
        if not r["confirmed"]:
            mine = shared[shared["node"] == r["node"]]
            for _, s in mine.iterrows():
                others = shared[(shared["group"] == s["group"]) & (shared["kind"] == s["kind"])]["node"]
                mates = comm[comm["node"].isin(others) & (comm["community"] == r["community"]) & comm["confirmed"]]
                if len(mates):
                    best = max(best, {"device": 0.4, "phone": 0.2}.get(s["kind"], 0.0))
        assert link[i] == pytest.approx(best), i
    ev = unconfirmed_evidence(comm, link, None)
    for c, grp in comm.groupby("community"):
        un = grp[~grp["confirmed"]]
        e = 1 - (1 - un["propensity"]) * (1 - link[un.index])
        assert ev.loc[c, "evidence_unconfirmed"] == pytest.approx(e.mean() if len(un) else 1.0)


def test_check_names_a_link_kind_that_is_not_a_graph_kind(tmp_path: Path) -> None:
    text = (ROOT / "graphs" / "default.yaml").read_text()
    assert "link_evidence:" in text
    bad = text.replace("link_evidence: {device:", "link_evidence: {devise:")
    (tmp_path / "g.yaml").write_text(bad)
    with pytest.raises(ConfigError, match=r"ring\.link_evidence\.devise \(line \d+\): unknown key 'devise': not a kind of `kinds`"):
        load_graph(tmp_path / "g.yaml")
    bad = text.replace("evidence_threshold: 0.3", "evidence_threshold: 1.5")
    (tmp_path / "g.yaml").write_text(bad)
    with pytest.raises(ConfigError, match=r"ring\.evidence_threshold"):
        load_graph(tmp_path / "g.yaml")


def test_community_tuning_keys_default_to_the_measured_constants_and_take_effect() -> None:
    from collections_engine.config.graph import Community
    from collections_engine.rings import community as cm

    d = Community()
    assert (d.iterations, d.refine_above, d.merge_cross_share, d.merge_mutual_share, d.trim_min_strength,
            d.trim_min_strong_members) == (cm.LEIDEN_ITERATIONS, cm.REFINE_ABOVE, cm.MAX_CROSS_SHARE,
                                           cm.MUTUAL_SHARE, cm.MIN_LINK_STRENGTH, cm.MIN_STRONG_MEMBERS)
    # A ring of 5 sharing a device and a phone, and a relative sharing one address with r0 and r1 (strength
    # 0.5): peeled at the default strength 0.6, kept when trim_min_strength is 0.4.
    rows = clique("r", 5) + clique("r", 5, "phone") + [("r0", "address", "home"), ("r1", "address", "home"),
                                                      ("x", "address", "home")]
    book = book_of(rows)
    sizes = []
    for strength in (0.6, 0.4):
        g = GraphConfig(kinds=KINDS, community={"trim_min_strength": strength}, ring={"threshold": 0.0})
        sizes.append(sorted(detect_rings(book, g, DATE).rings["size"].tolist()))
    assert sizes == [[5], [6]]
