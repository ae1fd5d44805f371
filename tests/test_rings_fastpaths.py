"""The vectorised paths of the rings step against slow obvious versions.

encode (run heads, chunked Arrow columns, nulls), fingerprints, value_groups, the np.unique
replacements and keep_cores' block selection each give what the plain construction gives.
"""

from __future__ import annotations

import igraph as ig
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from collections_engine.codes import encode, encode_arrow
from collections_engine.rings.codes import dense, fingerprints, sorted_unique, unique_inverse
from collections_engine.rings.community import keep_cores
from collections_engine.rings.graph import value_groups

WORDS = st.text(alphabet="ab 1é€_", min_size=0, max_size=12)


def _chunked(values: list[str | None], cut: int) -> pd.Series:
    """A pandas str column backed by two Arrow chunks (as a parquet read gives)."""
    a = pa.array(values, pa.large_string())
    cut = min(cut, len(values))
    arr = pa.chunked_array([a.slice(0, cut), a.slice(cut)], pa.large_string())
    return pd.Series(pd.array(arr, dtype="str"))


@settings(max_examples=60)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["x", "y", "zz", ""]), WORDS), max_size=40),
       st.lists(st.sampled_from(["x", "q", "zz"]), max_size=10), st.integers(0, 40), st.booleans())
def test_encode_matches_obvious(a, b, cut, sort):
    # Runs of equal values (hashed once per run) next to scattered ones.
    a = [v for v in a for _ in range(1 + len(v or "") % 3)]
    (ca, cb), uniques = encode(_chunked(a, cut), pd.Series(b, dtype="str"), sort=sort)
    values = [v for v in a + b if v is not None]
    expected = sorted(set(values)) if sort else list(dict.fromkeys(values))
    assert list(uniques) == expected
    pos = {v: i for i, v in enumerate(expected)}
    assert ca.tolist() == [pos[v] if v is not None else -1 for v in a]
    assert cb.tolist() == [pos[v] for v in b]
    (ca32,), _ = encode_arrow(_chunked(a, cut), sort=sort)
    assert ca32.dtype == np.int32


def test_encode_accepts_object_and_numbers():
    (c,), u = encode(pd.Series(["b", None, "a", "b"], dtype=object))
    assert u.tolist() == ["a", "b"] and c.tolist() == [1, -1, 0, 1]
    (c,), u = encode(np.array(["b", "a"], dtype=object), sort=False)
    assert u.tolist() == ["b", "a"] and c.tolist() == [0, 1]


@settings(max_examples=60)
@given(st.lists(WORDS, min_size=1, max_size=60), st.integers(0, 60))
def test_fingerprints_equal_for_equal_strings(values, cut):
    fp = fingerprints(_chunked(values, cut))
    assert len(fp) == len(values)
    by_value: dict[str, int] = {}
    for v, f in zip(values, fp.tolist()):
        assert by_value.setdefault(v, f) == f
    # Different strings (short, long, multibyte) get different fingerprints here.
    distinct = {v: f for v, f in zip(values, fp.tolist())}
    assert len(set(distinct.values())) == len(distinct)


def test_fingerprints_of_a_sliced_array():
    a = pa.array(["abcdefghijklmnop", "q", "abcdefghijklmnop", "", "q"] * 3, pa.large_string())
    fp = fingerprints(pd.Series(pd.array(a.slice(2, 11), dtype="str")))
    full = fingerprints(pd.Series(pd.array(a, dtype="str")))
    assert (fp == full[2:13]).all()


@settings(max_examples=80)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["p1", "p2", "shared-long-value-0001",
                                                               "shared-long-value-0002", "", "é"])),
                max_size=50),
       st.lists(st.booleans(), min_size=50, max_size=50), st.sampled_from([None, 0, 1, 2, 8]))
@example(rows=[(0, "p2"), (0, "p1"), (0, "p1")], keep_list=[True] * 50, key_bits=0)  # a candidate first
def test_value_groups_match_groupby(rows, keep_list, key_bits):
    # key_bits 0, 1 or 2: the pre-filter compares so few bits of the key (none: 0) that most rows
    # become candidates the exact codes must drop (what a fingerprint collision does, made common).
    kinds = np.array([k for k, _ in rows], np.int64)
    values = pd.Series([v for _, v in rows], dtype="str")
    keep = np.array(keep_list[: len(rows)], bool)
    got = value_groups(values, kinds, keep, key_bits=key_bits)
    assert (got == value_groups(values, kinds, keep)).all()  # the numbering too
    # Obvious: group kept rows by (kind, value); groups of 2+ rows share a code, others -1.
    df = pd.DataFrame({"k": kinds, "v": values.astype(object), "keep": keep})
    size = df[df["keep"]].groupby(["k", "v"]).size()
    for i, (k, v) in enumerate(rows):
        linked = keep[i] and size.get((k, v), 0) >= 2
        assert (got[i] >= 0) == linked
        for j, (k2, v2) in enumerate(rows):
            if linked and got[j] >= 0:
                assert (got[i] == got[j]) == ((k, v) == (k2, v2))


@pytest.mark.parametrize("seed", [1, 2])
def test_value_groups_at_scale_match_the_obvious_numbering(seed):
    """300k rows over two Arrow chunks (a row position needs 19 bits of the packed sort, as
    at 1M accounts it needs 25): each linked row's code is the rank of its (value's first
    linked row, kind), as a pandas group-by numbers them."""
    rng = np.random.default_rng(seed)
    n = 300_000
    pool = np.array([f"v{i:07d}" for i in range(400_000)], dtype=object)
    values = pool[rng.integers(0, len(pool), n)]
    kinds = rng.integers(0, 4, n)
    keep = rng.random(n) < 0.9
    got = value_groups(_chunked(values.tolist(), n // 3), kinds, keep)
    df = pd.DataFrame({"v": values, "k": kinds})[keep]
    linked = df[df.groupby(["v", "k"])["k"].transform("size") >= 2]
    first = linked.reset_index().groupby("v")["index"].transform("min")
    rank = pd.DataFrame({"f": first.to_numpy(), "k": linked["k"].to_numpy()})
    want = np.full(n, -1, np.int64)
    want[linked.index.to_numpy()] = rank.groupby(["f", "k"]).ngroup().to_numpy()
    assert (got == want).all()
    assert (got >= 0).sum() > 10_000  # the case is not vacuous


@settings(max_examples=60)
@given(st.lists(st.integers(0, 30), max_size=80))
def test_unique_helpers_match_numpy(x):
    x = np.array(x, np.int64)
    assert (dense(x) == np.unique(x, return_inverse=True)[1].ravel()).all()
    assert (sorted_unique(x * 1_000_003) == np.unique(x * 1_000_003)).all()
    u, inv = unique_inverse(x * 7 - 40)
    eu, einv = np.unique(x * 7 - 40, return_inverse=True)
    assert (u == eu).all() and (inv == einv.ravel()).all()


def _keep_cores_obvious(labels, u, v, w):
    """The block selection written block by block with igraph's own wrapper."""
    n = len(labels)
    intra = (labels[u] >= 0) & (labels[u] == labels[v])
    if not intra.any():
        return labels
    g = ig.Graph(n=n, edges=list(zip(u[intra].tolist(), v[intra].tolist())))
    strength = (np.bincount(u[intra], weights=w[intra], minlength=n)
                + np.bincount(v[intra], weights=w[intra], minlength=n))
    blocks = [np.array(b) for b in g.biconnected_components() if len(b) >= 3]
    weight = [round(float(strength[b].sum()), 9) for b in blocks]
    best: dict[int, int] = {}
    for i in sorted(range(len(blocks)), key=lambda i: (-weight[i], -len(blocks[i]), int(blocks[i].min()))):
        best.setdefault(int(labels[blocks[i][0]]), i)
    keep = labels >= 0
    for c in set(labels[labels >= 0].tolist()):
        if c in best:
            members = set(blocks[best[c]].tolist())
            keep &= ~((labels == c) & ~np.isin(np.arange(n), list(members)))
    out = np.where(keep, labels, -1)
    # Connected parts, numbered by smallest node.
    inside = out >= 0
    e = intra & inside[u] & inside[v]
    h = ig.Graph(n=n, edges=list(zip(u[e].tolist(), v[e].tolist())))
    comp = np.array(h.connected_components().membership)
    res = np.full(n, -1)
    res[inside] = np.unique(comp[inside], return_inverse=True)[1].ravel()
    return res


@settings(max_examples=60)
@given(st.integers(3, 25), st.data())
def test_keep_cores_matches_obvious(n, data):
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))
    pairs = sorted({(min(a, b), max(a, b)) for a, b in pairs if a != b})
    u = np.array([a for a, _ in pairs], np.int64)
    v = np.array([b for _, b in pairs], np.int64)
    w = np.array(data.draw(st.lists(st.sampled_from([0.1, 0.25, 0.5, 1.0]), min_size=len(pairs),
                                    max_size=len(pairs))), float)
    labels = np.array(data.draw(st.lists(st.integers(-1, 2), min_size=n, max_size=n)), np.int64)
    got = keep_cores(labels, u, v, w)
    assert got.tolist() == _keep_cores_obvious(labels, u, v, w).tolist()


def test_keep_cores_one_block_shortcut_matches_obvious():
    """Communities that skip the block search (every member linked to half of them: one block by
    Dirac's theorem) beside ones that need it (two blocks, a pendant) and one just below the
    bound: same result as the block-by-block construction."""
    pairs = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5), (0, 3), (1, 4), (2, 5)]  # 6 nodes, degree 3
    pairs += [(6, 7), (6, 8), (7, 8), (8, 9), (9, 10), (8, 10), (10, 11)]  # 2 triangles + a pendant
    pairs += [(12, 13), (13, 14), (14, 15), (15, 16), (12, 16)]  # a 5-cycle: degree 2 < 5/2
    pairs += [(0, 6), (5, 12)]  # links between communities
    u = np.array([a for a, _ in pairs], np.int64)
    v = np.array([b for _, b in pairs], np.int64)
    w = np.linspace(0.2, 1.0, len(pairs))
    labels = np.array([0] * 6 + [1] * 6 + [2] * 5, np.int64)
    got = keep_cores(labels, u, v, w)
    assert got.tolist() == _keep_cores_obvious(labels, u, v, w).tolist()
    assert (got[:6] >= 0).all() and (got[12:] >= 0).all() and got[11] == -1


@settings(max_examples=60)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=" \t\n\u3000\x1cxé", max_size=4)), max_size=40),
       st.integers(0, 40))
def test_blank_matches_arrow(values, cut):
    from collections_engine.rings.graph import _blank

    col = _chunked(values, cut)
    a = pa.array(values, pa.large_string())
    expected = pc.fill_null(pc.or_kleene(pc.equal(pc.utf8_length(a), 0), pc.utf8_is_space(a)), True)
    assert _blank(col).tolist() == expected.to_numpy(zero_copy_only=False).tolist()


@settings(max_examples=60)
@given(st.integers(1, 40), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=60),
       st.booleans())
def test_components_match_scipy(n, pairs, presorted):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from collections_engine.rings.community import components

    u = np.array([a % n for a, _ in pairs], np.int64)
    v = np.array([b % n for _, b in pairs], np.int64)
    if presorted:  # the CSR fast path (edges sorted by first node)
        o = np.argsort(u, kind="stable")
        u, v = u[o], v[o]
    expected = connected_components(coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(n, n)).tocsr(),
                                    directed=False)[1]
    assert components(n, u, v).tolist() == expected.tolist()


@settings(max_examples=40)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["phone", " device", "email ", "fax", "wrong_number"])),
                max_size=30))
def test_categorical_columns_read_as_strings(values):
    from collections_engine.config.graph import GraphConfig
    from collections_engine.codes import to_arrow
    from collections_engine.rings.account_phase import _equals
    from collections_engine.rings.graph import usable_rows

    as_str = pd.Series(values, dtype="str")
    as_cat = pd.Series(values, dtype="category")
    assert to_arrow(as_cat).to_pylist() == to_arrow(as_str).to_pylist()
    assert _equals(as_cat, "wrong_number").tolist() == _equals(as_str, "wrong_number").tolist()
    graph = GraphConfig(kinds={"phone": 1.0, "device": 1.0, "email": 0.5})
    ids = pd.Series([f"C{i % 4}" for i in range(len(values))], dtype="str")
    frames = [pd.DataFrame({"customer_id": ids, "kind": k, "value": pd.Series(["v"] * len(values), dtype="str")})
              for k in (as_str, as_cat)]
    a, b = (usable_rows(f, graph, pd.Timestamp("2026-01-01")) for f in frames)
    assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist() and a[2] == b[2]
    assert a[3] == b[3] and a[4] == b[4]


def _estimate_obvious(feats, y, ids):
    """estimate's logistic branch on the whole feature matrix, as it was written first."""
    from sklearn.linear_model import LogisticRegression

    from collections_engine.rings import propensity as pr

    names = [f for f in feats.columns if f not in pr.AGE_FEATURES]
    x = feats[names].to_numpy(float)
    h = pr._fold(ids)
    fold = h % pr.FOLDS
    n_neg = int((~y).sum())
    keep_rate = min(1.0, pr.MAX_FIT_ROWS / max(n_neg, 1))
    fit_rows = y | (((h // pr.FOLDS) % 1000) < keep_rate * 1000)
    weight = np.where(y, 1.0, 1.0 / keep_rate)
    g = np.zeros(len(y))
    for k in range(pr.FOLDS):
        train = fit_rows & (fold != k)
        model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100)
        model.fit(x[train], y[train], sample_weight=weight[train])
        g[fold == k] = model.predict_proba(x[fold == k])[:, 1]
    return np.clip(g / max(float(g[y].mean()), 1e-9), 0.0, 1.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(60, 900))
def test_estimate_without_the_matrix_matches_sklearn(seed, n):
    """Propensity fitted on the sample and predicted column by column (no whole feature matrix)
    matches sklearn's predict_proba on the whole matrix (to the last bits of a dot product),
    and gives the same bits on a second call."""
    from collections_engine.rings import propensity

    rng = np.random.default_rng(seed)
    feats = pd.DataFrame({f: rng.random(n) * rng.choice([1.0, 5.0]) for f in propensity.FEATURES})
    y = rng.random(n) < 0.1 + 0.5 * feats["never_paid"].to_numpy() / feats["never_paid"].max()
    ids = np.array([f"C{i:05d}" for i in range(n)], dtype=object)
    assume(min(y.sum(), (~y).sum()) >= propensity.MIN_LABELS)
    got, info = propensity.estimate(feats, y, ids)
    assert info["method"] == "logistic"
    np.testing.assert_allclose(got, _estimate_obvious(feats, y, ids), rtol=0, atol=1e-12)
    assert np.array_equal(got, propensity.estimate(feats, y, ids)[0])


def _obvious_fingerprint(s: str) -> int:
    """codes.fingerprints of one string, the plain way: length and three 8-byte words (or the
    zero-padded bytes of a short string), mixed with splitmix64's finaliser."""
    b = s.encode()
    m, m1, m2 = 2**64 - 1, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
    x = len(b) * 0xD6E8FEB86659FD93 & m
    if len(b) >= 8:
        word = lambda i: int.from_bytes(b[i:i + 8], "little")  # noqa: E731
        s0, e = 0, len(b) - 8
        w = word(s0) * m1 & m
        w = (w + word(e) * m2) & m
        w ^= word(s0 + (e - s0) // 2)
        x = (x + w) & m
    else:
        x = (x + int.from_bytes(b.ljust(8, b"\0"), "little")) & m
    x ^= x >> 30
    x = x * m1 & m
    x ^= x >> 27
    x = x * m2 & m
    return x ^ (x >> 31)


def test_block_by_block_hashes_match_obvious() -> None:
    """Columns longer than a block (the path the 1M book takes): fingerprints, the carry's row
    hashes and the ring state's node hashes equal the plain whole-array computation."""
    from collections_engine.rings import carry as carry_mod
    from collections_engine.rings.codes import BLOCK, mix64
    from collections_engine.rings.incremental import node_hashes

    rng = np.random.default_rng(7)
    n = 2 * BLOCK + 123
    vals = [f"v{x}" * (1 + x % 4) for x in rng.integers(0, 10**6, n)]
    col = _chunked(vals, BLOCK + 5)
    got = fingerprints(col)
    assert [int(x) for x in got[:: 997]] == [_obvious_fingerprint(v) for v in vals[:: 997]]
    assert got[BLOCK - 2:BLOCK + 9].tolist() == [_obvious_fingerprint(v) for v in vals[BLOCK - 2:BLOCK + 9]]

    table = pd.DataFrame({"account_id": col, "paid_on": pd.Series(rng.integers(0, 10**6, n) * 86_400 * 10**9,
                                                                  dtype="datetime64[ns]")})
    h = np.zeros(n, np.uint64)  # the same mixing over whole arrays
    for i, c in enumerate(carry_mod.DIGEST_COLUMNS["payments"]):
        h += carry_mod.column_hash(table[c])
        h *= carry_mod._P[i % len(carry_mod._P)]
        h ^= h >> np.uint64(29)
    assert np.array_equal(carry_mod.row_hashes(table, "payments"), mix64(h))

    m = 3 * BLOCK + 1
    u = np.sort(rng.integers(0, 5000, m))
    v = u + 1 + rng.integers(0, 50, m)
    w = rng.random(m)
    ids = np.array([f"C{i}" for i in range(5051)], dtype=object)
    node = pd.util.hash_array(ids).astype(np.uint64)
    lanes = []
    for nd, (p, q, r) in ((node, carry_mod._P[:3]), (mix64(node ^ carry_mod._P[5]), carry_mod._P[3:])):
        e = (nd[u] + nd[v]) * p + (nd[u] ^ nd[v]) * q + mix64(w.view(np.uint64) * r)
        mix64(e)
        total = mix64(nd * r)
        np.add.at(total, u, e)
        np.add.at(total, v, e)
        lanes.append(mix64(total))
    got_a, got_b = node_hashes(ids, u, v, w)
    assert np.array_equal(got_a, lanes[0]) and np.array_equal(got_b, lanes[1])
