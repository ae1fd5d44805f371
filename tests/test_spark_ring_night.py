"""The Spark engine's ring step without Spark: the rows the Spark jobs hand each part (own
features from customer buckets, first days seen, linking rows and edges of whole components),
`spark.ring_parts.part_rings` per part and `finish_rings` on the driver give `detect_rings`'
rings, members, communities and ring state, to the bit, on the fixture book and a generated
book with enough confirmed customers for the logistic model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests.test_spark_propensity import _book, _buckets


def _part_inputs(book, graph, date, n_parts: int):
    """(customers, graph rows, confirmed count) per part, as the Spark ring job builds them."""
    from collections_engine.rings.community import components
    from collections_engine.rings.graph import usable_rows
    from collections_engine.rings.graph_phase import graph_phase
    from collections_engine.rings.propensity import confirmed_on
    from collections_engine.spark.ring_parts import EDGE, SHARED
    from collections_engine.spark.ring_propensity import bucket_features

    own = pd.concat([bucket_features(a, p, c, date) for a, p, c in _buckets(book, 4)], ignore_index=True)
    ident = book.identifiers
    seen = ident["first_seen"].to_numpy("datetime64[ns]").view(np.int64)
    ok = (~np.isnat(ident["first_seen"].to_numpy("datetime64[ns]")) & (seen <= date.value)
          & ident["customer_id"].notna().to_numpy())
    first = pd.Series(seen[ok]).groupby(ident["customer_id"].astype("str").to_numpy(dtype=object)[ok]).min()
    gp = graph_phase(book, graph, date, None)
    cg = gp.cg
    confirmed = set(confirmed_on(book.fraud_labels, date))
    node_ids = np.asarray(cg.customers, dtype=object)
    linked = node_ids[cg.shared["node"].to_numpy()]
    keep = usable_rows(ident, graph, date)[0]
    usable = ident["customer_id"].astype("str").to_numpy(dtype=object)[keep]
    universe = np.unique(np.concatenate([own["customer_id"].to_numpy(dtype=object), usable,
                                         np.array(sorted(confirmed), dtype=object)]).astype(str)).astype(object)
    assert list(universe) == list(gp.customer_ids.astype(str))  # the Spark union is the code space
    comp = components(cg.n_nodes, cg.u, cg.v)
    part = pd.Series(pd.util.hash_array(universe) % n_parts, index=universe)
    part.loc[node_ids] = comp % n_parts
    own = own.set_index("customer_id").reindex(universe)
    customers = pd.DataFrame({"customer_id": universe, **{c: own[c].to_numpy() for c in own.columns},
                              "first_seen": first.reindex(universe).astype("Int64").to_numpy(),
                              "confirmed": [c in confirmed for c in universe], "_part": part.to_numpy()})
    edges = pd.DataFrame({"t": EDGE, "a": node_ids[cg.u], "b": node_ids[cg.v], "v": None, "w": cg.w})
    shared = pd.DataFrame({"t": SHARED, "a": linked, "b": cg.shared["kind"].astype(str).to_numpy(dtype=object),
                           "v": cg.shared["group"].astype(str).to_numpy(dtype=object), "w": np.nan})
    rows = pd.concat([edges.iloc[::-1], shared], ignore_index=True)  # any row order
    rows["_part"] = part.loc[rows["a"]].to_numpy()
    n_unconfirmed = len(universe) - sum(c in confirmed for c in universe)
    return customers, rows, list(own.columns), n_unconfirmed


@pytest.mark.parametrize("source,n_parts", [("fixture", 1), ("fixture", 3), (11, 1)])
def test_the_ring_step_per_part_equals_detect_rings(source, n_parts, tmp_path) -> None:
    from collections_engine.config import load_graph
    from collections_engine.rings import detect_rings
    from collections_engine.spark.ring_parts import finish_rings, part_rings
    from tests.pipeline_helpers import GRAPH

    book, date = _book(source, tmp_path)
    graph = load_graph(GRAPH)
    want = detect_rings(book, graph, date)
    customers, rows, own_columns, n_unconfirmed = _part_inputs(book, graph, date, n_parts)
    notes = []
    for p in range(n_parts):
        c = pa.Table.from_pandas(customers[customers["_part"] == p].drop(columns="_part").iloc[::-1],
                                 preserve_index=False)
        r = pa.Table.from_pandas(rows[rows["_part"] == p].drop(columns="_part"), preserve_index=False)
        notes.append(part_rings(c, r, graph, own_columns, n_unconfirmed))
    acc = book.accounts
    known = acc[(acc["snapshot_date"] <= date) & acc["customer_id"].notna()]
    pairs = known[["account_id", "customer_id"]].astype(str).drop_duplicates()

    def accounts_of(ids):
        hit = pairs[pairs["customer_id"].isin(set(ids))]
        return hit["account_id"].to_numpy(dtype=object), hit["customer_id"].to_numpy(dtype=object)

    rings, members, communities, stats, state = finish_rings(pa.concat_tables(notes), graph, date, n_unconfirmed,
                                                             accounts_of)
    if n_parts == 1:
        assert stats["propensity"] == want.stats["propensity"]  # Leiden draws its node order per call: several parts may differ (per_component)
        pd.testing.assert_frame_equal(state, want.state)
        pd.testing.assert_frame_equal(communities, want.communities)
        pd.testing.assert_frame_equal(rings, want.rings)
        pd.testing.assert_frame_equal(members, want.members)
        assert len(rings) > 0
    else:  # the same components, the same customers in them, the same person-level model's kind
        assert set(state["customer_id"]) == set(want.state["customer_id"])
        assert stats["propensity"]["method"] == want.stats["propensity"]["method"]
        assert stats["propensity"]["labels"] == want.stats["propensity"]["labels"]
