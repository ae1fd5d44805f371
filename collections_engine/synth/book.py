"""Assemble the synthetic book: the pure generator behind `collections-engine generate`.

`generate_book(params, strategy)` returns every table as a frame, keyed by its path inside
DATA without the extension ("accounts", "sources/bureau", "truth/accounts", ...); the command
only writes them. Each part draws from its own child stream of one seed, so the same seed gives
the same book, and a change in one part leaves the draws of the others alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa

from collections_engine.config.strategy import Strategy
from collections_engine.synth.behaviour import CHANNELS, OUTCOMES, make_contacts, make_holds, \
    make_payments
from collections_engine.synth.ids import fake_addresses, fake_names, fake_national_ids, \
    fake_phones, format_ids, sort_order, tokens
from collections_engine.synth.lifecycle import HOLD_KINDS, WRITE_OFF, queue_table, run_lifecycle
from collections_engine.synth.params import SOURCE_ROLES, SynthParams
from collections_engine.synth.population import make_population, night_dates
from collections_engine.synth.rings import KINDS, assign_codes, household_of, \
    make_fraud_labels, make_identifiers
from collections_engine.synth.sources import make_sources
from collections_engine.synth.answers import effects_by_trait, source_values
from collections_engine.synth.lifecycle import _active_hold
from collections_engine.synth.state import state_frame
from collections_engine.synth.world import world_parameters

__all__ = ["generate_book", "iter_book"]

# token prefix and value family per identifier kind (phone and emergency contact share one)
_PREFIX = np.array(["ph", "dv", "ad", "em", "ph", "co"])
_FAMILY = np.array([1, 2, 3, 4, 1, 5], dtype=np.uint64)


def _ids(prefix: str, n: int) -> pa.Array:
    width = max(7, len(str(n)))
    return pa.array(format_ids(prefix, np.arange(n), width).array)


def _take(arr: pa.Array, idx: np.ndarray) -> pd.Series:
    return pd.Series(arr.take(pa.array(np.asarray(idx, dtype=np.int64))), dtype="str")


def _cat(names: np.ndarray, codes: np.ndarray) -> pd.Series:
    return pd.Series(pa.array([str(x) for x in names], pa.string()).take(
        pa.array(np.asarray(codes, dtype=np.int64))), dtype="str")


def _dates(x: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(x, dtype="datetime64[D]").astype("datetime64[ns]"))


def world_book(strategy: Strategy, p: SynthParams) -> dict:
    """The bank as the world knows it (truth/world.json "book"): stages, the new-customer window,
    the outcome horizon and each queue's kind and planted lift, so `simulate` needs no strategy."""
    return {
        "stages": [{"name": s.name, "dpd_min": s.dpd_min, "dpd_max": s.dpd_max}
                   for s in strategy.stages],
        "new_customer_max_age_months": strategy.new_customer.max_account_age_months,
        "horizon_days": strategy.outcome.horizon_days,
        "write_off_dpd": {"card": WRITE_OFF[True], "loan": WRITE_OFF[False]},
        "queues": {q.name: {"kind": q.kind, "lift": {st: p.lift_base.get(q.name, {}).get(st, 0.0)
                                                     for st in q.stages}}
                   for q in strategy.work_queues()},
    }


def generate_book(p: SynthParams, strategy: Strategy) -> dict[str, pd.DataFrame]:
    """Every table of the book at once (small books, tests)."""
    return dict(iter_book(p, strategy))


def iter_book(p: SynthParams, strategy: Strategy) -> Iterator[tuple[str, pd.DataFrame]]:
    """The tables one at a time, so that a writer can drop each after writing it (big books)."""
    if p.accounts < 1 or p.days < 1 or p.history_months < 1:
        raise ValueError("accounts, days and history_months must be at least 1")
    streams = [np.random.Generator(np.random.PCG64(s))
               for s in np.random.SeedSequence(p.seed).spawn(8)]
    pop = make_population(p, streams[0])
    holds = make_holds(pop, p, streams[1])
    lc = run_lifecycle(pop, holds, p, strategy, streams[2])
    names, elig, lift, qkind = queue_table(strategy, p)
    nights = night_dates(p)

    acc_ids = _ids("A", pop.n_accounts)
    cust_ids = _ids("C", pop.n_customers)
    appears = np.zeros(pop.n_accounts, dtype=bool)
    appears[lc.acc] = True
    # the bank's customers: everyone with an account in the book's window, delinquent or not
    # (so that a customer without delinquent accounts says nothing about fraud)
    alive = np.zeros(pop.n_customers, dtype=bool)
    alive[pop.cust[lc.keep]] = True

    # accounts (rows come sorted by snapshot date, then account)
    rows_acc = lc.acc
    accounts = pd.DataFrame({
        "snapshot_date": _dates(lc.date),
        "account_id": _take(acc_ids, rows_acc),
        "customer_id": _take(cust_ids, pop.cust[rows_acc]),
        "product": _cat(np.array(["loan", "card"]), pop.card[rows_acc].astype(np.int64)),
        "open_date": _dates(pop.open_date[rows_acc]),
        "dpd": lc.dpd.astype(np.int64),
        "overdue_amount": lc.overdue.astype(np.float64),
        "balance": lc.balance.astype(np.float64),
        "credit_limit": pop.credit_limit[rows_acc].astype(np.float64),
    })
    yield "accounts", accounts
    truth_acc = pd.DataFrame({
        "account_id": accounts["account_id"],
        "snapshot_date": accounts["snapshot_date"],
        "p_repay": np.clip(np.round(lc.p0, 4), 0.0001, 0.9999),
        "p_observable": np.clip(np.round(lc.p_obs, 4), 0.0001, 0.9999),
        "p_queue": np.clip(np.round(lc.p_queue, 4), 0.0001, 0.9999),
        "willingness": np.round(pop.w[pop.cust[rows_acc]], 4),
        "ability": np.round(pop.a[pop.cust[rows_acc]], 4),
    })
    yield "truth/accounts", truth_acc
    del accounts, truth_acc

    # placement history and outcomes (history snapshots only)
    h = np.flatnonzero(~lc.night)
    hist_key = {"account_id": _take(acc_ids, lc.acc[h]), "snapshot_date": _dates(lc.date[h])}
    yield "placement_history", pd.DataFrame({
        **hist_key,
        "queue": _cat(np.array(names), lc.queue[h]),
        "propensity": np.round(lc.propensity[h], 6),
    })
    yield "outcomes", pd.DataFrame({
        **hist_key,
        "repaid": lc.repaid[h].astype(np.int8),
        "recovered_amount": lc.recovered[h].astype(np.float64),
    })
    del hist_key

    # customers
    cust = np.flatnonzero(alive)
    rng_c = streams[3]
    hh = household_of(pop, p, rng_c, alive)
    codes = assign_codes(pop, streams[5], alive, hh)
    yield "customers", pd.DataFrame({
        "customer_id": _take(cust_ids, cust),
        "name": fake_names(rng_c, len(cust)),
        "phone": pd.Series(fake_phones(codes.phone[cust]), dtype="str"),
        "national_id": fake_national_ids(rng_c, pop.birth_year[cust], len(cust)),
        "address": pd.Series(fake_addresses(codes.address[cust]), dtype="str"),
        "birth_year": pop.birth_year[cust].astype(np.int64),
        "income": pop.income[cust].astype(np.float64),
    })

    # payments and contacts
    pay = make_payments(pop, lc, streams[4])
    o = sort_order(pay["amount"], pay["paid_on"], pay["acc"])
    yield "payments", pd.DataFrame({
        "account_id": _take(acc_ids, pay["acc"][o]),
        "paid_on": _dates(pay["paid_on"][o]),
        "amount": pay["amount"][o].astype(np.float64),
    })
    del pay
    con = make_contacts(pop, lc, qkind, streams[4])
    o = sort_order(con["outcome"], con["channel"], con["contacted_on"], con["acc"])
    same = np.zeros(len(o), dtype=bool)      # one row per (account, day, channel, outcome)
    if len(o) > 1:
        same[1:] = np.logical_and.reduce([con[k][o][1:] == con[k][o][:-1] for k in
                                          ("acc", "contacted_on", "channel", "outcome")])
    o = o[~same]
    yield "contacts", pd.DataFrame({
        "account_id": _take(acc_ids, con["acc"][o]),
        "contacted_on": _dates(con["contacted_on"][o]),
        "channel": _cat(CHANNELS, con["channel"][o]),
        "outcome": _cat(OUTCOMES, con["outcome"][o]),
    })
    del con

    # holds of accounts in the book
    m = appears[holds.acc]
    o = np.lexsort((holds.kind[m], holds.start[m], holds.acc[m]))
    yield "holds", pd.DataFrame({
        "account_id": _take(acc_ids, holds.acc[m][o]),
        "hold": _cat(HOLD_KINDS, holds.kind[m][o]),
        "start": _dates(holds.start[m][o]),
        "end": _dates(holds.end[m][o]),
    })

    # identifiers: first seen at the first opening; ring members joining during the nights
    # are first seen on the night they first appear delinquent
    big = np.iinfo(np.int64).max
    first_open = np.full(pop.n_customers, big, dtype=np.int64)
    np.minimum.at(first_open, pop.cust[lc.keep], pop.open_date[lc.keep].astype(np.int64))
    first_seen = first_open.astype("datetime64[D]")
    first_row = np.full(pop.n_customers, big, dtype=np.int64)
    np.minimum.at(first_row, pop.cust[lc.acc], lc.date.astype(np.int64))
    joins = (pop.ring >= 0) & (first_row != big) & (first_row > nights[0].astype(np.int64))
    first_seen[joins] = first_row[joins].astype("datetime64[D]")
    ids = make_identifiers(codes, alive, first_seen)
    o = sort_order(ids["code"], ids["kind"], ids["cust"])
    kind = ids["kind"][o]
    yield "identifiers", pd.DataFrame({
        "customer_id": _take(cust_ids, ids["cust"][o]),
        "kind": _cat(KINDS, kind),
        "value": pd.Series(tokens(_PREFIX[kind], ids["code"][o], _FAMILY[kind]), dtype="str"),
        "first_seen": _dates(ids["first_seen"][o]),
    })

    # fraud labels
    suspects = np.unique(pop.cust[pop.fpd & appears])
    lab = make_fraud_labels(pop, p, streams[6], alive, first_seen, suspects, hh)
    o = np.argsort(lab["cust"], kind="stable")
    yield "fraud_labels", pd.DataFrame({
        "customer_id": _take(cust_ids, lab["cust"][o]),
        "confirmed_on": _dates(lab["confirmed_on"][o]),
    })

    # third-party sources
    src = make_sources(pop, streams[7], cust, np.flatnonzero(appears))
    src_keys = {name: ("cust", cols["cust"]) if "cust" in cols else ("acc", cols["acc"])
                for name, cols in src.items()}
    for name, cols in src.items():
        if "cust" in cols:
            key = {"customer_id": _take(cust_ids, cols.pop("cust"))}
        else:
            key = {"account_id": _take(acc_ids, cols.pop("acc"))}
        yield f"sources/{name}", pd.DataFrame({**key, **cols})

    # the answer key
    h = np.flatnonzero(~lc.night)
    if len(h) > 400_000:       # a fixed stride: the ratios need no more rows
        h = h[:: len(h) // 400_000 + 1]
    ha = lc.acc[h]
    hc = pop.cust[ha]
    yield "truth/effects", effects_by_trait(
        names, strategy.stage_names(), elig, lift, qkind, lc.stage[h].astype(np.int64), lc.p0[h],
        lc.overdue[h], lc.new[h], lc.dpd[h].astype(np.int64), pop.reachable[ha], pop.w[hc],
        pop.ring[hc] >= 0)
    del h, ha, hc
    rc = cust[pop.ring[cust] >= 0]
    yield "truth/rings", pd.DataFrame({
        "customer_id": _take(cust_ids, rc),
        "ring_id": _take(_ids("R", int(pop.ring.max()) + 1 if len(rc) else 0), pop.ring[rc]),
    })
    f = np.flatnonzero(lc.night & (lc.date == nights[0]))
    fa = lc.acc[f]
    fc = pop.cust[fa]
    covered = {s: np.isin(fc, cols) if k == "cust" else np.isin(fa, cols)
               for s, (k, cols) in src_keys.items()}
    yield "truth/sources", source_values(
        strategy, names, elig, lift, qkind, SOURCE_ROLES, covered, lc.stage[f].astype(np.int64),
        lc.new[f], lc.dpd[f].astype(np.int64), lc.overdue[f],
        {"w": pop.w[fc], "a": pop.a[fc], "s": pop.s[fc], "cures": lc.final["cures"][fa],
         "u": pop.u[fa], "fpd": pop.fpd[fa], "ring": pop.ring[fc] >= 0},
        pop.reachable[fa], ~pop.lost[fc], _active_hold(holds, pop.n_accounts, nights[0])[fa],
        np.random.Generator(np.random.PCG64(np.random.SeedSequence(p.seed).spawn(9)[8])))
    yield "truth/state", state_frame(pop, lc, acc_ids, cust_ids, nights[-1])
    yield "truth/world", {**world_parameters(), "seed": p.seed, "accounts": p.accounts,
                          "state_date": str(nights[-1]), "simulated_nights": [],
                          "book": world_book(strategy, p)}
