"""The carried identifier graph (rings/carry.py, rings/graph_phase.py): a second night built from
last night's carry and tonight's rows equals a full build from the whole book, and a carry that
does not fit tonight's book is refused with the reason (a full build, never a skip)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collections_engine.book import Book
from collections_engine.config.graph import GraphConfig
from collections_engine.errors import InputError
from collections_engine.rings import detect_rings
from collections_engine.rings.carry import check_carry
from collections_engine.rings.graph_phase import graph_phase
from tests.ring_books import generated_ring_book

D = pd.Timestamp("2026-01-30")
S = D - pd.Timedelta(days=1)
KINDS = {"phone": 1.0, "device": 1.0, "address": 0.5}


def _roundtrip(carry):
    """The carry as the next night reads it: through parquet, then checked."""
    frames = {}
    for name, df in carry.frames().items():
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        frames[name] = pd.read_parquet(io.BytesIO(buf.getvalue()))
    out, why = check_carry(frames, carry.key)
    assert out is not None, why
    return out


def _canon(gp) -> tuple:
    """Everything later phases read from the graph phase; the shared values as a partition
    (their numbering follows row order, and nothing downstream depends on it)."""
    cg = gp.cg
    parts = sorted((k, tuple(sorted(x))) for (k, _), x in cg.shared.groupby(["kind", "group"])["node"].agg(list).items())
    return (list(cg.customers), cg.u.tolist(), cg.v.tolist(), cg.w.tobytes(), parts, cg.stats, cg.codes.tolist(),
            list(gp.customer_ids), gp.c_acc.tolist(), gp.c_lab.tolist(), np.nan_to_num(gp.first_seen, nan=-1).tolist(),
            gp.warnings, gp.id_stats)


def _carry_frames(gp) -> tuple:
    links = gp.carry.links.sort_values(["cust_pos", "kind", "value"]).reset_index(drop=True)
    return gp.carry.customers.to_dict("list"), links.to_dict("list"), gp.carry.digests, gp.carry.ident_counts


def _assert_same(inc, full) -> None:
    assert _canon(inc) == _canon(full)
    assert _carry_frames(inc) == _carry_frames(full)


@st.composite
def histories(draw: st.DrawFn):
    """A small book whose rows are dated around the two nights: identifiers first seen before,
    on either night, after both, or never dated; values from small pools so that customers
    share them, blanks and an unknown kind now and then; accounts on both nights."""
    n_cust = draw(st.integers(2, 14))
    cust = [f"C{i:02d}" for i in range(n_cust)]
    day = st.sampled_from([None, -5, -1, 0, 1])  # relative to S; 1 is tonight (D)
    row = st.tuples(st.sampled_from(cust), st.sampled_from(["phone", "device", "address", "fax"]),
                    st.sampled_from(["v0", "v1", "v2", "v3", "", "v0 "]), day)
    rows = draw(st.lists(row, min_size=0, max_size=45))
    ident = pd.DataFrame({
        "customer_id": pd.Series([r[0] for r in rows], dtype="str"),
        "kind": pd.Categorical([r[1] for r in rows]),
        "value": pd.Series([r[1][0] + r[2] if r[2] else r[2] for r in rows], dtype="str"),
        "first_seen": pd.Series([pd.NaT if r[3] is None else S + pd.Timedelta(days=r[3]) for r in rows],
                                dtype="datetime64[ns]"),
    })
    acc_rows = draw(st.lists(st.tuples(st.sampled_from(cust + ["X1", "X2"]), st.sampled_from([-30, 0, 1])),
                             min_size=1, max_size=20))
    accounts = pd.DataFrame({
        "snapshot_date": pd.Series([S + pd.Timedelta(days=d) for _, d in acc_rows], dtype="datetime64[ns]"),
        "account_id": pd.Series([f"A{c}" for c, _ in acc_rows], dtype="str"),
        "customer_id": pd.Series([c for c, _ in acc_rows], dtype="str"),
        "open_date": pd.Series([S - pd.Timedelta(days=90)] * len(acc_rows), dtype="datetime64[ns]"),
        "dpd": np.full(len(acc_rows), 30, np.int64),
    })
    labels = draw(st.lists(st.sampled_from(cust + ["L9"]), max_size=3, unique=True))
    lab = pd.DataFrame({"customer_id": pd.Series(labels, dtype="str"),
                        "confirmed_on": pd.Series([S] * len(labels), dtype="datetime64[ns]")})
    hub = draw(st.sampled_from([3, 50]))
    return Book(accounts=accounts, identifiers=ident, fraud_labels=lab), GraphConfig(kinds=KINDS, hub_max_customers=hub)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_a_carried_night_equals_a_full_build(case) -> None:
    book, graph = case
    last = graph_phase(book, graph, S, None)
    assert last.carry_info["mode"] == "full"
    inc = graph_phase(book, graph, D, _roundtrip(last.carry))
    assert inc.carry_info["mode"] == "carried", inc.carry_info
    _assert_same(inc, graph_phase(book, graph, D, None))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(0, 10**6), st.sampled_from(["value", "customer_id", "drop", "late"]))
def test_a_rewritten_past_is_refused_and_the_night_built_in_full(case, pick: int, edit: str) -> None:
    book, graph = case
    last = graph_phase(book, graph, S, None)
    ident = book.identifiers
    past = np.flatnonzero(ident["first_seen"].isna().to_numpy() | (ident["first_seen"] <= S).to_numpy())
    if edit == "late":  # a row dated last night that was not there last night
        extra = pd.DataFrame({"customer_id": ["C00"], "kind": ["phone"], "value": ["pv9"], "first_seen": [S]})
        ident = pd.concat([ident, extra.astype({"customer_id": "str", "value": "str"})], ignore_index=True)
        ident["kind"] = pd.Categorical(ident["kind"].astype("str"))
    elif len(past) == 0:
        return
    else:
        i = past[pick % len(past)]
        if edit == "drop":
            ident = ident.drop(index=i).reset_index(drop=True)
        else:
            col = ident[edit].astype(object).copy()
            col.iloc[i] = str(col.iloc[i]) + "x"
            ident = ident.assign(**{edit: pd.Series(col.to_numpy(), dtype="str")})
    tonight = Book(accounts=book.accounts, identifiers=ident, fraud_labels=book.fraud_labels)
    inc = graph_phase(tonight, graph, D, _roundtrip(last.carry))
    assert inc.carry_info["mode"] == "full"
    assert "differ from that night" in inc.carry_info["reason"]
    _assert_same(inc, graph_phase(tonight, graph, D, None))


def test_a_carry_of_other_keys_or_a_later_night_is_refused() -> None:
    book = Book(accounts=pd.DataFrame({"snapshot_date": [S], "account_id": ["A1"], "customer_id": ["C1"],
                                       "open_date": [S], "dpd": [1]}).astype({"account_id": "str", "customer_id": "str"}),
                identifiers=pd.DataFrame({"customer_id": ["C1", "C2"], "kind": ["phone", "phone"],
                                          "value": ["p", "p"]}).astype("str"))
    graph = GraphConfig(kinds=KINDS)
    carry = _roundtrip(graph_phase(book, graph, D, None).carry)
    other = GraphConfig(kinds={**KINDS, "email": 0.5})
    assert "other graph keys" in graph_phase(book, other, D, carry).carry_info["reason"]
    assert "later night" in graph_phase(book, graph, S, carry).carry_info["reason"]
    frames = carry.frames()
    assert check_carry({k: v for k, v in frames.items() if k != "links"}, carry.key)[1].endswith("links")
    assert "lacks column" in check_carry({**frames, "customers": frames["customers"].drop(columns="used")},
                                         carry.key)[1]
    shuffled = frames["customers"].iloc[::-1]
    if len(shuffled) > 1:
        assert "sorted" in check_carry({**frames, "customers": shuffled}, carry.key)[1]
    # a carry of the layout before the identifier counts (session 9): refused, never misread
    old = frames["meta"].drop(columns=[c for c in frames["meta"].columns if c.startswith("ids_")])
    assert "meta lacks column(s) ids_rows" in check_carry({**frames, "meta": old}, carry.key)[1]
    assert "counts are missing" in check_carry({**frames, "meta": frames["meta"].assign(ids_used=-1)}, carry.key)[1]


def test_tonights_unknown_kinds_and_blanks_are_counted_as_a_full_build_counts_them() -> None:
    """The carried night checks only the identifier rows dated after the carry's night: tonight's
    unknown kind and blank value give the full build's warnings (row numbers of the whole
    table) and counts; an unknown kind in the carried rows makes it check every row."""
    rows = [("C1", "phone", "p1", S), ("C2", "phone", "p1", None), ("C3", " device", "d", S),
            ("C1", "fax", "f", D), ("C4", "phone", " ", D), ("C4", "phone", "p1", D), ("C5", "device", "d", D)]
    for past_fax in (False, True):
        ident = pd.DataFrame({"customer_id": [r[0] for r in rows], "kind": [r[1] for r in rows],
                              "value": [r[2] for r in rows], "first_seen": pd.to_datetime([r[3] for r in rows])})
        if past_fax:
            ident.loc[1, "kind"] = "fax"
        ident = ident.astype({"customer_id": "str", "kind": "str", "value": "str"})
        book = Book(accounts=pd.DataFrame({"snapshot_date": [S], "account_id": ["A1"], "customer_id": ["C1"],
                                           "open_date": [S], "dpd": [1]}).astype({"account_id": "str", "customer_id": "str"}),
                    identifiers=ident)
        graph = GraphConfig(kinds=KINDS)
        carry = _roundtrip(graph_phase(book, graph, S, None).carry)
        assert carry.ident_counts == {"rows": 3, "unknown_kind": int(past_fax), "empty": 0, "used": 3 - past_fax}
        inc, full = graph_phase(book, graph, D, carry), graph_phase(book, graph, D, None)
        assert inc.carry_info["mode"] == "carried"
        assert any("unknown kind 'fax'" in w for w in full.warnings) and full.id_stats["empty"] == 1
        _assert_same(inc, full)
        strict = GraphConfig(kinds=KINDS, unknown_kinds="error")
        with pytest.raises(InputError) as carried_err:
            graph_phase(book, strict, D, carry)
        with pytest.raises(InputError) as full_err:
            graph_phase(book, strict, D, None)
        assert str(carried_err.value) == str(full_err.value)


def test_a_generated_book_night_to_night_carried_equals_full() -> None:
    """The production path on a generated book (a giant component, hubs, new customers every
    night): three nights, each carried from the one before, against full builds; and the whole
    ring step from the carry gives the same rings as from the book."""
    book, graph = generated_ring_book(accounts=4000, days=3, seed=3)
    d0, *nights = book.snapshot_dates()[-3:]
    gp = graph_phase(book, graph, d0, None)
    for d in nights:
        inc = graph_phase(book, graph, d, _roundtrip(gp.carry))
        assert inc.carry_info["mode"] == "carried"
        _assert_same(inc, graph_phase(book, graph, d, None))
        gp = inc
    first = detect_rings(book, graph, nights[0])
    carried = detect_rings(book, graph, nights[1], previous=first.rings, carry=_roundtrip(first.carry))
    full = detect_rings(book, graph, nights[1], previous=first.rings)
    assert carried.stats["graph_carry"]["mode"] == "carried"
    assert carried.stats["features_carry"]["mode"] == "carried", carried.stats["features_carry"]
    assert full.stats["features_carry"]["mode"] == "full"
    for a, b in ((carried.rings, full.rings), (carried.members, full.members),
                 (carried.communities, full.communities)):
        pd.testing.assert_frame_equal(a, b)


def test_a_rewritten_past_through_detect_rings_drops_the_carried_build() -> None:
    """detect_rings computes the digests on a second thread while it builds the carried graph:
    a past that differs (one identifier value of last night rewritten) drops that build for a
    full one, with the reason, and gives the rings of a night without a carry."""
    book, graph = generated_ring_book(accounts=2000, days=2, seed=5)
    last, tonight = book.snapshot_dates()[-2:]
    first = detect_rings(book, graph, last)
    ident = book.identifiers.copy()
    seen = ident["first_seen"].to_numpy("datetime64[ns]")
    row = int(np.flatnonzero(~np.isnat(seen) & (seen <= last.to_datetime64()))[0])
    values = ident["value"].astype(object).to_numpy(copy=True)
    values[row] = str(values[row]) + "x"
    ident["value"] = pd.Series(values, dtype="str")
    rewritten = Book(**{**{k: getattr(book, k) for k in ("accounts", "payments", "contacts", "fraud_labels")},
                        "identifiers": ident})
    res = detect_rings(rewritten, graph, tonight, previous=first.rings, carry=_roundtrip(first.carry))
    assert res.stats["graph_carry"]["mode"] == "full"
    assert "identifiers rows dated on or before" in res.stats["graph_carry"]["reason"]
    full = detect_rings(rewritten, graph, tonight, previous=first.rings)
    for a, b in ((res.rings, full.rings), (res.members, full.members), (res.communities, full.communities)):
        pd.testing.assert_frame_equal(a, b)


@st.composite
def account_histories(draw: st.DrawFn):
    """Integer-coded account, payment and contact rows (customer_features' inputs) dated before,
    on and after last night, with unknown rows, missing dates and payment-only accounts."""
    n_cust, n_acc = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    owner = draw(st.lists(st.integers(-1, n_cust - 1), min_size=n_acc, max_size=n_acc))
    day = st.sampled_from([None, -400, -120, -60, -1, 0, 1, 2])
    acc_rows = draw(st.lists(st.tuples(st.integers(0, n_acc - 1), st.sampled_from([-60, -30, 0, 1, 2]), day,
                                       st.integers(0, 150)), max_size=25))
    # one row per account and snapshot (the loader's key)
    acc_rows = list({(a, s): (a, s, o, dpd) for a, s, o, dpd in acc_rows}.values())

    def ns(d):
        return np.datetime64("NaT", "ns") if d is None else (S + pd.Timedelta(days=d)).to_datetime64()

    accounts = {"acc": np.array([a for a, *_ in acc_rows], np.int64),
                "cust": np.array([owner[a] for a, *_ in acc_rows], np.int64),
                "snapshot_date": np.array([ns(s) for _, s, _, _ in acc_rows], "datetime64[ns]"),
                "open_date": np.array([ns(o) for _, _, o, _ in acc_rows], "datetime64[ns]"),
                "dpd": np.array([d for *_, d in acc_rows], np.int64)}
    pays = draw(st.lists(st.tuples(st.integers(-1, n_acc - 1), day), max_size=15))
    payments = {"acc": np.array([a for a, _ in pays], np.int64), "paid_on": np.array([ns(d) for _, d in pays], "datetime64[ns]")}
    cons = draw(st.lists(st.tuples(st.integers(-1, n_acc - 1), day, st.sampled_from(["wrong_number", "no_answer", "other"])),
                         max_size=15))
    contacts = {"acc": np.array([a for a, _, _ in cons], np.int64),
                "contacted_on": np.array([ns(d) for _, d, _ in cons], "datetime64[ns]"),
                "wrong_number": np.array([o == "wrong_number" for *_, o in cons], bool),
                "no_answer": np.array([o == "no_answer" for *_, o in cons], bool)}
    shared = np.array(draw(st.lists(st.integers(0, 3), min_size=n_cust, max_size=n_cust)), float)
    return n_cust, n_acc, accounts, payments, contacts, shared


def _known(rows: dict, col: str, date: pd.Timestamp) -> dict:
    """The rows of `rows` dated on or before `date` (account rows after it: customer -1)."""
    out = dict(rows)
    if col == "snapshot_date":
        out["cust"] = np.where(rows[col] <= date.to_datetime64(), rows["cust"], -1)
    return out


def _pick(rows: dict, mask: np.ndarray) -> dict:
    return {k: v[mask] for k, v in rows.items()}


@settings(max_examples=150, deadline=None)
@given(account_histories())
def test_account_aggregates_give_customer_features_and_merge_night_to_night(case) -> None:
    from collections_engine.rings import accounts as agg_mod
    from collections_engine.rings.propensity import customer_features

    n_cust, n_acc, accounts, payments, contacts, shared = case
    acc_d = _known(accounts, "snapshot_date", D)
    slow = customer_features(n_cust, acc_d, payments, contacts, shared, D)
    agg, problem = agg_mod.aggregate(n_acc, acc_d, payments, contacts, D)
    assert problem == "" or "customer" in problem
    if problem:
        return
    pd.testing.assert_frame_equal(agg_mod.features(n_cust, agg, shared, D), slow)
    # last night's aggregates plus tonight's rows: the same
    sd, dd = S.to_datetime64(), D.to_datetime64()
    past_acc = _known(_pick(accounts, accounts["snapshot_date"] <= sd), "snapshot_date", S)
    old, problem = agg_mod.aggregate(n_acc, past_acc, payments, contacts, S)
    opened_later = (past_acc["cust"] >= 0) & (past_acc["open_date"] > sd)
    if problem or opened_later.any():  # the carry is refused in these cases
        return
    late = (accounts["snapshot_date"] > sd) & (accounts["snapshot_date"] <= dd)
    new_pay = _pick(payments, (payments["paid_on"] > sd) & (payments["paid_on"] <= dd))
    new_con = _pick(contacts, (contacts["contacted_on"] > sd) & (contacts["contacted_on"] <= dd))
    new, problem = agg_mod.aggregate(n_acc, _pick(accounts, late), new_pay, new_con, D)
    assert problem == ""
    merged, problem = agg_mod.merge(old, new)
    assert problem == ""
    pd.testing.assert_frame_equal(agg_mod.features(n_cust, merged, shared, D), slow)


def test_an_account_row_that_opens_after_its_night_is_never_carried() -> None:
    """An account row known on a night but opened after it is left out of that night's
    aggregates (not yet open) and would be missed by the next night's carry (a past row):
    the night that sees it, built from the book or from a carry, carries no account
    aggregates, says why, and the next night builds its features from the book."""
    book, graph = generated_ring_book(accounts=2000, days=3, seed=4)
    n0, n1, n2 = book.snapshot_dates()[-3:]
    accounts = book.accounts.copy()
    row = int(np.flatnonzero((accounts["snapshot_date"] == n1).to_numpy() & accounts["customer_id"].notna().to_numpy())[0])
    opens = accounts["open_date"].to_numpy("datetime64[ns]").copy()
    opens[row] = n2.to_datetime64()
    accounts["open_date"] = opens
    late = Book(**{**{k: getattr(book, k) for k in ("payments", "contacts", "fraud_labels", "identifiers")},
                   "accounts": accounts})
    why = "an account row known on the night opens after it"
    first = detect_rings(late, graph, n0)
    assert first.carry.accounts is not None  # n0 does not know the row yet
    from_carry = detect_rings(late, graph, n1, previous=first.rings, carry=_roundtrip(first.carry))
    assert from_carry.stats["features_carry"]["mode"] == "carried"
    for res in (from_carry, detect_rings(late, graph, n1, previous=first.rings)):
        assert res.carry.accounts is None and res.carry.accounts_problem == why
    carried = detect_rings(late, graph, n2, previous=res.rings, carry=_roundtrip(res.carry))
    assert carried.stats["features_carry"]["mode"] == "full"
    full = detect_rings(late, graph, n2, previous=res.rings)
    for a, b in ((carried.rings, full.rings), (carried.members, full.members)):
        pd.testing.assert_frame_equal(a, b)
