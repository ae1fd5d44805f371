"""Segment models end to end on a small synthetic history: train, version, approve, score."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
import pandas as pd
import pytest

from collections_engine.config import load_strategy
from collections_engine.errors import InputError
from collections_engine.features import build_features
from collections_engine.scoring import (
    SCORE_COLUMNS, TrainConfig, approve, band_of, load_version, points_of, score, train,
)
from collections_engine.report.model import model_report
from collections_engine.scoring.store import write_version
from tests.scoring_books import synthetic_book

score_mod = importlib.import_module("collections_engine.scoring.score")  # the package re-exports score()

STRATEGY = Path(__file__).resolve().parents[1] / "strategies" / "default.yaml"
CFG = TrainConfig(max_rounds=300, reason_sample=500, agreement_sample=300)


@pytest.fixture(scope="module")
def strategy():
    return load_strategy(STRATEGY)


@pytest.fixture(scope="module")
def book():
    return synthetic_book(drop_segment="new/M3")


@pytest.fixture(scope="module")
def trained(book, strategy):
    return train(book, strategy, CFG)


@pytest.fixture(scope="module")
def models_dir(trained, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    html = model_report("mtest", trained.report, trained.meta)
    write_version(trained, d, "mtest", {"input_hashes": {}}, html)
    return d


def tonight(book):
    last = book.accounts["snapshot_date"].max()
    rows = book.accounts[(book.accounts["snapshot_date"] == last) & (book.accounts["dpd"] > 0)]
    return rows


def test_points_and_bands_follow_the_strategy_formula(strategy):
    p = np.array([0.5, 2 / 3, 0.8, 0.2])
    pts = points_of(p, strategy.score)
    assert pts[0] == pytest.approx(600) and pts[1] == pytest.approx(640)
    assert pts[2] == pytest.approx(600 + 40 / np.log(2) * np.log(4))
    assert list(band_of(np.array([700, 660, 659.9, 600, 540, 539]), strategy.score)) == ["A", "A", "B", "B", "C", "D"]


def test_training_beats_chance_and_records_every_decision(trained, strategy):
    ov = trained.report["overall"]
    assert ov["final"]["auc"] > 0.7
    # never below the pooled model beyond its CI
    assert ov["final"]["auc"] >= ov["pooled"]["lo"]
    segs = trained.meta["segments"]
    assert set(segs) == {f"{l}/{s}" for l in ("new", "existing") for s in strategy.stage_names()}
    assert segs["new/M3"]["decision"]["model"] == "pooled"
    assert segs["new/M3"]["decision"]["why"] == "no training rows"
    for s in segs.values():
        assert s["model"] in trained.boosters and "why" in s["decision"]
    ag = trained.report["reason_agreement"]
    assert 0.5 < ag["top1"] <= 1 and ag["fast_top1_in_exact_top3"] > 0.8


def test_no_approved_version_is_a_clear_input_error(models_dir):
    with pytest.raises(InputError, match="no approved model version"):
        load_version(models_dir)


def test_approve_then_score_tonight(models_dir, book, strategy):
    st = approve(models_dir, by="tester")
    assert st["status"] == "approved" and st["approved_by"] == "tester"
    assert json.loads((models_dir / "mtest" / "status.json").read_text())["approved_by"] == "tester"
    v = load_version(models_dir, strategy=strategy)
    rows = tonight(book)
    feats = build_features(book, rows, strategy)
    warns: list[str] = []
    s = score(v, feats, rows, strategy, warns)
    assert list(s.columns) == SCORE_COLUMNS and len(s) == len(rows)
    assert s["p_repay"].between(0, 1).all() and s["model_version"].eq("mtest").all()
    assert set(s["band"]) <= {"A", "B", "C", "D"}
    pat = re.compile(r"^[a-z0-9_]+, [^,]+, (raises|lowers)$")
    assert s["reason_1"].map(lambda r: bool(pat.match(r))).all()
    assert not s["reason_1"].str.startswith("queue,").any()
    # chunks of consecutive rows (each split among segments) give the same scores as one chunk
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(score_mod, "CHUNK_ROWS", 7)
        small = score(v, feats, rows, strategy)
    pd.testing.assert_frame_equal(small, s)
    # a subset of rows gives the same rows as the whole
    part = rows.iloc[::5]
    s2 = score(v, build_features(book, part, strategy), part, strategy)
    pd.testing.assert_frame_equal(s2, s.loc[part.index])
    # the segment with no training rows is scored (by the pooled model)
    assert (s["segment"] == "new/M3").any()
    assert s.loc[s["segment"] == "new/M3", "p_repay"].notna().all()


def test_bad_input_is_handled_as_documented(models_dir, book, strategy):
    v = load_version(models_dir, approved_only=False)
    rows = tonight(book).iloc[:300]
    feats = build_features(book, rows, strategy)
    bad = feats.drop(columns=["days_since_last_payment"])
    bad["product"] = np.where(np.arange(len(bad)) % 2, "mortgage", bad["product"])
    bad["income"] = np.nan
    warns: list[str] = []
    s = score(v, bad, rows, strategy, warns)
    text = "\n".join(warns)
    assert "missing tonight" in text and "days_since_last_payment" in text
    assert "not seen in training" in text and "mortgage" in text
    assert "empty in every row tonight" in text and "income" in text
    assert s["p_repay"].notna().all()


def test_a_strategy_with_other_stages_is_refused(models_dir, strategy):
    other = strategy.model_copy(update={"stages": strategy.stages[:3] + [
        strategy.stages[3].model_copy(update={"dpd_min": 91})]})
    other = other.model_copy(update={"new_customer": other.new_customer.model_copy(
        update={"max_account_age_months": 12})})
    with pytest.raises(InputError, match="new_customer differs"):
        load_version(models_dir, approved_only=False, strategy=other)


def test_training_is_deterministic(book, strategy, trained):
    again = train(book, strategy, CFG)
    for k, b in trained.boosters.items():
        assert b.model_to_string() == again.boosters[k].model_to_string()


def test_single_snapshot_is_a_seeded_random_split_and_unknown_monotone_warns(strategy):
    book = synthetic_book(n_acc=1200, n_snap=1, seed=5)
    strat = strategy.model_copy(update={"models": strategy.models.model_copy(
        update={"monotone": {"days_since_last_payment": -1, "no_such_feature": 1}})})
    tv = train(book, strat, TrainConfig(max_rounds=100, reason_sample=200, agreement_sample=100))
    assert "single history snapshot" in tv.meta["windows"]["validation"]
    assert "not an out-of-time test" in tv.meta["windows"]["validation"]
    assert any("no_such_feature" in w for w in tv.warnings)
    assert tv.meta["monotone"] == {"days_since_last_payment": -1}


@given(st.integers(1, 30), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_top_reasons_against_sorting_each_row(n, m, seed):
    """The row-wise argmax passes agree with sorting each row by |contribution| (ties: the
    first feature), among candidate features, with -1 where fewer than three are non-zero."""
    from collections_engine.scoring.reasons import top_reasons
    rng = np.random.default_rng(seed)
    contrib = rng.choice([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], size=(n, m))
    cand = rng.random(m) < 0.7
    top, sign = top_reasons(contrib, cand)
    for i in range(n):
        ranked = sorted((j for j in range(m) if cand[j] and contrib[i, j] != 0),
                        key=lambda j: (-abs(contrib[i, j]), j))[:3]
        expected = ranked + [-1] * (3 - len(ranked))
        assert top[i].tolist() == expected
        for slot, j in enumerate(ranked):
            assert sign[i, slot] == np.sign(contrib[i, j])


def test_reason_strings_name_value_and_direction():
    from collections_engine.scoring.reasons import reason_strings
    X = np.array([[45.0, 0.12345, 1.0], [45.0, np.nan, 0.0], [1234.56, 0.5, np.nan], [np.inf, -0.25, 1.0]])
    top = np.array([[0, 1, 2], [1, 0, -1], [0, 2, 1], [0, 1, -1]])
    sign = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, 1.0, 1.0]])
    cols = reason_strings(top, sign, X, ["dpd", "utilisation", "hold"], ["numeric", "numeric", "categorical"],
                          [[], [], ["dispute", "none"]])
    assert cols[0].tolist() == ["dpd, 45, raises", "utilisation, missing, lowers", "dpd, 1235, lowers",
                                "dpd, inf, raises"]
    assert cols[1].tolist() == ["utilisation, 0.123, lowers", "dpd, 45, raises", "hold, missing, raises",
                                "utilisation, -0.25, raises"]
    assert cols[2].tolist() == ["hold, none, raises", "", "utilisation, 0.5, lowers", ""]


@given(st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_reason_table_top_matches_top_reasons_on_contributions(n, seed):
    """The scoring path (contributions of candidate features, feature-major) gives the same
    reasons as top_reasons over the full contribution matrix."""
    from collections_engine.scoring.reasons import ReasonTable, top_reasons
    rng = np.random.default_rng(seed)
    table = ReasonTable(features=["a", "b", "c", "d"], kinds=["numeric", "numeric", "categorical", "numeric"],
                        edges=[[0.0, 1.0], [5.0], [], [-1.0, 0.0, 1.0]],
                        values=[[-0.5, 0.2, 0.7, 0.0], [0.3, -0.3, 0.1], [0.4, -0.4, 0.0], [0.1, 0.1, -0.2, 0.6, 0.0]],
                        candidates=[True, True, False, True])
    X = np.column_stack([rng.choice([-1.0, 0.5, 2.0, np.nan], n), rng.choice([1.0, 9.0, np.nan], n),
                         rng.choice([0.0, 1.0, np.nan], n), rng.choice([-2.0, -0.5, 0.5, 3.0, np.nan], n)])
    top, sign = table.top(X)
    ref_top, ref_sign = top_reasons(table.contributions(X), np.asarray(table.candidates))
    assert np.array_equal(top, ref_top)
    assert np.array_equal(sign[top >= 0], ref_sign[ref_top >= 0])
