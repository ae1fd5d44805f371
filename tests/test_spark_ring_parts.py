"""The community step on parts of whole components (`rings.per_component`), without Spark: a
part that is the whole graph gives the whole graph's state; parts' states merge into the
whole graph's numbering."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.rings.community import components
from collections_engine.rings.incremental import night_communities
from collections_engine.rings.per_component import merge_states, part_communities, part_graph
from tests.ring_identifiers import GRAPH, random_identifiers, whole_graph

def test_part_that_is_the_whole_graph_gives_the_whole_graphs_state() -> None:
    cg = whole_graph(random_identifiers(3))
    assert cg.n_nodes > 50
    lo, hi = cg.customers[cg.u], cg.customers[cg.v]
    part = part_graph(lo[::-1], hi[::-1], cg.w[::-1])  # any row order
    assert list(part.customers) == list(cg.customers)
    assert np.array_equal(part.u, cg.u) and np.array_equal(part.v, cg.v) and np.array_equal(part.w, cg.w)
    want = night_communities(cg, GRAPH, None, "x").state
    got = part_communities(lo, hi, cg.w, GRAPH).state
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(merge_states([got]), want)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), parts=st.integers(1, 5))
def test_parts_states_merge_into_the_whole_graphs_numbering(seed: int, parts: int) -> None:
    """The whole graph's state cut into parts of whole components, each renumbered within its
    part (by smallest customer, as a part's run numbers it), merges back to the same frame."""
    cg = whole_graph(random_identifiers(seed))
    state = night_communities(cg, GRAPH, None, "x").state
    comp = components(cg.n_nodes, cg.u, cg.v)
    comp_of = pd.Series(comp, index=cg.customers).reindex(state["customer_id"]).to_numpy()
    part_of = (comp_of * 7919 + seed) % parts
    pieces = []
    for p in range(parts):
        piece = state[part_of == p].reset_index(drop=True)
        for c in ("community", "merged", "leiden"):
            x = piece[c].to_numpy()
            inside = x >= 0
            _, first, inv = np.unique(x[inside], return_index=True, return_inverse=True)
            rank = np.empty(len(first), np.int64)
            rank[np.argsort(first)] = np.arange(len(first))
            y = np.full(len(x), -1, np.int64)
            y[inside] = rank[inv]
            piece[c] = y
        pieces.append(piece.iloc[::-1].reset_index(drop=True))
    pd.testing.assert_frame_equal(merge_states(pieces[::-1]), state, check_categorical=False)


def test_parts_with_one_customer_twice_are_refused() -> None:
    cg = whole_graph(random_identifiers(5))
    state = night_communities(cg, GRAPH, None, "x").state
    try:
        merge_states([state, state.iloc[:3]])
    except ValueError as exc:
        assert "two parts" in str(exc)
    else:
        raise AssertionError("expected a ValueError")
