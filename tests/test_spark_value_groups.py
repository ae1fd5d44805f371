"""The ring graph's value groups per partition (`spark.ring_graph.value_group_pairs`), without
Spark: the usable rows dealt to partitions by their (kind, value) key, grouped and projected
per partition, then each pair's weights summed per pair (`_sum_pairs`), give the in-process
graph's pairs and weights to the bit and its linking rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from collections_engine.rings.graph import clean_identifiers
from collections_engine.spark.ring_graph import LINKING, PAIR, _sum_pairs, value_group_pairs, value_key
from tests.ring_identifiers import DATE, GRAPH, random_identifiers, whole_graph


@pytest.mark.parametrize(("seed", "parts"), [(1, 1), (1, 3), (2, 5), (3, 7), (4, 2)])
def test_value_groups_per_partition_give_the_whole_graph(seed: int, parts: int) -> None:
    ident = random_identifiers(seed)
    clean, _, _ = clean_identifiers(ident, GRAPH, DATE)
    kinds = sorted(GRAPH.kinds)
    t = pa.table({c: pa.array(clean[c].astype(str).to_numpy(dtype=object), pa.string())
                  for c in ("customer_id", "kind", "value")})
    t = t.take(pa.array(np.random.default_rng(seed).permutation(t.num_rows)))  # any row order
    kind = np.array([kinds.index(k) for k in t.column("kind").to_pylist()])
    key = value_key(t.column("value").combine_chunks(), kind)
    part = (key % np.uint64(parts)).astype(np.int64)
    weights = [float(GRAPH.kinds[k]) for k in kinds]
    outs = [value_group_pairs(t.filter(pa.array(part == p)), kinds, weights, GRAPH.hub_max_customers)
            for p in range(parts)]
    out = pa.concat_tables(outs)
    ty = out.column("t").to_numpy()
    pairs = out.filter(pa.array(ty == PAIR))
    pairs = pa.table({"lo": pairs.column("a"), "hi": pairs.column("b"), "w": pairs.column("w")})
    # the pairs of several partitions summed as the Spark job does: in two shuffle groups
    h = np.array([hash((a, b)) % 2 for a, b in zip(pairs.column("lo").to_pylist(), pairs.column("hi").to_pylist())])
    summed = pa.concat_tables([_sum_pairs(pairs.filter(pa.array(h == g))) for g in (0, 1)])
    got = dict(zip(zip(summed.column("lo").to_pylist(), summed.column("hi").to_pylist()), summed.column("w").to_pylist()))
    cg = whole_graph(ident)
    want = dict(zip(zip(cg.customers[cg.u], cg.customers[cg.v]), cg.w))
    assert len(got) == summed.num_rows
    assert got.keys() == want.keys()
    assert all(got[k] == want[k] for k in want)  # to the bit
    linking = out.filter(pa.array(ty == LINKING))
    got_rows = sorted(zip(linking.column("a").to_pylist(), linking.column("b").to_pylist(),
                          linking.column("v").to_pylist()))
    # the in-process linking rows: (customer, kind, value) of the shared values' rows, repeats dropped
    sh = cg.shared
    assert len(got_rows) == len(sh) == len(set(got_rows))
    assert sorted(zip(cg.customers[sh["node"].to_numpy()], sh["kind"])) == sorted((a, b) for a, b, _ in got_rows)
