"""The customer-line model's decision (scoring.decide.decide_line): the line's own model (its
stages together) against the pooled one, compared within the line's segments."""

from __future__ import annotations

import numpy as np

from collections_engine.scoring.decide import POOLED, decide_line, line_model_name

LINE = line_model_name("new")


def _rows(n_per_seg: int = 1500, seed: int = 0):
    rng = np.random.default_rng(seed)
    seg = np.repeat(np.array(["new/M1", "new/M2", "new/M3"]), n_per_seg)
    stage_shift = np.repeat(np.array([1.5, 0.0, -1.5]), n_per_seg)   # what both models share
    signal = rng.standard_normal(len(seg))                            # what only one may see
    y = (rng.random(len(seg)) < 1 / (1 + np.exp(-(stage_shift + 1.2 * signal)))).astype(np.int8)
    return rng, seg, stage_shift, signal, y


def _pooled_rule(y, margin, cal, seg):
    """The slow obvious version: per segment the DeLong difference, combined by row weights."""
    from collections_engine import stats as S

    diffs, ses, ns = [], [], []
    for s in sorted(set(seg[cal])):
        m = cal & (seg == s)
        d = S.auc_diff_delong(y[m], margin[LINE][m], margin[POOLED][m])
        diffs.append(d["diff"]), ses.append(d["se"]), ns.append(m.sum())
    w = np.array(ns) / sum(ns)
    return float(w @ diffs), float(np.sqrt(w ** 2 @ np.square(ses)))


def test_a_line_model_that_ranks_better_within_its_segments_is_chosen() -> None:
    rng, seg, shift, signal, y = _rows()
    noise = rng.standard_normal(len(y))
    margin = {POOLED: shift + 0.3 * signal + noise, LINE: shift + signal + 0.3 * noise}
    cal = np.ones(len(y), bool)
    d = decide_line("new", y, margin, cal, seg)
    assert d["model"] == "line" and d["diff"] > d["diff_se"] > 0
    assert d["segments_compared"] == 3 and d["rows_compared"] == len(y)
    diff, se = _pooled_rule(y, margin, cal, seg)
    assert np.isclose(d["diff"], diff) and np.isclose(d["diff_se"], se)


def test_the_same_ranking_within_segments_keeps_the_pooled_model() -> None:
    """A line model that only orders the stages better (a gain of the whole line's AUC, none
    within a segment) is no reason for a separate model: pooled wins the tie."""
    rng, seg, shift, signal, y = _rows(seed=1)
    margin = {POOLED: 0.2 * shift + signal, LINE: shift + signal}   # same order inside segments
    d = decide_line("new", y, margin, np.ones(len(y), bool), seg)
    assert d["model"] == "pooled" and abs(d["diff"]) < 1e-12


def test_no_line_model_or_no_usable_rows_keep_the_pooled_model() -> None:
    rng, seg, shift, signal, y = _rows(n_per_seg=10, seed=2)
    margin = {POOLED: signal, LINE: signal}
    assert decide_line("existing", y, margin, np.ones(len(y), bool), seg)["model"] == "pooled"
    d = decide_line("new", y, margin, np.ones(len(y), bool), seg)   # 10 rows a segment
    assert d["model"] == "pooled" and "no usable held-out rows" in d["why"]
