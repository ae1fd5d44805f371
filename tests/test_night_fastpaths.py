"""The 1M night's fast paths (issue 17, the whole night) against the slow, obvious code they
replaced: each must give the same values, so the night's files keep their bytes.

- stats.bin_index (PSI's bins by comparisons) against np.searchsorted;
- report.monitor.realised_since (Arrow's look-up) against pandas' isin with a set;
- report.nightly's queue changes (a look-up) against the inner merge;
- scoring.encode.Encoder.transform (Arrow's look-up) against pandas' get_indexer;
- io.tables.parquet_bytes_all (two threads) against one frame at a time;
- the ring step on pipeline.RING_TABLES alone (what the forked child keeps) against the whole book.

Sizes pass the fast paths' switches (bin_index: 4,096 values and more).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.io.tables import _parquet_bytes, parquet_bytes_all
from collections_engine.report.monitor import realised_since
from collections_engine.report.nightly import _changed_queue
from collections_engine.scoring.encode import Encoder
from collections_engine.stats import bin_index

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(seeds, st.integers(0, 16), st.sampled_from([10, 5000, 20000]))
def test_bin_index_is_searchsorted_right(seed, n_edges, n):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=n), 1)   # values on the edges too
    x[rng.random(n) < 0.05] = np.inf
    x[rng.random(n) < 0.05] = -np.inf
    edges = np.unique(np.round(rng.normal(size=n_edges), 1))
    assert np.array_equal(bin_index(edges, x), np.searchsorted(edges, x, side="right"))


def _ids(rng: np.random.Generator, n: int, pool: int) -> pd.Series:
    return pd.Series([f"A{i:05d}" for i in rng.integers(0, pool, n)], dtype="str")


@settings(max_examples=30, deadline=None)
@given(seeds, st.integers(0, 300), st.integers(0, 300))
def test_realised_since_matches_isin_with_a_set(seed, n_pay, n_prev):
    rng = np.random.default_rng(seed)
    pay = pd.DataFrame({"account_id": _ids(rng, n_pay, 200),
                        "paid_on": pd.Timestamp("2025-06-01") + pd.to_timedelta(rng.integers(0, 5, n_pay), "D"),
                        "amount": np.round(rng.random(n_pay) * 100, 2)})
    prev = pd.DataFrame({"account_id": _ids(rng, n_prev, 200)})
    got = realised_since(pay, prev, "2025-06-02", pd.Timestamp("2025-06-04"))
    d = pd.to_datetime(pay["paid_on"])
    p = pay[(d > pd.Timestamp("2025-06-02")) & (d <= pd.Timestamp("2025-06-04"))]
    paid = p[p["account_id"].astype(str).isin(set(prev["account_id"].astype(str)))]
    assert got == {"since": "2025-06-02", "accounts_paying": int(paid["account_id"].nunique()),
                   "amount": float(paid["amount"].sum())}


@settings(max_examples=40, deadline=None)
@given(seeds, st.integers(0, 200), st.integers(0, 200), st.booleans())
def test_changed_queue_matches_the_merge(seed, n_now, n_prev, repeats):
    rng = np.random.default_rng(seed)
    queues = np.array(["agency_a", "agency_b", "sms", "not_worked"])

    def night(n: int) -> pd.DataFrame:
        ids = [f"A{i:04d}" for i in (rng.integers(0, 300, n) if repeats else rng.permutation(300)[:n])]
        return pd.DataFrame({"account_id": pd.Series(ids, dtype="str"),
                             "queue": pd.Series(queues[rng.integers(0, 4, n)], dtype="str")})
    now, before = night(n_now), night(n_prev)
    both = now.merge(before, on="account_id", suffixes=("", "_prev"))
    assert _changed_queue(now, before) == int((both["queue"] != both["queue_prev"]).sum())


def _slow_transform(enc: Encoder, frame: pd.DataFrame) -> np.ndarray:
    out = np.full((len(frame), len(enc.features)), np.nan)
    for j, c in enumerate(enc.features):
        if c not in frame.columns:
            continue
        if enc.types[c] == "categorical":
            codes = pd.Index(enc.levels[c]).get_indexer(frame[c].astype("str"))
            out[:, j] = np.where(codes >= 0, codes, np.nan)
        else:
            out[:, j] = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return out


@settings(max_examples=30, deadline=None)
@given(seeds, st.integers(0, 400))
def test_encoder_transform_matches_get_indexer(seed, n):
    rng = np.random.default_rng(seed)
    text = np.array(["car", "card", "loan", "mortgage", "new level", ""], dtype=object)
    product = pd.Series(text[rng.integers(0, 6, n)], dtype="str")
    product[rng.random(n) < 0.1] = None
    frame = pd.DataFrame({
        "product": product,
        "product_obj": pd.Series(text[rng.integers(0, 6, n)], dtype=object),
        "hold": pd.Categorical(text[rng.integers(0, 4, n)]),
        "grade": rng.integers(0, 4, n).astype(np.float64),   # numbers trained as a category
        "dpd": rng.integers(1, 200, n).astype(np.float64),
    })
    enc = Encoder(features=["product", "product_obj", "hold", "grade", "dpd", "absent"],
                  types={"product": "categorical", "product_obj": "categorical", "hold": "categorical",
                         "grade": "categorical", "dpd": "numeric", "absent": "categorical"},
                  levels={"product": ["car", "card", "loan", "mortgage"], "product_obj": ["", "car", "loan"],
                          "hold": ["car", "card"], "grade": ["0.0", "1.0", "3.0"], "absent": ["x"]})
    np.testing.assert_array_equal(enc.transform(frame), _slow_transform(enc, frame))


def test_parquet_bytes_all_are_each_frames_own_bytes():
    rng = np.random.default_rng(3)
    frames = [pd.DataFrame({"a": rng.random(n), "b": pd.Series([f"x{i}" for i in range(n)], dtype="str")})
              for n in (0, 1, 1000, 50_000, 7)]
    assert parquet_bytes_all(frames) == [_parquet_bytes(df) for df in frames]
    assert parquet_bytes_all(frames, threads=1) == [_parquet_bytes(df) for df in frames]


def test_the_ring_step_reads_only_the_ring_tables():
    """The forked ring child drops every table but `pipeline.RING_TABLES` (and the earlier
    nights' placements and assignments) before it starts: the ring step must find the same
    rings, members, communities and carry from those tables alone."""
    from dataclasses import replace

    from collections_engine.config import load_graph, load_strategy
    from collections_engine.io.load import TRAINING_TABLES, load_book
    from collections_engine.pipeline import RING_TABLES, _only_ring_tables
    from collections_engine.rings import detect_rings
    from tests.pipeline_helpers import BOOK, GRAPH, ROOT

    book, _ = load_book(BOOK, load_strategy(ROOT / "strategies" / "default.yaml"), skip=TRAINING_TABLES, night=True)
    graph = load_graph(GRAPH)
    date = book.snapshot_dates()[-1]
    slim = replace(book)
    _only_ring_tables(slim, None)
    assert slim.customers is None and slim.sources == {} and slim.identifiers is book.identifiers
    assert {n for n in slim.table_names()} <= set(RING_TABLES)
    full, only = detect_rings(book, graph, date), detect_rings(slim, graph, date)
    for name in ("rings", "members", "communities", "state"):
        pd.testing.assert_frame_equal(getattr(full, name), getattr(only, name), obj=name)
    for name, frame in full.carry.frames().items():
        pd.testing.assert_frame_equal(frame, only.carry.frames()[name], obj=name)
