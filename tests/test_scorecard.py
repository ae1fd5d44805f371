"""Scorecards (issue 21): binning, points, adverse-action reasons, families, SQL export."""

from __future__ import annotations

import math
import sqlite3
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collections_engine.config import load_strategy
from collections_engine.features import build_features
from collections_engine.io import write_parquet
from collections_engine.io.load import load_book
from collections_engine.scoring import TrainConfig, load_version, score, train
from collections_engine.scoring.data import segment_columns
from collections_engine.scoring.export import characteristic_sql, version_sql
from collections_engine.report.model import model_report
from collections_engine.scoring.scorecard import (
    BinningNotOptimal, Characteristic, Scorecard, ScorecardConfig, apply_scorecard, bin_index,
    fit_scorecard, p_of_points, quantize_split,
)
from collections_engine.scoring.store import write_version
from collections_engine.synth import SynthParams, iter_book

STRATEGY = Path(__file__).resolve().parents[1] / "strategies" / "default.yaml"
CFG = TrainConfig(max_rows_per_segment=4000, max_oot_rows_per_segment=3000, max_rows_pooled=15000,
                  reason_sample=200, agreement_sample=50, max_rounds=100)


def with_models(strategy, **kw):
    return strategy.model_copy(update={"models": strategy.models.model_copy(update=kw)})


# ---- units -----------------------------------------------------------------------------------

@given(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False))
def test_quantized_splits_are_short_exact_decimals(s):
    q = quantize_split(s)
    assert abs(q - s) <= max(1.0, abs(s)) * 2.0 ** -12 + 1e-9
    text = format(Decimal(q), "f")
    assert Decimal(text) == Decimal(q)                      # exact expansion
    assert len(text.replace("-", "").replace(".", "").lstrip("0")) <= 15
    assert float(text) == q


def _slow_bin(ch: Characteristic, v, levels):
    if ch.kind == "numeric":
        if v != v:
            return ch.n_bins - 1
        return sum(1 for s in ch.splits if v >= s)
    if v != v or int(v) >= len(levels) or int(v) < 0:
        return ch.n_bins - 1
    lv = levels[int(v)]
    for i, g in enumerate(ch.groups):
        if lv in g:
            return i
    return ch.n_bins - 1


def random_card(seed: int, n_num: int = 3, n_cat: int = 2) -> tuple[Scorecard, list[str], dict]:
    rng = np.random.default_rng(seed)
    chars, feats, levels = [], [], {}
    for j in range(n_num):
        sp = sorted(set(np.round(rng.normal(size=rng.integers(0, 5)), 2).tolist()))
        ch = Characteristic(name=f"x{j}", kind="numeric", splits=sp)
        ch.points = rng.integers(-3000, 5000, ch.n_bins).tolist()
        chars.append(ch)
        feats.append(ch.name)
    for j in range(n_cat):
        lv = [f"l{i}" for i in range(rng.integers(2, 6))]
        cut = rng.integers(1, len(lv) + 1)
        ch = Characteristic(name=f"c{j}", kind="categorical", groups=[lv[:cut], lv[cut:]] if cut < len(lv) else [lv])
        ch.points = rng.integers(-3000, 5000, ch.n_bins).tolist()
        chars.append(ch)
        feats.append(ch.name)
        levels[ch.name] = lv + ["unseen_in_card"]   # encoder level the card does not know
    feats.append("unused")
    sc = Scorecard(segment="s", characteristics=chars, constant=int(rng.integers(0, 50000)), fixed={},
                   intercept=0.0, calibration={}, score={}, rows=0)
    return sc, feats, levels


def random_matrix(seed: int, feats: list[str], levels: dict, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    X = np.empty((n, len(feats)))
    for j, f in enumerate(feats):
        if f in levels:
            X[:, j] = rng.integers(0, len(levels[f]), n)
        else:
            X[:, j] = np.round(rng.normal(size=n), 2)   # values on the splits occur
        X[rng.random(n) < 0.1, j] = np.nan
    return X


@given(st.integers(0, 10_000), st.integers(1, 60))
def test_points_and_adverse_action_reasons_against_a_row_by_row_version(seed, n):
    sc, feats, levels = random_card(seed)
    X = random_matrix(seed, feats, levels, n)
    total, top, sign = apply_scorecard(sc, X, feats, levels)
    for i in range(n):
        pts, lost = [], []
        for ch in sc.characteristics:
            b = _slow_bin(ch, X[i, feats.index(ch.name)], levels.get(ch.name, []))
            pts.append(ch.points[b])
            lost.append(max(ch.points) - ch.points[b])
        assert total[i] == sc.constant + sum(pts)
        # largest loss first, ties to the characteristic listed first, none where nothing lost
        order = sorted(range(len(lost)), key=lambda j: (-lost[j], j))
        want = [feats.index(sc.characteristics[j].name) if lost[j] > 0 else -1 for j in order[:3]]
        assert top[i].tolist() == want
        assert all(s < 0 for s, t in zip(sign[i], top[i]) if t >= 0)


@given(st.integers(0, 10_000))
def test_bin_index_matches_the_sql_case_semantics(seed):
    sc, feats, levels = random_card(seed)
    X = random_matrix(seed, feats, levels, 40)
    con = sqlite3.connect(":memory:")
    for ch in sc.characteristics:
        j = feats.index(ch.name)
        if ch.kind == "numeric":
            vals = [None if v != v else float(v) for v in X[:, j]]
        else:
            vals = [None if v != v else levels[ch.name][int(v)] for v in X[:, j]]
        con.execute(f'CREATE TABLE t ("{ch.name}")')
        con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in vals])
        got = [r[0] for r in con.execute(f"SELECT {characteristic_sql(ch)} FROM t ORDER BY rowid")]
        want = np.asarray(ch.points)[bin_index(ch, X[:, j], levels.get(ch.name))]
        assert got == want.tolist()
        con.execute("DROP TABLE t")


def test_points_read_back_to_the_probability():
    s = load_strategy(STRATEGY)
    p = np.array([0.01, 0.2, 0.5, 0.77, 0.99])
    from collections_engine.scoring import points_of
    back = p_of_points(points_of(p, s.score), s.score)
    assert np.allclose(back, p, rtol=1e-3)


def _card_inputs(seed: int = 0, n: int = 6000):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 4, n).astype(float), rng.normal(size=n)])
    z = 1.2 * X[:, 0] + 0.4 * (X[:, 1] == 2) + 0.3 * X[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    feats, types = ["a", "lvl", "b"], {"a": "numeric", "lvl": "categorical", "b": "numeric"}
    return X, y, feats, types, {"lvl": ["p", "q", "r", "s"]}


def test_a_card_is_the_same_on_every_fit_and_an_unproven_binning_stops_training():
    """optbinning's CP solver with a wall-clock limit: a solve stopped by the clock gives other
    bins (with no time at all: UNKNOWN, no split), so only proven-OPTIMAL binnings make a card."""
    X, y, feats, types, levels = _card_inputs()
    sc = load_strategy(STRATEGY).score
    fit = lambda cfg: fit_scorecard("s", X[:4000], y[:4000], feats, types, levels, {"a": 1}, sc, {},
                                    X[4000:], y[4000:], cfg)
    one, two = fit(ScorecardConfig()), fit(ScorecardConfig())
    assert one.to_json() == two.to_json()
    assert {c["solver_status"] for c in one.candidates} == {"OPTIMAL"}
    assert one.characteristics[0].name == "a" and len(one.characteristics[0].splits) >= 3
    with pytest.raises(BinningNotOptimal, match="binning of a: .*ended UNKNOWN"):
        fit(ScorecardConfig(time_limit_s=0))


def test_validation_scores_the_queue_each_row_was_in_and_tonight_scores_not_worked():
    """The card's `queue` characteristic: held-out rows' outcomes followed the queue they were
    really in, so validation scores them with it; tonight's no-action score uses not_worked."""
    from types import SimpleNamespace

    from collections_engine.scoring.family import scorecard_p

    x = Characteristic(name="x", kind="numeric", splits=[0.0], points=[1000, 3000, 2000])
    q = Characteristic(name="queue", kind="categorical", groups=[["not_worked"], ["early_team", "sms"]],
                       points=[500, 4000, 500])
    sc = Scorecard(segment="s", characteristics=[x, q], constant=500, fixed={"queue": "not_worked"},
                   intercept=0.0, calibration={}, score={}, rows=0)
    enc = SimpleNamespace(features=["x", "queue"], levels={"queue": ["early_team", "not_worked", "sms"]})
    X = np.array([[-1.0, 1], [1.0, 0], [1.0, 2], [np.nan, 0]])
    strategy = load_strategy(STRATEGY)
    worked = scorecard_p(sc, X, enc, strategy, actual_queue=True)
    tonight = scorecard_p(sc, X, enc, strategy)
    expect_worked = p_of_points(np.array([1000 + 500, 3000 + 4000, 3000 + 4000, 2000 + 4000]) / 100, strategy.score)
    expect_tonight = p_of_points(np.array([1000, 3000, 3000, 2000]) / 100 + 5, strategy.score)
    assert np.array_equal(worked, expect_worked) and np.array_equal(tonight, expect_tonight)


# ---- on a generated book --------------------------------------------------------------------

@pytest.fixture(scope="module")
def strategy():
    return load_strategy(STRATEGY)


@pytest.fixture(scope="module")
def gen_book(tmp_path_factory, strategy):
    d = tmp_path_factory.mktemp("book")
    for name, frame in iter_book(SynthParams(accounts=20_000, days=2, seed=3), strategy):
        if isinstance(frame, dict):     # truth/world.json: not an input table
            continue
        p = d / f"{name}.parquet"
        p.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(frame, p)
    book, _ = load_book(d, strategy)
    return book


@pytest.fixture(scope="module")
def card_strategy(strategy):
    return with_models(strategy, family="scorecard", family_by_segment={"existing/M4+": "gbm"})


@pytest.fixture(scope="module")
def trained(gen_book, card_strategy):
    return train(gen_book, card_strategy, CFG)


@pytest.fixture(scope="module")
def version(trained, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    write_version(trained, d, "mcard", {"input_hashes": {}}, model_report("mcard", trained.report, trained.meta))
    return load_version(d, approved_only=False)


def test_families_follow_the_strategy_and_cards_honour_monotone(trained, card_strategy):
    segs = trained.meta["segments"]
    assert segs["existing/M4+"]["family"] == "gbm"
    assert all(i["family"] == "scorecard" for s, i in segs.items() if s != "existing/M4+")
    mono = card_strategy.models.monotone
    seen_mono = 0
    for name, sc in trained.scorecards.items():
        assert 1 <= len(sc.scored()) <= 12
        assert "queue" in sc.fixed
        for ch in sc.characteristics:
            assert len(ch.points) == ch.n_bins == len(ch.woe) == len(ch.count) == len(ch.labels)
            if ch.name in mono and ch.kind == "numeric":
                seen_mono += 1
                rate = [r / c for r, c in zip(ch.repaid[:-1], ch.count[:-1]) if c > 0]
                step = np.diff(rate) * mono[ch.name]
                assert (step >= -1e-12).all(), (name, ch.name, rate)
    rep = trained.report
    for s, r in rep["segments"].items():
        if r.get("final") and s != "existing/M4+":
            assert r["scorecard"]["auc"] == pytest.approx(r["final"]["auc"])
            assert r["family_decision"]["family"] == "scorecard"


@pytest.mark.slow
def test_auto_picks_gbm_only_when_significantly_better(gen_book, strategy):
    tr = train(gen_book, with_models(strategy, family="auto", family_by_segment={"new/M1": "gbm"}),
               TrainConfig(**{**CFG.__dict__, "max_rows_per_segment": 2000}))
    for s, i in tr.meta["segments"].items():
        d = i["family_decision"]
        if s == "new/M1":
            assert i["family"] == "gbm" and "auc_gbm" not in d
            continue
        if "diff_se" in d and np.isfinite(d["diff_se"]):
            assert (i["family"] == "gbm") == (d["gbm_minus_scorecard"] > 1.96 * d["diff_se"])


def tonight_rows(book):
    last = book.accounts["snapshot_date"].max()
    rows = book.accounts[(book.accounts["snapshot_date"] == last) & (book.accounts["dpd"] > 0)]
    return rows.reset_index(drop=True)


def test_scoring_uses_the_card_and_reasons_are_points_lost(version, gen_book, card_strategy):
    rows = tonight_rows(gen_book)
    feats = build_features(gen_book, rows, card_strategy)
    out = score(version, feats, rows, card_strategy)
    seg = out["segment"].to_numpy()
    card = seg != "existing/M4+"
    assert card.any() and (~card).any()
    enc = version.encoder
    X = enc.transform(feats.assign(**{c: segment_columns(rows, card_strategy)[c].to_numpy()
                                      for c in ("stage", "customer_line")}))
    s = "existing/M1"
    m = np.flatnonzero(seg == s)
    sc = version.scorecards[version.meta["segments"][s]["scorecard"]]
    total, top, _ = apply_scorecard(sc, X[m], enc.features, enc.levels)
    assert (out["points"].to_numpy()[m] == total / 100.0).all()
    assert np.allclose(out["p_repay"].to_numpy()[m], p_of_points(total / 100.0, card_strategy.score))
    names = out["reason_1"].to_numpy()[m]
    first = np.array([enc.features[t] if t >= 0 else "" for t in top[:, 0]])
    assert (np.array([r.split(",")[0] for r in names]) == first).all()
    assert all(r.endswith("lowers") for r in names if r)
    # a chunk scores as in the whole
    part = score(version, feats.iloc[100:300], rows.iloc[100:300], card_strategy)
    pd.testing.assert_frame_equal(part, out.iloc[100:300])


def _features_table(version, feats, rows, strategy) -> pd.DataFrame:
    """What a bank's table holds: numbers as numbers, categories as the text of their level."""
    enc = version.encoder
    seg = segment_columns(rows, strategy)
    key = rows["account_id"].astype(str) + "|" + rows["snapshot_date"].dt.strftime("%Y-%m-%d")
    t = pd.DataFrame({"account_id": key.to_numpy(),   # two nights: one row per account and night
                      "segment": seg["segment"].astype(str).to_numpy()})
    for c in enc.features:
        if c in ("queue",):
            continue
        v = seg[c] if c in seg.columns else feats[c]
        if enc.types[c] == "categorical":
            t[c] = v.astype("str").where(v.notna().to_numpy(), None).to_numpy(dtype=object)
        else:
            t[c] = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
    return t


def test_sql_export_gives_the_engines_points_on_20k_accounts_in_sqlite(version, gen_book, card_strategy):
    rows = gen_book.accounts[gen_book.accounts["dpd"] > 0].tail(20_000).reset_index(drop=True)
    assert len(rows) == 20_000
    feats = build_features(gen_book, rows, card_strategy)
    out = score(version, feats, rows, card_strategy)
    sql = (Path(version.path) / "scorecards.sql").read_text()
    assert "CASE" in sql and sql.strip().endswith(";")
    table = _features_table(version, feats, rows, card_strategy)
    con = sqlite3.connect(":memory:")
    table.to_sql("features", con, index=False)
    got = pd.read_sql_query(sql, con)
    out["account_id"] = (rows["account_id"].astype(str) + "|" + rows["snapshot_date"].dt.strftime("%Y-%m-%d")).to_numpy()
    card = out[out["segment"] != "existing/M4+"]
    assert len(got) == len(card) > 10_000
    merged = card.merge(got, on="account_id", suffixes=("", "_sql"), validate="one_to_one")
    assert len(merged) == len(card)
    assert (merged["points_x100"].to_numpy() == np.round(merged["points"].to_numpy() * 100)).all()
    assert (merged["points_sql"].to_numpy() == merged["points"].to_numpy()).all()   # 100%, exactly


def test_the_json_export_rebuilds_the_same_cards(version, trained):
    assert set(version.scorecards) == set(trained.scorecards)
    for n, sc in trained.scorecards.items():
        assert version.scorecards[n].to_json() == sc.to_json()
    routing = {s: i["scorecard"] for s, i in version.meta["segments"].items() if i.get("family") == "scorecard"}
    assert version_sql(version.scorecards, routing, "mcard") == (Path(version.path) / "scorecards.sql").read_text()


def test_a_changed_score_scale_is_refused_for_a_scorecard_version(version, card_strategy):
    from collections_engine.errors import InputError
    from collections_engine.scoring.score import check_compatible

    other = card_strategy.model_copy(update={"score": card_strategy.score.model_copy(update={"base_points": 500})})
    with pytest.raises(InputError, match="score scale differs"):
        check_compatible(version, other)
    assert math.isfinite(version.meta["score"]["base_points"])


def test_check_names_every_bad_family_key_at_once(tmp_path):
    from collections_engine.config import check_file

    text = STRATEGY.read_text().replace(
        "  min_segment_rows: 2000",
        "  min_segment_rows: 2000\n  family: trees\n  family_by_segment: {new/M9: scorecard, existing/M1: gbm, new/M2: nn}")
    assert text != STRATEGY.read_text()
    f = tmp_path / "s.yaml"
    f.write_text(text)
    kind, problems = check_file(f)
    assert kind == "strategy" and len(problems) == 3
    joined = "\n".join(problems)
    assert "models.family " in joined and "found 'trees'" in joined
    assert "models.family_by_segment.new/M9" in joined and "did you mean 'new/M3'" in joined
    assert "models.family_by_segment.new/M2" in joined and "found 'nn'" in joined
    ok = tmp_path / "ok.yaml"
    ok.write_text(STRATEGY.read_text().replace(
        "  min_segment_rows: 2000", "  min_segment_rows: 2000\n  family: auto\n  family_by_segment: {new/M1: scorecard}"))
    assert check_file(ok)[1] == []
