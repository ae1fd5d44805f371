"""The propensity split as a distributed engine uses it (`rings.propensity.fit` / `apply`): the
model fitted from the sample rows alone (gathered from partitions) equals the model fitted on
the whole table, and applied to any slice of the rows it gives the whole table's estimates for
those rows, to the bit. No Spark needed: this is the arithmetic the Spark engine relies on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.rings import propensity as pr


def _table(seed: int, n: int, pos_rate: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    feats = pd.DataFrame({f: rng.random(n) * rng.choice([1.0, 3.0]) for f in pr.FEATURES})
    feats["shared_phone"] = np.log1p(rng.integers(0, 3, n))
    y = rng.random(n) < pos_rate * (0.2 + feats["never_paid"].to_numpy() / feats["never_paid"].max())
    ids = np.array([f"C{i:06d}" for i in rng.permutation(10 * n)[:n]], dtype=object)
    return feats, y, ids


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(40, 2500), st.sampled_from([0.01, 0.1, 0.4]),
       st.integers(2, 7))
def test_fit_on_the_sample_and_apply_per_slice_equal_estimate(seed, n, pos_rate, n_slices) -> None:
    feats, y, ids = _table(seed, n, pos_rate)
    want, info = pr.estimate(feats, y, ids)
    h = pr.fold_hash(ids)
    whole = pr.fit(feats, y, fold_hash=h)
    assert whole.info == info
    # the sample as partitions would send it: each partition's rows picked by sample_rows on
    # their own, concatenated in row order; the whole table's unconfirmed count beside it
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, n), n_slices - 1, replace=False))
    bounds = list(zip(np.r_[0, cuts], np.r_[cuts, n]))
    n_neg = int((~y).sum())
    picked = np.concatenate([lo + np.flatnonzero(pr.sample_rows(y[lo:hi], h[lo:hi], n_neg))
                             for lo, hi in bounds])
    sampled = pr.fit(feats.iloc[picked].reset_index(drop=True), y[picked], fold_hash=h[picked],
                     n_unconfirmed=n_neg)
    assert sampled.info == info and sampled.method == whole.method and sampled.c == whole.c
    got = np.concatenate([pr.apply(sampled, feats.iloc[lo:hi].reset_index(drop=True), fold_hash=h[lo:hi])
                          for lo, hi in bounds])
    assert np.array_equal(got, want)


def test_the_sample_is_about_max_fit_rows_and_every_confirmed_row() -> None:
    feats, y, ids = _table(3, 200_000, 0.01)
    h = pr.fold_hash(ids)
    s = pr.sample_rows(y, h, int((~y).sum()))
    assert s[y].all()
    assert abs(int((s & ~y).sum()) - pr.MAX_FIT_ROWS) < 0.05 * pr.MAX_FIT_ROWS


def test_few_labels_fit_the_prior_and_apply_it_per_slice() -> None:
    feats, y, ids = _table(5, 300, 0.4)
    y[:] = False
    y[:3] = True
    model = pr.fit(feats, y, ids)
    assert model.method == "prior"
    want = pr.estimate(feats, y, ids)[0]
    assert np.array_equal(pr.apply(model, feats, ids), want)
    h = pr.fold_hash(ids)
    got = np.concatenate([pr.apply(model, feats.iloc[lo:lo + 37].reset_index(drop=True), fold_hash=h[lo:lo + 37])
                          for lo in range(0, len(feats), 37)])
    assert np.array_equal(got, want)
    # the documented prior: logit p = -4 + 1.5 never_paid + ... (module doc), per row
    z = -4.0 + sum(pr.PRIOR.get(f, 0.0) * feats[f].to_numpy() for f in feats.columns)
    np.testing.assert_allclose(want, 1 / (1 + np.exp(-z)), rtol=1e-12)


# -- the propensity per bucket and per part against detect_rings ---------------------------------

def _book(source, tmp_path):
    """(book, night): the fixture book, or a generated one written and loaded as a night's."""
    from collections_engine.config import load_strategy
    from collections_engine.io.load import TRAINING_TABLES, load_book
    from collections_engine.synth import SynthParams, default_strategy_path, generate_book
    from tests.pipeline_helpers import BOOK

    if source == "fixture":
        return load_book(BOOK, skip=TRAINING_TABLES)[0], pd.Timestamp("2025-06-02")
    # more ring customers than the default world, so that enough are confirmed for the
    # logistic model (the fixture book has too few: the prior)
    p = SynthParams(accounts=2000, days=1, seed=source, history_months=6, ring_customer_share=0.05)
    folder = tmp_path / "book"
    folder.mkdir()
    for name, frame in generate_book(p, load_strategy(default_strategy_path())).items():
        if isinstance(frame, pd.DataFrame) and "/" not in name:  # the tables, not the truth
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return load_book(folder, skip=TRAINING_TABLES)[0], pd.Timestamp(p.first_night)


def _buckets(book, k: int) -> list[tuple]:
    """The book cut as the Spark night cuts it: customers by a hash, an account's payments
    and contacts with its customer's bucket."""
    acc = book.accounts
    bucket_of = pd.Series(pd.util.hash_array(acc["customer_id"].astype("str").to_numpy(dtype=object)) % k,
                          index=acc.index)
    owner = acc.groupby(acc["account_id"].astype("str"))["customer_id"].min().astype("str")
    owner_b = pd.Series(pd.util.hash_array(owner.to_numpy(dtype=object)) % k, index=owner.index)
    out = []
    for b in range(k):
        def rows(t):
            return None if t is None else t[t["account_id"].astype("str").map(owner_b).to_numpy() == b]
        out.append((acc[bucket_of.to_numpy() == b], rows(book.payments), rows(book.contacts)))
    return out


@pytest.mark.parametrize("source", ["fixture", 11, 12])
def test_the_propensity_per_bucket_and_part_equals_detect_rings(source, tmp_path) -> None:
    """Own features per customer bucket, graph and community features per part of whole
    components (and a part of the customers without an edge), the fit on the driver from the
    parts' samples, the estimate per part: every customer's estimate and the model are the
    in-process ring step's, to the bit."""
    from collections_engine.config import load_graph
    from collections_engine.rings import detect_rings
    from collections_engine.rings.community import components
    from collections_engine.rings.detect import _propensity_phase
    from collections_engine.rings.graph_phase import graph_phase
    from collections_engine.rings.incremental import night_communities
    from collections_engine.spark.ring_propensity import (
        bucket_features, fit_sample, part_estimates, part_features, part_sample)
    from tests.pipeline_helpers import GRAPH

    book, date = _book(source, tmp_path)
    graph = load_graph(GRAPH)
    result = detect_rings(book, graph, date)
    gp = graph_phase(book, graph, date, None)
    cg = gp.cg
    labels = night_communities(cg, graph, None, "test", id_hash=gp.id_hash[cg.codes]).labels
    want = _propensity_phase(book, graph, gp, labels, date)
    assert want.info["method"] == "logistic" or source == "fixture"

    own = pd.concat([bucket_features(a, p, c, date) for a, p, c in _buckets(book, 4)], ignore_index=True)
    own = own.set_index("customer_id")
    assert own.index.is_unique
    ids = gp.customer_ids
    own = own.reindex(pd.Index(ids.astype(str)))
    own[[c for c in own.columns if c != "open_day"]] = own[[c for c in own.columns if c != "open_day"]].fillna(0.0)
    is_conf = np.zeros(len(ids), bool)
    is_conf[gp.c_lab[gp.c_lab >= 0]] = True
    # parts: whole components dealt to three parts, and the customers without an edge
    comp = components(len(cg.codes), cg.u, cg.v)
    node_part = comp % 3
    part_of_code = np.full(len(ids), 3)
    part_of_code[cg.codes] = node_part
    shared_node = cg.codes[cg.shared["node"].to_numpy()]
    shared_kind = cg.shared["kind"].astype("str").to_numpy(dtype=object)
    label_of_code = np.full(len(ids), -1)
    label_of_code[cg.codes] = labels
    parts = []
    for q in range(4):
        codes = np.flatnonzero(part_of_code == q)
        pos = np.full(len(ids), -1)
        pos[codes] = np.arange(len(codes))
        eu, ev = cg.codes[cg.u], cg.codes[cg.v]
        e = np.flatnonzero(part_of_code[eu] == q)
        s = np.flatnonzero(part_of_code[shared_node] == q)
        parts.append((codes, part_features(ids[codes], own.iloc[codes].reset_index(drop=True), gp.first_seen[codes],
                                           pos[eu[e]], pos[ev[e]], cg.w[e], label_of_code[codes],
                                           pos[shared_node[s]], shared_kind[s], list(graph.kinds))))
    n_unconfirmed = int((~is_conf).sum())
    model = fit_sample([part_sample(pf, is_conf[codes], n_unconfirmed) for codes, pf in parts], n_unconfirmed)
    assert model.info == want.info
    est = np.full(len(ids), np.nan)
    for codes, pf in parts:
        assert list(pf.features.columns) == list(want.feats.columns)
        pd.testing.assert_frame_equal(pf.features, want.feats.iloc[codes].reset_index(drop=True), check_exact=True)
        assert np.array_equal(pf.first_day, want.first_day[codes], equal_nan=True)
        est[codes] = part_estimates(model, pf)
    assert np.array_equal(est, want.est)
    members = result.communities
    prop = pd.Series(np.where(is_conf, 1.0, est), index=ids.astype(str))
    assert np.array_equal(members["propensity"].to_numpy(), prop.loc[members["customer_id"].astype(str)].to_numpy())
