"""The placement step's fast paths against the obvious pandas versions they replace.

References are the pandas code as it was (joins by `drop_duplicates` + `set_index` + `map`,
sorts by `sort_values`), kept here to check that the Arrow look-ups, the skipped sorts and
the integer sort keys give the same frames: same values, same dtypes, same order.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collections_engine.assign import model_data
from collections_engine.assign.decide import _priority, decide, sorted_by_account
from collections_engine.assign.files import vendor_files
from collections_engine.assign.inputs import (FirstRows, base_frame, build_decision_inputs, fraud_by_customer,
                                              open_holds)
from collections_engine.assign.model_data import _masks, build_problem
from collections_engine.codes import sorted_codes as _sorted_codes
from collections_engine.frames import isin
from collections_engine.segments import stage_of
from tests.assign_builders import DATE, make_inputs, make_strategy

decide_mod = importlib.import_module("collections_engine.assign.decide")  # the package exports decide()
KEYS = st.sampled_from(["a1", "a2", "a3", "b1", "b2", "é", "Z", ""])


# ----------------------------------------------------------------------------- references


def ref_build_decision_inputs(tonight, scores, strategy, date, *, holds=None, fraud=None, open_placements=None):
    """build_decision_inputs before the fast joins (pandas map per column); the rows, holds and
    fraud rows it joins are the engine's own (`base_frame`, `open_holds`, `fraud_by_customer`):
    what is checked here is the joins."""
    date = pd.Timestamp(date)
    t = tonight[tonight["dpd"] > 0].copy()
    if "snapshot_date" in t.columns:
        t = t[pd.to_datetime(t["snapshot_date"]) == date]
    t = t.drop_duplicates("account_id").sort_values("account_id", kind="mergesort").reset_index(drop=True)
    out = base_frame(t, date)
    s = scores.drop_duplicates("account_id").set_index("account_id")
    ids = out["account_id"]
    out["p_repay"] = ids.map(s["p_repay"]).astype("float64").to_numpy()
    if "stage" in s.columns:
        st_ = ids.map(s["stage"]).astype("str")
        fallback = stage_of(out["dpd"], strategy)
        out["stage"] = st_.where(isin(ids, s.index) & (st_ != "").to_numpy(), fallback).astype("str").to_numpy()
    else:
        out["stage"] = stage_of(out["dpd"], strategy).to_numpy()
    out["points"] = ids.map(s["points"]).astype("float64").to_numpy() if "points" in s.columns else np.nan
    out["band"] = (ids.map(s["band"]).fillna("").astype("str").to_numpy() if "band" in s.columns
                   else pd.Series([""] * len(out), dtype="str"))
    out["collectable"] = out[strategy.outcome.amount].fillna(0.0).clip(lower=0.0)
    hold = pd.Series([""] * len(out), dtype="str")
    if holds is not None and len(holds):
        first = open_holds(holds, date)
        hold = ids.map(first).fillna("").astype("str")
    out["hold"] = hold.to_numpy()
    out["ring_id"] = ""
    out["ring_score"] = np.nan
    out["fraud_confirmed"] = False
    if fraud is not None and len(fraud):
        fr = fraud_by_customer(fraud).drop_duplicates("customer_id").set_index("customer_id")
        cid = out["customer_id"]
        if "ring_id" in fr.columns:
            out["ring_id"] = cid.map(fr["ring_id"]).fillna("").astype("str").to_numpy()
        if "ring_score" in fr.columns:
            out["ring_score"] = cid.map(fr["ring_score"]).astype("float64").to_numpy()
        out["fraud_confirmed"] = cid.map(fr["confirmed"]).fillna(False).astype(bool).to_numpy()
    out["ring_id"] = out["ring_id"].astype("str")
    out["open_vendor"] = ""
    out["placed_on"] = pd.NaT
    out["ends_on"] = pd.NaT
    if open_placements is not None and len(open_placements):
        op = open_placements.drop_duplicates("account_id", keep="last").set_index("account_id")
        out["open_vendor"] = ids.map(op["vendor"]).fillna("").astype("str").to_numpy()
        out["placed_on"] = ids.map(pd.to_datetime(op["placed_on"])).to_numpy()
        out["ends_on"] = ids.map(pd.to_datetime(op["ends_on"])).to_numpy()
    out["open_vendor"] = out["open_vendor"].astype("str")
    for c in ("placed_on", "ends_on"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    return out[list(ref_columns())]


def ref_columns():
    from collections_engine.assign.inputs import INPUT_COLUMNS
    return INPUT_COLUMNS


def ref_vendor_files(decision, inputs, accounts_tonight, customers, scores, strategy, warn):
    """vendor_files before the fast joins."""
    a = decision.assignments
    out = {}
    acc = accounts_tonight.drop_duplicates("account_id").set_index("account_id")
    cus = customers.drop_duplicates("customer_id").set_index("customer_id") if customers is not None else None
    inp = inputs.drop_duplicates("account_id").set_index("account_id")
    sc = scores.drop_duplicates("account_id").set_index("account_id") if scores is not None else None
    pl = decision.placements.set_index("account_id")
    for v in strategy.vendors():
        rows = a[(a["queue"] == v.name) & (a["decision"] == "placed")].sort_values("account_id", kind="mergesort")
        ids = rows["account_id"].astype("str")
        cols = {}
        for f in v.file_fields:
            s = None
            if f in ("placed_on", "ends_on"):
                s = ids.map(pl[f])
            elif f in ("stage", "band", "points"):
                src = inp if f in inp.columns else sc
                s = ids.map(src[f]) if src is not None and f in src.columns else None
            elif f == "account_id":
                s = ids
            elif f == "customer_id":
                s = rows["customer_id"].astype("str")
            elif f in acc.columns:
                s = ids.map(acc[f])
            elif cus is not None and f in cus.columns:
                s = rows["customer_id"].astype("str").map(cus[f])
            if s is None:
                warn.append(f"vendor {v.name!r}: file field {f!r} is not in tonight's data; left out")
                continue
            cols[f] = s.reset_index(drop=True)
        placements = pd.DataFrame(cols, index=range(len(rows)))
        r = decision.recalls
        recalls = r[r["vendor"] == v.name][["account_id", "reason"]].sort_values("account_id", kind="mergesort")
        recalls.insert(1, "ended", "recalled")  # these nights have no open placements: recalls only
        out[v.name] = (placements.reset_index(drop=True),
                       recalls.reset_index(drop=True).astype({"account_id": "str", "ended": "str", "reason": "str"}))
    return out


def assert_same(x: pd.DataFrame | pd.Series, y: pd.DataFrame | pd.Series) -> None:
    """Same values, dtypes, names and index (what the parquet and CSV writers see)."""
    if isinstance(x, pd.DataFrame):
        pd.testing.assert_frame_equal(x, y, check_exact=True)
        assert list(x.dtypes) == list(y.dtypes)
    else:
        pd.testing.assert_series_equal(x, y, check_exact=True)
        assert x.dtype == y.dtype


# ----------------------------------------------------------------------------- FirstRows


VALUE_COLUMNS = {
    "i": lambda rng, n: rng.integers(-5, 5, n),
    "f": lambda rng, n: np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
    "s": lambda rng, n: pd.Series(np.where(rng.random(n) < 0.2, None, rng.choice(["x", "y", ""], n)), dtype="str"),
    "b": lambda rng, n: rng.random(n) < 0.5,
    "d": lambda rng, n: pd.to_datetime(np.where(rng.random(n) < 0.2, None, "2024-01-0" + pd.Series(
        rng.integers(1, 9, n)).astype(str))),
    "o": lambda rng, n: pd.Series(rng.choice(["p", "q"], n), dtype=object),
}


@settings(max_examples=60)
@given(keys=st.lists(KEYS, max_size=12), pool=st.lists(KEYS, max_size=12),
       keep=st.sampled_from(["first", "last", None]), pad=st.booleans(), null_key=st.booleans(),
       seed=st.integers(0, 2**16))
def test_first_rows_is_pandas_map(keys, pool, keep, pad, null_key, seed):
    rng = np.random.default_rng(seed)
    if pad:  # a pool much larger than the keys: the path that hashes the keys first
        filler = [f"z{i}" for i in range(1100 + 4 * len(keys))]
        pool = list(rng.permutation(np.array(pool + filler, dtype=object)))
    if null_key and keys:
        keys = keys[:-1] + [None]
    frame = pd.DataFrame({"k": pd.Series(pool, dtype="str"),
                          **{c: make(rng, len(pool)) for c, make in VALUE_COLUMNS.items()}})
    k = pd.Series(keys, dtype="str", name="k")
    fr = FirstRows(k, frame, "k", keep=keep)
    mapper = frame if keep is None else frame.drop_duplicates("k", keep=keep)
    sel = rng.permutation(len(keys))[: len(keys) // 2]
    for col in VALUE_COLUMNS:
        try:
            want = k.map(mapper.set_index("k")[col])
            want_sel = k.iloc[sel].map(mapper.set_index("k")[col])
        except Exception as exc:  # noqa: BLE001 - a repeated key with keep=None: both refuse
            with pytest.raises(type(exc)):
                fr(col)
            continue
        assert_same(fr(col), want)
        assert_same(fr(col, sel), want_sel)
    if keep is not None and len(frame):
        assert (fr.found() == isin(k, mapper.set_index("k").index)).all()


def test_first_rows_row_for_row_and_object_keys():
    frame = pd.DataFrame({"k": pd.Series(["a", "b", "c"], dtype="str"), "v": [1, 2, 3]})
    k = pd.Series(["a", "b", "c"], dtype="str")
    f = FirstRows(k, frame, "k")
    assert (f.pos == [0, 1, 2]).all()
    for c in ("k", "v"):
        assert_same(f(c), k.map(frame.set_index("k", drop=False)[c]))
        assert_same(f(c, np.array([2, 0])), k.iloc[[2, 0]].map(frame.set_index("k", drop=False)[c]))
    dup = pd.DataFrame({"k": pd.Series(["a", "a", "c"], dtype="str"), "v": [1, 2, 3]})
    ka = pd.Series(["a", "a", "c"], dtype="str")
    assert_same(FirstRows(ka, dup, "k")("v"), ka.map(dup.drop_duplicates("k").set_index("k")["v"]))
    obj = pd.Series(["c", "a", "q"], dtype=object)
    f = FirstRows(obj, frame, "k")
    assert f.pos is None
    assert_same(f("v"), obj.map(frame.set_index("k")["v"]))


# ----------------------------------------------------------------------------- build_decision_inputs


@st.composite
def nights(draw):
    """Tonight's rows as users hand them over: repeated and unsorted accounts, dpd 0, other
    dates; scores missing, repeated or without stage; holds, fraud, open placements repeated."""
    n = draw(st.integers(0, 14))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    ids = [f"A{int(i)}" for i in rng.integers(0, 10, n)]
    if draw(st.booleans()):
        ids = sorted(ids)
    other = draw(st.booleans())
    tonight = pd.DataFrame({
        "snapshot_date": [DATE if not other or rng.random() < 0.7 else DATE - pd.Timedelta(days=1) for _ in ids],
        "account_id": pd.Series(ids, dtype="str"),
        "customer_id": pd.Series([f"C{int(c)}" for c in rng.integers(0, 6, n)], dtype="str"),
        "product": "card", "dpd": rng.choice([0, 5, 40, 95], n),
        "overdue_amount": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(-5, 500, n)),
        "balance": rng.uniform(0, 900, n)})
    sid = [f"A{int(i)}" for i in rng.integers(0, 12, draw(st.integers(0, 14)))]
    if draw(st.booleans()):
        sid = sorted(set(ids)) if ids else sid
    scores = pd.DataFrame({"account_id": pd.Series(sid, dtype="str"), "p_repay": rng.random(len(sid))})
    if draw(st.booleans()):
        scores["stage"] = pd.Series(rng.choice(["M1", "M2", ""], len(sid)), dtype="str")
    if draw(st.booleans()):
        scores["points"] = rng.uniform(500, 700, len(sid))
        scores["band"] = pd.Series(np.where(rng.random(len(sid)) < 0.2, None, rng.choice(["A", "B"], len(sid))),
                                   dtype="str")
    m = draw(st.integers(0, 6))
    holds = pd.DataFrame({"account_id": pd.Series([f"A{int(i)}" for i in rng.integers(0, 10, m)], dtype="str"),
                          "hold": pd.Series(rng.choice(["legal", "dispute", "odd"], m), dtype="str"),
                          "start": DATE - pd.to_timedelta(rng.integers(-2, 5, m), unit="D"),
                          "end": [pd.NaT if rng.random() < 0.5 else DATE + pd.Timedelta(days=int(d))
                                  for d in rng.integers(-3, 3, m)]})
    m = draw(st.integers(0, 6))
    fraud = pd.DataFrame({"customer_id": pd.Series([f"C{int(c)}" for c in rng.integers(0, 8, m)], dtype="str"),
                          "ring_id": pd.Series(rng.choice(["R1", "R2", ""], m), dtype="str"),
                          "ring_score": rng.random(m), "confirmed": rng.random(m) < 0.3})
    m = draw(st.integers(0, 6))
    op = pd.DataFrame({"account_id": pd.Series([f"A{int(i)}" for i in rng.integers(0, 10, m)], dtype="str"),
                       "vendor": pd.Series(rng.choice(["v1", "v2", "gone"], m), dtype="str"),
                       "placed_on": DATE - pd.to_timedelta(rng.integers(1, 30, m), unit="D"),
                       "ends_on": DATE + pd.to_timedelta(rng.integers(-3, 30, m), unit="D")})
    if draw(st.booleans()):
        op = op.assign(placed_on=op["placed_on"].dt.strftime("%Y-%m-%d"), ends_on=op["ends_on"].dt.strftime("%Y-%m-%d"))
    pick = draw(st.sampled_from(["none", "holds", "fraud", "op", "all"]))
    kw = {"holds": holds if pick in ("holds", "all") else None,
          "fraud": fraud if pick in ("fraud", "all") else None,
          "open_placements": op if pick in ("op", "all") else None}
    return tonight, scores, kw


@settings(max_examples=80)
@given(nights())
def test_build_decision_inputs_is_the_pandas_joins(night):
    tonight, scores, kw = night
    s = make_strategy((2, 2, 2))
    assert_same(build_decision_inputs(tonight, scores, s, DATE, **kw),
                ref_build_decision_inputs(tonight, scores, s, DATE, **kw))


# ----------------------------------------------------------------------------- vendor_files

FIELDS = ["account_id", "customer_id", "name", "phone", "overdue_amount", "dpd", "balance", "product",
          "stage", "band", "points", "placed_on", "ends_on", "income", "not_a_column"]


@settings(max_examples=40)
@given(f1=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=8, unique=True),
       f2=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=8, unique=True),
       customers=st.sampled_from(["all", "some", "repeated", "none", "many"]),
       scores=st.sampled_from(["none", "band", "repeated"]), repeat_accounts=st.booleans(),
       seed=st.integers(0, 2**16))
def test_vendor_files_are_the_pandas_joins(f1, f2, customers, scores, repeat_accounts, seed):
    rng = np.random.default_rng(seed)
    s0 = make_strategy((3, 8, 8))
    qs = [q.model_copy(update={"file_fields": f1 if q.name == "v1" else f2}) if q.kind == "vendor" else q
          for q in s0.queues]
    s = s0.model_copy(update={"queues": qs})
    n = 30
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.uniform(0.05, 0.8, n),
                      rng.integers(100, 5000, n).astype(float), list(rng.integers(0, 12, n)), [""] * n, [0] * n)
    inp = inp.assign(account_id=inp["account_id"].astype("str"), customer_id=inp["customer_id"].astype("str"))
    acc = inp[["account_id", "customer_id", "dpd", "overdue_amount", "balance"]].assign(product="card")
    if repeat_accounts:  # a repeated account row: the first one is the account's
        acc = pd.concat([acc, acc.iloc[::3].assign(product="other")]).sample(frac=1.0, random_state=seed)
        acc = acc.reset_index(drop=True)
    cids = pd.Series(sorted(set(inp["customer_id"])), dtype="str")
    cus = pd.DataFrame({"customer_id": cids, "name": "N" + cids, "phone": "P", "income": rng.random(len(cids))})
    if customers == "some":
        cus = cus.iloc[::2].reset_index(drop=True)
    elif customers == "repeated":
        cus = pd.concat([cus, cus.assign(name="later")], ignore_index=True)
    elif customers == "many":  # far more customers than placed accounts
        extra = pd.Series([f"X{i}" for i in range(3000)], dtype="str")
        cus = pd.concat([cus, pd.DataFrame({"customer_id": extra, "name": "x", "phone": "x", "income": 0.0})],
                        ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    elif customers == "none":
        cus = None
    sc = None
    if scores != "none":
        sc = pd.DataFrame({"account_id": inp["account_id"], "band": pd.Series(rng.choice(["A", "B"], n), dtype="str"),
                           "points": rng.uniform(500, 700, n)})
        if scores == "repeated":
            sc = pd.concat([sc.assign(band="Z"), sc]).reset_index(drop=True)
    d = decide(inp, s, DATE)
    w1: list[str] = []
    w2: list[str] = []
    got = vendor_files(d, inp, acc, cus, sc, s, DATE, warnings=w1)
    want = ref_vendor_files(d, inp, acc, cus, sc, s, w2)
    assert list(got) == list(want) and w1 == w2
    for v in want:
        assert_same(got[v][0], want[v][0])
        assert_same(got[v][1], want[v][1])


# ----------------------------------------------------------------------------- decide pieces


def ref_priority(queue, net, account_id):
    """assemble's priority before the integer sort (pandas sorts queue, -net, account id)."""
    key = pd.DataFrame({"q": queue, "n": -net, "a": account_id})
    order = key.sort_values(["q", "n", "a"], kind="mergesort").index.to_numpy()
    rank = np.empty(len(order), np.int64)
    qs = queue[order]
    grp_start = np.r_[0, np.flatnonzero(qs[1:] != qs[:-1]) + 1] if len(qs) else np.zeros(0, int)
    pos = np.arange(len(order))
    starts = np.repeat(grp_start, np.diff(np.r_[grp_start, len(order)]))
    rank[order] = pos - starts + 1
    return np.where(queue == "", 0, rank).astype(np.int64)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["", "team", "v1", "sms", "Z"]), st.integers(-3, 3)), max_size=40),
       st.booleans())
def test_priority_is_the_pandas_rank(rows, huge):
    queue = np.array([r[0] for r in rows], dtype=object)
    net = np.array([r[1] * (2**41 if huge else 1) for r in rows], dtype=np.int64)
    ids = np.array(sorted(f"A{i % 7}" for i in range(len(rows))), dtype=object)  # in order, with ties
    got = _priority(queue, net, ids)
    assert got.dtype == np.int64 and (got == ref_priority(queue, net, ids)).all()
    shuffled = ids[::-1].copy()  # not in order: pandas does it
    assert (_priority(queue, net, shuffled) == ref_priority(queue, net, shuffled)).all()


def test_priority_with_missing_ids_and_queues_is_the_pandas_rank():
    queue = np.array(["v1", None, "v1", "", "v1", None], dtype=object)
    net = np.array([5, 1, 5, 9, 7, 2], dtype=np.int64)
    ids = np.array(["A2", "A1", None, "A0", "A1", "A3"], dtype=object)
    assert (_priority(queue, net, ids) == ref_priority(queue, net, ids)).all()


@given(st.lists(KEYS, max_size=12), st.booleans())
def test_sorted_by_account_is_the_stable_sort(ids, sort):
    ids = sorted(ids) if sort else ids
    df = pd.DataFrame({"account_id": pd.Series(ids, dtype="str"), "i": range(len(ids))}, index=range(5, 5 + len(ids)))
    assert_same(sorted_by_account(df), df.sort_values("account_id", kind="mergesort").reset_index(drop=True))


@given(st.lists(st.one_of(KEYS, st.none()), max_size=20))
def test_sorted_codes_and_masks(values):
    s = pd.Series(values, dtype="str")
    assert (_sorted_codes(s) == pd.factorize(s, sort=True)[0].astype(np.int64)).all()
    obj = s.astype(str).to_numpy(dtype=object)
    masks = _masks(obj)
    for v in ["a1", "é", "", "nope"]:
        assert (masks.get(v, np.zeros(len(obj), bool)) == (obj == v)).all()


def test_build_problem_same_with_the_obvious_helpers(monkeypatch):
    """Fraud overflow, unknown and kept vendors, customers together: the Problem is the same
    with the helpers swapped for the obvious numpy/pandas versions."""
    rng = np.random.default_rng(3)
    n = 60
    ov = list(rng.choice(["", "", "v1", "v2", "gone"], n))
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.uniform(0.05, 0.8, n),
                      rng.integers(100, 5000, n).astype(float), list(rng.integers(0, 20, n)), ov,
                      list(rng.integers(-5, 20, n)), ring=list(rng.choice(["", "", "", "R1"], n)),
                      hold=list(rng.choice([""] * 8 + ["legal", "dispute"], n)))
    inp["fraud_confirmed"] = rng.random(n) < 0.1
    inp["ring_score"] = rng.random(n)
    inp = inp.sample(frac=1.0, random_state=1)
    s = make_strategy((5, 6, 6), min_share=(0.1, 0.0), together=(True, False), fraud_cap=2)
    fast = build_problem(inp, s, DATE)
    monkeypatch.setattr(model_data, "sorted_codes", lambda x: pd.factorize(x, sort=True)[0].astype(np.int64))
    monkeypatch.setattr(model_data, "_masks", lambda v: {u: v == u for u in set(v)})
    monkeypatch.setattr(model_data, "sorted_by_account",
                        lambda x: x.sort_values("account_id", kind="mergesort").reset_index(drop=True))
    slow = build_problem(inp, s, DATE)
    for name in fast.__dataclass_fields__:
        a, b = getattr(fast, name), getattr(slow, name)
        if isinstance(a, pd.DataFrame):
            assert_same(a, b)
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and (a == b).all(), name
        else:
            assert a == b, name
    ov_sorted = inp.sort_values("account_id", kind="mergesort")["open_vendor"].to_numpy(dtype=object)
    assert (fast.previous == np.where(ov_sorted != "", ov_sorted, "")).all()
    confirmed = inp.sort_values("account_id", kind="mergesort")["fraud_confirmed"].to_numpy()
    fr = np.flatnonzero(np.char.startswith(fast.reason.astype(str), "fraud:"))
    assert len(fr) > 2  # some taken, some over the fraud queue's capacity
    for i in fr:  # each account's own reason
        assert fast.reason[i].split(";")[0] == ("fraud:confirmed" if confirmed[i] else "fraud:ring")
    monkeypatch.setattr(decide_mod, "sorted_by_account",
                        lambda x: x.sort_values("account_id", kind="mergesort").reset_index(drop=True))
    monkeypatch.setattr(decide_mod, "_priority", ref_priority)
    d_slow = decide(inp, s, DATE)
    monkeypatch.undo()
    d_fast = decide(inp, s, DATE)
    for name in ("assignments", "placements", "recalls", "queue_summary"):
        assert_same(getattr(d_fast, name), getattr(d_slow, name))


def test_not_worked_reasons_join_prior_reasons_as_before():
    """A recalled account left not worked: "prior; why", as the every-row np.char version."""
    from collections_engine.assign.decide import _not_worked_reason, assemble
    from collections_engine.assign.solve import solve
    rng = np.random.default_rng(5)
    n = 50
    inp = make_inputs(list(rng.choice(["M1", "M2"], n)), rng.uniform(0.05, 0.8, n),
                      rng.integers(100, 5000, n).astype(float), list(range(n)),
                      list(rng.choice(["", "gone", "v2"], n)), list(rng.integers(1, 20, n)))
    s = make_strategy((3, 3, 3))
    pb = build_problem(inp, s, DATE)
    choice = solve(pb).choice
    a, _ = assemble(pb, choice, inp, s, DATE)
    f = np.flatnonzero(pb.free)
    off = f[choice[f] < 0]
    why = _not_worked_reason(pb, off)
    prior = pb.reason[off].astype(str)
    want = np.where(prior != "", np.char.add(np.char.add(prior, "; "), why.astype(str)), why).astype(object)
    assert (prior != "").any() and (prior == "").any()
    assert (a["reason"].to_numpy(dtype=object)[off] == want).all()
