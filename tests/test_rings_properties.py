"""Hypothesis: random identifier tables never crash detection and give well-formed rings."""

from __future__ import annotations

import networkx as nx
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from collections_engine.book import Book
from collections_engine.config.graph import GraphConfig
from collections_engine.rings import clean_identifiers, detect_rings, link_customers

DATE = pd.Timestamp("2026-01-31")
KINDS = {"phone": 1.0, "device": 0.9, "address": 0.5, "employer": 0.2}

row = st.tuples(
    st.integers(0, 40).map(lambda i: f"c{i:02d}"),
    st.sampled_from([*KINDS, "unknown_kind"]),
    st.one_of(st.integers(0, 15).map(lambda i: f"v{i}"), st.sampled_from(["", " "])),
)


@st.composite
def books(draw: st.DrawFn) -> tuple[Book, GraphConfig]:
    rows = draw(st.lists(row, min_size=0, max_size=150))
    ident = pd.DataFrame(rows, columns=["customer_id", "kind", "value"]).astype("str")
    custs = sorted({f"c{i:02d}" for i in range(41)})
    acc = pd.DataFrame({"snapshot_date": DATE, "account_id": [f"A{c}" for c in custs], "customer_id": custs,
                        "open_date": DATE - pd.Timedelta(days=100), "dpd": 10}).astype(
        {"account_id": "str", "customer_id": "str"})
    labelled = draw(st.lists(st.sampled_from(custs), max_size=10, unique=True))
    labels = pd.DataFrame({"customer_id": pd.Series(labelled, dtype="str"), "confirmed_on": pd.NaT})
    graph = GraphConfig(
        kinds=KINDS, hub_max_customers=draw(st.integers(2, 30)),
        community={"method": draw(st.sampled_from(["leiden", "louvain"])),
                   "resolution": draw(st.sampled_from([0.5, 1.0, 2.0])), "seed": draw(st.integers(0, 3))},
        ring={"min_size": draw(st.integers(2, 5)), "threshold": draw(st.sampled_from([0.0, 0.3, 0.6]))},
    )
    return Book(accounts=acc, identifiers=ident, fraud_labels=labels), graph


@given(books())
def test_rings_are_disjoint_big_enough_and_linked(case: tuple[Book, GraphConfig]) -> None:
    book, graph = case
    res = detect_rings(book, graph, DATE)
    members = res.members
    assert members["customer_id"].is_unique                       # at most one ring each
    assert (res.rings["size"] >= graph.ring.min_size).all()
    assert (res.rings["score"] >= graph.ring.threshold).all()
    assert res.rings["ring_id"].is_unique
    assert sorted(sum(res.rings["customer_ids"], [])) == sorted(members["customer_id"])
    clean, _, _ = clean_identifiers(book.identifiers, graph, DATE)
    cg = link_customers(clean, graph)
    g = nx.Graph()
    g.add_edges_from((cg.customers[a], cg.customers[b]) for a, b in zip(cg.u, cg.v))
    for ids, size in zip(res.rings["customer_ids"], res.rings["size"]):
        assert len(ids) == size == len(set(ids))
        assert nx.is_connected(g.subgraph(ids))                  # no disconnected ring
