"""The identifier graph: weights and projection against an obvious networkx construction."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from collections_engine.config.graph import GraphConfig
from collections_engine.errors import InputError
from collections_engine.rings import clean_identifiers, link_customers
from collections_engine.rings.community import components
from collections_engine.rings.graph import CIRCULANT_HALF_DEGREE, CLIQUE_MAX_DEGREE

KINDS = {"phone": 1.0, "device": 0.8, "address": 0.5}
DATE = pd.Timestamp("2026-01-31")


def ident(rows: list[tuple], first_seen: list | None = None) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "kind", "value"]).astype("str")
    if first_seen is not None:
        df["first_seen"] = pd.to_datetime(pd.Series(first_seen))
    return df


def project(df: pd.DataFrame, graph: GraphConfig) -> dict[tuple[str, str], float]:
    clean, _, _ = clean_identifiers(df, graph, DATE)
    cg = link_customers(clean, graph)
    return {(cg.customers[a], cg.customers[b]): w for a, b, w in zip(cg.u, cg.v, cg.w)}


def obvious(df: pd.DataFrame, graph: GraphConfig) -> dict[tuple[str, str], float]:
    """Clique per value, weight kind / (n - 1), summed per pair, via networkx."""
    g = nx.Graph()
    for (kind, _), grp in df.drop_duplicates().groupby(["kind", "value"]):
        members = sorted(set(grp["customer_id"]))
        n = len(members)
        if n < 2 or n > graph.hub_max_customers:
            continue
        for a, b in itertools.combinations(members, 2):
            w = graph.kinds[kind] / (n - 1)
            g.add_edge(a, b, weight=g.get_edge_data(a, b, {"weight": 0.0})["weight"] + w)
    return {tuple(sorted((a, b))): d["weight"] for a, b, d in g.edges(data=True)}


def random_table(seed: int, n_cust: int = 40, n_rows: int = 150, n_values: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return ident([(f"c{rng.integers(n_cust):03d}", str(rng.choice(list(KINDS))),
                   f"v{rng.integers(n_values)}") for _ in range(n_rows)])


@pytest.mark.parametrize("seed", range(5))
def test_projection_equals_networkx_clique_construction(seed: int) -> None:
    graph = GraphConfig(kinds=KINDS, hub_max_customers=12)
    df = random_table(seed)
    got, want = project(df, graph), obvious(df, graph)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_components_equal_networkx(seed: int) -> None:
    graph = GraphConfig(kinds=KINDS, hub_max_customers=12)
    df = random_table(seed, n_rows=60, n_values=50)
    clean, _, _ = clean_identifiers(df, graph, DATE)
    cg = link_customers(clean, graph)
    labels = components(cg.n_nodes, cg.u, cg.v)
    ours = {frozenset(cg.customers[labels == c]) for c in np.unique(labels)}
    g = nx.Graph()
    g.add_edges_from(obvious(df, graph))
    assert ours == {frozenset(c) for c in nx.connected_components(g)}


def test_large_value_is_a_connected_circulant_keeping_each_members_strength() -> None:
    n = 60
    graph = GraphConfig(kinds=KINDS, hub_max_customers=100)
    df = ident([(f"c{i:03d}", "phone", "shared") for i in range(n)])
    clean, _, _ = clean_identifiers(df, graph, DATE)
    cg = link_customers(clean, graph)
    assert len(cg.u) == n * CIRCULANT_HALF_DEGREE  # linear, not n(n-1)/2
    strength = np.bincount(cg.u, cg.w, n) + np.bincount(cg.v, cg.w, n)
    assert strength == pytest.approx(np.full(n, 1.0))
    g = nx.Graph(list(zip(cg.u, cg.v)))
    assert nx.is_connected(g) and g.number_of_nodes() == n
    assert CLIQUE_MAX_DEGREE + 1 < n


def test_hub_values_link_nobody_and_rarer_values_weigh_more() -> None:
    graph = GraphConfig(kinds=KINDS, hub_max_customers=3)
    rows = [(f"h{i}", "address", "office") for i in range(4)]          # 4 > 3: a hub
    rows += [("a", "phone", "p2"), ("b", "phone", "p2")]               # n = 2
    rows += [("c", "phone", "p3"), ("d", "phone", "p3"), ("e", "phone", "p3")]  # n = 3
    got = project(ident(rows), graph)
    assert not any(k[0].startswith("h") or k[1].startswith("h") for k in got)
    assert got[("a", "b")] == pytest.approx(1.0)
    assert got[("c", "d")] == pytest.approx(0.5)


def test_bad_rows_empty_duplicates_self_links_and_future_rows() -> None:
    graph = GraphConfig(kinds=KINDS)
    df = ident([("a", "phone", "p"), ("a", "phone", "p"), ("b", "phone", "p"),   # duplicate
                ("c", "phone", ""), ("d", "phone", "  "),                        # empty values
                ("e", "device", "mine"), ("e", "device", "mine"),                # linked only to itself
                ("f", "phone", "p")],                                            # first seen later
               first_seen=[None, None, "2026-01-01", None, None, None, None, "2026-02-15"])
    clean, warnings, stats = clean_identifiers(df, graph, DATE)
    assert stats["empty"] == 2 and stats["not_yet_seen"] == 1
    assert any("2 row(s) with an empty value" in w for w in warnings)
    cg = link_customers(clean, graph)
    assert cg.stats["duplicates"] == 2
    assert list(cg.customers) == ["a", "b"]
    assert len(cg.u) == 1 and cg.w[0] == pytest.approx(1.0)


def test_unknown_kinds_warn_or_error_naming_rows() -> None:
    df = ident([("a", "phone", "p"), ("b", "phone", "p"), ("c", "shoe_size", "42"), ("d", "pets", "cat")])
    clean, warnings, _ = clean_identifiers(df, GraphConfig(kinds=KINDS), DATE)
    assert len(clean) == 2
    assert any("unknown kind 'shoe_size' in 1 row(s) (rows 3)" in w for w in warnings)
    with pytest.raises(InputError, match=r"(?s)unknown kind 'pets'.*unknown kind 'shoe_size'"):
        clean_identifiers(df, GraphConfig(kinds=KINDS, unknown_kinds="error"), DATE)


def test_no_identifiers_gives_an_empty_graph() -> None:
    graph = GraphConfig(kinds=KINDS)
    clean, warnings, _ = clean_identifiers(None, graph, DATE)
    cg = link_customers(clean, graph)
    assert cg.n_nodes == 0 and len(cg.u) == 0 and warnings == []
