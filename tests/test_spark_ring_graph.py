"""The ring graph as Spark jobs (`spark.ring_graph`) against the in-process graph on random small
identifier tables: the same linked pairs with the same weights to the bit, the same connected
components, and per-component communities: one part gives the in-process state to the byte,
several parts the same components (hashes) and communities that agree (measured)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from sklearn.metrics import normalized_mutual_info_score

from collections_engine.rings.community import components as np_components
from collections_engine.rings.incremental import night_communities
from tests.spark_helpers import require_spark, spark  # noqa: F401 - the fixture
from tests.ring_identifiers import DATE, GRAPH, random_identifiers, whole_graph

pytestmark = pytest.mark.slow

require_spark()


def spark_graph(spark, tmp_path, ident: pd.DataFrame, direct: bool, local_edges: int):
    """direct: the identifiers' row groups read by pyarrow in the workers (three row groups:
    three units); else Spark's scan, in three partitions: several batches either way.
    local_edges: the components' rounds end in one task at this many edges (0: every round a
    Spark job)."""
    from collections_engine.spark.ring_graph import components, customer_edges, usable_links
    from collections_engine.spark.tables import read_spark_table

    path = tmp_path / "identifiers.parquet"
    ident.to_parquet(path, index=False, row_group_size=len(ident) // 3 + 1)
    t = read_spark_table(spark, str(path), "parquet", "identifiers", path.name)
    assert t.units is not None and len(t.units) == 3
    if not direct:
        t = replace(t, frame=t.frame.repartition(3), units=None)
    links = usable_links(t, GRAPH, DATE)
    edges, _ = customer_edges(links, GRAPH, parts=3)
    edges.write.parquet(str(tmp_path / "edges"))
    edges = spark.read.parquet(str(tmp_path / "edges"))
    return edges, components(spark, edges, str(tmp_path / "cc"), local_edges=local_edges)


@pytest.mark.parametrize(("seed", "direct", "local_edges"), [(1, True, 10**9), (2, False, 0), (3, True, 50)])
def test_spark_graph_and_components_equal_in_process(spark, tmp_path, caplog, seed: int, direct: bool,
                                                     local_edges: int) -> None:
    from collections_engine.spark.ring_graph import component_states

    ident = random_identifiers(seed)
    cg = whole_graph(ident)
    with caplog.at_level("INFO", logger="collections_engine"):
        edges, comps = spark_graph(spark, tmp_path, ident, direct, local_edges)
    settled = [r.getMessage() for r in caplog.records if "components settled" in r.getMessage()]
    assert len(settled) == 1 and ("one task" in settled[0]) == (local_edges > 0), settled
    e = edges.toPandas()
    got = dict(zip(zip(e["lo"], e["hi"]), e["w"]))
    want = dict(zip(zip(cg.customers[cg.u], cg.customers[cg.v]), cg.w))
    assert len(e) == len(got)  # one row per pair
    assert got.keys() == want.keys()
    assert all(got[k] == want[k] for k in want)  # to the bit
    c = comps.toPandas().set_index("id")["comp"].reindex(cg.customers)
    assert c.notna().all()
    ref = np_components(cg.n_nodes, cg.u, cg.v)
    # the same partition of the customers: labels map one to one
    pairs = pd.DataFrame({"a": ref, "b": c.to_numpy()}).drop_duplicates()
    assert pairs["a"].is_unique and pairs["b"].is_unique
    # every customer labelled by its component's smallest id, however the rounds ended
    smallest = pd.Series(cg.customers).groupby(ref).transform("min")
    assert c.tolist() == smallest.tolist()

    want_state = night_communities(cg, GRAPH, None, "x").state
    one, info = component_states(spark, edges, comps, GRAPH, nodes_per_part=10**9)
    assert info["parts"] == 1
    pd.testing.assert_frame_equal(one, want_state, check_categorical=False)
    many, info = component_states(spark, edges, comps, GRAPH, nodes_per_part=20)
    assert info["parts"] > 1
    # Same customers and components (hashes); communities per part: agreement, measured
    for col in ("customer_id", "component_a", "component_b", "node_hash"):
        assert many[col].tolist() == want_state[col].tolist()
    nmi = normalized_mutual_info_score(want_state["community"], many["community"])
    assert nmi > 0.8, nmi
