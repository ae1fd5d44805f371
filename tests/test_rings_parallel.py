"""The community step per component and in forked processes (rings/parallel.py,
community._leiden): a component's communities depend on that component alone, so the number
of processes, the batching of components, a Spark part and an incremental night's whole
recompute all give the same bytes as a full run in one process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.config.graph import Community, GraphConfig
from collections_engine.rings.community import _Groups, by_smallest_node, components
from collections_engine.rings.incremental import check_state, night_communities, state_key
from collections_engine.rings.parallel import community_step, deal_components
from collections_engine.rings.per_component import merge_states, part_communities
from tests.ring_identifiers import GRAPH, random_identifiers, whole_graph


def _graph(seed: int, customers: int = 300, rows: int = 500):
    return whole_graph(random_identifiers(seed, customers, rows))


def _with(graph: GraphConfig, **community) -> GraphConfig:
    return graph.model_copy(update={"community": graph.community.model_copy(update=community)})


def _restricted(labels: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Labels of `nodes` (increasing) renumbered by smallest node among them."""
    return by_smallest_node(labels[nodes])


def _sub(cg, nodes: np.ndarray):
    keep = np.zeros(cg.n_nodes, bool)
    keep[nodes] = True
    e = keep[cg.u] & keep[cg.v]
    remap = np.full(cg.n_nodes, -1, np.int64)
    remap[nodes] = np.arange(len(nodes))
    return remap[cg.u[e]], remap[cg.v[e]], cg.w[e]


@pytest.fixture(scope="module")
def big_graph():
    """About 2,500 linked customers in components of every size up to several hundred (the
    production path's shape: hubs cut, circulants, a large component)."""
    cg = _graph(11, customers=4000, rows=6000)
    assert cg.n_nodes > 2000 and np.bincount(components(cg.n_nodes, cg.u, cg.v)).max() > 200
    return cg


def test_the_number_of_workers_does_not_change_the_bytes(big_graph) -> None:
    """1 worker against 2 and 3 forked ones on a graph above the switch-on size (lowered to 100
    here; the default is 100,000 customers)."""
    cg = big_graph
    for method, objective in (("leiden", "modularity"), ("leiden", "CPM"), ("louvain", "modularity")):
        c = Community(method=method, objective=objective, parallel_min_nodes=100,
                      resolution=0.05 if objective == "CPM" else 1.0)  # CPM: a density; weights are <= 1
        one = community_step(cg.n_nodes, cg.u, cg.v, cg.w, c, 3, workers=1)
        assert one[0].max() > 50
        for workers in (2, 3):
            got = community_step(cg.n_nodes, cg.u, cg.v, cg.w, c, 3, workers=workers)
            for a, b in zip(one, got):
                assert np.array_equal(a, b), (method, objective, workers)
    graph = _with(GRAPH, parallel_min_nodes=100)
    want = night_communities(cg, _with(graph, workers=1), None, "x").state
    for workers in (2, 3):
        got = night_communities(cg, _with(graph, workers=workers), None, "x").state
        pd.testing.assert_frame_equal(got, want)


def test_below_the_switch_on_size_nothing_is_forked(big_graph, monkeypatch) -> None:
    from collections_engine.rings import parallel

    def no_fork(*args, **kwargs):
        raise AssertionError("forked below parallel_min_nodes")

    monkeypatch.setattr(parallel, "Forked", no_fork)
    cg = big_graph
    c = Community(parallel_min_nodes=cg.n_nodes + 1, workers=3)
    community_step(cg.n_nodes, cg.u, cg.v, cg.w, c, 3)
    with pytest.raises(AssertionError, match="forked"):
        community_step(cg.n_nodes, cg.u, cg.v, cg.w, Community(parallel_min_nodes=cg.n_nodes, workers=2), 3)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), pick=st.integers(1, 2**31), which=st.sampled_from(
    [("leiden", "modularity"), ("leiden", "CPM"), ("louvain", "modularity")]))
def test_a_set_of_components_alone_gets_the_communities_it_gets_in_the_whole_graph(seed, pick, which) -> None:
    """Any subset of whole components, run alone, gives exactly the communities those components
    get in the whole graph (Leiden's draws per component, not per call)."""
    cg = _graph(seed)
    c = Community(method=which[0], objective=which[1], resolution=0.05 if which[1] == "CPM" else 1.0)
    whole = community_step(cg.n_nodes, cg.u, cg.v, cg.w, c, 3)
    comp = components(cg.n_nodes, cg.u, cg.v)
    chosen = (np.random.default_rng(pick).random(int(comp.max()) + 1) < 0.5)
    nodes = np.flatnonzero(chosen[comp])
    alone = community_step(len(nodes), *_sub(cg, nodes), c, 3)
    for a, b in zip(whole, alone):
        assert np.array_equal(_restricted(a, nodes), b)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), parts=st.integers(2, 5))
def test_parts_of_whole_components_give_the_in_process_state_exactly(seed, parts) -> None:
    """What Spark runs (`per_component.part_communities` on parts of whole components, states
    merged) is the in-process full night's state, byte for byte."""
    cg = _graph(seed)
    want = night_communities(cg, GRAPH, None, "x").state
    comp = components(cg.n_nodes, cg.u, cg.v)
    part_of = (comp * 7919 + seed) % parts
    states = []
    for p in range(parts):
        e = part_of[cg.u] == p
        states.append(part_communities(cg.customers[cg.u[e]], cg.customers[cg.v[e]], cg.w[e], GRAPH).state)
    pd.testing.assert_frame_equal(merge_states(states[::-1]), want, check_categorical=False)


def _two_nights(seed: int):
    ident = random_identifiers(seed, 300, 500)
    extra = pd.DataFrame({"customer_id": ["c9001", "c9002", "c9003", "c9004"],
                          "kind": "device", "value": ["v-new", "v-new", "v-new", "v3"],
                          "first_seen": pd.Timestamp("2025-01-01")})
    return whole_graph(ident), whole_graph(pd.concat([ident, extra], ignore_index=True))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_an_incremental_night_equals_a_full_one_when_every_changed_component_is_recomputed_whole(seed) -> None:
    """Changed components of at most `community.local_above` customers are recomputed from
    scratch and carried ones were computed the same way: the incremental night's state is the
    full recompute's, exactly."""
    cg1, cg2 = _two_nights(seed)
    state, why = check_state(night_communities(cg1, GRAPH, None, "x").state, GRAPH)
    assert state is not None, why
    inc = night_communities(cg2, GRAPH, state)
    full = night_communities(cg2, GRAPH, None, "x")
    assert inc.info["mode"] == "incremental" and inc.info["components_recomputed"] >= 1
    pd.testing.assert_frame_equal(inc.state, full.state)
    # above local_above, only the neighbourhood of the change is recomputed (warm start)
    local = _with(GRAPH, local_above=1)
    state, _ = check_state(night_communities(cg1, local, None, "x").state, local)
    part = night_communities(cg2, local, state)
    assert part.info["customers_recomputed"] <= inc.info["customers_recomputed"]


def test_worker_keys_do_not_change_the_state_key_and_local_above_does() -> None:
    assert state_key(_with(GRAPH, workers=7, parallel_min_nodes=5)) == state_key(GRAPH)
    assert state_key(_with(GRAPH, local_above=5)) != state_key(GRAPH)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6)), min_size=1, max_size=40))
def test_local_labels_number_each_group_by_first_appearance(pairs) -> None:
    comp = np.array([p[0] for p in pairs]) * 3   # gaps: not dense
    labels = np.array([p[1] for p in pairs]) * 5 + 2
    got = _Groups(comp, np.zeros(0, np.int64), np.zeros(0, np.int64)).local_labels(labels)
    for c in np.unique(comp):
        seen: dict[int, int] = {}
        for i in np.flatnonzero(comp == c):
            seen.setdefault(int(labels[i]), len(seen))
            assert got[i] == seen[int(labels[i])]


def test_deal_components_keeps_components_whole_and_balances(big_graph) -> None:
    cg = big_graph
    comp = components(cg.n_nodes, cg.u, cg.v)
    for workers in (1, 2, 3):
        group = deal_components(comp, cg.u, workers)
        assert set(np.unique(group)) == set(range(workers))
        per_comp = pd.Series(group).groupby(comp).nunique()
        assert (per_comp == 1).all()
        assert np.array_equal(group, deal_components(comp, cg.u, workers))
