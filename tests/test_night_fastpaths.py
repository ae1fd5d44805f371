"""The 1M night's fast paths (issue 17, the whole night) against the slow, obvious code they
replaced: each must give the same values, so the night's files keep their bytes.

- stats.bin_index (PSI's bins by comparisons) against np.searchsorted;
- report.monitor.realised_since (Arrow's look-up) against pandas' isin with a set;
- report.nightly's queue changes (a look-up) against the inner merge;
- scoring.encode.Encoder.transform (Arrow's look-up) against pandas' get_indexer;
- io.tables.parquet_bytes_all (two threads) against one frame at a time;
- the ring step on pipeline.RING_TABLES alone (what the forked child keeps) against the whole book,
  and with the book released once read (detect_rings(release=)) against the book kept;
- the ring step's row hashes made a block at a time and kept as digests only (graph_phase.Hashes)
  against carry.row_hashes;
- the forked result sent out of band (forked.send/receive, Forked) against the value itself.

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
    nights' placements and assignments) and every column of those not in `RING_COLUMNS` before
    it starts: the ring step must find the same rings, members, communities and carry from
    those alone, on a first night and on a carried one."""
    from dataclasses import replace

    from collections_engine.config import load_graph, load_strategy
    from collections_engine.io.load import TRAINING_TABLES, load_book
    from collections_engine.pipeline import RING_COLUMNS, RING_TABLES, _only_ring_tables
    from collections_engine.rings import detect_rings
    from collections_engine.rings.carry import check_carry
    from collections_engine.rings.incremental import state_key
    from tests.pipeline_helpers import BOOK, GRAPH, ROOT

    book, _ = load_book(BOOK, load_strategy(ROOT / "strategies" / "default.yaml"), skip=TRAINING_TABLES, night=True)
    graph = load_graph(GRAPH)
    date = book.snapshot_dates()[-1]
    slim = replace(book)
    _only_ring_tables(slim, None)
    assert slim.customers is None and slim.sources == {} and slim.identifiers is book.identifiers
    assert {n for n in slim.table_names()} <= set(RING_TABLES)
    assert {n: list(getattr(slim, n).columns) for n in RING_COLUMNS} == {
        n: [c for c in getattr(book, n).columns if c in RING_COLUMNS[n]] for n in RING_COLUMNS}
    assert len(slim.accounts.columns) < len(book.accounts.columns)
    full, only = detect_rings(book, graph, date), detect_rings(slim, graph, date)
    for name in ("rings", "members", "communities", "state"):
        pd.testing.assert_frame_equal(getattr(full, name), getattr(only, name), obj=name)
    for name, frame in full.carry.frames().items():
        pd.testing.assert_frame_equal(frame, only.carry.frames()[name], obj=name)
    # and a carried night (the graph and the accounts' aggregates from the previous night's carry)
    first = book.snapshot_dates()[-2]
    night1 = detect_rings(book, graph, first)
    kw = dict(previous=night1.rings, state=night1.state)
    full = detect_rings(book, graph, date, carry=check_carry(night1.carry.frames(), state_key(graph))[0], **kw)
    only = detect_rings(slim, graph, date, carry=check_carry(night1.carry.frames(), state_key(graph))[0], **kw)
    assert full.stats["graph_carry"]["mode"] == "carried" and full.stats["features_carry"]["mode"] == "carried"
    for name in ("rings", "members", "communities", "state"):
        pd.testing.assert_frame_equal(getattr(full, name), getattr(only, name), obj=name)
    for name, frame in full.carry.frames().items():
        pd.testing.assert_frame_equal(frame, only.carry.frames()[name], obj=name)


def test_the_ring_step_gives_the_same_night_after_releasing_the_book():
    """`detect_rings(release=)` (the forked child lets go of the book's tables once the ring
    step has read them): on a carried second night, the release is called, the later phases
    read none of the tables, and every output equals the run without a release."""
    from dataclasses import replace

    from collections_engine.config import load_graph, load_strategy
    from collections_engine.io.load import TRAINING_TABLES, load_book
    from collections_engine.pipeline import RING_TABLES, _drop_tables
    from collections_engine.rings import detect_rings
    from collections_engine.rings.carry import check_carry
    from collections_engine.rings.incremental import state_key
    from tests.pipeline_helpers import BOOK, GRAPH, ROOT

    book, _ = load_book(BOOK, load_strategy(ROOT / "strategies" / "default.yaml"), skip=TRAINING_TABLES, night=True)
    graph = load_graph(GRAPH)
    first, date = book.snapshot_dates()[-2:]
    night1 = detect_rings(book, graph, first)

    def carry():  # a fresh Carry each time (the step may keep or change what it is given)
        got, why = check_carry({k: v.copy() for k, v in night1.carry.frames().items()}, state_key(graph))
        assert got is not None, why
        return got

    kept = detect_rings(book, graph, date, previous=night1.rings, state=night1.state, carry=carry())
    slim, calls = replace(book), []
    released = detect_rings(slim, graph, date, previous=night1.rings, state=night1.state, carry=carry(),
                            release=lambda names: calls.append(names) or _drop_tables(slim, names))
    assert kept.stats["graph_carry"]["mode"] == "carried" and sorted(sum(calls, ())) == sorted(RING_TABLES)
    assert all(getattr(slim, n) is None for n in RING_TABLES) and book.accounts is not None
    for name in ("rings", "members", "communities", "state"):
        pd.testing.assert_frame_equal(getattr(kept, name), getattr(released, name), obj=name)
    for name, frame in kept.carry.frames().items():
        pd.testing.assert_frame_equal(frame, released.carry.frames()[name], obj=name)
    slim = replace(book)  # and a first night (every component, the graph from the whole book)
    first_released = detect_rings(slim, graph, first, release=lambda names: _drop_tables(slim, names))
    for name in ("rings", "members", "communities", "state"):
        pd.testing.assert_frame_equal(getattr(night1, name), getattr(first_released, name), obj=name)



def test_the_ring_hashes_keep_only_their_digests_and_the_same_values():
    """`graph_phase.Hashes(dates=)` keeps of each table's row hashes only the digests of those
    nights (taken on the side thread as soon as the hashes are made) and lets the fingerprints
    go once both readers have read them; `blocked_row_hashes` makes the row hashes a block at a
    time, `blocked_digests` the digests a block at a time. Every digest and every array asked
    for again equals `carry.row_hashes`'; a missing table's digests are "0:0"."""
    from concurrent.futures import ThreadPoolExecutor

    from collections_engine.config import load_strategy
    from collections_engine.io.load import TRAINING_TABLES, load_book
    from collections_engine.rings.carry import digest, past_mask, row_hashes, table_hashes
    from collections_engine.rings.codes import fingerprints
    from collections_engine.rings.graph_phase import Hashes, blocked_digests, blocked_row_hashes
    from tests.pipeline_helpers import BOOK, ROOT

    book, _ = load_book(BOOK, load_strategy(ROOT / "strategies" / "default.yaml"), skip=TRAINING_TABLES, night=True)
    dates = book.snapshot_dates()[-2:]
    fp = fingerprints(book.identifiers["value"])
    want = {"identifiers": row_hashes(book.identifiers, "identifiers", {"value": fp}),
            **{n: table_hashes(getattr(book, n), n) for n in ("accounts", "payments", "contacts")}}
    for name, h in want.items():
        table = getattr(book, name)
        for block in (1, 7, 1000):
            known = {"value": fp} if name == "identifiers" else None
            got = blocked_row_hashes(table, name, known, block=block)
            assert np.array_equal(got, h), (name, block)
            # the digests summed a block at a time, against the plain sum of the rows picked
            plain = {d: (lambda m: f"{m.sum()}:{int(h[m].sum(dtype=np.uint64))}")(past_mask(table, name, d))
                     for d in dates}
            assert blocked_digests(table, name, tuple(dates), known, block=block) == plain, (name, block)
            assert {d: digest(h, past_mask(table, name, d)) for d in dates} == plain
    with ThreadPoolExecutor(max_workers=1) as side:
        hashes = Hashes(book, side, dates=tuple(dates))
        for name, h in want.items():
            for d in dates:
                assert hashes.digest(name, d) == digest(h, past_mask(getattr(book, name), name, d))
            assert hashes._done[name].result() is None  # only the digests kept
            assert np.array_equal(hashes.get(name), h)  # made again when asked for
        hashes.used("value_fp", "vkey")  # the identifiers' hashes have read them: both readers done
        assert "value_fp" not in hashes._done
        assert np.array_equal(hashes.get("value_fp"), fp)
    assert blocked_digests(None, "payments", tuple(dates)) == dict.fromkeys(dates, "0:0")
    twice = blocked_digests(book.accounts, "accounts", (dates[0], dates[0]), block=1000)
    assert twice == {dates[0]: digest(want["accounts"], past_mask(book.accounts, "accounts", dates[0]))}
    plain = Hashes(book)  # no executor, no dates: the arrays, made when asked for
    assert all(np.array_equal(plain.get(n), h) for n, h in want.items())
    assert plain.digest("accounts", dates[0]) == digest(want["accounts"], past_mask(book.accounts, "accounts", dates[0]))


def test_the_ring_hashes_forget_without_making_anything_again(monkeypatch):
    """`Hashes.forget` (the ring child releasing the book) waits for the side thread and keeps
    every digest, but does not make the fingerprints again once both readers let them go; a
    missing table's digests are "0:0" on any night."""
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    from collections_engine.config import load_strategy
    from collections_engine.io.load import TRAINING_TABLES, load_book
    from collections_engine.rings import graph_phase
    from collections_engine.rings.carry import digest, past_mask, table_hashes
    from tests.pipeline_helpers import BOOK, ROOT

    book, _ = load_book(BOOK, load_strategy(ROOT / "strategies" / "default.yaml"), skip=TRAINING_TABLES, night=True)
    book = replace(book, payments=None)
    dates = book.snapshot_dates()[-2:]
    calls = []
    real = graph_phase.fingerprints
    monkeypatch.setattr(graph_phase, "fingerprints", lambda col: calls.append(1) or real(col))
    with ThreadPoolExecutor(max_workers=1) as side:
        hashes = graph_phase.Hashes(book, side, dates=tuple(dates))
        want = hashes.digest("accounts", dates[0])
        hashes.used("value_fp", "vkey")  # both readers done: the fingerprints let go of
        assert len(calls) == 1
        hashes.forget("value_fp", "identifiers", "accounts")
        assert len(calls) == 1  # not made again to be thrown away
        assert hashes.digest("accounts", dates[0]) == want  # the digests outlive the tables
        assert want == digest(table_hashes(book.accounts, "accounts"), past_mask(book.accounts, "accounts", dates[0]))
        assert hashes.digest("payments", dates[0]) == "0:0"
        assert hashes.digest("payments", dates[0] - pd.Timedelta(days=30)) == "0:0"


frames_st = st.builds(
    lambda seed, n: (lambda rng: pd.DataFrame({
        "id": pd.Series([f"A{i:07d}" for i in rng.integers(0, 10**6, n)], dtype="str"),
        "kind": pd.Categorical(rng.choice(["phone", "device", "address"], n)),
        "day": pd.to_datetime(rng.integers(0, 10**4, n), unit="D"),
        "x": rng.normal(size=n), "k": rng.integers(-5, 5, n).astype(np.int32),
        "flag": rng.random(n) < 0.5}))(np.random.default_rng(seed)),
    seeds, st.sampled_from([0, 1, 17, 3000]))


@settings(max_examples=25, deadline=None)
@given(frames_st, st.integers(1, 64))
def test_the_forked_result_travels_out_of_band_whole_or_not_at_all(frame, cut):
    """`forked.send`/`receive` (the ring child's result, its arrays out of band): what is sent
    is what is received; a stream that ends early (the child died while writing) is None."""
    import io
    import pickle

    from collections_engine.forked import receive, send

    value = ("ok", (frame, ["a warning"], frame["x"].to_numpy()[::2]), 1.5, 0.25)
    buffers: list = []
    payload = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    fh = io.BytesIO()
    send(fh, payload, buffers)
    whole = fh.getvalue()
    kind, (got, notes, every_other), seconds, peak = receive(io.BytesIO(whole))
    pd.testing.assert_frame_equal(got, frame)
    assert (kind, notes, seconds, peak) == ("ok", ["a warning"], 1.5, 0.25)
    assert np.array_equal(every_other, frame["x"].to_numpy()[::2])
    assert receive(io.BytesIO(whole[:max(0, len(whole) - cut)])) is None
    assert receive(io.BytesIO(b"")) is None


def test_a_forked_step_returns_what_it_returns_inline(monkeypatch):
    """`Forked`: the result of a function run in a forked child (frames of strings, categories
    and dates sent back out of band) equals the function's result run inline, and an error in
    the child is raised in the parent."""
    from collections_engine.forked import Forked

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"id": pd.Series([f"C{i}" for i in range(200_000)], dtype="str"),
                          "kind": pd.Categorical(rng.choice(["a", "b"], 200_000)), "x": rng.random(200_000)})

    def step(df, k):
        return df.assign(y=df["x"] * k).iloc[::3], {"rows": len(df)}

    child = Forked(step, frame, 2.0)
    assert child.forked
    got, _, _ = child.result()
    monkeypatch.setenv("COLLECTIONS_ENGINE_SERIAL", "1")
    inline = Forked(step, frame, 2.0)
    assert not inline.forked
    want, _, _ = inline.result()
    pd.testing.assert_frame_equal(got[0], want[0])
    assert got[1] == want[1]
    monkeypatch.delenv("COLLECTIONS_ENGINE_SERIAL")
    failing = Forked(lambda: {}["missing"])
    try:
        failing.result()
    except KeyError:
        pass
    else:
        raise AssertionError("the child's KeyError was not raised in the parent")
