"""collections_engine.stats against slow, obvious versions: KS from its definition, the weighted
KS under unit weights, PSI from values against PSI from counts, DeLong AUC against
scikit-learn's, Holm's adjustment from its formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from collections_engine import stats as S

labels = st.lists(st.integers(0, 1), min_size=2, max_size=60)


def _ks_slow(y: np.ndarray, p: np.ndarray) -> float:
    """max over thresholds t of |P(p >= t | repaid) - P(p >= t | not repaid)|, scanning rows in
    descending score order (ties broken by row order, as ks_stat)."""
    order = sorted(range(len(y)), key=lambda i: -p[i])
    pos, neg = y.sum(), len(y) - y.sum()
    tp = fp = 0
    best = 0.0
    for i in order:
        tp += y[i]
        fp += 1 - y[i]
        best = max(best, abs(tp / pos - fp / neg))
    return best


@settings(max_examples=60, deadline=None)
@given(labels, st.integers(0, 10_000))
def test_ks_matches_its_definition_and_the_weighted_form(ys, seed):
    y = np.array(ys)
    p = np.round(np.random.default_rng(seed).random(len(y)), 1)     # many ties
    k = S.ks_stat(y, p)
    if y.min() == y.max():
        assert np.isnan(k)
        return
    assert k == _ks_slow(y, p)
    point, boot = S.ks_boot(y, p, np.ones((3, len(y)), np.float32))
    assert point == k and (boot == k).all()


@settings(max_examples=60, deadline=None)
@given(labels, st.integers(0, 10_000))
def test_delong_auc_is_the_mann_whitney_auc(ys, seed):
    y = np.array(ys)
    rng = np.random.default_rng(seed)
    p, q = np.round(rng.random(len(y)), 2), rng.random(len(y))
    a = S.auc_delong(y, p)
    if y.min() == y.max():
        assert np.isnan(a["auc"])
        return
    assert np.isclose(a["auc"], roc_auc_score(y, p))
    d = S.paired_auc(y, p, q)
    if min(y.sum(), len(y) - y.sum()) < 2:      # the paired SE needs two of each outcome
        assert np.isnan(d["auc_diff"])
        return
    assert np.isclose(d["auc_diff"], roc_auc_score(y, p) - roc_auc_score(y, q))
    assert d["auc_diff_lo"] <= d["auc_diff"] <= d["auc_diff_hi"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(-5, 5), st.sampled_from(["x", "1.5"])), max_size=80),
       st.integers(0, 10_000))
def test_psi_from_values_equals_psi_from_counts(vals, seed):
    rng = np.random.default_rng(seed)
    v = pd.Series(vals, dtype=object)
    ref = S.dist_reference(pd.Series(rng.normal(size=200)), "numeric")
    x = pd.to_numeric(v, errors="coerce")
    bins = np.bincount(np.searchsorted(np.asarray(ref["edges"]), x.dropna().to_numpy(float), side="right"),
                       minlength=len(ref["edges"]) + 1)
    assert S.psi(ref, v) == S.psi_counts(ref, bins, int(x.isna().sum()), len(v))
    cats = v.map(lambda s: None if s is None else str(s)[:1])
    refc = S.dist_reference(pd.Series(rng.choice(["1", "-", "x"], 50)), "categorical")
    counts = {k: int(c) for k, c in cats.dropna().value_counts().items()}
    assert S.psi(refc, cats) == S.psi_counts(refc, counts, int(cats.isna().sum()), len(cats))
    assert S.psi(ref, pd.Series(rng.normal(size=200))) < 0.25


def test_holm_from_its_formula():
    p = np.array([0.04, 0.01, np.nan, 0.03, 0.2])
    ok = ~np.isnan(p)
    srt = np.sort(p[ok])
    m = len(srt)
    exp = np.maximum.accumulate(np.minimum(1, (m - np.arange(m)) * srt))
    adj = S.holm(p)
    assert np.isnan(adj[2])
    np.testing.assert_allclose(np.sort(adj[ok]), exp)


def test_intervals():
    assert abs(S.z_of(0.95) - 1.959964) < 1e-6
    lo, hi = S.normal_interval(1.0, 0.5)
    assert np.isclose(lo, 1 - 0.5 * S.z_of()) and np.isclose(hi, 1 + 0.5 * S.z_of())
    assert np.isclose(S.two_sided_p(1.959964, 1.0), 0.05, atol=1e-6)
    lo, hi = S.percentile_interval(np.arange(1001.0))
    assert np.isclose(lo, 25.0, atol=0.01) and np.isclose(hi, 975.0, atol=0.01)
