"""The Spark engine's partition code without Spark: customer buckets of the fixture book through
`night_bucket` give the in-process night's scores; bucket messages and drift counts merge into
the in-process run's."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collections_engine.config import load_strategy
from collections_engine.features import build_features
from collections_engine.io.load import TRAINING_TABLES, load_book
from collections_engine.report.nightly import psi_table
from collections_engine.scoring import load_version, score
from collections_engine.stats import dist_reference
from collections_engine.spark.engine import drift_from_counts
from collections_engine.spark.messages import empty_everywhere, merge_messages
from collections_engine.spark.partition import BOOK_TABLES, NightContext, drift_counts, from_blob, night_bucket, to_blob
from tests.pipeline_helpers import BOOK, short_placement_strategy, train_fast

DATE = pd.Timestamp("2025-06-02")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("buckets")
    strategy_path = short_placement_strategy(tmp / "short.yaml")
    train_fast(tmp / "models", strategy_path)
    strategy = load_strategy(strategy_path)
    return {"strategy": strategy, "version": load_version(tmp / "models", strategy=strategy)}


def _bucket_parts(n_buckets: int, strategy) -> tuple[list[pa.Table], dict, dict]:
    """Each bucket's blobs as the Spark job ships them: every table's rows of the bucket's
    customers (account-keyed rows through the account's customer), in file order."""
    raw = {n: pq.read_table(BOOK / f"{n}.parquet") for n in BOOK_TABLES if (BOOK / f"{n}.parquet").is_file()}
    sources = {}
    for src in strategy.sources:
        path = BOOK / "sources" / f"{src.name}.parquet"
        if path.is_file():
            raw[f"source:{src.name}"] = pq.read_table(path)
            sources[src.name] = (src.key, f"sources/{path.name}")
    acc = raw["accounts"].to_pandas()
    owner = acc.groupby("account_id")["customer_id"].min()

    def bucket_of(ids: pd.Series) -> np.ndarray:
        return np.array([zlib.crc32(str(x).encode()) % n_buckets for x in ids])

    parts = []
    for b in range(n_buckets):
        kinds, blobs = [], []
        for name, t in raw.items():
            df = t.to_pandas()
            cust = df["customer_id"] if "customer_id" in df else df["account_id"].map(owner)
            rows = np.flatnonzero(bucket_of(cust) == b)
            sub = t.take(rows).append_column("_f", pa.array(np.zeros(len(rows), np.int64))).append_column(
                "_r", pa.array(rows.astype(np.int64)))
            kinds.append(name)
            blobs.append(to_blob(sub))
        parts.append(pa.table({"kind": kinds, "message": [""] * len(kinds), "blob": pa.array(blobs, pa.binary())}))
    return parts, {n: t.schema for n, t in raw.items()}, sources


def test_buckets_score_as_the_whole_book(trained: dict) -> None:
    strategy, version = trained["strategy"], trained["version"]
    book, _ = load_book(BOOK, strategy, skip=TRAINING_TABLES)
    tonight = book.on(DATE)
    tonight = tonight[tonight["dpd"] > 0].sort_values("account_id", kind="stable").reset_index(drop=True)
    whole = score(version, build_features(book, tonight, strategy), tonight, strategy)
    parts, schemas, sources = _bucket_parts(5, strategy)
    assert sources  # the sources' features are built bucket by bucket too
    ctx = NightContext(date=DATE, strategy=strategy, labels={n: f"{n}.parquet" for n in schemas}, nanos={},
                       schemas=schemas, sources=sources)
    got = []
    for p in parts:
        notes = night_bucket(p, ctx, version)
        kinds = notes.column("kind").to_pylist()
        assert "problem" not in kinds
        got += [from_blob(b).to_pandas() for k, b in zip(kinds, notes.column("blob").to_pylist()) if k == "scores"]
    assert len(got) == 5  # every bucket has delinquent accounts tonight
    buckets = pd.concat(got).set_index("account_id").loc[whole["account_id"]].reset_index()
    assert len(buckets) == len(whole)
    # The same bits: window sums add only the account's own payments (features.events).
    assert (buckets["p_repay"].to_numpy() == whole["p_repay"].to_numpy()).all()
    for c in ("customer_id", "segment", "band", "reason_1", "reason_2", "reason_3"):
        assert (buckets[c].astype(str).to_numpy() == whole[c].astype(str).to_numpy()).all(), c


def test_bad_rows_in_a_bucket_are_problems_not_scores(trained: dict) -> None:
    parts, schemas, sources = _bucket_parts(1, trained["strategy"])
    acc = from_blob(parts[0].column("blob")[0].as_py()).to_pandas()
    acc.loc[3, "dpd"] = -4
    blobs = parts[0].column("blob").to_pylist()
    blobs[0] = to_blob(pa.Table.from_pandas(acc, preserve_index=False))
    p = parts[0].set_column(2, "blob", pa.array(blobs, pa.binary()))
    ctx = NightContext(date=DATE, strategy=trained["strategy"], labels={n: f"{n}.parquet" for n in schemas},
                       nanos={}, schemas=schemas, sources=sources)
    notes = night_bucket(p, ctx, trained["version"])
    kinds = notes.column("kind").to_pylist()
    problems = [m for k, m in zip(kinds, notes.column("message").to_pylist()) if k == "problem"]
    assert "scores" not in kinds
    assert any("column 'dpd'" in m and "negative" in m for m in problems), problems


def test_messages_merge_counts_and_drop_bucket_row_numbers() -> None:
    msgs = ["accounts.parquet: column 'dpd': 3 rows with a negative value; expected >= 0; rows 4 (2025-06-02, A1), 9 (2025-06-02, A7)",
            "payments.parquet: 2 fully duplicated rows dropped; rows 1 (A3, 2025-01-01)",
            "accounts.parquet: column 'dpd': 2 rows with a negative value; expected >= 0; rows 1 (2025-06-02, A2)"]
    out = merge_messages(msgs)
    assert out == ["accounts.parquet: column 'dpd': 5 rows with a negative value; expected >= 0; "
                   "rows (2025-06-02, A1), (2025-06-02, A7)",
                   "payments.parquet: 2 fully duplicated rows dropped; rows (A3, 2025-01-01)"]


def test_empty_feature_warning_only_when_empty_in_every_bucket() -> None:
    w = " model feature(s) empty in every row tonight, treated as missing: "
    both, rest = empty_everywhere([[f"2{w}a, b", "x"], [f"1{w}b"]], 2)
    assert both == f"1{w}b" and rest == [["x"], []]
    assert empty_everywhere([[f"2{w}a, b"], []], 2)[0] is None
    assert empty_everywhere([[f"2{w}a, b"]], 2)[0] is None  # a bucket without rows to score says nothing


@given(st.integers(1, 6), st.integers(0, 10_000), st.floats(0.0, 0.5))
def test_drift_from_bucket_counts_is_psi_table(n_chunks: int, seed: int, missing: float) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    ref_feats = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n)})
    feats = pd.DataFrame({"x": np.where(rng.random(n) < missing, np.nan, rng.normal(0.3, 1.2, n)),
                          "c": pd.Series(rng.choice(["a", "b", "d"], n)).where(rng.random(n) >= missing)})
    scores = pd.DataFrame({"points": rng.normal(600, 50, n)})
    reference = {"points": dist_reference(pd.Series(rng.normal(600, 40, n)), "numeric"),
                 "features": {"x": dist_reference(ref_feats["x"], "numeric"),
                              "c": dist_reference(ref_feats["c"], "categorical")}}
    reference = json.loads(json.dumps(reference))  # as read from reference.json
    cuts = np.sort(rng.choice(np.arange(1, n), n_chunks - 1, replace=False)) if n_chunks > 1 else []
    bounds = [0, *cuts, n]
    parts = [drift_counts(reference, feats.iloc[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    parts = json.loads(json.dumps(parts))  # as the buckets send them
    got = drift_from_counts(reference, scores, parts)
    want = psi_table(reference, scores, feats)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=0, atol=1e-12)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 60), st.floats(0, 1e6, allow_nan=False)),
                max_size=60), st.integers(0, 4), st.integers(0, 60), st.integers(0, 60))
def test_window_totals_are_each_entitys_own_sum(events, code, lo, width) -> None:
    """EventIndex.total against the obvious loop, and the same bits on the entity's rows alone."""
    from collections_engine.features.events import EventIndex

    codes = np.array([e[0] for e in events], np.int64)
    days = np.array([e[1] for e in events], np.int64)
    amount = np.array([e[2] for e in events], float)
    hi = lo + width
    got = EventIndex.build(codes, days, {"a": amount}).total("a", np.array([code]), np.array([lo]), np.array([hi]))[0]
    mine = (codes == code) & (days > lo) & (days <= hi)
    want = 0.0
    for i in np.flatnonzero(mine)[np.argsort(days[mine], kind="stable")]:
        want += amount[i]
    assert got == want
    alone = codes == code
    sub = EventIndex.build(codes[alone], days[alone], {"a": amount[alone]})
    assert sub.total("a", np.array([code]), np.array([lo]), np.array([hi]))[0] == got
