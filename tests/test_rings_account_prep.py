"""The own features of a night built from the whole book: the per-account aggregates made
before the graph phase (`account_phase.FullPrep`, on the side thread) against the same work
done after it from the rows (`account_phase._full`), on books a bank could export: customer ids
missing, snapshots after the night or undated, accounts opened after the night, an account whose
rows name two customers, payments and contacts before and after the night."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collections_engine.book import Book
from collections_engine.config.graph import GraphConfig
from collections_engine.rings import account_phase as ap_mod
from collections_engine.rings.graph_phase import graph_phase

D = pd.Timestamp("2026-01-30")
GRAPH = GraphConfig(kinds={"phone": 1.0, "device": 1.0, "address": 0.5}, hub_max_customers=50)


def _day(d):
    return pd.NaT if d is None else D + pd.Timedelta(days=d)


@st.composite
def books(draw: st.DrawFn) -> Book:
    n_acc = draw(st.integers(1, 8))
    owner = st.sampled_from(["C0", "C1", "C2", "C3", None])
    day = st.sampled_from([None, -40, -3, 0, 2])  # relative to the night D
    acc_rows = draw(st.lists(st.tuples(st.integers(0, n_acc - 1), owner, day, day, st.integers(0, 120)),
                             min_size=1, max_size=24))
    accounts = pd.DataFrame({
        "snapshot_date": pd.Series([_day(s) for _, _, s, _, _ in acc_rows], dtype="datetime64[ns]"),
        "account_id": pd.Series([f"A{a}" for a, *_ in acc_rows], dtype="str"),
        "customer_id": pd.Series([c for _, c, *_ in acc_rows], dtype="str"),
        "open_date": pd.Series([_day(o) for *_, o, _ in acc_rows], dtype="datetime64[ns]"),
        "dpd": np.array([d for *_, d in acc_rows], np.int64),
    })
    account = st.sampled_from([f"A{i}" for i in range(n_acc)] + ["Z9"])  # Z9: no account row
    pays = draw(st.lists(st.tuples(account, day), max_size=10))
    cons = draw(st.lists(st.tuples(account, day, st.sampled_from(["wrong_number", "no_answer", "ptp"])),
                         max_size=10))
    payments = pd.DataFrame({"account_id": pd.Series([a for a, _ in pays], dtype="str"),
                             "paid_on": pd.Series([_day(d) for _, d in pays], dtype="datetime64[ns]")})
    contacts = pd.DataFrame({"account_id": pd.Series([a for a, _, _ in cons], dtype="str"),
                             "contacted_on": pd.Series([_day(d) for _, d, _ in cons], dtype="datetime64[ns]"),
                             "outcome": pd.Series([o for *_, o in cons], dtype="str")})
    ident = pd.DataFrame({"customer_id": pd.Series(["C0", "C1", "C4"], dtype="str"),
                          "kind": pd.Categorical(["phone"] * 3),
                          "value": pd.Series(["p1", "p1", "p1"], dtype="str"),
                          "first_seen": pd.Series([D - pd.Timedelta(days=9)] * 3, dtype="datetime64[ns]")})
    labels = pd.DataFrame({"customer_id": pd.Series(["C2"], dtype="str"),
                           "confirmed_on": pd.Series([D - pd.Timedelta(days=1)], dtype="datetime64[ns]")})
    return Book(accounts=accounts, payments=payments, contacts=contacts, identifiers=ident, fraud_labels=labels)


def _accounts(rows: list[tuple[int, str, str, int]]) -> pd.DataFrame:
    """Account rows (snapshot day relative to the night, account, customer, dpd), all opened
    90 days before the night."""
    return pd.DataFrame({
        "snapshot_date": pd.Series([D + pd.Timedelta(days=d) for d, *_ in rows], dtype="datetime64[ns]"),
        "account_id": pd.Series([a for _, a, _, _ in rows], dtype="str"),
        "customer_id": pd.Series([c for _, _, c, _ in rows], dtype="str"),
        "open_date": pd.Series([D - pd.Timedelta(days=90)] * len(rows), dtype="datetime64[ns]"),
        "dpd": np.array([x for *_, x in rows], np.int64)})


def _phase_from_rows(book: Book):
    gp = graph_phase(book, GRAPH, D, None)
    shared = np.arange(len(gp.customer_ids), dtype=float) % 3
    return ap_mod._full(book, gp, D, shared), gp


def _same(got, gp_got, want, gp_want) -> None:
    pd.testing.assert_frame_equal(got.feats, want.feats)
    assert got.acc.tolist() == want.acc.tolist()
    assert got.cust.tolist() == want.cust.tolist()
    assert got.account_ids.to_pylist() == want.account_ids.to_pylist()
    assert gp_got.carry.accounts_problem == gp_want.carry.accounts_problem
    if gp_want.carry.accounts is None:
        assert gp_got.carry.accounts is None
    else:
        pd.testing.assert_frame_equal(gp_got.carry.accounts, gp_want.carry.accounts)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_the_aggregates_made_before_the_graph_phase_equal_the_rows_after_it(book: Book) -> None:
    want, gp_want = _phase_from_rows(book)
    gp = graph_phase(book, GRAPH, D, None)
    shared = np.arange(len(gp.customer_ids), dtype=float) % 3
    prep = ap_mod.account_prep(book, D, None)
    assert prep.full is not None  # a first night: the whole book's aggregates are made up front
    a = book.accounts
    known = a[a["customer_id"].notna() & (a["snapshot_date"] <= D)]
    if not prep.full.problem and (known.groupby("account_id")["customer_id"].nunique() <= 1).all():
        # the graph phase knows the same rows on every book: the aggregates are used
        assert ap_mod._from_full_prep(graph_phase(book, GRAPH, D, None), prep.full, shared, D) is not None
    got = ap_mod.account_phase(book, gp, D, None, shared, prep=prep)
    _same(got, gp, want, gp_want)
    assert got.info["mode"] == "full" and prep.full is None  # read, then let go of


def test_codings_that_disagree_fall_back_to_the_rows() -> None:
    """Aggregates whose account rows, as the graph phase codes them, name two customers for
    one account, or whose known rows are not the graph phase's, are never used: the phase is
    built from the rows."""
    book = Book(
        accounts=_accounts([(0, "A0", "C0", 30), (0, "A1", "C1", 0), (-31, "A0", "C0", 1)]),
        identifiers=pd.DataFrame({"customer_id": pd.Series(["C0", "C1"], dtype="str"),
                                  "kind": pd.Categorical(["phone"] * 2), "value": pd.Series(["p", "p"], dtype="str"),
                                  "first_seen": pd.Series([D] * 2, dtype="datetime64[ns]")}))
    want, gp_want = _phase_from_rows(book)
    for corrupt in ("merge", "unknown"):
        gp = graph_phase(book, GRAPH, D, None)
        shared = np.arange(len(gp.customer_ids), dtype=float) % 3
        prep = ap_mod.account_prep(book, D, None)
        if corrupt == "merge":  # every row of one account: two customers
            prep.full.acc[:] = prep.full.acc[0]
        else:  # a row the graph phase knows, without a customer here
            prep.full.known[0] = False
        assert ap_mod._from_full_prep(gp, prep.full, shared, D) is None
        got = ap_mod.account_phase(book, gp, D, None, shared, prep=prep)
        _same(got, gp, want, gp_want)


def test_an_account_with_two_customers_is_built_from_the_rows() -> None:
    """The aggregates' own problem (an account whose rows name two customers): the
    row-by-row features, as before, with the problem as the reason."""
    book = Book(
        accounts=_accounts([(0, "A0", "C0", 30), (-31, "A0", "C1", 0)]))
    want, gp_want = _phase_from_rows(book)
    gp = graph_phase(book, GRAPH, D, None)
    prep = ap_mod.account_prep(book, D, None)
    assert ap_mod._from_full_prep(graph_phase(book, GRAPH, D, None), prep.full, np.zeros(2), D) is None
    shared = np.arange(len(gp.customer_ids), dtype=float) % 3
    got = ap_mod.account_phase(book, gp, D, None, shared, prep=prep)
    assert want.info["reason"] == "an account's rows name more than one customer"  # the rows' path
    _same(got, gp, want, gp_want)


def test_two_rows_of_an_accounts_latest_snapshot_are_built_from_the_rows() -> None:
    """The aggregates' other problem (an account with two rows of its latest snapshot), found
    while the account rows are folded in, before the payments and contacts: the row-by-row
    features, with the problem as the reason, and no carried accounts."""
    book = Book(
        accounts=_accounts([(0, "A0", "C0", 30), (0, "A0", "C0", 31), (-31, "A1", "C1", 0)]),
        payments=pd.DataFrame({"account_id": pd.Series(["A0", "A1"], dtype="str"),
                               "paid_on": pd.Series([D - pd.Timedelta(days=5)] * 2, dtype="datetime64[ns]")}),
        contacts=pd.DataFrame({"account_id": pd.Series(["A1"], dtype="str"),
                               "contacted_on": pd.Series([D], dtype="datetime64[ns]"),
                               "outcome": pd.Series(["wrong_number"], dtype="str")}))
    want, gp_want = _phase_from_rows(book)
    prep = ap_mod.account_prep(book, D, None)
    assert prep.full.problem == "an account has two rows of its latest snapshot"
    gp = graph_phase(book, GRAPH, D, None)
    shared = np.arange(len(gp.customer_ids), dtype=float) % 3
    got = ap_mod.account_phase(book, gp, D, None, shared, prep=prep)
    problem = "an account has two rows of its latest snapshot"
    assert want.info["reason"] == problem  # the rows' path
    _same(got, gp, want, gp_want)
    assert gp.carry.accounts is None and gp.carry.accounts_problem == problem
